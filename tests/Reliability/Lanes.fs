/// The two lanes overlap for real: ADD and DEL carry out the Spartan steps while the
/// delegate runs, and a failure in either lane, found while the other is under way, still
/// leaves nothing. Hooks in the fake plugins wait for the other lane to get somewhere, so
/// each case is one certain interleaving, not a race; a plugin that ran the lanes one
/// after the other would leave a hook waiting in vain (Fakes.expectWaited).
module Dcos.L4lb.Tests.Reliability.Lanes

open System
open System.Globalization
open System.IO
open System.Text.RegularExpressions
open Expecto
open Dcos.L4lb.Tests
open Expectations

let private delegated = { shape with Delegate = Fakes.bridge }

let private delegatedConf =
    { Config.defaults with
        DelegateType = Fakes.bridge }

let private withLog (scene: Scene) (inv: L4lb.Invocation) =
    let log = Path.Combine(scene.Scratch, $"{inv.Command}.log")

    { inv with
        Environment = [ "DCOS_L4LB_LOG_FILE", log ] },
    log

/// The effect log's lines from `after` (a line's start) up to the delegate's line (logged
/// at its await), each of which must have been written while the delegate ran: between
/// its start (its line's time less the time its line gives) and its line.
let private expectWithinDelegateRun (command: string) (after: string) (log: string) : string list =
    let lines = timedEffectLog log
    let texts = lines |> List.map snd
    let show = String.Join(Environment.NewLine + "  ", texts)
    let delegateLine = $"run {Fakes.bridge} {command} -> "

    let last =
        match texts |> List.tryFindIndex (fun l -> l.StartsWith delegateLine) with
        | Some i -> i
        | None -> failtest $"no line \"{delegateLine}\" in the effect log:{Environment.NewLine}  {show}"

    let first =
        match texts |> List.tryFindIndex (fun l -> l.StartsWith after) with
        | Some i -> i + 1
        | None -> failtest $"no line \"{after}\" in the effect log:{Environment.NewLine}  {show}"

    let ended, line = lines[last]
    let ran = Regex.Match(line, @"\(([0-9.]+) ms\)$")
    Expect.isTrue ran.Success $"the delegate's line gives its time: {line}"

    let began =
        ended
        - TimeSpan.FromMilliseconds(Double.Parse(ran.Groups[1].Value, CultureInfo.InvariantCulture))

    let lane = lines[first .. last - 1]
    Expect.isNonEmpty lane $"the lane's lines come before the delegate's:{Environment.NewLine}  {show}"

    for at, text in lane do
        Expect.isTrue
            (began < at && at < ended)
            $"\"{text}\" at {at:O} lies within the delegate's run, {began:O} to {ended:O}:{Environment.NewLine}  {show}"

    List.map snd lane

/// ADD: the delegate attaches, then waits (still running) for the Spartan lane's last step,
/// the host route; the plugin, carrying out the lane meanwhile, awaits it after.
let private addOverlaps () =
    use scene = new Scene()
    let c = scene.NewContainer()
    let conf = Config.build delegatedConf
    let hostVeth = Kernel.hostVethName c.Id L4lbInAgent.ifName

    Fakes.hook scene Fakes.bridge "ADD" (Fakes.waitUntil scene "host-route" $"ip route show dev {hostVeth} | grep -q .")

    let before = scene.State [ c ]
    let inv, log = withLog scene (L4lb.invocation scene "ADD" c conf)
    let o = L4lb.exec inv
    expectOk "ADD" o
    Fakes.expectWaited scene
    let lane = expectWithinDelegateRun "ADD" "enable IPv4 forwarding" log
    let delegateNumber = stepNumber delegated $"delegate {Fakes.bridge} ADD"

    Expect.equal
        (lane |> List.map (stepOfLine delegated))
        (addSteps delegated |> List.skip delegateNumber |> List.map Some)
        "the lines within the delegate's run are the Spartan lane's, in order"

    expectAttached scene c |> ignore
    let withResult = L4lbInAgent.withPrevResult conf o.Stdout
    expectOk "CHECK" (L4lb.exec (L4lb.invocation scene "CHECK" c withResult))
    expectOk "DEL" (L4lb.exec (L4lb.invocation scene "DEL" c withResult))
    expectUnchanged "after ADD and DEL" before (scene.State [ c ])
    expectNoAllocation scene c

