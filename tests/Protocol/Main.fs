module Dcos.L4lb.Tests.Main

open Expecto

[<EntryPoint>]
let main argv =
    testList "binary" [ Replies.tests; Corpus.tests; Corpus.validRequest; Corpus.garbage ]
    |> Suite.run "protocol" argv
