/// The result's DNS option and the Mesos helper.
module Dcos.L4lb.Tests.Issue8Properties

open System
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb
open Dcos.L4lb.Tests.Generators

let private config = { FsCheckConfig.defaultConfig with maxTest = scaled 250 }
let private property name body = testPropertyWithConfig config name body

let private address = Gen.choose (0, Int32.MaxValue) |> Gen.map (uint32 >> Ipv4)

let dns =
    testList
        "result DNS"
        [ property "Spartan's addresses come first, once each, and the rest of the result is untouched"
          <| Prop.forAll (Arb.fromGen (Gen.zip3 (Gen.nonEmptyListOf address |> Gen.map List.distinct) (Gen.listOf address) jsonObject)) (fun (ours, theirs, rest) ->
              let existing = Json.Array(theirs |> List.map (fun ip -> Json.String(ip.ToString())))
              let result = rest |> Json.withField "dns" (Json.Object [ "nameservers", existing; "search", Json.Array [ Json.String "a.b" ] ])
              let updated = PluginOutput.withNameservers ours result

              let servers =
                  match Json.tryField "dns" updated |> Option.bind (Json.tryField "nameservers") with
                  | Some(Json.Array items) -> items |> List.map (function Json.String s -> s | _ -> "")
                  | _ -> []

              let oursText = ours |> List.map string
              let theirsText = theirs |> List.map string

              servers = oursText @ (theirsText |> List.filter (fun t -> not (List.contains t oursText)))
              && Json.tryField "dns" updated |> Option.bind (Json.tryField "search") = Some(Json.Array [ Json.String "a.b" ])
              && Json.deepEqual (Json.withField "dns" Json.Null updated) (Json.withField "dns" Json.Null result))

          testCase "with spartan.dns, ADD's result lists the Spartan addresses first" <| fun () ->
              let conf =
                  match NetConf.parse (ReadOnlyMemory(Encoding.UTF8.GetBytes(Examples.seedExample.Replace("\"type\": \"dcos-l4lb\",", "\"type\": \"dcos-l4lb\", \"spartan\": {\"dns\": true},")))) with
                  | Ok c -> c
                  | Error e -> failtestf "%A" e

              let rt = { Command = Add; ContainerId = "a"; Netns = Some "/run/netns/a"; IfName = "eth0"; Args = []; Path = [ "/x" ] }

              let w, reply, _ =
                  HostModel.run (HostModel.initial |> HostModel.addNetns "/run/netns/a") (Machine.start (Plans.add conf rt))

              ignore w
              let text = Encoding.UTF8.GetString reply.Stdout
              Expect.equal reply.ExitCode 0 text
              Expect.stringContains text "\"nameservers\":[\"198.51.100.1\",\"198.51.100.2\",\"198.51.100.3\",\"198.51.100.4\"]" "nameservers" ]

let mesos =
    let lookup pairs name = pairs |> List.tryFind (fst >> (=) name) |> Option.map snd

    testList
        "Mesos container IP"
        [ property "MESOS_CONTAINER_IP wins over LIBPROCESS_IP"
          <| Prop.forAll (Arb.fromGen (Gen.zip address address)) (fun (a, b) ->
              Mesos.containerIp (lookup [ "LIBPROCESS_IP", string b; "MESOS_CONTAINER_IP", string a ]) = Ok(MesosAddress a))

          property "LIBPROCESS_IP is used when MESOS_CONTAINER_IP is unset or empty"
          <| Prop.forAll (Arb.fromGen (Gen.zip address (Gen.elements [ []; [ "MESOS_CONTAINER_IP", "" ] ]))) (fun (b, extra) ->
              Mesos.containerIp (lookup (("LIBPROCESS_IP", string b) :: extra)) = Ok(MesosAddress b))

          property "anything but an IPv4 address is an error naming the variable"
          <| Prop.forAll (Arb.fromGen (Gen.elements [ "fd00::1"; "::"; "10.0.0"; "10.0.0.256"; "host"; " 10.0.0.1"; "010.0.0.1" ])) (fun bad ->
              match Mesos.containerIp (lookup [ "MESOS_CONTAINER_IP", bad ]) with
              | Error message -> message.Contains "MESOS_CONTAINER_IP" && (not (bad.Contains ':') || message.Contains "IPv6")
              | Ok _ -> false)

          testCase "0.0.0.0 means: resolve the host name" <| fun () ->
              Expect.equal (Mesos.containerIp (lookup [ "LIBPROCESS_IP", "0.0.0.0" ])) (Ok ResolveHostname) "resolve"

          testCase "neither set is an error" <| fun () ->
              Expect.isError (Mesos.containerIp (lookup [])) "error" ]

