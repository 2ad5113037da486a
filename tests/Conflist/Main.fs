module Dcos.L4lb.Tests.Conflist.Main

open Dcos.L4lb.Tests

[<EntryPoint>]
let main argv =
    try
        Suite.run "conflist" argv LibcniRuns.tests
    finally
        Runtime.remove ()
