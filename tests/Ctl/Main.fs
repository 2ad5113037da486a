module Dcos.L4lb.Tests.Main

open Expecto

[<EntryPoint>]
let main argv =
    testList
        "l4lbctl"
        [ CtlCommands.validate
          CtlCommands.plan
          CtlCommands.registrations
          GcTests.tests
          LogValidation.tests
          GcTimeLimit.tests
          CtlCommands.usage
          CtlCommands.docs ]
    |> testSequenced
    |> Suite.run "l4lbctl" argv
