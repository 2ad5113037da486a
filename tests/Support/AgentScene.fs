namespace Dcos.L4lb.Tests

open System
open System.Collections.Generic
open System.IO
open System.Threading
open Expecto

/// How one suite names what its scenes make, so that suites never meet and a leak is easy
/// to trace to its suite.
type AgentSceneNames =
    {
        /// The agent netns's name is this and the scene's tag.
        Agent: string
        /// The container netns's name is this and the scene's tag; containers made on
        /// demand add "c" and their number.
        Container: string
        /// The scratch directory's name starts with this and "-"; the container IDs are this,
        /// the process ID and the scene's number.
        Prefix: string
        /// The bridge's name is this and the scene's tag; the leak test looks for links whose
        /// names start with it in the root netns.
        Bridge: string
        /// The bridges' subnets are 10.<SubnetOctet>.<scene>.0/24.
        SubnetOctet: int
    }

    /// The part of every scene's tag that names this process: scenes of two runs of a
    /// suite never share a name.
    static member ProcessTag = $"{Environment.ProcessId % 100000}n"

    /// Whether a netns is one of this process's scenes'.
    member names.OfThisProcess(netns: string) =
        netns.StartsWith(names.Agent + AgentSceneNames.ProcessTag)
        || netns.StartsWith(names.Container + AgentSceneNames.ProcessTag)

/// Where a scene's scratch directory lies.
type ScratchPlace =
    /// A new directory under the system's temporary directory.
    | TempDirectory
    /// <parent>/<Prefix>-<tag>, with a tmpfs of its own mounted on it: inotify sees nothing
    /// on User-mode Linux's hostfs, and nothing a test writes there may land on the disk.
    | PrivateTmpfs of parent: string

/// What differs between the suites' agents.
type AgentSceneSettings =
    {
        Names: AgentSceneNames
        /// The kind of the agent's `spartan` link: "dummy" as on a real agent, or "bridge"
        /// on a kernel that has no dummy links (this machine's).
        ServerLink: string
        /// Whether dnsmasq answers on 198.51.100.1 (resolution through Spartan).
        Dnsmasq: bool
        /// Whether the scene makes one container with itself; suites of many containers
        /// make theirs with NewContainer.
        Container: bool
        Scratch: ScratchPlace
        /// Runs last in setup, given the agent netns's name and the scratch directory: what
        /// only one suite's agent holds. What it makes must go with the agent netns or the
        /// scratch directory, or be removed by an OnTeardown step.
        Prepare: string -> string -> unit
    }

    /// An agent on this kernel, which has no dummy links: the `spartan` link is a bridge;
    /// dnsmasq, one container, a temporary scratch directory.
    static member OnThisKernel(names: AgentSceneNames) =
        { Names = names
          ServerLink = "bridge"
          Dnsmasq = true
          Container = true
          Scratch = TempDirectory
          Prepare = fun _ _ -> () }

/// One container of a scene: its netns's name, the netns's path (CNI_NETNS) and its
/// container ID.
type Container =
    { Netns: string
      Path: string
      Id: string }

/// What one scene made, kept so that the last test can check that it is all gone.
type AgentSceneMade =
    {
        Scratch: string
        /// Newest first.
        mutable Namespaces: string list
        /// Each as (pid, what it is, a string of its command line that an unrelated process
        /// that later takes the pid would not have).
        mutable Processes: (int * string * string) list
        /// Directories outside the scratch directory that the scene found missing and the
        /// test creates (deepest first).
        mutable CreatedDirs: string list
        mutable Mounted: bool
        mutable TeardownErrors: string list
    }

