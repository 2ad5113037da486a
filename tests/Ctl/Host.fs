/// Running l4lbctl and the plugin as an operator and a runtime would, and putting this
/// host back as it was found.
module Dcos.L4lb.Tests.Host

open System
open System.Diagnostics
open System.IO

let repoRoot = L4lbBinary.repoRoot

let binDir = Path.Combine(repoRoot, "bin")

/// Where Debian's containernetworking-plugins puts the reference plugins.
let referencePlugins = "/usr/lib/cni"

/// Runs a program to its end: exit code, stdout, stderr.
let exec (program: string) (args: string list) (env: (string * string) list) (stdin: string option) =
    let info =
        ProcessStartInfo(
            program,
            args,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = repoRoot
        )

    for name, value in env do
        info.Environment[name] <- value

    use p = Process.Start info
    p.StandardInput.Write(defaultArg stdin "")
    p.StandardInput.Close()
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEnd()
    p.WaitForExit()
    p.ExitCode, out.Result, err

let ctl (args: string list) =
    exec (Path.Combine(binDir, "l4lbctl")) args [] None

/// bin/dcos-l4lb, run by hand as a runtime runs it.
let plugin (env: (string * string) list) (config: string) =
    exec (Path.Combine(binDir, "dcos-l4lb")) [] env (Some config)

let sh (command: string) =
    use p = Process.Start(ProcessStartInfo("/bin/sh", [| "-c"; command |]))
    p.WaitForExit()

    if p.ExitCode <> 0 then
        failwith $"`{command}` failed"

/// Like sh, for clean-up: a failure is no reason to stop cleaning.
let shQuiet (command: string) =
    use p =
        Process.Start(ProcessStartInfo("/bin/sh", [| "-c"; command + " 2>/dev/null" |]))

    p.WaitForExit()

let withTemp (f: string -> unit) =
    let dir = Directory.CreateTempSubdirectory("l4lbctl-test-")

    try
        f dir.FullName
    finally
        dir.Delete true

let varLibCni = "/var/lib/cni"
let ourState = Path.Combine(varLibCni, "dcos-l4lb")

/// Runs `f`, then puts back what plugin runs change on this host beyond a test's own
/// names: the lock files and the directories the plugin and host-local create on first
/// use (and never remove), and the IPv4 forwarding an ADD turns on. `ownDirectories` (a
/// test's own IPAM networks and attachment records) are removed.
let restoringHost (ownDirectories: string list) (f: unit -> unit) =
    let directories =
        [ varLibCni
          ourState
          Path.Combine(ourState, "attachments")
          Path.Combine(varLibCni, "networks") ]

    let locks =
        [ for i in 0..63 -> Path.Combine(ourState, $"lock.{i}") ]
        @ [ Path.Combine(ourState, "lock.gc") ]

    let existed =
        directories @ locks
        |> List.filter (fun p -> File.Exists p || Directory.Exists p)
        |> Set.ofList

    let forwarding = File.ReadAllText "/proc/sys/net/ipv4/ip_forward"

    try
        f ()
    finally
        for d in ownDirectories do
            if Directory.Exists d then
                Directory.Delete(d, true)

        for lock in locks do
            if not (existed.Contains lock) && File.Exists lock then
                File.Delete lock

        for d in List.rev directories do
            if
                not (existed.Contains d)
                && Directory.Exists d
                && Directory.GetFileSystemEntries(d).Length = 0
            then
                Directory.Delete d

        File.WriteAllText("/proc/sys/net/ipv4/ip_forward", forwarding)
