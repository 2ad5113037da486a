/// Bad configurations and environments, each run through the real binary: the reply must
/// be the CNI error object with the expected code, on stdout, with a non-zero exit, and
/// nothing may be left behind (links, checkpoint directory, IPAM state).
module Dcos.L4lb.Tests.Corpus

open System
open System.Text.Json
open Expecto
open Dcos.L4lb.Tests.Scene

/// A valid config; @PATH@ becomes the scene's checkpoint directory.
let private good =
    """{"cniVersion": "1.0.0", "name": "proto-net", "type": "dcos-l4lb",
        "minuteman": {"enable": true, "path": "@PATH@"},
        "delegate": {"type": "bridge", "bridge": "proto0", "ipam": {"type": "host-local", "subnet": "10.250.0.0/24"}}}"""

let private edit (from: string) (replacement: string) = good.Replace(from, replacement)

type private Case =
    { Name: string
      Env: (string * string option) list
      /// The stdin bytes, given the scene's checkpoint directory.
      Stdin: string -> byte[]
      Code: int }

let private case name env (stdin: string) code =
    { Name = name
      Env = env
      Stdin = fun path -> Text.Encoding.UTF8.GetBytes(stdin.Replace("@PATH@", path))
      Code = code }

let private cases =
    [ case "empty stdin" [] "" 6
      case "not JSON" [] "cniVersion=1.0.0" 6
      case "truncated JSON" [] (good.Substring(0, 40)) 6
      case "a JSON array" [] "[1,2]" 6
      { case "invalid UTF-8" [] "" 6 with Stdin = fun _ -> [| yield! "{\"name\": \""B; 0xffuy; 0xfeuy; yield! "\"}"B |] }
      case "unsupported cniVersion" [] (edit "\"1.0.0\"" "\"2.0.0\"") 1
      case "missing cniVersion" [] (edit "\"cniVersion\": \"1.0.0\"," "") 7
      case "missing delegate" [] """{"cniVersion": "1.0.0", "name": "n", "type": "dcos-l4lb"}""" 7
      case "delegate type is a path" [] (edit "\"type\": \"bridge\"" "\"type\": \"/usr/lib/cni/bridge\"") 7
      case "delegate type is dot-dot" [] (edit "\"type\": \"bridge\"" "\"type\": \"..\"") 7
      case "both features disabled" [] ((edit "\"enable\": true, \"path\": \"@PATH@\"" "\"enable\": false").Replace("\"type\": \"dcos-l4lb\",", "\"type\": \"dcos-l4lb\", \"spartan\": false,")) 7
      case "relative minuteman path" [] (edit "@PATH@" "var/run/l4lb") 7
      case "mtu is a string" [] (edit "\"name\"" "\"mtu\": \"1500\", \"name\"") 7
      case "service inside the Spartan range" [] (edit "\"name\"" "\"spartan\": {\"services\": [\"198.51.100.50\"]}, \"name\"") 7
      case "network name with a slash" [] (edit "proto-net" "proto/net") 7
      case "unknown command" [ "CNI_COMMAND", Some "ATTACH" ] good 4
      case "missing container ID" [ "CNI_CONTAINERID", None ] good 4
      case "container ID with a slash" [ "CNI_CONTAINERID", Some "../../etc/passwd" ] good 4
      case "ifname too long" [ "CNI_IFNAME", Some "eth0123456789012" ] good 4
      case "ifname with a colon" [ "CNI_IFNAME", Some "eth0:1" ] good 4
      case "netns missing for ADD" [ "CNI_NETNS", None ] good 4
      case "netns missing for CHECK" [ "CNI_COMMAND", Some "CHECK"; "CNI_NETNS", None ] good 4
      case "relative netns" [ "CNI_NETNS", Some "run/netns/x" ] good 4
      case "missing CNI_PATH" [ "CNI_PATH", None ] good 4
      case "malformed CNI_ARGS" [ "CNI_ARGS", Some "IgnoreUnknown" ] good 4
      case "oversized stdin" [] (good + String(' ', 1 <<< 20)) 6 ]

