/// The host is total: an exception no code path expects (the test hook
/// DCOS_L4LB_TEST_THROW_AT) thrown at each request of a real ADD (bridge delegate,
/// host-local, Spartan on) still gives a CNI error naming the step, with everything undone,
/// every plugin it ran gone and the lock free; and when even the rollback throws, a CNI
/// error all the same, and DEL cleans up.
module Dcos.L4lb.Tests.Reliability.Unexpected

open System
open System.IO
open System.Text.RegularExpressions
open Expecto
open Dcos.L4lb.Tests
open Expectations

let private hook = "DCOS_L4LB_TEST_THROW_AT"
let private injected = $"injected by {hook}"

/// The plugin's own attachment records (under the scene's /var/lib).
let private records (scene: Scene) =
    scene.FilesIn("cni", "dcos-l4lb", "attachments", L4lbInAgent.network)

/// Runs the plugin to its end; fails if a process it started outlives it (a plugin it
/// ran and did not kill), before any output is awaited.
let private execAlone (scene: Scene) (inv: L4lb.Invocation) : Command.Outcome =
    use r = L4lb.start inv
    Processes.waitUntil "the plugin to exit" 120_000 (fun () -> r.HasExited)
    let left = Processes.groupMembers r.Group
    let o = r.Wait 10_000
    Expect.isEmpty left $"the processes the plugin started are gone when it exits: {L4lb.describe o}"
    o

let private conf = Config.build Config.defaults

let private add (scene: Scene) (c: Container) (setting: string) (log: string) =
    { L4lb.invocation scene "ADD" c conf with
        Environment = [ hook, setting; "DCOS_L4LB_LOG_FILE", log ] }

/// ADD and DEL of a new container succeed: the lock the failed ADD took is free.
let private expectLockFree (scene: Scene) =
    let other = scene.NewContainer()
    let o = L4lb.exec (L4lb.invocation scene "ADD" other conf)
    expectOk "an ADD after it" o
    expectOk "a DEL after it" (L4lb.exec (L4lb.invocation scene "DEL" other (L4lbInAgent.withPrevResult conf o.Stdout)))

/// The step an ADD error names ("ADD step k (...)"), checked against the plan.
let private stepNamed (o: Command.Outcome) =
    let reply = L4lbInAgent.error o

    match Regex.Match(reply.Msg, "^ADD step (\\d+) \\(") with
    | m when m.Success -> (addSteps shape)[int m.Groups[1].Value - 1]
    | _ -> failtest $"the error names no step of ADD: {L4lb.describe o}"

type private Outcome =
    /// The fault fired: the failure was checked; the step it named.
    | Failed of step: string
    /// The ADD did not reach that request (or its outcome there was a failure already),
    /// and succeeded; DEL undid it.
    | Passed

/// One ADD with the fault at `setting`; the failure, and the host as before, checked.
let private once (scene: Scene) (setting: string) : Outcome =
    let c = scene.NewContainer()
    let before = scene.State [ c ]
    let recordsBefore = records scene
    let log = Path.Combine(scene.Scratch, $"effects-{setting.Replace(':', '-')}.log")
    let o = execAlone scene (add scene c setting log)

    try
        if o.ExitCode = 0 then
            Expect.isFalse (o.Stdout.Contains injected) "a successful ADD met no fault"
            expectOk "DEL" (L4lb.exec (L4lb.invocation scene "DEL" c (L4lbInAgent.withPrevResult conf o.Stdout)))
            Passed
        else
            let step = stepNamed o
            expectFailedAt shape step [ injected ] o |> ignore
            expectUnchanged $"after ADD failed at {step}" before (scene.State [ c ])
            expectNoAllocation scene c
            Expect.equal (records scene) recordsBefore "the attachment records"
            expectLockFree scene
            Failed step
    with :? AssertException as e ->
        failtest
            $"""{hook}={setting}: {e.Message}{Environment.NewLine}the ADD's effect log:{Environment.NewLine}  {String.Join(Environment.NewLine + "  ", effectLog log)}"""

/// Request by request, until the ADD has fewer: (n, what happened) for each.
let private everyRequest (scene: Scene) (suffix: string) (count: int option) =
    let rec from n acc =
        match count with
        | Some total when n > total -> List.rev acc
        | _ ->
            match once scene $"{n}{suffix}", count with
            | Passed, None -> List.rev acc
            | outcome, _ -> from (n + 1) ((n, outcome) :: acc)

    from 1 []

