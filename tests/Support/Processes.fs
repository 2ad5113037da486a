/// Runs programs directly (no shell, so no quoting), bounded in time, each in a process
/// group of its own so that a test can kill a program together with everything it started;
/// and finds the processes of a group or of a network namespace.
module Dcos.L4lb.Tests.Processes

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.IO
open System.Runtime.InteropServices
open System.Threading
open System.Threading.Tasks

module private Native =
    [<DllImport("libc", SetLastError = true)>]
    extern int kill(int pid, int signal)

let SIGKILL = 9

/// Every process group this test process started (by `setsid`), for the final leak test.
let startedGroups = ConcurrentBag<int>()

/// The process group of a live process, or None once it has gone (or is a zombie).
let processGroup (pid: int) : int option =
    try
        let stat = File.ReadAllText $"/proc/{pid}/stat"
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after the last ')'
        let fields = stat.Substring(stat.LastIndexOf ')' + 2).Split ' '
        if fields[0] = "Z" then None else Some(int fields[2])
    with _ ->
        None

/// The live (non-zombie) processes of a process group.
let groupMembers (pgid: int) : int list =
    [ for dir in Directory.GetDirectories "/proc" do
          match Int32.TryParse(Path.GetFileName dir) with
          | true, pid when processGroup pid = Some pgid -> pid
          | _ -> () ]

/// SIGKILL to every process of the group; to the process itself if the group does not
/// exist yet (killed before setsid ran: nothing else has started then).
let killGroup (pgid: int) =
    if Native.kill (-pgid, SIGKILL) <> 0 then
        Native.kill (pgid, SIGKILL) |> ignore

/// A program started in the background, in a new session and process group (setsid):
/// its pid is its process group's id.
type Running(program: string, args: string list, env: (string * string) list option, stdin: byte[]) =
    let info = Command.startInfo "setsid" (program :: args) env
    let clock = Stopwatch.StartNew()
    let p = Process.Start info
    do startedGroups.Add p.Id
    let stdout = p.StandardOutput.ReadToEndAsync()
    let stderr = p.StandardError.ReadToEndAsync()
    do Command.feed p stdin

    /// The process group (setsid makes the program its leader: it is not one when started,
    /// so setsid does not fork).
    member _.Group = p.Id
    member _.HasExited = p.HasExited

    /// SIGKILL to the whole group: the plugin and every plugin it runs.
    member _.Kill() = killGroup p.Id

    /// Waits for the exit; on timeout kills the group and fails.
    member _.Wait(timeoutMs: int) : Command.Outcome =
        if not (p.WaitForExit timeoutMs) then
            killGroup p.Id
            p.WaitForExit()

            failwith
                $"`{Command.show program args}` did not finish within {timeoutMs / 1000} s; its process group was killed"

        p.WaitForExit()
        // children that kept the pipes open (a plugin's own children) must not hang us
        let outputs = System.Threading.Tasks.Task.WhenAll(stdout, stderr)

        if not (outputs.Wait 10_000) then
            killGroup p.Id
            outputs.Wait 10_000 |> ignore

        let read (t: System.Threading.Tasks.Task<string>) =
            if t.IsCompletedSuccessfully then t.Result else ""

        { ExitCode = p.ExitCode
          Stdout = read stdout
          Stderr = read stderr
          Elapsed = clock.Elapsed }

    interface IDisposable with
        member _.Dispose() =
            if not p.HasExited then
                killGroup p.Id
                p.WaitForExit 10_000 |> ignore

            p.Dispose()

/// Runs the program in its own process group with this environment (or the test's own
/// when None) and input; kills the group if it outlives the time limit.
let executeWithin (timeoutMs: int) program args env (stdin: byte[]) : Command.Outcome =
    use r = new Running(program, args, env, stdin)
    r.Wait timeoutMs

/// The inode of a network namespace file (/run/netns/x or /proc/pid/ns/net).
let netnsInode (path: string) : string option =
    try
        let target = (FileInfo path).LinkTarget

        if not (isNull target) then
            Some target // "net:[4026532...]"
        else
            let o = Command.attempt "stat" [ "-L"; "-c"; "%i"; path ]

            if o.ExitCode = 0 then
                Some $"net:[{o.Stdout.Trim()}]"
            else
                None
    with _ ->
        None

/// The processes whose network namespace is this one.
let processesIn (netnsPath: string) : int list =
    match netnsInode netnsPath with
    | None -> []
    | Some inode ->
        [ for dir in Directory.GetDirectories "/proc" do
              match Int32.TryParse(Path.GetFileName dir) with
              | true, pid ->
                  try
                      if (FileInfo(Path.Combine(dir, "ns", "net"))).LinkTarget = inode then
                          pid
                  with _ ->
                      ()
              | _ -> () ]

/// Waits until the condition holds, polling; fails after the time limit (a guard against
/// a hang: give it several times what the wait takes on a quiet machine).
let waitUntil (what: string) (timeoutMs: int) (condition: unit -> bool) =
    Programs.waitUntil what (float timeoutMs / 1000.) (fun () -> None) condition

/// SIGKILL to the program's process group; waits until every member is gone (a guard of
/// 10 s each against a hang: it takes milliseconds).
let killAndReap (r: Running) =
    r.Kill()
    let o = r.Wait 10_000
    waitUntil $"process group {r.Group} to be gone" 10_000 (fun () -> groupMembers r.Group = [])
    o

/// Runs `body` over the items with at most `degree` at a time; results in item order.
let parallelMap (degree: int) (body: 'a -> 'b) (items: 'a list) : 'b list =
    let input = List.toArray items
    let results = Array.zeroCreate input.Length
    let options = ParallelOptions(MaxDegreeOfParallelism = degree)

    Parallel.For(0, input.Length, options, (fun i -> results[i] <- body input[i]))
    |> ignore

    List.ofArray results

/// Runs the bodies at the same moment, each on a thread of its own, released together.
let together (bodies: (unit -> 'a) list) : 'a list =
    let count = bodies.Length
    use barrier = new Barrier(count)
    let results = Array.zeroCreate count
    let errors = Array.zeroCreate<exn> count

    let threads =
        bodies
        |> List.mapi (fun i body ->
            Thread(fun () ->
                try
                    barrier.SignalAndWait()
                    results[i] <- body ()
                with e ->
                    errors[i] <- e))

    for t in threads do
        t.Start()

    for t in threads do
        t.Join()

    match errors |> Array.tryFind (isNull >> not) with
    | Some e -> raise e
    | None -> List.ofArray results
