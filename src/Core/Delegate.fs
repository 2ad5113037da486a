namespace Dcos.L4lb

/// The config the delegate plugin receives.
module Delegate =
    /// The delegate object with the parent's name and cniVersion (so the delegate speaks
    /// the version the runtime asked for and keeps its state under the parent's network
    /// name), the parent's args and runtimeConfig when it has them, and for CHECK and DEL
    /// the parent's prevResult, for GC the list of valid attachments. Nothing else is touched. Upstream wrote "args": null when
    /// the parent had no args; we never write a null.
    let config (command: Command) (conf: NetConf) : Json =
        let set key value json =
            match value with
            | Some v -> Json.withField key v json
            | None -> json

        let prevResult =
            match command with
            | Check
            | Del -> conf.PrevResult
            | Add
            | Status
            | Gc
            | Version -> None

        let delegateObject =
            match conf.Delegate with
            | Some d -> d
            | None -> invalidArg (nameof conf) "a chained config has no delegate"

        delegateObject
        |> Json.withField "name" (Json.String conf.Name)
        |> Json.withField "cniVersion" (Json.String conf.CniVersion)
        |> set "args" conf.Args
        |> set "runtimeConfig" conf.RuntimeConfig
        |> set "prevResult" prevResult
        // GC (CNI 1.1): the delegate gets the same list of attachments that are still valid
        |> set NetConf.validAttachmentsKey (if command = Gc then conf.ValidAttachments |> Option.map NetConf.attachmentsJson else None)

    /// The delegate's plugin type, a plain file name (checked when the config was read).
    let pluginType (conf: NetConf) =
        match conf.Delegate |> Option.bind (Json.tryField "type") with
        | Some(Json.String t) -> t
        | _ -> invalidOp "a validated NetConf with a delegate always has its type"
