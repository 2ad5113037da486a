/// The four commands: presentation only; every decision comes from the core.
module Dcos.L4lb.Ctl.Commands

open System
open System.IO
open System.Text
open Dcos.L4lb
open Dcos.L4lb.Ctl.Arguments

let private print (json: Json) =
    Console.Out.WriteLine(Encoding.UTF8.GetString(Json.render json))

let private str (s: string) = Json.String s

/// validate: exit 0 when every file is valid, 1 otherwise.
let validate (files: string list) (asJson: bool) : int =
    let results = files |> List.map (fun f -> f, ConfigFile.problems f)

    if asJson then
        print (
            Json.Array
                [ for file, errors in results ->
                      Json.Object
                          [ "file", str file
                            "valid", Json.Bool errors.IsEmpty
                            "errors",
                            Json.Array
                                [ for e in errors ->
                                      Json.Object
                                          [ "path", str e.Field
                                            "code", Json.ofInt e.Code
                                            "message", str e.Message
                                            "hint", str (ConfigFile.hint e.Code) ] ] ] ]
        )
    else
        for file, errors in results do
            match errors with
            | [] -> printfn "%s: valid" file
            | _ ->
                printfn "%s: %d problem(s)" file errors.Length

                for e in errors do
                    printfn "  %s: %s" e.Field e.Message
                    printfn "    CNI code %d; %s" e.Code (ConfigFile.hint e.Code)

    if results |> List.forall (snd >> List.isEmpty) then 0 else 1

let private compensation (step: Step) =
    match step.Compensation with
    | Undo undo -> $"{undo.Name}: {undo.Effect.Describe()}"
    | RemovedWith other -> $"none needed: removed with \"{other}\""
    | NotUndone reason -> $"deliberately not undone: {reason}"
    | NothingToUndo -> "nothing to undo"

/// The files of a directory with their content and modification time, in name order:
/// checkpoints and attachment records alike (dot-files are files being written).
let private filesIn (directory: string) : (string * string * DateTime) list =
    if not (Directory.Exists directory) then
        []
    else
        [ for file in Directory.GetFiles directory |> Array.sort do
              let name = Path.GetFileName file

              if not (name.StartsWith '.') then
                  try
                      yield name, File.ReadAllText file, File.GetLastWriteTimeUtc file
                  with :? IOException ->
                      () // removed while we looked
          ]

/// This host's attachment records of a network, as GC would list them.
let private attachmentRecords (directory: string) : AttachmentRecord list =
    [ for name, content, written in filesIn directory ->
          { Name = name
            Content = content
            Modified = written.Ticks } ]

/// "CONTAINERID/IFNAME", as --valid takes it.
let private attachmentArgument (text: string) : Result<Attachment, CniError> =
    match text.Split '/' with
    | [| id; ifName |] when Invocation.isValidContainerId id && Invocation.isValidIfName ifName -> Ok { ContainerId = id; IfName = ifName }
    | _ -> Error(CniError.invalidEnvironment "--valid" $"\"{text}\" is not CONTAINERID/IFNAME, e.g. web1/eth0")

