namespace Dcos.L4lb

open System
open System.Text

/// The names and paths this plugin gives what it makes: derived from the attachment
/// (container ID and ifname) alone, so a retry, CHECK, DEL and GC find them without state.
module Naming =
    let minutemanLink = Defaults.minutemanLink

    let private fnvPrime = 0x100000001b3UL

    /// FNV-1a over the UTF-8 bytes of `text`, continuing from `hash`. ASCII (every container
    /// ID, almost every ifname) is hashed as it stands, without copying the string.
    let private fnv (hash: uint64) (text: string) =
        let mutable h = hash

        if Ascii.IsValid text then
            for i in 0 .. text.Length - 1 do
                h <- (h ^^^ uint64 text[i]) * fnvPrime
        else
            let bytes = Encoding.UTF8.GetBytes text

            for i in 0 .. bytes.Length - 1 do
                h <- (h ^^^ uint64 bytes[i]) * fnvPrime

        h

    /// A 64-bit FNV-1a hash of container ID, a NUL and ifname: the attachment's stable
    /// identity.
    let private attachmentHash (containerId: string) (ifName: string) =
        let h = fnv 0xcbf29ce484222325UL containerId
        fnv ((h ^^^ 0UL) * fnvPrime) ifName

    /// The host end of the Spartan veth. "spt" + 12 hex digits (the hash's low 48 bits) is
    /// 15 bytes, the kernel's limit.
    let hostVethName (containerId: string) (ifName: string) =
        "spt" + (attachmentHash containerId ifName &&& 0xFFFFFFFFFFFFUL).ToString("x12")

    /// Where ADD and DEL serialise: one of 64 lock files chosen by container ID and ifname
    /// (a fixed set, so none is ever left behind), next to the IPAM plugins' own state.
    let lockPath (containerId: string) (ifName: string) =
        "/var/lib/cni/dcos-l4lb/lock." + (attachmentHash containerId ifName % 64UL).ToString()

    /// GCs of one host serialise on this lock; only a GC holds more than one lock at a
    /// time, so no two processes can wait for each other's locks.
    let gcLockPath = "/var/lib/cni/dcos-l4lb/lock.gc"

    /// Where ADD records the attachments of a network, one file per attachment: what GC
    /// finds stale attachments by (the Minuteman checkpoints exist only with Minuteman).
    let attachmentDirectory (conf: NetConf) = "/var/lib/cni/dcos-l4lb/attachments/" + conf.Name

    /// "<container ID>@<ifname>": a container ID never holds '@', so the first one splits.
    let attachmentName (containerId: string) (ifName: string) = containerId + "@" + ifName

    let parseAttachmentName (name: string) : Attachment option =
        match name.IndexOf '@' with
        | i when i > 0 ->
            let a = { ContainerId = name.Substring(0, i); IfName = name.Substring(i + 1) }
            if Invocation.isValidContainerId a.ContainerId && Invocation.isValidIfName a.IfName then Some a else None
        | _ -> None
