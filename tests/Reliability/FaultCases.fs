/// The fault-injection cases (Faults runs them): each step of ADD made to fail for real,
/// by the kernel refusing it, a fake plugin misbehaving after its real work, a plugin that
/// hangs, or strace failing the step's own netlink request.
module Dcos.L4lb.Tests.Reliability.FaultCases

open System
open System.IO
open Expecto
open Dcos.L4lb.Tests
open Expectations
open Faults

// ---- the cases -----------------------------------------------------------------------

/// The step's own netlink request fails (strace injects ENOBUFS).
let private injected (step: string) =
    { baseCase $"{step}: its netlink request fails (strace injects ENOBUFS)" step with
        Mentions = [ "No buffer space available" ]
        Tweak =
            fun _ inv ->
                { inv with
                    Tracer = atSendtoOf step "error=ENOBUFS" } }

let private hooked = { shape with Delegate = Fakes.bridge }

let private hookedConf =
    fun (_: Scene) ->
        { Config.defaults with
            DelegateType = Fakes.bridge }

let private ipamHooked = { shape with Ipam = Fakes.hostLocal }

let private ipamHookedConf =
    fun (_: Scene) ->
        { Config.defaults with
            Spartan = Some(Config.ipamType Fakes.hostLocal) }

/// Spartan's range is one address, 198.51.100.10.
let private oneAddressConf =
    fun (_: Scene) ->
        { Config.defaults with
            Spartan = Some(Config.oneAddressRange "198.51.100.10") }

/// The wrapper `fake` (Fakes.bridge as the delegate, Fakes.hostLocal as the Spartan IPAM)
/// lets its real plugin do its work, then `misbehave`s (a hook, or the output replaced):
/// its step fails, and the wrapper's own DEL undoes the real work.
let private afterRealWork (fake: string) (name: string) (mention: string) (misbehave: Scene -> unit) =
    let step, shape, conf =
        if fake = Fakes.bridge then
            $"delegate {fake} ADD", hooked, hookedConf
        else
            $"Spartan IPAM {fake} ADD", ipamHooked, ipamHookedConf

    { baseCase name step with
        Shape = shape
        Mentions = [ mention ]
        Conf = conf
        Arrange =
            fun scene _ _ ->
                misbehave scene
                []
        Extra = fun scene c _ _ -> expectCalled scene $"{fake} DEL" c }

/// While the Spartan IPAM plugin runs, its hook (`intrude`'s shell commands) puts a link
/// in the way of the Spartan veth; the rollback must leave that link (`foreign` checks and
/// removes it).
let private inTheWayOfSpartanVeth name (intrude: Scene -> Container -> string) (foreign: Scene -> Container -> unit) =
    { baseCase name "Spartan veth" with
        Shape = ipamHooked
        Mentions = [ "File exists" ]
        Conf = ipamHookedConf
        Arrange =
            fun scene c _ ->
                Fakes.hook scene Fakes.hostLocal "ADD" (intrude scene c)
                []
        Foreign = foreign }

let private routeCase (service: string) =
    { baseCase
          $"route to Spartan {service}: the container has a route to it already (via lo)"
          $"route to Spartan {service}" with
        Mentions = [ "File exists" ]
        Arrange =
            fun _ c _ ->
                Command.ip c.Netns [ "route"; "add"; service + "/32"; "dev"; "lo" ] |> ignore
                [] }

