/// Running l4lbctl and the plugin as an operator and a runtime would, and putting this
/// host back as it was found.
module Dcos.L4lb.Tests.Host

open System
open System.IO

let repoRoot = L4lbBinary.repoRoot

let binDir = Path.Combine(repoRoot, "bin")

/// Where Debian's containernetworking-plugins puts the reference plugins.
let referencePlugins = "/usr/lib/cni"

/// Runs a program to its end from the repository root, in the test's own environment:
/// exit code, stdout, stderr.
let exec (program: string) (args: string list) =
    let info = Command.startInfo program args None
    info.WorkingDirectory <- repoRoot
    let o = Command.finish Command.timeoutMs info [||]
    o.ExitCode, o.Stdout, o.Stderr

let ctl (args: string list) = exec (Path.Combine(binDir, "l4lbctl")) args

/// The plugin run by hand as a runtime runs it (PATH and these variables), where the test
/// runs: on the machine's /var/lib, which restoringHost puts back.
let plugin (env: (string * string) list) (config: string) =
    let o = L4lb.execRaw L4lb.Here env (Text.Encoding.UTF8.GetBytes config)
    o.ExitCode, o.Stdout, o.Stderr

let sh (command: string) = Command.sh command |> ignore

/// Like sh, for clean-up: a failure is no reason to stop cleaning.
let shQuiet (command: string) =
    Command.attempt "/bin/sh" [ "-c"; command ] |> ignore

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
