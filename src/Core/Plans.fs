namespace Dcos.L4lb

open System
open System.Collections.Generic
open System.Text

/// How a plugin step's result is used.
type PluginUse =
    /// Exit 0 is all that counts.
    | Succeeds
    /// The delegate's ADD: its result, which must give the container an address, is
    /// what ADD prints.
    | DelegateResult
    /// The Spartan IPAM ADD: exactly one IPv4 address, which becomes the Spartan address.
    | SpartanLease

/// What a step does.
type Action =
    /// A change that must complete (in DEL and undo: a removal, where "not found" is done).
    | Make of change: Change
    /// A plugin run that must exit 0. `Negotiable`: the plugin may refuse the config's
    /// version (code 1); it is asked its VERSION and run again with the newest both speak.
    | Run of call: PluginCall * result: PluginUse * negotiable: bool
    /// ADD's precondition: this link must not exist yet.
    | ExpectNoLink of ns: Namespace * name: string

    member a.Describe() =
        match a with
        | Make c -> c.Describe()
        | Run(call, _, _) -> $"run {call.Describe()}"
        | ExpectNoLink(ns, name) -> $"inspect link {name} in {ns.Describe()}"

/// One step of ADD or DEL: what it does and what undoes it.
type Step =
    { Name: string
      Action: Action
      Undo: Compensation }

and Compensation =
    /// The step that undoes it.
    | Undo of step: Step
    /// No step runs; why not, in words (what `l4lbctl plan` shows).
    | NoUndo of why: string

    member c.Describe() =
        match c with
        | Undo undo -> $"{undo.Name}: {undo.Action.Describe()}"
        | NoUndo why -> why

module Compensation =
    /// The artefact goes away with the named earlier step's.
    let removedWith (step: string) = NoUndo("none needed: removed with \"" + step + "\"")

    /// Deliberately left, for this reason.
    let notUndone (reason: string) = NoUndo("deliberately not undone: " + reason)

    /// Queries and removals change nothing that needs undoing.
    let nothingToUndo = NoUndo "nothing to undo"

/// Where a step of ADD or DEL runs, relative to the delegate's plugin.
type Lane =
    /// In order, before the delegate starts.
    | First
    /// The delegate's own run: started after the `First` steps, awaited after `Beside`.
    | Delegated
    /// In order, while the delegate's plugin runs.
    | Beside
    /// DEL's record removal: only once every other step succeeded.
    | Last

/// A step of ADD's or DEL's plan: the number its errors, its log lines and `l4lbctl plan`
/// give it (its place in upstream order), and its lane.
type Planned =
    { Number: int
      Lane: Lane
      Step: Step }

    member p.Name = p.Step.Name
    member p.Action = p.Step.Action
    member p.Undo = p.Step.Undo

/// A plan by lane: `Before` in order, then the delegate's step (none in chained mode) with
/// `Beside` carried out while its plugin runs, then `After`.
type Lanes =
    { Before: Planned list
      Delegate: Planned option
      Beside: Planned list
      After: Planned list }

