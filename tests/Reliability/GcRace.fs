/// GC (CNI 1.1) racing ADD, and GC after a SIGKILL. A runtime may run GC while it attaches
/// containers; it lists every attachment it knows of, those in flight included. GC must
/// then release exactly the attachments that are not listed, waiting for an ADD that holds
/// the lock of one of them, and never touch a listed one. What a killed ADD or a killed GC
/// leaves, the next GC finishes.
module Dcos.L4lb.Tests.Reliability.GcRace

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open System.Text
open System.Text.Json.Nodes
open System.Text.RegularExpressions
open System.Threading
open Expecto
open Dcos.L4lb.Tests
open Expectations

let containers = 24
let degree = 8
/// Attached before the race and then lost by the runtime: the first half with their netns
/// deleted, the second half with it kept (a sandbox the runtime forgot). Even: they share
/// lock files two by two.
let stale = 8
/// GC loops running beside the ADDs (they serialise on the GC lock).
let gcLoops = 2

/// The attachment records (Plans.attachmentDirectory), dot-files included.
let records (scene: Scene) : string list =
    let dir =
        Path.Combine(scene.VarLib, "cni", "dcos-l4lb", "attachments", L4lbInAgent.network)

    if Directory.Exists dir then
        Directory.GetFileSystemEntries dir
        |> Array.map Path.GetFileName
        |> Array.sort
        |> List.ofArray
    else
        []

let private record (c: Container) = $"{c.Id}@{L4lbInAgent.ifName}"

/// The lock file ADD and DEL (and GC, for a stale attachment) take for this attachment:
/// /var/lib/cni/dcos-l4lb/lock.<n>, n = FNV-1a-64(containerId NUL ifname) mod 64
/// (Plans.lockPath).
let lockNumber (containerId: string) (ifName: string) =
    let mutable hash = 0xcbf29ce484222325UL

    for b in Encoding.UTF8.GetBytes(containerId + "\000" + ifName) do
        hash <- (hash ^^^ uint64 b) * 0x100000001b3UL

    hash % 64UL

/// GC as a runtime speaking CNI 1.1 sends it, listing `valid`; the effect log goes to `log`.
let private gcInvocation (scene: Scene) (config: JsonNode) (valid: Container list) (log: string) =
    { L4lb.ofNetwork scene "GC" (L4lb.gcConfig config [ for c in valid -> c.Id, L4lbInAgent.ifName ]) with
        Environment = [ "DCOS_L4LB_LOG_FILE", log ] }

let private gc (scene: Scene) config valid log : Command.Outcome =
    L4lb.exec (gcInvocation scene config valid log)

let private startGc (scene: Scene) config valid log : Processes.Running =
    L4lb.start (gcInvocation scene config valid log)

/// The container with another ID, one whose lock file is that of `other`.
let private sharingLockWith (other: Container) (c: Container) =
    let n = lockNumber other.Id L4lbInAgent.ifName

    { c with
        Id =
            Seq.initInfinite (fun j -> $"{c.Id}-x{j}")
            |> Seq.find (fun id -> lockNumber id L4lbInAgent.ifName = n) }

let private add (scene: Scene) conf (c: Container) =
    L4lb.exec (L4lb.invocation scene "ADD" c conf)

/// DEL as the runtime sends it for a container whose netns may be gone (None: no netns).
let private del (scene: Scene) conf (c: Container) (netns: string option) =
    L4lb.exec { L4lb.invocation scene "DEL" c conf with Netns = netns }

/// The stale container is released: no Spartan lease, no record, no host veth; a netns
/// that is still there lost its Spartan veth with the host end.
let private expectReleased (scene: Scene) (c: Container) =
    Expect.equal (scene.AllocationOf Spartan.ipamNetwork c.Id) [] $"{c.Id}: Spartan IPAM allocations"
    Expect.isFalse (List.contains (record c) (records scene)) $"{c.Id}: its attachment record is left"

    Expect.isNone
        (Kernel.link scene.Agent (Kernel.hostVethName c.Id L4lbInAgent.ifName))
        $"{c.Id}: its host veth is left"

    if File.Exists c.Path then
        Expect.equal
            (Kernel.linkNames c.Netns)
            [ "eth0"; "lo" ]
            $"{c.Id}: the links of its netns (the delegate's stay until DEL)"

// ---- GC while ADDs happen --------------------------------------------------------------

