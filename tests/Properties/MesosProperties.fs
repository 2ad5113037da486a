/// The Mesos helper: where a Mesos container's IPv4 address comes from.
module Dcos.L4lb.Tests.MesosProperties

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

/// The environment as Mesos.containerIp reads it: a variable's value, if set.
let private lookup pairs name =
    pairs |> List.tryFind (fst >> (=) name) |> Option.map snd

let mesos =
    testList
        "Mesos container IP"
        [ property "MESOS_CONTAINER_IP wins over LIBPROCESS_IP"
          <| Prop.forAll (Arb.fromGen (Gen.zip ipv4 ipv4)) (fun (a, b) ->
              Mesos.containerIp (lookup [ "LIBPROCESS_IP", string b; "MESOS_CONTAINER_IP", string a ]) = Ok(MesosAddress a))

          property "LIBPROCESS_IP is used when MESOS_CONTAINER_IP is unset or empty"
          <| Prop.forAll (Arb.fromGen (Gen.zip ipv4 (Gen.elements [ []; [ "MESOS_CONTAINER_IP", "" ] ]))) (fun (b, extra) ->
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
