namespace Dcos.L4lb.Tests.Reliability

open System
open System.IO
open Dcos.L4lb.Tests

/// The delegate every scene uses: the reference bridge plugin on a bridge the scene makes
/// beforehand (so that its creation is not part of any test's before/after comparison).
module Delegate =
    let bridge = "cnirel"
    let subnet = "10.244.0.0/16"
    let gateway = "10.244.0.1"
    let mac = "02:00:0a:f4:00:01"
    /// The delegate's IPAM network: host-local names it after the config's name.
    let network = L4lbInAgent.network

/// What a netns holds, for before/after comparisons.
type NetnsState =
    { Links: string list
      Addresses: string list
      Routes: string list }

/// Everything a leak of the plugin (or of its delegate) could leave: the agent's links
/// (bridge ports and spt* veths included), addresses and routes; each container's; the
/// IPAM state of both networks (files other than `lock` and `last_reserved_ip*`); and
/// the Minuteman checkpoint files.
type State =
    { Agent: NetnsState
      Containers: (string * NetnsState) list
      Ipam: (string * string list) list
      Checkpoints: string list }

    /// The differences from `before`, one line each ("+" appeared, "-" disappeared).
    member after.Diff(before: State) : string list =
        let diff (what: string) (b: string list) (a: string list) =
            [ for x in a do
                  if not (List.contains x b) then
                      $"{what}: + {x}"
              for x in b do
                  if not (List.contains x a) then
                      $"{what}: - {x}" ]

        let ns (what: string) (b: NetnsState) (a: NetnsState) =
            diff $"{what} link" b.Links a.Links
            @ diff $"{what} address" b.Addresses a.Addresses
            @ diff $"{what} route" b.Routes a.Routes

        let find key list =
            list |> List.tryFind (fst >> (=) key) |> Option.map snd

        ns "agent" before.Agent after.Agent
        @ [ for name, a in after.Containers do
                match find name before.Containers with
                | Some b -> yield! ns $"container {name}" b a
                | None -> yield $"container {name}: not in the earlier state" ]
        @ [ for network in (before.Ipam @ after.Ipam) |> List.map fst |> List.distinct do
                yield!
                    diff
                        $"IPAM {network}"
                        (find network before.Ipam |> Option.defaultValue [])
                        (find network after.Ipam |> Option.defaultValue []) ]
        @ diff "checkpoint" before.Checkpoints after.Checkpoints

/// The agent of every reliability test: the `spartan` link a bridge (this kernel has no
/// dummy links), no dnsmasq, and the delegate's bridge `cnirel` holding the gateway
/// 10.244.0.1/16 (and a fixed MAC), made beforehand so that its creation is not part of any
/// test's before/after comparison; containers made on demand; `fakes` in the scratch
/// directory holds fake plugins.
type Scene() =
    inherit
        AgentScene(
            { AgentSceneSettings.OnThisKernel Scene.Names with
                Dnsmasq = false
                Container = false
                Prepare = Scene.Prepare }
        )

    /// "l4ra"/"l4rc" netns. The delegate's bridge is Delegate.bridge, in every agent alike;
    /// no scene makes one of the names' bridges.
    static member Names: AgentSceneNames =
        { Agent = "l4ra"
          Container = "l4rc"
          Prefix = "l4lb-rel"
          Bridge = "l4rb"
          SubnetOctet = 202 }

    static member private Prepare (agent: string) (scratch: string) =
        Command.ip agent [ "link"; "add"; Delegate.bridge; "type"; "bridge" ] |> ignore
        // A bridge whose MAC was never set takes the lowest MAC of its ports, so it changes
        // as containers come and go, and the bridge plugin's CHECK (which compares it with
        // the ADD result) then fails. A set MAC stays.
        Command.ip agent [ "link"; "set"; Delegate.bridge; "address"; Delegate.mac ]
        |> ignore

        Command.ip agent [ "addr"; "add"; Delegate.gateway + "/16"; "dev"; Delegate.bridge ]
        |> ignore

        Command.ip agent [ "link"; "set"; Delegate.bridge; "up" ] |> ignore
        Directory.CreateDirectory(Path.Combine(scratch, "fakes")) |> ignore

    /// A CNI_PATH directory for this scene's fake plugins.
    member s.Fakes = Path.Combine(s.Scratch, "fakes")

    /// The fake plugins first, then the reference plugins.
    override s.CniPath = [ s.Fakes; L4lbInAgent.referencePlugins ]

    member s.NewContainers(count: int) : Container list =
        Processes.parallelMap 8 (fun _ -> s.NewContainer()) [ 1..count ]

    /// host-local's lease files in one IPAM network, as "address owner ifname".
    member s.Leases(network: string) : string list = HostLocal.leases s.VarLib network

    /// The address host-local holds for this container in this network.
    member s.AllocationOf (network: string) (containerId: string) : string list =
        Attachment.heldBy (s.Allocations network) containerId

    member s.NetnsState(netns: string) : NetnsState =
        { Links =
            Kernel.links netns
            |> List.map (fun l ->
                let master =
                    l.Master |> Option.map (fun m -> " master " + m) |> Option.defaultValue ""

                $"""{l.Name} {l.Kind}{master}{if l.Up then " up" else ""}""")
            |> List.sort
          Addresses = Kernel.allAddresses netns |> List.sort
          Routes = Kernel.allRoutes netns }

    /// The state of the agent, these containers, the IPAM networks and the checkpoints.
    member s.State(containers: Container list) : State =
        let networksDir = Path.Combine(s.VarLib, "cni", "networks")

        let networks =
            [ Spartan.ipamNetwork; Delegate.network ]
            @ (if Directory.Exists networksDir then
                   Directory.GetDirectories networksDir
                   |> Array.map Path.GetFileName
                   |> List.ofArray
               else
                   [])
            |> List.distinct
            |> List.sort

        { Agent = s.NetnsState s.Agent
          Containers = Processes.parallelMap 8 (fun (c: Container) -> c.Netns, s.NetnsState c.Netns) containers
          Ipam = [ for n in networks -> n, s.Leases n ]
          Checkpoints =
            if Directory.Exists s.CheckpointDir then
                Directory.GetFiles s.CheckpointDir
                |> Array.map Path.GetFileName
                |> Array.sort
                |> List.ofArray
            else
                [] }
