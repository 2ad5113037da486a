module Dcos.L4lb.Tests.Examples

open System
open System.Collections.Generic
open System.Text
open Expecto
open Dcos.L4lb

let private parse (text: string) = NetConf.parse (ReadOnlyMemory(Encoding.UTF8.GetBytes text))

let private ok text =
    match parse text with
    | Ok c -> c
    | Error errors -> failtestf "expected a valid config, got %A" (errors |> List.map _.Describe())

/// The seed README's example, as examples/10-spartan-net.conf ships it and a runtime would
/// send it.
let seedExample =
    IO.File.ReadAllText(IO.Path.Combine(L4lbBinary.repoRoot, "examples", "10-spartan-net.conf"))

let private upstreamCase (extra: string) =
    """{"cniVersion": "0.3.0", "name": "l4lb-test", "type": "dcos-l4lb",
          "delegate": {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local", "subnet": "10.1.2.0/24"}}"""
    + extra
    + "}"

let configs =
    testList
        "config examples"
        [ testCase "the seed README example: both features on, upstream's Spartan network" <| fun () ->
              let c = ok seedExample
              Expect.equal c.CniVersion "0.2.0" "version"
              Expect.equal c.Name "spartan-net" "name"
              Expect.equal (Delegate.pluginType c) "bridge" "delegate type"
              Expect.equal c.Spartan Defaults.spartan "spartan defaults"
              Expect.equal c.Minuteman Defaults.minuteman "minuteman defaults"
              Expect.equal (string c.Spartan.Network.Subnet) "198.51.100.0/24" "upstream subnet"
              Expect.equal (c.Spartan.Network.Services |> List.map string) [ "198.51.100.1"; "198.51.100.2"; "198.51.100.3"; "198.51.100.4" ] "services"

          testCase "the seed example's delegate gets name and cniVersion, no args" <| fun () ->
              let merged = Delegate.config Add (ok seedExample) |> Json.render |> Encoding.UTF8.GetString
              Expect.stringContains merged "\"name\":\"spartan-net\"" "name copied"
              Expect.stringContains merged "\"cniVersion\":\"0.2.0\"" "version copied"
              Expect.isFalse (merged.Contains "args") "no args injected"
              Expect.stringContains merged "\"routes\":[{\"dst\":\"10.0.0.0/8\"}]" "nested fields kept"

          testCase "upstream case 1: default values" <| fun () ->
              let c = ok (upstreamCase "")
              Expect.isTrue (c.Spartan.Enabled && c.Minuteman.Enabled) "both on"
              Expect.equal c.Minuteman.Path "/var/run/dcos/cni/l4lb" "default path"

          testCase "upstream case 2: explicit spartan.enable and a custom minuteman path" <| fun () ->
              let c = ok (upstreamCase """, "spartan": {"enable": true}, "minuteman": {"enable": true, "path": "/var/run/dcos/cni/test"}""")
              Expect.isTrue c.Spartan.Enabled "spartan on"
              Expect.equal c.Minuteman { Enabled = true; Path = "/var/run/dcos/cni/test" } "minuteman"

          testCase "upstream case 3: spartan disabled" <| fun () ->
              let c = ok (upstreamCase """, "spartan": {"enable": false}""")
              Expect.isFalse c.Spartan.Enabled "spartan off"
              Expect.isTrue c.Minuteman.Enabled "minuteman on"

          testCase "spartan as a bare boolean, as upstream's README wrote it" <| fun () ->
              Expect.isFalse (ok (upstreamCase """, "spartan": false""")).Spartan.Enabled "off"

          testCase "null means absent" <| fun () ->
              let c = ok (upstreamCase """, "args": null, "spartan": null, "mtu": null""")
              Expect.equal c.Args None "args"
              Expect.equal c.Spartan Defaults.spartan "spartan"

          testCase "a custom Spartan network" <| fun () ->
              let c =
                  ok (
                      upstreamCase
                          """, "spartan": {"interface": "dns0", "network": "dns-net", "ipam": {"type": "my-ipam", "subnet": "10.9.0.0/16", "rangeStart": "10.9.1.0", "rangeEnd": "10.9.1.255"}, "services": ["10.9.0.53"]}, "mtu": 1400"""
                  )

              Expect.equal c.Spartan.Network.Interface "dns0" "interface"
              Expect.equal c.Spartan.Network.IpamType "my-ipam" "ipam type"
              Expect.equal (string c.Spartan.Network.RangeEnd) "10.9.1.255" "range end"
              Expect.equal c.Mtu (Some 1400) "mtu"

          testCase "the last of repeated keys wins, as in Go" <| fun () ->
              Expect.equal (ok (upstreamCase """, "name": "second" """)).Name "second" "name"

          testCase "every shipped example config is valid" <| fun () ->
              let examples = IO.Directory.GetFiles(IO.Path.Combine(L4lbBinary.repoRoot, "examples"), "*.conf")
              Expect.isGreaterThanOrEqual examples.Length 3 "examples found"

              for file in examples do
                  ok (IO.File.ReadAllText file) |> ignore

          testCase "not JSON is code 6" <| fun () ->
              match parse "{\"cniVersion\": " with
              | Error [ e ] -> Expect.equal (e.Code, e.Field) (6, "$") "decode failure"
              | other -> failtestf "got %A" other

          testCase "a JSON array is code 6" <| fun () ->
              match parse "[]" with
              | Error [ e ] -> Expect.equal e.Code 6 "decode failure"
              | other -> failtestf "got %A" other ]

