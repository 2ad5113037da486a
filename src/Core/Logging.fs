namespace Dcos.L4lb

open System
open System.Collections.Generic
open System.Globalization
open System.Text

/// What became of one effect, as the log tells it.
type EffectOutcome =
    | Completed
    | Found
    | Exited of exitCode: int * bytes: int
    | Failed of failure: Failure

/// Where one invocation's log goes and what it says: the config's log fields with
/// DCOS_L4LB_LOG_FILE applied, and what each line names. The host opens, writes and
/// rotates; which lines exist and what they hold is decided here.
type LogSettings =
    {
        /// The file the lines are appended to; null: none.
        File: string | null
        ToStderr: bool
        Level: LogLevel
        Format: LogFormat
        /// The size at which the file is rotated; 0: never.
        MaxBytes: int64
        MaxBackups: int
        Command: string
        Container: string
        /// The config's name, when the log fields were read from it.
        Network: string
    }

    member s.Enabled = not (isNull s.File) || s.ToStderr
    /// A line for every effect.
    member s.LogsEffects = s.Enabled && s.Level = LogLevel.Debug

    /// A line for the command's reply: for every command, or only when it failed.
    member s.LogsReply(exitCode: int) =
        s.Enabled && (exitCode <> 0 || s.Level <> LogLevel.Error)

