/// A CNI 1.1.0 config with Debian's reference plugins 1.1.1 (which stop at 1.0.0) as the
/// delegate: hand-built 1.1.0 invocations (libcni 1.1.2 predates 1.1.0) of every
/// command against the real binary and kernel. The delegate is the bridge plugin behind a
/// shell wrapper that logs each call's command and cniVersion, so the test sees the
/// refusal, the VERSION question and the run at 1.0.0.
module Dcos.L4lb.Tests.Integration.Negotiation

open System.IO
open System.Text.Json.Nodes
open Expecto
open Dcos.L4lb.Tests


/// The wrapper's plugin type: `bridge-logged` in <scratch>/bin, which appends
/// "<CNI_COMMAND> <the config's cniVersion>" to <scratch>/bridge.log and runs the bridge.
let private loggedType = "bridge-logged"

let private pluginDir (scene: Scene) = Path.Combine(scene.Scratch, "bin")

let private logFile (scene: Scene) =
    Path.Combine(scene.Scratch, "bridge.log")

let private installWrapper (scene: Scene) =
    Directory.CreateDirectory(pluginDir scene) |> ignore
    let wrapper = Path.Combine(pluginDir scene, loggedType)

    File.WriteAllText(
        wrapper,
        $"""#!/bin/sh
input=$(cat)
version=$(printf '%%s' "$input" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("cniVersion", ""))')
echo "$CNI_COMMAND $version" >> '{logFile scene}'
printf '%%s' "$input" | exec {L4lbInAgent.referencePlugins}/bridge
"""
    )

    File.SetUnixFileMode(wrapper, UnixFileMode.UserRead ||| UnixFileMode.UserWrite ||| UnixFileMode.UserExecute)

/// The bridge calls logged since the last look, and the log emptied.
let private calls (scene: Scene) =
    let file = logFile scene

    if File.Exists file then
        let lines = File.ReadAllLines file |> List.ofArray
        File.Delete file
        lines
    else
        []

let private cniPath (scene: Scene) =
    [ pluginDir scene; L4lbInAgent.referencePlugins ]

let private run (scene: Scene) (command: string) (config: JsonNode) =
    L4lb.exec { L4lb.invocation scene command scene.MainContainer config with CniPath = cniPath scene }

/// STATUS and GC as CNI 1.1 defines them: only CNI_COMMAND and CNI_PATH.
let private runNetwork (scene: Scene) (command: string) (config: JsonNode) =
    L4lb.exec { L4lb.ofNetwork scene command config with CniPath = cniPath scene }

let private expectOk = AgentScenes.expectOk

/// The 1.1.0 config around the logged bridge.
let private config (scene: Scene) =
    let conf = scene.Config "1.1.0" Scene.MinutemanOff
    conf["delegate"]["type"] <- JsonValue.Create loggedType
    conf

let private field (node: JsonNode) (name: string) = string node[name]

let tests =
    testList
        "CNI 1.1.0 config, bridge 1.1.1 (up to 1.0.0) as delegate"
        [ AgentScenes.scenario<Scene>
              "STATUS, ADD, CHECK, GC, DEL and GC succeed; the bridge runs at 1.0.0 after refusing 1.1.0; ADD's result is 1.1.0; nothing is left"
              (fun scene ->
                  installWrapper scene
                  let conf = config scene

                  expectOk "STATUS" (runNetwork scene "STATUS" conf)
                  // the bridge does not list 1.1.0: asked its VERSION, never STATUS
                  Expect.equal (calls scene) [ "VERSION 1.1.0" ] "the bridge calls of STATUS"

                  let added = run scene "ADD" conf
                  expectOk "ADD" added
                  Expect.equal (calls scene) [ "ADD 1.1.0"; "VERSION 1.1.0"; "ADD 1.0.0" ] "the bridge calls of ADD"
                  let result = (JsonNode.Parse added.Stdout).AsObject()
                  Expect.equal (field result "cniVersion") "1.1.0" "the result's cniVersion"

                  let ip =
                      match List.ofSeq (result["ips"].AsArray()) with
                      | [ ip ] -> ip.AsObject()
                      | other -> failtest $"ips: {other}"

                  Expect.equal (field ip "address") (Attachment.eth0Address scene) "ips[0].address is eth0's address"
                  Expect.equal (field ip "gateway") scene.Gateway "ips[0].gateway is the bridge"
                  Expect.isFalse (ip.ContainsKey "version") "a 1.x result's addresses carry no version"
                  Attachment.expectAttached scene |> ignore

                  let withResult = L4lbInAgent.withPrevResult conf added.Stdout
                  expectOk "CHECK" (run scene "CHECK" withResult)

                  Expect.equal
                      (calls scene)
                      [ "CHECK 1.1.0"; "VERSION 1.1.0"; "CHECK 1.0.0" ]
                      "the bridge calls of CHECK"

                  // the container is listed: GC keeps it
                  expectOk
                      "GC listing the container"
                      (runNetwork scene "GC" (L4lb.gcConfig conf [ scene.ContainerId, L4lbInAgent.ifName ]))

                  Expect.equal (calls scene) [ "VERSION 1.1.0" ] "the bridge calls of GC"
                  Attachment.expectAttached scene |> ignore

                  expectOk "DEL" (run scene "DEL" withResult)
                  Expect.equal (calls scene) [ "DEL 1.1.0"; "VERSION 1.1.0"; "DEL 1.0.0" ] "the bridge calls of DEL"
                  Attachment.expectNothingLeft scene

                  expectOk "GC with nothing listed" (runNetwork scene "GC" (L4lb.gcConfig conf []))
                  Attachment.expectNothingLeft scene

                  Expect.equal
                      (scene.AttachmentRecords)
                      []
                      "attachment records at the end")

          AgentScenes.scenario<Scene>
              "DEL at 1.1.0 without prevResult and without CNI_NETNS releases everything"
              (fun scene ->
                  installWrapper scene
                  let conf = config scene
                  expectOk "ADD" (run scene "ADD" conf)
                  calls scene |> ignore

                  let del =
                      { L4lb.invocation scene "DEL" scene.MainContainer conf with
                          Netns = None
                          CniPath = cniPath scene }

                  expectOk "DEL" (L4lb.exec del)
                  Expect.equal (calls scene) [ "DEL 1.1.0"; "VERSION 1.1.0"; "DEL 1.0.0" ] "the bridge calls of DEL"
                  Attachment.expectReleased scene
                  Attachment.expectNoHostVeth scene) ]
