/// dcos-l4lb as a scene's runtime runs it (L4lbInAgent): the scene's container ID,
/// container and agent netns and /var/lib, the reference plugins on CNI_PATH, a bridge
/// delegate of its own.
module Dcos.L4lb.Tests.FullKernel.L4lb

open System
open System.Text.Json.Nodes
open Dcos.L4lb.Tests

/// The test's own PATH goes to the plugins: in the User-mode Linux guest it starts with a
/// directory where `iptables` is iptables-legacy (the guest kernel has no IPv4 nftables),
/// which the bridge plugin needs for ipMasq.
let searchPath =
    match Environment.GetEnvironmentVariable "PATH" with
    | null
    | "" -> L4lbInAgent.searchPath
    | p -> p

/// Runs one command for an attachment of the scene's agent: this container ID, CNI_NETNS
/// (None leaves it unset) and ifname.
let runFor
    (scene: Scene)
    (command: string)
    (containerId: string)
    (netns: string option)
    (ifName: string)
    (config: JsonNode)
    : Command.Outcome =
    let env =
        L4lbInAgent.environment searchPath command containerId netns ifName [ L4lbInAgent.referencePlugins ]

    L4lbInAgent.run scene.VarLib scene.Agent env config

/// Runs one command with the scene's container netns.
let run (scene: Scene) (command: string) (config: JsonNode) : Command.Outcome =
    runFor scene command scene.ContainerId (Some scene.Netns) L4lbInAgent.ifName config

/// GC (CNI 1.1) as a runtime sends it: only CNI_COMMAND and CNI_PATH set, the config at
/// cniVersion 1.1.0 with `valid` (container ID, ifname) as cni.dev/valid-attachments.
let gc (scene: Scene) (config: JsonNode) (valid: (string * string) list) : Command.Outcome =
    let conf = config.DeepClone().AsObject()
    conf["cniVersion"] <- JsonValue.Create "1.1.0"
    let list = JsonArray()

    for id, ifName in valid do
        let attachment = JsonObject()
        attachment["containerID"] <- JsonValue.Create id
        attachment["ifname"] <- JsonValue.Create ifName
        list.Add attachment

    conf["cni.dev/valid-attachments"] <- list

    let env =
        [ "PATH", searchPath
          "CNI_COMMAND", "GC"
          "CNI_PATH", L4lbInAgent.referencePlugins ]

    L4lbInAgent.run scene.VarLib scene.Agent env conf

/// The README's example shape around a bridge delegate unique to the scene (its IPAM
/// hands out no routes, so the container knows only its own subnet); `features` adds the
/// "spartan"/"minuteman" fields, none of them meaning the defaults.
let config (scene: Scene) (ipMasq: bool) (features: (string * JsonNode) list) : JsonObject =
    L4lbInAgent.config "0.4.0" "bridge" scene.Bridge ipMasq scene.Subnet features
