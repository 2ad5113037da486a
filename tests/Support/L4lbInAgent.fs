/// A runtime's side of a plugin run in a scene: its environment, the command line that
/// runs a plugin (ours, a reference plugin, a runtime) inside a scene's agent netns with
/// the scene's own /var/lib, the configs, and the error replies.
module Dcos.L4lb.Tests.L4lbInAgent

open System
open System.Text.Json
open System.Text.Json.Nodes

/// Where the reference plugins (bridge, host-local) are: Debian's containernetworking-plugins.
let referencePlugins = "/usr/lib/cni"

/// The ifname every case uses.
let ifName = "eth0"

/// The PATH a runtime gives the plugin.
let searchPath = "/usr/sbin:/usr/bin:/sbin:/bin"

/// The configs' network name; host-local names the delegate's IPAM network after it.
let network = "spartan-net"

/// What a runtime puts in the plugin's environment: PATH and the CNI_* variables; each of
/// CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME only when Some (Some "" passes it empty).
let environment
    (searchPath: string)
    (command: string)
    (containerId: string option)
    (netns: string option)
    (ifName: string option)
    (cniPath: string list)
    : (string * string) list =
    [ "PATH", searchPath
      "CNI_COMMAND", command
      for name, value in [ "CNI_CONTAINERID", containerId; "CNI_NETNS", netns; "CNI_IFNAME", ifName ] do
          match value with
          | Some v -> name, v
          | None -> ()
      "CNI_PATH", String.Join(":", cniPath) ]

/// The command line that runs `program` (the plugin, or a tracer and the plugin) in the
/// agent netns with varLib as /var/lib: a private mount namespace (unshare) in which
/// varLib hides /var/lib, a path that always exists (unlike /var/lib/cni), then
/// `ip netns exec`, which passes the environment on. `prelude` is shell commands run, as
/// root, in the private mount namespace first. Neither unshare nor `ip netns exec` forks,
/// so the pid the test sees is the program's.
let inAgent (prelude: string) (varLib: string) (agent: string) (program: string list) : string * string list =
    "unshare",
    [ "--mount"
      "--propagation"
      "private"
      "sh"
      "-c"
      prelude + "\n" + """v=$1; shift; mount --bind "$v" /var/lib && exec ip netns exec "$@" """
      "sh"
      varLib
      agent ]
    @ program

/// The README's example shape: the plugin around a delegate of `delegateType` (the
/// bridge plugin, or a fake wrapped around it) on `bridge`, whose host-local IPAM hands
/// out `subnet`; `features` adds the "spartan"/"minuteman" fields.
let config
    (cniVersion: string)
    (delegateType: string)
    (bridge: string)
    (ipMasq: bool)
    (subnet: string)
    (features: (string * JsonNode) list)
    : JsonObject =
    let conf = JsonObject()
    conf["cniVersion"] <- JsonValue.Create cniVersion
    conf["name"] <- JsonValue.Create network
    conf["type"] <- JsonValue.Create "dcos-l4lb"
    let masq = if ipMasq then "true" else "false"

    conf["delegate"] <-
        JsonNode.Parse
            $"""{{ "type": "{delegateType}", "bridge": "{bridge}", "ipMasq": {masq}, "isGateway": true,
                   "ipam": {{ "type": "host-local", "subnet": "{subnet}" }} }}"""

    for name, value in features do
        conf[name] <- value.DeepClone()

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

    /// msg and details, for a test that looks for words in either.
    member r.Text = r.Msg + " " + r.Details

let error (o: Command.Outcome) : ErrorReply =
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
