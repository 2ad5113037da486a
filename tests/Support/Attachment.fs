/// A container's attachment in an AgentScene as the kernel and the IPAM state show it: the
/// bridge's eth0 and the Spartan veth, with its address, routes and host end.
module Dcos.L4lb.Tests.Attachment

open Expecto

let names (links: Kernel.Link list) = links |> List.map _.Name |> List.sort

/// The Spartan address: the one /32 on the container's `spartan` link.
let spartanAddress (scene: AgentScene) =
    match Kernel.addresses scene.Container "spartan" with
    | [ address, 32 ] -> address
    | other -> failtest $"the container's spartan link holds {other}; expected one /32"

/// eth0's address, with its prefix length.
let eth0Address (scene: AgentScene) =
    match Kernel.addresses scene.Container L4lbInAgent.ifName with
    | [ address, length ] -> $"{address}/{length}"
    | other -> failtest $"the container's eth0 holds {other}"

/// Every artefact of a Spartan attachment beside the bridge's eth0: the container's links,
/// its `spartan` veth with its address and routes, the host end with its route, and both
/// IPAM allocations held by the container. Returns the Spartan address.
let expectAttached (scene: AgentScene) : string =
    let links = Kernel.links scene.Container
    Expect.equal (names links) [ "eth0"; "lo"; "spartan" ] "container links"
    let spartan = links |> List.find (fun l -> l.Name = "spartan")
    Expect.isTrue spartan.Up "the container's spartan link is up"
    Expect.equal spartan.Kind "veth" "the container's spartan link is a veth"

    let address = spartanAddress scene
    Expect.isTrue (Spartan.inRange address) $"{address} lies in 198.51.100.10-198.51.100.253"

    let routes = Kernel.routes scene.Container

    for service in Spartan.serviceAddresses do
        let expected: Kernel.Route =
            { Destination = service
              Device = "spartan"
              Scope = "link"
              Source = Some address }

        Expect.contains routes expected $"container route to {service}"

    let hostVeth =
        match Kernel.links scene.Agent |> List.filter Kernel.isHostVeth with
        | [ veth ] -> veth
        | other -> failtest $"agent spt* links: {names other}; expected one"

    Expect.isTrue hostVeth.Up "the host veth is up"
    Expect.equal spartan.Peer (Some hostVeth.Index) "the host veth is the container spartan link's peer"

    Expect.equal
        (Kernel.routes scene.Agent
         |> List.filter (fun r -> r.Destination = address)
         |> List.map (fun r -> r.Device, r.Scope))
        [ hostVeth.Name, "link" ]
        $"agent route to {address}"

    Expect.equal
        (scene.Allocations Spartan.ipamNetwork)
        [ { Address = address
            Owner = scene.ContainerId } ]
        "Spartan IPAM allocation"

    Expect.equal
        (scene.Allocations L4lbInAgent.network |> List.map _.Owner)
        [ scene.ContainerId ]
        "the bridge's IPAM allocation"

    address

/// No address held in either IPAM network.
let expectReleased (scene: AgentScene) =
    Expect.equal (scene.Allocations Spartan.ipamNetwork) [] "Spartan IPAM allocations"
    Expect.equal (scene.Allocations L4lbInAgent.network) [] "the bridge's IPAM allocations"

/// No spt* link in the agent.
let expectNoHostVeth (scene: AgentScene) =
    Expect.equal (Kernel.links scene.Agent |> List.filter Kernel.isHostVeth |> names) [] "agent spt* links"

/// No veth in the agent (neither the bridge's nor an spt* one).
let expectNoAgentVeth (scene: AgentScene) =
    Expect.equal (Kernel.links scene.Agent |> List.filter (fun l -> l.Kind = "veth") |> names) [] "agent veth links"

/// What a container looks like that was never attached: nothing in it but `lo`, no veth
/// in the agent, no address held.
let expectNothingLeft (scene: AgentScene) =
    Expect.equal (names (Kernel.links scene.Container)) [ "lo" ] "container links"
    expectNoAgentVeth scene
    expectReleased scene

/// dnsmasq's answer for the test name, asked from the container of the Spartan server.
let expectResolves (scene: AgentScene) =
    let answer =
        Command.runInNetns
            scene.Netns
            "dig"
            [ "+short"; "+time=2"; "+tries=2"; "@" + Spartan.dnsServer; Spartan.testName ]

    Expect.equal (answer.Trim()) Spartan.testAnswer $"dnsmasq's answer for {Spartan.testName}"
