namespace Dcos.L4lb.Tests.FullKernel

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Threading

/// Runs a program directly (no shell, so no quoting), with a time limit.
module Command =
    type Outcome =
        { ExitCode: int
          Stdout: string
          Stderr: string }

    /// Generous: under User-mode Linux every program starts several times slower.
    let private timeoutMs = 60_000

    let private show (program: string) (args: string list) = String.Join(' ', program :: args)

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
            failwith $"`{show program args}` did not finish within {timeoutMs / 1000} s"

        p.WaitForExit()

        { ExitCode = p.ExitCode
          Stdout = stdout.Result
          Stderr = stderr.Result }

    let attempt program args = execute program args None ""

    /// Runs a command of the test's own setup or inspection; fails the test if it fails.
    let run program args =
        let o = attempt program args

        if o.ExitCode <> 0 then
            failwith $"`{show program args}` failed ({o.ExitCode}): {(o.Stderr + o.Stdout).Trim()}"

        o.Stdout

    /// `ip -n <netns> ...`
    let ip netns args = run "ip" ([ "-n"; netns ] @ args)

    /// Runs a command inside the netns a path names (/run/netns/x, or a checkpoint's
    /// content), as dcos-net does: by the path, not by a name `ip netns` knows.
    let inNetns (path: string) program args =
        attempt "nsenter" ([ "--net=" + path; "--"; program ] @ args)

    let runInNetns (path: string) program args =
        run "nsenter" ([ "--net=" + path; "--"; program ] @ args)

    /// The machine's python3, not a per-user shim that may sit first in PATH.
    let python3 = if File.Exists "/usr/bin/python3" then "/usr/bin/python3" else "python3"

    /// Polls `ready` every 20 ms until it holds, `failed` says the wait is hopeless, or
    /// `seconds` pass.
    let waitUntil (what: string) (seconds: float) (failed: unit -> string option) (ready: unit -> bool) =
        let deadline = DateTime.UtcNow.AddSeconds seconds

        let rec loop () =
            if ready () then
                ()
            else
                match failed () with
                | Some why -> failwith $"{what}: {why}"
                | None when DateTime.UtcNow > deadline -> failwith $"{what}: not within {seconds} s"
                | None ->
                    Thread.Sleep 20
                    loop ()

        loop ()

/// A program that runs beside the test (a server, dnsmasq, the checkpoint watcher), its
/// output collected line by line and each line also handed to `onLine`. Disposing it kills
/// it and everything it started.
type Background(program: string, args: string list, ?stdinOpen: bool, ?onLine: string -> unit) =
    let stdinOpen = defaultArg stdinOpen false
    let handler = defaultArg onLine ignore
    let log = StringBuilder()

    let info =
        ProcessStartInfo(
            program,
            args,
            RedirectStandardInput = stdinOpen,
            RedirectStandardOutput = true,
            RedirectStandardError = true
        )

    let p = new Process(StartInfo = info)

    let onLine (e: DataReceivedEventArgs) =
        if not (isNull e.Data) then
            lock log (fun () -> log.AppendLine e.Data |> ignore)
            handler e.Data

    do
        p.OutputDataReceived.Add onLine
        p.ErrorDataReceived.Add onLine
        p.Start() |> ignore
        p.BeginOutputReadLine()
        p.BeginErrorReadLine()

    member _.Pid = p.Id
    member _.HasExited = p.HasExited
    member _.ExitCode = p.ExitCode
    member _.Log = lock log (fun () -> string log)

    /// Closes its stdin (a polite "stop" for programs that watch it), then waits.
    member _.CloseInput(waitMs: int) =
        if stdinOpen then
            try
                p.StandardInput.Close()
            with :? IOException ->
                ()

        p.WaitForExit waitMs

    member _.Stop() =
        if not p.HasExited then
            p.Kill true

        p.WaitForExit()

    interface IDisposable with
        member this.Dispose() =
            this.Stop()
            p.Dispose()