let private env (pairs: (string * string) list) : IReadOnlyDictionary<string, string> =
    Dictionary(dict pairs) :> IReadOnlyDictionary<string, string>

let private addEnv =
    [ "CNI_COMMAND", "ADD"
      "CNI_CONTAINERID", "abc123"
      "CNI_NETNS", "/run/netns/abc"
      "CNI_IFNAME", "eth0"
      "CNI_PATH", "/usr/lib/cni" ]

let private withVar key value pairs =
    (key, value) :: (pairs |> List.filter (fun (k, _) -> k <> key))

let private envErrors pairs =
    match Invocation.ofEnvironment (env pairs) with
    | Ok _ -> []
    | Error errors -> errors |> List.map (fun e -> e.Code, e.Field)

let environment =
    testList
        "environment examples"
        [ testCase "a complete ADD environment" <| fun () ->
              match Invocation.ofEnvironment (env (withVar "CNI_ARGS" "IgnoreUnknown=1;K8S_POD_NAME=web" addEnv)) with
              | Ok r ->
                  Expect.equal r.Command Add "command"
                  Expect.equal r.Netns (Some "/run/netns/abc") "netns"
                  Expect.equal r.Args [ "IgnoreUnknown", "1"; "K8S_POD_NAME", "web" ] "args"
              | Error e -> failtestf "%A" e

          testCase "DEL without a netns is fine" <| fun () ->
              let pairs = addEnv |> withVar "CNI_COMMAND" "DEL" |> List.filter (fun (k, _) -> k <> "CNI_NETNS")
              Expect.equal (envErrors pairs) [] "no errors"

          testCase "ADD and CHECK need a netns" <| fun () ->
              for command in [ "ADD"; "CHECK" ] do
                  let pairs = addEnv |> withVar "CNI_COMMAND" command |> withVar "CNI_NETNS" ""
                  Expect.equal (envErrors pairs) [ 4, "CNI_NETNS" ] command

          testCase "each bad variable is code 4 and named" <| fun () ->
              let cases =
                  [ "CNI_CONTAINERID", "-abc"
                    "CNI_CONTAINERID", "a b"
                    "CNI_IFNAME", "eth0:1"
                    "CNI_IFNAME", "a-very-long-ifname"
                    "CNI_NETNS", "run/netns/x"
                    "CNI_ARGS", "novalue"
                    "CNI_ARGS", "a=b=c"
                    "CNI_PATH", ":::"
                    "CNI_COMMAND", "ATTACH" ]

              for key, value in cases do
                  Expect.equal (envErrors (withVar key value addEnv)) [ 4, key ] $"{key}={value}"

          testCase "every missing variable is reported at once" <| fun () ->
              let fields = envErrors [ "CNI_COMMAND", "ADD" ] |> List.map snd
              Expect.equal fields [ "CNI_CONTAINERID"; "CNI_NETNS"; "CNI_IFNAME"; "CNI_PATH" ] "all of them"

          testCase "VERSION needs nothing else" <| fun () -> Expect.equal (envErrors [ "CNI_COMMAND", "VERSION" ]) [] "none"

          testCase "empty CNI_ARGS segments are skipped" <| fun () ->
              Expect.equal (Invocation.parseArgs ";a=1;;b=;") (Ok [ "a", "1"; "b", "" ]) "pairs" ]

