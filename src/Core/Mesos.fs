namespace Dcos.L4lb

/// Where a Mesos container's IPv4 address comes from (the original's pkg/mesos).
type MesosContainerIp =
    | MesosAddress of address: Ipv4
    /// 0.0.0.0: the container uses the host's address; resolve the host name.
    | ResolveHostname

module Mesos =
    /// MESOS_CONTAINER_IP, then LIBPROCESS_IP (Mesos sets the first for containers with
    /// their own IP, the second for every task). The first one that is set decides; IPv6
    /// and anything that is not an IPv4 address is an error naming the variable.
    let containerIp (lookup: string -> string option) : Result<MesosContainerIp, string> =
        let named =
            [ "MESOS_CONTAINER_IP"; "LIBPROCESS_IP" ]
            |> List.tryPick (fun name -> lookup name |> Option.filter (fun v -> v <> "") |> Option.map (fun v -> name, v))

        match named with
        | None -> Error "neither MESOS_CONTAINER_IP nor LIBPROCESS_IP is set"
        | Some(_, "0.0.0.0") -> Ok ResolveHostname
        | Some(name, value) ->
            match Ipv4.tryParse value with
            | Some ip -> Ok(MesosAddress ip)
            | None when value.Contains ':' -> Error $"{name}={value} is an IPv6 address; only IPv4 is supported"
            | None -> Error $"{name}={value} is not an IPv4 address"
