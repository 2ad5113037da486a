namespace Dcos.L4lb.Tests

open System.IO
open System.Net

/// One host-local allocation: the address (the file's name) and the container that holds it.
type Allocation = { Address: string; Owner: string }

/// The state the reference host-local IPAM plugin keeps under <varlib>/cni/networks.
module HostLocal =
    /// host-local's allocations in one IPAM network: files named by address, whose first
    /// line is the owning container ID.
    let allocations (varLib: string) (network: string) : Allocation list =
        let dir = Path.Combine(varLib, "cni", "networks", network)

        if not (Directory.Exists dir) then
            []
        else
            [ for file in Directory.GetFiles dir do
                  let name = Path.GetFileName file

                  match IPAddress.TryParse name with
                  | true, _ ->
                      { Address = name
                        Owner = File.ReadAllText(file).Split([| '\r'; '\n' |]).[0] }
                  | _ -> () ]
