/// Running the core's commands on the host model (src/Core/HostModel.fs), and the
/// scenario the plan properties start from.
module Dcos.L4lb.Tests.Invocations

open System
open System.Text
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb
open Dcos.L4lb.HostModel
open Dcos.L4lb.Tests.Generators

/// What the host must do first for a valid invocation of this config.
let start (conf: NetConf) (rt: Invocation) : Next =
    match Core.command rt conf with
    | Ok p -> Perform.first p
    | Error e -> failwith (e.Describe())

/// ADD of container `id` on `ifName`, in the netns /run/netns/<id>, plugins in /opt/cni/bin.
let addOf (id: string) (ifName: string) =
    { Command = Add
      ContainerId = id
      Netns = Some $"/run/netns/{id}"
      IfName = ifName
      Args = []
      Path = [ "/opt/cni/bin" ] }

/// A plugin run's effect with the host's handle for it left out: what a step asks for.
let withoutHandle (effect: Effect) =
    match effect with
    | AwaitPlugin p -> AwaitPlugin { p with Id = 0 }
    | other -> other

/// The injected fault a failed plugin run or change gets.
let failure (message: string) = FailWith { Kind = OtherFailure; Message = message }

/// A plugin run that exits 1 with this CNI error object.
let exitWith (json: string) = ExitWith { ExitCode = 1; Stdout = Encoding.UTF8.GetBytes json }

let replyText (r: Reply) = Encoding.UTF8.GetString r.Stdout

/// Runs the program to its end; just before each effect, `meanwhile` may change the world
/// (what another process does at that moment).
let runInterleaved (meanwhile: Effect -> World -> World) (w: World) (next: Next) : World * Reply =
    let rec loop w next =
        match next with
        | Finished reply -> w, reply
        | Pending r ->
            let w, next = answer None (meanwhile r.Effect w) r
            loop w next

    loop w next

// ---- the plan properties' scenario --------------------------------------------------
// A config, our container and perhaps a bystander on the same network, ADD and DEL of
// it, and the steps and effects ADD is expected to run.

let runtime command (id: string) (ifName: string) =
    { Command = command
      ContainerId = id
      Netns = Some $"/run/netns/{id}"
      IfName = ifName
      Args = [ "IgnoreUnknown", "1" ]
      Path = [ "/opt/cni/bin" ] }

let invocation (conf: NetConf) (rt: Invocation) : Next = start conf rt

let withCommand command (rt: Invocation) = { rt with Command = command }

/// The world as DEL is expected to restore it. Forwarding is left on by design: other
/// containers depend on it.
let settled (w: World) = { w with Forwarding = true; Clock = 0L }

type Scenario =
    { Conf: NetConf
      Ours: Invocation
      /// Another container on the same network, attached before ours.
      Bystander: Invocation option }

let scenario: Gen<Scenario> =
    gen {
        let! conf = validConfig
        let! id = cniName
        let! ifName = ifName |> Gen.filter (fun n -> n <> conf.Spartan.Network.Interface && n <> Naming.minutemanLink && n <> "lo")
        let! other = Gen.optionOf cniName |> Gen.map (Option.filter ((<>) id))

        return
            { Conf = conf
              Ours = runtime Add ("c" + id) ifName
              Bystander = other |> Option.map (fun o -> runtime Add ("b" + o) ifName) }
    }

/// The world before our ADD: both netns exist and the bystander is attached.
let before (s: Scenario) =
    let w = initial |> addNetns s.Ours.Netns.Value

    match s.Bystander with
    | None -> w
    | Some b ->
        let w, reply, _ = run (addNetns b.Netns.Value w) (invocation s.Conf b)
        if reply.ExitCode <> 0 then failwith $"bystander ADD failed: {replyText reply}"
        w

let add (s: Scenario) w = run w (invocation s.Conf s.Ours)
let del (s: Scenario) rt w = run w (invocation s.Conf (withCommand Del rt))

let ok (r: Reply) = r.ExitCode = 0

let spartanNetwork (s: Scenario) = s.Conf.Spartan.Network.Network

/// Nothing of our container is left in IPAM or among the delegate's attachments.
let released (s: Scenario) (w: World) =
    let key = s.Ours.ContainerId, s.Ours.IfName
    let leases = w.Ipam.TryFind(spartanNetwork s) |> Option.defaultValue Map.empty
    not (leases.ContainsKey key) && not (w.Attachments.Contains(s.Conf.Name, s.Ours.ContainerId, s.Ours.IfName))

/// The effect a step asks for (a plugin run without its handle: see withoutHandle), the
/// Spartan address filled in once the IPAM plugin has handed it out.
let requested (spartan: Ipv4 option) (step: Step) =
    let address a =
        match a, spartan with
        | SpartanAddress, Some ip -> Fixed ip
        | other, _ -> other

    match step.Action with
    | Make(AddAddress(ns, link, a, length)) -> Change(AddAddress(ns, link, address a, length))
    | Make(AddRoute(ns, r)) -> Change(AddRoute(ns, { r with Destination = address r.Destination; Source = Option.map address r.Source }))
    | Make c -> Change c
    | Run(call, _, _) -> AwaitPlugin { Id = 0; Call = call }
    | ExpectNoLink(ns, name) -> InspectLink(ns, name)

/// The address the Spartan IPAM plugin handed our container, if it holds one.
let spartanAddress (s: Scenario) (w: World) =
    w.Ipam.TryFind(spartanNetwork s) |> Option.bind (Map.tryFind (s.Ours.ContainerId, s.Ours.IfName))

/// ADD's steps in the order their effects happen: the delegate's run is awaited after the
/// steps beside it (its start is no effect of the trace).
let runOrder (s: Scenario) =
    let lanes = Plans.addLanes s.Conf s.Ours
    lanes.Before @ lanes.Beside @ Option.toList lanes.Delegate |> List.map _.Step

/// The number ADD's errors give a step: its place in Plans.add.
let numberOf (s: Scenario) (step: Step) =
    1 + (Plans.add s.Conf s.Ours |> List.findIndex (fun st -> st.Name = step.Name))

/// Spartan on, with an IPAM plugin type of its own.
let ipamScenario =
    scenario |> Gen.filter (fun s -> s.Conf.Spartan.Enabled && (s.Conf.Delegate.IsNone || s.Conf.Spartan.Network.IpamType <> Delegate.pluginType s.Conf))
