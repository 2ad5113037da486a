namespace Dcos.L4lb.Tests.Conflist

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Threading
open Dcos.L4lb.Tests

/// What one scene made, kept so that the last test can check that it is all gone.
type Made =
    { Namespaces: string list
      Scratch: string
      mutable Dnsmasq: int option
      mutable TeardownErrors: string list }

/// A DC/OS agent in miniature and one container, made fresh for one test:
/// - the "agent" netns plays the host the runtime runs on: `lo` up, a bridge link named
///   `spartan` (this kernel has no dummy links) holding 198.51.100.1-.3/32, and dnsmasq
///   answering on .1;
/// - the "container" netns, with `lo` up;
/// - a scratch directory: `varlib` is bound onto /var/lib for the runtime and every
///   plugin it runs, so host-local's leases land in `varlib/cni/networks`; libcni is told
///   to keep its results cache in `varlib/cni` too (where a runtime's default would put
///   it), by that directory's real path; the conflists the test writes.
/// Disposing it stops dnsmasq, deletes both namespaces (and with them every link the
/// plugins made) and the scratch directory, whatever state the test left them in.
type Scene() =
    static let scenes = Teardown.Scenes<Made>()

    let number = scenes.Next()
    // Short names: the bridge name is limited to 15 bytes; the netns names follow it, so
    // a leak is easy to trace. "l4l" keeps them apart from the other suites' scenes.
    let tag = $"{Environment.ProcessId % 100000}n{number}"
    let agent = "l4la" + tag
    let container = "l4lc" + tag
    let scratch = Directory.CreateTempSubdirectory("l4lb-cl-").FullName
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
    member _.ContainerId = $"l4lb-cl-{Environment.ProcessId}-{number}"
    /// The bridge plugin's bridge (in the agent netns) and subnet, unique per scene.
    member _.Bridge = "l4lb" + tag
    member _.Subnet = $"10.201.{subnetOctet}.0/24"
    member _.SubnetPrefix = $"10.201.{subnetOctet}."
    member _.Gateway = $"10.201.{subnetOctet}.1"
    member _.Scratch = scratch
    /// Bound onto /var/lib for the runtime's processes.
    member _.VarLib = varLib
    /// libcni's cache directory: the private /var/lib/cni, by its real path.
    member _.CacheDir = Path.Combine(varLib, "cni")

    /// The file libcni keeps a successful ADD's result in, until DEL.
    member s.CachedResult(network: string) =
        Path.Combine(s.CacheDir, "results", $"{network}-{s.ContainerId}-{AgentPlugin.ifName}")

    /// Every file libcni keeps in its results cache.
    member s.CachedResults =
        let dir = Path.Combine(s.CacheDir, "results")

        if Directory.Exists dir then
            Directory.GetFiles dir
            |> Array.map Path.GetFileName
            |> Array.sort
            |> List.ofArray
        else
            []

    /// Writes a file in the scratch directory and returns its path.
    member _.Write (name: string) (text: string) =
        let path = Path.Combine(scratch, name)
        File.WriteAllText(path, text)
        path

    /// host-local's allocations in one IPAM network.
    member _.Allocations(network: string) : Allocation list = HostLocal.allocations varLib network

    interface IDisposable with
        member _.Dispose() = teardown ()
