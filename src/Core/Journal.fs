namespace Dcos.L4lb

/// What a command reports: its journal of steps, numbered, as a CNI reply.
module Journal =
    let ok (stdout: byte[]) = { Stdout = stdout; Stderr = ""; ExitCode = 0 }

    let errorReply (cniVersion: string) (errors: CniError list) =
        { Stdout = Json.render (CniError.toJson cniVersion errors)
          Stderr = ""
          ExitCode = 1 }

    /// Success, or every problem, the first as the headline.
    let reply (conf: NetConf) (errors: CniError list) =
        match errors with
        | [] -> ok [||]
        | _ -> errorReply conf.CniVersion errors

    let entry (step: string) (problem: CniError option) = { Step = step; Problem = problem }

    /// The entry of a step whose failure is a problem to report.
    let entryOf (step: Step) (outcome: Result<unit, StepFailure>) =
        match outcome with
        | Ok() -> entry step.Name None
        | Error f -> entry step.Name (Some f.Error)

    let nothing<'a> : Program<'a list> = program { return [] }

    /// The delegate's own run of a command, as a step whose failure is a problem.
    let delegateStep (conf: NetConf) (rt: Invocation) (command: Command) =
        let call = Plans.delegateCall conf rt command
        { Name = $"delegate {call.Describe()}"; Action = Run(call, Succeeds, true); Undo = NothingToUndo }

    /// A probe that must pass.
    let ready (name: string) (change: Change) : Program<Entry> =
        program {
            match! Perform.change (Steps.probe name) change with
            | Ok() -> return entry name None
            | Error f -> return entry name (Some(CniError.create PluginFailure name $"{change.Describe()}: {f.Message}"))
        }