/// plan: the steps the core would run, numbered, with each step's undo. For GC, the
/// removals of each attachment this host has a record of and the list does not name.
let plan
    (operation: Operation)
    (file: string)
    (containerId: string option)
    (netns: string option)
    (ifName: string)
    (valid: string list option)
    (asJson: bool)
    : int =
    let command =
        match operation with
        | Operation.Add -> Command.Add
        | Operation.Del -> Command.Del
        | Operation.Check -> Command.Check
        | Operation.Gc -> Command.Gc
        | Operation.Status -> Command.Status

    let perContainer = command = Command.Add || command = Command.Del || command = Command.Check

    let runtime =
        { Command = command
          ContainerId = (if perContainer then defaultArg containerId "" else "")
          Netns = (if perContainer then netns else None)
          IfName = (if perContainer then ifName else "")
          Args = []
          Path = [ "/opt/cni/bin" ] }

    let validList = valid |> Option.map (List.map attachmentArgument)

    let runtimeErrors =
        [ if perContainer then
              match containerId with
              | None -> CniError.invalidEnvironment "--container-id" $"is required for {command.Name}"
              | Some id when not (Invocation.isValidContainerId id) -> CniError.invalidEnvironment "--container-id" $"\"{id}\" is not a valid container ID"
              | Some _ -> ()

              if not (Invocation.isValidIfName ifName) then
                  CniError.invalidEnvironment "--ifname" $"\"{ifName}\" is not a valid interface name"

              match netns with
              | None when command <> Command.Del -> CniError.invalidEnvironment "--netns" $"is required for {command.Name}"
              | Some path when not (path.StartsWith '/') -> CniError.invalidEnvironment "--netns" $"\"{path}\" is not an absolute path"
              | _ -> ()
          for v in defaultArg validList [] do
              match v with
              | Error e -> e
              | Ok _ -> () ]

    let withValid (conf: NetConf) =
        match validList with
        | Some list -> { conf with ValidAttachments = Some [ for v in list do match v with Ok a -> a | Error _ -> () ] }
        | None -> conf

    let planned =
        match ConfigFile.load file, runtimeErrors with
        | Ok conf, [] -> Plugin.plan runtime (withValid conf) |> Result.mapError List.singleton
        | Ok _, errors -> Error errors
        | Error errors, more -> Error(errors @ more)

    // GC's removals depend on what it finds: show them for this host's records
    let expand (p: Plan) =
        p.Steps
        |> List.collect (fun s ->
            match s.Reading with
            | Collect(conf, rt) -> s :: Plans.collect conf rt (attachmentRecords (Plans.attachmentDirectory conf))
            | _ -> [ s ])

    let subject =
        if perContainer then
            let shownNetns = defaultArg netns "none"
            $"container {runtime.ContainerId} (netns {shownNetns}, ifname {ifName})"
        else
            "the network"

    match planned with
    | Error errors ->
        for e in errors do
            eprintfn "%s: %s (CNI code %d)" e.Field e.Message e.Code

        1
    | Ok p when asJson ->
        let steps = expand p

        print (
            Json.Object(
                [ "command", str command.Name ]
                @ (if perContainer then
                       [ "containerId", str runtime.ContainerId
                         "netns", (match netns with Some n -> str n | None -> Json.Null)
                         "ifname", str ifName ]
                   else
                       [])
                @ [ "steps",
                    Json.Array
                        [ for i, step in List.indexed steps ->
                              Json.Object
                                  [ "number", Json.ofInt (i + 1)
                                    "name", str step.Name
                                    "effect", str (step.Effect.Describe())
                                    "compensation", str (compensation step) ] ] ]
            )
        )

        0
    | Ok p ->
        let steps = expand p
        printfn "%s for %s: %d steps" command.Name subject steps.Length

        for i, step in List.indexed steps do
            printfn "%3d. %s: %s" (i + 1) step.Name (step.Effect.Describe())
            printfn "     undo: %s" (compensation step)

        0

let defaultPath = Defaults.minuteman.Path

type Registration =
    { ContainerId: string
      Netns: string
      Live: bool
      Written: DateTime }

/// The checkpoint files of a directory, as the consumer reads them (dot-files ignored).
let registrations (directory: string) : Registration list =
    [ for name, netns, written in filesIn directory ->
          { ContainerId = name
            Netns = netns
            Live = netns.Length > 0 && File.Exists netns
            Written = written } ]

let list (directory: string) (asJson: bool) : int =
    let found = registrations directory

    if asJson then
        print (
            Json.Array
                [ for r in found ->
                      Json.Object [ "containerId", str r.ContainerId; "netns", str r.Netns; "live", Json.Bool r.Live ] ]
        )
    else if found.IsEmpty then
        printfn "no registrations in %s" directory
    else
        printfn "%-40s %-8s %s" "CONTAINER" "STATUS" "NETNS"

        for r in found do
            printfn "%-40s %-8s %s" r.ContainerId (if r.Live then "live" else "stale") r.Netns

    0

/// gc: removes registrations whose netns is gone. A file written after the scan began
/// belongs to an ADD that is running now: its modification time is checked again right
/// before removal, and such a file is left alone.
let gc (directory: string) (dryRun: bool) : int =
    let scanStart = DateTime.UtcNow
    let stale = registrations directory |> List.filter (fun r -> not r.Live)
    let mutable failed = false

    for r in stale do
        let file = Path.Combine(directory, r.ContainerId)

        if dryRun then
            printfn "would remove %s (netns %s is gone)" r.ContainerId r.Netns
        else
            try
                if not (File.Exists file) then
                    printfn "%s is gone already" r.ContainerId
                elif File.GetLastWriteTimeUtc file >= scanStart then
                    printfn "kept %s (rewritten since the scan began)" r.ContainerId
                elif File.Exists(File.ReadAllText file) then
                    printfn "kept %s (its netns exists again)" r.ContainerId
                else
                    File.Delete file
                    printfn "removed %s (netns %s is gone)" r.ContainerId r.Netns
            with
            | :? IOException
            | :? UnauthorizedAccessException as e ->
                eprintfn "cannot remove %s: %s" file e.Message
                failed <- true

    if stale.IsEmpty then
        printfn "nothing to remove in %s" directory

    if failed then 1 else 0