/// A DC/OS agent in miniature, made fresh for one test:
/// - the "agent" netns plays the host: `lo` up, a link named `spartan` (of the kind the
///   settings say) holding 198.51.100.1-.3/32, and, if the settings say so, dnsmasq
///   answering on .1;
/// - the "container" netns with `lo` up, if the settings say so, and more made on demand;
/// - a scratch directory: `varlib` is bound onto /var/lib for the plugin's processes (so
///   host-local's leases land in `varlib/cni/networks`), `l4lb` is the Minuteman checkpoint
///   path the configs name.
/// Disposing it stops every process it owns, deletes its namespaces (and with them every
/// link, route and IPVS service the plugins made), runs the suite's OnTeardown steps,
/// removes the directories it was told the test creates, and unmounts and removes the
/// scratch directory, whatever state the test left them in.
/// Each suite derives its own Scene from it, with its settings and what only it needs.
type AgentScene(settings: AgentSceneSettings) =
    static let scenes = Teardown.Scenes<AgentSceneMade>()

    let names = settings.Names
    let number = scenes.Next()
    // Short names: the bridge name is limited to 15 bytes; the netns names follow it, so
    // a leak is easy to trace.
    let tag = $"{AgentSceneNames.ProcessTag}{number}"
    let agent = names.Agent + tag
    let container = names.Container + tag
    let containerId = $"{names.Prefix}-{Environment.ProcessId}-{number}"

    let scratch =
        match settings.Scratch with
        | TempDirectory -> Directory.CreateTempSubdirectory(names.Prefix + "-").FullName
        | PrivateTmpfs parent -> Path.Combine(parent, $"{names.Prefix}-{tag}")

    let varLib = Path.Combine(scratch, "varlib")
    let subnetOctet = number % 250
    let mutable containers = 0

    let record =
        { Scratch = scratch
          Namespaces =
            (if settings.Container then
                 [ container; agent ]
             else
                 [ agent ])
          Processes = []
          CreatedDirs = []
          Mounted = false
          TeardownErrors = [] }

    do scenes.Add record

    /// Started by the scene or the test, stopped at teardown, newest first.
    let owned = Stack<IDisposable>()
    /// The suite's own teardown steps, in the order they were added.
    let extraSteps = List<string * (unit -> unit)>()

    let own (what: string) (pid: int) (marker: string) (thing: IDisposable) =
        lock record (fun () ->
            owned.Push thing
            record.Processes <- (pid, what, marker) :: record.Processes)

    let startDnsmasq () =
        let pidFile = Path.Combine(scratch, "dnsmasq.pid")
        let program, args = Spartan.dnsmasq agent pidFile
        let p = new Background(program, args)
        own "dnsmasq" p.Pid pidFile p

        Programs.waitUntil
            $"dnsmasq on {Spartan.dnsServer}:53"
            20.
            (fun () -> if p.HasExited then Some $"it exited: {p.Log}" else None)
            (fun () -> Netns.isListening agent "-uln" Spartan.dnsServer 53)

    let setup () =
        match settings.Scratch with
        | TempDirectory -> ()
        | PrivateTmpfs _ ->
            Directory.CreateDirectory scratch |> ignore

            Command.run "mount" [ "-t"; "tmpfs"; "-o"; "size=16m,mode=0755"; names.Prefix; scratch ]
            |> ignore

            record.Mounted <- true

        Directory.CreateDirectory(Path.Combine(varLib, "cni")) |> ignore
        Netns.create agent

        if settings.Container then
            Netns.create container

        Spartan.addServerLink agent settings.ServerLink
        settings.Prepare agent scratch

        if settings.Dnsmasq then
            startDnsmasq ()

    let teardown () =
        let things, namespaces, extra =
            lock record (fun () -> List.ofSeq owned, record.Namespaces, List.ofSeq extraSteps)

        record.TeardownErrors <-
            Teardown.bestEffort
                tag
                [ for thing in things do
                      yield "stop a process", thing.Dispose
                  for ns in namespaces do
                      yield $"delete netns {ns}", (fun () -> Netns.delete ns)
                  yield! extra
                  if not record.CreatedDirs.IsEmpty then
                      yield
                          "remove the directories the test created",
                          (fun () ->
                              // deepest first, and only when empty: what else lies there is not ours
                              for dir in record.CreatedDirs do
                                  if Directory.Exists dir && Array.isEmpty (Directory.GetFileSystemEntries dir) then
                                      Directory.Delete dir)
                  if record.Mounted then
                      yield "unmount the scratch tmpfs", (fun () -> Command.run "umount" [ scratch ] |> ignore)
                  yield
                      "remove the scratch directory",
                      (fun () ->
                          if Directory.Exists scratch then
                              Directory.Delete(scratch, true)) ]

    do Teardown.setUp setup teardown

    /// Everything any scene of this process made, for the leak test.
    static member Made = scenes.Made

    member _.Agent = agent
    member _.AgentNetns = $"/run/netns/{agent}"
    member _.Container = container
    /// CNI_NETNS for the container.
    member _.Netns = $"/run/netns/{container}"
    member _.ContainerId = containerId

    /// The container the scene made with itself (AgentSceneSettings.Container).
    member _.MainContainer: Container =
        { Netns = container
          Path = $"/run/netns/{container}"
          Id = containerId }

    /// The plugin directories the scene's runtime passes as CNI_PATH.
    abstract CniPath: string list
    default _.CniPath = [ L4lbInAgent.referencePlugins ]

    /// The PATH the scene's runtime gives the plugin.
    abstract SearchPath: string
    default _.SearchPath = L4lbInAgent.searchPath
    /// The bridge plugin's bridge (in the agent netns) and subnet, unique per scene.
    member _.Bridge = names.Bridge + tag
    member _.Subnet = $"10.{names.SubnetOctet}.{subnetOctet}.0/24"
    member _.SubnetPrefix = $"10.{names.SubnetOctet}.{subnetOctet}."
    /// The bridge's own address in the agent (the bridge plugin's isGateway).
    member _.Gateway = $"10.{names.SubnetOctet}.{subnetOctet}.1"
    member _.Scratch = scratch
    /// Bound onto /var/lib for the plugin's processes.
    member _.VarLib = varLib
    /// The Minuteman checkpoint path given in configs (not created by the scene).
    member _.CheckpointDir = Path.Combine(scratch, "l4lb")

    /// Whether a netns is this scene's: the agent or one of its containers.
    member _.Owns(netns: string) =
        netns = agent || netns = container || netns.StartsWith(container + "c")

    /// A new container: a netns with `lo` up and a container ID, both unique, deleted with
    /// the scene.
    member _.NewContainer() : Container =
        let k = Interlocked.Increment &containers
        let name = $"{container}c{k}"
        lock record (fun () -> record.Namespaces <- name :: record.Namespaces)
        Netns.create name

        { Netns = name
          Path = $"/run/netns/{name}"
          Id = $"{containerId}-{k}" }

    /// A process the test started beside the plugin, stopped (disposed) at teardown; the
    /// leak test looks for `marker` in the command line of whatever runs under its pid.
    member _.Own(what: string, pid: int, marker: string, thing: IDisposable) = own what pid marker thing

    /// A step of the suite's own for teardown, run after the namespaces are deleted.
    member _.OnTeardown(what: string, step: unit -> unit) =
        lock record (fun () -> extraSteps.Add(what, step))

    /// The test will create these directories outside the scratch directory (deepest
    /// first): those missing now are removed again at teardown, if empty.
    member _.WillCreate(dirs: string list) =
        record.CreatedDirs <- dirs |> List.filter (Directory.Exists >> not)

    member _.CreatedDirs = record.CreatedDirs

    /// host-local's allocations in one IPAM network.
    member _.Allocations(network: string) : Allocation list = HostLocal.allocations varLib network

    /// The names of the files in a directory under VarLib, sorted; none when it does not
    /// exist.
    member _.FilesIn([<ParamArray>] path: string[]) : string list =
        let dir = Path.Combine(Array.append [| varLib |] path)

        if Directory.Exists dir then
            Directory.GetFiles dir
            |> Array.map Path.GetFileName
            |> Array.sort
            |> List.ofArray
        else
            []

    /// The attachment records of the configs' network (Naming.attachmentDirectory), by
    /// name ("<containerID>@<ifname>"), dot-files included.
    member s.AttachmentRecords = s.FilesIn("cni", "dcos-l4lb", "attachments", L4lbInAgent.network)

    interface IDisposable with
        member _.Dispose() = teardown ()

