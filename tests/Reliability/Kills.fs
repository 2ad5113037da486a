/// SIGKILL in the middle of ADD (and of DEL): the plugin's whole process group dies, no
/// rollback runs, and whatever was done so far stays. A DEL with the same container ID
/// and ifname, as a runtime sends after a failed ADD, must then clean up everything.
module Dcos.L4lb.Tests.Reliability.Kills

open System
open System.Diagnostics
open System.IO
open System.Threading
open Expecto
open Dcos.L4lb.Tests
open Expectations

let private del (scene: Scene) (c: Container) (conf: Config.Conf) =
    let o = L4lb.exec (L4lb.invocation scene "DEL" c (Config.build conf))
    expectOk "DEL after the kill" o

/// ADD with `arrange`'s hooks, of which one marks "reached" and then sleeps; SIGKILL once
/// `ready` holds too (given the effect log); checks the partial state; DEL; nothing left.
let private killedAdd
    (conf: Config.Conf)
    (arrange: Scene -> unit)
    (ready: string list -> bool)
    (partial: Scene -> Container -> unit)
    ()
    =
    use scene = new Scene()
    let c = scene.NewContainer()
    let mark = Fakes.marker scene "reached"
    let log = Path.Combine(scene.Scratch, "effects.log")
    arrange scene
    let before = scene.State [ c ]

    use r =
        L4lb.start
            { L4lb.invocation scene "ADD" c (Config.build conf) with
                Environment = [ "DCOS_L4LB_LOG_FILE", log ] }

    Processes.waitUntil "the hook to be reached" 20_000 (fun () -> File.Exists mark && ready (effectLog log))
    Expect.equal (Processes.processGroup r.Group) (Some r.Group) "the plugin leads its own process group"
    Expect.isGreaterThan (Processes.groupMembers r.Group).Length 2 "the group holds the plugin and the plugins it runs"
    let o = Processes.killAndReap r
    Expect.equal o.ExitCode 137 $"the plugin died of SIGKILL: {L4lb.describe o}"
    Fakes.expectWaited scene
    partial scene c
    del scene c conf
    expectUnchanged "after SIGKILL and DEL" before (scene.State [ c ])
    expectNoAllocation scene c

let private delegateAttached (scene: Scene) (c: Container) =
    Expect.isSome (Kernel.link c.Netns "eth0") "the bridge had attached eth0 when the plugin was killed"
    Expect.equal (scene.AllocationOf Delegate.network c.Id).Length 1 "the delegate's lease is held"

let private spartanLease (scene: Scene) (c: Container) =
    Expect.equal (scene.AllocationOf Spartan.ipamNetwork c.Id).Length 1 "the Spartan lease is held"

let private isLogged (step: string) (lines: string list) =
    lines |> List.exists (fun l -> stepOfLine shape l = Some step)

/// The delegate attaches, then sleeps; the plugin carries out its Spartan lane meanwhile
/// and awaits the delegate: killed there.
let private killDuringDelegate =
    killedAdd
        { Config.defaults with
            DelegateType = Fakes.bridge }
        (fun scene -> Fakes.hook scene Fakes.bridge "ADD" (Fakes.signal scene "reached" + "sleep 30\n"))
        (isLogged "host route to the Spartan address")
        (fun scene c ->
            delegateAttached scene c
            spartanLease scene c
            Expect.isSome (Kernel.link c.Netns "spartan") "the Spartan veth is there"

            Expect.isSome
                (Kernel.link scene.Agent (Kernel.hostVethName c.Id L4lbInAgent.ifName))
                "the host veth is there")

/// The delegate attaches and exits; the Spartan IPAM allocates, then sleeps: killed there.
let private killBetweenSteps =
    killedAdd
        { Config.defaults with
            DelegateType = Fakes.bridge
            Spartan = Some(Config.ipamType Fakes.hostLocal) }
        (fun scene -> Fakes.delegateFirst scene (Fakes.signal scene "reached" + "sleep 30\n"))
        (fun _ -> true)
        (fun scene c ->
            delegateAttached scene c
            spartanLease scene c
            Expect.isNone (Kernel.link c.Netns "spartan") "no Spartan veth yet")

