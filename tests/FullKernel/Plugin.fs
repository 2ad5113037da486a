/// Runs the real dcos-l4lb binary as a container runtime would (a clean environment of
/// CNI_* variables, the config on stdin), but inside the scene's agent netns and with the
/// scene's own /var/lib, so the machine's root netns and /var/lib/cni are never touched.
module Dcos.L4lb.Tests.FullKernel.Plugin

open System
open System.IO
open System.Text.Json.Nodes

let private repoRoot =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failwith "cannot find the repository root (paket.dependencies)"
        elif File.Exists(Path.Combine(dir.FullName, "paket.dependencies")) then dir.FullName
        else up dir.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

/// bin/dcos-l4lb as `make build` makes it, or DCOS_L4LB_BIN.
let path =
    match Environment.GetEnvironmentVariable "DCOS_L4LB_BIN" with
    | null
    | "" -> Path.Combine(repoRoot, "bin", "dcos-l4lb")
    | p -> Path.GetFullPath p

/// Where the reference plugins (bridge, host-local) are: Debian's containernetworking-plugins.
let cniPath = "/usr/lib/cni"

let ifName = "eth0"

/// The test's own PATH goes to the plugins: in the User-mode Linux guest it starts with a
/// directory where `iptables` is iptables-legacy (the guest kernel has no IPv4 nftables),
/// which the bridge plugin needs for ipMasq.
let private searchPath =
    match Environment.GetEnvironmentVariable "PATH" with
    | null
    | "" -> "/usr/sbin:/usr/bin:/sbin:/bin"
    | p -> p

// A private mount namespace (unshare) in which the scene's varlib hides /var/lib; then
// `ip netns exec` enters the agent netns and runs the plugin, passing the environment on.
let private launcher =
    """mount --bind "$1" /var/lib && exec ip netns exec "$2" "$3" """

/// Runs one command with the scene's container netns.
let run (scene: Scene) (command: string) (config: JsonNode) : Command.Outcome =
    let env =
        [ "PATH", searchPath
          "CNI_COMMAND", command
          "CNI_CONTAINERID", scene.ContainerId
          "CNI_NETNS", scene.Netns
          "CNI_IFNAME", ifName
          "CNI_PATH", cniPath ]

    Command.execute
        "unshare"
        [ "--mount"; "--propagation"; "private"; "sh"; "-c"; launcher; "sh"; scene.VarLib; scene.Agent; path ]
        (Some env)
        (config.ToJsonString())

/// The README's example shape around a bridge delegate unique to the scene (its IPAM
/// hands out no routes, so the container knows only its own subnet); `features` adds the
/// "spartan"/"minuteman" fields, none of them meaning the defaults.
let config (scene: Scene) (ipMasq: bool) (features: (string * JsonNode) list) : JsonObject =
    let conf = JsonObject()
    conf["cniVersion"] <- JsonValue.Create "0.4.0"
    conf["name"] <- JsonValue.Create "spartan-net"
    conf["type"] <- JsonValue.Create "dcos-l4lb"

    let masq = if ipMasq then "true" else "false"

    conf["delegate"] <-
        JsonNode.Parse
            $"""{{ "type": "bridge", "bridge": "{scene.Bridge}", "ipMasq": {masq}, "isGateway": true,
                   "ipam": {{ "type": "host-local", "subnet": "{scene.Subnet}" }} }}"""

    for name, value in features do
        conf[name] <- value.DeepClone()

    conf

/// The delegate's IPAM network: host-local names it after the config's name.
let delegateNetwork = "spartan-net"

/// A copy of the config carrying an ADD result as prevResult (what a runtime sends DEL).
let withPrevResult (config: JsonObject) (addOutput: string) : JsonObject =
    let copy = config.DeepClone().AsObject()
    copy["prevResult"] <- JsonNode.Parse addOutput
    copy

let describe (o: Command.Outcome) =
    $"exit {o.ExitCode}\nstdout: {o.Stdout.Trim()}\nstderr: {o.Stderr.Trim()}"