let private baseEnv (scene: Scene) =
    [ "CNI_COMMAND", "ADD"
      "CNI_CONTAINERID", "proto1"
      "CNI_NETNS", scene.Netns
      "CNI_IFNAME", "eth0"
      "CNI_PATH", "/usr/lib/cni" ]

let private apply (changes: (string * string option) list) (env: (string * string) list) =
    changes
    |> List.fold
        (fun env (key, value) ->
            let rest = env |> List.filter (fun (k, _) -> k <> key)

            match value with
            | Some v -> (key, v) :: rest
            | None -> rest)
        env

/// The reply is one JSON object of the spec's error shape; returns its code.
let private errorCode (stdout: string) =
    use doc = JsonDocument.Parse stdout
    let root = doc.RootElement
    Expect.equal root.ValueKind JsonValueKind.Object "an object"
    Expect.isNonEmpty (root.GetProperty("msg").GetString()) "msg"
    Expect.isNonEmpty (root.GetProperty("cniVersion").GetString()) "cniVersion"
    root.GetProperty("code").GetInt32()

let private runCase (c: Case) =
    use scene = new Scene()
    let before = scene.Snapshot()
    let outcome = Binary.runBytes (apply c.Env (baseEnv scene)) (c.Stdin scene.CheckpointDir)
    let after = scene.Snapshot()
    Expect.notEqual outcome.ExitCode 0 "a non-zero exit"
    Expect.equal (errorCode outcome.Stdout) c.Code $"the CNI code; reply was {outcome.Stdout}"
    Expect.equal after before "nothing left behind"
    Expect.isFalse after.CheckpointDirExists "no checkpoint directory"

let tests =
    testList "bad input" [ for c in cases -> testCase c.Name (fun () -> runCase c) ] |> testSequenced

/// A valid request whose delegate binary is missing, run inside the scene's netns (so the
/// forwarding sysctl it sets is the scene's): the error names the plugin and the step,
/// and nothing is left.
let missingDelegate =
    testCase "a valid ADD whose delegate is missing fails at that step, leaving nothing" <| fun () ->
        use scene = new Scene()
        let before = scene.Snapshot()
        let emptyPath = IO.Directory.CreateTempSubdirectory("l4lb-proto-path-")

        try
            let env = baseEnv scene |> List.map (fun (k, v) -> if k = "CNI_PATH" then k, emptyPath.FullName else k, v)
            let stdin = Text.Encoding.UTF8.GetBytes(good.Replace("@PATH@", scene.CheckpointDir))
            let outcome = Binary.runBytesIn (Some scene.NetnsName) env stdin
            Expect.equal outcome.ExitCode 1 "exit 1"
            Expect.equal (errorCode outcome.Stdout) 100 "code"
            Expect.stringContains outcome.Stdout "ADD step 2 (delegate bridge ADD)" "names the step"
            Expect.stringContains outcome.Stdout "plugin \\\"bridge\\\" not found in CNI_PATH" "names the plugin"
            Expect.equal (scene.Snapshot()) before "nothing left behind"
        finally
            emptyPath.Delete true

let garbage =
    testCase "random bytes on stdin always get a CNI error" <| fun () ->
        use scene = new Scene()
        let random = Random 20261127
        let before = scene.Snapshot()

        for i in 1..40 do
            let bytes = Array.zeroCreate (random.Next(0, 300))
            random.NextBytes bytes
            // half the inputs start like JSON, to get past the first byte
            if i % 2 = 0 && bytes.Length > 0 then bytes[0] <- byte '{'
            let outcome = Binary.runBytes (baseEnv scene) bytes
            Expect.equal outcome.ExitCode 1 "exit 1"
            Expect.contains [ 1; 6; 7 ] (errorCode outcome.Stdout) "a decode or config code"

        Expect.equal (scene.Snapshot()) before "nothing left behind"
