/// `l4lbctl doctor`: looks at this agent for a network (DoctorLook), judges (Doctor),
/// prints the findings, and with --fix repairs the leftovers (DoctorFix) and looks again.
module Dcos.L4lb.Ctl.DoctorCommand

open System
open System.Text
open Dcos.L4lb
open Dcos.L4lb.Ctl.DoctorSnapshot
open Dcos.L4lb.Ctl.Doctor

let private str (s: string) = Json.String s

let private findingJson (f: Finding) =
    Json.Object
        [ "check", str f.Check
          "severity", str f.Severity.Name
          "subject", str f.Subject
          "meaning", str f.Meaning
          "fix", str f.Advice
          "repair",
          (match f.Repair with
           | Some r -> str (r.Describe())
           | None -> Json.Null) ]

let private summary (found: Finding list) =
    match found |> List.filter (fun f -> f.Severity <> Note) with
    | [] -> "healthy"
    | [ _ ] -> "1 finding"
    | many -> $"{many.Length} findings"

let private printFindings (found: Finding list) =
    for f in found do
        printfn "  %-7s %s: %s" f.Severity.Name f.Check f.Subject
        printfn "          %s" f.Meaning
        printfn "          fix: %s" f.Advice

/// What doctor found, and with --fix what it did and what is left.
type private Outcome =
    { Network: string
      Found: Finding list
      Repairs: (Repair * string) list option
      Remaining: Finding list option }

let private print (config: string) (asJson: bool) (o: Outcome) =
    let final = defaultArg o.Remaining o.Found

    if asJson then
        let optional name (value: 'a option) (json: 'a -> Json) =
            match value with
            | Some v -> [ name, json v ]
            | None -> []

        Json.Object(
            [ "config", str config
              "network", str o.Network
              "healthy", Json.Bool(exitCode final = 0)
              "findings", Json.Array(List.map findingJson o.Found) ]
            @ optional "repairs" o.Repairs (fun rs ->
                Json.Array
                    [ for r, outcome in rs -> Json.Object [ "repair", str (r.Describe()); "outcome", str outcome ] ])
            @ optional "remaining" o.Remaining (List.map findingJson >> Json.Array)
        )
        |> Json.render
        |> Encoding.UTF8.GetString
        |> Console.Out.WriteLine
    else
        printfn "%s: network %s: %s" config o.Network (summary o.Found)
        printFindings o.Found

        match o.Repairs, o.Remaining with
        | Some repairs, None ->
            printfn "--fix would:"

            for i, (r, _) in List.indexed repairs do
                printfn "  %d. %s" (i + 1) (r.Describe())
        | Some repairs, Some remaining ->
            for r, outcome in repairs do
                printfn "%s -> %s" (r.Describe()) outcome

            printfn "after --fix: %s" (summary remaining)
            printFindings remaining
        | None, _ -> ()

    exitCode final

let private cannotLook (config: string) (why: string) =
    eprintfn "%s: cannot look at this agent: %s; run doctor as root, where ip (iproute2) is installed" config why
    1

/// doctor: exit 0 healthy, 1 findings (or findings left after --fix).
let run (config: string) (cniPath: string list) (asJson: bool) (fix: bool) (dryRun: bool) : int =
    let conf =
        match Commands.problems config with
        | [] ->
            ConfigFile.first config
            |> Result.mapError ofConfigErrors
            |> Result.bind (fun entry ->
                match CniInput.tryConf entry.Bytes with
                | Some conf -> Ok(entry, conf)
                | None -> Result.Error [])
        | errors -> Result.Error(ofConfigErrors errors)

    match conf with
    | Result.Error found ->
        print
            config
            asJson
            { Network = "?"
              Found = found
              Repairs = None
              Remaining = None }
    | Ok(entry, conf) ->
        try
            let before = DoctorLook.snapshot conf cniPath
            let found = findings config before
            let todo = repairs found

            let repaired, remaining =
                if dryRun then
                    Some [ for r in todo -> r, "not run (--dry-run)" ], None
                elif fix then
                    let outcomes = DoctorFix.run config entry before todo
                    Some outcomes, Some(findings config (DoctorLook.snapshot conf cniPath))
                else
                    None, None

            print
                config
                asJson
                { Network = conf.Name
                  Found = found
                  Repairs = repaired
                  Remaining = remaining }
        with
        // what doctor could not read (not root, ip missing) is no finding about the agent
        | :? UnauthorizedAccessException
        | :? IO.IOException
        | :? ComponentModel.Win32Exception as e -> cannotLook config e.Message
        | Failure message -> cannotLook config message
