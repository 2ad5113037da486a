/// The plugin as a scene's runtime runs it (AgentPlugin): the scene's container ID,
/// container and agent netns and /var/lib, the reference plugins on CNI_PATH, a bridge
/// delegate of its own.
module Dcos.L4lb.Tests.FullKernel.Plugin

open System
open System.Text.Json.Nodes
open Dcos.L4lb.Tests

/// The test's own PATH goes to the plugins: in the User-mode Linux guest it starts with a
/// directory where `iptables` is iptables-legacy (the guest kernel has no IPv4 nftables),
/// which the bridge plugin needs for ipMasq.
let private searchPath =
    match Environment.GetEnvironmentVariable "PATH" with
    | null
    | "" -> AgentPlugin.searchPath
    | p -> p

/// Runs one command with the scene's container netns.
let run (scene: Scene) (command: string) (config: JsonNode) : Command.Outcome =
    let env =
        AgentPlugin.environment
            searchPath
            command
            scene.ContainerId
            (Some scene.Netns)
            AgentPlugin.ifName
            [ AgentPlugin.referencePlugins ]

    AgentPlugin.run scene.VarLib scene.Agent env config

/// The README's example shape around a bridge delegate unique to the scene (its IPAM
/// hands out no routes, so the container knows only its own subnet); `features` adds the
/// "spartan"/"minuteman" fields, none of them meaning the defaults.
let config (scene: Scene) (ipMasq: bool) (features: (string * JsonNode) list) : JsonObject =
    AgentPlugin.config "0.4.0" "bridge" scene.Bridge ipMasq scene.Subnet features
