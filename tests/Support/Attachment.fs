/// A container's attachment in an AgentScene as the kernel and the IPAM state show it: the
/// bridge's eth0 and the Spartan veth, with its address, routes and host end.
module Dcos.L4lb.Tests.Attachment

open Expecto

let names (links: Kernel.Link list) = links |> List.map _.Name |> List.sort

/// The Spartan address of the container in this netns: the one /32 on its `spartan` link.
let spartanAddressIn (netns: string) =
    match Kernel.addresses netns "spartan" with
    | [ address, 32 ] -> address
    | other -> failtest $"the container's spartan link holds {other}; expected one /32"

/// The Spartan address of the scene's container.
let spartanAddress (scene: AgentScene) = spartanAddressIn scene.Container

/// eth0's address, with its prefix length.
let eth0Address (scene: AgentScene) =
    match Kernel.addresses scene.Container L4lbInAgent.ifName with
    | [ address, length ] -> $"{address}/{length}"
    | other -> failtest $"the container's eth0 holds {other}"

/// The agent's side of every attachment, read once (for checking many containers).
type AgentView =
    { Links: Kernel.Link list
      Routes: Kernel.Route list
      Spartan: Allocation list
      Delegate: Allocation list }

let agentView (scene: AgentScene) =
    { Links = Kernel.links scene.Agent
      Routes = Kernel.routes scene.Agent
      Spartan = scene.Allocations Spartan.ipamNetwork
      Delegate = scene.Allocations L4lbInAgent.network }

/// The addresses these allocations hold for this container.
let heldBy (allocations: Allocation list) (containerId: string) =
    allocations
    |> List.filter (fun a -> a.Owner = containerId)
    |> List.map _.Address

/// The Spartan side of one container's attachment: its links are eth0, lo and `spartan`,
/// an up veth holding one /32 from the range, with a route to each Spartan service through
/// it; its peer (`hostVeth`, found in the view) is up and the agent routes the address to
/// it. Returns the Spartan address.
let private expectSpartanLane (view: AgentView) (c: Container) (hostVeth: unit -> Kernel.Link) : string =
    let links = Kernel.links c.Netns
    Expect.equal (names links) [ "eth0"; "lo"; "spartan" ] $"{c.Id}: container links"
    let spartan = links |> List.find (fun l -> l.Name = "spartan")
    Expect.isTrue spartan.Up $"{c.Id}: the container's spartan link is up"
    Expect.equal spartan.Kind "veth" $"{c.Id}: the container's spartan link is a veth"

    let address = spartanAddressIn c.Netns
    Expect.isTrue (Spartan.inRange address) $"{c.Id}: {address} lies in 198.51.100.10-198.51.100.253"

    let routes = Kernel.routes c.Netns

    for service in Spartan.serviceAddresses do
        let expected: Kernel.Route =
            { Destination = service
              Device = "spartan"
              Scope = "link"
              Source = Some address }

        Expect.contains routes expected $"{c.Id}: container route to {service}"

    let veth = hostVeth ()
    Expect.isTrue veth.Up $"{c.Id}: the host veth {veth.Name} is up"
    Expect.equal spartan.Peer (Some veth.Index) $"{c.Id}: {veth.Name} is the peer of the container's spartan link"

    Expect.equal
        (view.Routes
         |> List.filter (fun r -> r.Destination = address)
         |> List.map (fun r -> r.Device, r.Scope))
        [ veth.Name, "link" ]
        $"{c.Id}: agent route to {address}"

    address

/// The Spartan side of one of many containers' attachments (see expectSpartanLane), its
/// host veth found by the name the plugin derives from the container ID, and the Spartan
/// address held for this container. Returns the Spartan address.
let expectSpartanOf (view: AgentView) (c: Container) : string =
    let hv = Kernel.hostVethName c.Id L4lbInAgent.ifName

    let hostVeth () =
        match view.Links |> List.tryFind (fun l -> l.Name = hv) with
        | Some veth -> veth
        | None -> failtest $"{c.Id}: no host veth {hv} in the agent"

    let address = expectSpartanLane view c hostVeth
    Expect.equal (heldBy view.Spartan c.Id) [ address ] $"{c.Id}: Spartan IPAM allocation"
    address

/// Every artefact of a Spartan attachment of the scene's container beside the bridge's
/// eth0: the container's links, its `spartan` veth with its address and routes, the host
/// end (the agent's one spt* link) with its route, and both IPAM networks holding an
/// address for this container alone. Returns the Spartan address.
let expectAttached (scene: AgentScene) : string =
    let view = agentView scene

    let c = scene.MainContainer

    let hostVeth () =
        match view.Links |> List.filter Kernel.isHostVeth with
        | [ veth ] -> veth
        | other -> failtest $"agent spt* links: {names other}; expected one"

    let address = expectSpartanLane view c hostVeth

    Expect.equal view.Spartan [ { Address = address; Owner = c.Id } ] "Spartan IPAM allocation"
    Expect.equal (view.Delegate |> List.map _.Owner) [ c.Id ] "the bridge's IPAM allocation"
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
/// Three seconds a try: the User-mode Linux guest is slower than this machine.
let expectResolves (scene: AgentScene) =
    let answer =
        Command.runInNetns
            scene.Netns
            "dig"
            [ "+short"; "+time=3"; "+tries=2"; "@" + Spartan.dnsServer; Spartan.testName ]

    Expect.equal (answer.Trim()) Spartan.testAnswer $"dnsmasq's answer for {Spartan.testName}"
