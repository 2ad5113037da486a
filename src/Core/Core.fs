namespace Dcos.L4lb

open System
open System.Collections.Generic

/// What the host does with one invocation: bytes for stdout, text for stderr, an exit code.
type Reply =
    { Stdout: byte[]
      Stderr: string
      ExitCode: int }

/// The public face of the core: the CNI protocol decisions, and configuration
/// validation for other programs. Everything here is pure; the host does the I/O.
module Plugin =
    let name = "dcos-l4lb"

    let version =
        match typeof<Reply>.Assembly.GetName().Version with
        | null -> "0.0.0"
        | v -> $"{v.Major}.{v.Minor}.{v.Build}"

    /// The line the reference plugins print when run by hand without CNI_COMMAND.
    let about =
        let versions = String.Join(", ", CniVersion.supported)
        $"CNI {name} plugin v{version}\nCNI protocol versions supported: {versions}\n"

    /// Configs are small; anything larger is a mistake or an attack, refused before parsing.
    let maxInputBytes = 1 <<< 20

    /// Whether the host should read stdin: not when run by hand without CNI_COMMAND,
    /// where stdin is usually a terminal.
    let wantsInput (env: IReadOnlyDictionary<string, string>) =
        match env.TryGetValue "CNI_COMMAND" with
        | true, command -> not (String.IsNullOrEmpty command)
        | _ -> false

    let private errorReply cniVersion errors =
        { Stdout = Json.render (CniError.toJson cniVersion errors)
          Stderr = ""
          ExitCode = 1 }

    /// The version to state in an error: the config's own when it names a supported one.
    let private replyVersion (stdin: byte[]) =
        match Json.parse (ReadOnlyMemory stdin) with
        | Ok json ->
            match Json.tryField "cniVersion" json with
            | Some(Json.String v) when CniVersion.isSupported v -> v
            | _ -> CniVersion.newest
        | Error _ -> CniVersion.newest

    let inputTooLarge (env: IReadOnlyDictionary<string, string>) =
        errorReply CniVersion.newest [ CniError.create DecodeFailure "stdin" $"is larger than {maxInputBytes} bytes; expected a network configuration" ]

    let private versionReply =
        { Stdout =
            Json.render (
                Json.Object
                    [ "cniVersion", Json.String CniVersion.newest
                      "supportedVersions", Json.Array(CniVersion.supported |> List.map Json.String) ]
            )
          Stderr = ""
          ExitCode = 0 }

    /// Validates an invocation: its environment and its network configuration, every
    /// error reported. The library entry point for checking a config.
    let validate (env: IReadOnlyDictionary<string, string>) (stdin: byte[]) : Result<Runtime * NetConf, CniError list> =
        let runtime = Runtime.ofEnvironment env
        let conf = NetConf.parse (ReadOnlyMemory stdin)

        match runtime, conf with
        | Ok r, Ok c -> Ok(r, c)
        | _ -> Error(Validation.errors runtime @ Validation.errors conf)

    /// Decides the reply to one invocation.
    let respond (env: IReadOnlyDictionary<string, string>) (stdin: byte[]) : Reply =
        if not (wantsInput env) then
            { Stdout = [||]; Stderr = about; ExitCode = 0 }
        else
            match Runtime.parseCommand env["CNI_COMMAND"] with
            | Ok Version -> versionReply
            | Error e -> errorReply (replyVersion stdin) [ e ]
            | Ok command ->
                match validate env stdin with
                | Error errors -> errorReply (replyVersion stdin) errors
                | Ok(_, conf) ->
                    // Executing plans lands with the effect runner; until then a valid
                    // request is refused rather than pretended to succeed.
                    errorReply
                        conf.CniVersion
                        [ CniError.create PluginFailure "CNI_COMMAND" $"{command.Name} is not implemented in this build yet" ]
