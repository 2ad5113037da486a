/// Runs the core micro benchmarks in one short in-process job and prints, last, the core
/// path (Core.start on the README's config) against its targets.
module Dcos.L4lb.Bench.Program

open System
open System.IO
open BenchmarkDotNet.Columns
open BenchmarkDotNet.Configs
open BenchmarkDotNet.Diagnosers
open BenchmarkDotNet.Exporters
open BenchmarkDotNet.Exporters.Csv
open BenchmarkDotNet.Jobs
open BenchmarkDotNet.Loggers
open BenchmarkDotNet.Reports
open BenchmarkDotNet.Running
open BenchmarkDotNet.Toolchains.InProcess.Emit

let targetMicroseconds = 20.0
let targetBytes = 16L * 1024L

let makeConfig () : IConfig =
    // One process, no generated project to build: a short job (3 warm-ups, 10 measured
    // iterations) in-process keeps a full run to a few minutes on 2 cores.
    let job =
        Job.Default
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(10)
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithId("short-inprocess")

    let artifacts =
        Path.Combine(AppContext.BaseDirectory, "BenchmarkDotNet.Artifacts")

    let config =
        ManualConfig
            .CreateEmpty()
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.Max)
            .AddLogger(ConsoleLogger.Default)
            .AddExporter(MarkdownExporter.GitHub, CsvExporter.Default)
            .WithArtifactsPath(artifacts)
            .WithOptions(ConfigOptions.DisableLogFile)

    config :> IConfig

/// The benchmark's display name (its Description).
let nameOf (r: BenchmarkReport) =
    r.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo.Trim('\'')

/// Bytes allocated per operation, from the memory diagnoser's metric.
let allocatedBytes (r: BenchmarkReport) : float option =
    r.Metrics.Values
    |> Seq.tryFind (fun m -> m.Descriptor.Id = "Allocated Memory")
    |> Option.map (fun m -> m.Value)

let configOf (r: BenchmarkReport) = string (r.BenchmarkCase.Parameters["Config"])

let loadAverage () =
    let fields = File.ReadAllText("/proc/loadavg").Split(' ')
    String.Join(" ", fields, 0, 3)

let printReport (r: BenchmarkReport) =
    let stats = r.ResultStatistics

    if not (isNull (box stats)) then
        let allocated =
            match allocatedBytes r with
            | Some b -> b.ToString("F0") + " B"
            | None -> "?"

        Console.WriteLine(
            String.Format(
                "{0,-22} {1,-7} mean {2,10:F3} us  median {3,10:F3} us  allocated {4}",
                nameOf r,
                configOf r,
                stats.Mean / 1000.0,
                stats.Median / 1000.0,
                allocated
            )
        )

let printTarget (reports: BenchmarkReport list) =
    let core =
        reports
        |> List.tryFind (fun r -> nameOf r = "Core.start" && configOf r = "readme" && not (isNull (box r.ResultStatistics)))

    match core with
    | Some r ->
        let us = r.ResultStatistics.Mean / 1000.0
        let bytes = allocatedBytes r |> Option.defaultValue nan

        Console.WriteLine(
            String.Format(
                "core path Core.start (README config) = {0:F2} us (target < {1} us), {2:F0} B allocated (target < {3} B)",
                us,
                targetMicroseconds,
                bytes,
                targetBytes
            )
        )
    | None -> Console.WriteLine "core path Core.start (README config): not measured (filtered out or failed)"

let report (summaries: Summary seq) =
    // Summary.Reports is an ImmutableArray (a struct): copied out explicitly, because
    // Seq.collect over it makes the F# compiler emit IL the runtime rejects
    // (InvalidProgramException)
    let reports =
        [ for s in summaries do
              for i in 0 .. s.Reports.Length - 1 do
                  yield s.Reports[i] ]
    Console.WriteLine()
    Console.WriteLine("load average (1, 5, 15 min) at the end: " + loadAverage ())
    let readme, large = Inputs.config "readme", Inputs.config "large"
    Console.WriteLine("inputs: readme " + string readme.Length + " bytes, large " + string large.Length + " bytes")

    for r in reports do
        printReport r

    printTarget reports
    0

[<EntryPoint>]
let main argv =
    // with no arguments, every benchmark (BenchmarkSwitcher would otherwise ask on stdin)
    let argv = if Array.isEmpty argv then [| "--filter"; "*" |] else argv
    let summaries = BenchmarkSwitcher.FromTypes([| typeof<CoreBenchmarks> |]).Run(argv, makeConfig ())
    report summaries
