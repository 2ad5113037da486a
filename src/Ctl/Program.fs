module Dcos.L4lb.Ctl.Program

open System
open Argu
open Dcos.L4lb
open Dcos.L4lb.Ctl.Arguments

/// "CONTAINERID/IFNAME", as --valid takes it; whether each part is valid is the core's to say.
let private attachment (text: string) : Attachment =
    match text.Split '/' with
    | [| id; ifName |] -> { ContainerId = id; IfName = ifName }
    | _ -> failwith $"\"{text}\" is not CONTAINERID/IFNAME, e.g. web1/eth0"

/// --cni-path's directories, ':'-separated; where a runtime looks when not given.
let private cniPath (given: string option) =
    match given with
    | Some dirs -> dirs.Split(':', StringSplitOptions.RemoveEmptyEntries) |> List.ofArray
    | None -> PluginGc.defaultCniPath

let private run (args: ParseResults<CtlArgs>) =
    match
        (if args.Contains Version then
             Version
         else
             args.GetSubCommand())
    with
    | Validate v -> Ctl.Commands.validate (v.GetResult Files) (v.Contains ValidateArgs.Json)
    | Plan p ->
        let operation, file = p.GetResult Target

        Ctl.Commands.plan
            operation
            file
            (p.TryGetResult Container_Id)
            (p.TryGetResult Netns)
            (p.GetResult(Ifname, defaultValue = "eth0"))
            (if p.Contains Valid then
                 Some(p.PostProcessResults(Valid, attachment))
             else
                 None)
            (p.Contains PlanArgs.Json)
    | List l ->
        Ctl.Commands.list
            (l.GetResult(ListArgs.Path, defaultValue = Ctl.Commands.defaultPath))
            (l.Contains ListArgs.Json)
    | Gc g ->
        let timeLimit =
            g.TryGetResult Timeout
            |> Option.map (float >> TimeSpan.FromSeconds)
            |> Option.defaultValue PluginGc.timeLimit

        Ctl.Commands.gc
            (g.GetResult GcArgs.Config)
            (cniPath (g.TryGetResult GcArgs.Cni_Path))
            (g.Contains GcArgs.Dry_Run)
            timeLimit
    | Doctor d ->
        Ctl.DoctorCommand.run
            (d.GetResult DoctorArgs.Config)
            (cniPath (d.TryGetResult DoctorArgs.Cni_Path))
            (d.Contains DoctorArgs.Json)
            (d.Contains Fix)
            (d.Contains DoctorArgs.Dry_Run)
    | Version ->
        printfn
            "l4lbctl %s (the %s plugin's core; CNI %s)"
            Core.version
            Core.name
            (String.Join(", ", CniVersion.supported))

        0

[<EntryPoint>]
let main argv =
    let parser =
        ArgumentParser.Create<CtlArgs>(
            programName = "l4lbctl",
            helpTextMessage =
                "Operate the dcos-l4lb CNI plugin: check configs, preview plans, list Minuteman registrations, run GC, check an agent."
                + examples
        )

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
