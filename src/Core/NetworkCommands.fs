namespace Dcos.L4lb

open Replies

/// The commands on a whole network (CNI 1.1), each a program that reads top to bottom.
module NetworkCommands =
    /// STATUS: a probe of something ADD needs, which must pass.
    let private ready (name: string) (change: Change) : Program<Entry> =
        program {
            match! Perform.change (Steps.probe name) change with
            | Ok() -> return Entry.create name None
            | Error f -> return Entry.create name (Some(CniError.create PluginFailure name $"{change.Describe()}: {f.Message}"))
        }

    let private delegated (conf: NetConf) (rt: Invocation) (command: Command) : Program<Entry> =
        program {
            let! _, e = Steps.attempt (Plans.delegateStep conf rt command Succeeds Compensation.nothingToUndo) Learnt.nothing
            return e
        }

    /// STATUS and GC: the delegate's own, when it speaks the config's version. Plugins
    /// older than CNI 1.1 do not know these commands (the reference plugins 1.1 fail them
    /// with "missing containerID"), so it is asked its VERSION first. A delegate that is
    /// not there is reported by the probe before, once; one whose VERSION fails is a problem.
    let private delegatedIfSpoken (conf: NetConf) (rt: Invocation) (command: Command) : Program<Entry list> =
        match conf.Delegate with
        | None -> Program.none
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
                        return [ found; Entry.create asking None; own ]
                    else
                        return [ found; Entry.create asking None ]
                | Ok answer -> return [ found; Entry.create asking (Some(PluginOutput.error call answer.ExitCode answer.Stdout)) ]
                | Error f when f.Kind = NotFound -> return [ found; Entry.create asking None ]
                | Error f -> return [ found; Entry.create asking (Some(Steps.failure asking f)) ]
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
                    Program.none

            let! forwarding = ready "IPv4 forwarding" (CheckWritable "/proc/sys/net/ipv4/ip_forward")

            let! checkpoints =
                if conf.Minuteman.Enabled then
                    program {
                        let! e = ready "Minuteman checkpoint directory" (CheckWritable conf.Minuteman.Path)
                        return [ e ]
                    }
                else
                    Program.none

            let! delegation = delegatedIfSpoken conf rt Status

            // CNI 1.1: 50 is "the plugin is not available"; a delegate's own 50 or 51 stands
            let unavailable (e: CniError) =
                if e.Code = 50 || e.Code = 51 then e else { e with Kind = ForeignCode 50 }

            let problems = Steps.problems Status (Steps.inOrder (ipam @ [ forwarding ] @ checkpoints @ delegation))
            return reply conf (problems |> List.map unavailable)
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
        let lockPath = Naming.lockPath stale.ContainerId stale.IfName
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
            | Error f -> return [ Entry.create lockName (Some(Steps.failure lockName f)) ]
            | Ok() ->
                let unchangedName = $"{record.Name}: record unchanged"

                let! removed =
                    program {
                        match! Perform.readFile (Steps.probe unchangedName) AttachmentRecord (Naming.attachmentDirectory conf) record.Name with
                        | Ok now when now = record ->
                            let! learnt, entries = Steps.removeAll removals Learnt.nothing

                            if entries |> List.forall (fun e -> e.Problem.IsNone) then
                                let! _, forgotten = Steps.remove (named (Plans.forget conf stale)) learnt
                                return Entry.create unchangedName None :: entries @ [ forgotten ]
                            else
                                return Entry.create unchangedName None :: entries
                        | Ok _ -> return [ Entry.create unchangedName None ]
                        | Error f when f.Kind = NotFound -> return [ Entry.create unchangedName None ]
                        | Error f -> return [ Entry.create unchangedName (Some(Steps.failure unchangedName f)) ]
                    }

                let! _, released = Steps.remove (named { Name = "release lock"; Action = Make(ReleaseLock lockPath); Undo = Compensation.nothingToUndo }) Learnt.nothing
                return Entry.create lockName None :: removed @ [ released ]
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
            let removal = { Name = $"{checkpoint.Name}: remove orphaned checkpoint"; Action = Make(RemoveFile(Checkpoint, directory, checkpoint.Name)); Undo = Compensation.nothingToUndo }

            program {
                match! Perform.change (Steps.probe gone) (CheckExists checkpoint.Content) with
                | Error f when f.Kind = NotFound ->
                    match! Perform.readFile (Steps.probe unchanged) Checkpoint directory checkpoint.Name with
                    | Ok now when now = checkpoint ->
                        let! _, removed = Steps.remove removal Learnt.nothing
                        return [ Entry.create gone None; Entry.create unchanged None; removed ]
                    // rewritten meanwhile (an ADD), or removed: not this GC's to remove
                    | Ok _ -> return [ Entry.create gone None; Entry.create unchanged None ]
                    | Error f when f.Kind = NotFound -> return [ Entry.create gone None; Entry.create unchanged None ]
                    | Error f -> return [ Entry.create gone None; Entry.create unchanged (Some(Steps.failure unchanged f)) ]
                // the netns is there: the checkpoint stays
                | Ok() -> return [ Entry.create gone None ]
                | Error f -> return [ Entry.create gone (Some(Steps.failure gone f)) ]
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
                return Entry.create "Minuteman checkpoints" None :: removed
            | Error f -> return [ Entry.create "Minuteman checkpoints" (Some(Steps.failure "Minuteman checkpoints" f)) ]
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
            match! Perform.change (Steps.probe lockName) (TakeLock Naming.gcLockPath) with
            | Error f -> return reply conf (Steps.problems Gc (Steps.inOrder [ Entry.create lockName (Some(Steps.failure lockName f)) ]))
            | Ok() ->
                let! records, listed =
                    program {
                        match! Perform.listFiles (Steps.probe listing) AttachmentRecord (Naming.attachmentDirectory conf) with
                        | Ok files -> return Array.toList files, Entry.create listing None
                        | Error f -> return [], Entry.create listing (Some(Steps.failure listing f))
                    }

                let owned =
                    records
                    |> List.sortBy _.Name
                    |> List.choose (fun r -> Naming.parseAttachmentName r.Name |> Option.map (fun a -> r, a))

                let stale = owned |> List.filter (fun (_, a) -> not (List.contains a valid))
                let! collected = Program.collect (fun (record, a) -> collect conf rt record a) stale

                let! orphans =
                    if conf.Minuteman.Enabled then
                        sweep conf (owned |> List.map (fun (_, a) -> a.ContainerId) |> Set.ofList)
                    else
                        Program.none

                let! delegation = delegatedIfSpoken conf rt Gc
                return reply conf (Steps.problems Gc (Steps.inOrder (Entry.create lockName None :: listed :: collected @ orphans @ delegation)))
        }
