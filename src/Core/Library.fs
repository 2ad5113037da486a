namespace Dcos.L4lb

open System
open System.Collections.Generic

/// One problem with a network configuration, for callers in any .NET language.
[<Sealed>]
type ValidationError(code: int, path: string, message: string) =
    /// The CNI error code (1 incompatible version, 6 undecodable, 7 invalid config, ...).
    member _.Code = code
    /// A JSON path into the configuration, such as "$.minuteman.path".
    member _.Path = path
    /// What was wrong and what was expected.
    member _.Message = message
    override _.ToString() = path + ": " + message + " (CNI code " + string code + ")"

/// The outcome of validating a network configuration.
[<Sealed>]
type ValidationResult(errors: IReadOnlyList<ValidationError>) =
    member _.IsValid = errors.Count = 0
    member _.Errors = errors

/// Validation of dcos-l4lb network configurations, as the plugin itself reads them: the
/// library entry point for programs that check a config before rolling it out.
[<AbstractClass; Sealed>]
type ConfigValidator =
    static member private OfErrors(errors: CniError list) =
        ValidationResult(errors |> List.map (fun e -> ValidationError(e.Code, e.Field, e.Message)) |> List.toArray)

    /// Validates a configuration given as UTF-8 JSON bytes.
    static member Validate(utf8: byte[]) : ValidationResult =
        match NetConf.parse (ReadOnlyMemory utf8) with
        | Ok _ -> ValidationResult(Array.empty)
        | Error errors -> ConfigValidator.OfErrors errors

    /// Validates a configuration given as JSON text.
    static member Validate(json: string) : ValidationResult =
        ConfigValidator.Validate(Text.Encoding.UTF8.GetBytes json)
