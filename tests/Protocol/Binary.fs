/// Runs the real dcos-l4lb binary as a container runtime would: a clean environment
/// holding only the CNI_* variables, the config on stdin.
module Dcos.L4lb.Tests.Binary

open System.Diagnostics
open System.IO
open System.Text

type Outcome =
    { ExitCode: int
      Stdout: string
      Stderr: string }

/// Runs the binary inside the named netns, with `varLib` (a directory of the test's, or
/// none: a private, empty tmpfs) as its /var/lib: IPAM state, the plugin's lock files and
/// records land there, not on the machine; or where the test runs.
let runBytesWithVarLib (varLib: string option) (netns: string option) (env: (string * string) list) (stdin: byte[]) : Outcome =
    let info =
        match netns with
        | Some name ->
            let mount =
                match varLib with
                | Some dir -> $"mount --bind '{dir}' /var/lib"
                | None -> "mount -t tmpfs l4lb-proto /var/lib"

            ProcessStartInfo(
                "unshare",
                [| "--mount"; "--propagation"; "private"; "sh"; "-c"
                   mount + " && exec ip netns exec \"$0\" \"$1\""; name; L4lbBinary.path |]
            )
        | None -> ProcessStartInfo(L4lbBinary.path)

    info.RedirectStandardInput <- true
    info.RedirectStandardOutput <- true
    info.RedirectStandardError <- true
    info.Environment.Clear()
    info.Environment["PATH"] <- "/usr/sbin:/usr/bin:/sbin:/bin"

    for key, value in env do
        info.Environment[key] <- value

    use p = Process.Start info
    let stdout = p.StandardOutput.ReadToEndAsync()
    let stderr = p.StandardError.ReadToEndAsync()

    try
        p.StandardInput.BaseStream.Write(stdin, 0, stdin.Length)
        p.StandardInput.Close()
    with :? IOException ->
        () // the plugin may refuse a large input before reading all of it

    if not (p.WaitForExit 20000) then
        p.Kill true
        failwith "dcos-l4lb did not finish within 20 s"

    { ExitCode = p.ExitCode
      Stdout = stdout.Result
      Stderr = stderr.Result }

let runBytesIn netns env stdin = runBytesWithVarLib None netns env stdin
let runBytes env stdin = runBytesIn None env stdin
let run env (stdin: string) = runBytes env (Encoding.UTF8.GetBytes stdin)

/// Runs a command for the test's own setup and checks; fails the test on error.
let sh (command: string) : string =
    let info = ProcessStartInfo("/bin/sh", [| "-c"; command |], RedirectStandardOutput = true, RedirectStandardError = true)
    use p = Process.Start info
    let out = p.StandardOutput.ReadToEnd()
    let err = p.StandardError.ReadToEnd()
    p.WaitForExit()

    if p.ExitCode <> 0 then
        failwith $"`{command}` failed ({p.ExitCode}): {err}"

    out
