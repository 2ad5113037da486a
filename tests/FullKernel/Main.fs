module Dcos.L4lb.Tests.FullKernel.Main

open Dcos.L4lb.Tests

[<EntryPoint>]
let main argv =
    Command.timeoutMs <- 60_000
    Suite.run "fullkernel" argv MinutemanPath.tests