module Plans =
    /// A plugin gets this long before it is killed: a delegate that hangs must not hang
    /// the runtime's container start.
    let pluginTimeoutMs = 60_000

    let private step name action undo = { Name = name; Action = action; Undo = undo }

    /// The CNI_* variables another plugin is run with: ours, with its command.
    let private environment (rt: Invocation) (command: string) =
        let variable (name: string) (value: string) = KeyValuePair(name, value)

        [| variable "CNI_COMMAND" command
           variable "CNI_CONTAINERID" rt.ContainerId
           variable "CNI_IFNAME" rt.IfName
           variable "CNI_PATH" (String.Join(":", rt.Path))
           match rt.Netns with
           | Some n -> variable "CNI_NETNS" n
           | None -> ()
           if not rt.Args.IsEmpty then
               variable "CNI_ARGS" (rt.Args |> List.map (fun (k, v) -> k + "=" + v) |> String.concat ";") |]

    let private call (rt: Invocation) (pluginType: string) (command: Command) (config: Json) =
        { Type = pluginType
          Command = command.Name
          Environment = environment rt command.Name
          Config = config
          Path = List.toArray rt.Path
          TimeoutMs = pluginTimeoutMs }

    /// The delegate's run of this command, with the config derived from ours.
    let delegateCall (conf: NetConf) (rt: Invocation) (command: Command) =
        call rt (Delegate.pluginType conf) command (Delegate.config command conf)

    /// The delegate's run of this command as a step (ADD's and DEL's; CHECK's, STATUS's and
    /// GC's, whose failure is a problem to report).
    let delegateStep (conf: NetConf) (rt: Invocation) (command: Command) result undo =
        let c = delegateCall conf rt command
        step $"delegate {c.Describe()}" (Run(c, result, true)) undo

    /// The VERSION question to a plugin, at the version its call's config names.
    let versionQuery (call: PluginCall) =
        { call with
            Command = "VERSION"
            Environment = [| KeyValuePair("CNI_COMMAND", "VERSION") |]
            Config =
                Json.Object
                    [ "cniVersion",
                      Json.tryField "cniVersion" call.Config |> Option.defaultValue (Json.String CniVersion.newest) ] }

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

    let private ipamStep (conf: NetConf) (rt: Invocation) (command: Command) result undo =
        let c = call rt conf.Spartan.Network.IpamType command (ipamConfig conf)
        step $"Spartan IPAM {c.Describe()}" (Run(c, result, true)) undo

    let private removal name change = step name (Make change) Compensation.nothingToUndo

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

    /// CHECK's expectations: the routes through the container's Spartan link.
    let serviceRoutes (conf: NetConf) =
        [ for s in conf.Spartan.Network.Services -> serviceRoute conf.Spartan.Network s ]

    /// CHECK's expectation: the host's route to the Spartan address through the host veth.
    let hostRoutes (hostVeth: string) = [ hostRoute hostVeth ]

    let private spartanAdd (conf: NetConf) (rt: Invocation) (netns: string) (hostVeth: string) =
        let net = conf.Spartan.Network
        let ns = ContainerNs netns
        let vethStep = "Spartan veth"
        let withVeth = Compensation.removedWith vethStep
        let make name change undo = step name (Make change) undo

        [ ipamStep conf rt Add SpartanLease (Undo(ipamStep conf rt Del Succeeds Compensation.nothingToUndo))
          make vethStep (CreateVeth(netns, net.Interface, hostVeth, Option.toNullable conf.Mtu)) (Undo(removal "delete Spartan veth" (DeleteLink(ns, net.Interface))))
          make "Spartan address" (AddAddress(ns, net.Interface, SpartanAddress, 32)) withVeth
          make "Spartan link up" (SetLinkUp(ns, net.Interface)) withVeth
          make "host veth up" (SetLinkUp(HostNs, hostVeth)) withVeth
          for service in net.Services do
              make ("route to Spartan " + service.ToString()) (AddRoute(ns, serviceRoute net service)) withVeth
          make "host route to the Spartan address" (AddRoute(HostNs, hostRoute hostVeth)) withVeth ]

    // The link comes before the checkpoint: Minuteman reacts to the file by looking the
    // link up, so the file must not appear before the link exists (upstream had this
    // the other way round).
    let private minutemanAdd (conf: NetConf) (rt: Invocation) (netns: string) =
        let ns = ContainerNs netns
        let linkStep = "Minuteman link"

        [ step linkStep (Make(CreateDummy(ns, Naming.minutemanLink))) (Undo(removal "delete Minuteman link" (DeleteLink(ns, Naming.minutemanLink))))
          step "Minuteman link up" (Make(SetLinkUp(ns, Naming.minutemanLink))) (Compensation.removedWith linkStep)
          step
              "Minuteman checkpoint"
              (Make(WriteCheckpoint(conf.Minuteman.Path, rt.ContainerId, netns)))
              (Undo(removal "remove Minuteman checkpoint" (RemoveFile(Checkpoint, conf.Minuteman.Path, rt.ContainerId)))) ]

    /// The netns of ADD and CHECK, which validation makes sure they have.
    let netnsOf (rt: Invocation) =
        match rt.Netns with
        | Some netns -> netns
        | None -> invalidArg (nameof rt) "ADD and CHECK are validated to have a netns"

    /// Two ADDs (or an ADD and a DEL) for one container at once would each see the other's
    /// half-made state, and a failing one's rollback could undo the other's work.
    let private lock (rt: Invocation) =
        step "lock" (Make(TakeLock(Naming.lockPath rt.ContainerId rt.IfName))) (Compensation.notUndone "released when the plugin exits")

    /// A second ADD for an attached container would fail part-way, and its rollback
    /// (delegate DEL, IPAM DEL by container ID and ifname) would tear down the first
    /// attachment. So ADD first makes sure this plugin's own links are not there yet.
    let private notYetAttached (conf: NetConf) (netns: string) (hostVeth: string) =
        let ns = ContainerNs netns
        let absent name ns link = step name (ExpectNoLink(ns, link)) Compensation.nothingToUndo

        [ if conf.Spartan.Enabled then
              absent "not yet attached (Spartan link)" ns conf.Spartan.Network.Interface
              absent "not yet attached (host veth)" HostNs hostVeth
          if conf.Minuteman.Enabled then
              absent "not yet attached (Minuteman link)" ns Naming.minutemanLink ]

    /// A probe that a plugin this command runs is in CNI_PATH: named as STATUS names it.
    let pluginFound (name: string) (pluginType: string) (rt: Invocation) =
        step name (Make(FindPlugin(pluginType, List.toArray rt.Path))) Compensation.nothingToUndo

    /// ADD and CHECK find every plugin they will run before anything else: a missing one
    /// is refused with nothing run, locked or written (the delegate's absence used to show
    /// only after the Spartan lane had run, and was then undone). CHECK runs no IPAM plugin.
    let pluginsFound (conf: NetConf) (rt: Invocation) =
        [ if conf.Delegate.IsSome then
              pluginFound "delegate plugin" (Delegate.pluginType conf) rt
          if conf.Spartan.Enabled && rt.Command = Add then
              pluginFound "Spartan IPAM plugin" conf.Spartan.Network.IpamType rt ]

    /// The plan's numbers: the place of each step in upstream order. Everything that names
    /// a step by number (errors, the log, `l4lbctl plan`) reads them from here.
    let private numbered (steps: (Lane * Step) list) : Planned list =
        steps |> List.mapi (fun i (lane, step) -> { Number = i + 1; Lane = lane; Step = step })

    /// A plan by lane, each lane in plan order.
    let lanes (plan: Planned list) : Lanes =
        let inLane lane = plan |> List.filter (fun p -> p.Lane = lane)

        { Before = inLane First
          Delegate = inLane Delegated |> List.tryHead
          Beside = inLane Beside
          After = inLane Last }

    /// ADD, in upstream order (plugins found, lock, not yet attached, record, forwarding,
    /// delegate, Spartan, Minuteman): after finding its plugins and checking that the
    /// container is not attached already, and recording the attachment first (so that
    /// whatever a crash leaves behind can be found by GC), the delegate beside the Spartan
    /// attachment and the Minuteman registration.
    let add (conf: NetConf) (rt: Invocation) : Planned list =
        let netns = netnsOf rt
        let hostVeth = Naming.hostVethName rt.ContainerId rt.IfName
        let record = Naming.attachmentName rt.ContainerId rt.IfName
        let directory = Naming.attachmentDirectory conf
        let first step = First, step

        numbered
            [ for probe in pluginsFound conf rt do first probe
              first (lock rt)
              for check in notYetAttached conf netns hostVeth do first check
              first (
                  step
                      "attachment record"
                      (Make(WriteRecord(directory, record, netns)))
                      (Undo(removal "remove attachment record" (RemoveFile(AttachmentRecord, directory, record))))
              )
              first (step "IPv4 forwarding" (Make EnableIpv4Forwarding) (Compensation.notUndone "the host needs forwarding for every container, not just this one"))
              if conf.Delegate.IsSome then
                  Delegated, delegateStep conf rt Add DelegateResult (Undo(delegateStep conf rt Del Succeeds Compensation.nothingToUndo))
              if conf.Spartan.Enabled then
                  for s in spartanAdd conf rt netns hostVeth do Beside, s
              if conf.Minuteman.Enabled then
                  for s in minutemanAdd conf rt netns do Beside, s ]

    let addLanes (conf: NetConf) (rt: Invocation) : Lanes = lanes (add conf rt)

    /// DEL's removals of this plugin's own artefacts, in upstream order (Spartan, then
    /// Minuteman; Spartan's link before its lease); without a netns the in-netns ones are
    /// left out. GC runs these too.
    let removals (conf: NetConf) (rt: Invocation) : Step list =
        let net = conf.Spartan.Network
        let inNetns = rt.Netns |> Option.map ContainerNs

        [ if conf.Spartan.Enabled then
              // The veth before its address's lease (upstream released the lease first):
              // the address is not handed out again while a link still holds it, and the
              // kernel's deletion, which serialises with any other link deletion on the
              // host, runs while the delegate is still starting rather than when it
              // deletes its own link (docs/performance.md).
              match inNetns with
              | Some ns -> removal "delete Spartan veth" (DeleteLink(ns, net.Interface))
              | None -> ()
              // the host end too, for when the container end is out of reach
              removal "delete host veth" (DeleteLink(HostNs, Naming.hostVethName rt.ContainerId rt.IfName))
              ipamStep conf rt Del Succeeds Compensation.nothingToUndo
          if conf.Minuteman.Enabled then
              removal "remove Minuteman checkpoint" (RemoveFile(Checkpoint, conf.Minuteman.Path, rt.ContainerId))
              match inNetns with
              | Some ns -> removal "delete Minuteman link" (DeleteLink(ns, Naming.minutemanLink))
              | None -> () ]

    /// DEL's and GC's last step, once every removal before it succeeded: the record goes,
    /// and with it GC's knowledge of the attachment.
    let forget (conf: NetConf) (attachment: Attachment) =
        removal "remove attachment record" (RemoveFile(AttachmentRecord, Naming.attachmentDirectory conf, Naming.attachmentName attachment.ContainerId attachment.IfName))

    /// DEL, in upstream order (Spartan, then Minuteman, then the delegate; within Spartan's,
    /// the link before the lease): the lock, then the delegate's DEL beside this plugin's
    /// removals, every one run whatever the others found; the record last, once they all
    /// succeeded.
    let del (conf: NetConf) (rt: Invocation) : Planned list =
        numbered
            [ First, lock rt
              for r in removals conf rt do Beside, r
              if conf.Delegate.IsSome then
                  Delegated, delegateStep conf rt Del Succeeds Compensation.nothingToUndo
              Last, forget conf { ContainerId = rt.ContainerId; IfName = rt.IfName } ]

    let delLanes (conf: NetConf) (rt: Invocation) : Lanes = lanes (del conf rt)
