/// Chained mode: the plugin in a conflist, after the plugin whose result it is handed.
module Dcos.L4lb.Tests.ChainedProperties

open System
open System.Text
open Expecto
open Dcos.L4lb

let chained =
    testList
        "chained mode"
        [ testCase "without a delegate, ADD needs prevResult: code 7 at $.delegate" <| fun () ->
              let conf =
                  match NetConf.parse (ReadOnlyMemory(Encoding.UTF8.GetBytes """{"cniVersion": "1.0.0", "name": "n", "type": "dcos-l4lb"}""")) with
                  | Ok c -> c
                  | Error e -> failtestf "%A" e

              let rt = { Command = Add; ContainerId = "a"; Netns = Some "/run/netns/a"; IfName = "eth0"; Args = []; Path = [ "/x" ] }

              match Core.command rt conf with
              | Error e -> Expect.equal (e.Code, e.Field) (7, "$.delegate") "error"
              | Ok _ -> failtest "ADD runs"

              let del = { rt with Command = Del }

              match Core.command del conf with
              | Ok _ -> Expect.isFalse (Plans.del conf del |> List.exists (fun s -> s.Name.StartsWith "delegate")) "DEL runs no delegate"
              | Error e -> failtest (e.Describe()) ]
