/// GC and STATUS (CNI 1.1) driven by hand-built 1.1.0 invocations against the real binary,
/// the reference plugins and the kernel. Containers are attached with a 1.0.0 config (the
/// reference plugins 1.1.1 stop there); GC gets the same config at 1.1.0, as a runtime
/// speaking CNI 1.1 sends it.
module Dcos.L4lb.Tests.Integration.Gc

open System.IO
open System.Text.Json.Nodes
open Expecto
open Dcos.L4lb.Tests


/// A second container in the scene, with its own netns, deleted after `body` whatever
/// happens (unless the test deleted it already).
let private withSecond (scene: Scene) (body: string -> string -> unit) =
    let name = scene.Container + "b"
    Netns.create name

    try
        body name (scene.ContainerId + "-b")
    finally
        if File.Exists $"/run/netns/{name}" then Netns.delete name

/// One command for this container ID and CNI_NETNS.
let private run (scene: Scene) command (containerId: string) (netns: string option) (config: JsonNode) =
    L4lb.exec
        { L4lb.invocation scene command scene.MainContainer config with
            ContainerId = Some containerId
            Netns = netns }

let private expectOk = AgentScenes.expectOk

let private owners (scene: Scene) network =
    scene.Allocations network |> List.map _.Owner |> List.sort

let private records (scene: Scene) =
    scene.AttachmentRecords

let private scenario name body = AgentScenes.scenario<Scene> name body

