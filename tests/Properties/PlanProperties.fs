/// ADD, DEL and CHECK run as programs against the pure host model.
module Dcos.L4lb.Tests.PlanProperties

open System
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb
open Dcos.L4lb.Tests.Generators
open Dcos.L4lb.HostModel
open Dcos.L4lb.Tests.Invocations

let private config = { FsCheckConfig.defaultConfig with maxTest = Generators.scaled 250 }
let private property name body = testPropertyWithConfig config name body

let private runtime command (id: string) (ifName: string) =
    { Command = command
      ContainerId = id
      Netns = Some $"/run/netns/{id}"
      IfName = ifName
      Args = [ "IgnoreUnknown", "1" ]
      Path = [ "/opt/cni/bin" ] }

let private invocation (conf: NetConf) (rt: Invocation) : Next = start conf rt

let private withCommand command (rt: Invocation) = { rt with Command = command }

/// The world as DEL is expected to restore it. Forwarding is left on by design: other
/// containers depend on it.
let private settled (w: World) = { w with Forwarding = true; Clock = 0L }

type Scenario =
    { Conf: NetConf
      Ours: Invocation
      /// Another container on the same network, attached before ours.
      Bystander: Invocation option }

let private scenario: Gen<Scenario> =
    gen {
        let! conf = validConfig
        let! id = cniName
        let! ifName = ifName |> Gen.filter (fun n -> n <> conf.Spartan.Network.Interface && n <> Plans.minutemanLink && n <> "lo")
        let! other = Gen.optionOf cniName |> Gen.map (Option.filter ((<>) id))

        return
            { Conf = conf
              Ours = runtime Add ("c" + id) ifName
              Bystander = other |> Option.map (fun o -> runtime Add ("b" + o) ifName) }
    }

/// The world before our ADD: both netns exist and the bystander is attached.
let private before (s: Scenario) =
    let w = initial |> addNetns s.Ours.Netns.Value

    match s.Bystander with
    | None -> w
    | Some b ->
        let w, reply, _ = run (addNetns b.Netns.Value w) (invocation s.Conf b)
        if reply.ExitCode <> 0 then failwith $"bystander ADD failed: {replyText reply}"
        w

let private add (s: Scenario) w = run w (invocation s.Conf s.Ours)
let private del (s: Scenario) rt w = run w (invocation s.Conf (withCommand Del rt))

let private ok (r: Reply) = r.ExitCode = 0

let private spartanNetwork (s: Scenario) = s.Conf.Spartan.Network.Network

/// Nothing of our container is left in IPAM or among the delegate's attachments.
let private released (s: Scenario) (w: World) =
    let key = s.Ours.ContainerId, s.Ours.IfName
    let leases = w.Ipam.TryFind(spartanNetwork s) |> Option.defaultValue Map.empty
    not (leases.ContainsKey key) && not (w.Attachments.Contains(s.Conf.Name, s.Ours.ContainerId, s.Ours.IfName))

/// The effect a step asks for (a plugin run without its handle: see withoutHandle), the
/// Spartan address filled in once the IPAM plugin has handed it out.
let private requested (spartan: Ipv4 option) (step: Step) =
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
let private spartanAddress (s: Scenario) (w: World) =
    w.Ipam.TryFind(spartanNetwork s) |> Option.bind (Map.tryFind (s.Ours.ContainerId, s.Ours.IfName))

/// ADD's steps in the order their effects happen: the delegate's run is awaited after the
/// steps beside it (its start is no effect of the trace).
let private runOrder (s: Scenario) =
    let lanes = Plans.addLanes s.Conf s.Ours
    lanes.Before @ lanes.Beside @ Option.toList lanes.Delegate

/// The number ADD's errors give a step: its place in Plans.add.
let private numberOf (s: Scenario) (step: Step) =
    1 + (Plans.add s.Conf s.Ours |> List.findIndex (fun st -> st.Name = step.Name))

