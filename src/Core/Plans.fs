namespace Dcos.L4lb

open System
open System.Text

/// How the machine reads the outcome of a step.
type Reading =
    /// A change that must happen: Completed, or the step fails.
    | MustComplete
    /// A removal: Completed, or NotFound (already gone), are both success.
    | Removal
    /// A plugin run that must exit 0.
    | PluginSucceeds
    /// The delegate's ADD: its result is ADD's output.
    | DelegateResult
    /// The Spartan IPAM ADD: exactly one IPv4 address, which becomes the Spartan address.
    | SpartanLease
    /// CHECK: the Spartan link exists, is up, and holds one /32 from the Spartan range,
    /// which becomes the Spartan address the later checks expect.
    | SpartanLink of range: Ipv4 * Ipv4
    /// CHECK: the link exists, has this kind and is up.
    | LinkUp of kind: string
    /// CHECK: each of these routes is present.
    | RoutesPresent of Route list
    /// CHECK: the checkpoint file holds exactly this.
    | CheckpointHolds of string
    /// ADD's precondition: the link must not exist yet (NotFound is success).
    | MustBeAbsent
    /// STATUS: a readiness probe that must pass.
    | Ready
    /// GC: a lock that must be held for the next `skip` steps; when it cannot be taken,
    /// the problem is reported and those steps are left out.
    | LockOrSkip of skip: int
    /// GC: the attachment records found. Each one whose attachment is not in the valid
    /// list gets its removal steps, inserted after this step.
    | Collect of NetConf * Runtime
    /// GC, under the attachment's lock: the record is still the one that was listed. When
    /// it changed (a later ADD) or went (a DEL), the next `skip` steps, this attachment's
    /// removal, are left out.
    | Unchanged of listed: AttachmentRecord * skip: int
    /// STATUS and GC: the delegate's VERSION. Plugins older than CNI 1.1 do not know
    /// these commands (the reference plugins 1.1 fail them with "missing containerID"), so
    /// unless it lists this version, the next `skip` steps (its STATUS or GC) are left out.
    /// A delegate that is not there is left out silently (a probe before says so); one
    /// whose VERSION fails is a problem.
    | SpeaksVersion of version: string * skip: int
    /// DEL and GC's last step, the attachment record's removal: skipped when a removal
    /// before it failed, so that a later GC can still find the attachment; otherwise read
    /// as a Removal.
    | ForgetIfClean

/// One step of a plan: an effect, how to read its outcome, and what undoes it.
type Step =
    { Name: string
      Effect: Effect
      Reading: Reading
      /// A plugin that may answer "incompatible version" (code 1): ask its VERSION and
      /// retry once with the newest version both sides speak.
      Negotiable: bool
      Compensation: Compensation }

and Compensation =
    | Undo of Step
    /// Nothing to do: the artefact goes away with the named earlier step's.
    | RemovedWith of string
    /// Deliberately left: the reason.
    | NotUndone of string
    /// Queries and removals change nothing that needs undoing.
    | NothingToUndo

type Plan =
    { Command: Command
      CniVersion: string
      Steps: Step list
      /// Addresses ADD puts first in its result's dns.nameservers; none: the result is
      /// printed exactly as the delegate gave it.
      Nameservers: Ipv4 list
      /// What ADD prints when no delegate runs: in chained mode, the prevResult the
      /// previous plugin handed over.
      GivenResult: Json option }

