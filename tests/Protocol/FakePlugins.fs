/// Plugins that misbehave in known ways, as shell scripts in a CNI_PATH directory of the
/// test's own, each logging its invocations so a test can see what was run and undone.
module Dcos.L4lb.Tests.FakePlugins

open System
open System.IO

let private scripts =
    let ok = """{"cniVersion":"1.0.0","ips":[{"address":"10.99.0.2/24"}]}"""

    let versions (newest: string) (list: string) =
        $"VERSION) echo '{{\"cniVersion\":\"{newest}\",\"supportedVersions\":[{list}]}}';;"

    [ "fake-ok", $"""case "$CNI_COMMAND" in ADD) echo '{ok}';; {versions "1.1.0" "\"1.0.0\",\"1.1.0\""} *) echo '{{}}';; esac"""
      // a delegate from before CNI 1.1: as the reference plugins 1.1 do, it fails commands it
      // does not know asking for the container ID
      "fake-old",
      $"""case "$CNI_COMMAND" in ADD|DEL|CHECK) echo '{{}}';; {versions "1.0.0" "\"0.4.0\",\"1.0.0\""} *) echo '{{"code":3,"msg":"missing containerID"}}'; exit 1;; esac"""
      "fake-garbage", """case "$CNI_COMMAND" in ADD) echo 'this is not json';; *) echo '{}';; esac"""
      "fake-noip", """case "$CNI_COMMAND" in ADD) echo '{"cniVersion":"1.0.0"}';; *) echo '{}';; esac"""
      "fake-fail", """echo '{"cniVersion":"1.0.0","code":11,"msg":"try again later"}'; exit 1"""
      "fake-silent", """exit 2"""
      // exits without reading its input (see `deaf`)
      "fake-deaf", """exit 2"""
      "ipam-two", """case "$CNI_COMMAND" in ADD) echo '{"cniVersion":"1.0.0","ips":[{"address":"198.51.100.20/24"},{"address":"198.51.100.21/24"}]}';; *) echo '{}';; esac"""
      "ipam-none", """case "$CNI_COMMAND" in ADD) echo '{"cniVersion":"1.0.0","ips":[]}';; *) echo '{}';; esac"""
      "ipam-v6", """case "$CNI_COMMAND" in ADD) echo '{"cniVersion":"1.0.0","ips":[{"address":"fd00::5/64"}]}';; *) echo '{}';; esac""" ]

/// The one fake that never reads its stdin; every other reads it whole first.
let deaf = "fake-deaf"

/// A directory of fake plugins; `Calls` lists "<plugin> <command>" in invocation order.
type FakePath() =
    let dir = Directory.CreateTempSubdirectory("l4lb-fakes-")
    let log = Path.Combine(dir.FullName, "calls.log")

    do
        for name, body in scripts do
            let file = Path.Combine(dir.FullName, name)
            let input = if name = deaf then "" else "cat > /dev/null\n"
            File.WriteAllText(file, $"#!/bin/sh\n{input}echo \"{name} $CNI_COMMAND\" >> '{log}'\n{body}\n")
            File.SetUnixFileMode(file, enum<UnixFileMode> 0o755)

    member _.Directory = dir.FullName

    member _.Calls =
        if File.Exists log then File.ReadAllLines log |> List.ofArray else []

    interface IDisposable with
        member _.Dispose() = dir.Delete true
