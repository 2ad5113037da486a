/// Runs programs directly (no shell, so no quoting), bounded in time: the commands of a
/// test's own setup and inspection, and the plugin where a suite needs nothing more.
module Dcos.L4lb.Tests.Command

open System
open System.Diagnostics
open System.IO

type Outcome =
    {
        ExitCode: int
        Stdout: string
        Stderr: string
        /// Wall-clock time from start to exit.
        Elapsed: TimeSpan
    }

/// How long a program may run. The FullKernel suite doubles it before its first test:
/// under User-mode Linux every program starts several times slower.
let mutable timeoutMs = 30_000

/// The command line, for messages.
let show (program: string) (args: string list) = String.Join(' ', program :: args)

/// All three streams redirected; this environment (or the test's own when None).
let startInfo (program: string) (args: string list) (env: (string * string) list option) =
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

    info

/// Writes the input and closes it.
let feed (p: Process) (stdin: string) =
    try
        p.StandardInput.Write stdin
        p.StandardInput.Close()
    with :? IOException ->
        () // the program may exit before reading its input

/// Runs the program with this environment (or the test's own when None) and input; kills
/// it if it outlives the time limit.
let executeWithin (timeoutMs: int) (program: string) (args: string list) env (stdin: string) : Outcome =
    let clock = Stopwatch.StartNew()
    use p = Process.Start(startInfo program args env)
    let stdout = p.StandardOutput.ReadToEndAsync()
    let stderr = p.StandardError.ReadToEndAsync()
    feed p stdin

    if not (p.WaitForExit timeoutMs) then
        p.Kill true
        p.WaitForExit()
        failwith $"`{show program args}` did not finish within {timeoutMs / 1000} s"

    p.WaitForExit()

    { ExitCode = p.ExitCode
      Stdout = stdout.Result
      Stderr = stderr.Result
      Elapsed = clock.Elapsed }

let execute program args env stdin = executeWithin timeoutMs program args env stdin

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

/// The exit code and both outputs, for failure messages.
let describe (o: Outcome) =
    $"exit {o.ExitCode}\nstdout: {o.Stdout.Trim()}\nstderr: {o.Stderr.Trim()}"
