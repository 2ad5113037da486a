/// The inputs the benchmarks run on: the README's example config, and a large one made
/// from it with a delegate that carries about 2,000 extra fields.
module Dcos.L4lb.Bench.Inputs

open System
open System.Collections.Generic
open System.IO
open System.Text
open Dcos.L4lb

/// examples/10-spartan-net.conf, embedded at build time.
let readmeConfig: byte[] =
    use stream =
        Reflection.Assembly.GetExecutingAssembly().GetManifestResourceStream "10-spartan-net.conf"

    use copy = new MemoryStream()
    stream.CopyTo copy
    copy.ToArray()

/// The README's config, with `fields` extra members in the delegate object under "extra":
/// groups of 50 members, each group an object; every fifth member is itself a small
/// object and every seventh an array, so the parser and the writer see every JSON kind.
/// The nesting stays 4 levels below the delegate, far inside the parser's depth limit.
let largeConfig (fields: int) : byte[] =
    let sb = StringBuilder()
    let groups = (fields + 49) / 50

    sb.Append("""{"cniVersion":"0.2.0","name":"spartan-net","type":"dcos-l4lb","delegate":{"type":"bridge","bridge":"sprt-cni0","ipMasq":true,"isGateway":true,"ipam":{"type":"host-local","subnet":"192.168.30.0/24","routes":[{"dst":"10.0.0.0/8"}]},"extra":{""")
    |> ignore

    let mutable n = 0

    for g in 0 .. groups - 1 do
        if g > 0 then sb.Append(',') |> ignore
        sb.Append($"\"group{g:D3}\":{{") |> ignore
        let mutable first = true

        for _ in 1..50 do
            if n < fields then
                if not first then sb.Append(',') |> ignore
                first <- false

                match n % 35 with
                | k when k % 5 = 0 -> sb.Append($"\"f{n:D4}\":{{\"name\":\"value {n}\",\"n\":{n}}}") |> ignore
                | k when k % 7 = 0 -> sb.Append($"\"f{n:D4}\":[{n},\"x{n}\",true,null]") |> ignore
                | k when k % 2 = 0 -> sb.Append($"\"f{n:D4}\":{n}.5") |> ignore
                | _ -> sb.Append($"\"f{n:D4}\":\"some text value number {n}\"") |> ignore

                n <- n + 1

        sb.Append('}') |> ignore

    sb.Append("}}}") |> ignore
    Encoding.UTF8.GetBytes(sb.ToString())

let config (name: string) =
    match name with
    | "readme" -> readmeConfig
    | "large" -> largeConfig 2000
    | other -> invalidArg (nameof name) $"unknown config {other}"

/// The validated invocation of an ADD, built directly (no environment parsing).
let invocation: Invocation =
    { Command = Add
      ContainerId = "bench-container-0123456789abcdef"
      Netns = Some "/run/netns/bench-ctr"
      IfName = "eth0"
      Args = []
      Path = [ "/opt/cni/bin"; "/usr/lib/cni" ] }

/// The environment the host hands to Core.start for that ADD: the CNI_* variables and a
/// few of the ones a runtime's environment always has.
let environment: IReadOnlyDictionary<string, string> =
    let env = Dictionary<string, string>(StringComparer.Ordinal)
    env["CNI_COMMAND"] <- "ADD"
    env["CNI_CONTAINERID"] <- invocation.ContainerId
    env["CNI_NETNS"] <- invocation.Netns.Value
    env["CNI_IFNAME"] <- invocation.IfName
    env["CNI_PATH"] <- String.Join(":", invocation.Path)
    env["PATH"] <- "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env["HOME"] <- "/root"
    env["LANG"] <- "C.UTF-8"
    env