let addDel =
    testList
        "ADD and DEL on the model"
        [ property "ADD then DEL restores the host exactly"
          <| Prop.forAll (Arb.fromGen scenario) (fun s ->
              let w0 = before s
              let w1, added, _ = add s w0
              let w2, deleted, _ = del s s.Ours w1
              (ok added && ok deleted && settled w2 = settled w0) |> Prop.label (replyText added + replyText deleted))

          property "ADD prints the delegate's result unchanged (with spartan.dns: only its nameservers changed)"
          <| Prop.forAll (Arb.fromGen scenario) (fun s ->
              let _, added, trace = add s (before s)
              let w = before s
              let nameservers = Commands.nameservers s.Conf

              // the delegate's own answer, from the same world; chained: the prevResult
              let expected =
                  match s.Conf.Delegate with
                  | Some _ ->
                      let delegateCall = trace |> List.pick (function AwaitPlugin p when p.Call.Command = "ADD" && p.Call.Type = Delegate.pluginType s.Conf && p.Call.Config <> Plans.ipamConfig s.Conf -> Some p.Call | _ -> None)

                      match runPlugin w delegateCall with
                      | _, Ok exit when exit.ExitCode = 0 -> exit.Stdout
                      | _ -> [||]
                  | None -> Json.render s.Conf.PrevResult.Value

              if nameservers.IsEmpty then
                  added.Stdout = expected
              else
                  match Json.parse (ReadOnlyMemory expected) with
                  | Ok result -> added.Stdout = Json.render (PluginOutput.withNameservers nameservers result)
                  | Error _ -> false)

          property "ADD's effects are its steps in the order they run: a successful ADD's trace matches its lanes step by step"
          <| Prop.forAll (Arb.fromGen scenario) (fun s ->
              let w1, added, trace = runLabelled (fun _ _ -> None) (before s) (invocation s.Conf s.Ours)
              let steps = runOrder s
              let expected = steps |> List.map (fun step -> requested (spartanAddress s w1) step, Some step.Name)
              let ran = trace |> List.map (fun (effect, label) -> withoutHandle effect, label |> Option.map _.Step)

              (ok added && ran = expected)
              |> Prop.label $"ran {ran |> List.map (fun (e, _) -> e.Describe())}\nsteps {steps |> List.map _.Name}")

          property "DEL is idempotent"
          <| Prop.forAll (Arb.fromGen scenario) (fun s ->
              let w1, _, _ = add s (before s)
              let w2, first, _ = del s s.Ours w1
              let w3, second, _ = del s s.Ours w2
              ok first && ok second && w3 = w2)

          property "DEL releases the Spartan lease only after the Spartan veth is gone"
          <| Prop.forAll (Arb.fromGen scenario) (fun s ->
              let w1, _, _ = add s (before s)
              let _, deleted, ran = del s s.Ours w1
              let net = s.Conf.Spartan.Network
              let effects: Effect list = ran

              let linkGone =
                  effects
                  |> List.tryFindIndex (function
                      | Change(DeleteLink(ContainerNs _, name)) -> name = net.Interface
                      | _ -> false)

              let leaseReleased =
                  effects
                  |> List.tryFindIndex (function
                      | AwaitPlugin p -> p.Call.Type = net.IpamType && p.Call.Command = "DEL"
                      | _ -> false)

              let ordered =
                  match linkGone, leaseReleased with
                  | Some l, Some r -> l < r
                  | None, None -> not s.Conf.Spartan.Enabled
                  | _ -> false

              (ok deleted && ordered) |> Prop.label (String.Join("\n", effects |> List.map _.Describe())))

          property "DEL without a netns succeeds and releases every allocation"
          <| Prop.forAll (Arb.fromGen scenario) (fun s ->
              let w1, _, _ = add s (before s)
              let w2, deleted, _ = del s { s.Ours with Netns = None } w1
              (ok deleted && released s w2) |> Prop.label (replyText deleted))

          property "DEL after the netns is gone succeeds and leaves the host as before ADD"
          <| Prop.forAll (Arb.fromGen scenario) (fun s ->
              let w0 = before s
              let w1, _, _ = add s w0
              let gone = deleteNetns s.Ours.Netns.Value w1
              let w2, deleted, _ = del s s.Ours gone
              (ok deleted && released s w2 && settled w2 = settled (deleteNetns s.Ours.Netns.Value w0)) |> Prop.label (replyText deleted))

          property "DEL of a container that was never added succeeds and changes nothing"
          <| Prop.forAll (Arb.fromGen scenario) (fun s ->
              let w0 = before s
              let w1, deleted, _ = del s s.Ours w0
              ok deleted && w1 = w0) ]

/// DEL's steps as its reply numbers them: Plans.del, then the record's removal (which
/// runs only when they all succeeded).
let private delSteps (s: Scenario) =
    let rt = withCommand Del s.Ours
    Plans.del s.Conf rt @ [ Plans.forget s.Conf { ContainerId = rt.ContainerId; IfName = rt.IfName } ]

