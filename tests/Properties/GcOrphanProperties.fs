/// GC (CNI 1.1) on the pure host model, of the Minuteman checkpoints the original plugin
/// left without a record: they go once nothing can use them, and stay while anything can.
module Dcos.L4lb.Tests.GcOrphanProperties

open System
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb
open Dcos.L4lb.HostModel
open Dcos.L4lb.Tests.Generators
open Dcos.L4lb.Tests.Invocations
open Dcos.L4lb.Tests.PropertyTest
open Dcos.L4lb.Tests.GcProperties

/// A scenario with Minuteman on, and the ID of a container the original plugin attached:
/// its checkpoint, naming its netns, and no record (the original kept none).
let private orphanScenario: Gen<GcScenario * string> =
    Gen.zip (gcScenario |> Gen.filter (fun s -> s.Conf.Minuteman.Enabled)) (cniName |> Gen.map ((+) "o"))

let private orphanNetns (id: string) = $"/run/netns/{id}"

let private withOrphan (conf: NetConf) (id: string) (w: World) =
    { w with Files = w.Files.Add((conf.Minuteman.Path, id), orphanNetns id) }

/// GC with these attachments listed besides the scenario's valid ones.
let private gcListing (s: GcScenario) (extra: Attachment list) w =
    invoke { (gcConf s) with ValidAttachments = Some((gcConf s).ValidAttachments.Value @ extra) } gcInvocation w

/// Why a checkpoint without a record of its own must stay: each sets up the world (and
/// the GC's list and faults) so that only that reason holds.
type private KeptBecause =
    | NetnsExists
    | ListNamesContainer
    | RecordHasContainer

/// This file's properties get 200 cases each, as GcProperties'.
let private property name body = propertyWith 200 name body

let orphans =
    testList
        "GC of orphaned Minuteman checkpoints"
        [ property "a checkpoint without a record, whose netns is gone and whose container the list does not name, is removed; nothing else changes"
          <| Prop.forAll (Arb.fromGen orphanScenario) (fun (s, orphan) ->
              let w0 = attached s
              let withoutOrphan, _, _ = gcOn s w0
              let w, reply, _ = gcOn s (withOrphan s.Conf orphan w0)
              (reply.ExitCode = 0 && w = withoutOrphan) |> Prop.label (replyText reply))

          property "a checkpoint without a record stays while its netns exists, the list names its container, or a record of this network has its container ID"
          <| Prop.forAll (Arb.fromGen (Gen.zip orphanScenario (Gen.elements [ NetnsExists; ListNamesContainer; RecordHasContainer ]))) (fun ((s, orphan), reason) ->
              let w0 = withOrphan s.Conf orphan (attached s)
              let directory = Naming.attachmentDirectory s.Conf
              let record = Naming.attachmentName orphan "eth0"

              let w, reply, _ =
                  match reason with
                  | NetnsExists -> gcOn s (addNetns (orphanNetns orphan) w0)
                  | ListNamesContainer -> gcListing s [ { ContainerId = orphan; IfName = "eth0" } ] w0
                  | RecordHasContainer ->
                      // a record GC cannot act on (its attachment's lock is not to be had):
                      // the checkpoint is that attachment's, for a later GC or DEL
                      let w0 = fst (change w0 (WriteRecord(directory, record, orphanNetns orphan)))
                      let lock = Naming.lockPath orphan "eth0"
                      let inject _ effect = match effect with Change(TakeLock path) when path = lock -> Some(failure "no locks today") | _ -> None
                      runWith inject w0 (gcProgram s)

              (w.Files.TryFind(s.Conf.Minuteman.Path, orphan) = Some(orphanNetns orphan)
               && (reason = RecordHasContainer || reply.ExitCode = 0))
              |> Prop.label $"{reason}: {replyText reply}")

          property "an orphaned checkpoint rewritten while GC looks at it (a new container with that ID) stays"
          <| Prop.forAll (Arb.fromGen orphanScenario) (fun (s, orphan) ->
              let key = s.Conf.Minuteman.Path, orphan
              let rewritten = orphanNetns (orphan + "-again")

              // the runtime starts a container with that ID between GC's listing of the
              // checkpoints and its look at this one
              let rewrite effect (w: World) =
                  match effect with
                  | ReadFile(Checkpoint, dir, name) when (dir, name) = key -> { w with Files = w.Files.Add(key, rewritten) }
                  | _ -> w

              let w, reply = runInterleaved rewrite (withOrphan s.Conf orphan (attached s)) (gcProgram s)
              (reply.ExitCode = 0 && w.Files.TryFind key = Some rewritten) |> Prop.label (replyText reply)) ]
