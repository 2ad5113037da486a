/// A plugin that is not in CNI_PATH, through the real binary in a netns of the test's: ADD
/// and CHECK refuse before acting (read from spy plugins, which log every run, and from
/// the plugin's own /var/lib, bound to a directory of the test's); DEL removes what it can
/// and reports the rest.
module Dcos.L4lb.Tests.MissingPlugins

open System
open System.IO
open System.Text
open Expecto
open Dcos.L4lb.Tests.InvocationScene

let private config (cniVersion: string) (delegateType: string) (ipamType: string) (minuteman: string) =
    $"{{\"cniVersion\": \"{cniVersion}\", \"name\": \"proto-net\", \"type\": \"dcos-l4lb\", \"minuteman\": {minuteman},"
    + $"\"spartan\": {{\"ipam\": {{\"type\": \"{ipamType}\"}}}}, \"delegate\": {{\"type\": \"{delegateType}\"}}}}"

/// Every file under the directory that stood in for /var/lib (lock files, records, IPAM
/// state), relative to it.
let private filesUnder (dir: string) =
    Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
    |> Array.map (fun f -> Path.GetRelativePath(dir, f))
    |> Array.sort
    |> List.ofArray

let private msg (stdout: string) =
    use doc = Text.Json.JsonDocument.Parse stdout
    doc.RootElement.GetProperty("msg").GetString()

/// Runs one command in the scene's netns with CNI_PATH `path` and /var/lib bound to `varLib`.
let private invoke (scene: Scene) (varLib: string) (command: string) (path: string) (stdin: string) =
    let env =
        [ "CNI_COMMAND", command
          "CNI_CONTAINERID", "proto1"
          "CNI_NETNS", scene.Netns
          "CNI_IFNAME", "eth0"
          "CNI_PATH", path ]

    L4lb.execRaw (L4lb.InNetns(scene.NetnsName, varLib)) env (Encoding.UTF8.GetBytes stdin)

/// A refused command: its error names the step that looked for the plugin; no plugin ran,
/// nothing was locked or written, nothing changed in the netns or on the host.
let private refused command cniVersion delegateType ipamType (step: string) =
    testCase $"{command}: {step} missing, nothing run, locked or written" <| fun () ->
        use scene = new Scene()
        use spies = new FakePlugins.FakePath()
        let varLib = Directory.CreateTempSubdirectory("l4lb-proto-varlib-")

        try
            let before = scene.Snapshot()
            let minuteman = $"{{\"enable\": true, \"path\": \"{scene.CheckpointDir}\"}}"
            let o = invoke scene varLib.FullName command spies.Directory (config cniVersion delegateType ipamType minuteman)
            Expect.equal o.ExitCode 1 $"exit 1: {o.Stdout} {o.Stderr}"
            Expect.stringStarts (msg o.Stdout) $"{command} step " "names the step"
            Expect.stringContains (msg o.Stdout) $"({step})" "the step that looks for the plugin"
            Expect.stringContains o.Stdout "not found in CNI_PATH" "says what is wrong"
            Expect.isEmpty spies.Calls "no plugin ran (the spies log every run)"
            Expect.isEmpty (filesUnder varLib.FullName) "no lock file, no attachment record, no IPAM state"
            Expect.equal (scene.Snapshot()) before "no link, no checkpoint directory"
        finally
            varLib.Delete true

/// DEL with its IPAM plugin gone: the delegate's DEL and the Spartan veth's removal still
/// run, the missing plugin is reported, and the record stays until a DEL that finds it.
let private delRemovesWhatItCan =
    testCase "DEL: the IPAM plugin missing, the rest removed and the missing one reported" <| fun () ->
        use scene = new Scene()
        use spies = new FakePlugins.FakePath()
        let varLib = Directory.CreateTempSubdirectory("l4lb-proto-varlib-")

        try
            let before = scene.Snapshot()
            let conf = config "1.0.0" "fake-ok" "host-local" "{\"enable\": false}"
            let everything = spies.Directory + ":/usr/lib/cni"
            let record = "cni/dcos-l4lb/attachments/proto-net/proto1@eth0"
            let added = invoke scene varLib.FullName "ADD" everything conf
            Expect.equal added.ExitCode 0 $"ADD: {added.Stdout} {added.Stderr}"
            Expect.stringContains (Command.sh $"ip -n {scene.NetnsName} -o link show") "spartan" "ADD made the Spartan link"

            let o = invoke scene varLib.FullName "DEL" spies.Directory conf
            Expect.equal o.ExitCode 1 $"DEL fails: {o.Stdout}"
            Expect.stringContains (msg o.Stdout) "(Spartan IPAM host-local DEL)" "names the step"
            Expect.stringContains o.Stdout "plugin \\\"host-local\\\" not found in CNI_PATH" "names the plugin"
            Expect.equal spies.Calls [ "fake-ok ADD"; "fake-ok DEL" ] "the delegate's DEL ran"
            Expect.isFalse ((Command.sh $"ip -n {scene.NetnsName} -o link show").Contains "spartan") "the Spartan veth went"
            Expect.contains (filesUnder varLib.FullName) record "the record stays for a later DEL"

            let again = invoke scene varLib.FullName "DEL" everything conf
            Expect.equal again.ExitCode 0 $"a DEL that finds the plugin: {again.Stdout}"
            Expect.isFalse (filesUnder varLib.FullName |> List.contains record) "then the record goes"
            Expect.equal (scene.Snapshot()) before "nothing left on the host"
        finally
            varLib.Delete true

let tests =
    testList
        "a plugin missing from CNI_PATH"
        [ refused "ADD" "1.0.0" "nosuchplugin" "ipam-two" "delegate plugin"
          refused "ADD" "1.0.0" "fake-ok" "host-local" "Spartan IPAM plugin"
          refused "CHECK" "1.0.0" "nosuchplugin" "ipam-two" "delegate plugin"
          delRemovesWhatItCan ]
    |> testSequenced