/// ADD succeeds; DEL is killed in the Spartan IPAM DEL (after the Spartan veth went: the
/// link before its lease), the delegate's DEL (which runs beside it) done; DEL again
/// cleans up.
let private killDuringDel () =
    use scene = new Scene()
    let c = scene.NewContainer()

    let conf =
        { Config.defaults with
            DelegateType = Fakes.bridge
            Spartan = Some(Config.ipamType Fakes.hostLocal) }

    Fakes.ensure scene
    let before = scene.State [ c ]
    expectOk "ADD" (L4lb.exec (L4lb.invocation scene "ADD" c (Config.build conf)))
    let mark = Fakes.marker scene "reached"
    Fakes.hook scene Fakes.bridge "DEL" (Fakes.signalExit scene "delegate-deleted")

    Fakes.hook scene Fakes.hostLocal "DEL" (Fakes.waitForExit scene "delegate-deleted" + $"touch '{mark}'\nsleep 30\n")

    use r = L4lb.start (L4lb.invocation scene "DEL" c (Config.build conf))
    Processes.waitUntil "the hook to be reached" 20_000 (fun () -> File.Exists mark)
    let o = Processes.killAndReap r
    Expect.equal o.ExitCode 137 $"the plugin died of SIGKILL: {L4lb.describe o}"
    Fakes.expectWaited scene
    Expect.isNone (Kernel.link c.Netns "eth0") "the delegate's DEL had detached eth0"
    Expect.equal (scene.AllocationOf Delegate.network c.Id) [] "the delegate's DEL had released its lease"
    Expect.isNone (Kernel.link c.Netns "spartan") "the Spartan veth went before the Spartan IPAM DEL"
    File.Delete(Path.Combine(scene.Fakes, $"hook-{Fakes.hostLocal}-DEL.sh"))
    del scene c conf
    expectUnchanged "after a killed DEL and a second DEL" before (scene.State [ c ])

/// SIGKILL at moments spread over a whole ADD (from before the plugin starts to after it
/// is done); then DEL; nothing left each time. The effect log shows where each kill hit.
let private killAnywhere () =
    use scene = new Scene()
    let conf = Config.build Config.defaults
    let log = Path.Combine(scene.Scratch, "effects.log")

    let invocation c =
        { L4lb.invocation scene "ADD" c conf with
            Environment = [ "DCOS_L4LB_LOG_FILE", log ] }

    // how long an undisturbed ADD takes, start to exit (the median of five)
    let duration =
        [ for _ in 1..5 do
              let probe = scene.NewContainer()
              let clock = Stopwatch.StartNew()
              expectOk "a probe ADD" (L4lb.exec (invocation probe))
              yield clock.Elapsed.TotalMilliseconds
              expectOk "a probe DEL" (L4lb.exec (L4lb.invocation scene "DEL" probe conf)) ]
        |> List.sort
        |> List.item 2

    let steps = (addSteps shape).Length
    let rounds = 24
    let landed = ResizeArray<string>()
    let ownerless = ResizeArray<string>()

    for i in 0 .. rounds - 1 do
        let c = scene.NewContainer()
        let before = scene.State [ c ]
        File.Delete log
        let delay = duration * float i / float (rounds - 1)
        use r = L4lb.start (invocation c)
        Thread.Sleep(TimeSpan.FromMilliseconds delay)
        let o = Processes.killAndReap r
        let finished = (effectLog log).Length

        // the log has a line as each step completes: the next one in the log's order was
        // under way (from the delegate's start on, beside the delegate's run)
        let logged = logOrder shape |> List.map fst
        let delegateNumber = stepNumber shape $"delegate {shape.Delegate} ADD"

        landed.Add(
            if o.ExitCode = 0 then
                "after the ADD"
            elif finished = 0 then
                "at start-up or during step 1"
            elif finished < steps then
                let next = logged[finished]
                let k = stepNumber shape next

                if k > delegateNumber then
                    $"during step {k} ({next}), the delegate running"
                elif k = delegateNumber then
                    $"awaiting step {k} ({next}), the Spartan lane done"
                else
                    $"during step {k} ({next})"
            else
                "after the last step"
        )

        Expect.isTrue (o.ExitCode = 0 || o.ExitCode = 137) $"ADD either finished or was killed: {L4lb.describe o}"
        expectOk $"DEL after a kill at {delay:F0} ms" (L4lb.exec (L4lb.invocation scene "DEL" c conf))

        // host-local creates a lease file and only then writes the owner into it; killed in
        // between, it leaves a file with no owner, which no DEL can release (a known
        // host-local limitation: containernetworking/plugins#498). Counted, shown, removed.
        for network in [ Spartan.ipamNetwork; Delegate.network ] do
            for lease in scene.Leases network do
                if lease.Trim().Contains ' ' |> not then
                    ownerless.Add $"{network}/{lease.Trim()} (kill at {delay:F0} ms, {landed |> Seq.last})"
                    File.Delete(Path.Combine(scene.VarLib, "cni", "networks", network, lease.Trim()))

        expectUnchanged $"after a kill at {delay:F0} ms and DEL" before (scene.State [ c ])
        expectNoAllocation scene c
        Command.run "ip" [ "netns"; "del"; c.Netns ] |> ignore

    printfn
        "reliability: SIGKILL over an ADD of %.0f ms, %d rounds: %s; lease files host-local left without an owner: %s"
        duration
        rounds
        (landed
         |> Seq.countBy id
         |> Seq.map (fun (k, n) -> $"{k} x{n}")
         |> String.concat "; ")
        (if ownerless.Count = 0 then
             "none"
         else
             String.Join(", ", ownerless))