let private injectedFailure (effect: Effect) =
    match effect with
    | AwaitPlugin _ -> exitWith """{"code": 11, "msg": "injected plugin failure"}"""
    | _ -> failure "injected failure"

/// A scenario, the number of effects of its clean ADD, and a step k in 1..n.
let private faultScenario =
    gen {
        let! s = scenario
        let _, reply, trace = add s (before s)
        if reply.ExitCode <> 0 then failwith $"the clean ADD failed: {replyText reply}"
        let! k = Gen.choose (1, trace.Length)
        let! j = Gen.choose (1, 20)
        return s, trace, k, j
    }

/// The compensations that must follow a failure of ADD's k-th effect: the Undo of every
/// step done by then, newest first by plan order. The k-th effect is the k-th step in run
/// order (see "ADD's effects are its steps in the order they run"); a step beside the
/// delegate that fails still lets the delegate finish.
let private expectedUndo (s: Scenario) (k: int) =
    let lanes = Plans.addLanes s.Conf s.Ours
    let order = runOrder s
    let failed = order[k - 1]
    let isBeside = lanes.Beside |> List.exists (fun b -> b.Name = failed.Name)
    let finished = List.take (k - 1) order @ (if isBeside then Option.toList lanes.Delegate else [])

    Plans.add s.Conf s.Ours
    |> List.filter (fun step -> finished |> List.exists (fun f -> f.Name = step.Name))
    |> List.rev
    |> List.choose (fun step ->
        match step.Undo with
        | Undo undo -> Some(requested None undo)
        | _ -> None)

