/// Reading a config file the way a runtime would hand it to the plugin: a single network
/// config as is; from a conflist, each dcos-l4lb entry with the list's name and
/// cniVersion put in (libcni does the same).
module Dcos.L4lb.Ctl.ConfigFile

open System
open System.IO
open Dcos.L4lb

/// Where a config of ours sits: alone in its file, or in a conflist after `index` others.
type Position =
    | Alone
    | InList of index: int

/// One config of our type in a file: the JSON path it sits at, and the bytes the plugin
/// would read on stdin (a single config's bytes as they are, valid JSON or not).
type Entry =
    { Prefix: string
      Position: Position
      Bytes: byte[] }

/// The configs of our type in a file.
let entries (bytes: byte[]) : Result<Entry list, CniError list> =
    match Json.parse (ReadOnlyMemory bytes) with
    | Ok(Json.Object _ as list) when (Json.tryField "plugins" list).IsSome ->
        match Json.tryField "plugins" list with
        | Some(Json.Array plugins) ->
            let ours =
                plugins
                |> List.indexed
                |> List.filter (fun (_, p) -> Json.tryField "type" p = Some(Json.String Core.name))
                |> List.map (fun (i, p) ->
                    let withList key p =
                        match Json.tryField key list with
                        | Some value -> Json.withField key value p
                        | None -> p

                    { Prefix = $"$.plugins[{i}]"
                      Position = InList i
                      Bytes = p |> withList "name" |> withList "cniVersion" |> Json.render })

            if ours.IsEmpty then
                Error [ CniError.invalidConfig "$.plugins" $"has no plugin of type \"{Core.name}\"" ]
            else
                Ok ours
        | _ -> Error [ CniError.invalidConfig "$.plugins" "expected an array of plugin configs" ]
    | _ ->
        Ok
            [ { Prefix = "$"
                Position = Alone
                Bytes = bytes } ]

/// An error about the entry at `prefix`, its path made relative to the whole file.
let relocate (prefix: string) (e: CniError) =
    if prefix = "$" || not (e.Field.StartsWith "$") then
        e
    else
        { e with
            Field = prefix + e.Field.Substring 1 }

/// Every config of ours in a file.
let read (path: string) : Result<Entry list, CniError list> =
    try
        entries (File.ReadAllBytes path)
    with e ->
        Error [ CniError.create IoFailure "file" $"cannot read {path}: {e.Message}" ]

/// The first config of ours in a file: the one `plan` and `gc` use.
let first (path: string) : Result<Entry, CniError list> =
    match read path with
    | Ok(entry :: _) -> Ok entry
    | Ok [] -> Error [ CniError.invalidConfig "$" "no config found" ]
    | Error errors -> Error errors

/// What to do about an error of this code.
let hint (code: int) =
    match code with
    | 1 -> "use one of the CNI versions the plugin supports"
    | 4 -> "fix the runtime parameters"
    | 5 -> "check that the file exists and is readable"
    | 6 -> "the file must be one JSON object"
    | 7 -> "fix the field named in the message"
    | _ -> "see docs/operations.md"
