/// The cases, over a table of CNI versions and the upstream test's configurations. Each
/// test builds its own scene, runs the plugin, reads the kernel, and tears the scene down.
module Dcos.L4lb.Tests.Integration.AddCheckDel

open System
open System.IO
open System.Text.Json.Nodes
open Expecto
open Dcos.L4lb.Tests

let versions = [ "0.2.0"; "0.3.1"; "0.4.0"; "1.0.0" ]

/// CHECK exists, and DEL gets prevResult, from 0.4.0 on.
let private hasCheck version = version = "0.4.0" || version = "1.0.0"

type Variant =
    { Name: string
      Features: Scene -> (string * JsonNode) list }

let private json (text: string) = JsonNode.Parse text

/// This kernel has no dummy links, so the upstream cases run with Minuteman off; the
/// third upstream case (Spartan off) needs Minuteman and is among the Minuteman cases.
let variants =
    [ { Name = "default values"
        Features = fun _ -> [ "minuteman", json """{ "enable": false }""" ] }
      { Name = "explicit spartan.enable, custom minuteman path"
        Features =
          fun scene ->
              [ "spartan", json """{ "enable": true }"""
                scene.MinutemanAt false ] } ]

let minutemanVariants =
    [ { Name = "Minuteman on"
        Features = fun scene -> [ scene.MinutemanAt true ] }
      { Name = "Spartan off, Minuteman on"
        Features = fun scene -> [ "spartan", json """{ "enable": false }"""; scene.MinutemanAt true ] } ]

// ---- helpers -------------------------------------------------------------------------

let private scenario name body = AgentScenes.scenario<Scene> name body
let private expectOk = AgentScenes.expectOk

/// A successful ADD: the config it was given and its output.
let private add (scene: Scene) version variant =
    let conf = scene.Config version (variant.Features scene)
    let o = L4lb.run scene "ADD" conf
    expectOk "ADD" o
    conf, o.Stdout

/// DEL's config: carrying the ADD result from 0.4.0 on, as a runtime sends it.
let private delConfig version conf addOutput =
    if hasCheck version then L4lbInAgent.withPrevResult conf addOutput else conf

/// What a container looks like that was never attached.
let private expectNothingLeft (scene: Scene) =
    Attachment.expectNothingLeft scene
    Expect.isFalse (File.Exists scene.CheckpointFile) "the Minuteman checkpoint file exists"

// ---- the cases -----------------------------------------------------------------------

let private addResult version variant =
    scenario "ADD prints the bridge's result" (fun scene ->
        let _, output = add scene version variant
        let result = (JsonNode.Parse output).AsObject()
        let field (node: JsonNode) (name: string) = string node[name]

        Expect.equal (field result "cniVersion") version "the result's cniVersion"

        let eth0 = Attachment.eth0Address scene

        Expect.stringStarts eth0 scene.SubnetPrefix $"eth0's address is in {scene.Subnet}"
        Expect.isFalse (output.Contains "198.51.100.") "the result does not mention the Spartan attachment"

        if version = "0.2.0" then
            Expect.isFalse (result.ContainsKey "ips") "a 0.2.0 result has no ips"
            Expect.equal (field result["ip4"] "ip") eth0 "ip4.ip is eth0's address"
            Expect.equal (field result["ip4"] "gateway") scene.Gateway "ip4.gateway is the bridge"
        else
            let interfaces = result["interfaces"].AsArray()

            let ip =
                match List.ofSeq (result["ips"].AsArray()) with
                | [ ip ] -> ip
                | other -> failtest $"ips: {other}"

            Expect.equal (field ip "address") eth0 "ips[0].address is eth0's address"
            Expect.equal (field ip "gateway") scene.Gateway "ips[0].gateway is the bridge"
            let eth0Entry = interfaces[ip["interface"].GetValue<int>()]
            Expect.equal (field eth0Entry "name") L4lbInAgent.ifName "ips[0].interface names eth0"
            Expect.equal (field eth0Entry "sandbox") scene.Netns "eth0's sandbox"
            let mac netns name =
                match Kernel.link netns name with
                | Some link -> link.Mac
                | None -> failtest $"no link {name} in {netns}"

            Expect.equal (field eth0Entry "mac") (mac scene.Container L4lbInAgent.ifName) "eth0's MAC"

            Expect.exists
                interfaces
                (fun i -> field i "name" = scene.Bridge && field i "mac" = mac scene.Agent scene.Bridge)
                "the bridge is among the interfaces")

let private kernelState version variant =
    scenario "ADD attaches the container to Spartan" (fun scene ->
        add scene version variant |> ignore
        Attachment.expectAttached scene |> ignore)