module Logging =
    /// The variable that names a log file, whatever the config says (the config cannot
    /// always be changed where a log is wanted, and a runtime passes no other variable).
    [<Literal>]
    let fileVariable = "DCOS_L4LB_LOG_FILE"

    let private variable (env: IReadOnlyDictionary<string, string>) name =
        match env.TryGetValue name with
        | true, value when not (String.IsNullOrEmpty value) -> value
        | _ -> null

    /// Whether the config may have a log field: every one starts with "log, unless its name
    /// is written with escapes. A config without log fields is not parsed a second time.
    let private mayHaveLogFields (stdin: byte[]) =
        let bytes = ReadOnlySpan stdin
        bytes.IndexOf("\"log"B) >= 0 || bytes.IndexOf("\\u"B) >= 0

    /// The config's log fields and its name; none when it has none or they are invalid
    /// (the command then fails validation and says why).
    let private ofConfig (stdin: byte[]) : LogConfig * string =
        if not (mayHaveLogFields stdin) then
            LogConfig.none, ""
        else
            match Json.parse (ReadOnlyMemory stdin) with
            | Ok(Json.Object _ as root) ->
                let name =
                    match Field.tryGet "name" root with
                    | Some(Json.String n) -> n
                    | _ -> ""

                match LogConfig.parse root with
                | Ok conf -> conf, name
                | Error _ -> LogConfig.none, name
            | _ -> LogConfig.none, ""

    /// The log settings of one invocation: pure, from its environment and stdin.
    /// DCOS_L4LB_LOG_FILE wins over the config's logFile; when it names the file and the
    /// config names no level, the level is debug (what the variable always gave).
    let settings (env: IReadOnlyDictionary<string, string>) (stdin: byte[]) : LogSettings =
        let fromVariable = variable env fileVariable
        let conf, network = ofConfig stdin

        let file =
            if not (isNull fromVariable) then
                fromVariable
            else
                Option.toObj conf.File

        let level =
            match conf.Level with
            | Some level -> level
            | None when not (isNull fromVariable) -> LogLevel.Debug
            | None -> LogLevel.Verbose

        { File = file
          ToStderr = conf.ToStderr
          Level = level
          Format = conf.Format
          MaxBytes = conf.Rotation |> Option.map _.MaxBytes |> Option.defaultValue 0L
          MaxBackups = conf.Rotation |> Option.map _.MaxBackups |> Option.defaultValue 0
          Command = variable env "CNI_COMMAND" |> Option.ofObj |> Option.defaultValue ""
          Container = variable env "CNI_CONTAINERID" |> Option.ofObj |> Option.defaultValue ""
          Network = network }

    /// The effect's kind, for programs that read the JSON log: a stable name, where its
    /// description is prose.
    let effectKind (effect: Effect) =
        match effect with
        | Change c ->
            match c with
            | EnableIpv4Forwarding -> "enable-ipv4-forwarding"
            | TakeLock _ -> "take-lock"
            | ReleaseLock _ -> "release-lock"
            | CreateVeth _ -> "create-veth"
            | CreateDummy _ -> "create-dummy"
            | SetLinkUp _ -> "set-link-up"
            | AddAddress _ -> "add-address"
            | AddRoute _ -> "add-route"
            | DeleteLink _ -> "delete-link"
            | WriteCheckpoint _ -> "write-checkpoint"
            | WriteRecord _ -> "write-record"
            | RemoveFile _ -> "remove-file"
            | FindPlugin _ -> "find-plugin"
            | CheckWritable _ -> "check-writable"
            | CheckExists _ -> "check-exists"
        | StartPlugin _ -> "start-plugin"
        | AwaitPlugin _ -> "run-plugin"
        | InspectLink _ -> "inspect-link"
        | ListRoutes _ -> "list-routes"
        | ReadFile _ -> "read-file"
        | ListFiles _ -> "list-files"

    let private plugin (effect: Effect) =
        match effect with
        | StartPlugin call
        | AwaitPlugin { Call = call } -> Some call
        | _ -> None

    /// An outcome in words: "ok", "found", "exit 0, 123 bytes", "failed (kind): message".
    let outcomeText (outcome: EffectOutcome) =
        match outcome with
        | Completed -> "ok"
        | Found -> "found"
        | Exited(code, bytes) -> "exit " + string code + ", " + string bytes + " bytes"
        | Failed f -> "failed (" + f.Kind.Name + "): " + f.Message

    // One entry, one line, whatever a message holds.
    let private oneLine (text: string) =
        text.Replace('\n', ' ').Replace('\r', ' ')

    let private time (at: DateTime) =
        at.ToString("O", CultureInfo.InvariantCulture)

    let private prefix (s: LogSettings) (pid: int) (at: DateTime) =
        let who =
            if s.Container.Length = 0 then
                s.Command
            else
                s.Command + " " + s.Container

        time at + " dcos-l4lb[" + string pid + "] " + who + ": "

    let private number (value: float) =
        Json.Number(value.ToString("0.###", CultureInfo.InvariantCulture))

    let private context (s: LogSettings) (pid: int) (at: DateTime) =
        [ "time", Json.String(time at)
          "pid", Json.ofInt pid
          "command", Json.String s.Command
          if s.Container.Length > 0 then
              "container", Json.String s.Container
          if s.Network.Length > 0 then
              "network", Json.String s.Network ]

    let private jsonLine (fields: (string * Json) list) =
        let body = Json.render (Json.Object fields)
        let line = Array.zeroCreate (body.Length + 1)
        body.CopyTo(line, 0)
        line[body.Length] <- byte '\n'
        line

    /// The line for one effect carried out (`described` as the host names it), at `at`,
    /// `ms` after it began.
    let effectLine
        (s: LogSettings)
        (pid: int)
        (at: DateTime)
        (effect: Effect)
        (label: Label option)
        (described: string)
        (outcome: EffectOutcome)
        (ms: float)
        : byte[] =
        match s.Format with
        | LogFormat.Text ->
            Encoding.UTF8.GetBytes(
                prefix s pid at
                + oneLine described
                + " -> "
                + oneLine (outcomeText outcome)
                + " ("
                + ms.ToString("F1", CultureInfo.InvariantCulture)
                + " ms)\n"
            )
        | LogFormat.Json ->
            jsonLine (
                context s pid at
                @ [ match label with
                    | Some l ->
                        if l.Number.HasValue then
                            "step", Json.ofInt l.Number.Value
                        "stepName", Json.String l.Step
                    | None -> ()
                    "effect", Json.String described
                    "kind", Json.String(effectKind effect)
                    match plugin effect with
                    | Some call ->
                        "plugin", Json.String call.Type
                        "pluginCommand", Json.String call.Command
                    | None -> ()
                    match outcome with
                    | Completed -> "outcome", Json.String "ok"
                    | Found -> "outcome", Json.String "found"
                    | Exited(code, bytes) ->
                        "outcome", Json.String "exited"
                        "exitCode", Json.ofInt code
                        "bytes", Json.ofInt bytes
                    | Failed f ->
                        "outcome", Json.String "failed"
                        "failure", Json.String f.Kind.Name
                        "message", Json.String f.Message
                    "ms", number ms ]
            )

    /// The line for the command's reply, `ms` after the command began.
    let replyLine (s: LogSettings) (pid: int) (at: DateTime) (reply: Reply) (ms: float) : byte[] =
        match s.Format with
        | LogFormat.Text ->
            let said =
                if reply.ExitCode = 0 then
                    "done"
                else
                    "failed: " + oneLine (Encoding.UTF8.GetString reply.Stdout)

            Encoding.UTF8.GetBytes(prefix s pid at + said + "\n")
        | LogFormat.Json ->
            jsonLine (
                context s pid at
                @ [ "outcome", Json.String(if reply.ExitCode = 0 then "done" else "failed")
                    "exitCode", Json.ofInt reply.ExitCode
                    if reply.ExitCode <> 0 then
                        match Json.parse (ReadOnlyMemory reply.Stdout) with
                        | Ok error -> "error", error
                        | Error _ -> "error", Json.String(Encoding.UTF8.GetString reply.Stdout)
                    "ms", number ms ]
            )