let rollback =
    testList
        "rollback on the model"
        [ property "a failure at any step k of ADD leaves the host as before, and the error names step k"
          <| Prop.forAll (Arb.fromGen faultScenario) (fun (s, _, k, _) ->
              let w0 = before s
              let w1, reply, _ = runWith (fun n e -> if n = k then Some(injectedFailure e) else None) w0 (invocation s.Conf s.Ours)
              let text = replyText reply

              (reply.ExitCode <> 0
               && settled w1 = settled w0
               && text.Contains $"ADD step {numberOf s (List.item (k - 1) (runOrder s))} ("
               && text.Contains "injected")
              |> Prop.label text)

          property "an effect of ADD carried out and then answered Interrupted (the host's answer when the core throws on an outcome) is undone too: the host as before"
          <| Prop.forAll (Arb.fromGen faultScenario) (fun (s, trace, k, _) ->
              let w0 = before s
              let interrupted = DoneThenFail { Kind = Interrupted; Message = "injected after the effect" }
              let w1, reply, _ = runWith (fun n _ -> if n = k then Some interrupted else None) w0 (invocation s.Conf s.Ours)

              match List.item (k - 1) trace with
              // a "not yet attached" probe finds nothing: its outcome is a failure already
              | InspectLink _ -> true |> Prop.label "a probe"
              | _ -> (reply.ExitCode <> 0 && settled w1 = settled w0) |> Prop.label (replyText reply))

          property "the compensations run newest first, every one, even when one of them fails"
          <| Prop.forAll (Arb.fromGen faultScenario) (fun (s, _, k, j) ->
              let undo = expectedUndo s k
              // a failure beside the delegate still awaits it before undoing
              let lanes = Plans.addLanes s.Conf s.Ours
              let awaited = lanes.Delegate.IsSome && lanes.Beside |> List.exists (fun b -> b.Name = (List.item (k - 1) (runOrder s)).Name)
              let undoStart = if awaited then k + 1 else k
              let failing = if undo.IsEmpty then 0 else undoStart + 1 + (j % undo.Length)
              let w0 = before s

              let inject n e =
                  if n = k || n = failing then Some(injectedFailure e) else None

              let _, reply, ran = runWith inject w0 (invocation s.Conf s.Ours)
              let text = replyText reply
              let after = ran |> List.skip undoStart |> List.map withoutHandle

              (reply.ExitCode <> 0
               && after = undo
               && (failing = 0 || text.Contains "undo ("))
              |> Prop.label $"k={k} failing={failing}\nran {after |> List.map _.Describe()}\nexpected {undo |> List.map _.Describe()}\n{text}")

          property "a DEL step that fails does not stop the others; DEL reports it"
          <| Prop.forAll (Arb.fromGen (Gen.zip scenario (Gen.choose (1, 100)))) (fun (s, pick) ->
              let w1, _, _ = add s (before s)
              let steps = delSteps s
              let k = 1 + pick % steps.Length
              let _, clean, cleanTrace = del s s.Ours w1
              let _, reply, trace = runWith (fun n e -> if n = k then Some(injectedFailure e) else None) w1 (invocation s.Conf (withCommand Del s.Ours))
              let text = replyText reply
              // every step still runs, except the record's removal after a failure: the
              // record stays so that GC can finish the job
              let expected =
                  if k = steps.Length then cleanTrace
                  else cleanTrace |> List.filter (function Change(RemoveFile(AttachmentRecord, _, _)) -> false | _ -> true)

              (ok clean && reply.ExitCode <> 0 && trace = expected && text.Contains $"DEL step {k} (")
              |> Prop.label $"k={k}: {text}")

          property "a DEL whose k-th step fails reports \"DEL step k (<that step's name>)\""
          <| Prop.forAll (Arb.fromGen (Gen.zip scenario (Gen.choose (1, 100)))) (fun (s, pick) ->
              let w1, _, _ = add s (before s)
              let steps = delSteps s
              let k = 1 + pick % steps.Length
              let _, reply, _ = runWith (fun n e -> if n = k then Some(injectedFailure e) else None) w1 (invocation s.Conf (withCommand Del s.Ours))

              match Json.parse (ReadOnlyMemory reply.Stdout) |> Result.map (Json.tryField "msg") with
              | Ok(Some(Json.String msg)) -> msg.StartsWith $"DEL step {k} ({steps[k - 1].Name}): " |> Prop.label $"k={k}: {msg}"
              | other -> false |> Prop.label $"k={k}: {other}")

          property "an ADD whose k-th step fails reports \"ADD step k (<that step's name>)\", k its place in Plans.add"
          <| Prop.forAll (Arb.fromGen faultScenario) (fun (s, _, k, _) ->
              let step = (runOrder s)[k - 1]
              let _, reply, _ = runWith (fun n e -> if n = k then Some(injectedFailure e) else None) (before s) (invocation s.Conf s.Ours)

              match Json.parse (ReadOnlyMemory reply.Stdout) |> Result.map (Json.tryField "msg") with
              | Ok(Some(Json.String msg)) -> msg.StartsWith $"ADD step {numberOf s step} ({step.Name}): " |> Prop.label $"k={k}: {msg}"
              | other -> false |> Prop.label $"k={k}: {other}")

          property "a delegate ADD that may have acted (killed at its timeout or before its end, or exit 0 with no address) gets its DEL; a refused one does not"
          <| Prop.forAll (Arb.fromGen (Gen.zip (scenario |> Gen.filter (fun s -> s.Conf.Delegate.IsSome && not (s.Conf.Spartan.Enabled && s.Conf.Spartan.Network.IpamType = Delegate.pluginType s.Conf))) (Gen.elements [ 0; 1; 2; 3 ]))) (fun (s, kind) ->
              let delegateType = Delegate.pluginType s.Conf
              let isDelegate (c: PluginCall) = c.Type = delegateType && c.Config <> Plans.ipamConfig s.Conf

              let fault =
                  match kind with
                  | 0 -> FailWith { Kind = TimedOut; Message = "killed at its timeout" }
                  | 1 -> ExitWith { ExitCode = 0; Stdout = Encoding.UTF8.GetBytes """{"cniVersion": "1.0.0"}""" }
                  | 3 -> FailWith { Kind = Interrupted; Message = "killed: its output passed the limit" }
                  | _ -> exitWith """{"code": 11, "msg": "refused"}"""

              let inject _ effect =
                  match effect with
                  | AwaitPlugin p when p.Call.Command = "ADD" && isDelegate p.Call -> Some fault
                  | _ -> None

              let _, reply, trace = runWith inject (before s) (invocation s.Conf s.Ours)
              let deleted = trace |> List.exists (function AwaitPlugin p -> p.Call.Command = "DEL" && isDelegate p.Call | _ -> false)
              (reply.ExitCode <> 0 && deleted = (kind <> 2)) |> Prop.label $"kind {kind}: {replyText reply}")

          property "when the Minuteman link cannot be made, nothing is left (delegate included)"
          <| Prop.forAll (Arb.fromGen (scenario |> Gen.filter (fun s -> s.Conf.Minuteman.Enabled))) (fun s ->
              let w0 = { before s with DummySupported = false }
              let w1, reply, _ = add s w0
              let text = replyText reply
              (reply.ExitCode <> 0 && settled w1 = settled w0 && text.Contains "dummy") |> Prop.label text)

          property "a plugin's own details survive its failed ADD step, and msg is not repeated in details"
          <| Prop.forAll (Arb.fromGen (scenario |> Gen.filter (fun s -> s.Conf.Delegate.IsSome))) (fun s ->
              let failing = """{"cniVersion": "1.0.0", "code": 11, "msg": "boom", "details": "more about boom"}"""

              let inject _ effect =
                  match effect with
                  | AwaitPlugin p when p.Call.Command = "ADD" && p.Call.Type = Delegate.pluginType s.Conf && (Json.tryField "rangeStart" p.Call.Config).IsNone ->
                      Some(exitWith failing)
                  | _ -> None

              let _, reply, _ = runWith inject (before s) (invocation s.Conf s.Ours)

              match Json.parse (ReadOnlyMemory reply.Stdout) with
              | Ok j ->
                  (Json.tryField "details" j = Some(Json.String "more about boom")
                   && (match Json.tryField "msg" j with Some(Json.String m) -> m.Contains "boom" | _ -> false))
                  |> Prop.label (replyText reply)
              | Error e -> false |> Prop.label e) ]

