/// Fault injection on a real host: every step of ADD is made to fail for real, and each
/// time the error names the step and nothing is left behind (container links, the host
/// veth, routes, both IPAM networks, bridge ports), the delegate's attachment included.
///
/// Where the kernel can be made to refuse a step (a name or route that exists already, a
/// read-only /proc/sys, a missing plugin, an exhausted range), that is how. Three steps
/// have no such failure reachable from outside (adding an address to, and setting up, a
/// veth the plugin has just made), so for every netlink step there is also a case in
/// which strace makes the plugin's own sendto of that step fail with ENOBUFS; the kernel
/// state around it is real all the same.
module Dcos.L4lb.Tests.Reliability.Faults

open System
open System.IO
open System.Text.RegularExpressions
open Expecto
open Dcos.L4lb.Tests
open Expectations

type Case =
    {
        Name: string
        /// The step that must fail, by name.
        Step: string
        Shape: Shape
        /// What the error must mention besides the step.
        Mentions: string list
        Conf: Scene -> L4lb.Conf
        /// Before ADD: sets the failure up; returns more containers whose state is watched.
        Arrange: Scene -> Container -> L4lb.Conf -> Container list
        Tweak: Scene -> L4lb.Invocation -> L4lb.Invocation
        /// After ADD, before the comparison: checks that what the test put in the plugin's
        /// way during the ADD is still there (the rollback must not take it), and removes it.
        Foreign: Scene -> Container -> unit
        /// More checks after the comparison (with the containers Arrange returned).
        Extra: Scene -> Container -> Container list -> L4lbInAgent.ErrorReply -> unit
    }

let baseCase name step =
    { Name = name
      Step = step
      Shape = shape
      Mentions = []
      Conf = fun _ -> L4lb.defaults
      Arrange = fun _ _ _ -> []
      Tweak = fun _ inv -> inv
      Foreign = fun _ _ -> ()
      Extra = fun _ _ _ _ -> () }

/// A delegate or IPAM wrapper's DEL was run: its own undo.
let private expectCalled (scene: Scene) (entry: string) (c: Container) =
    Expect.contains (Fakes.calls scene) $"{entry} {c.Id}" $"the fakes' calls include \"{entry}\""

let private foreignLink (netns: string) (name: string) (kind: string) =
    match Kernel.link netns name with
    | Some l -> Expect.equal l.Kind kind $"the test's own {name} in {netns} is untouched"
    | None -> failtest $"the rollback removed {name} from {netns}: a link the plugin did not make"

    Command.ip netns [ "link"; "del"; name ] |> ignore

/// Where a case's ADD writes its effect log (hooks may read it; a failure shows it).
let effectLogOf (scene: Scene) =
    Path.Combine(scene.Scratch, "effects.log")

let run (case: Case) () =
    use scene = new Scene()
    Fakes.ensure scene
    let c = scene.NewContainer()
    let conf = case.Conf scene
    let watched = case.Arrange scene c conf
    let before = scene.State(c :: watched)
    let log = effectLogOf scene
    let inv = case.Tweak scene (L4lb.invocation scene "ADD" c (L4lb.config conf))

    let inv =
        { inv with
            Environment = ("DCOS_L4LB_LOG_FILE", log) :: inv.Environment }

    let o = L4lb.exec scene inv

    try
        let reply = expectFailedAt case.Shape case.Step case.Mentions o
        case.Foreign scene c
        expectUnchanged $"after ADD failed at {case.Step}" before (scene.State(c :: watched))
        expectNoAllocation scene c
        case.Extra scene c watched reply
    with :? AssertException as e ->
        failtest
            $"""{e.Message}{Environment.NewLine}the ADD's effect log:{Environment.NewLine}  {String.Join(Environment.NewLine + "  ", effectLog log)}"""

// ---- strace: the plugin's n-th sendto fails ------------------------------------------

/// strace writing to `output` the calls named (`sendto,write`), strings up to 300 bytes.
let tracing (output: string) (calls: string) =
    [ "strace"; "-qq"; "-o"; output; "-s"; "300"; "-e"; $"trace={calls}" ]

let straceInstalled = File.Exists "/usr/bin/strace" || File.Exists "/bin/strace"

let requireStrace () =
    if not straceInstalled then
        failtest "strace is missing (Debian package strace): it injects the syscall failures"

