/// Upgrading an agent: a container attached by the original Go plugin (its footprint
/// made by hand, tests/Support/OriginalAttachment.fs) under this plugin's CHECK, DEL and
/// GC, with the config raised to a version that has them. This kernel has no dummy links,
/// so the footprint has the Minuteman checkpoint file without the `minuteman` link here;
/// the FullKernel suite has the whole of it.
module Dcos.L4lb.Tests.Integration.Upgrade

open System.IO
open System.Text.Json.Nodes
open Expecto
open Dcos.L4lb.Tests
open Dcos.L4lb.Tests.OriginalAttachment



let private where (scene: Scene) (lease: LeaseFormat) (withCheckpoint: bool) : Where =
    inScene scene lease (if withCheckpoint then Some scene.CheckpointDir else None) false

let private expectOk = AgentScenes.expectOk

/// The footprint is there as the original leaves it (and so the test's copy of it is).
let private expectFootprint (scene: Scene) (f: Footprint) =
    let links = Kernel.links scene.Container
    Expect.equal (Attachment.names links) [ "eth0"; "lo"; "spartan" ] "the container's links"
    let spartan = links |> List.find (fun l -> l.Name = "spartan")
    Expect.isTrue spartan.Up "the container's spartan link is up"
    Expect.stringStarts f.HostVeth "veth" "the original's host veth name"
    Expect.equal f.HostVeth.Length 12 "veth and 8 hex digits"

    match Kernel.link scene.Agent f.HostVeth with
    | Some host ->
        Expect.equal spartan.Peer (Some host.Index) "the host veth is spartan's peer"
        Expect.isTrue host.Up "the host veth is up"
    | None -> failtest $"no {f.HostVeth} in the agent"

    Expect.equal (Attachment.spartanAddress scene) f.Address "the Spartan address"

    for service in Spartan.serviceAddresses do
        let route: Kernel.Route =
            { Destination = service
              Device = "spartan"
              Scope = "link"
              Source = Some f.Address }

        Expect.contains (Kernel.routes scene.Container) route $"the container's route to {service}"

    Expect.equal
        (Kernel.routes scene.Agent
         |> List.filter (fun r -> r.Destination = f.Address)
         |> List.map (fun r -> r.Device, r.Scope))
        [ f.HostVeth, "link" ]
        "the agent's route to the Spartan address"

    Expect.equal
        (scene.Allocations Spartan.ipamNetwork)
        [ { Address = f.Address
            Owner = scene.ContainerId } ]
        "the Spartan lease"

/// Nothing of the attachment on the agent: its host veth and route, its leases (what
/// host-local keeps beside them, the last address handed out and its lock, stays after
/// every release), its checkpoint; and no record was ever made for it.
let private expectGoneFromAgent (scene: Scene) (f: Footprint) =
    Expect.isNone (Kernel.link scene.Agent f.HostVeth) $"{f.HostVeth} in the agent"
    Attachment.expectNoAgentVeth scene

    Expect.isEmpty
        (Kernel.routes scene.Agent |> List.filter (fun r -> r.Destination = f.Address))
        "the agent's route to the Spartan address"

    let leases, bookkeeping = leaseFiles scene.VarLib
    Expect.equal leases [] "lease files in spartan-network"

    for name in bookkeeping do
        Expect.contains
            [ "last_reserved_ip"; "last_reserved_ip.0"; "lock" ]
            name
            "host-local's own files in spartan-network"

    Attachment.expectReleased scene
    Expect.isFalse (File.Exists scene.CheckpointFile) "the Minuteman checkpoint"
    Expect.equal (scene.AttachmentRecords) [] "attachment records"

let private leaseText lease =
    match lease with
    | ContainerIdOnly -> "its lease as CNI 0.5's host-local wrote it (the container ID)"
    | WithIfName -> "its lease as host-local 1.1.1 writes it (container ID and ifname)"

let private checkAndDel version lease =
    AgentScenes.scenario<Scene>
        $"{leaseText lease}, config raised to {version}: CHECK passes (and sees the host route through the random veth go); DEL removes the links and the lease"
        (fun scene ->
            let conf = scene.Config version Scene.MinutemanOff
            let f = make (where scene lease false) conf
            expectFootprint scene f
            let conf = L4lbInAgent.withPrevResult conf (resultAs version f.DelegateResult)
            expectOk "CHECK" (L4lb.run scene "CHECK" conf)
            expectFootprint scene f

            Command.ip scene.Agent [ "route"; "del"; f.Address + "/32"; "dev"; f.HostVeth ]
            |> ignore

            let o = L4lb.run scene "CHECK" conf
            Expect.notEqual o.ExitCode 0 $"CHECK without the host route: {Command.describe o}"
            Expect.stringContains (L4lbInAgent.error o).Text "host route" "CHECK names the host route"
            expectOk "DEL" (L4lb.run scene "DEL" conf)
            Expect.equal (Kernel.linkNames scene.Container) [ "lo" ] "the container's links"
            expectGoneFromAgent scene f)

