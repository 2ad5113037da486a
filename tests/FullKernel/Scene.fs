namespace Dcos.L4lb.Tests.FullKernel

open System
open System.Collections.Concurrent
open System.IO
open System.Net
open System.Threading

/// What the agent's Spartan stand-in serves (as in the integration suite).
module Spartan =
    /// The addresses on the agent's `spartan` link; dnsmasq listens on the first.
    let serverAddresses = [ "198.51.100.1"; "198.51.100.2"; "198.51.100.3" ]
    /// Every address the container must have a route to (.4 is the Kubernetes DNS proxy).
    let serviceAddresses = serverAddresses @ [ "198.51.100.4" ]
    let dnsServer = "198.51.100.1"
    let testName = "spartan.test"
    let testAnswer = "10.9.8.7"
    /// The range the plugin's Spartan IPAM hands out.
    let rangeFirst, rangeLast = IPAddress.Parse "198.51.100.10", IPAddress.Parse "198.51.100.253"
    /// The IPAM network name the plugin uses for Spartan addresses.
    let ipamNetwork = "spartan-network"

    let inRange (address: string) =
        let number (a: IPAddress) = a.GetAddressBytes() |> Array.fold (fun n b -> n * 256u + uint32 b) 0u
        let a = number (IPAddress.Parse address)
        a >= number rangeFirst && a <= number rangeLast

/// Minuteman's checkpoint directory when the config names none.
module Minuteman =
    let defaultDir = "/var/run/dcos/cni/l4lb"

    /// The default directory lies on the machine's /run, which dcos-net watches on a real
    /// agent. The suite writes there only when told that /run is private to this run
    /// (lane.sh mounts a fresh tmpfs on /run, natively or in the User-mode Linux guest).
    let privateRun = Environment.GetEnvironmentVariable "FULLKERNEL_PRIVATE_RUN" = "1"

/// One host-local allocation: the address (the file's name) and the container that holds it.
type Allocation = { Address: string; Owner: string }

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
    static let counter = ref 0
    static let made = ConcurrentQueue<Made>()

    let number = Interlocked.Increment &counter.contents
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

    do made.Enqueue record

    /// Started by the scene or the test, stopped at teardown, newest first.
    let owned = Collections.Generic.Stack<IDisposable>()
    let mutable mounted = false
    let mutable defaultDirUsed = false

    let own (what: string) (pid: int) (thing: IDisposable) =
        lock owned (fun () -> owned.Push thing)
        record.Processes <- (pid, what) :: record.Processes

    let startDnsmasq () =
        let p =
            new Background(
                "ip",
                [ "netns"
                  "exec"
                  agent
                  "dnsmasq"
                  "--conf-file=/dev/null"
                  "--keep-in-foreground"
                  "--log-facility=-"
                  "--pid-file=" + Path.Combine(scratch, "dnsmasq.pid")
                  $"--listen-address={Spartan.dnsServer}"
                  "--bind-interfaces"
                  "--port=53"
                  "--no-resolv"
                  "--no-hosts"
                  $"--address=/{Spartan.testName}/{Spartan.testAnswer}" ]
            )

        own "dnsmasq" p.Pid p

        Command.waitUntil
            $"dnsmasq on {Spartan.dnsServer}:53"
            20.
            (fun () -> if p.HasExited then Some $"it exited: {p.Log}" else None)
            (fun () -> Command.run "ss" [ "-N"; agent; "-H"; "-uln"; $"src {Spartan.dnsServer}:53" ] |> (fun s -> s.Trim() <> ""))

    let setup () =
        Directory.CreateDirectory scratch |> ignore
        Command.run "mount" [ "-t"; "tmpfs"; "-o"; "size=16m,mode=0755"; "l4lb-fullkernel"; scratch ] |> ignore
        mounted <- true
        Directory.CreateDirectory(Path.Combine(varLib, "cni")) |> ignore
        Directory.CreateDirectory(Path.Combine(scratch, "www")) |> ignore
        Command.run "ip" [ "netns"; "add"; agent ] |> ignore
        Command.run "ip" [ "netns"; "add"; container ] |> ignore
        Command.ip agent [ "link"; "set"; "lo"; "up" ] |> ignore
        Command.ip container [ "link"; "set"; "lo"; "up" ] |> ignore
        Command.ip agent [ "link"; "add"; "spartan"; "type"; "dummy" ] |> ignore
        Command.ip agent [ "link"; "set"; "spartan"; "up" ] |> ignore

        for address in Spartan.serverAddresses do
            Command.ip agent [ "addr"; "add"; address + "/32"; "dev"; "spartan" ] |> ignore

        if withDnsmasq then
            startDnsmasq ()

    /// Best effort, every part whatever happened to the others; problems are kept for the
    /// final leak test and shown on stderr (throwing here would hide the test's own failure).
    let teardown () =
        let errors = ResizeArray()
        let attempt what f = try f () with e -> errors.Add $"{what}: {e.Message}"

        for thing in lock owned (fun () -> List.ofSeq owned) do
            attempt "stop a process" thing.Dispose

        for ns in [ container; agent ] do
            attempt $"delete netns {ns}" (fun () ->
                if File.Exists $"/run/netns/{ns}" then Command.run "ip" [ "netns"; "del"; ns ] |> ignore)

        if defaultDirUsed then
            attempt "clean the default checkpoint directory" (fun () ->
                if Directory.Exists Minuteman.defaultDir then
                    for name in [ containerId; $".{containerId}.tmp" ] do
                        File.Delete(Path.Combine(Minuteman.defaultDir, name))

                // deepest first; only what this scene created, and only when empty
                for dir in record.CreatedDirs do
                    if Directory.Exists dir && Array.isEmpty (Directory.GetFileSystemEntries dir) then
                        Directory.Delete dir)

        if mounted then
            attempt "unmount the scratch tmpfs" (fun () -> Command.run "umount" [ scratch ] |> ignore)

        attempt "remove the scratch directory" (fun () -> if Directory.Exists scratch then Directory.Delete(scratch, true))
        record.TeardownErrors <- List.ofSeq errors

        for e in errors do
            eprintfn $"teardown of scene {tag}: {e}"

    do
        try
            setup ()
        with _ ->
            teardown ()
            reraise ()

    new() = new Scene(false)

    /// Everything any scene of this process made, for the leak test.
    static member Made = List.ofSeq made

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

    /// host-local's allocations in one IPAM network: files named by address, whose first
    /// line is the owning container ID.
    member _.Allocations(network: string) : Allocation list =
        let dir = Path.Combine(varLib, "cni", "networks", network)

        if not (Directory.Exists dir) then
            []
        else
            [ for file in Directory.GetFiles dir do
                  let name = Path.GetFileName file

                  match IPAddress.TryParse name with
                  | true, _ ->
                      { Address = name
                        Owner = File.ReadAllText(file).Split([| '\r'; '\n' |]).[0] }
                  | _ -> () ]

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
                [ "netns"; "exec"; agent; "timeout"; "150"; Command.python3; "-m"; "http.server"; string port
                  "--bind"; address; "--directory"; www ]
            )

        own "http server" p.Pid p

        Command.waitUntil
            $"the HTTP server on {address}:{port}"
            20.
            (fun () -> if p.HasExited then Some $"it exited: {p.Log}" else None)
            (fun () -> Command.run "ss" [ "-N"; agent; "-H"; "-tln"; $"src {address}:{port}" ] |> (fun s -> s.Trim() <> ""))

        p

    interface IDisposable with
        member _.Dispose() = teardown ()
