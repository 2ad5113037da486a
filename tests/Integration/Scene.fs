namespace Dcos.L4lb.Tests.Integration

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

/// A DC/OS agent in miniature, made fresh for one test:
/// - the "agent" netns plays the host: `lo` up, a bridge link named `spartan` (this kernel
///   has no dummy links) holding 198.51.100.1-.3/32, and dnsmasq answering on .1;
/// - the "container" netns, with `lo` up;
/// - a scratch directory: `varlib` is bound onto /var/lib for the plugin (so the IPAM
///   state lands in `varlib/cni/networks`) and `l4lb` is the Minuteman checkpoint path.
/// Disposing it stops dnsmasq, deletes both namespaces (and with them every link the
/// plugin made) and the scratch directory, whatever state the test left them in.
type Scene() =
    static let scenes = Teardown.Scenes<Made>()

    let number = scenes.Next()
    // Short names: netns names appear in nothing the kernel limits to 15 bytes, but the
    // bridge name does, and keeping them alike makes a leak easy to trace.
    let tag = $"{Environment.ProcessId % 100000}n{number}"
    let agent = "l4a" + tag
    let container = "l4c" + tag
    let scratch = Directory.CreateTempSubdirectory("l4lb-it-").FullName
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
        let info = ProcessStartInfo(program, args, RedirectStandardOutput = true, RedirectStandardError = true)
        let p = new Process(StartInfo = info)
        let log (e: DataReceivedEventArgs) = if not (isNull e.Data) then lock dnsmasqLog (fun () -> dnsmasqLog.AppendLine e.Data |> ignore)
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
            if Netns.isListening agent "-uln" Spartan.dnsServer 53 then ()
            elif p.HasExited then failwith $"dnsmasq exited ({p.ExitCode}): {lock dnsmasqLog (fun () -> string dnsmasqLog)}"
            elif DateTime.UtcNow > deadline then failwith "dnsmasq did not bind 198.51.100.1:53 within 10 s"
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
                              if not dnsmasq.HasExited then dnsmasq.Kill true
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
    member _.ContainerId = $"l4lb-it-{Environment.ProcessId}-{number}"
    /// The delegate bridge's name and subnet, unique per scene.
    member _.Bridge = "l4t" + tag
    member _.Subnet = $"10.200.{subnetOctet}.0/24"
    member _.SubnetPrefix = $"10.200.{subnetOctet}."
    member _.Gateway = $"10.200.{subnetOctet}.1"
    /// Bound onto /var/lib for the plugin's processes.
    member _.VarLib = varLib
    /// The Minuteman checkpoint path given in configs (not created by the scene).
    member _.CheckpointDir = Path.Combine(scratch, "l4lb")
    member s.CheckpointFile = Path.Combine(s.CheckpointDir, s.ContainerId)

    /// host-local's allocations in one IPAM network.
    member _.Allocations(network: string) : Allocation list = HostLocal.allocations varLib network

    interface IDisposable with
        member _.Dispose() = teardown ()