/// A suite of AgentScenes, run in sequence and closed by the test that every scene was
/// torn down and the machine left as found.
module AgentScenes =

    /// A test in a fresh scene of the suite's kind, torn down whatever the test did.
    let scenario<'Scene when 'Scene :> AgentScene and 'Scene: (new: unit -> 'Scene)>
        (name: string)
        (body: 'Scene -> unit)
        =
        testCase name (fun () ->
            use scene = new 'Scene()
            body scene)

    /// Fails the test, showing the outcome, unless the command exited 0.
    let expectOk what (o: Command.Outcome) =
        if o.ExitCode <> 0 then
            failtest $"{what} failed: {Command.describe o}"

    /// Every scene of this process was torn down without an error, and nothing it made is
    /// left: its namespaces, its scratch directory (and the tmpfs on it), the directories
    /// the test created, the processes it owned.
    let expectTornDown () =
        let namespaces = Command.run "ip" [ "netns"; "list" ]
        let mounts = File.ReadAllText "/proc/self/mountinfo"

        for made in AgentScene.Made do
            Expect.equal made.TeardownErrors [] "teardown errors"

            for ns in made.Namespaces do
                Expect.isFalse (File.Exists $"/run/netns/{ns}") $"netns {ns} is left: {namespaces}"

            if made.Mounted then
                Expect.isFalse (mounts.Contains(" " + made.Scratch + " ")) $"{made.Scratch} is still mounted"

            Expect.isFalse (Directory.Exists made.Scratch) $"{made.Scratch} is left"

            for dir in made.CreatedDirs do
                Expect.isFalse (Directory.Exists dir) $"{dir}, created by the test, is left"

            for pid, what, marker in made.Processes do
                // a process that is gone, or a recycled pid that is not ours any more
                let alive =
                    try
                        (File.ReadAllText $"/proc/{pid}/cmdline").Contains marker
                    with _ ->
                        false

                Expect.isFalse alive $"{what} (pid {pid}) still runs"

    /// What a leak of ours would change on the machine itself: links of our names in the
    /// root netns; the machine's own /var/lib/cni for our network name (IPAM leases, and
    /// a runtime's cached results, named "spartan-net-<container>-eth0").
    let private machineState (names: AgentSceneNames) =
        Machine.links (fun n -> n.StartsWith names.Bridge), Machine.cniState [ "(no /var/lib/cni)" ]

    let private leaks (names: AgentSceneNames) before =
        testCase "every scene was torn down and the machine left as found" (fun () ->
            expectTornDown ()
            Expect.equal (machineState names) before "the root netns's links of our names and /var/lib/cni")

    /// The machine's state is taken now, before any of `tests` runs.
    let suite (names: AgentSceneNames) (name: string) (tests: Test list) : Test =
        let before = machineState names
        testSequenced (testList name (tests @ [ leaks names before ]))
