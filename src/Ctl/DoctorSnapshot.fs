/// What `l4lbctl doctor` sees of an agent (DoctorLook takes it), what it finds (Doctor
/// judges) and what --fix does about it (DoctorFix): data only.
module Dcos.L4lb.Ctl.DoctorSnapshot

open System
open Dcos.L4lb

/// How much a finding matters. Errors and warnings make doctor exit 1; a note does not.
type Severity =
    /// ADD fails, or a service the containers rely on is broken.
    | Error
    /// A leftover, or something that degrades the containers without breaking ADD.
    | Warning
    /// Worth knowing; nothing to fix.
    | Note

    member s.Name =
        match s with
        | Error -> "error"
        | Warning -> "warning"
        | Note -> "note"

/// What a plugin's VERSION said, or why it said nothing.
type PluginProbe =
    | NotInPath
    | Speaks of path: string * versions: string list
    | Unanswered of path: string * problem: string

/// A plugin the network needs: its part in the network and its type.
type NeededPlugin =
    | Wrapper
    | DelegatePlugin of pluginType: string
    | SpartanIpam of pluginType: string

    member p.Type =
        match p with
        | Wrapper -> Core.name
        | DelegatePlugin t
        | SpartanIpam t -> t

    member p.Role =
        match p with
        | Wrapper -> "the plugin"
        | DelegatePlugin _ -> "the delegate"
        | SpartanIpam _ -> "the Spartan IPAM plugin"

/// A link of the agent, from `ip -j -d addr`.
type AgentLink =
    {
        Name: string
        /// "veth", "bridge", "dummy", ... ("" for none).
        Kind: string
        /// A veth's peer is known to the kernel (its ifindex is reported).
        HasPeer: bool
        Addresses: Ipv4 list
    }

/// A lease file of host-local in the Spartan IPAM network: named by the address, holding
/// the container ID and (since range sets) the ifname, a line each.
type Lease =
    {
        Address: Ipv4
        File: string
        ContainerId: string
        /// None: written by the host-local of the original's day, which kept the ID alone.
        IfName: string option
    }

    /// The ifname host-local DEL is sent with: the lease's own, or for an ID-only lease
    /// any (host-local releases those by ID); the original passed the runtime's, eth0.
    member l.ReleaseIfName = defaultArg l.IfName "eth0"

/// An attachment record, of this network or another.
type Record =
    { Network: string
      Attachment: Attachment
      Netns: string }

/// A file whose name starts with '.': a write (dot-file, then rename) in progress, or
/// one a crash cut short.
type DotFile =
    { Directory: string
      Name: string
      Age: TimeSpan }

/// What doctor saw of the agent for one network.
type Snapshot =
    {
        Conf: NetConf
        CniPath: string list
        Plugins: (NeededPlugin * PluginProbe) list
        Links: AgentLink list
        /// The /32 destinations of the main table's routes, with their device.
        HostRoutes: (Ipv4 * string) list
        /// /proc/sys/net/ipv4/ip_forward is 1; None when it cannot be read.
        Forwarding: bool option
        /// Whether a dummy link could be made (in a throwaway netns); None: Minuteman off.
        DummyLinks: Result<bool, string> option
        /// Whether ADD could write the checkpoint directory; None: Minuteman off.
        CheckpointDirectory: Result<unit, string> option
        /// Every network's attachment records.
        Records: Record list
        /// The Minuteman checkpoints (none with Minuteman off).
        Checkpoints: StoredFile list
        /// The leases of the Spartan IPAM network (none unless it is host-local's).
        Leases: Lease list
        DotFiles: DotFile list
        /// The netns paths named by records and checkpoints that exist.
        LiveNetns: Set<string>
    }

/// What --fix does about a finding.
type Repair =
    /// The plugin's own GC for the network, as `l4lbctl gc` runs it.
    | PluginGc
    /// The Spartan IPAM plugin's DEL for the lease's container and ifname.
    | ReleaseLease of Lease
    | DeleteHostVeth of name: string
    | RemoveDotFile of DotFile

    member r.Describe() =
        match r with
        | PluginGc -> "run the plugin's GC for the network (as l4lbctl gc)"
        | ReleaseLease l ->
            $"run the Spartan IPAM plugin's DEL for container {l.ContainerId}, ifname {l.ReleaseIfName} ({l.File})"
        | DeleteHostVeth name -> $"delete link {name} in the host"
        | RemoveDotFile d -> $"remove {IO.Path.Combine(d.Directory, d.Name)}"

type Finding =
    {
        /// A stable name of the check, for scripts.
        Check: string
        Severity: Severity
        /// What the finding is about, e.g. the lease's address and file.
        Subject: string
        Meaning: string
        /// The command that fixes it.
        Advice: string
        /// What --fix does about it; None: --fix leaves it (not a leftover, or not safely).
        Repair: Repair option
    }
