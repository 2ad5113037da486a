module Dcos.L4lb.Tests.FullKernel.Main

open Dcos.L4lb.Tests

[<EntryPoint>]
let main argv = Suite.run "fullkernel" argv Cases.tests
