/// GC after a SIGKILL: what a killed ADD or a killed GC leaves, the next GC finishes.
module Dcos.L4lb.Tests.Reliability.GcKilled

open System.IO
open System.Text.RegularExpressions
open Expecto
open Dcos.L4lb.Tests
open Expectations
open GcStale

// ---- GC killed -------------------------------------------------------------------------

/// Whether /proc/locks shows this process waiting for an flock (a "->" line).
let private waitsForFlock (pid: int) =
    File.ReadAllLines "/proc/locks"
    |> Array.exists (fun line -> Regex.IsMatch(line, $@"->\s+FLOCK\s+\S+\s+WRITE\s+{pid}\s"))

/// A stale container S (netns deleted) shares its lock file with X, whose ADD is held in
/// the delegate. A GC that does not list S waits for that lock; it is killed there. Once
/// X's ADD is done, a second GC releases S, and X is whole.
let private killedWaiting () =
    use scene = new Scene()

    let conf =
        Config.build
            { Config.defaults with
                DelegateType = Fakes.bridge }

    Fakes.ensure scene
    let s = scene.NewContainer()
    let x = sharingLockWith s (scene.NewContainer())

    let before = scene.State [ x ]
    let staleAdd = add scene conf s
    expectOk "ADD of the container that goes stale" staleAdd
    Netns.delete s.Netns

    let mark, release = Fakes.marker scene "reached", Fakes.marker scene "release"

    Fakes.hook
        scene
        Fakes.bridge
        "ADD"
        $"touch '{mark}'\ni=0\nwhile [ ! -e '{release}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n"

    use adding = L4lb.start (L4lb.invocation scene "ADD" x conf)
    Processes.waitUntil "X's ADD to reach the delegate's hook" 20_000 (fun () -> File.Exists mark)

    let log = Path.Combine(scene.Scratch, "gc-killed.log")
    use collecting = startGc scene conf [ x ] log
    Processes.waitUntil "the GC to wait for S's lock" 20_000 (fun () -> waitsForFlock collecting.Group)
    let o = Processes.killAndReap collecting
    Expect.equal o.ExitCode 137 $"the GC died of SIGKILL: {L4lb.describe o}"

    Expect.equal
        (effectLog log |> List.map (fun l -> l.Split(" -> ")[0]))
        [ "lock /var/lib/cni/dcos-l4lb/lock.gc"
          $"list attachment records in /var/lib/cni/dcos-l4lb/attachments/{L4lbInAgent.network}" ]
        "what the killed GC had done: it was waiting for the next lock"

    Expect.equal (scene.AllocationOf Spartan.ipamNetwork s.Id).Length 1 "S's Spartan lease is held still"
    Expect.contains (records scene) (record s) "S's record is there still"

    File.WriteAllText(release, "")
    let added = adding.Wait 30_000
    expectOk "X's ADD, held while the GC waited and was killed" added
    File.Delete(Path.Combine(scene.Fakes, $"hook-{Fakes.bridge}-ADD.sh"))

    expectOk "the second GC" (gc scene conf [ x ] (Path.Combine(scene.Scratch, "gc-second.log")))
    expectReleased scene s
    Expect.equal (records scene) [ record x ] "the records after the second GC"
    expectAttached scene x |> ignore

    expectOk
        "CHECK of X"
        (L4lb.exec (L4lb.invocation scene "CHECK" x (L4lbInAgent.withPrevResult conf added.Stdout)))

    expectOk "DEL of X" (del scene (L4lbInAgent.withPrevResult conf added.Stdout) x (Some x.Path))
    expectOk "DEL of S" (del scene (L4lbInAgent.withPrevResult conf staleAdd.Stdout) s None)
    expectUnchanged "after both DELs" before (scene.State [ x ])
    expectNoAllocation scene s
    Expect.equal (records scene) [] "the records at the end"