/// Ways to break one artefact of an attached container, each with the name CHECK must
/// give in its error.
let private breakages (s: Scenario) (w: World) : (string * World) list =
    let ns = ContainerNs s.Ours.Netns.Value
    let net = s.Conf.Spartan.Network
    let hostVeth = Plans.hostVethName s.Ours.ContainerId s.Ours.IfName
    let onNs target f (w: World) = { w with Namespaces = w.Namespaces.Add(target, f w.Namespaces[target]) }
    let onLink target name f = onNs target (fun n -> { n with Links = n.Links.Add(name, f n.Links[name]) })

    [ if s.Conf.Spartan.Enabled then
          "Spartan link", fst (change w (DeleteLink(ns, net.Interface)))
          "Spartan link", onLink ns net.Interface (fun l -> { l with Up = false }) w
          "Spartan link", onLink ns net.Interface (fun l -> { l with Addresses = Set.empty }) w
          "host veth", onLink HostNs hostVeth (fun l -> { l with Up = false }) w

          for service in net.Services do
              "Spartan routes", onNs ns (fun n -> { n with Routes = n.Routes |> Set.filter (fun r -> r.Destination <> service) }) w

          "host route", onNs HostNs (fun n -> { n with Routes = n.Routes |> Set.filter (fun r -> r.Device <> hostVeth) }) w
      if s.Conf.Minuteman.Enabled then
          "Minuteman link", fst (change w (DeleteLink(ns, Plans.minutemanLink)))
          "Minuteman link", onLink ns Plans.minutemanLink (fun l -> { l with Up = false }) w
          "Minuteman checkpoint", fst (change w (RemoveFile(Checkpoint, s.Conf.Minuteman.Path, s.Ours.ContainerId)))
          "Minuteman checkpoint", { w with Files = w.Files.Add((s.Conf.Minuteman.Path, s.Ours.ContainerId), "/proc/1/ns/net") }
      if s.Conf.Delegate.IsSome then
          "delegate", { w with Attachments = w.Attachments.Remove(s.Conf.Name, s.Ours.ContainerId, s.Ours.IfName) } ]

let private checkable = scenario |> Gen.filter (fun s -> CniVersion.atLeast "0.4.0" s.Conf.CniVersion)

let check =
    testList
        "CHECK on the model"
        [ property "ADD then CHECK succeeds"
          <| Prop.forAll (Arb.fromGen checkable) (fun s ->
              let w1, _, _ = add s (before s)
              let w2, verdict, _ = run w1 (invocation s.Conf (withCommand Check s.Ours))
              (ok verdict && w2 = w1) |> Prop.label (replyText verdict))

          property "breaking any one artefact makes CHECK fail, naming it"
          <| Prop.forAll (Arb.fromGen (Gen.zip checkable (Gen.choose (0, 1000)))) (fun (s, pick) ->
              let w1, _, _ = add s (before s)
              let options = breakages s w1
              let name, broken = options[pick % options.Length]
              let _, verdict, _ = run broken (invocation s.Conf (withCommand Check s.Ours))
              let text = replyText verdict
              (verdict.ExitCode <> 0 && text.Contains name) |> Prop.label $"{name}: {text}")

          testCase "CHECK below 0.4.0 is refused with code 1" <| fun () ->
              let conf: NetConf = { (Gen.sample 1 validConfig)[0] with CniVersion = "0.3.1" }

              match Core.command (runtime Check "x" "eth0") conf with
              | Error e -> Expect.equal e.Code 1 "code"
              | Ok _ -> failtest "CHECK runs for 0.3.1" ]