/// The runtime's bookkeeping: ADDs start in order (container 0, 1, ...); a GC lists every
/// container whose ADD has started and the next `lookahead`, and while it runs no ADD
/// beyond its list may start. So each GC lists every attachment that may be in flight
/// while it runs, as a runtime's list must, and ADDs still start and finish while GCs run.
type private Admission(total: int, lookahead: int) =
    let gate = obj ()
    let mutable started = 0
    /// The running GCs' bounds: each lists containers 0 .. bound-1.
    let bounds = Dictionary<int, int>()

    /// The next container to ADD, once every running GC lists it; None when all started.
    member _.Next() : int option =
        lock gate (fun () ->
            let rec wait () =
                if started >= total then
                    None
                elif bounds.Values |> Seq.exists (fun bound -> started >= bound) then
                    Monitor.Wait gate |> ignore
                    wait ()
                else
                    started <- started + 1
                    Some(started - 1)

            wait ())

    /// A GC begins: how many containers (from the first) it lists.
    member _.BeginGc(gc: int) : int =
        lock gate (fun () ->
            let bound = min total (started + lookahead)
            bounds[gc] <- bound
            bound)

    member _.EndGc(gc: int) =
        lock gate (fun () ->
            bounds.Remove gc |> ignore
            Monitor.PulseAll gate)

/// One GC of the race: what it listed, when it ran, how it ended, its effect log.
type private GcRun =
    { Number: int
      Listed: int
      Started: TimeSpan
      Ended: TimeSpan
      Outcome: Command.Outcome
      Log: string list }