/// One effect line of the JSON log, read back: what programs (l4lbctl gc) take from it.
type LoggedEffect =
    {
        Step: string option
        /// The step's number in its plan (ADD's, DEL's), when the effect is one of its steps.
        StepNumber: int option
        Effect: string
        Kind: string
        /// For a plugin run: its type and CNI command.
        Plugin: (string * string) option
        Outcome: EffectOutcome
    }

    /// "<effect> -> <outcome>", as the text log has it.
    member e.Describe() =
        e.Effect + " -> " + Logging.outcomeText e.Outcome

module LoggedEffect =
    let private failureKinds =
        [ NotFound; AlreadyExists; Unsupported; Io; TimedOut; Interrupted; OtherFailure ]

    /// The effect a JSON log line tells of; None for a reply's line or what is not one.
    let read (line: string) : LoggedEffect option =
        let text key json =
            match Json.tryField key json with
            | Some(Json.String s) -> Some s
            | _ -> None

        let integer key json =
            match Json.tryField key json with
            | Some(Json.Number n) ->
                match Int32.TryParse(n, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) with
                | true, value -> Some value
                | _ -> None
            | _ -> None

        match Json.parse (ReadOnlyMemory(Encoding.UTF8.GetBytes line)) with
        | Ok(Json.Object _ as json) ->
            let outcome =
                match text "outcome" json with
                | Some "ok" -> Some Completed
                | Some "found" -> Some Found
                | Some "exited" ->
                    Option.map2 (fun code bytes -> Exited(code, bytes)) (integer "exitCode" json) (integer "bytes" json)
                | Some "failed" ->
                    let kind =
                        failureKinds
                        |> List.tryFind (fun k -> Some k.Name = text "failure" json)
                        |> Option.defaultValue OtherFailure

                    Some(
                        Failed
                            { Kind = kind
                              Message = text "message" json |> Option.defaultValue "" }
                    )
                | _ -> None

            match text "effect" json, text "kind" json, outcome with
            | Some effect, Some kind, Some outcome ->
                Some
                    { Step = text "stepName" json
                      StepNumber = integer "step" json
                      Effect = effect
                      Kind = kind
                      Plugin = Option.map2 (fun t c -> t, c) (text "plugin" json) (text "pluginCommand" json)
                      Outcome = outcome }
            | _ -> None
        | _ -> None
