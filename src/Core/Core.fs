namespace Dcos.L4lb

open System
open System.Collections.Generic

/// The public face of the core: the CNI protocol decisions, and configuration
/// validation for other programs. Everything here is pure; the host does the I/O.
module Core =
    let name = "dcos-l4lb"

    // A literal, not read from the assembly: that is reflection every invocation would pay
    // (all of this module's values are initialised on the first call into it). A property
    // test keeps it equal to <Version> in Directory.Build.props.
    [<Literal>]
    let version = "0.1.0"

    /// The line the reference plugins print when run by hand without CNI_COMMAND.
    let about =
        // Concatenated, not interpolated: as `$"..."` this compiled to FSharp.Core's printf,
        // and every value of this module is computed on the first call into it, so printf's
        // format parser ran at every start of the plugin (docs/performance.md).
        "CNI " + name + " plugin v" + version + "\nCNI protocol versions supported: "
        + String.Join(", ", CniVersion.supported)
        + "\n"

    /// Configs are small; anything larger is a mistake or an attack, refused before parsing.
    let maxInputBytes = 1 <<< 20

    /// Whether the host should read stdin: not when run by hand without CNI_COMMAND,
    /// where stdin is usually a terminal.
    let wantsInput (env: IReadOnlyDictionary<string, string>) =
        match env.TryGetValue "CNI_COMMAND" with
        | true, command -> not (String.IsNullOrEmpty command)
        | _ -> false

    let private errorReply = Replies.errorReply

    /// The version to state in an error: the config's own when it names a supported one.
    let private replyVersion (stdin: byte[]) =
        match Json.parse (ReadOnlyMemory stdin) with
        | Ok json ->
            match Json.tryField "cniVersion" json with
            | Some(Json.String v) when CniVersion.isSupported v -> v
            | _ -> CniVersion.newest
        | Error _ -> CniVersion.newest

    let inputTooLarge (env: IReadOnlyDictionary<string, string>) =
        errorReply CniVersion.newest [ CniError.create DecodeFailure "stdin" $"is larger than {string maxInputBytes} bytes; expected a network configuration" ]

    // a function, so that rendering it is no part of every invocation's start
    let private versionReply () =
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
    let validate (env: IReadOnlyDictionary<string, string>) (stdin: byte[]) : Result<Invocation * NetConf, CniError list> =
        let runtime = Invocation.ofEnvironment env
        let conf = NetConf.parse (ReadOnlyMemory stdin)

        match runtime, conf with
        | Ok r, Ok c -> Ok(r, c)
        | _ -> Error(Validation.errors runtime @ Validation.errors conf)

    /// The program a valid request runs; CHECK needs 0.4.0 or later, as in the reference
    /// plugins, STATUS and GC 1.1.0.
    let command (runtime: Invocation) (conf: NetConf) : Result<Program<Reply>, CniError> =
        let taken =
            [ if conf.Spartan.Enabled then conf.Spartan.Network.Interface
              if conf.Minuteman.Enabled then Naming.minutemanLink ]

        match runtime.Command with
        | Add when conf.Delegate.IsNone && conf.PrevResult.IsNone ->
            Error(
                CniError.invalidConfig
                    "$.delegate"
                    "is required, unless the plugin runs chained after another plugin in a conflist (then the runtime passes that plugin's result as prevResult); e.g. {\"type\": \"bridge\", ...}"
            )
        | _ when List.contains runtime.IfName taken ->
            Error(CniError.invalidEnvironment "CNI_IFNAME" $"\"{runtime.IfName}\" is the name of this plugin's own link in the container; use another interface name")
        | Add -> Ok(Commands.add conf runtime)
        | Del -> Ok(Commands.del conf runtime)
        | Check when CniVersion.atLeast "0.4.0" conf.CniVersion -> Ok(Commands.check conf runtime)
        | Check ->
            Error(CniError.create IncompatibleVersion "$.cniVersion" $"CHECK needs cniVersion 0.4.0 or later; this config has {conf.CniVersion}")
        | Status when CniVersion.atLeast "1.1.0" conf.CniVersion -> Ok(NetworkCommands.status conf runtime)
        | Status ->
            Error(CniError.create IncompatibleVersion "$.cniVersion" $"STATUS needs cniVersion 1.1.0 or later; this config has {conf.CniVersion}")
        | Gc when not (CniVersion.atLeast "1.1.0" conf.CniVersion) ->
            Error(CniError.create IncompatibleVersion "$.cniVersion" $"GC needs cniVersion 1.1.0 or later; this config has {conf.CniVersion}")
        | Gc when conf.ValidAttachments.IsNone ->
            // never read a missing list as an empty one: that would remove every attachment
            Error(CniError.invalidConfig ("$[\"" + NetConf.validAttachmentsKey + "\"]") "is required for GC: the attachments that are still valid, as [{\"containerID\": ..., \"ifname\": ...}]")
        | Gc -> Ok(NetworkCommands.gc conf runtime)
        | Version -> Error(CniError.create InvalidEnvironment "CNI_COMMAND" "VERSION runs no program")

    /// Answers one invocation: a reply at once (about text, VERSION, an invalid request),
    /// or as a program of effects.
    let answer (env: IReadOnlyDictionary<string, string>) (stdin: byte[]) : Program<Reply> =
        let reply r : Program<Reply> = program { return r }

        if not (wantsInput env) then
            reply { Stdout = [||]; Stderr = about; ExitCode = 0 }
        else
            match Invocation.parseCommand env["CNI_COMMAND"] with
            | Ok Version -> reply (versionReply ())
            | Error e -> reply (errorReply (replyVersion stdin) [ e ])
            | Ok _ ->
                match validate env stdin with
                | Error errors -> reply (errorReply (replyVersion stdin) errors)
                | Ok(runtime, conf) ->
                    match command runtime conf with
                    | Ok p -> p
                    | Error e -> reply (errorReply conf.CniVersion [ e ])

    /// Starts one invocation: what the host must do first. The host answers each request
    /// it gets (each answer says what to do next) until it gets a Finished reply.
    let start (env: IReadOnlyDictionary<string, string>) (stdin: byte[]) : Next = Perform.first (answer env stdin)

    /// Where this invocation's log goes and what it says (the config's log fields, and
    /// DCOS_L4LB_LOG_FILE, which wins). A config without log fields is not read for them.
    let logSettings (env: IReadOnlyDictionary<string, string>) (stdin: byte[]) : LogSettings = Logging.settings env stdin

    /// A reply the host makes without reading the config (stdin too large).
    let finished (reply: Reply) : Next = Next.Finished reply
