namespace Dcos.L4lb

open System

/// What the steps of one invocation have learnt so far.
type Learnt =
    { SpartanAddress: Ipv4 option
      /// The delegate's ADD result, as it printed it.
      DelegateOutput: byte[] option
      /// Versions agreed with plugins that refused ours, by plugin type.
      Versions: Map<string, string> }

module Learnt =
    let nothing =
        { SpartanAddress = None
          DelegateOutput = None
          Versions = Map.empty }

/// Why a step failed.
type StepFailure =
    { Error: CniError
      /// The step's effect took place although its outcome was not accepted (a plugin that
      /// exited 0 with an unusable result, or was killed before its end, may have attached
      /// or allocated something): its own undo runs too.
      Happened: bool
      /// What the step was to change was not there: for a removal, that is done.
      Gone: bool }

/// One step's result in a command's journal: its name and its problem, if any. A journal
/// pairs each with its step's number ("DEL step 3 (...)").
type Entry = { Step: string; Problem: CniError option }

module Entry =
    /// What a step or check found: nothing wrong, or this problem.
    let create (step: string) (problem: CniError option) = { Step = step; Problem = problem }

    /// The entry of a step whose failure is a problem to report.
    let ofOutcome (step: Step) (outcome: Result<unit, StepFailure>) =
        match outcome with
        | Ok() -> create step.Name None
        | Error f -> create step.Name (Some f.Error)

