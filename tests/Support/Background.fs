namespace Dcos.L4lb.Tests

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Threading

/// What the programs a suite runs beside its tests need: python3, and a wait.
module Programs =
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
