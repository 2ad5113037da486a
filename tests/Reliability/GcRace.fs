/// GC (CNI 1.1) racing ADD. A runtime may run GC while it attaches containers; it lists
/// every attachment it knows of, those in flight included. GC must then release exactly
/// the attachments that are not listed, waiting for an ADD that holds the lock of one of
/// them, and never touch a listed one.
module Dcos.L4lb.Tests.Reliability.GcRace

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open System.Text.RegularExpressions
open System.Threading
open Expecto
open Dcos.L4lb.Tests
open Expectations
open GcStale

let containers = 24
let degree = 8
/// Attached before the race and then lost by the runtime: the first half with their netns
/// deleted, the second half with it kept (a sandbox the runtime forgot). Even: they share
/// lock files two by two.
let stale = 8
/// GC loops running beside the ADDs (they serialise on the GC lock).
let gcLoops = 2
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

/// Many processes at once, so it runs in the sequential part of the suite.
let race =
    testCase
        $"GC is safe while ADDs happen: {containers} containers ADDed ({degree} at a time) while GCs run in a loop; {stale} stale ones released; CHECK and DEL of all"
        gcWhileAdding
