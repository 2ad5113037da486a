namespace Dcos.L4lb

open System
open System.Collections.Generic

/// Where a link or route lives.
type Namespace =
    /// The namespace the plugin runs in: the agent's.
    | HostNs
    /// A container's network namespace, by its CNI_NETNS path.
    | ContainerNs of path: string

    member ns.Describe() =
        match ns with
        | HostNs -> "the host"
        | ContainerNs path -> path

    /// For the host: the netns path, or null for the host's own namespace.
    member ns.NetnsPath: string | null =
        match ns with
        | HostNs -> null
        | ContainerNs path -> path

/// An address in a step. The Spartan address is only known once the IPAM plugin has
/// answered, so a step names it and the step runner fills it in before the host sees it.
type Address =
    | Fixed of address: Ipv4
    | SpartanAddress

    member a.Describe() =
        match a with
        | Fixed ip -> ip.ToString()
        | SpartanAddress -> "<spartan address>"

    /// For whoever carries a change out, which only ever sees resolved addresses.
    member a.Resolved: Ipv4 =
        match a with
        | Fixed ip -> ip
        | SpartanAddress -> invalidOp "the Spartan address is resolved before an effect reaches the host"

    member a.Value = a.Resolved.Value

type RouteScope =
    | LinkScope
    | UniverseScope

    member s.Name =
        match s with
        | LinkScope -> "link"
        | UniverseScope -> "global"

/// A route in the main table: `Destination/PrefixLength dev Device scope Scope [src Source]`.
type Route =
    { Destination: Address
      PrefixLength: int
      Device: string
      Scope: RouteScope
      Source: Address option }

    member r.Describe() =
        let source =
            match r.Source with
            | Some s -> $" src {s.Describe()}"
            | None -> ""

        r.Destination.Describe() + "/" + string r.PrefixLength + " dev " + r.Device + " scope " + r.Scope.Name + source

    /// For the host: a route to a destination on the link itself (RT_SCOPE_LINK), not
    /// through a gateway.
    member r.IsLinkScope = (r.Scope = LinkScope)

    /// For the host: the source address, or null.
    member r.SourceValue: Nullable<uint32> =
        match r.Source with
        | Some s -> Nullable s.Value
        | None -> Nullable()

/// One run of another CNI plugin (the delegate or the Spartan IPAM plugin): the binary
/// `Type` found in `Path`, the CNI_* variables, the config on stdin.
type PluginCall =
    { Type: string
      Command: string
      Environment: KeyValuePair<string, string>[]
      Config: Json
      Path: string[]
      /// How long the host waits before it kills the plugin.
      TimeoutMs: int }

    member c.Describe() = $"{c.Type} {c.Command}"

    /// The config as the plugin reads it on stdin.
    member c.Stdin() = Json.render c.Config

/// The two kinds of small file the plugin keeps: the same store, different readers.
type FileKind =
    /// Minuteman's, one per container, named by container ID; read by dcos-net.
    | Checkpoint
    /// This plugin's own, one per attachment: what GC finds stale attachments by.
    | AttachmentRecord

    member k.Name =
        match k with
        | Checkpoint -> "checkpoint"
        | AttachmentRecord -> "attachment record"

/// One method per kind of change, with its parameters by name: whoever carries changes out
/// (the host, the model) implements all of them, so none can be missed (see `Change.Handle`).
/// Addresses arrive resolved.
type IChangeHandler<'r> =
    abstract EnableIpv4Forwarding: unit -> 'r
    abstract TakeLock: path: string -> 'r
    abstract ReleaseLock: path: string -> 'r
    abstract CreateVeth: netns: string * container: string * host: string * mtu: Nullable<int> -> 'r
    abstract CreateDummy: ns: Namespace * name: string -> 'r
    abstract SetLinkUp: ns: Namespace * name: string -> 'r
    abstract AddAddress: ns: Namespace * link: string * address: Ipv4 * prefixLength: int -> 'r
    abstract AddRoute: ns: Namespace * route: Route -> 'r
    abstract DeleteLink: ns: Namespace * name: string -> 'r
    abstract WriteCheckpoint: directory: string * containerId: string * content: string -> 'r
    abstract WriteRecord: directory: string * name: string * content: string -> 'r
    abstract RemoveFile: kind: FileKind * directory: string * name: string -> 'r
    abstract FindPlugin: pluginType: string * path: string[] -> 'r
    abstract CheckWritable: path: string -> 'r
    abstract CheckExists: path: string -> 'r

