/// Runs the real dcos-l4lb binary as a container runtime would (a clean environment of
/// CNI_* variables, the config on stdin), but inside the scene's agent netns, with the
/// scene's own /var/lib (a private mount namespace), and in a process group of its own.
module Dcos.L4lb.Tests.Reliability.L4lb

open System.Text.Json.Nodes
open Dcos.L4lb.Tests

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
      IfName = L4lbInAgent.ifName
      Config = config
      CniPath = [ scene.Fakes; L4lbInAgent.referencePlugins ]
      Prelude = ""
      Tracer = []
      Environment = []
      TimeoutMs = 30_000 }

// The plugin runs under the tracer, if any, after the prelude (L4lbInAgent.inAgent).
let private arguments (scene: Scene) (inv: Invocation) =
    let env =
        L4lbInAgent.environment
            L4lbInAgent.searchPath
            inv.Command
            inv.ContainerId
            (if inv.Netns = "" then None else Some inv.Netns)
            inv.IfName
            inv.CniPath
        @ inv.Environment

    let program, args =
        L4lbInAgent.inAgent inv.Prelude scene.VarLib scene.Agent (inv.Tracer @ [ L4lbBinary.path ])

    program, args, env

/// Runs the plugin to its end.
let exec (scene: Scene) (inv: Invocation) : Command.Outcome =
    let program, args, env = arguments scene inv
    Processes.executeWithin inv.TimeoutMs program args (Some env) (inv.Config.ToJsonString())

/// Starts the plugin in the background (in a process group of its own).
let start (scene: Scene) (inv: Invocation) : Processes.Running =
    let program, args, env = arguments scene inv
    new Processes.Running(program, args, Some env, inv.Config.ToJsonString())

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
    L4lbInAgent.config
        c.CniVersion
        c.DelegateType
        Delegate.bridge
        false
        Delegate.subnet
        ((c.Spartan |> Option.map (fun s -> "spartan", s) |> Option.toList) @ [ "minuteman", c.Minuteman ])

let describe (o: Command.Outcome) =
    $"exit {o.ExitCode} after {o.Elapsed.TotalMilliseconds:F0} ms\nstdout: {o.Stdout.Trim()}\nstderr: {o.Stderr.Trim()}"
