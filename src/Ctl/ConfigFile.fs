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

/// The configs of our type in a file, each with the JSON path it sits at.
let entries (bytes: byte[]) : Result<(string * Position * byte[]) list, CniError list> =
    match Json.parse (ReadOnlyMemory bytes) with
    | Ok(Json.Object _ as list) when (Json.tryField "plugins" list).IsSome ->
        match Json.tryField "plugins" list with
        | Some(Json.Array plugins) ->
            let ours =
                plugins
                |> List.indexed
                |> List.filter (fun (_, p) -> Json.tryField "type" p = Some(Json.String Plugin.name))
                |> List.map (fun (i, p) ->
                    let withList key p =
                        match Json.tryField key list with
                        | Some value -> Json.withField key value p
                        | None -> p

                    $"$.plugins[{i}]", InList i, p |> withList "name" |> withList "cniVersion" |> Json.render)

            if ours.IsEmpty then
                Error [ CniError.invalidConfig "$.plugins" $"has no plugin of type \"{Plugin.name}\"" ]
            else
                Ok ours
        | _ -> Error [ CniError.invalidConfig "$.plugins" "expected an array of plugin configs" ]
    | _ -> Ok [ "$", Alone, bytes ]

/// Errors from an entry at `prefix`, with their paths made relative to the whole file.
let relocate (prefix: string) (e: CniError) =
    if prefix = "$" || not (e.Field.StartsWith "$") then e
    else { e with Field = prefix + e.Field.Substring 1 }

/// Without a delegate the plugin runs chained: ADD then needs the previous plugin's
/// result, which only a conflist with a plugin before this one provides.
let private chainProblems (position: Position) (conf: NetConf) =
    match conf.Delegate, position with
    | Some _, _ -> []
    | None, InList index when index > 0 -> []
    | None, InList _ ->
        [ CniError.invalidConfig
              "$.delegate"
              "is required for the first plugin of a conflist: without a delegate, dcos-l4lb runs chained and must follow the plugin that gives the container its network (e.g. bridge)" ]
    | None, Alone ->
        [ CniError.invalidConfig
              "$.delegate"
              "is required in a single network config: without a delegate, dcos-l4lb runs chained and belongs in a conflist after the plugin that gives the container its network (e.g. bridge)" ]

/// One entry parsed and checked for its place, error paths relative to the file.
let private check (prefix: string, position: Position, bytes: byte[]) : Result<NetConf, CniError list> =
    match NetConf.parse (ReadOnlyMemory bytes) |> Result.bind (fun conf -> match chainProblems position conf with [] -> Ok conf | errors -> Error errors) with
    | Ok conf -> Ok conf
    | Error errors -> Error(errors |> List.map (relocate prefix))

/// Every problem with one file, paths relative to the file.
let problems (path: string) : CniError list =
    try
        match entries (File.ReadAllBytes path) with
        | Error errors -> errors
        | Ok found -> found |> List.collect (check >> Validation.errors)
    with e ->
        [ CniError.create IoFailure "file" $"cannot read {path}: {e.Message}" ]

/// The first of our configs in a file, parsed. Chained (no delegate, after another
/// plugin in a conflist), it carries a stand-in for the previous plugin's result, which
/// a runtime would pass as prevResult.
let load (path: string) : Result<NetConf, CniError list> =
    try
        match entries (File.ReadAllBytes path) with
        | Error errors -> Error errors
        | Ok [] -> Error [ CniError.invalidConfig "$" "no config found" ]
        | Ok(first :: _) ->
            check first
            |> Result.map (fun conf ->
                if conf.Delegate.IsNone && conf.PrevResult.IsNone then
                    { conf with PrevResult = Some(Json.Object [ "cniVersion", Json.String conf.CniVersion; "note", Json.String "the previous plugin's result" ]) }
                else
                    conf)
    with e ->
        Error [ CniError.create IoFailure "file" $"cannot read {path}: {e.Message}" ]

/// What to do about an error of this code.
let hint (code: int) =
    match code with
    | 1 -> "use one of the CNI versions the plugin supports"
    | 4 -> "fix the runtime parameters"
    | 5 -> "check that the file exists and is readable"
    | 6 -> "the file must be one JSON object"
    | 7 -> "fix the field named in the message"
    | _ -> "see docs/operations.md"
