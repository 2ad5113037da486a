/// `l4lbctl doctor` on real agents (see DoctorScene): each leftover made by hand as the
/// original or a crash leaves it, doctor names it, --fix removes it and leaves the live
/// container alone, and doctor then exits 0.
module Dcos.L4lb.Tests.DoctorTests

open System
open System.IO
open Expecto
open Dcos.L4lb.Tests
open Dcos.L4lb.Tests.AgentScenes
open Dcos.L4lb.Tests.DoctorScene

let private scenario = AgentScenes.scenario<Scene>

let private exitsWith (code: int) (o: Command.Outcome) =
    Expect.equal o.ExitCode code (Command.describe o)

/// What --fix must leave of a live container: its lease, its links on both sides.
let private expectIntact (s: Scene) (c: Container) (lease: string list) =
    Expect.isTrue (hasLink c.Netns "spartan") $"{c.Id}'s spartan link"
    Expect.isTrue (hasLink s.Agent (hostVeth c)) $"{c.Id}'s host veth"
    Expect.isTrue (File.Exists(Path.Combine(s.Records, $"{c.Id}@eth0"))) $"{c.Id}'s record"
    Expect.containsAll (leases s) lease $"{c.Id}'s lease"

/// The leftover the finding names: doctor --json exits 1 and names exactly these checks;
/// --dry-run changes nothing; --fix exits 0; doctor then exits 0.
let private fixesExactly (s: Scene) (conf: string) (expected: string list) (subject: string) =
    let o = doctor s conf [ "--json" ]
    exitsWith 1 o
    let found = findings o "findings"
    Expect.equal (checks found) (List.sort expected) $"the findings: {o.Stdout}"

    Expect.isTrue (found |> List.exists (fun f -> f.Subject.Contains subject)) $"a finding names {subject}: {o.Stdout}"

    let dry = doctor s conf [ "--dry-run" ]
    exitsWith 1 dry
    Expect.stringContains dry.Stdout "--fix would:" "dry run shows the repairs"
    Expect.equal (findings (doctor s conf [ "--json" ]) "findings") found "--dry-run changed nothing"

    let fixedRun = doctor s conf [ "--fix"; "--json" ]
    exitsWith 0 fixedRun
    Expect.isEmpty (findings fixedRun "remaining") "nothing remains after --fix"
    exitsWith 0 (doctor s conf [])