/// strace delivers SIGKILL to the plugin as it sends the netlink request of `step` (a
/// step of the Spartan lane), while the delegate still runs: it has attached and sleeps,
/// and the Spartan IPAM waited for that. The kill hits the plugin alone; the delegate is
/// killed with the plugin's process group afterwards, as a runtime that gives up would.
let private killAtStep (step: string) () =
    Faults.requireStrace ()
    use scene = new Scene()
    let c = scene.NewContainer()

    let conf =
        { Config.defaults with
            DelegateType = Fakes.bridge
            Spartan = Some(Config.ipamType Fakes.hostLocal) }

    Fakes.delegateAttachedThenHangs scene
    let before = scene.State [ c ]

    use r =
        L4lb.start
            { L4lb.invocation scene "ADD" c (Config.build conf) with
                Tracer = Faults.atSendtoOf step "signal=SIGKILL" }

    Processes.waitUntil "the plugin to be killed" 20_000 (fun () -> r.HasExited)
    Expect.isNonEmpty (Processes.groupMembers r.Group) "the delegate still runs"
    let o = Processes.killAndReap r
    Expect.equal o.ExitCode 137 $"the plugin died of SIGKILL: {L4lb.describe o}"
    Expect.equal o.Stdout "" "a killed plugin prints no reply"
    Fakes.expectWaited scene
    spartanLease scene c
    delegateAttached scene c
    del scene c conf
    expectUnchanged $"after SIGKILL at {step} and DEL" before (scene.State [ c ])
    expectNoAllocation scene c

let private laterSteps =
    addSteps shape |> List.skipWhile (fun s -> not (s.StartsWith "Spartan veth"))

let tests =
    testList
        "SIGKILL mid-ADD, then DEL cleans up"
        [ testCase
              "killed while the delegate runs (the bridge has attached, the Spartan lane is done)"
              killDuringDelegate
          testCase
              "killed while the Spartan IPAM runs (the bridge has attached and exited, the Spartan IPAM has allocated)"
              killBetweenSteps
          testCase "killed during DEL (in the Spartan IPAM DEL, after its veth, the delegate's DEL done); DEL again" killDuringDel
          testList
              "killed exactly as a step sends its netlink request, the delegate still running (strace delivers SIGKILL)"
              [ for step in laterSteps -> testCase step (killAtStep step) ] ]

/// Timing-based, so it runs in the sequential part of the suite, on a quiet machine.
let anywhere =
    testCase "SIGKILL at moments spread over a whole ADD, then DEL cleans up" killAnywhere
