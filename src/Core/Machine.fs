namespace Dcos.L4lb

open System

/// What the steps so far have learnt.
type Facts =
    { SpartanAddress: Ipv4 option
      DelegateOutput: byte[] option
      /// Versions agreed with plugins that refused ours, by plugin type.
      Versions: Map<string, string>
      /// How many problems were counted when the current attachment's removal began (DEL:
      /// none; GC: one attachment after another), for ForgetIfClean.
      ProblemsBefore: int }

/// Where a plugin step stands in version negotiation.
type Negotiation =
    | FirstTry
    | AskingVersion of refusal: CniError
    | Retried

type Phase =
    | NotStarted
    /// Running the plan: this step, then the rest.
    | Forward of current: Step * rest: Step list
    /// ADD failed: undoing completed steps, newest first.
    | RollingBack of cause: CniError * current: Step * rest: Step list

/// What the host does next: carry out an effect and hand its outcome, with the state,
/// to Machine.advance; or finish with a reply.
type Next =
    | Perform of effect: Effect * state: Machine
    | Finish of Reply

/// The state of one execution of a plan. The host never looks inside: it hands back the
/// outcome of the effect it was asked to perform.
and Machine =
    { Plan: Plan
      Phase: Phase
      Negotiation: Negotiation
      /// Completed ADD steps, newest first: what a rollback undoes.
      Completed: Step list
      /// The 1-based number of the current forward step.
      Number: int
      Facts: Facts
      /// Errors that do not stop the plan: DEL and CHECK problems, failed compensations.
      Problems: CniError list }