/// Steps two invocations in an order given by `choices`, on one world.
let private interleave (w: World) (a: Next) (b: Next) (choices: bool list) =
    let rec loop w a b choices =
        match a, b, choices with
        | Finished ra, Finished rb, _ -> w, ra, rb
        | Pending r, Finished _, _
        | Pending r, Pending _, true :: _ ->
            let w, next = answer None w r
            loop w next b (List.tail (choices @ [ true ]))
        | _, Pending r, _ ->
            let w, next = answer None w r
            loop w a next (List.tail (choices @ [ false ]))

    loop w a b (if choices.IsEmpty then [ true ] else choices)

let concurrency =
    testList
        "two containers"
        [ property "ADD and DEL of two containers, interleaved in any order, never disturb each other"
          <| Prop.forAll (Arb.fromGen (Gen.zip3 scenario (Gen.listOf (Gen.elements [ true; false ])) (Gen.listOf (Gen.elements [ true; false ])))) (fun (s, addOrder, delOrder) ->
              let other = runtime Add (s.Ours.ContainerId + "-2") s.Ours.IfName
              let w0 = initial |> addNetns s.Ours.Netns.Value |> addNetns other.Netns.Value
              let w1, ra, rb = interleave w0 (invocation s.Conf s.Ours) (invocation s.Conf other) addOrder

              let checksPass =
                  not (CniVersion.atLeast "0.4.0" s.Conf.CniVersion)
                  || ([ s.Ours; other ] |> List.forall (fun rt -> let _, r, _ = run w1 (invocation s.Conf (withCommand Check rt)) in ok r))

              let w2, da, db = interleave w1 (invocation s.Conf (withCommand Del s.Ours)) (invocation s.Conf (withCommand Del other)) delOrder
              (ok ra && ok rb && checksPass && ok da && ok db && settled w2 = settled w0) |> Prop.label (replyText ra + replyText rb)) ]

/// Spartan on, with an IPAM plugin type of its own.
let private ipamScenario =
    scenario |> Gen.filter (fun s -> s.Conf.Spartan.Enabled && (s.Conf.Delegate.IsNone || s.Conf.Spartan.Network.IpamType <> Delegate.pluginType s.Conf))

