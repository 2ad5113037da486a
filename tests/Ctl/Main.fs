module Dcos.L4lb.Tests.Main

open Expecto

[<EntryPoint>]
let main argv =
    testList
        "l4lbctl"
        [ CtlTests.validate
          CtlTests.plan
          CtlTests.registrations
          GcTests.tests
          CtlTests.usage
          CtlTests.docs ]
    |> testSequenced
    |> Suite.run "l4lbctl" argv
