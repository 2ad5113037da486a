namespace Dcos.L4lb.Tests.Integration

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.IO
open System.Net
open System.Text
open System.Threading

/// Runs a program directly (no shell, so no quoting), with a time limit.
module Command =
    type Outcome =
        { ExitCode: int
          Stdout: string
          Stderr: string }

    let private timeoutMs = 30_000

    /// Runs the program with this environment (or the test's own when None) and input.
    let execute (program: string) (args: string list) (env: (string * string) list option) (stdin: string) : Outcome =
        let info =
            ProcessStartInfo(
                program,
                args,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true
            )

        env
        |> Option.iter (fun vars ->
            info.Environment.Clear()

            for key, value in vars do
                info.Environment[key] <- value)

        use p = Process.Start info
        let stdout = p.StandardOutput.ReadToEndAsync()
        let stderr = p.StandardError.ReadToEndAsync()

        try
            p.StandardInput.Write stdin
            p.StandardInput.Close()
        with :? IOException ->
            () // the program may exit before reading its input

        if not (p.WaitForExit timeoutMs) then
            p.Kill true
            p.WaitForExit()
            failwith $"`{program} {String.Join(' ', args)}` did not finish within {timeoutMs / 1000} s"

        p.WaitForExit()

        { ExitCode = p.ExitCode
          Stdout = stdout.Result
          Stderr = stderr.Result }

    let attempt program args = execute program args None ""

    /// Runs a command of the test's own setup or inspection; fails the test if it fails.
    let run program args =
        let o = attempt program args

        if o.ExitCode <> 0 then
            failwith $"`{program} {String.Join(' ', args)}` failed ({o.ExitCode}): {(o.Stderr + o.Stdout).Trim()}"

        o.Stdout

    /// `ip -n <netns> ...`
    let ip netns args = run "ip" ([ "-n"; netns ] @ args)

/// What the agent's Spartan stand-in serves.
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

/// One host-local allocation: the address (the file's name) and the container that holds it.
type Allocation = { Address: string; Owner: string }

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
    static let counter = ref 0
    static let made = ConcurrentQueue<Made>()

    let number = Interlocked.Increment &counter.contents
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

    do made.Enqueue record

    let mutable dnsmasq: Process = null
    let dnsmasqLog = StringBuilder()

    let startDnsmasq () =
        let info =
            ProcessStartInfo(
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
                  $"--address=/{Spartan.testName}/{Spartan.testAnswer}" ],
                RedirectStandardOutput = true,
                RedirectStandardError = true
            )

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
            let bound = Command.run "ss" [ "-N"; agent; "-H"; "-uln"; $"src {Spartan.dnsServer}:53" ]

            if bound.Trim() <> "" then ()
            elif p.HasExited then failwith $"dnsmasq exited ({p.ExitCode}): {lock dnsmasqLog (fun () -> string dnsmasqLog)}"
            elif DateTime.UtcNow > deadline then failwith "dnsmasq did not bind 198.51.100.1:53 within 10 s"
            else
                Thread.Sleep 10
                wait ()

        wait ()

    let setup () =
        Command.run "ip" [ "netns"; "add"; agent ] |> ignore
        Command.run "ip" [ "netns"; "add"; container ] |> ignore
        Command.ip agent [ "link"; "set"; "lo"; "up" ] |> ignore
        Command.ip container [ "link"; "set"; "lo"; "up" ] |> ignore
        Command.ip agent [ "link"; "add"; "spartan"; "type"; "bridge" ] |> ignore
        Command.ip agent [ "link"; "set"; "spartan"; "up" ] |> ignore

        for address in Spartan.serverAddresses do
            Command.ip agent [ "addr"; "add"; address + "/32"; "dev"; "spartan" ] |> ignore

        Directory.CreateDirectory(Path.Combine(varLib, "cni")) |> ignore
        startDnsmasq ()

    /// Best effort, every part whatever happened to the others; problems are kept for the
    /// final leak test and shown on stderr (throwing here would hide the test's own failure).
    let teardown () =
        let errors = ResizeArray()
        let attempt what f = try f () with e -> errors.Add $"{what}: {e.Message}"

        attempt "stop dnsmasq" (fun () ->
            if not (isNull dnsmasq) then
                if not dnsmasq.HasExited then dnsmasq.Kill true
                dnsmasq.WaitForExit()
                dnsmasq.Dispose())

        for ns in [ container; agent ] do
            attempt $"delete netns {ns}" (fun () ->
                if File.Exists $"/run/netns/{ns}" then Command.run "ip" [ "netns"; "del"; ns ] |> ignore)

        attempt "remove the scratch directory" (fun () -> Directory.Delete(scratch, true))
        record.TeardownErrors <- List.ofSeq errors

        for e in errors do
            eprintfn $"teardown of scene {tag}: {e}"

    do
        try
            setup ()
        with _ ->
            teardown ()
            reraise ()

    /// Everything any scene of this process made, for the leak test.
    static member Made = List.ofSeq made

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

    interface IDisposable with
        member _.Dispose() = teardown ()
