/// GC (CNI 1.1) of attachments with Minuteman on, and an attachment the original plugin
/// made, on a kernel that has the Minuteman link: what GC, CHECK and DEL do to the
/// checkpoints, as a dcos-net-like watcher sees them.
module Dcos.L4lb.Tests.FullKernel.MinutemanGc

open System.IO
open Expecto
open Dcos.L4lb.Tests
open Dcos.L4lb.Tests.FullKernel.MinutemanChecks

/// Nothing of any attachment is left, its attachment record included.
let private expectAllGone (scene: Scene) (dir: string) =
    expectNothingLeft scene dir
    Expect.equal (records scene) [] "attachment records at the end"

let private gcReleasesLost =
    scenario
        ("GC (CNI 1.1), Minuteman on: of two containers, the one the runtime lost (its netns deleted) loses its checkpoint "
         + "(one delete, as the watcher sees), Spartan lease and record; the listed one stays registered and passes CHECK; "
         + "DEL of both leaves nothing")
        false
        (fun scene ->
            let dir, settle, conf = watchedCheckpoints scene false
            let a = scene.ContainerId
            let b = a + "-b"
            let eth0 = L4lbInAgent.ifName
            let aFile = Path.Combine(dir, a)

            withNetns (scene.Container + "b") (fun bNetns ->
                let outputA = add scene conf
                let addB = runFor scene "ADD" b (Some bNetns) eth0 conf
                expectOk "ADD b" addB

                Expect.equal
                    (settle ())
                    [ CloseWrite(a, Ok(netnsBytes scene)); CloseWrite(b, Ok(System.Text.Encoding.UTF8.GetBytes bNetns)) ]
                    "the events of both ADDs"

                Expect.equal (entries dir) (List.sort [ a; b ]) "the checkpoint files after both ADDs"
                Expect.equal (records scene) (List.sort [ $"{a}@{eth0}"; $"{b}@{eth0}" ]) "attachment records after both ADDs"
                Expect.equal (spartanLeases scene) (List.sort [ $"{a} {eth0}"; $"{b} {eth0}" ]) "Spartan leases after both ADDs"
                let aBytes, aWritten = File.ReadAllBytes aFile, File.GetLastWriteTimeUtc aFile

                // the runtime loses b: its netns goes, and no DEL comes
                Netns.delete (scene.Container + "b")
                Expect.equal (settle ()) [] "events when b's netns goes"

                expectOk "GC" (L4lb.gc scene conf [ a, eth0 ])
                Expect.equal (settle ()) [ Delete b ] "the events of GC: one delete, for b, and nothing for a"
                Expect.equal (entries dir) [ a ] "the checkpoint files after GC"
                Expect.equal (File.ReadAllBytes aFile, File.GetLastWriteTimeUtc aFile) (aBytes, aWritten) "a's checkpoint file is untouched"
                expectKeptByGc scene dir
                Expect.isNone (Kernel.link scene.Agent (Kernel.hostVethName b eth0)) "b's host veth"

                expectOk "CHECK of a after GC" (L4lb.run scene "CHECK" (L4lbInAgent.withPrevResult conf outputA))
                Expect.equal (settle ()) [] "the events of CHECK"

                // the DEL the runtime still owes b (its delegate lease is released by DEL only)
                expectOk "DEL b" (runFor scene "DEL" b None eth0 (L4lbInAgent.withPrevResult conf addB.Stdout))
                Expect.equal (settle ()) [] "the events of b's DEL (its checkpoint is gone already)"

                del scene conf outputA
                Expect.equal (settle ()) [ Delete a ] "the events of a's DEL")

            expectAllGone scene dir)

