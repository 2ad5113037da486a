/// Runs programs directly (no shell, so no quoting), bounded in time: the commands of a
/// test's own setup and inspection (the plugin itself runs through L4lb).
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
let feed (p: Process) (stdin: byte[]) =
    try
        p.StandardInput.BaseStream.Write(stdin, 0, stdin.Length)
        p.StandardInput.Close()
    with :? IOException ->
        () // the program may exit before reading its input

/// Runs a program to its end: starts it, writes its input, and kills it (with everything
/// it started) if it outlives the time limit, a guard against a hang.
let finish (timeoutMs: int) (info: ProcessStartInfo) (stdin: byte[]) : Outcome =
    let clock = Stopwatch.StartNew()
    use p = Process.Start info
    let stdout = p.StandardOutput.ReadToEndAsync()
    let stderr = p.StandardError.ReadToEndAsync()
    feed p stdin

    if not (p.WaitForExit timeoutMs) then
        p.Kill true
        p.WaitForExit()
        failwith $"`{show info.FileName (List.ofSeq info.ArgumentList)}` did not finish within {timeoutMs / 1000} s"

    p.WaitForExit()

    { ExitCode = p.ExitCode
      Stdout = stdout.Result
      Stderr = stderr.Result
      Elapsed = clock.Elapsed }

/// Runs the program with this environment (or the test's own when None) and input; kills
/// it if it outlives the time limit.
let executeWithin (timeoutMs: int) (program: string) (args: string list) env (stdin: string) : Outcome =
    finish timeoutMs (startInfo program args env) (Text.Encoding.UTF8.GetBytes stdin)

let execute program args env stdin = executeWithin timeoutMs program args env stdin

let attempt program args = execute program args None ""

/// Runs a command of the test's own setup or inspection; fails the test if it fails.
let run program args =
    let o = attempt program args

    if o.ExitCode <> 0 then
        failwith $"`{show program args}` failed ({o.ExitCode}): {(o.Stderr + o.Stdout).Trim()}"

    o.Stdout

/// Runs a shell command line of the test's own setup or inspection, for what needs a
/// shell (redirections, pipes); fails the test if it fails.
let sh (command: string) = run "/bin/sh" [ "-c"; command ]

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
    $"exit {o.ExitCode} after {o.Elapsed.TotalMilliseconds:F0} ms\nstdout: {o.Stdout.Trim()}\nstderr: {o.Stderr.Trim()}"