/// Running the steps of a plan: one place where each kind of step is carried out and its
/// outcome read.
module Steps =
    /// The label of a step outside ADD's and DEL's plans (an undo, GC's removals).
    let label (step: Step) =
        Some
            { Step = step.Name
              Undo = step.Undo.Describe()
              Number = Nullable() }

    /// The label of a plan's step, with its number.
    let private planned (p: Planned) =
        Some
            { Step = p.Name
              Undo = p.Undo.Describe()
              Number = Nullable p.Number }

    /// A query or probe that is not an ADD or DEL step.
    let probe (name: string) =
        Some
            { Step = name
              Undo = Compensation.nothingToUndo.Describe()
              Number = Nullable() }

    let failure (stepName: string) (f: Failure) =
        let kind =
            match f.Kind with
            | Io -> IoFailure
            | _ -> PluginFailure

        CniError.create kind stepName f.Message

    let private resolveAddress (learnt: Learnt) (address: Address) =
        match address, learnt.SpartanAddress with
        | SpartanAddress, Some ip -> Fixed ip
        | other, _ -> other

    let resolveRoute (learnt: Learnt) (r: Route) =
        { r with
            Destination = resolveAddress learnt r.Destination
            Source = r.Source |> Option.map (resolveAddress learnt) }

    /// The change as the host must see it: the Spartan address filled in.
    let private resolve (learnt: Learnt) (change: Change) =
        match change with
        | AddAddress(ns, link, a, length) -> AddAddress(ns, link, resolveAddress learnt a, length)
        | AddRoute(ns, r) -> AddRoute(ns, resolveRoute learnt r)
        | other -> other

    let private cniVersionOf (call: PluginCall) =
        match Json.tryField "cniVersion" call.Config with
        | Some(Json.String v) -> Some v
        | _ -> None

    /// The call as this invocation runs it: with a version agreed earlier, when negotiable.
    let private agreed (learnt: Learnt) (call: PluginCall) (negotiable: bool) =
        match learnt.Versions.TryFind call.Type with
        | Some v when negotiable -> { call with Config = call.Config |> Json.withField "cniVersion" (Json.String v) |> PluginOutput.prevResultIn v }
        | _ -> call

    /// A plugin started (or not: why) and not yet awaited.
    type Started =
        { Asked: PluginCall
          Running: Result<RunningPlugin, Failure> }

    let private startPlugin label (learnt: Learnt) (call: PluginCall) (negotiable: bool) : Program<Started> =
        let asked = agreed learnt call negotiable

        program {
            match! Perform.start label asked with
            | Ok id -> return { Asked = asked; Running = Ok { Id = id; Call = asked } }
            | Error f -> return { Asked = asked; Running = Error f }
        }

    /// Awaits a started plugin. When `negotiable` and it refused the config's version
    /// (code 1), it is asked its VERSION and run once more with the newest version both
    /// speak, which later runs of the same plugin type use too (an IPAM DEL that undoes
    /// the ADD). Otherwise the refusal stands.
    let private finishPlugin label (learnt: Learnt) (started: Started) (negotiable: bool) : Program<Learnt * Result<PluginExit, Failure>> =
        let asked = started.Asked

        program {
            let! outcome =
                match started.Running with
                | Ok running -> Perform.await label running
                | Error f -> program { return Error f }

            match outcome with
            | Ok exit when exit.ExitCode <> 0 && negotiable && (PluginOutput.error asked exit.ExitCode exit.Stdout).Code = 1 ->
                match! Perform.run label (Plans.versionQuery asked) with
                | Ok version when version.ExitCode = 0 ->
                    match cniVersionOf asked |> Option.bind (fun w -> PluginOutput.negotiate w (PluginOutput.supportedVersions version.Stdout)) with
                    | Some v ->
                        let learnt = { learnt with Versions = learnt.Versions.Add(asked.Type, v) }
                        let! exit = Perform.run label (agreed learnt asked true)
                        return learnt, exit
                    | None -> return learnt, Ok exit
                | _ -> return learnt, Ok exit
            | outcome -> return learnt, outcome
        }

    /// A plugin run from start to exit (see finishPlugin for `negotiable`).
    let runPlugin label (learnt: Learnt) (call: PluginCall) (negotiable: bool) : Program<Learnt * Result<PluginExit, Failure>> =
        program {
            let! started = startPlugin label learnt call negotiable
            return! finishPlugin label learnt started negotiable
        }

    let private failed error =
        Error { Error = error; Happened = false; Gone = false }

    /// What a plugin step learns from a successful run, by the use of its result.
    let private readResult (step: Step) (learnt: Learnt) (call: PluginCall) (result: PluginUse) (stdout: byte[]) =
        match result with
        | Succeeds -> Ok learnt
        | DelegateResult ->
            // a delegate that was run at an older version (it refused ours) answers in its
            // version; the runtime gets the result in the version it asked for
            let asked = cniVersionOf call |> Option.defaultValue CniVersion.newest

            PluginOutput.result call stdout
            |> Result.bind (PluginOutput.withAddress call)
            |> Result.bind (fun result ->
                PluginOutput.inVersion call asked result
                |> Result.map (fun converted -> if converted = result then stdout else Json.render converted))
            |> Result.map (fun output -> { learnt with DelegateOutput = Some output })
        | SpartanLease ->
            PluginOutput.result call stdout
            |> Result.bind (PluginOutput.singleIpv4 call)
            |> Result.map (fun (ip, _) -> { learnt with SpartanAddress = Some ip })
        |> Result.mapError (fun e ->
            { Error = { e with Field = step.Name }
              Happened = true
              Gone = false })

    /// What a plugin step's run means: what it learnt, or why it failed.
    let private readRun (step: Step) (call: PluginCall) (result: PluginUse) (learnt: Learnt) (outcome: Result<PluginExit, Failure>) =
        match outcome with
        | Ok exit when exit.ExitCode <> 0 -> learnt, failed { PluginOutput.error call exit.ExitCode exit.Stdout with Field = step.Name }
        | Ok exit ->
            match readResult step learnt call result exit.Stdout with
            | Ok learnt -> learnt, Ok()
            | Error e -> learnt, Error e
        | Error f ->
            learnt,
            Error
                { Error = failure step.Name f
                  Happened = (f.Kind = TimedOut || f.Kind = Interrupted)
                  Gone = false }

    /// Carries out one step under this label: what it learnt, or why it failed.
    let private performAs label (step: Step) (learnt: Learnt) : Program<Learnt * Result<unit, StepFailure>> =
        program {
            match step.Action with
            | Make change ->
                match! Perform.change label (resolve learnt change) with
                | Ok() -> return learnt, Ok()
                | Error f ->
                    return
                        learnt,
                        Error
                            { Error = failure step.Name f
                              Happened = (f.Kind = Interrupted)
                              Gone = (f.Kind = NotFound) }
            | ExpectNoLink(ns, name) ->
                match! Perform.inspectLink label ns name with
                | Error { Kind = NotFound } -> return learnt, Ok()
                | Ok _ ->
                    let what = (InspectLink(ns, name)).Describe()

                    return
                        learnt,
                        failed (
                            CniError.create
                                PluginFailure
                                step.Name
                                $"{what}: the link exists, so this container is attached already (ADD twice without DEL?); run DEL first"
                        )
                | Error f -> return learnt, failed (failure step.Name f)
            | Run(call, result, negotiable) ->
                let! learnt, outcome = runPlugin label learnt call negotiable
                return readRun step call result learnt outcome
        }

    /// Carries out a plugin step and, while its plugin runs, `lane`: the two touch
    /// different things (the delegate its own interface and IPAM store, the lane the
    /// Spartan attachment), so neither waits for the other. The plugin is awaited after
    /// the lane, whatever the lane found. A step that is not a plugin run is carried out
    /// first.
    let private besideAs label (step: Step) (learnt: Learnt) (lane: Learnt -> Program<Learnt * 'a>) : Program<Learnt * Result<unit, StepFailure> * 'a> =
        program {
            match step.Action with
            | Run(call, result, negotiable) ->
                let! started = startPlugin label learnt call negotiable
                let! learnt, laneOutcome = lane learnt
                let! learnt, outcome = finishPlugin label learnt started negotiable
                let learnt, stepOutcome = readRun step call result learnt outcome
                return learnt, stepOutcome, laneOutcome
            | Make _
            | ExpectNoLink _ ->
                let! learnt, stepOutcome = performAs label step learnt
                let! learnt, laneOutcome = lane learnt
                return learnt, stepOutcome, laneOutcome
        }

    /// `beside` for a step outside a plan (CHECK's delegate).
    let beside (step: Step) learnt lane = besideAs (label step) step learnt lane

    /// `beside` for a plan's step (the delegate of ADD and DEL).
    let besidePlanned (p: Planned) learnt lane = besideAs (planned p) p.Step learnt lane

    /// Carries out a step whose failure is a problem to report, not a reason to stop.
    let attempt (step: Step) (learnt: Learnt) : Program<Learnt * Entry> =
        program {
            let! learnt, outcome = performAs (label step) step learnt

            let problem =
                match outcome with
                | Ok() -> None
                | Error f -> Some f.Error

            return learnt, { Step = step.Name; Problem = problem }
        }

    /// Carries out a removal (a DEL step, an undo) under this label: a change whose object
    /// is gone already is done.
    let private removeAs label (step: Step) (learnt: Learnt) : Program<Learnt * Entry> =
        program {
            let! learnt, outcome = performAs label step learnt

            let problem =
                match step.Action, outcome with
                | _, Ok()
                | Make _, Error { Gone = true } -> None
                | _, Error f -> Some f.Error

            return learnt, { Step = step.Name; Problem = problem }
        }

    /// A removal outside a plan (GC's, an undo).
    let remove (step: Step) learnt = removeAs (label step) step learnt

    /// Runs `each` on every item in order, whatever the others found.
    let rec private everyOne (each: 's -> Learnt -> Program<Learnt * 'e>) (items: 's list) (learnt: Learnt) : Program<Learnt * 'e list> =
        program {
            match items with
            | [] -> return learnt, []
            | item :: rest ->
                let! learnt, entry = each item learnt
                let! learnt, entries = everyOne each rest learnt
                return learnt, entry :: entries
        }

    /// Carries out every removal in order, whatever the others found.
    let removeAll (steps: Step list) learnt = everyOne remove steps learnt

    /// Carries out every removal of a plan in order, whatever the others found: each
    /// entry with its step's number.
    let removeAllPlanned (plan: Planned list) learnt =
        let removePlanned (p: Planned) learnt =
            program {
                let! learnt, entry = removeAs (planned p) p.Step learnt
                return learnt, (p.Number, entry)
            }

        everyOne removePlanned plan learnt

    /// How far ADD's steps got. `Completed`: the steps done, newest first.
    type Progress =
        | AllDone of completed: Planned list * learnt: Learnt
        | StoppedAt of step: Planned * failure: StepFailure * completed: Planned list * learnt: Learnt

        member p.Learnt =
            match p with
            | AllDone(_, learnt)
            | StoppedAt(_, _, _, learnt) -> learnt

    /// Carries out ADD's steps in order until one fails.
    let rec forward (completed: Planned list) (learnt: Learnt) (steps: Planned list) : Program<Progress> =
        program {
            match steps with
            | [] -> return AllDone(completed, learnt)
            | step :: rest ->
                match! performAs (planned step) step.Step learnt with
                | learnt, Ok() -> return! forward (step :: completed) learnt rest
                | learnt, Error failure -> return StoppedAt(step, failure, completed, learnt)
        }

    /// Undoes completed steps, newest first, never stopping at a failed undo.
    let undo (completed: Planned list) (learnt: Learnt) : Program<Entry list> =
        program {
            let undos =
                completed
                |> List.choose (fun s ->
                    match s.Undo with
                    | Undo u -> Some u
                    | NoUndo _ -> None)

            let! _, entries = removeAll undos learnt
            return entries
        }

    /// The problems of a journal, each named by its step's number.
    let problems (command: Command) (journal: (int * Entry) list) : CniError list =
        journal
        |> List.sortBy fst
        |> List.choose (fun (number, e) ->
            e.Problem
            |> Option.map (fun p ->
                { p with
                    Field = command.Name + " step " + string number + " (" + p.Field + ")" }))

    /// The journal of a command without a plan (CHECK, STATUS, GC): what it wrote is its
    /// plan, so its entries are numbered as they were written.
    let inOrder (entries: Entry list) : (int * Entry) list =
        entries |> List.mapi (fun i e -> i + 1, e)