let natural: Case list =
    [ { baseCase "not yet attached: the container has a link named spartan" "not yet attached (Spartan link)" with
          Mentions = [ "attached already" ]
          Arrange =
              fun _ c _ ->
                  Command.ip c.Netns [ "link"; "add"; "spartan"; "type"; "bridge" ] |> ignore
                  [] }

      { baseCase "not yet attached: the agent has a link of the derived host veth name" "not yet attached (host veth)" with
          Mentions = [ "attached already" ]
          Arrange =
              fun scene c _ ->
                  Command.ip
                      scene.Agent
                      [ "link"; "add"; Kernel.hostVethName c.Id L4lbInAgent.ifName; "type"; "bridge" ]
                  |> ignore

                  [] }

      { baseCase "IPv4 forwarding: /proc/sys is read-only" "IPv4 forwarding" with
          Mentions = [ "Read-only file system" ]
          Tweak =
              fun _ inv ->
                  { inv with
                      Prelude = "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys || exit 99" } }

      { baseCase "delegate ADD: the delegate is not in CNI_PATH" "delegate plugin" with
          Shape =
              { shape with
                  Delegate = "no-such-delegate" }
          Mentions = [ "not found in CNI_PATH" ]
          Conf =
              fun _ ->
                  { Config.defaults with
                      DelegateType = "no-such-delegate" } }

      { baseCase "delegate ADD: the delegate refuses (code 11)" $"delegate {Fakes.failing} ADD" with
          Shape = { shape with Delegate = Fakes.failing }
          Mentions = [ "try again later" ]
          Conf =
              fun _ ->
                  { Config.defaults with
                      DelegateType = Fakes.failing }
          Extra = fun _ _ _ reply -> Expect.equal reply.Code 11 "the delegate's error code is kept" }

      afterRealWork Fakes.bridge "delegate ADD: the bridge attaches, then the result is not JSON" "not JSON" (fun scene ->
          Fakes.replaceOutput scene Fakes.bridge "ADD" "this is not json\n")

      afterRealWork Fakes.bridge "delegate ADD: the bridge attaches, then the result has no IP" "no IP address" (fun scene ->
          Fakes.replaceOutput scene Fakes.bridge "ADD" """{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}]}""")

      { baseCase "Spartan IPAM ADD: the IPAM plugin is not in CNI_PATH" "Spartan IPAM plugin" with
          Shape = { shape with Ipam = "no-such-ipam" }
          Mentions = [ "not found in CNI_PATH" ]
          Conf =
              fun _ ->
                  { Config.defaults with
                      Spartan = Some(Config.ipamType "no-such-ipam") } }

      afterRealWork
          Fakes.hostLocal
          "Spartan IPAM ADD: host-local allocates, then two addresses are returned"
          "returned 2 IPv4 addresses"
          (fun scene ->
              Fakes.replaceOutput
                  scene
                  Fakes.hostLocal
                  "ADD"
                  """{"cniVersion":"1.0.0","ips":[{"address":"198.51.100.20/32"},{"address":"198.51.100.21/32"}]}""")

      afterRealWork
          Fakes.hostLocal
          "Spartan IPAM ADD: host-local allocates, then no address is returned"
          "returned no IPv4 address"
          (fun scene -> Fakes.replaceOutput scene Fakes.hostLocal "ADD" """{"cniVersion":"1.0.0","ips":[]}""")

      { baseCase "Spartan IPAM ADD: the one-address range is taken by another container" "Spartan IPAM host-local ADD" with
          Mentions = [ "no IP addresses available" ]
          Conf = oneAddressConf
          Arrange =
              fun scene _ conf ->
                  let other = scene.NewContainer()

                  expectOk
                      "the other container's ADD"
                      (L4lb.exec (L4lb.invocation scene "ADD" other (Config.build conf)))

                  Expect.equal
                      (expectAttached scene other)
                      "198.51.100.10"
                      "the other container holds the range's address"

                  [ other ]
          Extra =
              fun scene _ watched _ ->
                  for other in watched do
                      expectAttached scene other |> ignore }

      // after the check that the container is not attached yet, before the veth: the IPAM
      // plugin runs in between, in the Spartan lane (the delegate beside it is a race)
      inTheWayOfSpartanVeth
          "Spartan veth: the container gets a link named spartan while the IPAM plugin runs"
          (fun _ c -> $"ip -n {c.Netns} link add spartan type bridge\n")
          (fun _ c -> foreignLink c.Netns "spartan" "bridge")

      // the IPAM plugin runs in the agent netns, as the plugin does
      inTheWayOfSpartanVeth
          "Spartan veth: the agent gets a link of the host veth's name while the IPAM plugin runs"
          (fun _ c -> $"ip link add {Kernel.hostVethName c.Id L4lbInAgent.ifName} type bridge\n")
          (fun scene c -> foreignLink scene.Agent (Kernel.hostVethName c.Id L4lbInAgent.ifName) "bridge") ]
    @ [ for service in Spartan.serviceAddresses -> routeCase service ]
    @ [ { baseCase
              "host route: the agent has a route to the Spartan address already"
              "host route to the Spartan address" with
            Mentions = [ "File exists" ]
            Conf = oneAddressConf
            Arrange =
                fun scene _ _ ->
                    Command.ip scene.Agent [ "route"; "add"; "198.51.100.10/32"; "dev"; "spartan" ]
                    |> ignore

                    [] } ]