let negotiation =
    testList
        "version negotiation"
        [ property "an IPAM plugin that stops at 1.0.0 still serves a 1.1.0 config, for ADD and DEL"
          <| Prop.forAll (Arb.fromGen (ipamScenario |> Gen.map (fun s -> { s with Conf = { s.Conf with CniVersion = "1.1.0" } }))) (fun s ->
              let w0 = { before s with PluginVersions = Map [ s.Conf.Spartan.Network.IpamType, [ "0.1.0"; "0.2.0"; "0.3.0"; "0.3.1"; "0.4.0"; "1.0.0" ] ] }
              let w1, added, trace = add s w0
              let w2, deleted, _ = del s s.Ours w1
              let asked = trace |> List.exists (function AwaitPlugin p -> p.Call.Command = "VERSION" | _ -> false)
              (ok added && ok deleted && asked && settled w2 = settled w0) |> Prop.label (replyText added + replyText deleted))

          property "with no version in common, ADD fails with code 1 and leaves nothing"
          <| Prop.forAll (Arb.fromGen ipamScenario) (fun s ->
              let w0 = { before s with PluginVersions = Map [ s.Conf.Spartan.Network.IpamType, [ "9.9.9" ] ] }
              let w1, added, _ = add s w0
              (added.ExitCode <> 0 && replyText(added).Contains "\"code\":1" && settled w1 = settled w0) |> Prop.label (replyText added))

          property "a delegate that stops at 1.0.0 serves a 1.1.0 config: ADD (its result given as 1.1.0), CHECK and DEL, the host as before"
          <| Prop.forAll (Arb.fromGen (scenario |> Gen.filter (fun s -> s.Conf.Delegate.IsSome) |> Gen.map (fun s -> { s with Conf = { s.Conf with CniVersion = "1.1.0" } }))) (fun s ->
              let older = [ "0.1.0"; "0.2.0"; "0.3.0"; "0.3.1"; "0.4.0"; "1.0.0" ]
              let w0 = { before s with PluginVersions = Map [ Delegate.pluginType s.Conf, older ] }
              let w1, added, _ = add s w0
              let withResult = { s.Conf with PrevResult = Json.parse (ReadOnlyMemory added.Stdout) |> Result.toOption }
              let _, checkedOk, _ = run w1 (invocation withResult (withCommand Check s.Ours))
              let w2, deleted, _ = run w1 (invocation withResult (withCommand Del s.Ours))

              let version =
                  match Json.parse (ReadOnlyMemory added.Stdout) |> Result.map (Json.tryField "cniVersion") with
                  | Ok(Some(Json.String v)) -> v
                  | _ -> "?"

              (ok added && version = "1.1.0" && ok checkedOk && ok deleted && settled w2 = settled w0)
              |> Prop.label (replyText added + replyText checkedOk + replyText deleted))

          property "a delegate that speaks only 0.4.0 under a 1.0.0 config: its result loses the addresses' version"
          <| Prop.forAll (Arb.fromGen (scenario |> Gen.filter (fun s -> s.Conf.Delegate.IsSome) |> Gen.map (fun s -> { s with Conf = { s.Conf with CniVersion = "1.0.0" } }))) (fun s ->
              let w0 = { before s with PluginVersions = Map [ Delegate.pluginType s.Conf, [ "0.3.1"; "0.4.0" ] ] }
              let w1, added, _ = add s w0
              let w2, deleted, _ = del s s.Ours w1

              match Json.parse (ReadOnlyMemory added.Stdout) with
              | Ok result ->
                  (ok added && ok deleted && Json.tryField "cniVersion" result = Some(Json.String "1.0.0") && settled w2 = settled w0)
                  |> Prop.label (replyText added)
              | Error e -> false |> Prop.label e)

          property "after a refusal, the agreed version is kept: the rollback's IPAM DEL gets it at once"
          <| Prop.forAll (Arb.fromGen (ipamScenario |> Gen.map (fun s -> { s with Conf = { s.Conf with CniVersion = "1.1.0" } }))) (fun s ->
              let w0 = { before s with PluginVersions = Map [ s.Conf.Spartan.Network.IpamType, [ "0.4.0"; "1.0.0" ] ] }
              // the veth step fails after the IPAM ADD, so the IPAM DEL undoes it
              let inject _ effect =
                  match effect with
                  | Change(CreateVeth _) -> Some(failure "injected")
                  | _ -> None

              let w1, added, trace = runWith inject w0 (invocation s.Conf s.Ours)
              let isIpam (c: PluginCall) = c.Type = s.Conf.Spartan.Network.IpamType && (Json.tryField "ipam" c.Config).IsSome || c.Command = "VERSION"
              let ipamRuns = trace |> List.choose (function AwaitPlugin p when isIpam p.Call -> Some p.Call | _ -> None)
              let shown = ipamRuns |> List.map (fun c -> c.Command + "@" + (match Json.tryField "cniVersion" c.Config with Some(Json.String v) -> v | _ -> "?"))

              (added.ExitCode <> 0 && settled w1 = settled w0 && shown = [ "ADD@1.1.0"; "VERSION@1.1.0"; "ADD@1.0.0"; "DEL@1.0.0" ])
              |> Prop.label (String.Join(", ", shown)))

          testCase "a delegate run at an older version gets prevResult in that version's format" <| fun () ->
              let parse (text: string) =
                  match Json.parse (ReadOnlyMemory(Encoding.UTF8.GetBytes text)) with
                  | Ok j -> j
                  | Error e -> failtest e

              let withPrev (prev: string) = parse $"""{{"cniVersion":"1.1.0","type":"bridge","prevResult":{prev}}}"""
              let prevOf (config: Json) = Json.tryField "prevResult" config
              let v1 = """{"cniVersion":"1.1.0","ips":[{"address":"10.0.0.5/24"},{"address":"fd00::5/64"}]}"""
              let v04 = """{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.5/24"}]}"""

              Expect.equal
                  (prevOf (PluginOutput.prevResultIn "1.0.0" (withPrev v1)))
                  (Some(parse """{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.5/24"},{"address":"fd00::5/64"}]}"""))
                  "same format: only cniVersion changes"

              Expect.equal
                  (prevOf (PluginOutput.prevResultIn "0.4.0" (withPrev v1)))
                  (Some(parse """{"cniVersion":"0.4.0","ips":[{"address":"10.0.0.5/24","version":"4"},{"address":"fd00::5/64","version":"6"}]}"""))
                  "1.x to 0.4.0: each address gets its version"

              Expect.equal
                  (prevOf (PluginOutput.prevResultIn "1.0.0" (withPrev v04)))
                  (Some(parse """{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.5/24"}]}"""))
                  "0.4.0 to 1.x: the versions go"

              Expect.equal (prevOf (PluginOutput.prevResultIn "0.2.0" (withPrev v1))) None "the 0.2.0 format has no prevResult"
              let bare = parse """{"cniVersion":"1.1.0","type":"bridge"}"""
              Expect.equal (PluginOutput.prevResultIn "1.0.0" bare) bare "without prevResult: unchanged" ]

