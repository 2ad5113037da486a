/// Doctor's judgement on snapshots made by hand: the cases a real agent shows only in a
/// moment (an ADD between its record and its host route) or only on another kernel. Pure:
/// no root, nothing on the machine.
module Dcos.L4lb.Tests.DoctorJudgement

open System
open Expecto
open Dcos.L4lb
open Dcos.L4lb.Ctl.DoctorSnapshot
open Dcos.L4lb.Ctl.Doctor

let private ip text = (Ipv4.tryParse text).Value

let private conf =
    match
        NetConf.parse (
            ReadOnlyMemory(
                Text.Encoding.UTF8.GetBytes
                    """{"cniVersion": "1.0.0", "name": "net", "type": "dcos-l4lb", "minuteman": false, "delegate": {"type": "bridge"}}"""
            )
        )
    with
    | Ok c -> c
    | Result.Error e -> failwith $"%A{e}"

/// A healthy agent: every plugin speaks 1.0.0, Spartan's four addresses, forwarding on.
let private healthy: Snapshot =
    { Conf = conf
      CniPath = [ "/opt/cni/bin" ]
      Plugins =
        [ for p in [ Wrapper; DelegatePlugin "bridge"; SpartanIpam "host-local" ] ->
              p, Speaks($"/opt/cni/bin/{p.Type}", [ "0.3.1"; "0.4.0"; "1.0.0"; "1.1.0" ]) ]
      Links =
        [ { Name = "spartan"
            Kind = "dummy"
            HasPeer = false
            Addresses = [ for a in 1..4 -> ip $"198.51.100.{a}" ] } ]
      HostRoutes = []
      Forwarding = Some true
      DummyLinks = None
      CheckpointDirectory = None
      Records = []
      Checkpoints = []
      Leases = []
      DotFiles = []
      LiveNetns = Set.empty }

let private checks (s: Snapshot) =
    findings "net.conf" s |> List.map (fun f -> f.Check, f.Severity)

let private lease address id ifName =
    { Address = ip address
      File = $"/var/lib/cni/networks/spartan-network/{address}"
      ContainerId = id
      IfName = ifName }

let private record id netns =
    { Network = "net"
      Attachment = { ContainerId = id; IfName = "eth0" }
      Netns = netns }

let private veth name =
    { Name = name
      Kind = "veth"
      HasPeer = true
      Addresses = [] }

let tests =
    testList
        "doctor judgement"
        [ testCase "a healthy agent has no finding"
          <| fun () -> Expect.isEmpty (checks healthy) "findings"

          testCase "an ADD between its record and its host route: neither its lease nor its veth is a leftover"
          <| fun () ->
              let id = "web1"
              let hostVeth = Naming.hostVethName id "eth0"

              let s =
                  { healthy with
                      Links = healthy.Links @ [ veth hostVeth ]
                      Records = [ record id "/run/netns/web1" ]
                      Leases = [ lease "198.51.100.10" id (Some "eth0") ]
                      LiveNetns = set [ "/run/netns/web1" ] }

              Expect.isEmpty (checks s) "findings"
              // the same without its record: both are leftovers
              Expect.equal
                  (checks { s with Records = [] })
                  [ "spartan-lease", Warning; "host-veth", Warning ]
                  "without the record"

          testCase "a lease whose container holds another lease that is in use is not released by DEL"
          <| fun () ->
              let s =
                  { healthy with
                      HostRoutes = [ ip "198.51.100.10", "veth1234abcd" ]
                      Leases =
                          [ lease "198.51.100.10" "old" (Some "eth0")
                            lease "198.51.100.11" "old" (Some "eth0") ] }

              let found = findings "net.conf" s
              Expect.equal (found |> List.map _.Check) [ "spartan-lease" ] "the unrouted one only"
              Expect.isNone found.Head.Repair "host-local DEL would release the routed one too"
              Expect.equal found.Head.Advice "rm /var/lib/cni/networks/spartan-network/198.51.100.11" "advice"

          testCase "an ID-only lease is accounted for by a record of its container with any ifname"
          <| fun () ->
              let s =
                  { healthy with
                      Records = [ record "old" "/run/netns/old" ]
                      Leases = [ lease "198.51.100.10" "old" None ]
                      LiveNetns = set [ "/run/netns/old" ] }

              Expect.isEmpty (checks s) "findings"

          testCase "a checkpoint of a container with a live attachment is not GC's: no repair"
          <| fun () ->
              let s =
                  { healthy with
                      Conf =
                          { conf with
                              Minuteman = { Enabled = true; Path = "/run/l4lb" } }
                      DummyLinks = Some(Ok true)
                      CheckpointDirectory = Some(Ok())
                      Records = [ record "web1" "/run/netns/web1" ]
                      Checkpoints =
                          [ { Name = "web1"
                              Content = "/run/netns/old-web1"
                              Modified = 0L } ]
                      LiveNetns = set [ "/run/netns/web1" ] }

              let found = findings "net.conf" s
              Expect.equal (found |> List.map _.Check) [ "stale-checkpoint" ] "found"
              Expect.isNone found.Head.Repair "not removed"

          testCase "Spartan addresses: all missing is an error, the Kubernetes proxy alone a note"
          <| fun () ->
              let withAddresses addresses =
                  { healthy with
                      Links =
                          [ { healthy.Links.Head with
                                Addresses = List.map ip addresses } ] }

              Expect.equal (checks (withAddresses [])) [ "spartan-addresses", Error ] "none"

              Expect.equal
                  (checks (withAddresses [ "198.51.100.1"; "198.51.100.2"; "198.51.100.3" ]))
                  [ "spartan-addresses", Note ]
                  ".4 missing"

              Expect.equal
                  (checks (withAddresses [ "198.51.100.2"; "198.51.100.3"; "198.51.100.4" ]))
                  [ "spartan-addresses", Warning ]
                  ".1 missing"

              Expect.equal
                  (exitCode (findings "net.conf" (withAddresses [ "198.51.100.1"; "198.51.100.2"; "198.51.100.3" ])))
                  0
                  "a note is healthy"

          testCase "a delegate that agrees only to a version whose result cannot be given in the config's"
          <| fun () ->
              let s =
                  { healthy with
                      Plugins = [ DelegatePlugin "old", Speaks("/opt/cni/bin/old", [ "0.1.0"; "0.2.0" ]) ] }

              Expect.equal (checks s) [ "plugin-version", Error ] "0.2.0 results are not 1.0.0's"

              Expect.isEmpty
                  (checks
                      { s with
                          Plugins = [ SpartanIpam "old", Speaks("/opt/cni/bin/old", [ "0.1.0"; "0.2.0" ]) ] })
                  "an IPAM plugin's address is read in either format" ]