/// For each step of a successful ADD (default shape), by name, how many sendto calls the
/// plugin has made by the end of that step, and by the end of the step its effect log
/// shows before it: strace traces the plugin's main thread (which carries out the Spartan
/// lane; the delegate is a process of its own), and the effect log (a line as each step
/// completes, the delegate's at its await) marks where each step ends. The counts do not
/// depend on which plugins run, or how fast: only this plugin's own netlink requests count.
let sendtoCounts: Lazy<Map<string, int * int>> =
    lazy
        (requireStrace ()
         use scene = new Scene()
         let c = scene.NewContainer()
         let trace = Path.Combine(scene.Scratch, "calibration.trace")
         let log = Path.Combine(scene.Scratch, "calibration.log")

         let inv =
             { L4lb.invocation scene "ADD" c (L4lb.config L4lb.defaults) with
                 Tracer = tracing trace "sendto,write,pwrite64"
                 Environment = [ "DCOS_L4LB_LOG_FILE", log ] }

         expectOk "the calibration ADD" (L4lb.exec scene inv)
         let mutable sendtos = 0

         let counts =
             [ for line in File.ReadAllLines trace do
                   if line.StartsWith "sendto(" then
                       sendtos <- sendtos + 1
                   elif
                       (line.StartsWith "write(" || line.StartsWith "pwrite64(")
                       && line.Contains "dcos-l4lb["
                       && line.Contains " -> "
                   then
                       yield sendtos ]

         let lines = effectLog log |> List.filter (fun l -> l <> "done")
         Expect.equal counts.Length lines.Length $"one effect log line per sendto count: {lines}"

         let steps =
             lines
             |> List.map (fun line ->
                 match stepOfLine shape line with
                 | Some step -> step
                 | None -> failtest $"the calibration's effect log line \"{line}\" is no step of {addSteps shape}")

         Expect.equal (List.sort steps) (List.sort (addSteps shape)) "one effect log line per step"
         let previous = 0 :: List.take (counts.Length - 1) counts

         List.zip3 steps previous counts
         |> List.map (fun (s, p, c) -> s, (p, c))
         |> Map.ofList)

/// The number of the sendto that carries this step's own request (its last one).
let private sendtoOf (step: string) =
    let counts = sendtoCounts.Force()

    match counts.TryFind step with
    | Some(previous, last) when last > previous -> last
    | Some _ -> failtest $"step {stepNumber shape step} ({step}) makes no netlink request (sendto counts: {counts})"
    | None -> failtest $"no step \"{step}\" in the calibration: {counts}"

/// strace, doing `action` (`error=ENOBUFS`, `signal=SIGKILL`) to the plugin's sendto of
/// this step's own request.
let atSendtoOf (step: string) (action: string) =
    [ "strace"
      "-qq"
      "-o"
      "/dev/null"
      "-e"
      "trace=sendto"
      "-e"
      $"inject=sendto:{action}:when={sendtoOf step}" ]

let private injected (step: string) =
    { baseCase $"{step}: its netlink request fails (strace injects ENOBUFS)" step with
        Mentions = [ "No buffer space available" ]
        Tweak =
            fun _ inv ->
                { inv with
                    Tracer = atSendtoOf step "error=ENOBUFS" } }

// ---- the cases -----------------------------------------------------------------------

let private hooked = { shape with Delegate = Fakes.bridge }

let private hookedConf =
    fun (_: Scene) ->
        { L4lb.defaults with
            DelegateType = Fakes.bridge }

let private ipamHooked = { shape with Ipam = Fakes.hostLocal }

