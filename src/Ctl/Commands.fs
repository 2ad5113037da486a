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

/// plan: the steps the core would run, numbered, with each step's undo.
let plan (operation: Operation) (file: string) (containerId: string) (netns: string) (ifName: string) (asJson: bool) : int =
    let command =
        match operation with
        | Operation.Add -> Command.Add
        | Operation.Del -> Command.Del
        | Operation.Check -> Command.Check

    let runtime =
        { Command = command
          ContainerId = containerId
          Netns = Some netns
          IfName = ifName
          Args = []
          Path = [ "/opt/cni/bin" ] }

    let runtimeErrors =
        [ if not (Runtime.isValidContainerId containerId) then
              CniError.invalidEnvironment "--container-id" $"\"{containerId}\" is not a valid container ID"
          if not (Runtime.isValidIfName ifName) then
              CniError.invalidEnvironment "--ifname" $"\"{ifName}\" is not a valid interface name"
          if not (netns.StartsWith '/') then
              CniError.invalidEnvironment "--netns" $"\"{netns}\" is not an absolute path" ]

    let planned =
        match ConfigFile.load file, runtimeErrors with
        | Ok conf, [] -> Plugin.plan runtime conf |> Result.mapError List.singleton
        | Ok _, errors -> Error errors
        | Error errors, more -> Error(errors @ more)

    match planned with
    | Error errors ->
        for e in errors do
            eprintfn "%s: %s (CNI code %d)" e.Field e.Message e.Code

        1
    | Ok p when asJson ->
        print (
            Json.Object
                [ "command", str command.Name
                  "containerId", str containerId
                  "netns", str netns
                  "ifname", str ifName
                  "steps",
                  Json.Array
                      [ for i, step in List.indexed p.Steps ->
                            Json.Object
                                [ "number", Json.ofInt (i + 1)
                                  "name", str step.Name
                                  "effect", str (step.Effect.Describe())
                                  "compensation", str (compensation step) ] ] ]
        )

        0
    | Ok p ->
        printfn "%s for container %s (netns %s, ifname %s): %d steps" command.Name containerId netns ifName p.Steps.Length

        for i, step in List.indexed p.Steps do
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
    if not (Directory.Exists directory) then
        []
    else
        [ for file in Directory.GetFiles directory |> Array.sort do
              let name = Path.GetFileName file

              if not (name.StartsWith '.') then
                  try
                      let netns = File.ReadAllText file

                      yield
                          { ContainerId = name
                            Netns = netns
                            Live = netns.Length > 0 && File.Exists netns
                            Written = File.GetLastWriteTimeUtc file }
                  with :? IOException ->
                      () // removed while we looked
          ]

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