module Plans =
    /// A plugin gets this long before it is killed: a delegate that hangs must not hang
    /// the runtime's container start.
    let pluginTimeoutMs = 60_000

    let minutemanLink = Defaults.minutemanLink

    /// A 64-bit FNV-1a hash of container ID and ifname: the attachment's stable identity.
    let private fnvPrime = 0x100000001b3UL

    /// FNV-1a over the UTF-8 bytes of `text`, continuing from `hash`. ASCII (every container
    /// ID, almost every ifname) is hashed as it stands, without copying the string.
    let private fnv (hash: uint64) (text: string) =
        let mutable h = hash

        if Ascii.IsValid text then
            for i in 0 .. text.Length - 1 do
                h <- (h ^^^ uint64 text[i]) * fnvPrime
        else
            let bytes = Encoding.UTF8.GetBytes text

            for i in 0 .. bytes.Length - 1 do
                h <- (h ^^^ uint64 bytes[i]) * fnvPrime

        h

    /// A 64-bit FNV-1a hash of container ID, a NUL and ifname: the attachment's identity.
    let private attachmentHash (containerId: string) (ifName: string) =
        let h = fnv 0xcbf29ce484222325UL containerId
        fnv ((h ^^^ 0UL) * fnvPrime) ifName

    /// The host end of the Spartan veth: derived from container ID and ifname, so a retry,
    /// CHECK and DEL find it without state. "spt" + 12 hex digits (the hash's low 48 bits)
    /// is 15 bytes, the kernel's limit.
    let hostVethName (containerId: string) (ifName: string) =
        "spt" + (attachmentHash containerId ifName &&& 0xFFFFFFFFFFFFUL).ToString("x12")

    /// Where ADD and DEL serialise: one of 64 lock files chosen by container ID and ifname
    /// (a fixed set, so none is ever left behind), next to the IPAM plugins' own state.
    let lockPath (containerId: string) (ifName: string) =
        "/var/lib/cni/dcos-l4lb/lock." + (attachmentHash containerId ifName % 64UL).ToString()

    /// Where ADD records the attachments of a network, one file per attachment: what GC
    /// finds stale attachments by (the Minuteman checkpoints exist only with Minuteman).
    let attachmentDirectory (conf: NetConf) = "/var/lib/cni/dcos-l4lb/attachments/" + conf.Name

    /// "<container ID>@<ifname>": a container ID never holds '@', so the first one splits.
    let attachmentName (containerId: string) (ifName: string) = containerId + "@" + ifName

    let parseAttachmentName (name: string) : Attachment option =
        match name.IndexOf '@' with
        | i when i > 0 ->
            let a = { ContainerId = name.Substring(0, i); IfName = name.Substring(i + 1) }
            if Runtime.isValidContainerId a.ContainerId && Runtime.isValidIfName a.IfName then Some a else None
        | _ -> None

    /// GCs of one host serialise on this lock; only a GC holds more than one lock at a
    /// time, so no two processes can wait for each other's locks.
    let gcLockPath = "/var/lib/cni/dcos-l4lb/lock.gc"

    let private step name effect reading compensation =
        { Name = name
          Effect = effect
          Reading = reading
          Negotiable = false
          Compensation = compensation }

    /// The CNI_* variables another plugin is run with: ours, with its command.
    let private environment (rt: Runtime) (command: string) =
        // one list expression: no copies of the list by `@`
        [ "CNI_COMMAND", command
          "CNI_CONTAINERID", rt.ContainerId
          "CNI_IFNAME", rt.IfName
          "CNI_PATH", String.Join(":", rt.Path)
          match rt.Netns with
          | Some n -> "CNI_NETNS", n
          | None -> ()
          if not rt.Args.IsEmpty then
              "CNI_ARGS", rt.Args |> List.map (fun (k, v) -> k + "=" + v) |> String.concat ";" ]

    let private call (rt: Runtime) (pluginType: string) (command: Command) (config: Json) =
        { Type = pluginType
          Command = command.Name
          Environment = environment rt command.Name
          Config = config
          Path = rt.Path
          TimeoutMs = pluginTimeoutMs }

    let private delegateStep (conf: NetConf) (rt: Runtime) (command: Command) reading compensation =
        let c = call rt (Delegate.pluginType conf) command (Delegate.config command conf)
        step $"delegate {c.Describe()}" (RunPlugin c) reading compensation

    /// The VERSION question to a plugin, at the version its call's config names.
    let versionQuery (call: PluginCall) =
        RunPlugin
            { call with
                Command = "VERSION"
                Environment = [ "CNI_COMMAND", "VERSION" ]
                Config =
                    Json.Object
                        [ "cniVersion",
                          Json.tryField "cniVersion" call.Config |> Option.defaultValue (Json.String CniVersion.newest) ] }

    /// STATUS and GC: the delegate's own, when it speaks the config's version (CNI 1.1).
    let private delegateIfSpeaks (conf: NetConf) (rt: Runtime) (command: Command) =
        match conf.Delegate with
        | Some _ ->
            let own = delegateStep conf rt command PluginSucceeds NothingToUndo

            let query =
                match own.Effect with
                | RunPlugin c -> versionQuery c
                | other -> other

            [ step "delegate plugin" (FindPlugin(Delegate.pluginType conf, rt.Path)) Ready NothingToUndo
              step $"delegate {Delegate.pluginType conf} VERSION" query (SpeaksVersion(conf.CniVersion, 1)) NothingToUndo
              own ]
        | None -> []

    /// The delegate's step, or none in chained mode.
    let private delegateSteps (conf: NetConf) (rt: Runtime) (command: Command) reading compensation =
        match conf.Delegate with
        | Some _ -> [ delegateStep conf rt command reading (compensation ()) ]
        | None -> []

    /// The network config the Spartan IPAM plugin receives.
    let ipamConfig (conf: NetConf) =
        let n = conf.Spartan.Network

        Json.Object
            [ "cniVersion", Json.String conf.CniVersion
              "name", Json.String n.Network
              "ipam",
              Json.Object
                  [ "type", Json.String n.IpamType
                    "subnet", Json.String(n.Subnet.ToString())
                    "rangeStart", Json.String(n.RangeStart.ToString())
                    "rangeEnd", Json.String(n.RangeEnd.ToString()) ] ]

    let private ipamStepWith (ipam: Json) (conf: NetConf) (rt: Runtime) (command: Command) reading compensation =
        let c = call rt conf.Spartan.Network.IpamType command ipam

        { step $"Spartan IPAM {c.Describe()}" (RunPlugin c) reading compensation with
            Negotiable = true }

    let private ipamStep (conf: NetConf) = ipamStepWith (ipamConfig conf) conf

    let private removal name effect = step name effect Removal NothingToUndo

    let private serviceRoute (net: SpartanNetwork) (service: Ipv4) =
        { Destination = Fixed service
          PrefixLength = 32
          Device = net.Interface
          Scope = LinkScope
          Source = Some SpartanAddress }

    let private hostRoute (hostVeth: string) =
        { Destination = SpartanAddress
          PrefixLength = 32
          Device = hostVeth
          Scope = LinkScope
          Source = None }

    let private spartanAdd (conf: NetConf) (rt: Runtime) (netns: string) (hostVeth: string) =
        let net = conf.Spartan.Network
        let ns = ContainerNs netns
        let ipam = ipamConfig conf
        let vethStep = "Spartan veth"
        let withVeth = RemovedWith vethStep

        [ ipamStepWith ipam conf rt Add SpartanLease (Undo(ipamStepWith ipam conf rt Del PluginSucceeds NothingToUndo))
          step vethStep (CreateVeth(netns, net.Interface, hostVeth, conf.Mtu)) MustComplete (Undo(removal "delete Spartan veth" (DeleteLink(ns, net.Interface))))
          step "Spartan address" (AddAddress(ns, net.Interface, SpartanAddress, 32)) MustComplete withVeth
          step "Spartan link up" (SetLinkUp(ns, net.Interface)) MustComplete withVeth
          step "host veth up" (SetLinkUp(HostNs, hostVeth)) MustComplete withVeth ]
        @ [ for service in net.Services ->
                step ("route to Spartan " + service.ToString()) (AddRoute(ns, serviceRoute net service)) MustComplete withVeth ]
        @ [ step "host route to the Spartan address" (AddRoute(HostNs, hostRoute hostVeth)) MustComplete withVeth ]

    // The link comes before the checkpoint: Minuteman reacts to the file by looking the
    // link up, so the file must not appear before the link exists (upstream had this
    // the other way round).
    let private minutemanAdd (conf: NetConf) (rt: Runtime) (netns: string) =
        let ns = ContainerNs netns
        let linkStep = "Minuteman link"

        [ step linkStep (CreateDummy(ns, minutemanLink)) MustComplete (Undo(removal "delete Minuteman link" (DeleteLink(ns, minutemanLink))))
          step "Minuteman link up" (SetLinkUp(ns, minutemanLink)) MustComplete (RemovedWith linkStep)
          step
              "Minuteman checkpoint"
              (WriteCheckpoint(conf.Minuteman.Path, rt.ContainerId, netns))
              MustComplete
              (Undo(removal "remove Minuteman checkpoint" (RemoveCheckpoint(conf.Minuteman.Path, rt.ContainerId)))) ]

    let private netnsOf (rt: Runtime) =
        match rt.Netns with
        | Some netns -> netns
        | None -> invalidArg (nameof rt) "ADD and CHECK are validated to have a netns"

    /// Two ADDs (or an ADD and a DEL) for one container at once would each see the other's
    /// half-made state, and a failing one's rollback could undo the other's work.
    let private lock (rt: Runtime) =
        step "lock" (TakeLock(lockPath rt.ContainerId rt.IfName)) MustComplete (NotUndone "released when the plugin exits")

    /// A second ADD for an attached container would fail part-way, and its rollback
    /// (delegate DEL, IPAM DEL by container ID and ifname) would tear down the first
    /// attachment. So ADD first makes sure this plugin's own links are not there yet.
    let private notYetAttached (conf: NetConf) (netns: string) (hostVeth: string) =
        let ns = ContainerNs netns
        let absent name effect = step name effect MustBeAbsent NothingToUndo

        [ if conf.Spartan.Enabled then
              absent "not yet attached (Spartan link)" (InspectLink(ns, conf.Spartan.Network.Interface))
              absent "not yet attached (host veth)" (InspectLink(HostNs, hostVeth))
          if conf.Minuteman.Enabled then
              absent "not yet attached (Minuteman link)" (InspectLink(ns, minutemanLink)) ]

    /// ADD in upstream order: forwarding, delegate, Spartan, Minuteman; after checking that
    /// the container is not attached already.
    let add (conf: NetConf) (rt: Runtime) : Plan =
        let netns = netnsOf rt
        let hostVeth = hostVethName rt.ContainerId rt.IfName

        let record = attachmentName rt.ContainerId rt.IfName
        let directory = attachmentDirectory conf

        let steps =
            lock rt :: notYetAttached conf netns hostVeth
            @ [ // first, so that whatever a crash leaves behind can be found by GC
                step
                    "attachment record"
                    (WriteAttachment(directory, record, netns))
                    MustComplete
                    (Undo(removal "remove attachment record" (RemoveAttachment(directory, record))))
                step "IPv4 forwarding" EnableIpv4Forwarding MustComplete (NotUndone "the host needs forwarding for every container, not just this one")
                ]
            @ delegateSteps conf rt Add DelegateResult (fun () -> Undo(delegateStep conf rt Del PluginSucceeds NothingToUndo))
            @ (if conf.Spartan.Enabled then spartanAdd conf rt netns hostVeth else [])
            @ (if conf.Minuteman.Enabled then minutemanAdd conf rt netns else [])

        { Command = Add
          CniVersion = conf.CniVersion
          Steps = steps
          Nameservers = if conf.Spartan.Enabled && conf.Spartan.Dns then conf.Spartan.Network.Services else []
          GivenResult = if conf.Delegate.IsNone then conf.PrevResult else None }

    /// DEL in upstream order: Spartan, Minuteman, delegate. Every step runs whatever the
    /// others found; without a netns only the in-netns steps are left out.
    let del (conf: NetConf) (rt: Runtime) : Plan =
        let net = conf.Spartan.Network
        let inNetns f = rt.Netns |> Option.map (fun n -> f (ContainerNs n)) |> Option.toList

        let spartan =
            [ ipamStep conf rt Del PluginSucceeds NothingToUndo ]
            @ inNetns (fun ns -> removal "delete Spartan veth" (DeleteLink(ns, net.Interface)))
            // the host end too, for when the container end is out of reach
            @ [ removal "delete host veth" (DeleteLink(HostNs, hostVethName rt.ContainerId rt.IfName)) ]

        let minuteman =
            [ removal "remove Minuteman checkpoint" (RemoveCheckpoint(conf.Minuteman.Path, rt.ContainerId)) ]
            @ inNetns (fun ns -> removal "delete Minuteman link" (DeleteLink(ns, minutemanLink)))

        { Command = Del
          CniVersion = conf.CniVersion
          Nameservers = []
          GivenResult = None
          Steps =
            lock rt
            :: (if conf.Spartan.Enabled then spartan else [])
            @ (if conf.Minuteman.Enabled then minuteman else [])
            @ delegateSteps conf rt Del PluginSucceeds (fun () -> NothingToUndo)
            @ [ step
                    "remove attachment record"
                    (RemoveAttachment(attachmentDirectory conf, attachmentName rt.ContainerId rt.IfName))
                    ForgetIfClean
                    NothingToUndo ] }

    /// CHECK: every artefact of this plugin, then the delegate's own CHECK.
    let check (conf: NetConf) (rt: Runtime) : Plan =
        let netns = netnsOf rt
        let ns = ContainerNs netns
        let net = conf.Spartan.Network
        let hostVeth = hostVethName rt.ContainerId rt.IfName
        let query name effect reading = step name effect reading NothingToUndo

        let spartan =
            [ query "Spartan link" (InspectLink(ns, net.Interface)) (SpartanLink(net.RangeStart, net.RangeEnd))
              query "Spartan routes" (InspectRoutes(ns, net.Interface)) (RoutesPresent [ for s in net.Services -> serviceRoute net s ])
              query "host veth" (InspectLink(HostNs, hostVeth)) (LinkUp "veth")
              query "host route" (InspectRoutes(HostNs, hostVeth)) (RoutesPresent [ hostRoute hostVeth ]) ]

        let minuteman =
            [ query "Minuteman link" (InspectLink(ns, minutemanLink)) (LinkUp "dummy")
              query "Minuteman checkpoint" (ReadCheckpoint(conf.Minuteman.Path, rt.ContainerId)) (CheckpointHolds netns) ]

        { Command = Check
          CniVersion = conf.CniVersion
          Nameservers = []
          GivenResult = None
          Steps =
            (if conf.Spartan.Enabled then spartan else [])
            @ (if conf.Minuteman.Enabled then minuteman else [])
            @ delegateSteps conf rt Check PluginSucceeds (fun () -> NothingToUndo) }

    /// STATUS (CNI 1.1): what ADD needs, probed without changing anything: the IPAM
    /// plugin, the forwarding sysctl, the checkpoint directory; then the delegate's STATUS.
    let status (conf: NetConf) (rt: Runtime) : Plan =
        let probe name effect = step name effect Ready NothingToUndo

        { Command = Status
          CniVersion = conf.CniVersion
          Nameservers = []
          GivenResult = None
          Steps =
            [ if conf.Spartan.Enabled then
                  probe "Spartan IPAM plugin" (FindPlugin(conf.Spartan.Network.IpamType, rt.Path))
              // every ADD enables it
              probe "IPv4 forwarding" (CheckWritable "/proc/sys/net/ipv4/ip_forward")
              if conf.Minuteman.Enabled then
                  probe "Minuteman checkpoint directory" (CheckWritable conf.Minuteman.Path) ]
            @ delegateIfSpeaks conf rt Status }

    /// GC (CNI 1.1): the attachment records of this network are listed; each attachment
    /// not in cni.dev/valid-attachments is removed as DEL would (see `collect`); then the
    /// delegate gets its own GC with the same list.
    let gc (conf: NetConf) (rt: Runtime) : Plan =
        { Command = Gc
          CniVersion = conf.CniVersion
          Nameservers = []
          GivenResult = None
          Steps =
            let rest =
                step "attachment records" (ListAttachments(attachmentDirectory conf)) (Collect(conf, rt)) NothingToUndo
                :: delegateIfSpeaks conf rt Gc

            step "GC lock" (TakeLock gcLockPath) (LockOrSkip rest.Length) (NotUndone "released when the plugin exits")
            :: rest }

    /// GC's steps for the records found: for each attachment not in the valid list, under
    /// its lock (released after), once its record is seen unchanged, DEL's removals without the netns (the
    /// spec lets GC assume the container's netns is gone) and without the delegate (which
    /// gets GC instead). A checkpoint stays while the valid list still names its container.
    let collect (conf: NetConf) (rt: Runtime) (records: AttachmentRecord list) : Step list =
        let valid = conf.ValidAttachments |> Option.defaultValue []
        let directory = attachmentDirectory conf
        let containerInUse id = valid |> List.exists (fun v -> v.ContainerId = id)

        [ for record in records |> List.sortBy (fun r -> r.Name) do
              match parseAttachmentName record.Name with
              | Some a when not (List.contains a valid) ->
                  let stale =
                      { rt with
                          Command = Del
                          ContainerId = a.ContainerId
                          IfName = a.IfName
                          Netns = None
                          Args = [] }

                  let named (s: Step) = { s with Name = $"{record.Name}: {s.Name}" }

                  match (del { conf with Delegate = None } stale).Steps with
                  | lockStep :: removals ->
                      let removals =
                          removals
                          |> List.filter (fun s ->
                              match s.Effect with
                              | RemoveCheckpoint _ -> not (containerInUse a.ContainerId)
                              | _ -> true)

                      named
                          { lockStep with
                              Reading = LockOrSkip(removals.Length + 2)
                              Compensation = NotUndone "released after this attachment's removal" }
                      named (step "record unchanged" (ReadAttachment(directory, record.Name)) (Unchanged(record, removals.Length)) NothingToUndo)
                      yield! removals |> List.map named
                      // held for this attachment only: a GC may find many, and ADDs wait on the
                      // same 64 lock files
                      named (removal "release lock" (ReleaseLock(lockPath a.ContainerId a.IfName)))
                  | [] -> ()
              | _ -> () ]
