namespace Dcos.L4lb.Tests

open System
open System.IO
open System.Net

/// One host-local allocation: the address (the file's name) and the container that holds it.
type Allocation = { Address: string; Owner: string }

/// The state the reference host-local IPAM plugin keeps under <varlib>/cni/networks.
module HostLocal =
    /// host-local's lease files in one IPAM network: files named by address, holding the
    /// owning container ID and the ifname, a line each ("lock" and "last_reserved_ip.*"
    /// are its bookkeeping, not leases). Each as (address, its lines).
    let private leaseFiles (varLib: string) (network: string) : (string * string[]) list =
        let dir = Path.Combine(varLib, "cni", "networks", network)

        if not (Directory.Exists dir) then
            []
        else
            [ for file in Directory.GetFiles dir do
                  let name = Path.GetFileName file

                  match IPAddress.TryParse name with
                  | true, _ ->
                      name, File.ReadAllText(file).Split([| '\r'; '\n' |], StringSplitOptions.RemoveEmptyEntries)
                  | _ -> () ]

    /// host-local's allocations in one IPAM network; an owner "" is a lease file host-local
    /// made but never wrote (killed in between).
    let allocations (varLib: string) (network: string) : Allocation list =
        [ for address, lines in leaseFiles varLib network ->
              { Address = address
                Owner = Array.tryHead lines |> Option.defaultValue "" } ]

    /// Every lease file of one IPAM network as "address owner ifname", sorted: all that
    /// host-local keeps of a lease, for before/after comparisons.
    let leases (varLib: string) (network: string) : string list =
        [ for address, lines in leaseFiles varLib network -> address + " " + String.Join(" ", lines) ]
        |> List.sort