let tests =
    testList
        "GC and STATUS (CNI 1.1)"
        [ scenario "GC releases a container that is gone and leaves the listed one attached" (fun scene ->
              let conf = scene.Config "1.0.0" Scene.MinutemanOff
              let a = scene.ContainerId

              withSecond scene (fun bNetns b ->
                  expectOk "ADD a" (run scene "ADD" a (Some scene.Netns) conf)
                  expectOk "ADD b" (run scene "ADD" b (Some $"/run/netns/{bNetns}") conf)
                  Expect.equal (records scene) (List.sort [ $"{a}@eth0"; $"{b}@eth0" ]) "attachment records after ADD"
                  Expect.equal (owners scene Spartan.ipamNetwork) (List.sort [ a; b ]) "Spartan leases after ADD"

                  // the runtime lost container b (its netns is gone) and no longer lists it
                  Netns.delete bNetns
                  expectOk "GC" (L4lb.gc scene conf [ a, "eth0" ])

                  Expect.equal (owners scene Spartan.ipamNetwork) [ a ] "Spartan leases after GC"
                  Expect.equal (records scene) [ $"{a}@eth0" ] "attachment records after GC"
                  Expect.isNone (Kernel.link scene.Agent (Kernel.hostVethName b "eth0")) "b's host veth"
                  // bridge 1.1.1 does not list 1.1.0 in VERSION, so it is not sent GC: its lease for b stays
                  // until b's DEL, which the runtime still owes (GC is no substitute for DEL)
                  Expect.equal (owners scene L4lbInAgent.network) (List.sort [ a; b ]) "the delegate's leases"

                  expectOk "DEL b" (run scene "DEL" b None conf))

              // a is untouched: still attached, CHECK passes, and DNS through Spartan works
              Expect.equal (Kernel.linkNames scene.Container) [ "eth0"; "lo"; "spartan" ] "a's links"
              let answer = Command.run "ip" [ "netns"; "exec"; scene.Container; "dig"; "+short"; "+time=2"; "+tries=2"; "@198.51.100.1"; Spartan.testName ]
              Expect.equal (answer.Trim()) Spartan.testAnswer "a resolves through Spartan after GC"
              expectOk "DEL a" (run scene "DEL" a (Some scene.Netns) conf)
              Expect.equal (owners scene Spartan.ipamNetwork) [] "Spartan leases at the end"
              Expect.equal (owners scene L4lbInAgent.network) [] "delegate leases at the end"
              Expect.equal (records scene) [] "attachment records at the end")

          scenario "GC of a stale container whose netns still exists removes its Spartan veth too" (fun scene ->
              let conf = scene.Config "1.0.0" Scene.MinutemanOff

              withSecond scene (fun bNetns b ->
                  expectOk "ADD b" (run scene "ADD" b (Some $"/run/netns/{bNetns}") conf)
                  Expect.equal (Kernel.linkNames bNetns) [ "eth0"; "lo"; "spartan" ] "b's links after ADD"
                  expectOk "GC" (L4lb.gc scene conf [])
                  Expect.equal (Kernel.linkNames bNetns) [ "eth0"; "lo" ] "b's links after GC"
                  Expect.equal (owners scene Spartan.ipamNetwork) [] "Spartan leases after GC"
                  Expect.equal (records scene) [] "attachment records after GC"
                  expectOk "DEL b" (run scene "DEL" b (Some $"/run/netns/{bNetns}") conf)
                  Expect.equal (owners scene L4lbInAgent.network) [] "delegate leases after DEL"))

          scenario "GC with nothing attached, and GC twice, succeed and change nothing" (fun scene ->
              let conf = scene.Config "1.0.0" Scene.MinutemanOff
              expectOk "GC on an empty host" (L4lb.gc scene conf [ "nobody", "eth0" ])
              expectOk "ADD" (run scene "ADD" scene.ContainerId (Some scene.Netns) conf)
              let listed = [ scene.ContainerId, "eth0" ]
              expectOk "GC" (L4lb.gc scene conf listed)
              expectOk "GC again" (L4lb.gc scene conf listed)
              Expect.equal (owners scene Spartan.ipamNetwork) [ scene.ContainerId ] "Spartan lease kept"
              Expect.equal (Kernel.linkNames scene.Container) [ "eth0"; "lo"; "spartan" ] "links kept"
              expectOk "DEL" (run scene "DEL" scene.ContainerId (Some scene.Netns) conf))

          scenario "GC without cni.dev/valid-attachments is refused with code 7 and removes nothing" (fun scene ->
              let conf = scene.Config "1.0.0" Scene.MinutemanOff
              expectOk "ADD" (run scene "ADD" scene.ContainerId (Some scene.Netns) conf)
              let bare = conf.DeepClone().AsObject()
              bare["cniVersion"] <- JsonValue.Create "1.1.0"
              let o = L4lb.exec (L4lb.ofNetwork scene "GC" bare)
              let reply = L4lbInAgent.error o
              Expect.equal (o.ExitCode, reply.Code) (1, 7) reply.Text
              Expect.stringContains reply.Text "cni.dev/valid-attachments" "names the field"
              Expect.equal (owners scene Spartan.ipamNetwork) [ scene.ContainerId ] "Spartan lease kept"
              expectOk "DEL" (run scene "DEL" scene.ContainerId (Some scene.Netns) conf))

          scenario "GC with a 1.0.0 config is refused with code 1" (fun scene ->
              let conf = scene.Config "1.0.0" Scene.MinutemanOff
              conf["cni.dev/valid-attachments"] <- JsonArray()
              let reply = L4lbInAgent.error (L4lb.exec (L4lb.ofNetwork scene "GC" conf))
              Expect.equal reply.Code 1 reply.Text)

          scenario "STATUS on a ready agent succeeds; without the IPAM plugin it fails with code 50" (fun scene ->
              let conf = scene.Config "1.1.0" Scene.MinutemanOff
              let status = L4lb.ofNetwork scene "STATUS" conf
              expectOk "STATUS" (L4lb.exec status)
              let empty = Path.Combine(scene.VarLib, "empty-bin")
              Directory.CreateDirectory empty |> ignore
              let reply = L4lbInAgent.error (L4lb.exec { status with CniPath = [ empty ] })
              Expect.equal reply.Code 50 reply.Text
              Expect.stringContains reply.Text "host-local" "names the missing plugin") ]
