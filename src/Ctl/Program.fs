module Dcos.L4lb.Ctl.Program

open Argu
open Dcos.L4lb
open Dcos.L4lb.Ctl.Arguments

let private run (args: ParseResults<CtlArgs>) =
    match (if args.Contains Version then Version else args.GetSubCommand()) with
    | Validate v -> Commands.validate (v.GetResult Files) (v.Contains ValidateArgs.Json)
    | Plan p ->
        let operation, file = p.GetResult Target
        Commands.plan
            operation
            file
            (p.TryGetResult Container_Id)
            (p.TryGetResult Netns)
            (p.GetResult(Ifname, defaultValue = "eth0"))
            (if p.Contains Valid then Some(p.GetResults Valid) else None)
            (p.Contains PlanArgs.Json)
    | List l -> Commands.list (l.GetResult(ListArgs.Path, defaultValue = Commands.defaultPath)) (l.Contains ListArgs.Json)
    | Gc g -> Commands.gc (g.GetResult(GcArgs.Path, defaultValue = Commands.defaultPath)) (g.Contains Dry_Run)
    | Version ->
        printfn "l4lbctl %s (the %s plugin's core; CNI %s)" Plugin.version Plugin.name (System.String.Join(", ", CniVersion.supported))
        0

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<CtlArgs>(programName = "l4lbctl", helpTextMessage = "Operate the dcos-l4lb CNI plugin: check configs, preview plans, manage Minuteman registrations." + examples)

    try
        run (parser.ParseCommandLine(argv, raiseOnUsage = true))
    with :? ArguParseException as e ->
        match e.ErrorCode with
        | ErrorCode.HelpText ->
            printfn "%s" e.Message
            0
        | _ ->
            eprintfn "%s" e.Message
            2
