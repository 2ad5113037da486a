/// Bad configurations and environments, each run through the real binary: the reply must
/// be the CNI error object with the expected code, on stdout, with a non-zero exit, and
/// nothing may be left behind (links, checkpoint directory, IPAM state).
module Dcos.L4lb.Tests.Corpus

open System
open System.Text.Json
open Expecto
open Dcos.L4lb.Tests.InvocationScene

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
      case "oversized stdin" [] (good + String(' ', 1 <<< 20)) 6
      case "name is a number" [] (edit "\"proto-net\"" "42") 7
      case "type is a number" [] (edit "\"dcos-l4lb\"" "1") 7
      case "delegate is an array" [] """{"cniVersion": "1.0.0", "name": "n", "type": "dcos-l4lb", "delegate": [{"type": "bridge"}]}""" 7
      case "spartan is a string" [] (edit "\"name\"" "\"spartan\": \"on\", \"name\"") 7
      case "minuteman is an array" [] (edit "{\"enable\": true, \"path\": \"@PATH@\"}" "[true]") 7
      case "args is a string" [] (edit "\"name\"" "\"args\": \"K=V\", \"name\"") 7
      case "capabilities is a number" [] (edit "\"name\"" "\"capabilities\": 1, \"name\"") 7
      case "runtimeConfig is an array" [] (edit "\"name\"" "\"runtimeConfig\": [], \"name\"") 7
      case "prevResult is a string" [] (edit "\"name\"" "\"prevResult\": \"{}\", \"name\"") 7
      case "mtu is fractional" [] (edit "\"name\"" "\"mtu\": 1500.5, \"name\"") 7
      case "services is a string" [] (edit "\"name\"" "\"spartan\": {\"services\": \"198.51.100.1\"}, \"name\"") 7
      case "subnet is a number" [] (edit "\"name\"" "\"spartan\": {\"ipam\": {\"subnet\": 24}}, \"name\"") 7
      case "Spartan interface is lo" [] (edit "\"name\"" "\"spartan\": {\"interface\": \"lo\"}, \"name\"") 7
      case "minuteman path climbs out" [] (edit "@PATH@" "/var/run/../../etc") 7
      case "delegate type with a NUL" [] (edit "\"type\": \"bridge\"" "\"type\": \"bri\\u0000dge\"") 7
      case "cniVersion is not a version" [] (edit "\"1.0.0\"" "\"latest\"") 1
      case "CHECK on a 0.3.1 config" [ "CNI_COMMAND", Some "CHECK" ] (edit "\"1.0.0\"" "\"0.3.1\"") 1
      case "ifname is the Spartan link's" [ "CNI_IFNAME", Some "spartan" ] good 4
      case "ifname is dot-dot" [ "CNI_IFNAME", Some ".." ] good 4
      case "container ID with a space" [ "CNI_CONTAINERID", Some "abc def" ] good 4 ]

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
    let outcome = L4lb.execRaw L4lb.Here (apply c.Env (baseEnv scene)) (c.Stdin scene.CheckpointDir)
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
            let outcome = L4lb.execRaw scene.Place env stdin
            Expect.equal outcome.ExitCode 1 "exit 1"
            Expect.equal (errorCode outcome.Stdout) 100 "code"
            Expect.stringContains outcome.Stdout "(delegate plugin)" "names the step"
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
            let outcome = L4lb.execRaw L4lb.Here (baseEnv scene) bytes
            Expect.equal outcome.ExitCode 1 "exit 1"
            Expect.contains [ 1; 6; 7 ] (errorCode outcome.Stdout) "a decode or config code"

        Expect.equal (scene.Snapshot()) before "nothing left behind"

/// Plugins that misbehave, run for real inside the scene's netns: the error code and the
/// step are right, whatever the misbehaving plugin may have done is undone (its own DEL
/// runs after an ADD that exited 0), and nothing is left.
let misbehavingPlugins =
    let cases =
        [ "a delegate that prints garbage", "fake-garbage", "host-local", 6, "(delegate fake-garbage ADD)", [ "fake-garbage ADD"; "fake-garbage DEL" ]
          "a delegate result with no IPs", "fake-noip", "host-local", 100, "(delegate fake-noip ADD)", [ "fake-noip ADD"; "fake-noip DEL" ]
          "a delegate that fails with its own code", "fake-fail", "host-local", 11, "try again later", [ "fake-fail ADD" ]
          "a delegate that dies silently", "fake-silent", "host-local", 100, "exited with status 2", [ "fake-silent ADD" ]
          "an IPAM plugin that returns two addresses", "fake-ok", "ipam-two", 100, "returned 2 IPv4 addresses", [ "fake-ok ADD"; "ipam-two ADD"; "ipam-two DEL"; "fake-ok DEL" ]
          "an IPAM plugin that returns no address", "fake-ok", "ipam-none", 100, "returned no IPv4 address", [ "fake-ok ADD"; "ipam-none ADD"; "ipam-none DEL"; "fake-ok DEL" ]
          "an IPAM plugin that returns only IPv6", "fake-ok", "ipam-v6", 100, "returned no IPv4 address", [ "fake-ok ADD"; "ipam-v6 ADD"; "ipam-v6 DEL"; "fake-ok DEL" ] ]

    testList
        "misbehaving plugins"
        [ for name, delegateType, ipamType, code, says, calls in cases ->
              testCase name <| fun () ->
                  use scene = new Scene()
                  use fakes = new FakePlugins.FakePath()
                  let before = scene.Snapshot()

                  let config =
                      """{"cniVersion": "1.0.0", "name": "proto-net", "type": "dcos-l4lb", "minuteman": {"enable": false},"""
                      + $"\"spartan\": {{\"ipam\": {{\"type\": \"{ipamType}\"}}}}, \"delegate\": {{\"type\": \"{delegateType}\"}}}}"

                  let env = baseEnv scene |> List.map (fun (k, v) -> if k = "CNI_PATH" then k, fakes.Directory + ":/usr/lib/cni" else k, v)
                  let outcome = L4lb.execRaw scene.Place env (Text.Encoding.UTF8.GetBytes config)
                  Expect.equal outcome.ExitCode 1 "exit 1"
                  Expect.equal (errorCode outcome.Stdout) code $"code; reply {outcome.Stdout}"
                  Expect.stringContains outcome.Stdout says "the message names the problem"
                  // the delegate's ADD and the Spartan lane run side by side: the ADDs may
                  // come in either order, the undos in theirs
                  let adds (runs: string list) = runs |> List.filter (fun c -> c.EndsWith " ADD") |> List.sort
                  let undos (runs: string list) = runs |> List.filter (fun c -> not (c.EndsWith " ADD"))
                  Expect.equal (adds fakes.Calls, undos fakes.Calls) (adds calls, undos calls) "what ran, and what was undone"
                  Expect.equal (scene.Snapshot()) before "nothing left behind" ]
    |> testSequenced