let examples =
    testList
        "plan examples"
        [ testCase "the README config's ADD, step by step, in upstream order" <| fun () ->
              let conf =
                  match NetConf.parse (ReadOnlyMemory(Encoding.UTF8.GetBytes Examples.seedExample)) with
                  | Ok c -> c
                  | Error e -> failtestf "%A" e

              let names = Plans.add conf (runtime Add "abc" "eth0") |> List.map _.Name

              Expect.equal
                  names
                  [ "lock"
                    "not yet attached (Spartan link)"
                    "not yet attached (host veth)"
                    "not yet attached (Minuteman link)"
                    "attachment record"
                    "IPv4 forwarding"
                    "delegate bridge ADD"
                    "Spartan IPAM host-local ADD"
                    "Spartan veth"
                    "Spartan address"
                    "Spartan link up"
                    "host veth up"
                    "route to Spartan 198.51.100.1"
                    "route to Spartan 198.51.100.2"
                    "route to Spartan 198.51.100.3"
                    "route to Spartan 198.51.100.4"
                    "host route to the Spartan address"
                    "Minuteman link"
                    "Minuteman link up"
                    "Minuteman checkpoint" ]
                  "steps"

          property "a second ADD for an attached container fails at once and leaves the first attachment intact"
          <| Prop.forAll (Arb.fromGen scenario) (fun s ->
              let w1, first, _ = add s (before s)
              let w2, second, trace = add s w1
              let text = replyText second

              (ok first && second.ExitCode <> 0 && w2 = w1 && text.Contains "attached already"
               && not (trace |> List.exists (function AwaitPlugin _ -> true | _ -> false)))
              |> Prop.label text)

          testCase "a disabled feature contributes no step" <| fun () ->
              let conf = { (Gen.sample 1 validConfig)[0] with Spartan = { Defaults.spartan with Enabled = false }; Minuteman = Defaults.minuteman }

              let spartan (name: string) = name.Contains "Spartan" || name.Contains "host "

              for steps in [ Plans.add conf (runtime Add "a" "eth0"); Plans.del conf (runtime Del "a" "eth0") ] do
                  Expect.isFalse (steps |> List.exists (fun s -> spartan s.Name)) "no Spartan step"

              // CHECK is written out, not a step list: none of its requests is for a Spartan step
              let check = { conf with CniVersion = "1.1.0" }
              let _, _, trace = runLabelled (fun _ _ -> None) (addNetns "/run/netns/a" initial) (invocation check (runtime Check "a" "eth0"))
              Expect.isFalse (trace |> List.exists (fun (_, label) -> label |> Option.exists (fun l -> spartan l.Step))) "no Spartan check"

          testCase "host veth names are 15 bytes, stable, and differ by container and ifname" <| fun () ->
              let a = Plans.hostVethName "abc" "eth0"
              Expect.equal a.Length 15 "length"
              Expect.equal a (Plans.hostVethName "abc" "eth0") "stable"
              Expect.notEqual a (Plans.hostVethName "abc" "eth1") "ifname"
              Expect.notEqual a (Plans.hostVethName "abd" "eth0") "container"
              // FNV-1a over the UTF-8 of "<id>\0<ifname>", as every release names them: a
              // host veth made by an older release must still be found by DEL and CHECK
              Expect.equal (Plans.hostVethName "web1" "eth0") "spte72e02531e91" "the name all releases give"
              Expect.equal (Plans.hostVethName "web1" "eth\u00e9") "spteb2df24c9b13" "non-ASCII ifname"

          testCase "CNI_IFNAME may not take the plugin's own link names" <| fun () ->
              let conf = (Gen.sample 1 validConfig)[0]
              let conf = { conf with Minuteman = Defaults.minuteman }

              match Core.command (runtime Add "a" "minuteman") conf with
              | Error e -> Expect.equal (e.Code, e.Field) (4, "CNI_IFNAME") "code"
              | Ok _ -> failtest "ADD runs" ]
