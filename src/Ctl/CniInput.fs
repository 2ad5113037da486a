/// What l4lbctl hands the core (validate, plan) or the plugin (gc), as a runtime would
/// hand it over: the CNI_* environment and stdin. l4lbctl checks none of it; the core does.
module Dcos.L4lb.Ctl.CniInput

open System
open System.Collections.Generic
open Dcos.L4lb
open Dcos.L4lb.Ctl.ConfigFile

/// The CNI_* variables of one invocation and the config on its stdin.
type CniInput =
    { Environment: IReadOnlyDictionary<string, string>
      Stdin: byte[] }

/// CNI_PATH where l4lbctl looks plugins up for `validate` and `plan`.
let defaultPath = [ "/opt/cni/bin" ]

/// The CNI_* environment; a variable given no value is left unset.
let environment
    (command: Command)
    (containerId: string option)
    (netns: string option)
    (ifName: string option)
    (path: string list)
    =
    let variables = Dictionary<string, string>()
    variables["CNI_COMMAND"] <- command.Name
    variables["CNI_PATH"] <- String.Join(":", path)

    for name, value in [ "CNI_CONTAINERID", containerId; "CNI_NETNS", netns; "CNI_IFNAME", ifName ] do
        value |> Option.iter (fun v -> variables[name] <- v)

    variables :> IReadOnlyDictionary<string, string>

let private field (key: string) (bytes: byte[]) =
    match Json.parse (ReadOnlyMemory bytes) with
    | Ok json -> Json.tryField key json
    | Error _ -> None

/// The config with one member set. Bytes that are not a JSON object stay as they are:
/// the core says what is wrong with them.
let private withField (key: string) (value: Json) (bytes: byte[]) =
    match Json.parse (ReadOnlyMemory bytes) with
    | Ok(Json.Object _ as config) -> Json.render (Json.withField key value config)
    | _ -> bytes

/// A plugin after another one in a conflist gets that plugin's result as prevResult: a
/// stand-in for it, for an entry that has none of its own.
let withPrevResult (entry: Entry) (bytes: byte[]) =
    match entry.Position, field "prevResult" bytes with
    | InList index, None when index > 0 ->
        let version =
            match field "cniVersion" bytes with
            | Some(Json.String v) -> v
            | _ -> CniVersion.newest

        withField
            "prevResult"
            (Json.Object
                [ "cniVersion", Json.String version
                  "note", Json.String "the previous plugin's result" ])
            bytes
    | _ -> bytes

/// GC's list of the attachments that are still valid, in place of the config's own.
let withValid (attachments: Attachment list) (bytes: byte[]) =
    let item (a: Attachment) =
        Json.Object [ "containerID", Json.String a.ContainerId; "ifname", Json.String a.IfName ]

    withField NetConf.validAttachmentsKey (Json.Array(List.map item attachments)) bytes

/// Whether the config has a list of valid attachments of its own.
let hasValid (bytes: byte[]) =
    (field NetConf.validAttachmentsKey bytes).IsSome

/// GC is a CNI 1.1 command: a config of an older version is raised to 1.1.0, as a runtime
/// speaking 1.1 would send it. A version that is not one is left for the core to report.
let atGcVersion (bytes: byte[]) =
    match field "cniVersion" bytes with
    | Some(Json.String v) when CniVersion.isSupported v && not (CniVersion.atLeast "1.1.0" v) ->
        withField "cniVersion" (Json.String "1.1.0") bytes
    | _ -> bytes

/// The config as NetConf, for what l4lbctl reads from this host about the network (its
/// records, its checkpoints); None when the core would refuse it anyway.
let tryConf (bytes: byte[]) =
    match NetConf.parse (ReadOnlyMemory bytes) with
    | Ok conf -> Some conf
    | Error _ -> None
