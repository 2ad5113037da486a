/// Runs the real dcos-l4lb binary as a container runtime would (a clean environment of
/// CNI_* variables, the config on stdin), but inside the scene's agent netns, with the
/// scene's own /var/lib (a private mount namespace), and in a process group of its own.
module Dcos.L4lb.Tests.Reliability.Plugin

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes

let private repoRoot =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then
            failwith "cannot find the repository root (paket.dependencies)"
        elif File.Exists(Path.Combine(dir.FullName, "paket.dependencies")) then
            dir.FullName
        else
            up dir.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

/// bin/dcos-l4lb as `make build` makes it, or DCOS_L4LB_BIN.
let path =
    match Environment.GetEnvironmentVariable "DCOS_L4LB_BIN" with
    | null
    | "" -> Path.Combine(repoRoot, "bin", "dcos-l4lb")
    | p -> Path.GetFullPath p

/// Where the reference plugins (bridge, host-local) are: Debian's containernetworking-plugins.
let referencePlugins = "/usr/lib/cni"

/// The ifname every case uses.
let ifName = "eth0"

/// One run of the plugin.
type Invocation =
    {
        Command: string
        ContainerId: string
        /// CNI_NETNS ("" leaves it unset).
        Netns: string
        IfName: string
        Config: JsonNode
        CniPath: string list
        /// Shell commands run, as root, in the private mount namespace before the plugin.
        Prelude: string
        /// A program (with its arguments) the plugin runs under, such as strace.
        Tracer: string list
        /// More environment variables (DCOS_L4LB_LOG_FILE).
        Environment: (string * string) list
        TimeoutMs: int
    }

let invocation (scene: Scene) (command: string) (container: Container) (config: JsonNode) =
    { Command = command
      ContainerId = container.Id
      Netns = container.Path
      IfName = ifName
      Config = config
      CniPath = [ scene.Fakes; referencePlugins ]
      Prelude = ""
      Tracer = []
      Environment = []
      TimeoutMs = 30_000 }

// A private mount namespace (unshare) in which the scene's varlib hides /var/lib, a path
// that always exists (unlike /var/lib/cni); then `ip netns exec` enters the agent netns
// and runs the plugin (under the tracer, if any), passing the environment on. Neither
// unshare nor `ip netns exec` forks, so the pid the test sees is the plugin's.
let private launcher (prelude: string) =
    prelude
    + "\n"
    + """v=$1; shift; mount --bind "$v" /var/lib && exec ip netns exec "$@" """

let private arguments (scene: Scene) (inv: Invocation) =
    let env =
        [ "PATH", "/usr/sbin:/usr/bin:/sbin:/bin"
          "CNI_COMMAND", inv.Command
          "CNI_CONTAINERID", inv.ContainerId
          "CNI_IFNAME", inv.IfName
          "CNI_PATH", String.Join(":", inv.CniPath) ]
        @ (if inv.Netns = "" then [] else [ "CNI_NETNS", inv.Netns ])
        @ inv.Environment

    let args =
        [ "--mount"
          "--propagation"
          "private"
          "sh"
          "-c"
          launcher inv.Prelude
          "sh"
          scene.VarLib
          scene.Agent ]
        @ inv.Tracer
        @ [ path ]

    args, env

/// Runs the plugin to its end.
let exec (scene: Scene) (inv: Invocation) : Shell.Outcome =
    let args, env = arguments scene inv
    Shell.executeWithin inv.TimeoutMs "unshare" args (Some env) (inv.Config.ToJsonString())

/// Starts the plugin in the background (in a process group of its own).
let start (scene: Scene) (inv: Invocation) : Shell.Running =
    let args, env = arguments scene inv
    new Shell.Running("unshare", args, Some env, inv.Config.ToJsonString())

/// The shape of the network configurations the tests use.
type Conf =
    {
        CniVersion: string
        /// The delegate's type: "bridge", or a fake wrapped around it.
        DelegateType: string
        /// The "spartan" field, if any.
        Spartan: JsonNode option
        /// The "minuteman" field.
        Minuteman: JsonNode
    }

let private json (text: string) = JsonNode.Parse text

/// Minuteman off: this kernel has no dummy link type.
let defaults =
    { CniVersion = "1.0.0"
      DelegateType = "bridge"
      Spartan = None
      Minuteman = json """{ "enable": false }""" }

/// Spartan with a range of one address (so the address is known in advance).
let oneAddressRange (address: string) =
    json $"""{{ "ipam": {{ "rangeStart": "{address}", "rangeEnd": "{address}" }} }}"""

/// Spartan with another IPAM plugin type.
let ipamType (t: string) =
    json $"""{{ "ipam": {{ "type": "{t}" }} }}"""

let minutemanOn (scene: Scene) =
    json $"""{{ "enable": true, "path": "{scene.CheckpointDir}" }}"""

/// The README's example shape: the plugin around a bridge delegate on the scene's bridge.
let config (c: Conf) : JsonObject =
    let conf = JsonObject()
    conf["cniVersion"] <- JsonValue.Create c.CniVersion
    conf["name"] <- JsonValue.Create Delegate.network
    conf["type"] <- JsonValue.Create "dcos-l4lb"

    conf["delegate"] <-
        json
            $"""{{ "type": "{c.DelegateType}", "bridge": "{Delegate.bridge}", "ipMasq": false, "isGateway": true,
                   "ipam": {{ "type": "host-local", "subnet": "{Delegate.subnet}" }} }}"""

    c.Spartan |> Option.iter (fun s -> conf["spartan"] <- s.DeepClone())
    conf["minuteman"] <- c.Minuteman.DeepClone()
    conf

/// A copy of the config carrying an ADD result as prevResult (CHECK, and DEL from 0.4.0).
let withPrevResult (config: JsonNode) (addOutput: string) : JsonObject =
    let copy = config.DeepClone().AsObject()
    copy["prevResult"] <- JsonNode.Parse addOutput
    copy

/// A CNI error reply: code, msg, details.
type ErrorReply =
    { Code: int
      Msg: string
      Details: string }

let error (o: Shell.Outcome) : ErrorReply =
    let reply =
        try
            JsonNode.Parse(o.Stdout).AsObject()
        with :? JsonException ->
            failwith $"stdout is not a JSON error reply: {o.Stdout}\nstderr: {o.Stderr}"

    let text name =
        if reply.ContainsKey name && not (isNull reply[name]) then
            string reply[name]
        else
            ""

    { Code = reply["code"].GetValue<int>()
      Msg = text "msg"
      Details = text "details" }

let describe (o: Shell.Outcome) =
    $"exit {o.ExitCode} after {o.Elapsed.TotalMilliseconds:F0} ms\nstdout: {o.Stdout.Trim()}\nstderr: {o.Stderr.Trim()}"