let private show (outcomes: (int * Outcome) list) =
    outcomes
    |> List.map (fun (n, o) ->
        match o with
        | Failed step -> $"{n}: {step}"
        | Passed -> $"{n}: passed")
    |> String.concat "; "

/// The requests of one undisturbed ADD: the fault before each effect, until an ADD
/// passes. Every one of them fails its step.
let private requests: Lazy<(int * Outcome) list> =
    lazy
        (use scene = new Scene()
         everyRequest scene "" None)

let private beforeEachEffect () =
    let outcomes = requests.Force()
    printfn "reliability: an exception before each request of ADD failed the step: %s" (show outcomes)

    let named =
        outcomes
        |> List.choose (function
            | _, Failed s -> Some s
            | _ -> None)
        |> List.distinct
    // every step of the plan has at least one request, and each was hit
    Expect.equal (List.sort named) (List.sort (addSteps shape)) "each step of ADD failed once its request met the fault"

/// The fault when the core is resumed with a request's outcome, after the effect: the
/// host answers that request as failed (Interrupted, its effect undone too). A request
/// whose outcome is a failure already (the probes that find no link) passes.
let private afterEachEffect () =
    use scene = new Scene()
    let total = (requests.Force()).Length
    let outcomes = everyRequest scene ":resume" (Some total)
    printfn "reliability: an exception on resuming the core with each request's outcome: %s" (show outcomes)
    let passed = outcomes |> List.filter (snd >> (=) Passed) |> List.map fst
    // the two probes of "not yet attached": their outcome is "not found"
    Expect.equal passed.Length 2 $"only the two probes that find no link pass: {show outcomes}"

/// The fault on resuming the core, and again on answering the request as failed: the
/// last resort replies (code 999) with every plugin killed and the lock free; DEL then
/// removes what the ADD had done.
let private lastResort () =
    use scene = new Scene()
    let total = (requests.Force()).Length
    let mutable replied = 0

    for n in 1..total do
        let c = scene.NewContainer()
        let before = scene.State [ c ]
        let recordsBefore = records scene

        let o =
            execAlone scene (add scene c $"{n}:twice" (Path.Combine(scene.Scratch, "effects.log")))

        if o.ExitCode <> 0 then
            let reply = L4lbInAgent.error o
            Expect.equal reply.Code 999 $"request {n}: the internal error code: {L4lb.describe o}"
            Expect.stringContains reply.Msg injected $"request {n}: the error says what was thrown"
            replied <- replied + 1

        expectOk $"request {n}: DEL after it" (L4lb.exec (L4lb.invocation scene "DEL" c conf))
        expectUnchanged $"request {n}: after the last resort and DEL" before (scene.State [ c ])
        expectNoAllocation scene c
        Expect.equal (records scene) recordsBefore $"request {n}: the attachment records"

    Expect.equal replied (total - 2) "every request whose outcome is no failure gave the last resort"

/// The delegate attaches and then hangs (the Spartan lane waits for that); the fault is at
/// its await: the plugin kills it rather than wait its 60 s, and counts its ADD as
/// possibly done: its DEL runs, and nothing is left.
let private hangingDelegate () =
    use scene = new Scene()

    let awaitAt =
        requests.Force()
        |> List.filter (fun (_, o) -> o = Failed $"delegate {shape.Delegate} ADD")
        |> List.last
        |> fst

    let c = scene.NewContainer()

    let conf =
        Config.build
            { Config.defaults with
                DelegateType = Fakes.bridge
                Spartan = Some(Config.ipamType Fakes.hostLocal) }

    Fakes.delegateAttachedThenHangs scene
    let before = scene.State [ c ]

    let o =
        execAlone
            scene
            { L4lb.invocation scene "ADD" c conf with
                Environment = [ hook, string awaitAt ] }

    Fakes.expectWaited scene

    expectFailedAt
        { shape with
            Delegate = Fakes.bridge
            Ipam = Fakes.hostLocal }
        $"delegate {Fakes.bridge} ADD"
        [ injected ]
        o
    |> ignore

    Expect.contains (Fakes.calls scene) $"{Fakes.bridge} DEL {c.Id}" "its DEL ran"
    expectUnchanged "after the delegate was killed" before (scene.State [ c ])
    expectNoAllocation scene c

let tests =
    testList
        "an unexpected exception in the host: a CNI error, everything undone"
        [ testCase "before each request of ADD" beforeEachEffect
          testCase "on resuming the core with each request's outcome" afterEachEffect
          testCase "on resuming, and again on answering failed: the last resort, then DEL" lastResort
          testCase "at the await of a delegate that hangs after attaching" hangingDelegate ]