let private reply pairs (stdin: string) =
    match Core.start (env pairs) (Encoding.UTF8.GetBytes stdin) with
    | Finished r -> r
    | Pending request -> failtestf "expected a reply, got the effect %s" (request.Effect.Describe())

let private stdout (r: Reply) = Encoding.UTF8.GetString r.Stdout

let protocol =
    testList
        "protocol replies"
        [ testCase "the version the plugin reports is the build's" <| fun () ->
              let props = IO.File.ReadAllText(IO.Path.Combine(L4lbBinary.repoRoot, "Directory.Build.props"))
              Expect.stringContains props $"<Version>{Core.version}</Version>" "Core.version matches Directory.Build.props"

          testCase "VERSION lists all seven versions" <| fun () ->
              let r = reply [ "CNI_COMMAND", "VERSION" ] "{\"cniVersion\":\"1.0.0\"}"
              Expect.equal r.ExitCode 0 "exit"

              Expect.equal
                  (stdout r)
                  """{"cniVersion":"1.1.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"""
                  "reply"

          testCase "without CNI_COMMAND: the about text on stderr, nothing on stdout" <| fun () ->
              let r = reply [] ""
              Expect.equal r.ExitCode 0 "exit"
              Expect.equal r.Stdout [||] "stdout"
              Expect.stringContains r.Stderr "dcos-l4lb" "name"
              Expect.stringContains r.Stderr "0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0" "versions"

          testCase "an error reply is the spec's error object, in the config's version" <| fun () ->
              let r = reply addEnv (seedExample.Replace("\"bridge\",", "\"../bridge\","))
              Expect.equal r.ExitCode 1 "exit"

              match Json.parse (ReadOnlyMemory r.Stdout) with
              | Ok j ->
                  Expect.equal (Json.tryField "cniVersion" j) (Some(Json.String "0.2.0")) "version"
                  Expect.equal (Json.tryField "code" j) (Some(Json.Number "7")) "code"
                  Expect.equal (Json.tryField "details" j) None "one error, no details"

                  match Json.tryField "msg" j with
                  | Some(Json.String msg) -> Expect.stringStarts msg "$.delegate.type: " "msg names the field"
                  | other -> failtestf "msg: %A" other
              | Error e -> failtest e

          testCase "environment errors come first, config errors follow in details" <| fun () ->
              let r = reply (withVar "CNI_IFNAME" "a/b" addEnv) "{\"cniVersion\":\"9.9.9\"}"
              let text = stdout r
              Expect.stringContains text "\"code\":4" "env code leads"
              Expect.stringContains text "$.cniVersion: version \\\"9.9.9\\\" is not supported" "details list the rest"

          testCase "an unknown command is code 4" <| fun () ->
              Expect.stringContains (stdout (reply [ "CNI_COMMAND", "FOO" ] "{}")) "\"code\":4" "code" ]

let addresses =
    testList
        "IPv4"
        [ testCase "dotted quads parse strictly" <| fun () ->
              Expect.equal (Ipv4.tryParse "198.51.100.1" |> Option.map string) (Some "198.51.100.1") "valid"

              for bad in [ "198.51.100"; "198.51.100.1.1"; "198.51.100.01"; "256.1.1.1"; "1.2.3.-4"; ""; "::1"; " 1.2.3.4" ] do
                  Expect.isNone (Ipv4.tryParse bad) bad

          testCase "subnets need zero host bits" <| fun () ->
              Expect.isOk (Ipv4Prefix.tryParse "10.0.0.0/8") "valid"
              Expect.isError (Ipv4Prefix.tryParse "10.0.0.1/8") "host bits"
              Expect.isError (Ipv4Prefix.tryParse "10.0.0.0/33") "length" ]
