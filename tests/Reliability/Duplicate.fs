/// ADD twice for the same container ID and ifname. The second ADD must fail, and must
/// not damage the first attachment: its rollback would run the delegate's DEL and the
/// Spartan IPAM DEL with the same container ID and ifname, which release the FIRST
/// attachment's resources. The plugin guards against this by refusing, before it runs
/// anything, a container whose `spartan` link or host veth already exists.
module Dcos.L4lb.Tests.Reliability.Duplicate

open Expecto
open Dcos.L4lb.Tests
open Expectations

/// The first attachment is whole: its artefacts, unchanged since it was made, and CHECK.
let private expectIntact
    (scene: Scene)
    (c: Container)
    (conf: System.Text.Json.Nodes.JsonNode)
    (output: string)
    (made: State)
    =
    expectUnchanged "the first attachment" made (scene.State [ c ])
    expectAttached scene c |> ignore

    let check =
        L4lb.exec (L4lb.invocation scene "CHECK" c (L4lbInAgent.withPrevResult conf output))

    expectOk "CHECK of the first attachment" check

let private sequential (delegateType: string) () =
    use scene = new Scene()
    Fakes.ensure scene
    let c = scene.NewContainer()

    let conf =
        Config.build
            { Config.defaults with
                DelegateType = delegateType }

    let empty = scene.State [ c ]
    let first = L4lb.exec (L4lb.invocation scene "ADD" c conf)
    expectOk "the first ADD" first
    expectAttached scene c |> ignore
    let made = scene.State [ c ]
    let calls = Fakes.calls scene
    let second = L4lb.exec (L4lb.invocation scene "ADD" c conf)

    expectFailedAt shape "not yet attached (Spartan link)" [ "attached already" ] second
    |> ignore

    Expect.equal (Fakes.calls scene) calls "the second ADD ran no plugin"
    expectIntact scene c conf first.Stdout made
    expectOk "DEL" (L4lb.exec (L4lb.invocation scene "DEL" c (L4lbInAgent.withPrevResult conf first.Stdout)))
    expectUnchanged "after DEL" empty (scene.State [ c ])

/// Two ADDs for one container at the same moment (a runtime retrying too early): both may
/// pass the "not yet attached" checks before either has made its links.
let private concurrent (delegateType: string) (rounds: int) () =
    use scene = new Scene()
    Fakes.ensure scene

    let conf =
        Config.build
            { Config.defaults with
                DelegateType = delegateType }

    let losers = ResizeArray<string>()

    for round in 1..rounds do
        let c = scene.NewContainer()
        let empty = scene.State [ c ]

        let add () =
            L4lb.exec (L4lb.invocation scene "ADD" c conf)

        let outcomes = Processes.together [ add; add ]
        let winners = outcomes |> List.filter (fun o -> o.ExitCode = 0)
        let failed = outcomes |> List.filter (fun o -> o.ExitCode <> 0)

        for o in failed do
            losers.Add(L4lbInAgent.error(o).Msg)

        Expect.equal winners.Length 1 $"round {round}: exactly one ADD succeeds: {outcomes |> List.map L4lb.describe}"
        let winner = winners.Head

        // the loser's rollback must not have taken anything of the winner's
        let links = Kernel.links c.Netns |> List.map _.Name |> List.sort

        let ports =
            Kernel.links scene.Agent
            |> List.filter (fun l -> l.Master = Some Delegate.bridge)
            |> List.map _.Name

        Expect.equal
            links
            [ "eth0"; "lo"; "spartan" ]
            ($"round {round}: ADD exited 0, but after the other ADD failed ({losers |> Seq.last}) its attachment has: "
             + $"container links {links}; bridge ports {ports}; delegate IPAM {scene.Leases Delegate.network}; "
             + $"Spartan IPAM {scene.Leases Spartan.ipamNetwork}; the fake delegate's calls {Fakes.calls scene}")

        expectAttached scene c |> ignore

        let check =
            L4lb.exec (L4lb.invocation scene "CHECK" c (L4lbInAgent.withPrevResult conf winner.Stdout))

        expectOk $"round {round}: CHECK of the successful attachment" check
        expectOk "DEL" (L4lb.exec (L4lb.invocation scene "DEL" c (L4lbInAgent.withPrevResult conf winner.Stdout)))
        expectUnchanged "after DEL" empty (scene.State [ c ])

    printfn
        "reliability: concurrent duplicate ADDs (%s), %d rounds; the failing ADDs said: %s"
        delegateType
        rounds
        (losers
         |> Seq.map (fun m -> m.Substring(0, min 90 m.Length))
         |> Seq.countBy id
         |> Seq.map (fun (m, n) -> $"[{m}] x{n}")
         |> String.concat "; ")

let tests =
    testList
        "ADD twice for the same container and ifname"
        [ testCase
              "one after the other (bridge delegate): the second is refused before it runs anything; the first stays whole"
              (sequential "bridge")
          testCase
              "one after the other (an idempotent delegate): the second is refused before it runs anything; the first stays whole"
              (sequential Fakes.idempotent)
          testCase "at the same moment (bridge delegate): one succeeds and stays whole" (concurrent "bridge" 6)
          testCase
              "at the same moment (an idempotent delegate that answers a repeated ADD with its first result): one succeeds and stays whole"
              (concurrent Fakes.idempotent 4) ]
