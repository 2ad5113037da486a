/// A command run on the core's model of a host instead of the machine: the effects it
/// would have, each with its plan step. The model is seeded from what the command would
/// find here, so the run takes the branches the plugin's would.
module Dcos.L4lb.Ctl.Preview

open System
open Dcos.L4lb

/// The netns a DEL without CNI_NETNS is attached in first: DEL never names it.
let private standInNetns = "/var/run/netns/l4lbctl-stand-in"

let private run (world: HostModel.World) (program: Program<Reply>) =
    HostModel.runLabelled (fun _ _ -> None) world (Perform.first program)

/// The model after the container's ADD (or with just its netns, when the config cannot
/// ADD, as a chained entry without a prevResult).
let private attached (rt: Invocation) (conf: NetConf) =
    let netns = defaultArg rt.Netns standInNetns
    let world = HostModel.initial |> HostModel.addNetns netns

    match
        Core.command
            { rt with
                Command = Add
                Netns = Some netns }
            conf
    with
    | Ok add ->
        let world, _, _ = run world add
        world
    | Error _ -> world

/// What the command starts from: ADD from a host with the container's netns; DEL and
/// CHECK from one where the container was added; GC from this host's records,
/// checkpoints and netns; STATUS from an empty host.
let private worldFor (rt: Invocation) (conf: NetConf) =
    match rt.Command with
    | Add -> HostModel.initial |> HostModel.addNetns (Plans.netnsOf rt)
    | Del
    | Check -> attached rt conf
    | Gc -> ThisHost.gcModel conf
    | Status
    | Version -> HostModel.initial

/// ADD's and DEL's effects in the order of their steps' numbers: the delegate runs beside
/// the steps after it and finishes after them, but it is shown in its place. Effects
/// outside a plan keep their order, after the plan's.
let private inPlanOrder (trace: (Effect * Label option) list) =
    let place (_, label: Label option) =
        label
        |> Option.bind (fun l -> Option.ofNullable l.Number)
        |> Option.defaultValue Int32.MaxValue

    List.sortBy place trace

/// The effects of the program, described in plan order, each with the plan step it
/// carries out. The Spartan address the model's IPAM made up is shown as what it stands
/// for: the real one is whatever the IPAM plugin hands out then.
let effects (rt: Invocation) (conf: NetConf) (program: Program<Reply>) : (string * Label option) list =
    let world, _, ran = run (worldFor rt conf) program
    let trace = inPlanOrder ran

    let lease =
        world.Ipam.TryFind conf.Spartan.Network.Network
        |> Option.bind (Map.tryFind (rt.ContainerId, rt.IfName))

    // From the effects as data, not their words: the lease becomes the placeholder again
    // wherever a step named it (the Spartan address, the routes from and to it).
    let describe (effect: Effect) =
        match rt.Command, lease with
        | Add, Some leased ->
            let back (a: Address) =
                match a with
                | Fixed ip when ip = leased -> SpartanAddress
                | other -> other

            match effect with
            | Change(AddAddress(ns, link, a, length)) -> (Change(AddAddress(ns, link, back a, length))).Describe()
            | Change(AddRoute(ns, r)) ->
                (Change(AddRoute(ns, { r with Destination = back r.Destination; Source = Option.map back r.Source }))).Describe()
            | other -> other.Describe()
        | _ -> effect.Describe()

    [ for effect, label in trace -> describe effect, label ]