/// Minuteman's steps (after every Spartan step, so the whole Spartan attachment is undone).
let minuteman: Case list =
    let on = { shape with Minuteman = true }

    [ if not (Kernel.hasDummy.Force()) then
          { baseCase "Minuteman link: this kernel has no dummy link type" "Minuteman link" with
              Shape = on
              Mentions = [ "dummy" ]
              Conf =
                  fun scene ->
                      { Config.defaults with
                          Minuteman = Config.minutemanOn scene } }
      { baseCase "Minuteman link: the container gets a link named minuteman while the IPAM plugin runs" "Minuteman link" with
          Shape = { on with Ipam = Fakes.hostLocal }
          Conf =
              fun scene ->
                  { Config.defaults with
                      Spartan = Some(Config.ipamType Fakes.hostLocal)
                      Minuteman = Config.minutemanOn scene }
          Arrange =
              fun scene c _ ->
                  Fakes.hook scene Fakes.hostLocal "ADD" $"ip -n {c.Netns} link add minuteman type bridge\n"
                  []
          Foreign = fun _ c -> foreignLink c.Netns "minuteman" "bridge" }
      if Kernel.hasDummy.Force() then
          { baseCase "Minuteman checkpoint: the checkpoint path is a file" "Minuteman checkpoint" with
              Shape = on
              Conf =
                  fun scene ->
                      { Config.defaults with
                          Minuteman = Config.minutemanOn scene }
              Arrange =
                  fun scene _ _ ->
                      File.WriteAllText(scene.CheckpointDir, "not a directory")
                      [] } ]

let private netlinkSteps =
    addSteps shape
    |> List.filter (fun s ->
        s.StartsWith "not yet attached"
        || s.StartsWith "Spartan veth"
        || s = "Spartan address"
        || s.EndsWith " up"
        || s.StartsWith "route to"
        || s.StartsWith "host route")

/// A plugin that does its work and then hangs is killed after the plugin's 60 s limit:
/// the delegate (after the bridge attached) and the Spartan IPAM (after host-local
/// allocated). Both run at once, to wait one minute rather than two.
let hangs: Case list =
    let hangsAfterRealWork fake name =
        { afterRealWork fake name "did not finish within 60 s" (fun scene -> Fakes.hook scene fake "ADD" "sleep 3600\n") with
            Extra = fun _ _ _ _ -> ()
            // a guard against a hang: the case takes the plugin's 60 s and a second
            Tweak = fun _ inv -> { inv with TimeoutMs = 330_000 } }

    [ hangsAfterRealWork Fakes.bridge "the delegate hangs after the bridge attached"
      hangsAfterRealWork Fakes.hostLocal "the Spartan IPAM plugin hangs after host-local allocated" ]

let private hangTest () =
    let results =
        Processes.together
            [ for case in hangs ->
                  fun () ->
                      try
                          run case ()
                          None
                      with e ->
                          Some $"{case.Name}: {e.Message}" ]

    match List.choose id results with
    | [] -> ()
    | failures -> failtest (String.Join(Environment.NewLine + Environment.NewLine, failures))

let tests =
    testList
        "fault injection: ADD fails at each step and leaves nothing"
        [ testCase "a plugin that hangs after doing its work is killed after 60 s (delegate; Spartan IPAM)" hangTest
          testList "natural failures" [ for case in natural -> testCase case.Name (run case) ]
          testList
              "Minuteman (needs the dummy link type for its later steps)"
              [ for case in minuteman do
                    yield testCase case.Name (run case)
                if not (Kernel.hasDummy.Force()) then
                    yield
                        testCase "Minuteman link up, Minuteman checkpoint" (fun () ->
                            skiptest "unreachable on a kernel without dummy links: the Minuteman link step fails first") ]
          testList
              "injected netlink failures"
              [ yield
                    testCase "the calibration: each step's sendto calls" (fun () ->
                        let counts = sendtoCounts.Force()

                        let shown =
                            [ for step in addSteps shape ->
                                  let _, last = counts[step]
                                  $"{stepNumber shape step}: {last}" ]

                        printfn "reliability: sendto calls by the end of each ADD step: %s" (String.Join(", ", shown)))
                for step in netlinkSteps do
                    yield testCase (injected step).Name (run (injected step)) ] ]