/// A change to the host, or a probe of it: answered Completed or Failed.
type Change =
    /// Writes 1 to /proc/sys/net/ipv4/ip_forward.
    | EnableIpv4Forwarding
    /// Takes an exclusive lock on this file (created, with its directory, when missing),
    /// waiting for it; the lock is held until released or until the process exits.
    | TakeLock of path: string
    /// Releases a lock this process took (GC holds one attachment's at a time).
    | ReleaseLock of path: string
    /// One request that creates both ends: `Container` inside the netns, `Host` in the
    /// host namespace; both down.
    | CreateVeth of netns: string * container: string * host: string * mtu: Nullable<int>
    | CreateDummy of ns: Namespace * name: string
    | SetLinkUp of ns: Namespace * name: string
    | AddAddress of ns: Namespace * link: string * address: Address * prefixLength: int
    | AddRoute of ns: Namespace * route: Route
    /// Deleting one end of a veth pair deletes the other and every route through either.
    /// A missing link, or a missing netns, is reported as Failed NotFound.
    | DeleteLink of ns: Namespace * name: string
    /// Creates the directory (mode 0755) when missing; the file appears under its final
    /// name complete, in one close-write (what Minuteman's consumer watches for).
    | WriteCheckpoint of directory: string * containerId: string * content: string
    /// This plugin's own record of an attachment (what GC finds stale attachments by):
    /// written to a dot-file and renamed into place, the directory created when missing.
    | WriteRecord of directory: string * name: string * content: string
    /// Removes a checkpoint or a record (and a dot-file a crash left of it).
    | RemoveFile of kind: FileKind * directory: string * name: string
    /// Probe: is there an executable plugin of this type in these directories?
    | FindPlugin of pluginType: string * path: string[]
    /// Probe: could this process write here (the file, or the directory, or for a path
    /// that does not exist yet, its nearest existing parent)?
    | CheckWritable of path: string
    /// Probe: does this path exist (a container's netns, for l4lbctl's GC)?
    | CheckExists of path: string

    member c.Describe() =
        match c with
        | EnableIpv4Forwarding -> "enable IPv4 forwarding"
        | TakeLock path -> $"lock {path}"
        | ReleaseLock path -> $"unlock {path}"
        | CreateVeth(netns, container, host, _) -> "create veth " + container + " in " + netns + " with peer " + host + " on the host"
        | CreateDummy(ns, name) -> "create dummy link " + name + " in " + ns.Describe()
        | SetLinkUp(ns, name) -> "set " + name + " up in " + ns.Describe()
        | AddAddress(ns, link, address, length) -> "add address " + address.Describe() + "/" + string length + " to " + link + " in " + ns.Describe()
        | AddRoute(ns, route) -> "add route " + route.Describe() + " in " + ns.Describe()
        | DeleteLink(ns, name) -> "delete link " + name + " in " + ns.Describe()
        | WriteCheckpoint(dir, id, _) -> "write checkpoint " + dir + "/" + id
        | WriteRecord(dir, name, _) -> "record attachment " + dir + "/" + name
        | RemoveFile(kind, dir, name) -> "remove " + kind.Name + " " + dir + "/" + name
        | FindPlugin(t, path) -> "find plugin " + t + " in " + String.Join(':', path)
        | CheckWritable path -> $"check that {path} is writable"
        | CheckExists path -> $"check that {path} exists"

    /// Hands the change to the handler's method for its kind.
    member c.Handle(h: IChangeHandler<'r>) : 'r =
        match c with
        | EnableIpv4Forwarding -> h.EnableIpv4Forwarding()
        | TakeLock path -> h.TakeLock path
        | ReleaseLock path -> h.ReleaseLock path
        | CreateVeth(netns, container, host, mtu) -> h.CreateVeth(netns, container, host, mtu)
        | CreateDummy(ns, name) -> h.CreateDummy(ns, name)
        | SetLinkUp(ns, name) -> h.SetLinkUp(ns, name)
        | AddAddress(ns, link, address, length) -> h.AddAddress(ns, link, address.Resolved, length)
        | AddRoute(ns, route) -> h.AddRoute(ns, route)
        | DeleteLink(ns, name) -> h.DeleteLink(ns, name)
        | WriteCheckpoint(directory, containerId, content) -> h.WriteCheckpoint(directory, containerId, content)
        | WriteRecord(directory, name, content) -> h.WriteRecord(directory, name, content)
        | RemoveFile(kind, directory, name) -> h.RemoveFile(kind, directory, name)
        | FindPlugin(pluginType, path) -> h.FindPlugin(pluginType, path)
        | CheckWritable path -> h.CheckWritable path
        | CheckExists path -> h.CheckExists path

/// A plugin the host has started and not yet awaited.
type RunningPlugin =
    { /// The host's handle for it.
      Id: int
      Call: PluginCall }

/// What the host does, as data: what logs, traces and `l4lbctl plan` show. Each kind is
/// answered with its own outcome (see Requests.fs).
type Effect =
    | Change of change: Change
    /// Starts a plugin: answered with a handle, or Failed (not found, cannot run).
    | StartPlugin of call: PluginCall
    /// Waits for a started plugin to exit (killing it at its timeout): its exit code and
    /// stdout, or Failed TimedOut (Interrupted: killed before its end for another reason).
    | AwaitPlugin of plugin: RunningPlugin
    /// The link's kind, state and IPv4 addresses.
    | InspectLink of ns: Namespace * name: string
    /// The main-table IPv4 routes whose output device is this link.
    | ListRoutes of ns: Namespace * link: string
    /// One small file (a checkpoint, an attachment record) as it is now.
    | ReadFile of kind: FileKind * directory: string * name: string
    /// Every file of a directory (none when it does not exist), dot-files left out.
    | ListFiles of kind: FileKind * directory: string

    member e.Describe() =
        match e with
        | Change c -> c.Describe()
        | StartPlugin call -> $"start {call.Describe()}"
        | AwaitPlugin p -> $"run {p.Call.Describe()}"
        | InspectLink(ns, name) -> "inspect link " + name + " in " + ns.Describe()
        | ListRoutes(ns, link) -> "list routes via " + link + " in " + ns.Describe()
        | ReadFile(kind, dir, name) -> "read " + kind.Name + " " + dir + "/" + name
        | ListFiles(kind, dir) -> "list " + kind.Name + "s in " + dir

type FailureKind =
    /// The thing (link, file, netns, plugin) is not there.
    | NotFound
    | AlreadyExists
    /// The kernel lacks the feature (for example the dummy link type).
    | Unsupported
    /// A file or directory operation failed.
    | Io
    /// A plugin ran past its time and was killed: it may have done part of its work.
    | TimedOut
    /// The effect was under way or done when the host failed at it (a plugin killed before
    /// its end, its output past the limit; a change made whose outcome the core could not
    /// take): it may have taken place.
    | Interrupted
    | OtherFailure

    member kind.Name =
        match kind with
        | NotFound -> "not found"
        | AlreadyExists -> "already exists"
        | Unsupported -> "unsupported"
        | Io -> "I/O"
        | TimedOut -> "timed out"
        | Interrupted -> "interrupted"
        | OtherFailure -> "failure"

type Failure =
    { Kind: FailureKind
      Message: string }

/// An IPv4 address on a link.
type LinkAddress = { Address: Ipv4; PrefixLength: int }

type LinkState =
    { Kind: string
      Up: bool
      Addresses: LinkAddress[]
      /// For a veth in a container: the name of its other end when that is in the host's
      /// namespace; null otherwise.
      Peer: string | null }

/// A route as the kernel lists it.
type RouteEntry =
    { Destination: Ipv4
      PrefixLength: int
      Scope: RouteScope
      /// The preferred source, when the route has one.
      Source: Nullable<Ipv4> }

/// A small file (a checkpoint, an attachment record) as the host found it.
type StoredFile =
    { Name: string
      Content: string
      /// Last modification, in 100 ns ticks: a record rewritten by a later ADD differs.
      Modified: int64 }

/// A plugin that ran to its end.
type PluginExit = { ExitCode: int; Stdout: byte[] }