let private gcKeepsListedCheckpoint =
    scenario
        ("GC (CNI 1.1), Minuteman on: a stale attachment of a container ID that is still listed (eth1, in an earlier "
         + "sandbox netns since deleted) loses its Spartan lease and record, but not the container's checkpoint")
        false
        (fun scene ->
            let dir, settle, conf = watchedCheckpoints scene false
            let a = scene.ContainerId
            let eth0, eth1 = L4lbInAgent.ifName, "eth1"
            let aFile = Path.Combine(dir, a)

            withNetns (scene.Container + "o") (fun earlier ->
                // the container's earlier sandbox, attached as eth1, then lost without a DEL
                let first = runFor scene "ADD" a (Some earlier) eth1 conf
                expectOk "ADD in the earlier sandbox (eth1)" first
                Netns.delete (scene.Container + "o")
                // its new sandbox, attached as eth0: the checkpoint now names this netns
                let output = add scene conf

                Expect.equal
                    (settle ())
                    [ CloseWrite(a, Ok(System.Text.Encoding.UTF8.GetBytes earlier)); CloseWrite(a, Ok(netnsBytes scene)) ]
                    "the events of both ADDs"

                Expect.equal (records scene) [ $"{a}@{eth0}"; $"{a}@{eth1}" ] "attachment records after both ADDs"
                Expect.equal (spartanLeases scene) [ $"{a} {eth0}"; $"{a} {eth1}" ] "Spartan leases after both ADDs"
                let written = File.GetLastWriteTimeUtc aFile

                expectOk "GC" (L4lb.gc scene conf [ a, eth0 ])
                Expect.equal (settle ()) [] "the events of GC: none, the checkpoint stays"
                Expect.equal (File.GetLastWriteTimeUtc aFile) written "the checkpoint file is untouched"
                expectKeptByGc scene dir
                Expect.isNone (Kernel.link scene.Agent (Kernel.hostVethName a eth1)) "the eth1 attachment's host veth"
                expectOk "CHECK after GC" (L4lb.run scene "CHECK" (L4lbInAgent.withPrevResult conf output))

                // the runtime's DELs: the live attachment's first (DEL removes the checkpoint
                // by container ID), then the stale one's, which releases its delegate lease
                del scene conf output
                Expect.equal (settle ()) [ Delete a ] "the events of the eth0 DEL"
                expectOk "DEL of eth1" (runFor scene "DEL" a None eth1 (L4lbInAgent.withPrevResult conf first.Stdout))
                Expect.equal (settle ()) [] "the events of the eth1 DEL")

            expectAllGone scene dir)

// ---- upgrade: an attachment of the original plugin ----------------------------------

let private attachedByOriginal =
    scenario
        ("attached by the original plugin (its footprint by hand: random host veth, lease, checkpoint, minuteman link), "
         + "config raised to 1.1.0: CHECK passes; DEL leaves nothing, and the watcher sees one delete")
        false
        (fun scene ->
            let dir, settle, conf = watchedCheckpoints scene false
            conf["cniVersion"] <- System.Text.Json.Nodes.JsonValue.Create "1.1.0"

            let footprint =
                OriginalAttachment.make
                    (OriginalAttachment.inScene scene OriginalAttachment.WithIfName (Some dir) true)
                    conf

            Expect.equal (settle ()) [ CloseWrite(scene.ContainerId, Ok(netnsBytes scene)) ] "the original's registration"
            expectRegistered scene dir
            expectSpartan scene
            Expect.isSome (Kernel.link scene.Agent footprint.HostVeth) $"{footprint.HostVeth} in the agent"

            let conf = L4lbInAgent.withPrevResult conf (OriginalAttachment.resultAs "1.1.0" footprint.DelegateResult)
            expectOk "CHECK" (L4lb.run scene "CHECK" conf)
            Expect.equal (settle ()) [] "the events of CHECK"
            expectOk "DEL" (L4lb.run scene "DEL" conf)
            Expect.equal (settle ()) [ Delete scene.ContainerId ] "the events of DEL"
            Expect.isNone (Kernel.link scene.Agent footprint.HostVeth) $"{footprint.HostVeth} in the agent"
            Expect.isEmpty (Kernel.tableRoutes scene.Agent "main" |> List.filter (fun r -> r.Destination = footprint.Address)) "the agent's route to the Spartan address"
            expectAllGone scene dir)

let cases = [ gcReleasesLost; gcKeepsListedCheckpoint; attachedByOriginal ]
