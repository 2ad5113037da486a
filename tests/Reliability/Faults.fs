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
        Conf: Scene -> Config.Conf
        /// Before ADD: sets the failure up; returns more containers whose state is watched.
        Arrange: Scene -> Container -> Config.Conf -> Container list
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
      Conf = fun _ -> Config.defaults
      Arrange = fun _ _ _ -> []
      Tweak = fun _ inv -> inv
      Foreign = fun _ _ -> ()
      Extra = fun _ _ _ _ -> () }

/// A delegate or IPAM wrapper's DEL was run: its own undo.
let expectCalled (scene: Scene) (entry: string) (c: Container) =
    Expect.contains (Fakes.calls scene) $"{entry} {c.Id}" $"the fakes' calls include \"{entry}\""

let foreignLink (netns: string) (name: string) (kind: string) =
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
    let inv = case.Tweak scene (L4lb.invocation scene "ADD" c (Config.build conf))

    let inv =
        { inv with
            Environment = ("DCOS_L4LB_LOG_FILE", log) :: inv.Environment }

    let o = L4lb.exec inv

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
             { L4lb.invocation scene "ADD" c (Config.build Config.defaults) with
                 Tracer = tracing trace "sendto,write,pwrite64"
                 Environment = [ "DCOS_L4LB_LOG_FILE", log ] }

         expectOk "the calibration ADD" (L4lb.exec inv)
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
