namespace Dcos.L4lb.Tests.FullKernel

open System
open System.IO
open Dcos.L4lb.Tests

/// Minuteman's checkpoint directory when the config names none.
module Minuteman =
    let defaultDir = "/var/run/dcos/cni/l4lb"

    /// The default directory lies on the machine's /run, which dcos-net watches on a real
    /// agent. The suite writes there only when told that /run is private to this run
    /// (lane.sh mounts a fresh tmpfs on /run, natively or in the User-mode Linux guest).
    let privateRun = Environment.GetEnvironmentVariable "FULLKERNEL_PRIVATE_RUN" = "1"

/// What one scene made, kept so that the last test can check that it is all gone.
type Made =
    { Namespaces: string list
      Scratch: string
      mutable Processes: (int * string) list
      mutable CreatedDirs: string list
      mutable TeardownErrors: string list }

/// A DC/OS agent in miniature, made fresh for one test:
/// - the "agent" netns plays the host: `lo` up, a dummy link named `spartan` holding
///   198.51.100.1-.3/32 (as on a real agent), and optionally dnsmasq answering on .1;
/// - the "container" netns, with `lo` up;
/// - a scratch directory /run/l4lb-fk-<tag> with a tmpfs of its own mounted on it (inotify
///   sees nothing on User-mode Linux's hostfs, and nothing may land on the disk): `varlib`
///   is bound onto /var/lib for the plugin (IPAM state lands in `varlib/cni/networks`),
///   `l4lb` is the Minuteman checkpoint path the configs name, `www` what servers serve.
/// Disposing it stops every process it started, deletes both namespaces (and with them
/// every link, route and IPVS service in them), removes what it put in the default
/// checkpoint directory, and unmounts and removes the scratch directory, whatever state
/// the test left them in.
type Scene(withDnsmasq: bool) =
    static let scenes = Teardown.Scenes<Made>()

    let number = scenes.Next()
    let tag = $"{Environment.ProcessId % 100000}n{number}"
    let agent = "fka" + tag
    let container = "fkc" + tag
    let scratch = $"/run/l4lb-fk-{tag}"
    let varLib = Path.Combine(scratch, "varlib")
    let subnetOctet = number % 250
    let containerId = $"l4lb-fk-{Environment.ProcessId}-{number}"

    let record =
        { Namespaces = [ container; agent ]
          Scratch = scratch
          Processes = []
          CreatedDirs = []
          TeardownErrors = [] }

    do scenes.Add record

    /// Started by the scene or the test, stopped at teardown, newest first.
    let owned = Collections.Generic.Stack<IDisposable>()
    let mutable mounted = false
    let mutable defaultDirUsed = false

    let own (what: string) (pid: int) (thing: IDisposable) =
        lock owned (fun () -> owned.Push thing)
        record.Processes <- (pid, what) :: record.Processes

    let startDnsmasq () =
        let program, args = Spartan.dnsmasq agent (Path.Combine(scratch, "dnsmasq.pid"))
        let p = new Background(program, args)
        own "dnsmasq" p.Pid p

        Programs.waitUntil
            $"dnsmasq on {Spartan.dnsServer}:53"
            20.
            (fun () -> if p.HasExited then Some $"it exited: {p.Log}" else None)
            (fun () -> Netns.isListening agent "-uln" Spartan.dnsServer 53)

    let setup () =
        Directory.CreateDirectory scratch |> ignore
        Command.run "mount" [ "-t"; "tmpfs"; "-o"; "size=16m,mode=0755"; "l4lb-fullkernel"; scratch ] |> ignore
        mounted <- true
        Directory.CreateDirectory(Path.Combine(varLib, "cni")) |> ignore
        Directory.CreateDirectory(Path.Combine(scratch, "www")) |> ignore
        Netns.create agent
        Netns.create container
        Spartan.addServerLink agent "dummy"

        if withDnsmasq then
            startDnsmasq ()

    let teardown () =
        record.TeardownErrors <-
            Teardown.bestEffort
                tag
                [ for thing in lock owned (fun () -> List.ofSeq owned) do
                      yield "stop a process", thing.Dispose

                  for ns in [ container; agent ] do
                      yield $"delete netns {ns}", (fun () -> Netns.delete ns)

                  if defaultDirUsed then
                      yield
                          "clean the default checkpoint directory",
                          (fun () ->
                              if Directory.Exists Minuteman.defaultDir then
                                  for name in [ containerId; $".{containerId}.tmp" ] do
                                      File.Delete(Path.Combine(Minuteman.defaultDir, name))

                              // deepest first; only what this scene created, and only when empty
                              for dir in record.CreatedDirs do
                                  if Directory.Exists dir && Array.isEmpty (Directory.GetFileSystemEntries dir) then
                                      Directory.Delete dir)

                  if mounted then
                      yield "unmount the scratch tmpfs", (fun () -> Command.run "umount" [ scratch ] |> ignore)

                  yield
                      "remove the scratch directory",
                      (fun () -> if Directory.Exists scratch then Directory.Delete(scratch, true)) ]

    do Teardown.setUp setup teardown

    new() = new Scene(false)

    /// Everything any scene of this process made, for the leak test.
    static member Made = scenes.Made

    member _.Agent = agent
    member _.Container = container
    /// CNI_NETNS for the container, and what its checkpoint file must hold.
    member _.Netns = $"/run/netns/{container}"
    member _.AgentNetns = $"/run/netns/{agent}"
    /// The parents of the default checkpoint directory (and itself) that the scene found
    /// missing, and removes again at teardown.
    member _.CreatedDirs = record.CreatedDirs
    member _.ContainerId = containerId
    /// The delegate bridge's name and subnet, unique per scene.
    member _.Bridge = "fkb" + tag
    member _.Subnet = $"10.201.{subnetOctet}.0/24"
    member _.SubnetPrefix = $"10.201.{subnetOctet}."
    /// The bridge's own address in the agent (the bridge plugin's isGateway).
    member _.Gateway = $"10.201.{subnetOctet}.1"
    /// Bound onto /var/lib for the plugin's processes.
    member _.VarLib = varLib
    member _.Scratch = scratch
    /// A Minuteman checkpoint path on the scene's tmpfs (not created by the scene).
    member _.CheckpointDir = Path.Combine(scratch, "l4lb")

    /// The scene will use Minuteman's default directory: remembers which of its parents
    /// are missing so that teardown removes exactly those again.
    member _.UseDefaultCheckpointDir() =
        if not Minuteman.privateRun then
            failwith "the default checkpoint directory is only used when FULLKERNEL_PRIVATE_RUN=1"

        defaultDirUsed <- true

        record.CreatedDirs <-
            [ "/var/run/dcos/cni/l4lb"; "/var/run/dcos/cni"; "/var/run/dcos" ]
            |> List.filter (Directory.Exists >> not)

        Minuteman.defaultDir

    /// host-local's allocations in one IPAM network.
    member _.Allocations(network: string) : Allocation list = HostLocal.allocations varLib network

    /// A dcos-net-like watcher on `directory` (which must exist), stopped at teardown.
    member _.Watch(directory: string) : Watcher =
        let w = new Watcher(directory)
        own "checkpoint watcher" w.Pid w
        w

    /// An HTTP server in the agent netns on address:port, serving `www` (for at most
    /// 150 s), stopped at teardown. Returns it once it listens.
    member _.Serve(address: string, port: int, files: (string * string) list) : Background =
        let www = Path.Combine(scratch, "www")

        for name, content in files do
            File.WriteAllText(Path.Combine(www, name), content)

        let p =
            new Background(
                "ip",
                [ "netns"; "exec"; agent; "timeout"; "150"; Programs.python3; "-m"; "http.server"; string port
                  "--bind"; address; "--directory"; www ]
            )

        own "http server" p.Pid p

        Programs.waitUntil
            $"the HTTP server on {address}:{port}"
            20.
            (fun () -> if p.HasExited then Some $"it exited: {p.Log}" else None)
            (fun () -> Netns.isListening agent "-tln" address port)

        p

    interface IDisposable with
        member _.Dispose() = teardown ()
