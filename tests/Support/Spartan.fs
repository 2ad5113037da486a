/// What the agent's Spartan stand-in holds and serves, and what the plugin hands out.
module Dcos.L4lb.Tests.Spartan

open System.Net

/// The addresses on the agent's `spartan` link; dnsmasq listens on the first.
let serverAddresses = [ "198.51.100.1"; "198.51.100.2"; "198.51.100.3" ]
/// Every address the container must have a route to (the plugin's default services;
/// .4 is the Kubernetes DNS proxy).
let serviceAddresses = serverAddresses @ [ "198.51.100.4" ]
let dnsServer = "198.51.100.1"
let testName = "spartan.test"
let testAnswer = "10.9.8.7"
/// The range the plugin's Spartan IPAM hands out by default: 244 addresses.
let rangeFirst, rangeLast = "198.51.100.10", "198.51.100.253"
/// The IPAM network name the plugin uses for Spartan addresses.
let ipamNetwork = "spartan-network"

let inRange (address: string) =
    let number (a: string) =
        (IPAddress.Parse a).GetAddressBytes() |> Array.fold (fun n b -> n * 256u + uint32 b) 0u

    let a = number address
    a >= number rangeFirst && a <= number rangeLast

/// Makes the agent's `spartan` link, up and holding the server addresses as /32s: a dummy
/// link as on a real agent, or a bridge on a kernel that has no dummy links.
let addServerLink (agent: string) (kind: string) =
    Command.ip agent [ "link"; "add"; "spartan"; "type"; kind ] |> ignore
    Command.ip agent [ "link"; "set"; "spartan"; "up" ] |> ignore

    for address in serverAddresses do
        Command.ip agent [ "addr"; "add"; address + "/32"; "dev"; "spartan" ] |> ignore

/// The command line of a dnsmasq in the agent netns that answers `testName` on the DNS
/// server address, in the foreground, logging to its output.
let dnsmasq (agent: string) (pidFile: string) : string * string list =
    "ip",
    [ "netns"
      "exec"
      agent
      "dnsmasq"
      "--conf-file=/dev/null"
      "--keep-in-foreground"
      "--log-facility=-"
      "--pid-file=" + pidFile
      $"--listen-address={dnsServer}"
      "--bind-interfaces"
      "--port=53"
      "--no-resolv"
      "--no-hosts"
      $"--address=/{testName}/{testAnswer}" ]