module Machine =
    let private replyOk (stdout: byte[]) = { Stdout = stdout; Stderr = ""; ExitCode = 0 }

    let private replyError version (errors: CniError list) =
        { Stdout = Json.render (CniError.toJson version errors)
          Stderr = ""
          ExitCode = 1 }

    let private resolveAddress (facts: Facts) (address: Address) =
        match address, facts.SpartanAddress with
        | SpartanAddress, Some ip -> Fixed ip
        | other, _ -> other

    /// The effect as the runner must see it: placeholders filled in, and a negotiated
    /// version applied to a plugin that asked for one.
    let private resolve (facts: Facts) (step: Step) : Effect =
        let address = resolveAddress facts

        let route (r: Route) =
            { r with
                Destination = address r.Destination
                Source = r.Source |> Option.map address }

        match step.Effect with
        | AddAddress(ns, link, a, length) -> AddAddress(ns, link, address a, length)
        | AddRoute(ns, r) -> AddRoute(ns, route r)
        | RunPlugin call when step.Negotiable ->
            match facts.Versions.TryFind call.Type with
            | Some v -> RunPlugin { call with Config = Json.withField "cniVersion" (Json.String v) call.Config }
            | None -> step.Effect
        | other -> other

    let private failure (step: Step) (f: Failure) =
        let kind =
            match f.Kind with
            | Io -> IoFailure
            | _ -> PluginFailure

        CniError.create kind step.Name f.Message

    let private hasRoute (facts: Facts) (found: RouteEntry list) (r: Route) =
        match resolveAddress facts r.Destination, r.Source |> Option.map (resolveAddress facts) with
        | Fixed destination, source ->
            found
            |> List.exists (fun e ->
                e.Destination = destination
                && e.PrefixLength = r.PrefixLength
                && e.Scope = r.Scope
                && (match source with
                    | Some(Fixed s) -> e.Source = Some s
                    | Some SpartanAddress -> false
                    | None -> true))
        | SpartanAddress, _ -> false

    /// Reads a step's outcome: the facts it adds, or what went wrong.
    let private read (step: Step) (facts: Facts) (outcome: Outcome) : Result<Facts, CniError> =
        let problem message = Error(CniError.create PluginFailure step.Name message)
        let named (result: Result<Facts, CniError>) = result |> Result.mapError (fun e -> { e with Field = step.Name })

        named <|
        match step.Reading, step.Effect, outcome with
        | _, RunPlugin call, PluginExited(code, stdout) when code <> 0 -> Error(PluginOutput.error call code stdout)
        | DelegateResult, RunPlugin call, PluginExited(_, stdout) ->
            PluginOutput.result call stdout
            |> Result.bind (PluginOutput.withAddress call)
            |> Result.map (fun _ -> { facts with DelegateOutput = Some stdout })
        | SpartanLease, RunPlugin call, PluginExited(_, stdout) ->
            PluginOutput.result call stdout
            |> Result.bind (PluginOutput.singleIpv4 call)
            |> Result.map (fun (ip, _) -> { facts with SpartanAddress = Some ip })
        | PluginSucceeds, RunPlugin _, PluginExited _ -> Ok facts
        | Ready, _, Completed -> Ok facts
        | Ready, effect, Failed f -> problem $"{effect.Describe()}: {f.Message}"
        | MustComplete, _, Completed -> Ok facts
        | Removal, _, Completed -> Ok facts
        | Removal, _, Failed { Kind = NotFound } -> Ok facts
        | ForgetIfClean, _, Completed -> Ok facts
        | ForgetIfClean, _, Failed { Kind = NotFound } -> Ok facts
        | SpartanLink(first, last), _, LinkFound link ->
            match link.Up, link.Addresses |> List.filter (fun (ip, length) -> length = 32 && ip >= first && ip <= last) with
            | false, _ -> problem "is down"
            | true, [ (ip, _) ] -> Ok { facts with SpartanAddress = Some ip }
            | true, [] -> problem $"holds no /32 address from the Spartan range {first}-{last}"
            | true, many -> problem $"holds {many.Length} addresses from the Spartan range; expected one"
        | LinkUp kind, _, LinkFound link ->
            if link.Kind <> kind then problem $"is a {link.Kind} link; expected {kind}"
            elif not link.Up then problem "is down"
            else Ok facts
        | RoutesPresent routes, _, RoutesFound found ->
            match facts.SpartanAddress, routes |> List.filter (hasRoute facts found >> not) with
            | None, _ -> Ok facts // the Spartan link's own check already failed and said why
            | Some _, [] -> Ok facts
            | Some _, missing ->
                let shown = missing |> List.map (fun r -> ({ r with Destination = resolveAddress facts r.Destination; Source = r.Source |> Option.map (resolveAddress facts) }).Describe())
                problem ("missing route " + String.Join(", ", shown))
        | MustBeAbsent, _, Failed { Kind = NotFound } -> Ok facts
        | MustBeAbsent, effect, LinkFound _ ->
            Error(
                CniError.create
                    PluginFailure
                    step.Name
                    $"{effect.Describe()}: the link exists, so this container is attached already (ADD twice without DEL?); run DEL first"
            )
        | CheckpointHolds expected, _, CheckpointFound content ->
            if content = expected then Ok facts else problem $"holds \"{content}\"; expected \"{expected}\""
        | (SpartanLink _ | LinkUp _ | RoutesPresent _ | CheckpointHolds _), _, Failed { Kind = NotFound; Message = m } -> problem $"is missing ({m})"
        | _, _, Failed f -> Error(failure step f)
        | _, effect, other -> problem $"unexpected outcome {other.GetType().Name} for \"{effect.Describe()}\""

    let private undoneInFull = "the steps before it were undone"

    let private stepNamed (m: Machine) (error: CniError) =
        { error with
            Field = $"{m.Plan.Command.Name} step {m.Number} ({error.Field})" }

    let rec private finish (m: Machine) : Next =
        let version = m.Plan.CniVersion

        match m.Plan.Command, m.Problems with
        | Add, [] ->
            let output =
                match m.Facts.DelegateOutput, m.Plan.GivenResult with
                | Some out, _ -> out
                | None, Some given -> Json.render given
                | None, None -> [||]

            match m.Plan.Nameservers, Json.parse (ReadOnlyMemory output) with
            | [], _ -> Finish(replyOk output)
            | servers, Ok result -> Finish(replyOk (Json.render (PluginOutput.withNameservers servers result)))
            | _, Error _ -> Finish(replyOk output) // read as a result object already; cannot happen
        | _, [] -> Finish(replyOk [||])
        | Status, problems ->
            // CNI 1.1: 50 is "the plugin is not available"; a delegate's own 50 or 51 stands
            let unavailable (e: CniError) =
                if e.Code = 50 || e.Code = 51 then e else { e with Kind = ForeignCode 50 }

            Finish(replyError version (List.rev problems |> List.map unavailable))
        | _, problems -> Finish(replyError version (List.rev problems))

    /// Moves to the next forward step, or finishes.
    and private forward (m: Machine) (rest: Step list) =
        match rest with
        | { Reading = ForgetIfClean } :: later when m.Problems.Length > m.Facts.ProblemsBefore -> forward m later
        | next :: later ->
            let m =
                { m with
                    Phase = Forward(next, later)
                    Negotiation = FirstTry
                    Number = m.Number + 1 }

            Perform(resolve m.Facts next, m)
        | [] -> finish m

    /// Moves to the next compensation that has an effect, or ends the rollback.
    and private undoNext (m: Machine) (cause: CniError) (steps: Step list) =
        match steps |> List.skipWhile (fun s -> match s.Compensation with Undo _ -> false | _ -> true) with
        | { Compensation = Undo undo } :: rest ->
            let m = { m with Phase = RollingBack(cause, undo, rest); Negotiation = FirstTry }
            Perform(resolve m.Facts undo, m)
        | _ ->
            let cause =
                if m.Problems.IsEmpty then
                    cause
                else
                    { cause with Message = cause.Message.Replace(undoneInFull, "undoing the steps before it failed in part (see details)") }

            Finish(replyError m.Plan.CniVersion (cause :: List.rev m.Problems))

    /// `happened`: the step's effect took place even though its outcome was not accepted
    /// (a plugin that exited 0 with an unusable result may still have attached or
    /// allocated something), so its own compensation runs too.
    let private fail (m: Machine) (step: Step) (happened: bool) (error: CniError) =
        match m.Plan.Command, m.Phase with
        | Add, Forward _ ->
            // msg says it all; details are kept for undos that fail (runtimes such as libcni
            // show "msg; details", so repeating the cause there would print it twice)
            let cause =
                { CniError.create error.Kind $"ADD step {m.Number} ({step.Name})" $"failed: {error.Message}; {undoneInFull}" with
                    Details = error.Details }

            undoNext m cause (if happened then step :: m.Completed else m.Completed)
        | _, Forward(_, rest) -> forward { m with Problems = stepNamed m error :: m.Problems } rest
        | _, NotStarted -> invalidOp "the machine has not started"
        | _, RollingBack(cause, _, rest) ->
            let problem = { error with Field = $"undo ({error.Field})" }
            undoNext { m with Problems = problem :: m.Problems } cause rest

    let private succeed (m: Machine) (step: Step) (facts: Facts) =
        let m = { m with Facts = facts }

        match m.Phase with
        | Forward(_, rest) -> forward { m with Completed = step :: m.Completed } rest
        | RollingBack(cause, _, rest) -> undoNext m cause rest
        | NotStarted -> invalidOp "the machine has not started"

    let private current (m: Machine) =
        match m.Phase with
        | Forward(step, _) -> step
        | RollingBack(_, step, _) -> step
        | NotStarted -> invalidOp "the machine has not started"

    /// Starts executing a plan.
    let start (plan: Plan) : Next =
        let m =
            { Plan = plan
              Phase = NotStarted
              Negotiation = FirstTry
              Completed = []
              Number = 0
              Facts =
                { SpartanAddress = None
                  DelegateOutput = None
                  Versions = Map.empty
                  ProblemsBefore = 0 }
              Problems = [] }

        forward m plan.Steps

    /// Leaves out the next `count` steps, which depended on the current one, noting why
    /// when that is a problem.
    let private leaveOut (m: Machine) (problem: CniError option) (count: int) (rest: Step list) =
        let problems =
            match problem with
            | Some p -> stepNamed m p :: m.Problems
            | None -> m.Problems

        forward { m with Problems = problems } (List.skip count rest)

    /// Takes the outcome of the effect last asked for; says what to do next.
    let advance (m: Machine) (outcome: Outcome) : Next =
        let step = current m

        match m.Negotiation, step.Effect, outcome with
        | AskingVersion refusal, RunPlugin call, PluginExited(0, stdout) ->
            let wanted = Json.tryField "cniVersion" call.Config |> Option.bind (function Json.String v -> Some v | _ -> None)

            match wanted |> Option.bind (fun w -> PluginOutput.negotiate w (PluginOutput.supportedVersions stdout)) with
            | Some version ->
                let facts = { m.Facts with Versions = m.Facts.Versions.Add(call.Type, version) }
                let m = { m with Facts = facts; Negotiation = Retried }
                Perform(resolve facts step, m)
            | None -> fail m step false refusal
        | AskingVersion refusal, _, _ -> fail m step false refusal
        | _ ->
            match step.Reading, outcome, m.Phase with
            | Collect(conf, rt), AttachmentsFound records, Forward(_, rest) ->
                forward { m with Completed = step :: m.Completed } (Plans.collect conf rt records @ rest)
            | Unchanged(listed, _), AttachmentFound now, _ when now = listed ->
                succeed m step { m.Facts with ProblemsBefore = m.Problems.Length }
            | SpeaksVersion(version, _), PluginExited(0, stdout), _ when List.contains version (PluginOutput.supportedVersions stdout) ->
                succeed m step m.Facts
            | SpeaksVersion(_, skip), _, Forward(_, rest) ->
                // a delegate that lists another version, or is not there (a probe says so)
                let problem =
                    match step.Effect, outcome with
                    | RunPlugin call, PluginExited(code, stdout) when code <> 0 -> Some(PluginOutput.error call code stdout)
                    | _, Failed f when f.Kind <> NotFound -> Some(failure step f)
                    | _ -> None

                leaveOut m problem skip rest
            | LockOrSkip _, Completed, _ -> succeed m step m.Facts
            | LockOrSkip skip, _, Forward(_, rest) ->
                let problem =
                    match outcome with
                    | Failed f -> failure step f
                    | other -> CniError.create PluginFailure step.Name $"unexpected outcome {other.GetType().Name}"

                leaveOut m (Some problem) skip rest
            | Unchanged(_, skip), _, Forward(_, rest) ->
                // a later ADD rewrote the record, or a DEL removed it: that attachment is not
                // GC's to remove; a record that cannot be read is not removed either
                let problem =
                    match outcome with
                    | Failed f when f.Kind <> NotFound -> Some(failure step f)
                    | _ -> None

                leaveOut m problem skip rest
            | _ ->
            match read step m.Facts outcome with
            | Ok facts -> succeed m step facts
            | Error error when error.Code = 1 && step.Negotiable && m.Negotiation = FirstTry ->
                match step.Effect with
                | RunPlugin call ->
                    let asked = match resolve m.Facts step with RunPlugin c -> c | _ -> call
                    Perform(Plans.versionQuery asked, { m with Negotiation = AskingVersion error })
                | _ -> fail m step false error
            | Error error ->
                let happened =
                    match outcome with
                    | PluginExited(0, _)
                    | Failed { Kind = TimedOut } -> true
                    | _ -> false

                fail m step happened error
