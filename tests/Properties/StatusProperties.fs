/// STATUS (CNI 1.1): is the plugin ready to serve ADD?
module Dcos.L4lb.Tests.StatusProperties

open System
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb
open Dcos.L4lb.HostModel
open Dcos.L4lb.Tests.Generators
open Dcos.L4lb.Tests.Invocations
open Dcos.L4lb.Tests.PropertyTest

/// STATUS of this config (at 1.1.0) on this world: the reply.
let private statusOf (conf: NetConf) (w: HostModel.World) =
    let rt = { Command = Status; ContainerId = ""; Netns = None; IfName = ""; Args = []; Path = [ "/opt/cni/bin" ] }

    let _, reply, _ = HostModel.run w (Invocations.start { conf with CniVersion = "1.1.0" } rt)
    reply

/// What this config needs to be ready, each with a world that lacks it.
let private reasons (conf: NetConf) =
    [ if conf.Spartan.Enabled then
          "Spartan IPAM plugin", (fun (w: HostModel.World) -> { w with MissingPlugins = w.MissingPlugins.Add conf.Spartan.Network.IpamType })
          "IPv4 forwarding", (fun w -> { w with ReadOnly = w.ReadOnly.Add "/proc/sys/net/ipv4/ip_forward" })
      if conf.Minuteman.Enabled then
          "Minuteman checkpoint directory", (fun w -> { w with ReadOnly = w.ReadOnly.Add conf.Minuteman.Path })
      if conf.Delegate.IsSome then
          "delegate plugin", (fun w -> { w with MissingPlugins = w.MissingPlugins.Add(Delegate.pluginType conf) }) ]

/// The delegate and the Spartan IPAM are different plugins.
let private distinctTypes (c: NetConf) =
    c.Delegate.IsNone || Delegate.pluginType c <> c.Spartan.Network.IpamType

let status =
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

              match Core.command rt { conf with CniVersion = "1.0.0" } with
              | Error e -> Expect.equal e.Code 1 "code"
              | Ok _ -> failtest "STATUS runs" ]
