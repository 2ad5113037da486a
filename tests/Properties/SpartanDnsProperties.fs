/// spartan.dns: the Spartan addresses first among the nameservers of ADD's result.
module Dcos.L4lb.Tests.SpartanDnsProperties

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

/// The result's dns.nameservers, as text.
let private nameservers (result: Json) =
    match Json.tryField "dns" result |> Option.bind (Json.tryField "nameservers") with
    | Some(Json.Array items) -> items |> List.map (function Json.String s -> s | _ -> "")
    | _ -> []

let dns =
    testList
        "result DNS"
        [ property "Spartan's addresses come first, once each, and the rest of the result is untouched"
          <| Prop.forAll (Arb.fromGen (Gen.zip3 (Gen.nonEmptyListOf ipv4 |> Gen.map List.distinct) (Gen.listOf ipv4) jsonObject)) (fun (ours, theirs, rest) ->
              let existing = Json.Array(theirs |> List.map (fun ip -> Json.String(ip.ToString())))
              let result = rest |> Json.withField "dns" (Json.Object [ "nameservers", existing; "search", Json.Array [ Json.String "a.b" ] ])
              let updated = PluginOutput.withNameservers ours result

              let servers = nameservers updated

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
              let _, reply, _ = HostModel.run (HostModel.initial |> HostModel.addNetns "/run/netns/a") (Invocations.start conf rt)
              let text = Encoding.UTF8.GetString reply.Stdout
              Expect.equal reply.ExitCode 0 text
              Expect.stringContains text "\"nameservers\":[\"198.51.100.1\",\"198.51.100.2\",\"198.51.100.3\",\"198.51.100.4\"]" "nameservers" ]
