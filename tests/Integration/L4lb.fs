/// dcos-l4lb as a scene's runtime runs it (L4lbInAgent): the scene's container ID, agent
/// netns and /var/lib, the reference plugins on CNI_PATH, a bridge delegate of its own.
module Dcos.L4lb.Tests.Integration.L4lb

open System.Text.Json.Nodes
open Dcos.L4lb.Tests

/// Runs one command. netns is CNI_NETNS ("" passes it empty).
let runIn (scene: Scene) (command: string) (netns: string) (config: JsonNode) : Command.Outcome =
    let env =
        L4lbInAgent.environment
            L4lbInAgent.searchPath
            command
            scene.ContainerId
            (Some netns)
            L4lbInAgent.ifName
            [ L4lbInAgent.referencePlugins ]

    L4lbInAgent.run scene.VarLib scene.Agent env config

/// Runs one command with the scene's container netns.
let run (scene: Scene) command config = runIn scene command scene.Netns config

/// The README's example shape around a bridge delegate unique to the scene; `features`
/// adds the "spartan"/"minuteman" fields.
let config (scene: Scene) (cniVersion: string) (features: (string * JsonNode) list) : JsonObject =
    L4lbInAgent.config cniVersion "bridge" scene.Bridge false scene.Subnet features

/// A CNI error reply: (code, msg + details).
let error (o: Command.Outcome) : int * string =
    let reply = L4lbInAgent.error o
    reply.Code, reply.Msg + " " + reply.Details
