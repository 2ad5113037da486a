namespace Dcos.L4lb

open System
open Replies

/// The commands on one attachment, each a program that reads top to bottom: ADD and DEL
/// run their step lists (Plans.fs) in two lanes, the delegate beside this plugin's own
/// steps; CHECK is written out here.
module Commands =
    /// Addresses ADD puts first in its result's dns.nameservers; none: the result is printed
    /// exactly as the delegate gave it.
    let nameservers (conf: NetConf) =
        if conf.Spartan.Enabled && conf.Spartan.Dns then conf.Spartan.Network.Services else []

    /// What ADD prints: the delegate's result, or in chained mode the prevResult the
    /// previous plugin handed over; with spartan.dns, the Spartan addresses first among its
    /// nameservers.
    let private addResult (conf: NetConf) (learnt: Learnt) =
        let output =
            match learnt.DelegateOutput, conf.PrevResult with
            | Some out, _ -> out
            | None, Some given when conf.Delegate.IsNone -> Json.render given
            | None, _ -> [||]

        match nameservers conf, Json.parse (ReadOnlyMemory output) with
        | [], _ -> output
        | servers, Ok result -> Json.render (PluginOutput.withNameservers servers result)
        | _, Error _ -> output // read as a result object already; cannot happen

    let private undoneInFull = "the steps before it were undone"

    /// The first failed step (by number) is the headline (libcni shows "msg; details", so
    /// its cause is not repeated in details); a step of the other lane that failed too, and
    /// undos that failed, follow.
    let private addFailure (failures: (Planned * StepFailure) list) (undone: Entry list) =
        let undoProblems =
            undone |> List.choose (fun e -> e.Problem |> Option.map (fun p -> { p with Field = $"undo ({p.Field})" }))

        let outcome =
            if undoProblems.IsEmpty then undoneInFull else "undoing the steps before it failed in part (see details)"

        let named (step: Planned) = "ADD step " + string step.Number + " (" + step.Name + ")"

        match List.sortBy (fun (step: Planned, _) -> step.Number) failures with
        | [] -> invalidArg (nameof failures) "a failed ADD has a failed step"
        | (step, failure) :: others ->
            { CniError.create failure.Error.Kind (named step) ("failed: " + failure.Error.Message + "; " + outcome) with
                Details = failure.Error.Details }
            :: [ for other, f in others -> { f.Error with Field = named other } ]
            @ undoProblems

    /// What a failed ADD leaves to undo: the steps completed, newest first, and a failed
    /// step whose effect may have happened all the same (a plugin that exited 0 with an
    /// unusable result, or was killed at its timeout).
    let private toUndo (step: Planned) (outcome: Result<unit, StepFailure>) (completed: Planned list) =
        match outcome with
        | Ok() -> step :: completed
        | Error f when f.Happened -> step :: completed
        | Error _ -> completed

    /// ADD: the steps before the delegate in order; then the delegate's ADD, and while it
    /// runs, the Spartan attachment and the Minuteman registration. When a step of either
    /// lane fails, the other is awaited and everything done is undone, newest first (by
    /// when it started: the delegate after the steps beside it).
    let add (conf: NetConf) (rt: Invocation) : Program<Reply> =
        let lanes = Plans.addLanes conf rt

        let undoAndFail failures completed learnt =
            program {
                let! undoEntries = Steps.undo completed learnt
                return errorReply conf.CniVersion (addFailure failures undoEntries)
            }

        program {
            match! Steps.forward [] Learnt.nothing lanes.Before with
            | Steps.StoppedAt(step, failure, completed, learnt) ->
                return! undoAndFail [ step, failure ] (toUndo step (Error failure) completed) learnt
            | Steps.AllDone(before, learnt) ->
                let attach learnt =
                    program {
                        let! progress = Steps.forward [] learnt lanes.Beside
                        return progress.Learnt, progress
                    }

                let! learnt, delegated, beside =
                    match lanes.Delegate with
                    | Some step ->
                        program {
                            let! learnt, outcome, beside = Steps.besidePlanned step learnt attach
                            return learnt, Some(step, outcome), beside
                        }
                    | None ->
                        program {
                            let! learnt, beside = attach learnt
                            return learnt, None, beside
                        }

                let laneFailure, laneDone =
                    match beside with
                    | Steps.AllDone(completed, _) -> [], completed
                    | Steps.StoppedAt(step, failure, completed, _) -> [ step, failure ], toUndo step (Error failure) completed

                // undone newest first in plan order: the Spartan and Minuteman steps, the
                // delegate (started before them), the steps before it
                let failures, completed =
                    match delegated with
                    | Some(step, outcome) ->
                        let delegateFailure =
                            match outcome with
                            | Error failure -> [ step, failure ]
                            | Ok() -> []

                        delegateFailure @ laneFailure, laneDone @ toUndo step outcome before
                    | None -> laneFailure, laneDone @ before

                match failures with
                | [] -> return ok (addResult conf learnt)
                | _ -> return! undoAndFail failures completed learnt
        }

    /// DEL: the lock, then the delegate's DEL and, while it runs, this plugin's removals;
    /// every step runs whatever the others found. The attachment record goes last and only
    /// when everything else did, so that a later GC can finish the job.
    let del (conf: NetConf) (rt: Invocation) : Program<Reply> =
        let lanes = Plans.delLanes conf rt

        program {
            let! learnt, before = Steps.removeAllPlanned lanes.Before Learnt.nothing

            let! learnt, removals, delegated =
                match lanes.Delegate with
                | Some step ->
                    program {
                        let! learnt, outcome, removals = Steps.besidePlanned step learnt (Steps.removeAllPlanned lanes.Beside)
                        return learnt, removals, [ step.Number, Entry.ofOutcome step.Step outcome ]
                    }
                | None ->
                    program {
                        let! learnt, removals = Steps.removeAllPlanned lanes.Beside learnt
                        return learnt, removals, []
                    }

            let entries = before @ removals @ delegated

            let! forgotten =
                if entries |> List.forall (fun (_, e) -> e.Problem.IsNone) then
                    program {
                        let! _, last = Steps.removeAllPlanned lanes.After learnt
                        return last
                    }
                else
                    Program.none

            return reply conf (Steps.problems Del (entries @ forgotten))
        }

    let private missing (name: string) (f: Failure) =
        match f.Kind with
        | NotFound -> CniError.create PluginFailure name $"is missing ({f.Message})"
        | _ -> Steps.failure name f

    let private problem name message = Some(CniError.create PluginFailure name message)

    /// CHECK: the link is there, of this kind, and up.
    let private linkUp (name: string) (ns: Namespace) (link: string) (kind: string) : Program<Entry> =
        program {
            match! Perform.inspectLink (Steps.probe name) ns link with
            | Ok l when l.Kind <> kind -> return Entry.create name (problem name ("is a " + l.Kind + " link; expected " + kind))
            | Ok l when not l.Up -> return Entry.create name (problem name "is down")
            | Ok _ -> return Entry.create name None
            | Error f -> return Entry.create name (Some(missing name f))
        }

    /// What CHECK learns from the container's Spartan link: the address the route checks
    /// expect, and the host end of the veth.
    type private SpartanLink =
        { Address: Ipv4 option
          /// The veth's peer in the host namespace: the original plugin named it at random
          /// (`veth…`), this one derives it; without the container end, the derived name.
          HostVeth: string }

    /// CHECK: the Spartan link is up and holds one /32 from the Spartan range.
    let private spartanLink (conf: NetConf) (ns: Namespace) (derivedHostVeth: string) : Program<SpartanLink * Entry> =
        let name = "Spartan link"
        let net = conf.Spartan.Network
        let found address (link: LinkState) =
            { Address = address
              HostVeth =
                match link.Peer with
                | null -> derivedHostVeth
                | peer -> peer }

        program {
            match! Perform.inspectLink (Steps.probe name) ns net.Interface with
            | Ok link ->
                let inRange =
                    link.Addresses
                    |> Array.filter (fun a -> a.PrefixLength = 32 && a.Address >= net.RangeStart && a.Address <= net.RangeEnd)

                match link.Up, inRange with
                | false, _ -> return found None link, Entry.create name (problem name "is down")
                | true, [| one |] -> return found (Some one.Address) link, Entry.create name None
                | true, [||] -> return found None link, Entry.create name (problem name ("holds no /32 address from the Spartan range " + string net.RangeStart + "-" + string net.RangeEnd))
                | true, many -> return found None link, Entry.create name (problem name $"holds {string many.Length} addresses from the Spartan range; expected one")
            | Error f -> return { Address = None; HostVeth = derivedHostVeth }, Entry.create name (Some(missing name f))
        }

    let private hasRoute (found: RouteEntry[]) (r: Route) =
        match r.Destination, r.Source with
        | Fixed destination, source ->
            found
            |> Array.exists (fun e ->
                e.Destination = destination
                && e.PrefixLength = r.PrefixLength
                && e.Scope = r.Scope
                && (match source with
                    | Some(Fixed s) -> e.Source.HasValue && e.Source.Value = s
                    | Some SpartanAddress -> false
                    | None -> true))
        | SpartanAddress, _ -> false

    /// CHECK: each of these routes is there. Without the Spartan address, the Spartan
    /// link's own check has failed already and said why.
    let private routesPresent (name: string) (ns: Namespace) (link: string) (address: Ipv4 option) (routes: Route list) : Program<Entry> =
        program {
            match! Perform.listRoutes (Steps.probe name) ns link with
            | Ok found ->
                match address with
                | None -> return Entry.create name None
                | Some ip ->
                    let learnt = { Learnt.nothing with SpartanAddress = Some ip }
                    let expected = routes |> List.map (Steps.resolveRoute learnt)

                    match expected |> List.filter (hasRoute found >> not) with
                    | [] -> return Entry.create name None
                    | absent -> return Entry.create name (problem name ("missing route " + String.Join(", ", absent |> List.map _.Describe())))
            | Error f -> return Entry.create name (Some(missing name f))
        }

    /// CHECK: the checkpoint file holds exactly this.
    let private checkpointHolds (name: string) (directory: string) (containerId: string) (expected: string) : Program<Entry> =
        program {
            match! Perform.readFile (Steps.probe name) Checkpoint directory containerId with
            | Ok file when file.Content = expected -> return Entry.create name None
            | Ok file -> return Entry.create name (problem name ("holds \"" + file.Content + "\"; expected \"" + expected + "\""))
            | Error f -> return Entry.create name (Some(missing name f))
        }

    /// CHECK: once the delegate is found (a missing one is the only problem reported: no
    /// check runs), the delegate's own CHECK and, while it runs, every artefact of this plugin.
    let check (conf: NetConf) (rt: Invocation) : Program<Reply> =
        let netns = Plans.netnsOf rt
        let ns = ContainerNs netns
        let hostVeth = Naming.hostVethName rt.ContainerId rt.IfName

        let own (learnt: Learnt) =
            program {
                let! spartan =
                    if conf.Spartan.Enabled then
                        program {
                            let! spartan, link = spartanLink conf ns hostVeth
                            let! routes = routesPresent "Spartan routes" ns conf.Spartan.Network.Interface spartan.Address (Plans.serviceRoutes conf)
                            let! veth = linkUp "host veth" HostNs spartan.HostVeth "veth"
                            let! hostRoute = routesPresent "host route" HostNs spartan.HostVeth spartan.Address (Plans.hostRoutes spartan.HostVeth)
                            return [ link; routes; veth; hostRoute ]
                        }
                    else
                        Program.none

                let! minuteman =
                    if conf.Minuteman.Enabled then
                        program {
                            let! link = linkUp "Minuteman link" ns Naming.minutemanLink "dummy"
                            let! checkpoint = checkpointHolds "Minuteman checkpoint" conf.Minuteman.Path rt.ContainerId netns
                            return [ link; checkpoint ]
                        }
                    else
                        Program.none

                return learnt, spartan @ minuteman
            }

        let probe step =
            program {
                let! _, e = Steps.attempt step Learnt.nothing
                return [ e ]
            }

        program {
            let! probes = Program.collect probe (Plans.pluginsFound conf rt)

            let! entries =
                if probes |> List.exists (fun e -> e.Problem.IsSome) then
                    program { return [] }
                elif conf.Delegate.IsSome then
                    program {
                        let step = Plans.delegateStep conf rt Check Succeeds Compensation.nothingToUndo
                        let! _, outcome, entries = Steps.beside step Learnt.nothing own
                        return entries @ [ Entry.ofOutcome step outcome ]
                    }
                else
                    program {
                        let! _, entries = own Learnt.nothing
                        return entries
                    }

            return reply conf (Steps.problems Check (Steps.inOrder (probes @ entries)))
        }

