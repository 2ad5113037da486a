module Dcos.L4lb.Tests.Integration.Main

open Dcos.L4lb.Tests

[<EntryPoint>]
let main argv = Suite.run "integration" argv (AddCheckDel.tests [ Gc.tests; Negotiation.tests; Upgrade.tests ])
