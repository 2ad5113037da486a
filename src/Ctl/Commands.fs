/// The commands: presentation only; every decision comes from the core or the plugin.
module Dcos.L4lb.Ctl.Commands

open System
open System.IO
open System.Text
open Dcos.L4lb
open Dcos.L4lb.Ctl.Arguments
open Dcos.L4lb.Ctl.ConfigFile

let private print (json: Json) =
    Console.Out.WriteLine(Encoding.UTF8.GetString(Json.render json))

let private str (s: string) = Json.String s

/// The core's verdict on an invocation: the program it runs, or every error, paths
/// relative to the file the config came from.
let private judge
    (entry: Entry)
    (input: CniInput.CniInput)
    : Result<Invocation * NetConf * Program<Reply>, CniError list> =
    match Core.validate input.Environment input.Stdin with
    | Error errors -> Error(errors |> List.map (relocate entry.Prefix))
    | Ok(rt, conf) ->
        match Core.command rt conf with
        | Ok program -> Ok(rt, conf, program)
        | Error e -> Error [ relocate entry.Prefix e ]

/// An ADD as a runtime would send this entry: placeholder container, netns and ifname.
let private addOf (entry: Entry) : CniInput.CniInput =
    { Environment =
        CniInput.environment
            Command.Add
            (Some "l4lbctl-validate")
            (Some "/var/run/netns/l4lbctl-validate")
            (Some "eth0")
            CniInput.defaultPath
      Stdin = CniInput.withPrevResult entry entry.Bytes }

/// Every problem with one file, paths relative to the file.
let problems (path: string) : CniError list =
    match ConfigFile.read path with
    | Error errors -> errors
    | Ok entries ->
        entries
        |> List.collect (fun entry ->
            match judge entry (addOf entry) with
            | Ok _ -> []
            | Error errors -> errors)

/// validate: exit 0 when every file is valid, 1 otherwise.
let validate (files: string list) (asJson: bool) : int =
    let results = files |> List.map (fun f -> f, problems f)

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

    if results |> List.forall (snd >> List.isEmpty) then
        0
    else
        1

let private reportErrors (errors: CniError list) =
    for e in errors do
        eprintfn "%s: %s (CNI code %d)" e.Field e.Message e.Code

    1

/// The effects the core's program has on the model of this host, numbered, each with its
/// step and that step's undo.
let private show (entry: Entry) (input: CniInput.CniInput) (asJson: bool) : int =
    match judge entry input with
    | Error errors -> reportErrors errors
    | Ok(rt, conf, program) ->
        let effects = Preview.effects rt conf program

        let perContainer =
            rt.Command = Command.Add
            || rt.Command = Command.Del
            || rt.Command = Command.Check

        let step (effect: string, label: Label option) =
            match label with
            | Some l -> l.Step, effect, l.Undo
            | None -> "", effect, Compensation.nothingToUndo.Describe()

        if asJson then
            print (
                Json.Object(
                    [ "command", str rt.Command.Name ]
                    @ (if perContainer then
                           [ "containerId", str rt.ContainerId
                             "netns",
                             (match rt.Netns with
                              | Some n -> str n
                              | None -> Json.Null)
                             "ifname", str rt.IfName ]
                       else
                           [])
                    @ [ "steps",
                        Json.Array
                            [ for i, e in List.indexed effects ->
                                  let name, effect, undo = step e

                                  Json.Object
                                      [ "number", Json.ofInt (i + 1)
                                        "name", str name
                                        "effect", str effect
                                        "compensation", str undo ] ] ]
                )
            )
        else
            let subject =
                if perContainer then
                    let netns = defaultArg rt.Netns "none"
                    $"container {rt.ContainerId} (netns {netns}, ifname {rt.IfName})"
                else
                    "the network"

            printfn "%s for %s: %d steps" rt.Command.Name subject effects.Length

            for i, e in List.indexed effects do
                match step e with
                | "", effect, undo ->
                    printfn "%3d. %s" (i + 1) effect
                    printfn "     undo: %s" undo
                | name, effect, undo ->
                    printfn "%3d. %s: %s" (i + 1) name effect
                    printfn "     undo: %s" undo

        0

let private commandOf (operation: Operation) =
    match operation with
    | Operation.Add -> Command.Add
    | Operation.Del -> Command.Del
    | Operation.Check -> Command.Check
    | Operation.Gc -> Command.Gc
    | Operation.Status -> Command.Status