/// A stale container whose netns is kept: the GC is killed inside its Spartan IPAM DEL
/// (its veth went before, the lease is released, the record is not); a second GC removes
/// the rest.
let private killedRemoving () =
    use scene = new Scene()

    let conf =
        Config.build
            { Config.defaults with
                Spartan = Some(Config.ipamType Fakes.hostLocal) }

    Fakes.ensure scene
    let s = scene.NewContainer()
    let before = scene.State [ s ]
    let staleAdd = add scene conf s
    expectOk "ADD of the container that goes stale" staleAdd
    let mark = Fakes.marker scene "reached"
    Fakes.hook scene Fakes.hostLocal "DEL" $"touch '{mark}'\nsleep 30\n"

    use collecting =
        startGc scene conf [] (Path.Combine(scene.Scratch, "gc-killed.log"))

    Processes.waitUntil "the GC's Spartan IPAM DEL to reach the hook" 20_000 (fun () -> File.Exists mark)
    let o = Processes.killAndReap collecting
    Expect.equal o.ExitCode 137 $"the GC died of SIGKILL: {L4lb.describe o}"
    Expect.equal (scene.AllocationOf Spartan.ipamNetwork s.Id) [] "S's Spartan lease was released before the kill"
    Expect.isNone (Kernel.link scene.Agent (Kernel.hostVethName s.Id L4lbInAgent.ifName)) "S's host veth went before its lease"
    Expect.contains (records scene) (record s) "S's record is there still"

    File.Delete(Path.Combine(scene.Fakes, $"hook-{Fakes.hostLocal}-DEL.sh"))
    expectOk "the second GC" (gc scene conf [] (Path.Combine(scene.Scratch, "gc-second.log")))
    expectReleased scene s
    Expect.equal (records scene) [] "the records after the second GC"

    expectOk "DEL of S" (del scene (L4lbInAgent.withPrevResult conf staleAdd.Stdout) s (Some s.Path))
    expectUnchanged "after DEL" before (scene.State [ s ])
    expectNoAllocation scene s

/// ADD is killed after the Spartan IPAM ADD, and the runtime loses the container (no DEL):
/// ADD's first step, the attachment record, lets GC find it and release the lease. The
/// delegate, which runs beside the Spartan lane, has finished by then (the IPAM hook waits
/// for it), so that the kill does not cut it short at a point of its own.
let private killedAdd () =
    use scene = new Scene()

    let conf =
        Config.build
            { Config.defaults with
                DelegateType = Fakes.bridge
                Spartan = Some(Config.ipamType Fakes.hostLocal) }

    let c = scene.NewContainer()
    let before = scene.State [ c ]
    let mark = Fakes.marker scene "reached"
    Fakes.delegateFirst scene $"touch '{mark}'\nsleep 30\n"
    use adding = L4lb.start (L4lb.invocation scene "ADD" c conf)
    Processes.waitUntil "the Spartan IPAM ADD to reach the hook" 20_000 (fun () -> File.Exists mark)
    let o = Processes.killAndReap adding
    Expect.equal o.ExitCode 137 $"the ADD died of SIGKILL: {L4lb.describe o}"
    Fakes.expectWaited scene
    Expect.equal (scene.AllocationOf Spartan.ipamNetwork c.Id).Length 1 "the Spartan lease is held"
    Expect.equal (records scene) [ record c ] "the killed ADD's record"

    expectOk "GC" (gc scene conf [] (Path.Combine(scene.Scratch, "gc.log")))
    expectReleased scene c
    Expect.equal (records scene) [] "the records after GC"

    // the delegate's part stays for the DEL the runtime owes (bridge 1.1.1 has no GC)
    expectOk "DEL" (del scene conf c (Some c.Path))
    expectUnchanged "after GC and DEL" before (scene.State [ c ])
    expectNoAllocation scene c

let tests =
    testList
        "SIGKILL, then GC completes what the killed process left"
        [ testCase "an ADD killed after the Spartan IPAM ADD: GC finds its record and releases the lease" killedAdd
          testCase
              "a GC killed while it waits for a stale attachment's lock, which an ADD holds: a second GC"
              killedWaiting
          testCase "a GC killed in the Spartan IPAM DEL of a stale attachment: a second GC" killedRemoving ]