/// DEL: the delegate's DEL, having detached, waits (still running) until the Spartan lane
/// has removed the host veth.
let private delOverlaps () =
    use scene = new Scene()
    let c = scene.NewContainer()
    let conf = Config.build delegatedConf
    let hostVeth = Kernel.hostVethName c.Id L4lbInAgent.ifName
    Fakes.ensure scene
    let before = scene.State [ c ]
    let o = L4lb.exec (L4lb.invocation scene "ADD" c conf)
    expectOk "ADD" o

    Fakes.hook
        scene
        Fakes.bridge
        "DEL"
        (Fakes.waitUntil scene "host-veth-gone" $"! ip link show dev {hostVeth} >/dev/null 2>&1")

    let inv, log =
        withLog scene (L4lb.invocation scene "DEL" c (L4lbInAgent.withPrevResult conf o.Stdout))

    expectOk "DEL" (L4lb.exec inv)
    Fakes.expectWaited scene
    let lane = expectWithinDelegateRun "DEL" "lock " log

    Expect.isTrue
        (lane |> List.exists (fun l -> l.StartsWith "delete link spartan "))
        $"the Spartan veth was deleted within the delegate's run: {lane}"

    expectUnchanged "after ADD and DEL" before (scene.State [ c ])
    expectNoAllocation scene c

/// After the delegate's ADD line (the lane's last line, the host route's, just before it),
/// the rollback in reverse plan order: the Spartan veth, the Spartan IPAM's DEL, the
/// delegate's DEL, the attachment record.
let private expectUndoneAfterDelegate (s: Shape) (scene: Scene) =
    let lines = effectLog (Faults.effectLogOf scene)
    let show = String.Join(Environment.NewLine + "  ", lines)
    let delegateLine = $"run {s.Delegate} ADD -> "

    match lines |> List.tryFindIndex (fun l -> l.StartsWith delegateLine) with
    | None -> failtest $"no line \"{delegateLine}\" in the effect log:{Environment.NewLine}  {show}"
    | Some at ->
        Expect.equal
            (stepOfLine s lines[at - 1])
            (Some "host route to the Spartan address")
            $"the Spartan lane went to its end before the delegate was awaited:{Environment.NewLine}  {show}"

        let undone =
            lines
            |> List.skip (at + 1)
            |> List.filter (fun l -> not (l.StartsWith "failed: "))

        let expected =
            [ "delete link spartan in "
              $"run {s.Ipam} DEL -> exit 0"
              $"run {s.Delegate} DEL -> exit 0"
              "remove attachment record " ]

        Expect.equal undone.Length expected.Length $"the rollback's lines:{Environment.NewLine}  {show}"

        for line, start in List.zip undone expected do
            Expect.stringStarts line start $"the rollback, newest first:{Environment.NewLine}  {show}"

/// Failing ADDs, run and checked as the fault-injection cases are.
let private failures: Faults.Case list =
    let both =
        { delegated with
            Ipam = Fakes.hostLocal }

    [ { Faults.baseCase
            "the delegate's result is not JSON, and it has exited while the Spartan IPAM runs"
            $"delegate {Fakes.bridge} ADD" with
          Shape = both
          Mentions = [ "not JSON" ]
          Conf =
              fun _ ->
                  { delegatedConf with
                      Spartan = Some(Config.ipamType Fakes.hostLocal) }
          Arrange =
              fun scene _ _ ->
                  Fakes.replaceOutput scene Fakes.bridge "ADD" "this is not json\n"
                  Fakes.delegateFirst scene ""
                  []
          Extra =
              fun scene c _ _ ->
                  Fakes.expectWaited scene
                  Expect.contains (Fakes.calls scene) $"{Fakes.bridge} DEL {c.Id}" "the delegate's DEL ran"
                  expectUndoneAfterDelegate both scene }

      { Faults.baseCase
            "the Spartan lane's host route exists already, and the delegate still runs when that step fails"
            "host route to the Spartan address" with
          Shape = delegated
          Mentions = [ "File exists" ]
          Conf =
              fun _ ->
                  { delegatedConf with
                      Spartan = Some(Config.oneAddressRange "198.51.100.10") }
          Arrange =
              fun scene _ _ ->
                  Command.ip scene.Agent [ "route"; "add"; "198.51.100.10/32"; "dev"; "spartan" ]
                  |> ignore

                  // the delegate, having attached, waits for the failed step's line
                  Fakes.hook
                      scene
                      Fakes.bridge
                      "ADD"
                      (Fakes.waitUntil
                          scene
                          "host-route-failed"
                          $"grep -q 'scope link in the host -> failed' '{Faults.effectLogOf scene}'")

                  []
          Extra =
              fun scene c _ _ ->
                  Fakes.expectWaited scene
                  Expect.contains (Fakes.calls scene) $"{Fakes.bridge} DEL {c.Id}" "the delegate's DEL ran"
                  expectUndoneAfterDelegate delegated scene } ]

let tests =
    testList
        "the lanes overlap"
        [ testCase "ADD carries out the Spartan lane while the delegate runs" addOverlaps
          testCase "DEL removes the Spartan attachment while the delegate's DEL runs" delOverlaps
          testList
              "a failure in one lane while the other runs: everything is undone, newest first"
              [ for case in failures -> testCase case.Name (Faults.run case) ] ]
