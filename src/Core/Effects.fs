namespace Dcos.L4lb

open System

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

/// An address in a plan. The Spartan address is only known once the IPAM plugin has
/// answered, so a plan names it and the machine fills it in before the runner sees it.
type Address =
    | Fixed of Ipv4
    | SpartanAddress

    member a.Describe() =
        match a with
        | Fixed ip -> ip.ToString()
        | SpartanAddress -> "<spartan address>"

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

        $"{r.Destination.Describe()}/{r.PrefixLength} dev {r.Device} scope {r.Scope.Name}{source}"

/// One run of another CNI plugin (the delegate or the Spartan IPAM plugin): the binary
/// `Type` found in `Path`, the CNI_* variables, the config on stdin.
type PluginCall =
    { Type: string
      Command: string
      Environment: (string * string) list
      Config: Json
      Path: string list
      /// How long the runner waits before it kills the plugin.
      TimeoutMs: int }

    member c.Describe() = $"{c.Type} {c.Command}"

/// What the runner does, exactly and nothing more. Mutations report Completed or
/// Failed; queries report what they found.
type Effect =
    /// Writes 1 to /proc/sys/net/ipv4/ip_forward.
    | EnableIpv4Forwarding
    /// Takes an exclusive lock on this file (created, with its directory, when missing),
    /// waiting for it; the lock is held until the plugin exits.
    | TakeLock of path: string
    /// Releases a lock this process took (GC holds one attachment's at a time).
    | ReleaseLock of path: string
    | RunPlugin of PluginCall
    /// One request that creates both ends: `Container` inside the netns, `Host` in the
    /// host namespace; both down.
    | CreateVeth of netns: string * container: string * host: string * mtu: int option
    | CreateDummy of Namespace * name: string
    | SetLinkUp of Namespace * name: string
    | AddAddress of Namespace * link: string * Address * prefixLength: int
    | AddRoute of Namespace * Route
    /// Deleting one end of a veth pair deletes the other and every route through either.
    /// A missing link, or a missing netns, is reported as Failed NotFound.
    | DeleteLink of Namespace * name: string
    /// Creates the directory (mode 0755) when missing; the file appears under its final
    /// name complete, in one close-write.
    | WriteCheckpoint of directory: string * containerId: string * content: string
    | RemoveCheckpoint of directory: string * containerId: string
    /// Query: the link's kind, state and IPv4 addresses.
    | InspectLink of Namespace * name: string
    /// Query: the main-table IPv4 routes whose output device is this link.
    | InspectRoutes of Namespace * link: string
    /// Query: a checkpoint file's content.
    | ReadCheckpoint of directory: string * containerId: string
    /// This plugin's own record of an attachment (what GC finds stale attachments by):
    /// written to a dot-file and renamed into place, the directory created when missing.
    | WriteAttachment of directory: string * name: string * content: string
    | RemoveAttachment of directory: string * name: string
    /// Query: every attachment record in the directory (none when it does not exist).
    | ListAttachments of directory: string
    /// Query: one attachment record, as it is now.
    | ReadAttachment of directory: string * name: string
    /// Query: is there an executable plugin of this type in these directories?
    | FindPlugin of pluginType: string * path: string list
    /// Query: could this process write here (the file, or the directory, or for a path
    /// that does not exist yet, its nearest existing parent)?
    | CheckWritable of path: string

    member e.Describe() =
        match e with
        | EnableIpv4Forwarding -> "enable IPv4 forwarding"
        | TakeLock path -> $"lock {path}"
        | ReleaseLock path -> $"unlock {path}"
        | RunPlugin call -> $"run {call.Describe()}"
        | CreateVeth(netns, container, host, _) -> $"create veth {container} in {netns} with peer {host} on the host"
        | CreateDummy(ns, name) -> $"create dummy link {name} in {ns.Describe()}"
        | SetLinkUp(ns, name) -> $"set {name} up in {ns.Describe()}"
        | AddAddress(ns, link, address, length) -> $"add address {address.Describe()}/{length} to {link} in {ns.Describe()}"
        | AddRoute(ns, route) -> $"add route {route.Describe()} in {ns.Describe()}"
        | DeleteLink(ns, name) -> $"delete link {name} in {ns.Describe()}"
        | WriteCheckpoint(dir, id, _) -> $"write checkpoint {dir}/{id}"
        | RemoveCheckpoint(dir, id) -> $"remove checkpoint {dir}/{id}"
        | InspectLink(ns, name) -> $"inspect link {name} in {ns.Describe()}"
        | InspectRoutes(ns, link) -> $"list routes via {link} in {ns.Describe()}"
        | ReadCheckpoint(dir, id) -> $"read checkpoint {dir}/{id}"
        | WriteAttachment(dir, name, _) -> $"record attachment {dir}/{name}"
        | RemoveAttachment(dir, name) -> $"remove attachment record {dir}/{name}"
        | ListAttachments dir -> $"list attachment records in {dir}"
        | ReadAttachment(dir, name) -> $"read attachment record {dir}/{name}"
        | FindPlugin(t, path) -> $"find plugin {t} in {String.Join(':', path)}"
        | CheckWritable path -> $"check that {path} is writable"

type FailureKind =
    /// The thing (link, file, netns) is not there.
    | NotFound
    | AlreadyExists
    /// The kernel lacks the feature (for example the dummy link type).
    | Unsupported
    /// A file or directory operation failed.
    | Io
    /// A plugin ran past its time and was killed: it may have done part of its work.
    | TimedOut
    | OtherFailure

    member kind.Name =
        match kind with
        | NotFound -> "not found"
        | AlreadyExists -> "already exists"
        | Unsupported -> "unsupported"
        | Io -> "I/O"
        | TimedOut -> "timed out"
        | OtherFailure -> "failure"

type Failure =
    { Kind: FailureKind
      Message: string }

type LinkState =
    { Kind: string
      Up: bool
      Addresses: (Ipv4 * int) list }

/// A route as the kernel lists it.
type RouteEntry =
    { Destination: Ipv4
      PrefixLength: int
      Scope: RouteScope
      Source: Ipv4 option }

/// An attachment record file as the runner found it.
type AttachmentRecord =
    { Name: string
      Content: string
      /// Last modification, in 100 ns ticks: a record rewritten by a later ADD differs.
      Modified: int64 }

/// What the runner reports after carrying out one effect.
type Outcome =
    | Completed
    /// A plugin ran to its end: its exit code and its stdout.
    | PluginExited of exitCode: int * stdout: byte[]
    | LinkFound of LinkState
    | RoutesFound of RouteEntry list
    | CheckpointFound of content: string
    | AttachmentsFound of AttachmentRecord list
    | AttachmentFound of AttachmentRecord
    | Failed of Failure

module Outcome =
    let failed kind message = Failed { Kind = kind; Message = message }
