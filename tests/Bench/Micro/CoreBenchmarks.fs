/// The core's per-invocation work, piece by piece and as a whole.
namespace Dcos.L4lb.Bench

open System
open BenchmarkDotNet.Attributes
open Dcos.L4lb

[<MemoryDiagnoser>]
type CoreBenchmarks() =
    let mutable bytes: byte[] = [||]
    let mutable conf: NetConf = Unchecked.defaultof<_>

    /// "readme": examples/10-spartan-net.conf; "large": a delegate with 2,000 extra fields.
    [<Params("readme", "large")>]
    member val Config = "readme" with get, set

    [<GlobalSetup>]
    member this.Setup() =
        bytes <- Inputs.config this.Config

        conf <-
            match NetConf.parse (ReadOnlyMemory bytes) with
            | Ok c -> c
            | Error errors -> failwith (String.Join("; ", errors |> List.map (fun e -> e.Message)))

        // Core.start must reach ADD's first request, not a reply
        match Core.start Inputs.environment bytes with
        | Pending _ -> ()
        | Finished reply -> failwith ("Core.start replied instead of starting ADD: " + Text.Encoding.UTF8.GetString reply.Stdout)

    /// Reading and validating the network config (JSON parse included).
    [<Benchmark(Description = "NetConf.parse")>]
    member _.Parse() = NetConf.parse (ReadOnlyMemory bytes)

    /// The JSON object the delegate receives.
    [<Benchmark(Description = "Delegate.config")>]
    member _.DelegateConfig() = Delegate.config Add conf

    /// The delegate's config as the bytes the host writes to its stdin.
    [<Benchmark(Description = "Json.render delegate")>]
    member _.RenderDelegate() = Json.render (Delegate.config Add conf)

    /// ADD's step list from a validated config and invocation.
    [<Benchmark(Description = "Plans.add")>]
    member _.PlansAdd() = Plans.add conf Inputs.invocation

    /// The whole path of the host's first call: environment and stdin bytes to the first
    /// request (environment and config validation, ADD's steps, the program's first effect).
    [<Benchmark(Description = "Core.start")>]
    member _.CoreStart() = Core.start Inputs.environment bytes