/// plan: the effects the command would have, from the core run on a model of this host.
let plan
    (operation: Operation)
    (file: string)
    (containerId: string option)
    (netns: string option)
    (ifName: string)
    (valid: Attachment list option)
    (asJson: bool)
    : int =
    let command = commandOf operation

    match ConfigFile.first file with
    | Error errors -> reportErrors errors
    | Ok entry ->
        let config = CniInput.withPrevResult entry entry.Bytes

        // GC's list: the one given, else the config's own, else this host's live attachments
        let config =
            match command, valid with
            | Command.Gc, Some list -> CniInput.withValid list config
            | Command.Gc, None when not (CniInput.hasValid config) ->
                let live =
                    CniInput.tryConf config
                    |> Option.map ThisHost.liveAttachments
                    |> Option.defaultValue []

                CniInput.withValid live config
            | _ -> config

        let input: CniInput.CniInput =
            { Environment = CniInput.environment command containerId netns (Some ifName) CniInput.defaultPath
              Stdin = config }

        show entry input asJson

type Registration =
    { ContainerId: string
      Netns: string
      Live: bool }

/// The checkpoint files of a directory, as the consumer reads them (dot-files ignored).
let registrations (directory: string) : Registration list =
    [ for file in ThisHost.files directory ->
          { ContainerId = file.Name
            Netns = file.Content
            Live = ThisHost.netnsExists file.Content } ]

let defaultPath = Defaults.minuteman.Path

let list (directory: string) (asJson: bool) : int =
    let found = registrations directory

    if asJson then
        print (
            Json.Array
                [ for r in found ->
                      Json.Object
                          [ "containerId", str r.ContainerId
                            "netns", str r.Netns
                            "live", Json.Bool r.Live ] ]
        )
    else if found.IsEmpty then
        printfn "no registrations in %s" directory
    else
        printfn "%-40s %-8s %s" "CONTAINER" "STATUS" "NETNS"

        for r in found do
            printfn "%-40s %-8s %s" r.ContainerId (if r.Live then "live" else "stale") r.Netns

    0

/// gc: the plugin's GC with this host's live attachments as the valid list; what it
/// removed, from its JSON log. --dry-run: the plan of that GC.
let gc (file: string) (cniPath: string list) (dryRun: bool) (timeLimit: TimeSpan) : int =
    let readHost () =
        match ConfigFile.first file with
        | Error errors -> Error errors
        | Ok entry ->
            try
                Ok(entry, PluginGc.input cniPath entry)
            with
            | :? IOException
            | :? UnauthorizedAccessException as e ->
                Error [ CniError.create IoFailure "host" $"cannot read this host's records: {e.Message}" ]

    match readHost () with
    | Error errors -> reportErrors errors
    | Ok(entry, (input, _)) when dryRun -> show entry input false
    | Ok(entry, (input, valid)) ->
        // a config the core refuses is not run: its valid list could not be read
        match judge entry input, PluginGc.find cniPath with
        | Error errors, _ -> reportErrors errors
        | Ok _, None ->
            reportErrors
                [ CniError.create
                      IoFailure
                      "--cni-path"
                      $"""no {Core.name} in {String.Join(":", cniPath)}; name the directory that holds it""" ]
        | Ok(_, conf, _), Some binary ->
            let shown =
                if valid.IsEmpty then
                    "none"
                else
                    String.Join(", ", valid |> List.map (fun a -> $"{a.ContainerId}/{a.IfName}"))

            printfn "valid attachments (recorded, netns exists): %s" shown
            let result = PluginGc.run timeLimit binary input
            let removals = result.Effects |> List.filter (PluginGc.isRemoval conf)

            for effect in removals do
                printfn "%s" (effect.Describe())

            if removals.IsEmpty then
                printfn "nothing to remove"

            if result.Killed then
                eprintfn
                    "%s GC did not finish within %.0f s and was killed with the plugins it ran; run it again: GC takes up what a GC left"
                    Core.name
                    timeLimit.TotalSeconds

                1
            elif result.ExitCode = 0 then
                0
            else
                eprintfn "%s GC failed (exit %d): %s" Core.name result.ExitCode (result.Stdout.Trim())
                1
