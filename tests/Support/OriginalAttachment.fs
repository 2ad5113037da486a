/// What the original Go plugin (dcos/dcos-cni, cmd/l4lb with pkg/spartan and
/// pkg/minuteman, built on CNI 0.5's pkg/ip) leaves for an attached container, built by
/// hand in a scene's agent and container netns and its /var/lib, in the original's order:
/// - the delegate's attachment: the delegate run with ADD on the config the original gave
///   it (parent's name and cniVersion, `"args": null`), at 0.3.0, the newest it spoke;
/// - the Spartan lease: host-local's files in the `spartan-network` IPAM network;
/// - the Spartan veth, made in the container: its end `spartan`, up, holding the address
///   as a /32, with a `scope link` /32 route to each Spartan service address (src: the
///   address); the other end, named `veth` + 8 random hex digits (ip.RandomVethName), moved
///   to the host and set up; on the host a `scope link` /32 route to the address through it;
/// - with Minuteman: the checkpoint file (content: the netns path, no newline; its
///   directory made with mode 0644, as the original did), then the `minuteman` dummy link,
///   up, where the kernel has dummy links.
/// It keeps no record of its own: nothing else is left.
module Dcos.L4lb.Tests.OriginalAttachment

open System
open System.IO
open System.Text.Json.Nodes

/// How the host-local of the day wrote a lease.
type LeaseFormat =
    /// CNI 0.5's host-local (the original's time): the file holds the container ID; the
    /// last address handed out is in `last_reserved_ip`.
    | ContainerIdOnly
    /// host-local since range sets (Debian's 1.1.1 among them): "<container ID>\r\n<ifname>";
    /// the last address in `last_reserved_ip.0`. It still releases the older form by ID.
    | WithIfName

/// Where the attachment is made, and what of it.
type Where =
    {
        /// The agent netns (plays the host) and the container netns, by name.
        Agent: string
        Container: string
        /// CNI_NETNS: the container netns's path.
        Netns: string
        /// Bound onto /var/lib for the plugins.
        VarLib: string
        ContainerId: string
        IfName: string
        /// PATH for the delegate.
        SearchPath: string
        Lease: LeaseFormat
        /// The Minuteman checkpoint directory, when Minuteman was on.
        Checkpoints: string option
        /// Whether to make the `minuteman` dummy link (a kernel with dummy links).
        MinutemanLink: bool
    }

/// Where in an AgentScene: its agent, container, /var/lib and PATH, with the ifname every
/// case uses.
let inScene
    (scene: AgentScene)
    (lease: LeaseFormat)
    (checkpoints: string option)
    (minutemanLink: bool)
    : Where =
    { Agent = scene.Agent
      Container = scene.Container
      Netns = scene.Netns
      VarLib = scene.VarLib
      ContainerId = scene.ContainerId
      IfName = L4lbInAgent.ifName
      SearchPath = scene.SearchPath
      Lease = lease
      Checkpoints = checkpoints
      MinutemanLink = minutemanLink }

type Footprint =
    {
        /// The host end of the Spartan veth: "veth" + 8 hex digits.
        HostVeth: string
        /// The container's Spartan address (a /32 on `spartan`).
        Address: string
        /// The delegate's ADD result, which the original printed unchanged and a runtime
        /// cached.
        DelegateResult: string
    }

/// The original's Spartan address for the scene: any free one in the range will do; this
/// one is not host-local's first, so nothing can find it by assuming that.
let address = "198.51.100.23"

/// The version the original spoke: CNI 0.5's library stopped at 0.3.0.
let originalVersion = "0.3.0"

/// The delegate's config as the original built it from `config` (a dcos-l4lb config).
let delegateConfig (config: JsonObject) : JsonObject =
    let d = config["delegate"].DeepClone().AsObject()
    d["name"] <- config["name"].DeepClone()
    d["cniVersion"] <- JsonValue.Create originalVersion
    d["args"] <- null
    d

/// A result cached at 0.3.0 as libcni gives it to a config of `version` (prevResult for
/// CHECK and DEL): the 0.3.x/0.4.0 format is retagged; for 1.x the addresses lose
/// "version".
let resultAs (version: string) (result: string) : string =
    let r = (JsonNode.Parse result).AsObject()
    r["cniVersion"] <- JsonValue.Create version

    if version.StartsWith "1." && r.ContainsKey "ips" then
        for ip in r["ips"].AsArray() do
            ip.AsObject().Remove "version" |> ignore

    r.ToJsonString()

