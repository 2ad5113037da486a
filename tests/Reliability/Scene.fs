namespace Dcos.L4lb.Tests.Reliability

open System
open System.Collections.Concurrent
open System.IO
open System.Threading
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

/// One container: its own netns and container ID.
type Container =
    { Netns: string
      Path: string
      Id: string }

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

/// What one scene made, kept so that the last test can check that it is all gone.
type Made =
    { Namespaces: ConcurrentBag<string>
      Scratch: string
      mutable TeardownErrors: string list }

/// A DC/OS agent in miniature, made fresh for one test:
/// - the "agent" netns plays the host: `lo` up, a bridge named `spartan` (this kernel has
///   no dummy links) holding 198.51.100.1-.3/32, and the delegate's bridge `cnirel`
///   holding the gateway 10.244.0.1/16 (and a fixed MAC), both up;
/// - containers made on demand, each in a netns of its own with `lo` up;
/// - a scratch directory: `varlib` is bound onto /var/lib for the plugin (so the IPAM
///   state lands in `varlib/cni/networks`), `fakes` holds fake plugins, `l4lb` is the
///   Minuteman checkpoint path.
/// Disposing it deletes every namespace (and with them every link the plugin made) and
/// the scratch directory, whatever state the test left them in.
type Scene() =
    static let scenes = Teardown.Scenes<Made>()

    let number = scenes.Next()
    let tag = $"l4r{Environment.ProcessId % 100000}s{number}"
    let agent = tag + "a"
    let scratch = Directory.CreateTempSubdirectory("l4lb-rel-").FullName
    let varLib = Path.Combine(scratch, "varlib")
    let fakes = Path.Combine(scratch, "fakes")
    let mutable containers = 0

    let record =
        { Namespaces = ConcurrentBag [ agent ]
          Scratch = scratch
          TeardownErrors = [] }

    do scenes.Add record

    let setup () =
        Netns.create agent
        Spartan.addServerLink agent "bridge"
        Command.ip agent [ "link"; "add"; Delegate.bridge; "type"; "bridge" ] |> ignore
        // A bridge whose MAC was never set takes the lowest MAC of its ports, so it changes
        // as containers come and go, and the bridge plugin's CHECK (which compares it with
        // the ADD result) then fails. A set MAC stays.
        Command.ip agent [ "link"; "set"; Delegate.bridge; "address"; Delegate.mac ]
        |> ignore

        Command.ip agent [ "addr"; "add"; Delegate.gateway + "/16"; "dev"; Delegate.bridge ]
        |> ignore

        Command.ip agent [ "link"; "set"; Delegate.bridge; "up" ] |> ignore
        Directory.CreateDirectory(Path.Combine(varLib, "cni")) |> ignore
        Directory.CreateDirectory fakes |> ignore

    let teardown () =
        record.TeardownErrors <-
            Teardown.bestEffort
                tag
                [ for ns in record.Namespaces |> Seq.distinct |> Seq.sort |> Seq.rev do
                      yield $"delete netns {ns}", (fun () -> Netns.delete ns)
                  yield "remove the scratch directory", (fun () -> Directory.Delete(scratch, true)) ]

    do Teardown.setUp setup teardown

    /// Everything any scene of this process made, for the leak test.
    static member Made = scenes.Made

    member _.Tag = tag
    member _.Agent = agent
    member _.Scratch = scratch
    /// Bound onto /var/lib for the plugin's processes.
    member _.VarLib = varLib
    /// A CNI_PATH directory for this scene's fake plugins.
    member _.Fakes = fakes
    /// The Minuteman checkpoint path given in configs (not created by the scene).
    member _.CheckpointDir = Path.Combine(scratch, "l4lb")

    /// A new container: a netns with `lo` up and a container ID, both unique.
    member _.NewContainer() : Container =
        let k = Interlocked.Increment &containers
        let name = $"{tag}c{k}"
        record.Namespaces.Add name
        Netns.create name

        { Netns = name
          Path = $"/run/netns/{name}"
          Id = $"rel-{tag}-{k}" }

    member s.NewContainers(count: int) : Container list =
        Shell.parallelMap 8 (fun _ -> s.NewContainer()) [ 1..count ]

    /// host-local's allocations in one IPAM network: the files named by address, as
    /// "address owner ifname" (lock and last_reserved_ip* are host-local's bookkeeping).
    member _.Allocations(network: string) : string list =
        let dir = Path.Combine(varLib, "cni", "networks", network)

        if not (Directory.Exists dir) then
            []
        else
            [ for file in Directory.GetFiles dir do
                  let name = Path.GetFileName file

                  if name <> "lock" && not (name.StartsWith "last_reserved_ip") then
                      let lines =
                          File.ReadAllText(file).Split([| '\r'; '\n' |], StringSplitOptions.RemoveEmptyEntries)

                      name + " " + String.Join(" ", lines) ]
            |> List.sort

    /// The address host-local holds for this container in this network.
    member s.AllocationOf (network: string) (containerId: string) : string list =
        s.Allocations network
        |> List.filter (fun line -> line.Split(' ') |> Array.tryItem 1 = Some containerId)
        |> List.map (fun line -> line.Split(' ')[0])

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
        let networksDir = Path.Combine(varLib, "cni", "networks")

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

        { Agent = s.NetnsState agent
          Containers = Shell.parallelMap 8 (fun (c: Container) -> c.Netns, s.NetnsState c.Netns) containers
          Ipam = [ for n in networks -> n, s.Allocations n ]
          Checkpoints =
            if Directory.Exists s.CheckpointDir then
                Directory.GetFiles s.CheckpointDir
                |> Array.map Path.GetFileName
                |> Array.sort
                |> List.ofArray
            else
                [] }

    interface IDisposable with
        member _.Dispose() = teardown ()