/// A delegate that exits without reading a config larger than a pipe holds: writing the
/// rest fails (EPIPE), which must neither kill dcos-l4lb (SIGPIPE) nor hide the exit status.
let deafDelegate =
    testCase "a delegate that exits without reading its config (larger than a pipe holds)" <| fun () ->
        use scene = new Scene()
        use fakes = new FakePlugins.FakePath()
        let before = scene.Snapshot()
        let pad = String('x', 256 * 1024)

        let config =
            """{"cniVersion": "1.0.0", "name": "proto-net", "type": "dcos-l4lb", "minuteman": {"enable": false},"""
            + $"\"spartan\": {{\"ipam\": {{\"type\": \"host-local\"}}}}, \"delegate\": {{\"type\": \"{FakePlugins.deaf}\", \"pad\": \"{pad}\"}}}}"

        let env = baseEnv scene |> List.map (fun (k, v) -> if k = "CNI_PATH" then k, fakes.Directory + ":/usr/lib/cni" else k, v)
        let outcome = L4lb.execRaw scene.Place env (Text.Encoding.UTF8.GetBytes config)
        Expect.equal outcome.ExitCode 1 $"exit 1; stderr {outcome.Stderr}"
        Expect.equal (errorCode outcome.Stdout) 100 $"code; reply {outcome.Stdout}"
        Expect.stringContains outcome.Stdout "exited with status 2" "the delegate's exit status"
        Expect.equal fakes.Calls [ $"{FakePlugins.deaf} ADD" ] "what ran"
        Expect.equal (scene.Snapshot()) before "nothing left behind"

/// STATUS (CNI 1.1) through the binary: it changes nothing, so it runs where the test runs.
let status =
    let runWith (delegateType: string) (fakes: FakePlugins.FakePath) ipamType (scene: Scene) =
        let config =
            """{"cniVersion": "1.1.0", "name": "proto-net", "type": "dcos-l4lb","""
            + $"\"minuteman\": {{\"path\": \"{scene.CheckpointDir}\"}}, \"spartan\": {{\"ipam\": {{\"type\": \"{ipamType}\"}}}}, \"delegate\": {{\"type\": \"{delegateType}\"}}}}"

        L4lb.execRaw L4lb.Here [ "CNI_COMMAND", "STATUS"; "CNI_PATH", fakes.Directory ] (Text.Encoding.UTF8.GetBytes config)

    let run = runWith "fake-ok"

    testList
        "STATUS"
        [ testCase "ready: exit 0, nothing printed, the delegate's STATUS asked" <| fun () ->
              use scene = new Scene()
              use fakes = new FakePlugins.FakePath()
              let before = scene.Snapshot()
              let o = run fakes "ipam-none" scene
              Expect.equal (o.ExitCode, o.Stdout) (0, "") "ready"
              Expect.equal fakes.Calls [ "fake-ok VERSION"; "fake-ok STATUS" ] "the delegate's version, then its STATUS"
              Expect.equal (scene.Snapshot()) before "nothing changed"

          testCase "a delegate from before CNI 1.1 is not asked for STATUS" <| fun () ->
              use scene = new Scene()
              use fakes = new FakePlugins.FakePath()
              let o = runWith "fake-old" fakes "ipam-none" scene
              Expect.equal (o.ExitCode, o.Stdout) (0, "") "ready"
              Expect.equal fakes.Calls [ "fake-old VERSION" ] "only its version"

          testCase "a missing IPAM plugin: code 50, named" <| fun () ->
              use scene = new Scene()
              use fakes = new FakePlugins.FakePath()
              let o = run fakes "host-local" scene
              Expect.equal o.ExitCode 1 "exit 1"
              Expect.equal (errorCode o.Stdout) 50 "code 50"
              Expect.stringContains o.Stdout "Spartan IPAM plugin" "names what is missing" ]
    |> testSequenced