let private randomVethName () =
    let entropy = Array.zeroCreate<byte> 4
    Random.Shared.NextBytes entropy
    "veth" + Convert.ToHexString(entropy).ToLowerInvariant()

let private runDelegate (where: Where) (config: JsonObject) =
    let program, args =
        L4lbInAgent.inAgent
            ""
            where.VarLib
            where.Agent
            [ Path.Combine(L4lbInAgent.referencePlugins, string config["type"]) ]

    let env =
        L4lbInAgent.environment
            where.SearchPath
            "ADD"
            (Some where.ContainerId)
            (Some where.Netns)
            (Some where.IfName)
            [ L4lbInAgent.referencePlugins ]

    let o = Command.execute program args (Some env) (config.ToJsonString())

    if o.ExitCode <> 0 then
        failwith $"the delegate's ADD failed: {Command.describe o}"

    o.Stdout

let private writeLease (where: Where) =
    let dir = Path.Combine(where.VarLib, "cni", "networks", Spartan.ipamNetwork)

    let content, last, mode =
        match where.Lease with
        | ContainerIdOnly -> where.ContainerId, "last_reserved_ip", "644"
        | WithIfName -> where.ContainerId + "\r\n" + where.IfName, "last_reserved_ip.0", "755"

    Directory.CreateDirectory dir |> ignore
    Command.run "chmod" [ mode; dir ] |> ignore
    File.WriteAllText(Path.Combine(dir, address), content)
    File.WriteAllText(Path.Combine(dir, last), address)

let private spartanVeth (where: Where) =
    let hostVeth = randomVethName ()

    let inContainer args =
        Command.ip where.Container args |> ignore

    inContainer [ "link"; "add"; "spartan"; "type"; "veth"; "peer"; "name"; hostVeth ]
    inContainer [ "link"; "set"; "spartan"; "up" ]
    inContainer [ "link"; "set"; hostVeth; "netns"; where.Agent ]
    Command.ip where.Agent [ "link"; "set"; hostVeth; "up" ] |> ignore
    inContainer [ "addr"; "add"; address + "/32"; "dev"; "spartan" ]

    for service in Spartan.serviceAddresses do
        inContainer
            [ "route"
              "add"
              service + "/32"
              "dev"
              "spartan"
              "scope"
              "link"
              "src"
              address ]

    Command.ip where.Agent [ "route"; "add"; address + "/32"; "dev"; hostVeth; "scope"; "link" ]
    |> ignore

    hostVeth

let private register (where: Where) (dir: string) =
    if not (Directory.Exists dir) then
        Directory.CreateDirectory dir |> ignore
        Command.run "chmod" [ "644"; dir ] |> ignore

    File.WriteAllText(Path.Combine(dir, where.ContainerId), where.Netns)

    if where.MinutemanLink then
        Command.ip where.Container [ "link"; "add"; "minuteman"; "type"; "dummy" ]
        |> ignore

        Command.ip where.Container [ "link"; "set"; "minuteman"; "up" ] |> ignore

/// Makes the original's attachment of the container, with the delegate of `config` (a
/// dcos-l4lb config).
let make (where: Where) (config: JsonObject) : Footprint =
    let result = runDelegate where (delegateConfig config)
    writeLease where
    let hostVeth = spartanVeth where
    where.Checkpoints |> Option.iter (register where)

    { HostVeth = hostVeth
      Address = address
      DelegateResult = result }

/// The lease files in `spartan-network`, and host-local's own bookkeeping there (the last
/// address handed out, its lock file), which stays after every release.
let leaseFiles (varLib: string) : string list * string list =
    let dir = Path.Combine(varLib, "cni", "networks", Spartan.ipamNetwork)

    if Directory.Exists dir then
        Directory.GetFiles dir
        |> Array.map Path.GetFileName
        |> Array.sort
        |> List.ofArray
        |> List.partition (fun name ->
            match Net.IPAddress.TryParse name with
            | true, _ -> true
            | _ -> false)
    else
        [], []
