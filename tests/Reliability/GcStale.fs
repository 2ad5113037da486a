/// What the GC tests share: stale attachments (attached, then lost by the runtime), GC as
/// a runtime speaking CNI 1.1 sends it, and what a released attachment looks like.
module Dcos.L4lb.Tests.Reliability.GcStale

open System.IO
open System.Text
open System.Text.Json.Nodes
open Expecto
open Dcos.L4lb.Tests


/// The attachment records (Naming.attachmentDirectory), dot-files included.
let records (scene: Scene) : string list = scene.AttachmentRecords

/// The record of this container's attachment.
let record (c: Container) = $"{c.Id}@{L4lbInAgent.ifName}"

/// The lock file ADD and DEL (and GC, for a stale attachment) take for this attachment:
/// /var/lib/cni/dcos-l4lb/lock.<n>, n = FNV-1a-64(containerId NUL ifname) mod 64
/// (Naming.lockPath).
let lockNumber (containerId: string) (ifName: string) =
    let mutable hash = 0xcbf29ce484222325UL

    for b in Encoding.UTF8.GetBytes(containerId + "\000" + ifName) do
        hash <- (hash ^^^ uint64 b) * 0x100000001b3UL

    hash % 64UL

/// GC as a runtime speaking CNI 1.1 sends it, listing `valid`; the effect log goes to `log`.
let gcInvocation (scene: Scene) (config: JsonNode) (valid: Container list) (log: string) =
    { L4lb.ofNetwork scene "GC" (L4lb.gcConfig config [ for c in valid -> c.Id, L4lbInAgent.ifName ]) with
        Environment = [ "DCOS_L4LB_LOG_FILE", log ] }

let gc (scene: Scene) config valid log : Command.Outcome =
    L4lb.exec (gcInvocation scene config valid log)

let startGc (scene: Scene) config valid log : Processes.Running =
    L4lb.start (gcInvocation scene config valid log)

/// The container with another ID, one whose lock file is that of `other`.
let sharingLockWith (other: Container) (c: Container) =
    let n = lockNumber other.Id L4lbInAgent.ifName

    { c with
        Id =
            Seq.initInfinite (fun j -> $"{c.Id}-x{j}")
            |> Seq.find (fun id -> lockNumber id L4lbInAgent.ifName = n) }

let add (scene: Scene) conf (c: Container) =
    L4lb.exec (L4lb.invocation scene "ADD" c conf)

/// DEL as the runtime sends it for a container whose netns may be gone (None: no netns).
let del (scene: Scene) conf (c: Container) (netns: string option) =
    L4lb.exec { L4lb.invocation scene "DEL" c conf with Netns = netns }

/// The stale container is released: no Spartan lease, no record, no host veth; a netns
/// that is still there lost its Spartan veth with the host end.
let expectReleased (scene: Scene) (c: Container) =
    Expect.equal (scene.AllocationOf Spartan.ipamNetwork c.Id) [] $"{c.Id}: Spartan IPAM allocations"
    Expect.isFalse (List.contains (record c) (records scene)) $"{c.Id}: its attachment record is left"

    Expect.isNone
        (Kernel.link scene.Agent (Kernel.hostVethName c.Id L4lbInAgent.ifName))
        $"{c.Id}: its host veth is left"

    if File.Exists c.Path then
        Expect.equal
            (Kernel.linkNames c.Netns)
            [ "eth0"; "lo" ]
            $"{c.Id}: the links of its netns (the delegate's stay until DEL)"
