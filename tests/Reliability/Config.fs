/// The network configurations of the reliability tests: the README's shape around the
/// delegate's bridge every scene holds (DelegateScene), Minuteman off by default.
module Dcos.L4lb.Tests.Reliability.Config

open System.Text.Json.Nodes
open Dcos.L4lb.Tests

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
let build (c: Conf) : JsonObject =
    L4lbInAgent.config
        c.CniVersion
        c.DelegateType
        Delegate.bridge
        false
        Delegate.subnet
        ((c.Spartan |> Option.map (fun s -> "spartan", s) |> Option.toList) @ [ "minuteman", c.Minuteman ])
