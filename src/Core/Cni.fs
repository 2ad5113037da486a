namespace Dcos.L4lb

open System

/// The error classes of the CNI specification ("Error" section), each with its code.
type ErrorKind =
    | IncompatibleVersion
    | UnsupportedField
    | UnknownContainer
    | InvalidEnvironment
    | IoFailure
    | DecodeFailure
    | InvalidConfig
    | TryAgainLater
    /// Codes 100 and up belong to the plugin: a failure of this plugin's own work.
    | PluginFailure
    /// A code another plugin (the delegate, the IPAM plugin) reported, passed on.
    | ForeignCode of code: int

    member kind.Code =
        match kind with
        | IncompatibleVersion -> 1
        | UnsupportedField -> 2
        | UnknownContainer -> 3
        | InvalidEnvironment -> 4
        | IoFailure -> 5
        | DecodeFailure -> 6
        | InvalidConfig -> 7
        | TryAgainLater -> 11
        | PluginFailure -> 100
        | ForeignCode code -> code

    static member OfCode(code: int) =
        match code with
        | 1 -> IncompatibleVersion
        | 2 -> UnsupportedField
        | 3 -> UnknownContainer
        | 4 -> InvalidEnvironment
        | 5 -> IoFailure
        | 6 -> DecodeFailure
        | 7 -> InvalidConfig
        | 11 -> TryAgainLater
        | 100 -> PluginFailure
        | other -> ForeignCode other

/// One thing wrong with an invocation. Field is where: a JSON path into the network
/// configuration ("$.minuteman.path") or the name of a CNI_* variable.
type CniError =
    { Kind: ErrorKind
      Field: string
      Message: string
      /// The underlying error, when Message summarises it.
      Details: string option }

    member e.Code = e.Kind.Code
    /// The text a user sees: where, then what was wrong and what was expected.
    member e.Describe() = $"{e.Field}: {e.Message}"

module CniError =
    let create kind field message =
        { Kind = kind
          Field = field
          Message = message
          Details = None }

    let invalidConfig field message = create InvalidConfig field message
    let invalidEnvironment field message = create InvalidEnvironment field message

    /// The error object the CNI spec prints on stdout. With several errors, the first is
    /// the headline (its code and msg) and all of them are listed in details; a single
    /// error's details are its own.
    let toJson (cniVersion: string) (errors: CniError list) : Json =
        match errors with
        | [] -> invalidArg (nameof errors) "an error reply needs at least one error"
        | first :: rest ->
            let details =
                match rest, first.Details with
                | [], None -> []
                | [], Some details -> [ "details", Json.String details ]
                // the first error is msg already: details carry its own details and the rest
                | _ ->
                    let parts = Option.toList first.Details @ (rest |> List.map _.Describe())
                    [ "details", Json.String(String.concat "; " parts) ]

            Json.Object(
                [ "cniVersion", Json.String cniVersion
                  "code", Json.ofInt first.Code
                  "msg", Json.String(first.Describe()) ]
                @ details
            )

/// CNI specification versions.
module CniVersion =
    /// Every version this plugin speaks, oldest first.
    let supported = [ "0.1.0"; "0.2.0"; "0.3.0"; "0.3.1"; "0.4.0"; "1.0.0"; "1.1.0" ]

    let newest = List.last supported

    let isSupported (version: string) = List.contains version supported

    /// major.minor.patch as numbers; None for anything else.
    let tryParse (version: string) : (int * int * int) option =
        match version.Split '.' with
        | [| a; b; c |] ->
            let num (s: string) =
                if s.Length > 0 && s.Length <= 9 && s |> Seq.forall Char.IsAsciiDigit then
                    Some(int s)
                else
                    None

            match num a, num b, num c with
            | Some x, Some y, Some z -> Some(x, y, z)
            | _ -> None
        | _ -> None

    /// True when version is at least minimum; both must be well formed.
    let atLeast (minimum: string) (version: string) =
        match tryParse version, tryParse minimum with
        | Some v, Some m -> v >= m
        | _ -> false

/// What the host does at the end of one invocation: bytes for stdout, text for stderr,
/// an exit code.
type Reply =
    { Stdout: byte[]
      Stderr: string
      ExitCode: int }