let tests =
    AgentScenes.suite
        Scene.Names
        "doctor"
        [ scenario
              "Checked by: the original's lease of 198.51.100.200 is named, --fix releases it and leaves the live container"
          <| fun s ->
              let live = attach s
              let liveLease = leases s
              leaveLease s "198.51.100.200" "orig-container\r\neth0"
              let conf = writeConfig s "net.conf" (config s None)

              let o = doctor s conf [ "--json" ]
              exitsWith 1 o

              Expect.equal
                  (findings o "findings" |> List.map (fun f -> f.Check, f.Subject))
                  [ "spartan-lease",
                    "198.51.100.200 (/var/lib/cni/networks/spartan-network/198.51.100.200), container orig-container" ]
                  "doctor names the original's lease, and nothing else"

              exitsWith 0 (doctor s conf [ "--fix" ])
              Expect.equal (leases s) liveLease "the original's lease went, the live one stayed"
              expectIntact s live liveLease
              exitsWith 0 (doctor s conf [])

          scenario
              "the original's live container is left alone; once its netns is gone, its lease (container ID only) is released"
          <| fun s ->
              let conf = config s None
              let file = writeConfig s "net.conf" conf

              let where =
                  OriginalAttachment.inScene s OriginalAttachment.ContainerIdOnly None false

              OriginalAttachment.make where conf |> ignore
              let live = attach s
              let liveLeases = leases s
              exitsWith 0 (doctor s file [])

              // the runtime lost the container without a DEL: the veth and route went with it
              Netns.delete s.Container
              fixesExactly s file [ "spartan-lease" ] OriginalAttachment.address
              Expect.isFalse (List.contains OriginalAttachment.address (leases s)) "the original's lease went"
              expectIntact s live (liveLeases |> List.filter ((<>) OriginalAttachment.address))

          scenario "an attachment whose netns went without a DEL: the plugin's GC removes it and its lease"
          <| fun s ->
              let live = attach s
              let liveLease = leases s
              let gone = attach s
              let file = writeConfig s "net.conf" (config s None)
              Netns.delete gone.Netns

              fixesExactly s file [ "stale-record" ] $"{gone.Id}@eth0"
              Expect.isFalse (File.Exists(Path.Combine(s.Records, $"{gone.Id}@eth0"))) "the stale record went"
              Expect.equal (leases s) liveLease "the stale lease went"
              expectIntact s live liveLease

          scenario "a host veth of the Spartan network with no record and no route is deleted"
          <| fun s ->
              let live = attach s
              let liveLease = leases s
              let other = s.NewContainer()
              let file = writeConfig s "net.conf" (config s None)
              // a crash between the veth and its host route, whose record is lost
              Command.ip
                  s.Agent
                  [ "link"
                    "add"
                    "spt0123456789ab"
                    "type"
                    "veth"
                    "peer"
                    "name"
                    "spartan"
                    "netns"
                    other.Netns ]
              |> ignore

              fixesExactly s file [ "host-veth" ] "spt0123456789ab"
              Expect.isFalse (hasLink s.Agent "spt0123456789ab") "the leftover veth went"
              expectIntact s live liveLease

          scenario "a dot-file older than any write is removed; one being written is not"
          <| fun s ->
              let live = attach s
              let liveLease = leases s
              let file = writeConfig s "net.conf" (config s None)
              let old = Path.Combine(s.Records, ".crashed-1@eth0.tmp")
              let fresh = Path.Combine(s.Records, ".writing-1@eth0.tmp")
              File.WriteAllText(old, "/run/netns/crashed")
              File.SetLastWriteTimeUtc(old, DateTime.UtcNow.AddHours -1.0)
              File.WriteAllText(fresh, "/run/netns/writing")

              fixesExactly s file [ "dot-file" ] (old.Replace(s.VarLib, "/var/lib"))
              Expect.isFalse (File.Exists old) "the crash's dot-file went"
              Expect.isTrue (File.Exists fresh) "the one being written stayed"
              expectIntact s live liveLease

          scenario
              "Minuteman: no dummy links on this kernel is an error; a checkpoint whose netns is gone goes through GC"
          <| fun s ->
              let live = attach s
              let checkpoints = s.CheckpointDir
              Directory.CreateDirectory checkpoints |> ignore
              File.WriteAllText(Path.Combine(checkpoints, live.Id), live.Path)
              File.WriteAllText(Path.Combine(checkpoints, "orig-gone"), "/run/netns/l4lb-doctor-gone")
              let file = writeConfig s "mm.conf" (config s (Some checkpoints))

              let o = doctor s file [ "--json" ]
              exitsWith 1 o
              let found = findings o "findings"
              Expect.equal (checks found) [ "dummy-links"; "stale-checkpoint" ] o.Stdout
              let dummy = found |> List.find (fun f -> f.Check = "dummy-links")
              Expect.equal dummy.Severity "error" "no dummy links breaks every ADD"
              Expect.stringContains dummy.Fix "modprobe dummy" "advice"
              Expect.stringContains dummy.Fix "\"enable\": false" "advice"

              // the dummy links stay missing: --fix cannot add them, and says so by exit 1
              let fixedRun = doctor s file [ "--fix"; "--json" ]
              exitsWith 1 fixedRun
              Expect.equal (checks (findings fixedRun "remaining")) [ "dummy-links" ] fixedRun.Stdout
              Expect.isFalse (File.Exists(Path.Combine(checkpoints, "orig-gone"))) "the stale checkpoint went"
              Expect.isTrue (File.Exists(Path.Combine(checkpoints, live.Id))) "the live one stayed"

              // a checkpoint directory that cannot be made: a file where its parent should be
              let blocked = Path.Combine(s.Scratch, "a-file")
              File.WriteAllText(blocked, "")

              let bad =
                  writeConfig s "blocked.conf" (config s (Some(Path.Combine(blocked, "l4lb"))))

              Expect.equal
                  (checks (findings (doctor s bad [ "--json" ]) "findings"))
                  [ "checkpoint-directory"; "dummy-links" ]
                  "blocked"

          scenario "the agent: Spartan addresses, forwarding, the plugins and their versions"
          <| fun s ->
              let file = writeConfig s "net.conf" (config s None)
              let healthy () = exitsWith 0 (doctor s file [])
              let named (o: Command.Outcome) = checks (findings o "findings")

              Command.ip s.Agent [ "addr"; "flush"; "dev"; "spartan" ] |> ignore

              Command.run "ip" [ "netns"; "exec"; s.Agent; "sysctl"; "-qw"; "net.ipv4.ip_forward=0" ]
              |> ignore

              let o = doctor s file [ "--json" ]
              exitsWith 1 o
              Expect.equal (named o) [ "ip-forward"; "spartan-addresses" ] o.Stdout

              for a in Spartan.serverAddresses do
                  Command.ip s.Agent [ "addr"; "add"; a + "/32"; "dev"; "spartan" ] |> ignore

              Command.run "ip" [ "netns"; "exec"; s.Agent; "sysctl"; "-qw"; "net.ipv4.ip_forward=1" ]
              |> ignore

              healthy ()

              // the reference plugins out of the CNI path
              let o =
                  doctorWith s file [ "--cni-path"; Path.GetDirectoryName L4lbBinary.path; "--json" ]

              exitsWith 1 o
              let missing = findings o "findings"
              Expect.equal (checks missing) [ "plugin-missing"; "plugin-missing" ] o.Stdout

              Expect.equal
                  (missing |> List.map (fun f -> f.Subject) |> List.sort)
                  [ "bridge (the delegate)"; "host-local (the Spartan IPAM plugin)" ]
                  "both named"

              // a delegate that speaks only versions newer than the config's
              let fake = Path.Combine(s.Scratch, "newonly")

              File.WriteAllText(
                  fake,
                  "#!/bin/sh\necho '{\"cniVersion\": \"1.1.0\", \"supportedVersions\": [\"1.1.0\"]}'\n"
              )

              Command.run "chmod" [ "755"; fake ] |> ignore
              let conf = config s None
              conf["delegate"]["type"] <- Text.Json.Nodes.JsonValue.Create "newonly"
              let newOnly = writeConfig s "newonly.conf" conf
              let o = doctorWith s newOnly [ "--cni-path"; $"{cniPath}:{s.Scratch}"; "--json" ]
              exitsWith 1 o
              Expect.equal (checks (findings o "findings")) [ "plugin-version" ] o.Stdout

          testCase "usage: no config is exit 2; --help shows doctor with an example"
          <| fun () ->
              let o =
                  Command.attempt (Path.Combine(L4lbBinary.repoRoot, "bin", "l4lbctl")) [ "doctor" ]

              exitsWith 2 o

              let help =
                  Command.attempt (Path.Combine(L4lbBinary.repoRoot, "bin", "l4lbctl")) [ "doctor"; "--help" ]

              exitsWith 0 help
              Expect.stringContains help.Stdout "--fix" "options"
              Expect.stringContains help.Stdout "Example" "an example" ]
