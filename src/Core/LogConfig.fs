namespace Dcos.L4lb

open System
open System.Globalization

/// How much the log says (Multus's names): `Error`, a line for each command that fails;
/// `Verbose`, a line for every command; `Debug`, a line for every effect too.
[<RequireQualifiedAccess>]
type LogLevel =
    | Error
    | Verbose
    | Debug

[<RequireQualifiedAccess>]
type LogFormat =
    /// "<time> dcos-l4lb[<pid>] <COMMAND> <container>: <effect> -> <outcome> (<ms> ms)"
    | Text
    /// One JSON object a line, for programs (l4lbctl gc reads it).
    | Json

/// Rotation by rename: at MaxBytes the file becomes <file>.1, <file>.1 becomes <file>.2,
/// ..., and <file>.<MaxBackups> is dropped.
type LogRotation = { MaxBytes: int64; MaxBackups: int }

/// The log fields of a network configuration. They say where the plugin reports what
/// it does, never what it does: no command reads them.
type LogConfig =
    {
        File: string option
        /// None: the default, which depends on who named the file (Logging.settings).
        Level: LogLevel option
        ToStderr: bool
        Format: LogFormat
        /// None: the file grows without bound.
        Rotation: LogRotation option
    }

module LogConfig =
    let none =
        { File = None
          Level = None
          ToStderr = false
          Format = LogFormat.Text
          Rotation = None }

    [<Literal>]
    let defaultMaxBackups = 5

    // Bounds: every rotation renames each backup, so their number stays small; a size past
    // a terabyte is a mistake.
    [<Literal>]
    let private mostBackups = 100

    [<Literal>]
    let private largestSizeMb = 1048576.0

    let private file root =
        match Field.tryGet "logFile" root with
        | None -> Ok None
        | Some(Json.String p) when p.StartsWith '/' && not (p.Contains '\000') && not (p.EndsWith '/') -> Ok(Some p)
        | Some(Json.String p) ->
            Field.error
                "$.logFile"
                ("\""
                 + p
                 + "\" is not an absolute file path; expected a path such as \"/var/log/dcos-l4lb.log\"")
        | Some other -> Field.wrongType "$.logFile" "an absolute file path string" other

    /// One of a few words, each standing for a value; None when absent.
    let private oneOf key (what: string) (choices: (string * 'a) list) root =
        let path = "$." + key
        let expected = String.Join(" or ", choices |> List.map (fun (word, _) -> "\"" + word + "\""))

        match Field.tryGet key root with
        | None -> Ok None
        | Some(Json.String word) ->
            match choices |> List.tryFind (fun (w, _) -> w = word) with
            | Some(_, value) -> Ok(Some value)
            | None -> Field.error path ("\"" + word + "\" is not " + what + "; expected " + expected)
        | Some other -> Field.wrongType path expected other

    let private level root =
        oneOf "logLevel" "a log level" [ "error", LogLevel.Error; "verbose", LogLevel.Verbose; "debug", LogLevel.Debug ] root

    let private format root =
        oneOf "logFormat" "a log format" [ "text", LogFormat.Text; "json", LogFormat.Json ] root
        |> Result.map (Option.defaultValue LogFormat.Text)

    let private maxSize (options: Json) =
        let path = "$.logOptions.maxSize"

        match Field.tryGet "maxSize" options with
        | None -> Ok None
        | Some(Json.Number text) ->
            match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
            | true, mb when mb > 0.0 && mb <= largestSizeMb -> Ok(Some(max 1L (int64 (mb * 1048576.0))))
            | _ ->
                Field.error
                    path
                    (text
                     + " is not a size; expected megabytes above 0 and at most "
                     + string (int largestSizeMb)
                     + ", such as 100 or 0.5")
        | Some other -> Field.wrongType path "a number of megabytes" other

    let private maxBackups (options: Json) =
        let path = "$.logOptions.maxBackups"

        match Field.tryGet "maxBackups" options with
        | None -> Ok defaultMaxBackups
        | Some(Json.Number text) ->
            match Int32.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) with
            | true, n when n >= 0 && n <= mostBackups -> Ok n
            | _ ->
                Field.error
                    path
                    (text
                     + " is not a number of backups; expected a whole number from 0 to "
                     + string mostBackups)
        | Some other -> Field.wrongType path "a whole number" other

    /// Multus's options this plugin does not carry out: refused, not ignored, so that a
    /// config copied from Multus does not promise what will not happen.
    let private unsupported (options: Json) key (advice: string) =
        match Field.tryGet key options with
        | None -> Ok()
        | Some _ -> Field.error ("$.logOptions." + key) ("is not supported: " + advice)

    let private rotation root =
        match Field.optionalObject "$.logOptions" "logOptions" root with
        | Error e -> Error e
        | Ok None -> Ok None
        | Ok(Some options) ->
            Validation.validate {
                let! size = maxSize options
                and! backups = maxBackups options
                and! () = unsupported options "maxAge" "backups are kept by number (maxBackups), not by age; remove it"
                and! () = unsupported options "compress" "backups are kept uncompressed; remove it"

                return
                    size
                    |> Option.map (fun bytes ->
                        { MaxBytes = bytes
                          MaxBackups = backups })
            }

    /// Reads the log fields of a config object (the top-level object), every error with
    /// its JSON path.
    let parse (root: Json) : Result<LogConfig, CniError list> =
        Validation.validate {
            let! file = file root
            and! level = level root
            and! toStderr = Field.bool "$.logToStderr" "logToStderr" root false
            and! format = format root
            and! rotation = rotation root

            return
                { File = file
                  Level = level
                  ToStderr = toStderr
                  Format = format
                  Rotation = rotation }
        }
