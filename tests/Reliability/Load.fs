/// Concurrency and load: the whole default Spartan range (198.51.100.10-.253, 244
/// addresses) is filled by containers ADDed 8 at a time, each in its own netns, all on one
/// bridge network with a /16; each passes CHECK; the addresses are distinct; one more ADD
/// fails for want of an address and leaves nothing; DEL of all, 8 at a time, leaves
/// nothing.
module Dcos.L4lb.Tests.Reliability.Load

open System
open System.Diagnostics
open Expecto
open Dcos.L4lb.Tests
open Expectations

let containers = 244
let degree = 8

let private percentile (p: float) (values: float list) =
    let sorted = values |> List.sort |> Array.ofList
    sorted[min (sorted.Length - 1) (int (Math.Ceiling(p * float sorted.Length)) - 1)]

let private latencies (outcomes: Command.Outcome list) =
    let ms = outcomes |> List.map _.Elapsed.TotalMilliseconds
    $"p50 {percentile 0.5 ms:F0} ms, p95 {percentile 0.95 ms:F0} ms, max {List.max ms:F0} ms"

let private failures what (results: (Container * Command.Outcome) list) =
    match results |> List.filter (fun (_, o) -> o.ExitCode <> 0) with
    | [] -> ()
    | failed ->
        let shown =
            failed
            |> List.truncate 3
            |> List.map (fun (c, o) -> $"{c.Id}: {L4lb.describe o}")

        failtest
            $"""{failed.Length} of {results.Length} {what} failed, for example:{Environment.NewLine}{String.Join(Environment.NewLine, shown)}"""

let private fill () =
    let timings = ResizeArray<string>()
    let clock = Stopwatch.StartNew()

    let phase name (f: unit -> 'a) =
        let started = clock.Elapsed
        let result = f ()
        timings.Add $"{name} {(clock.Elapsed - started).TotalSeconds:F1} s"
        result

    use scene = new Scene()
    let all = phase "netns setup" (fun () -> scene.NewContainers(containers + 1))
    let cs, extra = List.truncate containers all, List.last all
    let baseline = phase "baseline" (fun () -> scene.State all)
    let conf = Config.build Config.defaults

    let adds =
        phase "ADD" (fun () ->
            cs
            |> Processes.parallelMap degree (fun c -> c, L4lb.exec (L4lb.invocation scene "ADD" c conf)))

    failures "ADDs" adds

    /// CHECK or DEL of every container, with its ADD result, `degree` at a time.
    let withAddResults command =
        phase command (fun () ->
            adds
            |> Processes.parallelMap degree (fun (c, o) ->
                c, L4lb.exec (L4lb.invocation scene command c (L4lbInAgent.withPrevResult conf o.Stdout))))

    let checks = withAddResults "CHECK"

    failures "CHECKs" checks

    let addresses =
        phase "verify" (fun () ->
            let view = Attachment.agentView scene
            cs |> Processes.parallelMap degree (expectAttachedIn view))

    Expect.equal (List.distinct addresses).Length containers "every container has its own Spartan address"

    let wholeRange = [ for i in 10..253 -> $"198.51.100.{i}" ]
    Expect.equal (List.sort addresses) (List.sort wholeRange) "the containers hold the whole range"
    Expect.equal (scene.Allocations Spartan.ipamNetwork).Length containers "Spartan IPAM allocations"
    Expect.equal (scene.Allocations Delegate.network).Length containers "delegate IPAM allocations"
    let agentLinks = Kernel.links scene.Agent
    Expect.equal (agentLinks |> List.filter Kernel.isHostVeth).Length containers "host veths in the agent"
    Expect.equal (agentLinks |> List.filter (fun l -> l.Master = Some Delegate.bridge)).Length containers "bridge ports"

    // the range is full: one more ADD fails at the Spartan IPAM and undoes the delegate
    let beforeExtra = scene.State [ extra ]
    let o = L4lb.exec (L4lb.invocation scene "ADD" extra conf)

    expectFailedAt shape "Spartan IPAM host-local ADD" [ "no IP addresses available" ] o
    |> ignore

    expectUnchanged "after the ADD that found the range full" beforeExtra (scene.State [ extra ])
    expectNoAllocation scene extra

    let dels = withAddResults "DEL"

    failures "DELs" dels
    phase "final state" (fun () -> expectUnchanged "after DEL of every container" baseline (scene.State all))

    printfn
        "reliability: load, %d containers, %d at a time: %s; total %.1f s. ADD %s; CHECK %s; DEL %s"
        containers
        degree
        (String.Join(", ", timings))
        clock.Elapsed.TotalSeconds
        (latencies (List.map snd adds))
        (latencies (List.map snd checks))
        (latencies (List.map snd dels))

let tests =
    testCase
        $"{containers} containers fill the Spartan range ({degree} at a time), CHECK, one more is refused, DEL all"
        fill
