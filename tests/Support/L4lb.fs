/// The one runner of the dcos-l4lb binary under test, for every suite: as a container
/// runtime runs it (a clean environment of PATH and the CNI_* variables, the config on
/// stdin), in a process group of its own so that a time limit or a test's SIGKILL takes
/// the plugin together with every plugin it runs. In a scene it runs inside the scene's
/// agent netns with the scene's own /var/lib (a private mount namespace), so the
/// machine's root netns and /var/lib/cni are never touched.
module Dcos.L4lb.Tests.L4lb

open System
open System.Text
open System.Text.Json.Nodes

/// Where the plugin runs.
type Place =
    /// Where the test runs, with the machine's /var/lib: for commands that change nothing,
    /// or whose state on the machine the test owns and removes.
    | Here
    /// In the named netns, with `varLib` bound onto /var/lib.
    | InNetns of netns: string * varLib: string

/// One run of the plugin.
type Invocation =
    {
        Place: Place
        Command: string
        /// CNI_CONTAINERID; None for a command on the whole network (GC, STATUS).
        ContainerId: string option
        /// CNI_NETNS; None leaves it unset, Some "" sets it empty.
        Netns: string option
        /// CNI_IFNAME; None for a command on the whole network.
        IfName: string option
        CniPath: string list
        /// PATH.
        SearchPath: string
        Config: JsonNode
        /// More environment variables (DCOS_L4LB_LOG_FILE).
        Environment: (string * string) list
        /// Shell commands run, as root, in the private mount namespace before the plugin
        /// (InNetns only).
        Prelude: string
        /// A program (with its arguments) the plugin runs under, such as strace.
        Tracer: string list
        /// A guard against a hang: the process group is killed after it.
        TimeoutMs: int
    }

/// ADD, CHECK or DEL of a container of the scene, as the scene's runtime sends it: the
/// scene's CNI_PATH and PATH, ifname eth0.
let invocation (scene: AgentScene) (command: string) (container: Container) (config: JsonNode) =
    { Place = InNetns(scene.Agent, scene.VarLib)
      Command = command
      ContainerId = Some container.Id
      Netns = Some container.Path
      IfName = Some L4lbInAgent.ifName
      CniPath = scene.CniPath
      SearchPath = scene.SearchPath
      Config = config
      Environment = []
      Prelude = ""
      Tracer = []
      TimeoutMs = Command.timeoutMs }

/// GC or STATUS (CNI 1.1) as a runtime sends them: only CNI_COMMAND and CNI_PATH.
let ofNetwork (scene: AgentScene) (command: string) (config: JsonNode) =
    { invocation scene command scene.MainContainer config with
        ContainerId = None
        Netns = None
        IfName = None }

/// The command line: the plugin under the tracer, if any; in a netns after the prelude
/// (L4lbInAgent.inAgent).
let private commandLine (place: Place) (prelude: string) (tracer: string list) =
    let plugin = tracer @ [ L4lbBinary.path ]

    match place with
    | Here -> List.head plugin, List.tail plugin
    | InNetns(netns, varLib) -> L4lbInAgent.inAgent prelude varLib netns plugin

/// The plugin's whole environment.
let environment (inv: Invocation) : (string * string) list =
    L4lbInAgent.environment inv.SearchPath inv.Command inv.ContainerId inv.Netns inv.IfName inv.CniPath
    @ inv.Environment

let private stdin (inv: Invocation) =
    Encoding.UTF8.GetBytes(inv.Config.ToJsonString())

/// Runs the plugin to its end.
let exec (inv: Invocation) : Command.Outcome =
    let program, args = commandLine inv.Place inv.Prelude inv.Tracer
    Processes.executeWithin inv.TimeoutMs program args (Some(environment inv)) (stdin inv)

/// Starts the plugin in the background (in a process group of its own).
let start (inv: Invocation) : Processes.Running =
    let program, args = commandLine inv.Place inv.Prelude inv.Tracer
    new Processes.Running(program, args, Some(environment inv), stdin inv)

/// Runs the plugin with PATH and exactly these variables, and these bytes on stdin: for
/// the tests of what a runtime should never send.
let execRaw (place: Place) (env: (string * string) list) (input: byte[]) : Command.Outcome =
    let program, args = commandLine place "" []
    Processes.executeWithin Command.timeoutMs program args (Some(("PATH", L4lbInAgent.searchPath) :: env)) input

/// Runs one command for the scene's own container.
let run (scene: AgentScene) (command: string) (config: JsonNode) : Command.Outcome =
    exec (invocation scene command scene.MainContainer config)

/// Likewise with this CNI_NETNS (None leaves it unset, Some "" sets it empty).
let runIn (scene: AgentScene) (command: string) (netns: string option) (config: JsonNode) : Command.Outcome =
    exec { invocation scene command scene.MainContainer config with Netns = netns }

/// The config of a GC as a runtime speaking CNI 1.1 sends it: at cniVersion 1.1.0, with
/// these (container ID, ifname) as cni.dev/valid-attachments.
let gcConfig (config: JsonNode) (valid: (string * string) list) : JsonObject =
    let conf = config.DeepClone().AsObject()
    conf["cniVersion"] <- JsonValue.Create "1.1.0"
    let list = JsonArray()

    for id, ifName in valid do
        let attachment = JsonObject()
        attachment["containerID"] <- JsonValue.Create id
        attachment["ifname"] <- JsonValue.Create ifName
        list.Add attachment

    conf["cni.dev/valid-attachments"] <- list
    conf

/// GC of the scene's network, listing these attachments as valid.
let gc (scene: AgentScene) (config: JsonNode) (valid: (string * string) list) : Command.Outcome =
    exec (ofNetwork scene "GC" (gcConfig config valid))

let describe = Command.describe
