namespace Dcos.L4lb.Tests

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Threading
open Expecto

/// How one suite names what its scenes make, so that suites never meet and a leak is easy
/// to trace to its suite.
type AgentSceneNames =
    {
        /// The agent netns's name is this and the scene's tag.
        Agent: string
        /// The container netns's name is this and the scene's tag.
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

/// What one scene made, kept so that the last test can check that it is all gone.
type AgentSceneMade =
    { Namespaces: string list
      Scratch: string
      mutable Dnsmasq: int option
      mutable TeardownErrors: string list }

/// A DC/OS agent in miniature and one container, made fresh for one test:
/// - the "agent" netns plays the host: `lo` up, a bridge link named `spartan` (this kernel
///   has no dummy links) holding 198.51.100.1-.3/32, and dnsmasq answering on .1;
/// - the "container" netns, with `lo` up;
/// - a scratch directory: `varlib` is bound onto /var/lib for the plugin's processes (so
///   host-local's leases land in `varlib/cni/networks`).
/// Disposing it stops dnsmasq, deletes both namespaces (and with them every link the
/// plugins made) and the scratch directory, whatever state the test left them in.
/// Each suite derives its own Scene from it, with its names and what only it needs.
type AgentScene(names: AgentSceneNames) =
    static let scenes = Teardown.Scenes<AgentSceneMade>()

    let number = scenes.Next()
    // Short names: the bridge name is limited to 15 bytes; the netns names follow it, so
    // a leak is easy to trace.
    let tag = $"{Environment.ProcessId % 100000}n{number}"
    let agent = names.Agent + tag
    let container = names.Container + tag
    let scratch = Directory.CreateTempSubdirectory(names.Prefix + "-").FullName
    let varLib = Path.Combine(scratch, "varlib")
    let subnetOctet = number % 250

    let record =
        { Namespaces = [ container; agent ]
          Scratch = scratch
          Dnsmasq = None
          TeardownErrors = [] }

    do scenes.Add record

    let mutable dnsmasq: Process = null
    let dnsmasqLog = StringBuilder()

    let startDnsmasq () =
        let program, args = Spartan.dnsmasq agent (Path.Combine(scratch, "dnsmasq.pid"))

        let info =
            ProcessStartInfo(program, args, RedirectStandardOutput = true, RedirectStandardError = true)

        let p = new Process(StartInfo = info)

        let log (e: DataReceivedEventArgs) =
            if not (isNull e.Data) then
                lock dnsmasqLog (fun () -> dnsmasqLog.AppendLine e.Data |> ignore)

        p.OutputDataReceived.Add log
        p.ErrorDataReceived.Add log
        p.Start() |> ignore
        p.BeginOutputReadLine()
        p.BeginErrorReadLine()
        dnsmasq <- p
        record.Dnsmasq <- Some p.Id

        // Ready once its socket is bound: ask ss inside the agent.
        let deadline = DateTime.UtcNow.AddSeconds 10.

        let rec wait () =
            if Netns.isListening agent "-uln" Spartan.dnsServer 53 then
                ()
            elif p.HasExited then
                failwith $"dnsmasq exited ({p.ExitCode}): {lock dnsmasqLog (fun () -> string dnsmasqLog)}"
            elif DateTime.UtcNow > deadline then
                failwith "dnsmasq did not bind 198.51.100.1:53 within 10 s"
            else
                Thread.Sleep 10
                wait ()

        wait ()

    let setup () =
        Netns.create agent
        Netns.create container
        Spartan.addServerLink agent "bridge"
        Directory.CreateDirectory(Path.Combine(varLib, "cni")) |> ignore
        startDnsmasq ()

    let teardown () =
        record.TeardownErrors <-
            Teardown.bestEffort
                tag
                [ yield
                      "stop dnsmasq",
                      (fun () ->
                          if not (isNull dnsmasq) then
                              if not dnsmasq.HasExited then
                                  dnsmasq.Kill true

                              dnsmasq.WaitForExit()
                              dnsmasq.Dispose())
                  for ns in [ container; agent ] do
                      yield $"delete netns {ns}", (fun () -> Netns.delete ns)
                  yield "remove the scratch directory", (fun () -> Directory.Delete(scratch, true)) ]

    do Teardown.setUp setup teardown

    /// Everything any scene of this process made, for the leak test.
    static member Made = scenes.Made

    member _.Agent = agent
    member _.Container = container
    /// CNI_NETNS for the container.
    member _.Netns = $"/run/netns/{container}"
    member _.ContainerId = $"{names.Prefix}-{Environment.ProcessId}-{number}"
    /// The bridge plugin's bridge (in the agent netns) and subnet, unique per scene.
    member _.Bridge = names.Bridge + tag
    member _.Subnet = $"10.{names.SubnetOctet}.{subnetOctet}.0/24"
    member _.SubnetPrefix = $"10.{names.SubnetOctet}.{subnetOctet}."
    member _.Gateway = $"10.{names.SubnetOctet}.{subnetOctet}.1"
    member _.Scratch = scratch
    /// Bound onto /var/lib for the plugin's processes.
    member _.VarLib = varLib

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

    /// What a leak of ours would change on the machine itself: links of our names in the
    /// root netns; the machine's own /var/lib/cni for our network name (IPAM leases, and
    /// a runtime's cached results, named "spartan-net-<container>-eth0").
    let private machineState (names: AgentSceneNames) =
        Machine.links (fun n -> n.StartsWith names.Bridge), Machine.cniState [ "(no /var/lib/cni)" ]

    let private leaks (names: AgentSceneNames) before =
        testCase "every scene was torn down and the machine left as found" (fun () ->
            let namespaces = Command.run "ip" [ "netns"; "list" ]

            for made in AgentScene.Made do
                Expect.equal made.TeardownErrors [] "teardown errors"

                for ns in made.Namespaces do
                    Expect.isFalse (File.Exists $"/run/netns/{ns}") $"netns {ns} is left: {namespaces}"

                Expect.isFalse (Directory.Exists made.Scratch) $"{made.Scratch} is left"

                match made.Dnsmasq with
                | Some pid when File.Exists $"/proc/{pid}/cmdline" ->
                    let cmdline = File.ReadAllText $"/proc/{pid}/cmdline"
                    Expect.isFalse (cmdline.Contains made.Scratch) $"dnsmasq {pid} still runs"
                | _ -> ()

            Expect.equal (machineState names) before "the root netns's links of our names and /var/lib/cni")

    /// The machine's state is taken now, before any of `tests` runs.
    let suite (names: AgentSceneNames) (name: string) (tests: Test list) : Test =
        let before = machineState names
        testSequenced (testList name (tests @ [ leaks names before ]))
