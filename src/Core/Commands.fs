namespace Dcos.L4lb

open System

/// The CNI commands, each a program that reads top to bottom. ADD and DEL run their step
/// lists (src/Core/Plans.fs); CHECK, STATUS and GC are written out here.
module Commands =
    let private ok (stdout: byte[]) = { Stdout = stdout; Stderr = ""; ExitCode = 0 }

    let errorReply (cniVersion: string) (errors: CniError list) =
        { Stdout = Json.render (CniError.toJson cniVersion errors)
          Stderr = ""
          ExitCode = 1 }

    let private replyOf (conf: NetConf) (errors: CniError list) =
        match errors with
        | [] -> ok [||]
        | _ -> errorReply conf.CniVersion errors

    let private entry (step: string) (problem: CniError option) = { Step = step; Problem = problem }

    let private nothing<'a> : Program<'a list> = program { return [] }

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

    /// The failed step is the headline (libcni shows "msg; details", so its cause is not
    /// repeated in details); undos that failed follow.
    let private addFailure (number: int) (step: Step) (failure: StepFailure) (undone: Entry list) =
        let undoProblems =
            undone |> List.choose (fun e -> e.Problem |> Option.map (fun p -> { p with Field = $"undo ({p.Field})" }))

        let outcome =
            if undoProblems.IsEmpty then undoneInFull else "undoing the steps before it failed in part (see details)"

        { CniError.create failure.Error.Kind $"ADD step {number} ({step.Name})" $"failed: {failure.Error.Message}; {outcome}" with
            Details = failure.Error.Details }
        :: undoProblems

    /// ADD: the steps in order; when one fails, the completed ones are undone, newest first.
    let add (conf: NetConf) (rt: Invocation) : Program<Reply> =
        program {
            match! Steps.forward 1 [] Learnt.nothing (Plans.add conf rt) with
            | Steps.AllDone learnt -> return ok (addResult conf learnt)
            | Steps.StoppedAt(number, step, failure, completed, learnt) ->
                let undone = if failure.Happened then step :: completed else completed
                let! undoEntries = Steps.undo undone learnt
                return errorReply conf.CniVersion (addFailure number step failure undoEntries)
        }

    /// DEL: every step, whatever the others found; the attachment record goes last and
    /// only when everything else did, so that a later GC can finish the job.
    let del (conf: NetConf) (rt: Invocation) : Program<Reply> =
        program {
            let! learnt, entries = Steps.removeAll (Plans.del conf rt) Learnt.nothing

            let! forgotten =
                if entries |> List.forall (fun e -> e.Problem.IsNone) then
                    program {
                        let attachment = { ContainerId = rt.ContainerId; IfName = rt.IfName }
                        let! _, e = Steps.remove (Plans.forget conf attachment) learnt
                        return [ e ]
                    }
                else
                    nothing

            return replyOf conf (Steps.problems Del (entries @ forgotten))
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
            | Ok l when l.Kind <> kind -> return entry name (problem name $"is a {l.Kind} link; expected {kind}")
            | Ok l when not l.Up -> return entry name (problem name "is down")
            | Ok _ -> return entry name None
            | Error f -> return entry name (Some(missing name f))
        }

    /// CHECK: the Spartan link is up and holds one /32 from the Spartan range: the address
    /// the later checks expect.
    let private spartanLink (conf: NetConf) (ns: Namespace) : Program<Ipv4 option * Entry> =
        let name = "Spartan link"
        let net = conf.Spartan.Network

        program {
            match! Perform.inspectLink (Steps.probe name) ns net.Interface with
            | Ok link ->
                let inRange =
                    link.Addresses
                    |> Array.filter (fun a -> a.PrefixLength = 32 && a.Address >= net.RangeStart && a.Address <= net.RangeEnd)

                match link.Up, inRange with
                | false, _ -> return None, entry name (problem name "is down")
                | true, [| one |] -> return Some one.Address, entry name None
                | true, [||] -> return None, entry name (problem name $"holds no /32 address from the Spartan range {net.RangeStart}-{net.RangeEnd}")
                | true, many -> return None, entry name (problem name $"holds {many.Length} addresses from the Spartan range; expected one")
            | Error f -> return None, entry name (Some(missing name f))
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
                | None -> return entry name None
                | Some ip ->
                    let learnt = { Learnt.nothing with SpartanAddress = Some ip }
                    let expected = routes |> List.map (Steps.resolveRoute learnt)

                    match expected |> List.filter (hasRoute found >> not) with
                    | [] -> return entry name None
                    | absent -> return entry name (problem name ("missing route " + String.Join(", ", absent |> List.map _.Describe())))
            | Error f -> return entry name (Some(missing name f))
        }

    /// CHECK: the checkpoint file holds exactly this.
    let private checkpointHolds (name: string) (directory: string) (containerId: string) (expected: string) : Program<Entry> =
        program {
            match! Perform.readFile (Steps.probe name) Checkpoint directory containerId with
            | Ok file when file.Content = expected -> return entry name None
            | Ok file -> return entry name (problem name $"holds \"{file.Content}\"; expected \"{expected}\"")
            | Error f -> return entry name (Some(missing name f))
        }

    /// The delegate's own run of this command, whose failure is a problem.
    let private delegated (conf: NetConf) (rt: Invocation) (command: Command) : Program<Entry> =
        program {
            let call = Plans.delegateCall conf rt command
            let! _, e = Steps.attempt { Name = $"delegate {call.Describe()}"; Action = Run(call, Succeeds, false); Undo = NothingToUndo } Learnt.nothing
            return e
        }

    /// CHECK: every artefact of this plugin, then the delegate's own CHECK.
    let check (conf: NetConf) (rt: Invocation) : Program<Reply> =
        let netns = Plans.netnsOf rt
        let ns = ContainerNs netns
        let hostVeth = Plans.hostVethName rt.ContainerId rt.IfName

        program {
            let! spartan =
                if conf.Spartan.Enabled then
                    program {
                        let! address, link = spartanLink conf ns
                        let! routes = routesPresent "Spartan routes" ns conf.Spartan.Network.Interface address (Plans.serviceRoutes conf)
                        let! veth = linkUp "host veth" HostNs hostVeth "veth"
                        let! hostRoute = routesPresent "host route" HostNs hostVeth address (Plans.hostRoutes hostVeth)
                        return [ link; routes; veth; hostRoute ]
                    }
                else
                    nothing

            let! minuteman =
                if conf.Minuteman.Enabled then
                    program {
                        let! link = linkUp "Minuteman link" ns Plans.minutemanLink "dummy"
                        let! checkpoint = checkpointHolds "Minuteman checkpoint" conf.Minuteman.Path rt.ContainerId netns
                        return [ link; checkpoint ]
                    }
                else
                    nothing

            let! delegation =
                if conf.Delegate.IsSome then
                    program {
                        let! e = delegated conf rt Check
                        return [ e ]
                    }
                else
                    nothing

            return replyOf conf (Steps.problems Check (spartan @ minuteman @ delegation))
        }

    /// STATUS: a probe that must pass.
    let private ready (name: string) (change: Change) : Program<Entry> =
        program {
            match! Perform.change (Steps.probe name) change with
            | Ok() -> return entry name None
            | Error f -> return entry name (problem name $"{change.Describe()}: {f.Message}")
        }

    /// STATUS and GC: the delegate's own, when it speaks the config's version. Plugins
    /// older than CNI 1.1 do not know these commands (the reference plugins 1.1 fail them
    /// with "missing containerID"), so it is asked its VERSION first. A delegate that is
    /// not there is reported by the probe before, once; one whose VERSION fails is a problem.
    let private delegatedIfSpoken (conf: NetConf) (rt: Invocation) (command: Command) : Program<Entry list> =
        match conf.Delegate with
        | None -> nothing
        | Some _ ->
            let pluginType = Delegate.pluginType conf
            let call = Plans.delegateCall conf rt command
            let asking = $"delegate {pluginType} VERSION"

            program {
                let! found = ready "delegate plugin" (FindPlugin(pluginType, call.Path))

                match! Perform.run (Steps.probe asking) (Plans.versionQuery call) with
                | Ok answer when answer.ExitCode = 0 ->
                    if List.contains conf.CniVersion (PluginOutput.supportedVersions answer.Stdout) then
                        let! own = delegated conf rt command
                        return [ found; entry asking None; own ]
                    else
                        return [ found; entry asking None ]
                | Ok answer -> return [ found; entry asking (Some(PluginOutput.error call answer.ExitCode answer.Stdout)) ]
                | Error f when f.Kind = NotFound -> return [ found; entry asking None ]
                | Error f -> return [ found; entry asking (Some(Steps.failure asking f)) ]
            }

    /// STATUS (CNI 1.1): what ADD needs, probed without changing anything: the IPAM
    /// plugin, the forwarding sysctl (every ADD enables it), the checkpoint directory; then
    /// the delegate's STATUS.
    let status (conf: NetConf) (rt: Invocation) : Program<Reply> =
        program {
            let! ipam =
                if conf.Spartan.Enabled then
                    program {
                        let! e = ready "Spartan IPAM plugin" (FindPlugin(conf.Spartan.Network.IpamType, List.toArray rt.Path))
                        return [ e ]
                    }
                else
                    nothing

            let! forwarding = ready "IPv4 forwarding" (CheckWritable "/proc/sys/net/ipv4/ip_forward")

            let! checkpoints =
                if conf.Minuteman.Enabled then
                    program {
                        let! e = ready "Minuteman checkpoint directory" (CheckWritable conf.Minuteman.Path)
                        return [ e ]
                    }
                else
                    nothing

            let! delegation = delegatedIfSpoken conf rt Status

            // CNI 1.1: 50 is "the plugin is not available"; a delegate's own 50 or 51 stands
            let unavailable (e: CniError) =
                if e.Code = 50 || e.Code = 51 then e else { e with Kind = ForeignCode 50 }

            let problems = Steps.problems Status (ipam @ [ forwarding ] @ checkpoints @ delegation)
            return replyOf conf (problems |> List.map unavailable)
        }

    /// GC, one stale attachment, under its lock (released after: a GC may find many, and
    /// ADDs wait on the same 64 lock files), once its record is seen unchanged (a later ADD
    /// rewrote it, or a DEL removed it: then it is not GC's to remove): DEL's removals
    /// without the netns (the spec lets GC assume it is gone) and without the delegate
    /// (which gets GC instead). A checkpoint stays while the valid list still names its
    /// container.
    let private collect (conf: NetConf) (rt: Invocation) (record: StoredFile) (stale: Attachment) : Program<Entry list> =
        let named (step: Step) = { step with Name = $"{record.Name}: {step.Name}" }
        let lockName = $"{record.Name}: lock"
        let lockPath = Plans.lockPath stale.ContainerId stale.IfName
        let containerInUse = conf.ValidAttachments |> Option.defaultValue [] |> List.exists (fun v -> v.ContainerId = stale.ContainerId)

        let removals =
            Plans.removals
                conf
                { rt with
                    Command = Del
                    ContainerId = stale.ContainerId
                    IfName = stale.IfName
                    Netns = None
                    Args = [] }
            |> List.filter (fun s ->
                match s.Action with
                | Make(RemoveFile(Checkpoint, _, _)) -> not containerInUse
                | _ -> true)
            |> List.map named

        program {
            match! Perform.change (Steps.probe lockName) (TakeLock lockPath) with
            | Error f -> return [ entry lockName (Some(Steps.failure lockName f)) ]
            | Ok() ->
                let unchangedName = $"{record.Name}: record unchanged"

                let! removed =
                    program {
                        match! Perform.readFile (Steps.probe unchangedName) AttachmentRecord (Plans.attachmentDirectory conf) record.Name with
                        | Ok now when now = record ->
                            let! learnt, entries = Steps.removeAll removals Learnt.nothing

                            if entries |> List.forall (fun e -> e.Problem.IsNone) then
                                let! _, forgotten = Steps.remove (named (Plans.forget conf stale)) learnt
                                return entry unchangedName None :: entries @ [ forgotten ]
                            else
                                return entry unchangedName None :: entries
                        | Ok _ -> return [ entry unchangedName None ]
                        | Error f when f.Kind = NotFound -> return [ entry unchangedName None ]
                        | Error f -> return [ entry unchangedName (Some(Steps.failure unchangedName f)) ]
                    }

                let! _, released = Steps.remove (named { Name = "release lock"; Action = Make(ReleaseLock lockPath); Undo = NothingToUndo }) Learnt.nothing
                return entry lockName None :: removed @ [ released ]
        }

    /// GC: Minuteman checkpoints that no record of this network accounts for (the
    /// original plugin's, which kept no records), whose container the runtime does not
    /// list and whose netns is gone: Minuteman cannot use them. Re-read just before the
    /// removal, so that one rewritten meanwhile stays.
    let private sweep (conf: NetConf) (recorded: Set<string>) : Program<Entry list> =
        let directory = conf.Minuteman.Path
        let listed = conf.ValidAttachments |> Option.defaultValue [] |> List.map _.ContainerId |> Set.ofList

        let orphan (checkpoint: StoredFile) : Program<Entry list> =
            let gone = $"{checkpoint.Name}: netns gone"
            let unchanged = $"{checkpoint.Name}: checkpoint unchanged"
            let removal = { Name = $"{checkpoint.Name}: remove orphaned checkpoint"; Action = Make(RemoveFile(Checkpoint, directory, checkpoint.Name)); Undo = NothingToUndo }

            program {
                match! Perform.change (Steps.probe gone) (CheckExists checkpoint.Content) with
                | Error f when f.Kind = NotFound ->
                    match! Perform.readFile (Steps.probe unchanged) Checkpoint directory checkpoint.Name with
                    | Ok now when now = checkpoint ->
                        let! _, removed = Steps.remove removal Learnt.nothing
                        return [ entry gone None; entry unchanged None; removed ]
                    // rewritten meanwhile (an ADD), or removed: not this GC's to remove
                    | Ok _ -> return [ entry gone None; entry unchanged None ]
                    | Error f when f.Kind = NotFound -> return [ entry gone None; entry unchanged None ]
                    | Error f -> return [ entry gone None; entry unchanged (Some(Steps.failure unchanged f)) ]
                // the netns is there: the checkpoint stays
                | Ok() -> return [ entry gone None ]
                | Error f -> return [ entry gone (Some(Steps.failure gone f)) ]
            }

        program {
            match! Perform.listFiles (Steps.probe "Minuteman checkpoints") Checkpoint directory with
            | Ok checkpoints ->
                let candidates =
                    checkpoints
                    |> Array.toList
                    |> List.filter (fun c -> not (recorded.Contains c.Name) && not (listed.Contains c.Name) && c.Content.StartsWith '/')
                    |> List.sortBy _.Name

                let! removed = Program.collect orphan candidates
                return entry "Minuteman checkpoints" None :: removed
            | Error f -> return [ entry "Minuteman checkpoints" (Some(Steps.failure "Minuteman checkpoints" f)) ]
        }

    /// GC (CNI 1.1), under the GC lock (GCs serialise; only a GC holds two locks at a time,
    /// so no two processes wait for each other): this network's attachment records are
    /// listed, each attachment not in cni.dev/valid-attachments is removed as DEL would,
    /// orphaned Minuteman checkpoints go, and the delegate gets its own GC with the same list.
    let gc (conf: NetConf) (rt: Invocation) : Program<Reply> =
        let lockName = "GC lock"
        let listing = "attachment records"
        let valid = conf.ValidAttachments |> Option.defaultValue []

        program {
            match! Perform.change (Steps.probe lockName) (TakeLock Plans.gcLockPath) with
            | Error f -> return replyOf conf (Steps.problems Gc [ entry lockName (Some(Steps.failure lockName f)) ])
            | Ok() ->
                let! records, listed =
                    program {
                        match! Perform.listFiles (Steps.probe listing) AttachmentRecord (Plans.attachmentDirectory conf) with
                        | Ok files -> return Array.toList files, entry listing None
                        | Error f -> return [], entry listing (Some(Steps.failure listing f))
                    }

                let owned =
                    records
                    |> List.sortBy _.Name
                    |> List.choose (fun r -> Plans.parseAttachmentName r.Name |> Option.map (fun a -> r, a))

                let stale = owned |> List.filter (fun (_, a) -> not (List.contains a valid))
                let! collected = Program.collect (fun (record, a) -> collect conf rt record a) stale

                let! orphans =
                    if conf.Minuteman.Enabled then
                        sweep conf (owned |> List.map (fun (_, a) -> a.ContainerId) |> Set.ofList)
                    else
                        nothing

                let! delegation = delegatedIfSpoken conf rt Gc
                return replyOf conf (Steps.problems Gc (entry lockName None :: listed :: collected @ orphans @ delegation))
        }