let tests =
    testList
        "attached by the original plugin"
        [ checkAndDel "0.4.0" ContainerIdOnly
          checkAndDel "1.1.0" WithIfName

          AgentScenes.scenario<Scene>
              "with its Minuteman checkpoint: CHECK finds only the minuteman link missing (no dummy links here); DEL removes the checkpoint too"
              (fun scene ->
                  let conf = scene.Config "1.1.0" [ scene.MinutemanAt true ]
                  let f = make (where scene WithIfName true) conf

                  Expect.equal
                      (File.ReadAllText scene.CheckpointFile)
                      scene.Netns
                      "the checkpoint holds the netns path"

                  let conf = L4lbInAgent.withPrevResult conf (resultAs "1.1.0" f.DelegateResult)
                  let o = L4lb.run scene "CHECK" conf
                  Expect.notEqual o.ExitCode 0 "CHECK without the minuteman link"
                  let text = (L4lbInAgent.error o).Text
                  Expect.stringContains text "Minuteman link" "names the minuteman link"

                  for other in [ "Spartan"; "host veth"; "host route"; "checkpoint"; "delegate" ] do
                      Expect.isFalse (text.Contains other) $"names nothing else ({other}): {text}"

                  expectOk "DEL" (L4lb.run scene "DEL" conf)
                  Expect.equal (Kernel.linkNames scene.Container) [ "lo" ] "the container's links"
                  expectGoneFromAgent scene f)

          AgentScenes.scenario<Scene>
              "DEL without CNI_NETNS releases the leases; the veth… end, out of reach, stays until the netns goes"
              (fun scene ->
                  let conf = scene.Config "1.1.0" Scene.MinutemanOff
                  let f = make (where scene WithIfName false) conf
                  let conf = L4lbInAgent.withPrevResult conf (resultAs "1.1.0" f.DelegateResult)
                  expectOk "DEL without CNI_NETNS" (L4lb.runIn scene "DEL" (Some "") conf)
                  Attachment.expectReleased scene
                  Expect.isSome (Kernel.link scene.Agent f.HostVeth) $"{f.HostVeth} after DEL"
                  Netns.delete scene.Container

                  // a netns is destroyed asynchronously (the kernel's cleanup_net), and its
                  // veths' peers with it, some 20 ms later: the wait is a guard against a hang
                  Programs.waitUntil $"{f.HostVeth} goes with the netns" 30. (fun () -> None) (fun () ->
                      (Kernel.link scene.Agent f.HostVeth).IsNone)

                  expectGoneFromAgent scene f)

          AgentScenes.scenario<Scene>
              ("GC knows nothing of it while its netns exists; once the netns is gone (the veth and host route with it) "
               + "it removes the orphaned checkpoint, not the lease, which the runtime's DEL releases")
              (fun scene ->
                  let conf = scene.Config "1.1.0" [ scene.MinutemanAt true ]
                  let f = make (where scene WithIfName true) conf

                  let delegateLease () =
                      scene.Allocations L4lbInAgent.network |> List.map _.Owner

                  expectOk "GC, the netns still there" (L4lb.gc scene conf [])
                  expectFootprint scene f
                  Expect.isTrue (File.Exists scene.CheckpointFile) "the checkpoint after the first GC"

                  Netns.delete scene.Container

                  // a netns is destroyed asynchronously (the kernel's cleanup_net), and its
                  // veths' peers with it, some 20 ms later: the wait is a guard against a hang
                  Programs.waitUntil $"{f.HostVeth} goes with the netns" 30. (fun () -> None) (fun () ->
                      (Kernel.link scene.Agent f.HostVeth).IsNone)

                  Expect.isEmpty
                      (Kernel.routes scene.Agent |> List.filter (fun r -> r.Destination = f.Address))
                      "the agent's route to the Spartan address"

                  expectOk "GC, the netns gone" (L4lb.gc scene conf [])
                  Expect.isFalse (File.Exists scene.CheckpointFile) "the checkpoint after the second GC"

                  Expect.equal
                      (scene.Allocations Spartan.ipamNetwork)
                      [ { Address = f.Address
                          Owner = scene.ContainerId } ]
                      "the Spartan lease after GC"

                  Expect.equal
                      (delegateLease ())
                      [ scene.ContainerId ]
                      "the delegate's lease after GC (bridge 1.1.1 gets no GC)"

                  let conf = L4lbInAgent.withPrevResult conf (resultAs "1.1.0" f.DelegateResult)
                  expectOk "DEL" (L4lb.run scene "DEL" conf)
                  expectGoneFromAgent scene f) ]
