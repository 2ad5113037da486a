/// The plugin as a scene's runtime runs it (AgentPlugin): the scene's container ID, agent
/// netns and /var/lib, the reference plugins on CNI_PATH, a bridge delegate of its own.
module Dcos.L4lb.Tests.Integration.Plugin

open System.Text.Json.Nodes
open Dcos.L4lb.Tests

/// Runs one command. netns is CNI_NETNS ("" passes it empty).
let runIn (scene: Scene) (command: string) (netns: string) (config: JsonNode) : Command.Outcome =
    let env =
        AgentPlugin.environment
            AgentPlugin.searchPath
            command
            scene.ContainerId
            (Some netns)
            AgentPlugin.ifName
            [ AgentPlugin.referencePlugins ]

    AgentPlugin.run scene.VarLib scene.Agent env config

/// Runs one command with the scene's container netns.
let run (scene: Scene) command config = runIn scene command scene.Netns config

/// The README's example shape around a bridge delegate unique to the scene; `features`
/// adds the "spartan"/"minuteman" fields.
let config (scene: Scene) (cniVersion: string) (features: (string * JsonNode) list) : JsonObject =
    AgentPlugin.config cniVersion "bridge" scene.Bridge false scene.Subnet features

/// A CNI error reply: (code, msg + details).
let error (o: Command.Outcome) : int * string =
    let reply = AgentPlugin.error o
    reply.Code, reply.Msg + " " + reply.Details
