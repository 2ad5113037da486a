/// A soak: ADD, CHECK and DEL over and over (100 cycles, however long they take: the time
/// is printed, never judged), each cycle with a new container ID in the same netns. After every cycle the state must
/// be exactly as before the first (links, addresses, routes of agent and container, IPAM
/// files of both networks), no process may be left in either netns, the scene's netns
/// count must not grow, and neither may this process's open file descriptors.
module Dcos.L4lb.Tests.Reliability.Soak

open System
open System.Diagnostics
open System.IO
open Expecto
open Dcos.L4lb.Tests
open Expectations

let cycles = 100

let private ourNamespaces (scene: Scene) =
    (Command.run "ip" [ "netns"; "list" ]).Split('\n', StringSplitOptions.RemoveEmptyEntries)
    |> Array.filter (fun line -> scene.Owns(line.Split(' ').[0]))
    |> Array.length

/// This process's open file descriptors, by kind ("pipe", "socket", "anon_inode:[eventfd]",
/// a path), after a full garbage collection (a handle nobody holds is closed by then).
let private openFds () =
    GC.Collect()
    GC.WaitForPendingFinalizers()
    GC.Collect()

    [ for fd in Directory.GetFiles "/proc/self/fd" do
          let target =
              try
                  (FileInfo fd).LinkTarget
              with _ ->
                  null

          if not (isNull target) then
              let i = target.IndexOf ":["
              if i > 0 then target.Substring(0, i) else target ]
    |> List.countBy id
    |> List.sort

let private soak () =
    use scene = new Scene()
    let c = scene.NewContainer()
    let conf = Config.build Config.defaults
    let before = scene.State [ c ]
    let namespaces = ourNamespaces scene
    // taken after the first cycle: the first child process sets up the runtime's own
    // machinery (signal handling, thread pool) for good
    let mutable fds = []
    let clock = Stopwatch.StartNew()

    let adds, checks, dels =
        ResizeArray<float>(), ResizeArray<float>(), ResizeArray<float>()

    let leftovers = ResizeArray<int>()
    for cycle in 1..cycles do
        let id = $"{c.Id}-cycle{cycle}"

        let inv command config =
            { L4lb.invocation scene command c config with
                ContainerId = Some id }

        let add = L4lb.exec (inv "ADD" conf)
        expectOk $"cycle {cycle}: ADD" add
        let withResult = L4lbInAgent.withPrevResult conf add.Stdout
        let check = L4lb.exec (inv "CHECK" withResult)
        expectOk $"cycle {cycle}: CHECK" check
        let del = L4lb.exec (inv "DEL" withResult)
        expectOk $"cycle {cycle}: DEL" del
        adds.Add add.Elapsed.TotalMilliseconds
        checks.Add check.Elapsed.TotalMilliseconds
        dels.Add del.Elapsed.TotalMilliseconds
        let diff = (scene.State [ c ]).Diff before
        leftovers.Add diff.Length
        expectUnchanged $"after cycle {cycle}" before (scene.State [ c ])
        Expect.equal (ourNamespaces scene) namespaces $"cycle {cycle}: the scene's netns count"
        Expect.equal (Processes.processesIn c.Path) [] $"cycle {cycle}: processes in the container netns"

        Expect.equal
            (Processes.processesIn $"/run/netns/{scene.Agent}")
            []
            $"cycle {cycle}: processes in the agent netns"

        if cycle = 1 then
            fds <- openFds ()

    let mean (xs: ResizeArray<float>) = Seq.average xs
    let fdsAfter = openFds ()

    printfn
        "reliability: soak, %d cycles of ADD+CHECK+DEL in %.1f s; mean ADD %.0f ms, CHECK %.0f ms, DEL %.0f ms; leftovers after each cycle: max %d; open fds of the test process %d -> %d; scene netns %d -> %d"
        cycles
        clock.Elapsed.TotalSeconds
        (mean adds)
        (mean checks)
        (mean dels)
        (Seq.max leftovers)
        (fds |> List.sumBy snd)
        (fdsAfter |> List.sumBy snd)
        namespaces
        (ourNamespaces scene)

    let count (fds: (string * int) list) = fds |> List.sumBy snd

    Expect.isLessThanOrEqual
        (count fdsAfter)
        (count fds + 8)
        $"the test process's open file descriptors do not grow with the cycles: {fds} -> {fdsAfter}"

let tests =
    testCase $"ADD, CHECK, DEL cycles ({cycles}) leave no growth" soak