let private dns version variant =
    scenario "the container resolves names through Spartan" (fun scene ->
        add scene version variant |> ignore
        Attachment.expectResolves scene)

/// ADD, CHECK passes, then `breakIt` removes one artefact and CHECK fails naming `named`.
let private checkCase version variant title named (breakIt: Scene -> string -> unit) =
    scenario title (fun scene ->
        let conf, output = add scene version variant
        let conf = L4lbInAgent.withPrevResult conf output
        expectOk "CHECK of an intact attachment" (L4lb.run scene "CHECK" conf)
        breakIt scene (Attachment.spartanAddress scene)
        let o = L4lb.run scene "CHECK" conf
        Expect.notEqual o.ExitCode 0 $"CHECK after the removal must fail: {Command.describe o}"
        let text = (L4lbInAgent.error o).Text
        Expect.stringContains text named "the error names the missing artefact")

let private checks version variant =
    if hasCheck version then
        [ checkCase version variant "CHECK passes, then names a missing Spartan route" "Spartan routes" (fun scene _ ->
              Command.ip scene.Container [ "route"; "del"; "198.51.100.2/32"; "dev"; "spartan" ] |> ignore)
          checkCase version variant "CHECK passes, then names a missing host route" "host route" (fun scene address ->
              Command.ip scene.Agent [ "route"; "del"; address + "/32" ] |> ignore) ]
    else
        [ scenario "CHECK is refused as an incompatible version" (fun scene ->
              let conf, output = add scene version variant
              let o = L4lb.run scene "CHECK" (L4lbInAgent.withPrevResult conf output)
              Expect.notEqual o.ExitCode 0 "CHECK exit code"
              Expect.equal (L4lbInAgent.error o).Code 1 $"CNI error code: {Command.describe o}") ]

let private dels version variant =
    let del (scene: Scene) netns conf output =
        L4lb.runIn scene "DEL" (Some netns) (delConfig version conf output)

    [ scenario "DEL removes the attachment and releases both addresses" (fun scene ->
          let conf, output = add scene version variant
          Attachment.expectAttached scene |> ignore
          expectOk "DEL" (del scene scene.Netns conf output)
          expectNothingLeft scene)

      scenario "DEL twice succeeds both times" (fun scene ->
          let conf, output = add scene version variant
          expectOk "the first DEL" (del scene scene.Netns conf output)
          expectOk "the second DEL" (del scene scene.Netns conf output)
          expectNothingLeft scene)

      scenario "DEL with an empty CNI_NETNS releases the addresses" (fun scene ->
          let conf, output = add scene version variant
          expectOk "DEL" (del scene "" conf output)
          Attachment.expectReleased scene
          Attachment.expectNoHostVeth scene)

      scenario "DEL after the netns is gone releases the addresses" (fun scene ->
          let conf, output = add scene version variant
          Command.run "ip" [ "netns"; "del"; scene.Container ] |> ignore
          expectOk "DEL" (del scene scene.Netns conf output)
          Attachment.expectReleased scene
          Attachment.expectNoHostVeth scene) ]

let private minuteman version variant =
    if Kernel.hasDummy.Force() then
        scenario $"{variant.Name}: ADD registers the netns with Minuteman, DEL removes it" (fun scene ->
            let conf, output = add scene version variant
            Expect.equal (File.ReadAllText scene.CheckpointFile) scene.Netns "the checkpoint file holds the netns path"
            let link = Kernel.link scene.Container "minuteman"
            Expect.isTrue (link |> Option.exists (fun l -> l.Up && l.Kind = "dummy")) $"minuteman link: {link}"
            expectOk "DEL" (L4lb.run scene "DEL" (delConfig version conf output))
            expectNothingLeft scene)
    else
        scenario $"{variant.Name}: ADD fails for want of dummy links and leaves nothing behind" (fun scene ->
            let o = L4lb.run scene "ADD" (scene.Config version (variant.Features scene))
            Expect.notEqual o.ExitCode 0 $"ADD must fail on a kernel without dummy links: {Command.describe o}"
            let text = (L4lbInAgent.error o).Text
            Expect.stringContains text "dummy" "the error says what the kernel lacks"
            expectNothingLeft scene)

let private forVersion version =
    testList
        $"cniVersion {version}"
        [ for variant in variants do
              yield
                  testList
                      variant.Name
                      ([ addResult version variant; kernelState version variant; dns version variant ]
                       @ checks version variant
                       @ dels version variant)
          for variant in minutemanVariants do
              yield minuteman version variant ]

let tests (more: Test list) =
    AgentScenes.suite Scene.Names "integration" ([ for version in versions -> forVersion version ] @ more)
