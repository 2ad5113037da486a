/// An agent for `l4lbctl doctor`: the suite's AgentScene (agent netns with the Spartan
/// addresses, a private /var/lib), containers attached by the real plugin, and doctor run
/// inside the agent netns with the scene's /var/lib, as an operator runs it on the agent.
module Dcos.L4lb.Tests.DoctorScene

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open Dcos.L4lb
open Dcos.L4lb.Tests

/// "l4da"/"l4dc" netns, "l4dr" bridges on 10.203.x.0/24: apart from the other suites'.
type Scene() =
    inherit
        AgentScene(
            { AgentSceneSettings.OnThisKernel Scene.Names with
                Dnsmasq = false }
        )

    static member Names: AgentSceneNames =
        { Agent = "l4da"
          Container = "l4dc"
          Prefix = "l4lb-dr"
          Bridge = "l4dr"
          SubnetOctet = 203 }

    /// The Spartan IPAM network's lease directory, by its real path.
    member s.Leases = Path.Combine(s.VarLib, "cni", "networks", Spartan.ipamNetwork)

    /// This network's attachment records, by their real path.
    member s.Records =
        Path.Combine(s.VarLib, "cni", "dcos-l4lb", "attachments", L4lbInAgent.network)

/// The network's config: the README's shape, Minuteman off unless given its path.
let config (s: Scene) (minuteman: string option) : JsonObject =
    let feature =
        match minuteman with
        | Some path -> JsonNode.Parse $"""{{"enable": true, "path": "{path}"}}"""
        | None -> JsonNode.Parse """{"enable": false}"""

    L4lbInAgent.config "1.0.0" "bridge" s.Bridge false s.Subnet [ "minuteman", feature ]

/// The config written to the scratch directory, for doctor.
let writeConfig (s: Scene) (name: string) (conf: JsonObject) =
    let file = Path.Combine(s.Scratch, name)
    File.WriteAllText(file, conf.ToJsonString())
    file

/// ADD of a new container by the plugin, in the agent; Minuteman off (no dummy links here).
let attach (s: Scene) : Container =
    let c = s.NewContainer()

    L4lb.exec { L4lb.invocation s "ADD" c (config s None) with CniPath = [ L4lbInAgent.referencePlugins ] }
    |> AgentScenes.expectOk $"ADD of {c.Id}"

    c

let private l4lbctl = Path.Combine(L4lbBinary.repoRoot, "bin", "l4lbctl")

/// Where doctor finds the plugin and the reference plugins.
let cniPath =
    $"{Path.GetDirectoryName L4lbBinary.path}:{L4lbInAgent.referencePlugins}"

/// `l4lbctl doctor <config> <args>` in the agent netns with the scene's /var/lib.
let doctorWith (s: Scene) (config: string) (args: string list) : Command.Outcome =
    let program, argv =
        L4lbInAgent.inAgent "" s.VarLib s.Agent ([ l4lbctl; "doctor"; config ] @ args)

    Command.execute program argv None ""

let doctor (s: Scene) (config: string) (args: string list) =
    doctorWith s config ([ "--cni-path"; cniPath ] @ args)

/// One finding as --json prints it.
type Found =
    { Check: string
      Severity: string
      Subject: string
      Fix: string }

/// The findings of doctor's --json output ("findings", or "remaining" after --fix), notes
/// left out: they do not count.
let findings (o: Command.Outcome) (member': string) : Found list =
    use doc =
        try
            JsonDocument.Parse o.Stdout
        with :? JsonException ->
            failwith $"doctor printed no JSON: {Command.describe o}"

    [ for f in doc.RootElement.GetProperty(member').EnumerateArray() do
          let text (name: string) = f.GetProperty(name).GetString()

          if text "severity" <> "note" then
              yield
                  { Check = text "check"
                    Severity = text "severity"
                    Subject = text "subject"
                    Fix = text "fix" } ]

/// The checks doctor's findings name.
let checks (found: Found list) = found |> List.map _.Check |> List.sort

/// Whether a link exists in a netns.
let hasLink (netns: string) (name: string) =
    (Command.attempt "ip" [ "-n"; netns; "link"; "show"; name ]).ExitCode = 0

/// The attachment's host veth, as the plugin names it.
let hostVeth (c: Container) =
    Naming.hostVethName c.Id L4lbInAgent.ifName

/// The lease files of the Spartan IPAM network, by address.
let leases (s: Scene) =
    s.Allocations Spartan.ipamNetwork |> List.map _.Address

/// A lease as the original (or a crash) leaves it: host-local's file, no record, no route.
let leaveLease (s: Scene) (address: string) (content: string) =
    Directory.CreateDirectory s.Leases |> ignore
    File.WriteAllText(Path.Combine(s.Leases, address), content)