let chained =
    testList
        "chained mode"
        [ testCase "without a delegate, ADD needs prevResult: code 7 at $.delegate" <| fun () ->
              let conf =
                  match NetConf.parse (ReadOnlyMemory(Encoding.UTF8.GetBytes """{"cniVersion": "1.0.0", "name": "n", "type": "dcos-l4lb"}""")) with
                  | Ok c -> c
                  | Error e -> failtestf "%A" e

              let rt = { Command = Add; ContainerId = "a"; Netns = Some "/run/netns/a"; IfName = "eth0"; Args = []; Path = [ "/x" ] }

              match Plugin.plan rt conf with
              | Error e -> Expect.equal (e.Code, e.Field) (7, "$.delegate") "error"
              | Ok _ -> failtest "planned"

              match Plugin.plan { rt with Command = Del } conf with
              | Ok plan -> Expect.isFalse (plan.Steps |> List.exists (fun s -> s.Name.StartsWith "delegate")) "DEL runs no delegate"
              | Error e -> failtest (e.Describe()) ]

let status =
    let statusOf (conf: NetConf) (w: HostModel.World) =
        let rt = { Command = Status; ContainerId = ""; Netns = None; IfName = ""; Args = []; Path = [ "/opt/cni/bin" ] }

        match Plugin.plan rt { conf with CniVersion = "1.1.0" } with
        | Ok plan ->
            let _, reply, _ = HostModel.run w (Machine.start plan)
            reply
        | Error e -> failwith (e.Describe())

    let reasons (conf: NetConf) =
        [ if conf.Spartan.Enabled then
              "Spartan IPAM plugin", (fun (w: HostModel.World) -> { w with MissingPlugins = w.MissingPlugins.Add conf.Spartan.Network.IpamType })
              "IPv4 forwarding", (fun w -> { w with ReadOnly = w.ReadOnly.Add "/proc/sys/net/ipv4/ip_forward" })
          if conf.Minuteman.Enabled then
              "Minuteman checkpoint directory", (fun w -> { w with ReadOnly = w.ReadOnly.Add conf.Minuteman.Path })
          if conf.Delegate.IsSome then
              "delegate plugin", (fun w -> { w with MissingPlugins = w.MissingPlugins.Add(Delegate.pluginType conf) }) ]

    let distinctTypes (c: NetConf) =
        c.Delegate.IsNone || Delegate.pluginType c <> c.Spartan.Network.IpamType

    testList
        "STATUS"
        [ property "a ready host: STATUS succeeds, with or without a delegate that knows STATUS"
          <| Prop.forAll (Arb.fromGen (Gen.zip validConfig (Gen.elements [ true; false ]))) (fun (conf, knowsStatus) ->
              let w =
                  if knowsStatus || conf.Delegate.IsNone then HostModel.initial
                  else { HostModel.initial with PluginVersions = Map [ Delegate.pluginType conf, [ "1.0.0" ] ] }

              (statusOf conf w).ExitCode = 0)

          property "anything ADD needs that is missing makes STATUS fail with code 50, naming it"
          <| Prop.forAll (Arb.fromGen (Gen.zip (validConfig |> Gen.filter distinctTypes) (Gen.choose (0, 100)))) (fun (conf, pick) ->
              let options = reasons conf
              let name, breakIt = options[pick % options.Length]
              let reply = statusOf conf (breakIt HostModel.initial)
              let text = Encoding.UTF8.GetString reply.Stdout
              (reply.ExitCode <> 0 && text.Contains "\"code\":50" && text.Contains name) |> Prop.label text)

          testCase "STATUS needs a 1.1.0 config: code 1" <| fun () ->
              let conf = (Gen.sample 1 validConfig)[0]
              let rt = { Command = Status; ContainerId = ""; Netns = None; IfName = ""; Args = []; Path = [ "/x" ] }

              match Plugin.plan rt { conf with CniVersion = "1.0.0" } with
              | Error e -> Expect.equal e.Code 1 "code"
              | Ok _ -> failtest "planned" ]
