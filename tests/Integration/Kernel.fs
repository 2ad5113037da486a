/// Reads what the kernel holds, through `ip -j` (JSON) in a named netns.
module Dcos.L4lb.Tests.Integration.Kernel

open System.Net
open System.Text.Json
open System.Text.RegularExpressions

type Link =
    { Name: string
      Index: int
      /// Administratively up (the UP flag).
      Up: bool
      /// linkinfo.info_kind: "veth", "bridge", "dummy"; "" for lo.
      Kind: string
      /// For a veth: the ifindex of its peer, in the peer's netns.
      Peer: int option
      Mac: string }

type Route =
    { Destination: string
      Device: string
      Scope: string
      Source: string option }

let private str (e: JsonElement) (name: string) =
    match e.TryGetProperty name with
    | true, v -> Some(v.ToString())
    | _ -> None

/// `ip -j` prints nothing rather than [] for some empty answers.
let private ipJson netns args : JsonElement list =
    let text = Command.ip netns ("-j" :: args)

    if text.Trim() = "" then
        []
    else
        use doc = JsonDocument.Parse text
        [ for e in doc.RootElement.EnumerateArray() -> e.Clone() ]

let links netns : Link list =
    [ for e in ipJson netns [ "-d"; "link"; "show" ] ->
          { Name = e.GetProperty("ifname").GetString()
            Index = e.GetProperty("ifindex").GetInt32()
            Up = e.GetProperty("flags").EnumerateArray() |> Seq.exists (fun f -> f.GetString() = "UP")
            Kind =
              match e.TryGetProperty "linkinfo" with
              | true, info -> str info "info_kind" |> Option.defaultValue ""
              | _ -> ""
            Peer = str e "link_index" |> Option.map int
            Mac = str e "address" |> Option.defaultValue "" } ]

let link netns name = links netns |> List.tryFind (fun l -> l.Name = name)

/// The IPv4 addresses on a link, as (address, prefix length).
let addresses netns device : (string * int) list =
    [ for e in ipJson netns [ "-4"; "addr"; "show"; "dev"; device ] do
          for a in e.GetProperty("addr_info").EnumerateArray() ->
              a.GetProperty("local").GetString(), a.GetProperty("prefixlen").GetInt32() ]

/// The main table's IPv4 routes. A /32 destination is shown as a bare address.
let routes netns : Route list =
    [ for e in ipJson netns [ "-4"; "route"; "show"; "table"; "main" ] ->
          { Destination = e.GetProperty("dst").GetString()
            Device = str e "dev" |> Option.defaultValue ""
            Scope = str e "scope" |> Option.defaultValue "global"
            Source = str e "prefsrc" } ]

/// The host end of a Spartan veth: "spt" + 12 hex digits (Plans.hostVethName).
let isHostVeth (link: Link) = Regex.IsMatch(link.Name, "^spt[0-9a-f]{12}$")

let inSpartanRange (address: string) =
    let bytes (a: IPAddress) = a.GetAddressBytes() |> Array.fold (fun n b -> n * 256u + uint32 b) 0u
    let a = bytes (IPAddress.Parse address)
    a >= bytes Spartan.rangeFirst && a <= bytes Spartan.rangeLast

/// Whether this kernel can make a dummy link (Minuteman needs one): tried once, in a
/// throwaway netns.
let hasDummy =
    lazy
        (let netns = $"l4d{System.Environment.ProcessId % 100000}"
         Command.run "ip" [ "netns"; "add"; netns ] |> ignore

         try
             (Command.attempt "ip" [ "-n"; netns; "link"; "add"; "probe"; "type"; "dummy" ]).ExitCode = 0
         finally
             Command.run "ip" [ "netns"; "del"; netns ] |> ignore)
