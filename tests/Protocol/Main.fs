module Dcos.L4lb.Tests.Main

open Expecto

[<EntryPoint>]
let main argv =
    testList "binary" [ Replies.tests; Corpus.tests; Corpus.missingDelegate; Corpus.misbehavingPlugins; Corpus.deafDelegate; Corpus.status; Corpus.garbage; MissingPlugins.tests ]
    |> Suite.run "protocol" argv
