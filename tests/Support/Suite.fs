/// Runs an Expecto suite and closes with the plain line "<suite>: N passed, N failed",
/// which tests/run-all.sh adds up across suites (errored tests count as failed).
module Dcos.L4lb.Tests.Suite

open Expecto
open Expecto.Impl

let run (suite: string) (argv: string[]) (tests: Test) : int =
    let report (summary: TestRunSummary) =
        let failed = summary.failed.Length + summary.errored.Length
        printfn "%s: %d passed, %d failed" suite summary.passed.Length failed

    runTestsWithCLIArgs [ Append_Summary_Handler(SummaryHandler report); Colours 0; No_Spinner ] argv tests
