namespace Dcos.L4lb.Tests.Integration

open System.IO
open System.Text.Json.Nodes
open Dcos.L4lb.Tests

/// The suite's AgentScene: the plugin runs in its agent netns with its `varlib` as
/// /var/lib, and `l4lb` in its scratch directory is the Minuteman checkpoint path.
type Scene() =
    inherit AgentScene(AgentSceneSettings.OnThisKernel Scene.Names)

    /// "l4a"/"l4c" netns, "l4t" bridges on 10.200.x.0/24: apart from the other suites'.
    static member Names: AgentSceneNames =
        { Agent = "l4a"
          Container = "l4c"
          Prefix = "l4lb-it"
          Bridge = "l4t"
          SubnetOctet = 200 }

    member s.CheckpointFile = Path.Combine(s.CheckpointDir, s.ContainerId)

    /// The README's example shape around a bridge delegate unique to the scene; `features`
    /// adds the "spartan"/"minuteman" fields.
    /// The "minuteman" feature off (this kernel has no dummy links).
    static member MinutemanOff = [ "minuteman", JsonNode.Parse """{ "enable": false }""" ]

    /// The "minuteman" field naming the scene's checkpoint directory, Minuteman on or off.
    member s.MinutemanAt(enable: bool) : string * JsonNode =
        let field = JsonObject()
        field["enable"] <- JsonValue.Create enable
        field["path"] <- JsonValue.Create s.CheckpointDir
        "minuteman", field

    member s.Config (cniVersion: string) (features: (string * JsonNode) list) : JsonObject =
        L4lbInAgent.config cniVersion "bridge" s.Bridge false s.Subnet features