let private gcWhileAdding () =
    let clock = Stopwatch.StartNew()
    use scene = new Scene()
    Fakes.ensure scene
    let cs = scene.NewContainers containers
    // each shares its lock file with one of the first containers to be ADDed, so that a GC
    // may have to wait for an ADD in flight before it can release it; and they pair up on
    // lock files, so that a GC asks twice for a lock it holds already
    let lost =
        scene.NewContainers stale
        |> List.mapi (fun i c -> sharingLockWith cs[i % (stale / 2)] c)

    let gone, kept = List.splitAt (stale / 2) lost
    let baseline = scene.State(cs @ kept)
    let conf = Config.build Config.defaults

    // the stale ones: attached, then lost by the runtime (no DEL, no longer listed)
    let staleAdds = lost |> Processes.parallelMap degree (fun c -> c, add scene conf c)

    for c, o in staleAdds do
        expectOk $"ADD of the stale {c.Id}" o

    for c in gone do
        Netns.delete c.Netns

    let staleRecords = lost |> List.map record |> Set.ofList
    let admission = Admission(containers, degree)
    let addStarted = Array.create containers TimeSpan.Zero
    let addEnded = Array.create containers TimeSpan.Zero
    let adds = Array.zeroCreate<Command.Outcome> containers
    let addsDone = ref false
    let gcs = ResizeArray<GcRun>()
    let gcNumber = ref 0

    let gcLoop () =
        let rec loop () =
            let n = Interlocked.Increment &gcNumber.contents
            let log = Path.Combine(scene.Scratch, $"gc-{n}.log")
            let bound = admission.BeginGc n
            let started = clock.Elapsed

            let outcome =
                try
                    gc scene conf (List.truncate bound cs) log
                finally
                    admission.EndGc n

            lock gcs (fun () ->
                gcs.Add
                    { Number = n
                      Listed = bound
                      Started = started
                      Ended = clock.Elapsed
                      Outcome = outcome
                      Log = effectLog log })

            if not (Volatile.Read &addsDone.contents) then
                loop ()

        loop ()

    let gcErrors = ResizeArray<exn>()

    let gcThreads =
        [ for _ in 1..gcLoops ->
              let t =
                  Thread(fun () ->
                      try
                          gcLoop ()
                      with e ->
                          lock gcErrors (fun () -> gcErrors.Add e))

              t.Start()
              t ]

    let addWorker _ =
        let rec loop () =
            match admission.Next() with
            | Some i ->
                addStarted[i] <- clock.Elapsed
                adds[i] <- add scene conf cs[i]
                addEnded[i] <- clock.Elapsed
                loop ()
            | None -> ()

        loop ()

    let addPhase = clock.Elapsed

    try
        Processes.parallelMap degree addWorker [ 1..degree ] |> ignore
    finally
        Volatile.Write(&addsDone.contents, true)

        for t in gcThreads do
            t.Join()

    if gcErrors.Count > 0 then
        raise gcErrors[0]

    let addSeconds = (Array.max addEnded - addPhase).TotalSeconds
    let gcs = gcs |> Seq.sortBy _.Number |> List.ofSeq

    for i, o in Array.indexed adds do
        expectOk $"ADD of {cs[i].Id} during the GCs" o

    for run in gcs do
        if run.Outcome.ExitCode <> 0 then
            failtest $"GC {run.Number} (listing {run.Listed} containers) failed: {L4lb.describe run.Outcome}"

    // what the GCs did, from their effect logs: only stale attachments were read, locked
    // for or removed, and each stale record was removed once, by one GC
    let touched (pattern: string) =
        [ for run in gcs do
              for line in run.Log do
                  let m = Regex.Match(line, pattern)

                  if m.Success then
                      run.Number, m.Groups[1].Value ]

    let read = touched @"^read attachment record \S+/([^/\s]+) -> "

    for gcRun, name in read do
        Expect.isTrue (staleRecords.Contains name) $"GC {gcRun} looked at the record {name}, which is not a stale one"

    let removed = touched @"^remove attachment record \S+/([^/\s]+) -> ok"

    Expect.equal
        (removed |> List.map snd |> List.sort)
        (Set.toList staleRecords)
        $"the records the GCs removed, each once: {removed}"

    let staleVeths =
        lost
        |> List.map (fun c -> Kernel.hostVethName c.Id L4lbInAgent.ifName)
        |> Set.ofList

    for gcRun, link in touched @"^delete link (\S+) in " do
        Expect.isTrue (staleVeths.Contains link) $"GC {gcRun} deleted the link {link}, not a stale host veth"

    // every container passes CHECK and is whole; the stale ones are released
    let checks =
        Array.toList adds
        |> List.zip cs
        |> Processes.parallelMap degree (fun (c, o) ->
            c, L4lb.exec (L4lb.invocation scene "CHECK" c (L4lbInAgent.withPrevResult conf o.Stdout)))

    for c, o in checks do
        expectOk $"CHECK of {c.Id} after the race" o

    let view = Attachment.agentView scene
    let addresses = cs |> Processes.parallelMap degree (expectAttachedIn view)
    Expect.equal (List.distinct addresses).Length containers "every container has its own Spartan address"

    for c in lost do
        expectReleased scene c

    Expect.equal (records scene) (cs |> List.map record |> List.sort) "the attachment records after the race"

    // the DELs the runtime owes: every container, the lost ones too (only DEL releases
    // their delegate leases: the reference bridge does not speak CNI 1.1)
    let dels =
        (List.zip cs (Array.toList adds) |> List.map (fun (c, o) -> c, Some c.Path, o.Stdout))
        @ [ for c, o in staleAdds -> c, (if List.contains c gone then None else Some c.Path), o.Stdout ]
        |> Processes.parallelMap degree (fun (c, netns, output) ->
            c, del scene (L4lbInAgent.withPrevResult conf output) c netns)

    for c, o in dels do
        expectOk $"DEL of {c.Id}" o

    expectUnchanged "after DEL of every container" baseline (scene.State(cs @ kept))
    Expect.equal (records scene) [] "the attachment records at the end"

    let overlapping =
        gcs
        |> List.filter (fun g ->
            Seq.zip addStarted addEnded
            |> Seq.exists (fun (s, e) -> s < g.Ended && g.Started < e))

    let lockWaits =
        [ for run in gcs do
              for line in run.Log do
                  let m = Regex.Match(line, @"^lock \S+/lock\.\d+ -> ok \(([0-9.]+) ms\)")

                  if m.Success then
                      float m.Groups[1].Value ]
        |> List.sortDescending

    Expect.isNonEmpty overlapping "at least one GC ran while ADDs were in flight"

    printfn
        "reliability: GC racing ADD, %d containers (%d at a time), %d stale: ADDs took %.1f s; %d GCs (%d while ADDs ran), the stale records removed by GC %s; the longest waits for a stale attachment's lock %s ms; total %.1f s"
        containers
        degree
        stale
        addSeconds
        gcs.Length
        overlapping.Length
        (removed
         |> List.map fst
         |> List.distinct
         |> List.map string
         |> String.concat ", ")
        (lockWaits
         |> List.truncate 3
         |> List.map (fun ms -> ms.ToString "F0")
         |> String.concat ", ")
        clock.Elapsed.TotalSeconds

// ---- GC killed -------------------------------------------------------------------------

/// SIGKILL to the GC's process group; waits until every member is gone.
let private killAndReap (r: Processes.Running) =
    r.Kill()
    let o = r.Wait 10_000
    Processes.waitUntil $"process group {r.Group} to be gone" 10_000 (fun () -> Processes.groupMembers r.Group = [])
    o

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
    let o = killAndReap collecting
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
    let o = killAndReap collecting
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
    let o = killAndReap adding
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

/// Many processes at once, so it runs in the sequential part of the suite.
let race =
    testCase
        $"GC is safe while ADDs happen: {containers} containers ADDed ({degree} at a time) while GCs run in a loop; {stale} stale ones released; CHECK and DEL of all"
        gcWhileAdding
