/// Making and unmaking a scene so that whatever a test did, nothing it made is left.
module Dcos.L4lb.Tests.Teardown

open System.Collections.Concurrent
open System.Threading

/// The scenes of this process: numbers them, and keeps what each made (`'Made`) for the
/// final leak test.
type Scenes<'Made>() =
    let counter = ref 0
    let made = ConcurrentQueue<'Made>()

    /// The next scene's number: 1, 2, ...
    member _.Next() = Interlocked.Increment &counter.contents

    member _.Add(record: 'Made) = made.Enqueue record

    /// Everything any scene of this process made.
    member _.Made = List.ofSeq made

/// Runs `setup`; if it fails, runs `teardown` (a half-made scene leaves nothing either)
/// and rethrows.
let setUp (setup: unit -> unit) (teardown: unit -> unit) =
    try
        setup ()
    with _ ->
        teardown ()
        reraise ()

/// Runs every step, in order, whatever happened to the others (best effort), and returns
/// the problems, shown on stderr as well: they are kept for the final leak test, since
/// throwing here would hide the test's own failure.
let bestEffort (scene: string) (steps: (string * (unit -> unit)) list) : string list =
    let errors =
        [ for what, step in steps do
              try
                  step ()
              with e ->
                  $"{what}: {e.Message}" ]

    for e in errors do
        eprintfn $"teardown of scene {scene}: {e}"

    errors
