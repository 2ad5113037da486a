module Dcos.L4lb.Tests.Reliability.Main

open System
open System.IO
open Expecto
open Dcos.L4lb.Tests
open Expectations

/// The steps the tests expect are the steps the binary runs: a successful ADD's effect
/// log, line by line, against the expected plan in the order the log has it (the steps
/// before the delegate, the Spartan lane, then the delegate's line, written at its await).
let private planShape =
    testCase "the binary's ADD runs the steps these tests expect, in the order its effect log has them" (fun () ->
        use scene = new Scene()
        let c = scene.NewContainer()
        let log = Path.Combine(scene.Scratch, "effects.log")
        let conf = Config.build Config.defaults

        let inv =
            { L4lb.invocation scene "ADD" c conf with
                Environment = [ "DCOS_L4LB_LOG_FILE", log ] }

        let o = L4lb.exec inv
        expectOk "ADD" o
        let lines = effectLog log |> List.filter (fun l -> l <> "done")
        let logged = logOrder shape

        Expect.equal
            lines.Length
            logged.Length
            $"one effect per expected step: {String.Join(Environment.NewLine, lines)}"

        for (name, pattern), line in List.zip logged lines do
            Expect.isTrue
                (Text.RegularExpressions.Regex.IsMatch(line, "^" + pattern + " -> "))
                $"step \"{name}\" is \"{pattern}\"; the binary ran \"{line}\""

        expectOk "DEL" (L4lb.exec (L4lb.invocation scene "DEL" c (L4lbInAgent.withPrevResult conf o.Stdout))))

/// What a leak of ours would change on the machine itself: links of our names in the root
/// netns, the machine's own IPAM state for our network names.
let private machineState () =
    Machine.links (fun n -> n = Delegate.bridge), Machine.cniState [ "(no /var/lib/cni)" ]

let private before = lazy (machineState ())

let private leaks =
    testCase "every scene was torn down, no process is left, the machine is as found" (fun () ->
        let namespaces =
            (Command.run "ip" [ "netns"; "list" ]).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            |> Array.filter Scene.Names.OfThisProcess

        Expect.isEmpty namespaces "this run's network namespaces"
        AgentScenes.expectTornDown ()

        let groups = Set.ofSeq Processes.startedGroups

        let alive =
            [ for dir in Directory.GetDirectories "/proc" do
                  match Int32.TryParse(Path.GetFileName dir) with
                  | true, pid ->
                      match Processes.processGroup pid with
                      | Some g when groups.Contains g ->
                          let cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\000', ' ')
                          yield $"{pid} ({cmdline})"
                      | _ -> ()
                  | _ -> () ]

        Expect.isEmpty alive "processes this run started"
        Expect.equal (machineState ()) before.Value "the root netns's links of our names and /var/lib/cni")

let tests =
    before.Force() |> ignore

    testList
        "reliability"
        [ FaultCases.tests
          planShape
          Kills.tests
          Lanes.tests
          Duplicate.tests
          GcKilled.tests
          Unexpected.tests
          Bounded.tests
          Durable.tests
          testSequenced (testList "sequential" [ Kills.anywhere; Load.tests; Soak.tests; GcRace.race; LogFile.tests; leaks ]) ]

[<EntryPoint>]
let main argv = Suite.run "reliability" argv tests
