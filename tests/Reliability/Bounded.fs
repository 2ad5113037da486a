/// What the plugin reads from a plugin it runs is bounded: a delegate that prints 300 MB
/// is killed past 1 MiB, the ADD fails naming the limit and is undone, and the plugin's
/// peak RSS (wait4's, through /usr/bin/time) stays within a few MiB of a normal ADD's.
module Dcos.L4lb.Tests.Reliability.Bounded

open System
open System.IO
open Expecto
open Dcos.L4lb.Tests
open Expectations

/// A delegate that prints a small result for ADD (an address the plugin checks for and
/// nothing attached), and one that prints 300 MB; the Spartan IPAM a script that leases
/// one fixed address. All three are shell scripts of a few hundred KiB of RSS, so the
/// peak wait4 reports for the plugin's tree is the plugin's own.
let private quiet = "quiet-delegate"
let private loud = "loud-delegate"
let private ipam = "fixed-ipam"
let private printed = 300_000_000

let private install (scene: Scene) =
    let write name (body: string) =
        let file = Path.Combine(scene.Fakes, name)

        File.WriteAllText(
            file,
            $"#!/bin/sh\ncat >/dev/null\necho \"{name} $CNI_COMMAND $CNI_CONTAINERID\" >> '{scene.Fakes}/calls.log'\n{body}"
        )

        File.SetUnixFileMode(file, enum<UnixFileMode> 0o755)

    let result address =
        $"""[ "$CNI_COMMAND" = ADD ] && echo '{{"cniVersion":"1.0.0","ips":[{{"address":"{address}"}}]}}'
exit 0
"""

    write quiet (result "10.244.9.9/16")
    write loud $"[ \"$CNI_COMMAND\" = ADD ] && head -c {printed} /dev/zero\nexit 0\n"
    write ipam (result "198.51.100.50/32")

let private conf (delegateType: string) =
    Config.build
        { Config.defaults with
            DelegateType = delegateType
            Spartan = Some(Config.ipamType ipam) }

/// The ADD under /usr/bin/time: its outcome and the peak RSS (KiB) of the plugin and the
/// plugins it ran.
let private measured (scene: Scene) (c: Container) (delegateType: string) =
    let report = Path.Combine(scene.Scratch, $"rss-{delegateType}")

    let o =
        L4lb.exec
            { L4lb.invocation scene "ADD" c (conf delegateType) with
                Tracer = [ "/usr/bin/time"; "-f"; "%M"; "-o"; report ]
                TimeoutMs = 120_000 }

    o, int ((File.ReadAllText report).Trim().Split('\n') |> Array.last)

let private loudDelegate () =
    if not (File.Exists "/usr/bin/time") then
        failtest "/usr/bin/time is missing (Debian package time): it reports the plugin's peak RSS"

    use scene = new Scene()
    install scene
    let normal = scene.NewContainer()
    let o, normalKiB = measured scene normal quiet
    expectOk "the normal ADD" o
    expectOk "its DEL" (L4lb.exec (L4lb.invocation scene "DEL" normal (conf quiet)))

    let c = scene.NewContainer()
    let before = scene.State [ c ]
    let o, loudKiB = measured scene c loud

    printfn
        "reliability: the plugin's peak RSS: %d KiB for a normal ADD, %d KiB when the delegate prints %d bytes"
        normalKiB
        loudKiB
        printed

    let shape =
        { shape with
            Delegate = loud
            Ipam = ipam }

    expectFailedAt shape $"delegate {loud} ADD" [ "more than 1048576 bytes" ] o
    |> ignore

    Expect.contains (Fakes.calls scene) $"{loud} DEL {c.Id}" "the delegate's DEL ran (its ADD may have acted)"
    expectUnchanged "after the ADD was undone" before (scene.State [ c ])
    // the buffer's MiB, and what killing the delegate's tree costs (about 3 MiB in all);
    // without the limit, the plugin held the 300 MB (over 1 GiB of RSS)
    Expect.isLessThanOrEqual loudKiB (normalKiB + 6 * 1024) "the peak RSS within 6 MiB of a normal ADD's"

let tests =
    testCase
        "a delegate that prints 300 MB: killed past 1 MiB, the ADD undone, the peak RSS as for a normal ADD"
        loudDelegate