let private ipamHookedConf =
    fun (_: Scene) ->
        { L4lb.defaults with
            Spartan = Some(L4lb.ipamType Fakes.hostLocal) }

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

      { baseCase "delegate ADD: the delegate is not in CNI_PATH" "delegate no-such-delegate ADD" with
          Shape =
              { shape with
                  Delegate = "no-such-delegate" }
          Mentions = [ "not found in CNI_PATH" ]
          Conf =
              fun _ ->
                  { L4lb.defaults with
                      DelegateType = "no-such-delegate" } }

      { baseCase "delegate ADD: the delegate refuses (code 11)" $"delegate {Fakes.failing} ADD" with
          Shape = { shape with Delegate = Fakes.failing }
          Mentions = [ "try again later" ]
          Conf =
              fun _ ->
                  { L4lb.defaults with
                      DelegateType = Fakes.failing }
          Extra = fun _ _ _ reply -> Expect.equal reply.Code 11 "the delegate's error code is kept" }

      { baseCase "delegate ADD: the bridge attaches, then the result is not JSON" $"delegate {Fakes.bridge} ADD" with
          Shape = hooked
          Mentions = [ "not JSON" ]
          Conf = hookedConf
          Arrange =
              fun scene _ _ ->
                  Fakes.replaceOutput scene Fakes.bridge "ADD" "this is not json\n"
                  []
          Extra = fun scene c _ _ -> expectCalled scene $"{Fakes.bridge} DEL" c }

      { baseCase "delegate ADD: the bridge attaches, then the result has no IP" $"delegate {Fakes.bridge} ADD" with
          Shape = hooked
          Mentions = [ "no IP address" ]
          Conf = hookedConf
          Arrange =
              fun scene _ _ ->
                  Fakes.replaceOutput
                      scene
                      Fakes.bridge
                      "ADD"
                      """{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}]}"""

                  []
          Extra = fun scene c _ _ -> expectCalled scene $"{Fakes.bridge} DEL" c }

      { baseCase "Spartan IPAM ADD: the IPAM plugin is not in CNI_PATH" "Spartan IPAM no-such-ipam ADD" with
          Shape = { shape with Ipam = "no-such-ipam" }
          Mentions = [ "not found in CNI_PATH" ]
          Conf =
              fun _ ->
                  { L4lb.defaults with
                      Spartan = Some(L4lb.ipamType "no-such-ipam") } }

      { baseCase
            "Spartan IPAM ADD: host-local allocates, then two addresses are returned"
            $"Spartan IPAM {Fakes.hostLocal} ADD" with
          Shape = ipamHooked
          Mentions = [ "returned 2 IPv4 addresses" ]
          Conf = ipamHookedConf
          Arrange =
              fun scene _ _ ->
                  Fakes.replaceOutput
                      scene
                      Fakes.hostLocal
                      "ADD"
                      """{"cniVersion":"1.0.0","ips":[{"address":"198.51.100.20/32"},{"address":"198.51.100.21/32"}]}"""

                  []
          Extra = fun scene c _ _ -> expectCalled scene $"{Fakes.hostLocal} DEL" c }

      { baseCase
            "Spartan IPAM ADD: host-local allocates, then no address is returned"
            $"Spartan IPAM {Fakes.hostLocal} ADD" with
          Shape = ipamHooked
          Mentions = [ "returned no IPv4 address" ]
          Conf = ipamHookedConf
          Arrange =
              fun scene _ _ ->
                  Fakes.replaceOutput scene Fakes.hostLocal "ADD" """{"cniVersion":"1.0.0","ips":[]}"""
                  []
          Extra = fun scene c _ _ -> expectCalled scene $"{Fakes.hostLocal} DEL" c }

      { baseCase "Spartan IPAM ADD: the one-address range is taken by another container" "Spartan IPAM host-local ADD" with
          Mentions = [ "no IP addresses available" ]
          Conf =
              fun _ ->
                  { L4lb.defaults with
                      Spartan = Some(L4lb.oneAddressRange "198.51.100.10") }
          Arrange =
              fun scene _ conf ->
                  let other = scene.NewContainer()

                  expectOk
                      "the other container's ADD"
                      (L4lb.exec scene (L4lb.invocation scene "ADD" other (L4lb.config conf)))

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
      { baseCase "Spartan veth: the container gets a link named spartan while the IPAM plugin runs" "Spartan veth" with
          Shape = ipamHooked
          Mentions = [ "File exists" ]
          Conf = ipamHookedConf
          Arrange =
              fun scene c _ ->
                  Fakes.hook scene Fakes.hostLocal "ADD" $"ip -n {c.Netns} link add spartan type bridge\n"
                  []
          Foreign = fun _ c -> foreignLink c.Netns "spartan" "bridge" }

      { baseCase "Spartan veth: the agent gets a link of the host veth's name while the IPAM plugin runs" "Spartan veth" with
          Shape = ipamHooked
          Mentions = [ "File exists" ]
          Conf = ipamHookedConf
          Arrange =
              fun scene c _ ->
                  // the IPAM plugin runs in the agent netns, as the plugin does
                  Fakes.hook
                      scene
                      Fakes.hostLocal
                      "ADD"
                      $"ip link add {Kernel.hostVethName c.Id L4lbInAgent.ifName} type bridge\n"

                  []
          Foreign = fun scene c -> foreignLink scene.Agent (Kernel.hostVethName c.Id L4lbInAgent.ifName) "bridge" } ]
    @ [ for service in Spartan.serviceAddresses -> routeCase service ]
    @ [ { baseCase
              "host route: the agent has a route to the Spartan address already"
              "host route to the Spartan address" with
            Mentions = [ "File exists" ]
            Conf =
                fun _ ->
                    { L4lb.defaults with
                        Spartan = Some(L4lb.oneAddressRange "198.51.100.10") }
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
                      { L4lb.defaults with
                          Minuteman = L4lb.minutemanOn scene } }
      { baseCase "Minuteman link: the container gets a link named minuteman while the IPAM plugin runs" "Minuteman link" with
          Shape = { on with Ipam = Fakes.hostLocal }
          Conf =
              fun scene ->
                  { L4lb.defaults with
                      Spartan = Some(L4lb.ipamType Fakes.hostLocal)
                      Minuteman = L4lb.minutemanOn scene }
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
                      { L4lb.defaults with
                          Minuteman = L4lb.minutemanOn scene }
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
    [ { baseCase "the delegate hangs after the bridge attached" $"delegate {Fakes.bridge} ADD" with
          Shape = hooked
          Mentions = [ "did not finish within 60 s" ]
          Conf = hookedConf
          Arrange =
              fun scene _ _ ->
                  Fakes.hook scene Fakes.bridge "ADD" "sleep 3600\n"
                  []
          Tweak = fun _ inv -> { inv with TimeoutMs = 120_000 } }
      { baseCase "the Spartan IPAM plugin hangs after host-local allocated" $"Spartan IPAM {Fakes.hostLocal} ADD" with
          Shape = ipamHooked
          Mentions = [ "did not finish within 60 s" ]
          Conf = ipamHookedConf
          Arrange =
              fun scene _ _ ->
                  Fakes.hook scene Fakes.hostLocal "ADD" "sleep 3600\n"
                  []
          Tweak = fun _ inv -> { inv with TimeoutMs = 120_000 } } ]

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
