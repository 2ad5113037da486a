/// The named network namespaces a scene makes (`ip netns`, /run/netns/<name>).
module Dcos.L4lb.Tests.Netns

open System.IO

/// A new netns with `lo` up.
let create (name: string) =
    Command.run "ip" [ "netns"; "add"; name ] |> ignore
    Command.ip name [ "link"; "set"; "lo"; "up" ] |> ignore

/// Deletes the netns if it is still there (and with it every link in it).
let delete (name: string) =
    if File.Exists $"/run/netns/{name}" then
        Command.run "ip" [ "netns"; "del"; name ] |> ignore

/// Whether a socket in the netns listens on address:port; `sockets` is ss's filter, "-uln"
/// for UDP or "-tln" for TCP.
let isListening (name: string) (sockets: string) (address: string) (port: int) =
    (Command.run "ss" [ "-N"; name; "-H"; sockets; $"src {address}:{port}" ]).Trim() <> ""
