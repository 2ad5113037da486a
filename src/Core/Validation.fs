namespace Dcos.L4lb

/// Applicative validation: `let! a = ra and! b = rb` checks both and keeps every error,
/// so a user sees all that is wrong with a config in one run.
type ValidationBuilder() =
    member _.BindReturn(result: Result<'a, 'e list>, f: 'a -> 'b) = Result.map f result

    member _.MergeSources(left: Result<'a, 'e list>, right: Result<'b, 'e list>) =
        match left, right with
        | Ok a, Ok b -> Ok(a, b)
        | Error e1, Error e2 -> Error(e1 @ e2)
        | Error e, Ok _
        | Ok _, Error e -> Error e

    member _.Return(value: 'a) : Result<'a, 'e list> = Ok value

module Validation =
    let validate = ValidationBuilder()

    /// The errors of a result, or none.
    let errors (result: Result<'a, 'e list>) =
        match result with
        | Ok _ -> []
        | Error e -> e
