namespace Dcos.L4lb

open System

/// Reading what another CNI plugin printed.
module PluginOutput =
    let private text (json: Json option) =
        match json with
        | Some(Json.String s) -> Some s
        | _ -> None

    /// The error a plugin reported (exit code non-zero), as a CniError naming the plugin.
    /// A plugin that printed no error object still gets a clear error.
    let error (call: PluginCall) (exitCode: int) (stdout: byte[]) : CniError =
        let where = call.Describe()

        match Json.parse (ReadOnlyMemory stdout) with
        | Ok(Json.Object _ as j) ->
            let code =
                match Json.tryField "code" j with
                | Some(Json.Number n) ->
                    match Int32.TryParse n with
                    | true, c -> c
                    | _ -> 100
                | _ -> 100

            let message = text (Json.tryField "msg" j) |> Option.defaultValue "failed without a message"

            { CniError.create (ErrorKind.OfCode code) where message with
                Details = text (Json.tryField "details" j) |> Option.filter (fun d -> d.Length > 0) }
        | _ ->
            let shown = if stdout.Length = 0 then "nothing" else $"{string stdout.Length} bytes that are not a CNI error object"
            CniError.create PluginFailure where ("exited with status " + string exitCode + " and printed " + shown + " on stdout")

    /// A successful plugin's result: a JSON object.
    let result (call: PluginCall) (stdout: byte[]) : Result<Json, CniError> =
        match Json.parse (ReadOnlyMemory stdout) with
        | Ok(Json.Object _ as j) -> Ok j
        | Ok other -> Error(CniError.create DecodeFailure (call.Describe()) $"printed {Json.kindName other} where a result object was expected")
        | Error message -> Error(CniError.create DecodeFailure (call.Describe()) $"printed a result that is not JSON: {message}")

    /// The IPv4 addresses of a result, in either form the spec has used: "ip4" (0.1.0,
    /// 0.2.0) or "ips" (0.3.0 on).
    let ipv4Addresses (result: Json) : (Ipv4 * int) list =
        let parse (json: Json option) =
            text json |> Option.bind Ipv4.tryParseCidr

        let fromIps =
            match Json.tryField "ips" result with
            | Some(Json.Array items) -> items |> List.choose (fun item -> parse (Json.tryField "address" item))
            | _ -> []

        let fromIp4 =
            Json.tryField "ip4" result |> Option.bind (fun ip4 -> parse (Json.tryField "ip" ip4)) |> Option.toList

        fromIps @ fromIp4

    /// A delegate's result must give the container an address: without one the container
    /// has no connectivity, and the runtime would be told ADD succeeded.
    let withAddress (call: PluginCall) (result: Json) : Result<Json, CniError> =
        let present key =
            match Json.tryField key result with
            | Some(Json.Array(_ :: _)) -> true
            | Some(Json.Object _) -> key <> "ips"
            | _ -> false

        if present "ips" || present "ip4" || present "ip6" then
            Ok result
        else
            Error(CniError.create PluginFailure (call.Describe()) "returned a result with no IP address; expected the container's addresses")

    /// The one IPv4 address the Spartan IPAM plugin must hand out.
    let singleIpv4 (call: PluginCall) (result: Json) : Result<Ipv4 * int, CniError> =
        match ipv4Addresses result with
        | [ address ] -> Ok address
        | [] -> Error(CniError.create PluginFailure (call.Describe()) "returned no IPv4 address; expected exactly one")
        | many -> Error(CniError.create PluginFailure (call.Describe()) $"returned {string many.Length} IPv4 addresses; expected exactly one")

    /// Result formats: 0.1.0 and 0.2.0 ("ip4"/"ip6"); 0.3.0 to 0.4.0 ("ips" with a
    /// "version" per address); 1.0.0 on ("ips" without it).
    let private format (version: string) =
        if CniVersion.atLeast "1.0.0" version then 2
        elif CniVersion.atLeast "0.3.0" version then 1
        else 0

    /// The version a result says it is in; `fallback` when it names none.
    let private versionOf (fallback: string) (result: Json) =
        match Json.tryField "cniVersion" result with
        | Some(Json.String v) -> v
        | _ -> fallback

    /// The result with each of its "ips" entries changed.
    let private mapAddresses (change: Json -> Json) (result: Json) =
        match Json.tryField "ips" result with
        | Some(Json.Array ips) -> result |> Json.withField "ips" (Json.Array(List.map change ips))
        | _ -> result

    /// An address as 1.0.0 and later write it: no "version".
    let private withoutVersion (address: Json) =
        match address with
        | Json.Object fields -> Json.Object(fields |> List.filter (fun (k, _) -> k <> "version"))
        | other -> other

    /// An address as 0.3.0 and 0.4.0 write it: with its "version".
    let private withVersion (address: Json) =
        match address, Json.tryField "address" address with
        | Json.Object fields, Some(Json.String a) when (Json.tryField "version" address).IsNone ->
            Json.Object(fields @ [ "version", Json.String(if a.Contains ':' then "6" else "4") ])
        | other, _ -> other

    /// A result given in another version, as the version `target` writes it: within one
    /// format only cniVersion changes; from the 0.3.0/0.4.0 format to 1.0.0 and later, the
    /// addresses lose their "version". A result in the 0.1.0/0.2.0 format cannot be given
    /// in a later one (nor a later one in an earlier format, which negotiation never asks).
    let inVersion (call: PluginCall) (target: string) (result: Json) : Result<Json, CniError> =
        let given = versionOf target result
        let retagged = result |> Json.withField "cniVersion" (Json.String target)

        match format given, format target with
        | _ when given = target -> Ok result
        | a, b when a = b -> Ok retagged
        | 1, 2 -> Ok(mapAddresses withoutVersion retagged)
        | _ ->
            Error(
                CniError.create
                    IncompatibleVersion
                    (call.Describe())
                    ("answered in CNI " + given + ", a result format that cannot be given as " + target + "; use a config version the plugin speaks")
            )

    /// A config's prevResult as a plugin run at `target` (an older version it agreed to)
    /// can read it: libcni refuses a prevResult outside the config version's result type
    /// ("result type supports [1.0.0] but unmarshalled CNIVersion is 1.1.0"). Within one
    /// format only cniVersion changes; between the 0.3.0/0.4.0 format and 1.x the
    /// addresses' "version" goes or comes back; the 0.1.0/0.2.0 format has no prevResult,
    /// so there it is left out.
    let prevResultIn (target: string) (config: Json) : Json =
        match config, Json.tryField "prevResult" config with
        | Json.Object fields, Some(Json.Object _ as prev) ->
            let given = versionOf target prev
            let retagged = prev |> Json.withField "cniVersion" (Json.String target)

            match format given, format target with
            | a, b when a = b -> config |> Json.withField "prevResult" retagged
            | 1, 2 -> config |> Json.withField "prevResult" (mapAddresses withoutVersion retagged)
            | 2, 1 -> config |> Json.withField "prevResult" (mapAddresses withVersion retagged)
            | _ -> Json.Object(fields |> List.filter (fun (k, _) -> k <> "prevResult"))
        | _ -> config

    /// The versions a plugin's VERSION reply lists.
    let supportedVersions (stdout: byte[]) : string list =
        match Json.parse (ReadOnlyMemory stdout) with
        | Ok j ->
            match Json.tryField "supportedVersions" j with
            | Some(Json.Array items) -> items |> List.choose (fun v -> text (Some v))
            | _ -> []
        | Error _ -> []

    /// The newest version both sides speak, no newer than the one we asked for.
    let negotiate (wanted: string) (theirs: string list) : string option =
        CniVersion.supported
        |> List.filter (fun v -> List.contains v theirs && CniVersion.atLeast v wanted)
        |> List.tryLast

    /// The result with these addresses first in dns.nameservers (each once); every other
    /// part of the result, numbers included, stays as the delegate wrote it.
    let withNameservers (first: Ipv4 list) (result: Json) : Json =
        let dns = Json.tryField "dns" result |> Option.defaultValue (Json.Object [])

        let existing =
            match Json.tryField "nameservers" dns with
            | Some(Json.Array items) -> items
            | _ -> []

        let ours = first |> List.map (fun ip -> Json.String(ip.ToString()))
        let servers = ours @ (existing |> List.filter (fun e -> not (List.contains e ours)))
        result |> Json.withField "dns" (dns |> Json.withField "nameservers" (Json.Array servers))
