/// CNI version negotiation on the pure host model: plugins that stop at an older version
/// still serve a newer config.
module Dcos.L4lb.Tests.NegotiationProperties

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

let negotiation =
    testList
        "version negotiation"
        [ property "an IPAM plugin that stops at 1.0.0 still serves a 1.1.0 config, for ADD and DEL"
          <| Prop.forAll (Arb.fromGen (ipamScenario |> Gen.map (fun s -> { s with Conf = { s.Conf with CniVersion = "1.1.0" } }))) (fun s ->
              let w0 = { before s with PluginVersions = Map [ s.Conf.Spartan.Network.IpamType, [ "0.1.0"; "0.2.0"; "0.3.0"; "0.3.1"; "0.4.0"; "1.0.0" ] ] }
              let w1, added, trace = add s w0
              let w2, deleted, _ = del s s.Ours w1
              let asked = trace |> List.exists (function AwaitPlugin p -> p.Call.Command = "VERSION" | _ -> false)
              (ok added && ok deleted && asked && settled w2 = settled w0) |> Prop.label (replyText added + replyText deleted))

          property "with no version in common, ADD fails with code 1 and leaves nothing"
          <| Prop.forAll (Arb.fromGen ipamScenario) (fun s ->
              let w0 = { before s with PluginVersions = Map [ s.Conf.Spartan.Network.IpamType, [ "9.9.9" ] ] }
              let w1, added, _ = add s w0
              (added.ExitCode <> 0 && replyText(added).Contains "\"code\":1" && settled w1 = settled w0) |> Prop.label (replyText added))

          property "a delegate that stops at 1.0.0 serves a 1.1.0 config: ADD (its result given as 1.1.0), CHECK and DEL, the host as before"
          <| Prop.forAll (Arb.fromGen (scenario |> Gen.filter (fun s -> s.Conf.Delegate.IsSome) |> Gen.map (fun s -> { s with Conf = { s.Conf with CniVersion = "1.1.0" } }))) (fun s ->
              let older = [ "0.1.0"; "0.2.0"; "0.3.0"; "0.3.1"; "0.4.0"; "1.0.0" ]
              let w0 = { before s with PluginVersions = Map [ Delegate.pluginType s.Conf, older ] }
              let w1, added, _ = add s w0
              let withResult = { s.Conf with PrevResult = Json.parse (ReadOnlyMemory added.Stdout) |> Result.toOption }
              let _, checkedOk, _ = run w1 (invocation withResult (withCommand Check s.Ours))
              let w2, deleted, _ = run w1 (invocation withResult (withCommand Del s.Ours))

              let version =
                  match Json.parse (ReadOnlyMemory added.Stdout) |> Result.map (Json.tryField "cniVersion") with
                  | Ok(Some(Json.String v)) -> v
                  | _ -> "?"

              (ok added && version = "1.1.0" && ok checkedOk && ok deleted && settled w2 = settled w0)
              |> Prop.label (replyText added + replyText checkedOk + replyText deleted))

          property "a delegate that speaks only 0.4.0 under a 1.0.0 config: its result loses the addresses' version"
          <| Prop.forAll (Arb.fromGen (scenario |> Gen.filter (fun s -> s.Conf.Delegate.IsSome) |> Gen.map (fun s -> { s with Conf = { s.Conf with CniVersion = "1.0.0" } }))) (fun s ->
              let w0 = { before s with PluginVersions = Map [ Delegate.pluginType s.Conf, [ "0.3.1"; "0.4.0" ] ] }
              let w1, added, _ = add s w0
              let w2, deleted, _ = del s s.Ours w1

              match Json.parse (ReadOnlyMemory added.Stdout) with
              | Ok result ->
                  (ok added && ok deleted && Json.tryField "cniVersion" result = Some(Json.String "1.0.0") && settled w2 = settled w0)
                  |> Prop.label (replyText added)
              | Error e -> false |> Prop.label e)

          property "after a refusal, the agreed version is kept: the rollback's IPAM DEL gets it at once"
          <| Prop.forAll (Arb.fromGen (ipamScenario |> Gen.map (fun s -> { s with Conf = { s.Conf with CniVersion = "1.1.0" } }))) (fun s ->
              let w0 = { before s with PluginVersions = Map [ s.Conf.Spartan.Network.IpamType, [ "0.4.0"; "1.0.0" ] ] }
              // the veth step fails after the IPAM ADD, so the IPAM DEL undoes it
              let inject _ effect =
                  match effect with
                  | Change(CreateVeth _) -> Some(failure "injected")
                  | _ -> None

              let w1, added, trace = runWith inject w0 (invocation s.Conf s.Ours)
              let isIpam (c: PluginCall) = c.Type = s.Conf.Spartan.Network.IpamType && (Json.tryField "ipam" c.Config).IsSome || c.Command = "VERSION"
              let ipamRuns = trace |> List.choose (function AwaitPlugin p when isIpam p.Call -> Some p.Call | _ -> None)
              let shown = ipamRuns |> List.map (fun c -> c.Command + "@" + (match Json.tryField "cniVersion" c.Config with Some(Json.String v) -> v | _ -> "?"))

              (added.ExitCode <> 0 && settled w1 = settled w0 && shown = [ "ADD@1.1.0"; "VERSION@1.1.0"; "ADD@1.0.0"; "DEL@1.0.0" ])
              |> Prop.label (String.Join(", ", shown)))

          testCase "a delegate run at an older version gets prevResult in that version's format" <| fun () ->
              let parse (text: string) =
                  match Json.parse (ReadOnlyMemory(Encoding.UTF8.GetBytes text)) with
                  | Ok j -> j
                  | Error e -> failtest e

              let withPrev (prev: string) = parse $"""{{"cniVersion":"1.1.0","type":"bridge","prevResult":{prev}}}"""
              let prevOf (config: Json) = Json.tryField "prevResult" config
              let v1 = """{"cniVersion":"1.1.0","ips":[{"address":"10.0.0.5/24"},{"address":"fd00::5/64"}]}"""
              let v04 = """{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.5/24"}]}"""

              Expect.equal
                  (prevOf (PluginOutput.prevResultIn "1.0.0" (withPrev v1)))
                  (Some(parse """{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.5/24"},{"address":"fd00::5/64"}]}"""))
                  "same format: only cniVersion changes"

              Expect.equal
                  (prevOf (PluginOutput.prevResultIn "0.4.0" (withPrev v1)))
                  (Some(parse """{"cniVersion":"0.4.0","ips":[{"address":"10.0.0.5/24","version":"4"},{"address":"fd00::5/64","version":"6"}]}"""))
                  "1.x to 0.4.0: each address gets its version"

              Expect.equal
                  (prevOf (PluginOutput.prevResultIn "1.0.0" (withPrev v04)))
                  (Some(parse """{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.5/24"}]}"""))
                  "0.4.0 to 1.x: the versions go"

              Expect.equal (prevOf (PluginOutput.prevResultIn "0.2.0" (withPrev v1))) None "the 0.2.0 format has no prevResult"
              let bare = parse """{"cniVersion":"1.1.0","type":"bridge"}"""
              Expect.equal (PluginOutput.prevResultIn "1.0.0" bare) bare "without prevResult: unchanged" ]
