module Dcos.L4lb.Tests.Main

open Expecto

[<EntryPoint>]
let main argv =
    testList
        "l4lbctl"
        [ CtlCommands.validate
          CtlPlan.plan
          CtlCommands.registrations
          GcTests.tests
          LogValidation.tests
          DoctorJudgement.tests
          DoctorTests.tests
          GcTimeLimit.tests
          CtlCommands.usage
          CtlCommands.docs ]
    |> testSequenced
    |> Suite.run "l4lbctl" argv
