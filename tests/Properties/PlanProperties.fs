/// ADD, DEL and CHECK run as programs against the pure host model: what they leave, what
/// CHECK finds, two containers at once, and the plan of the README config.
module Dcos.L4lb.Tests.PlanProperties

open System
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb
open Dcos.L4lb.HostModel
open Dcos.L4lb.Tests.Generators
open Dcos.L4lb.Tests.Invocations
open Dcos.L4lb.Tests.PropertyTest

/// Ways to break one artefact of an attached container, each with the name CHECK must
/// give in its error.
let private breakages (s: Scenario) (w: World) : (string * World) list =
    let ns = ContainerNs s.Ours.Netns.Value
    let net = s.Conf.Spartan.Network
    let hostVeth = Naming.hostVethName s.Ours.ContainerId s.Ours.IfName
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
          "Minuteman link", fst (change w (DeleteLink(ns, Naming.minutemanLink)))
          "Minuteman link", onLink ns Naming.minutemanLink (fun l -> { l with Up = false }) w
          "Minuteman checkpoint", fst (change w (RemoveFile(Checkpoint, s.Conf.Minuteman.Path, s.Ours.ContainerId)))
          "Minuteman checkpoint", { w with Files = w.Files.Add((s.Conf.Minuteman.Path, s.Ours.ContainerId), "/proc/1/ns/net") }
      if s.Conf.Delegate.IsSome then
          "delegate", { w with Attachments = w.Attachments.Remove(s.Conf.Name, s.Ours.ContainerId, s.Ours.IfName) } ]

let private checkable = scenario |> Gen.filter (fun s -> CniVersion.atLeast "0.4.0" s.Conf.CniVersion)

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
                  [ "delegate plugin"
                    "Spartan IPAM plugin"
                    "lock"
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
              let a = Naming.hostVethName "abc" "eth0"
              Expect.equal a.Length 15 "length"
              Expect.equal a (Naming.hostVethName "abc" "eth0") "stable"
              Expect.notEqual a (Naming.hostVethName "abc" "eth1") "ifname"
              Expect.notEqual a (Naming.hostVethName "abd" "eth0") "container"
              // FNV-1a over the UTF-8 of "<id>\0<ifname>", as every release names them: a
              // host veth made by an older release must still be found by DEL and CHECK
              Expect.equal (Naming.hostVethName "web1" "eth0") "spte72e02531e91" "the name all releases give"
              Expect.equal (Naming.hostVethName "web1" "eth\u00e9") "spteb2df24c9b13" "non-ASCII ifname"

          testCase "CNI_IFNAME may not take the plugin's own link names" <| fun () ->
              let conf = (Gen.sample 1 validConfig)[0]
              let conf = { conf with Minuteman = Defaults.minuteman }

              match Core.command (runtime Add "a" "minuteman") conf with
              | Error e -> Expect.equal (e.Code, e.Field) (4, "CNI_IFNAME") "code"
              | Ok _ -> failtest "ADD runs" ]
