/// Reads what the kernel holds, through `ip -j` (JSON) in a named netns, and asks it what
/// it can do.
module Dcos.L4lb.Tests.Kernel

open System
open System.Text
open System.Text.Json
open System.Text.RegularExpressions

type Link =
    {
        Name: string
        Index: int
        /// Administratively up (the UP flag).
        Up: bool
        /// linkinfo.info_kind: "veth", "bridge", "dummy"; "" for lo.
        Kind: string
        /// The bridge it is a port of.
        Master: string option
        /// For a veth: the ifindex of its peer, in the peer's netns.
        Peer: int option
        Mac: string
    }

/// A route of the main table.
type Route =
    { Destination: string
      Device: string
      Scope: string
      Source: string option }

/// A route of any table, with the type and protocol `ip -d` shows.
type TableRoute =
    { Type: string
      Destination: string
      Device: string
      Scope: string
      Protocol: string }

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
            Master = str e "master"
            Peer = str e "link_index" |> Option.map int
            Mac = str e "address" |> Option.defaultValue "" } ]

let link netns name =
    links netns |> List.tryFind (fun l -> l.Name = name)

let linkNames netns = links netns |> List.map _.Name |> List.sort

/// The IPv4 addresses on a link, as (address, prefix length).
let addresses netns device : (string * int) list =
    [ for e in ipJson netns [ "-4"; "addr"; "show"; "dev"; device ] do
          for a in e.GetProperty("addr_info").EnumerateArray() ->
              a.GetProperty("local").GetString(), a.GetProperty("prefixlen").GetInt32() ]

/// Every IPv4 address in the netns, as "link address/len".
let allAddresses netns : string list =
    [ for e in ipJson netns [ "-4"; "addr"; "show" ] do
          let link = e.GetProperty("ifname").GetString()

          for a in e.GetProperty("addr_info").EnumerateArray() ->
              $"""{link} {a.GetProperty("local").GetString()}/{a.GetProperty("prefixlen").GetInt32()}""" ]

/// The main table's IPv4 routes. A /32 destination is shown as a bare address.
let routes netns : Route list =
    [ for e in ipJson netns [ "-4"; "route"; "show"; "table"; "main" ] ->
          { Destination = e.GetProperty("dst").GetString()
            Device = str e "dev" |> Option.defaultValue ""
            Scope = str e "scope" |> Option.defaultValue "global"
            Source = str e "prefsrc" } ]

/// One table's IPv4 routes ("main", "local"). A /32 destination is shown as a bare address.
/// With -d, `ip` shows the type and protocol even when they are unicast and boot.
let tableRoutes netns (table: string) : TableRoute list =
    [ for e in ipJson netns [ "-d"; "-4"; "route"; "show"; "table"; table ] ->
          { Type = str e "type" |> Option.defaultValue "unicast"
            Destination = e.GetProperty("dst").GetString()
            Device = str e "dev" |> Option.defaultValue ""
            Scope = str e "scope" |> Option.defaultValue "global"
            Protocol = str e "protocol" |> Option.defaultValue "" } ]

/// Every IPv4 route of every table, as `ip` prints them (for before/after comparisons).
let allRoutes netns : string list =
    (Command.ip netns [ "-4"; "route"; "show"; "table"; "all" ]).Split('\n', StringSplitOptions.RemoveEmptyEntries)
    // a bridge without ports has no carrier, so its routes show "linkdown": not a change
    |> Array.map (fun r -> r.Replace(" linkdown", "").Trim())
    |> Array.sort
    |> List.ofArray

/// The host end of a Spartan veth: "spt" + 12 hex digits (Naming.hostVethName).
let isHostVeth (link: Link) =
    Regex.IsMatch(link.Name, "^spt[0-9a-f]{12}$")

/// The derived host veth name, as Naming.hostVethName computes it: "spt" + the low 48 bits
/// of FNV-1a-64 over UTF-8(containerId + NUL + ifname), 12 hex digits.
let hostVethName (containerId: string) (ifName: string) =
    let mutable hash = 0xcbf29ce484222325UL

    for b in Encoding.UTF8.GetBytes(containerId + "\000" + ifName) do
        hash <- (hash ^^^ uint64 b) * 0x100000001b3UL

    "spt" + (hash &&& 0xFFFFFFFFFFFFUL).ToString("x12")

/// Runs `probe` on a throwaway netns of this name, made for it and deleted after.
let inThrowawayNetns (name: string) (probe: string -> 'a) : 'a =
    Command.run "ip" [ "netns"; "add"; name ] |> ignore

    try
        probe name
    finally
        Command.run "ip" [ "netns"; "del"; name ] |> ignore

/// Tries to make a dummy link (the kind Minuteman makes) in the netns.
let tryDummy netns : Command.Outcome =
    Command.attempt "ip" [ "-n"; netns; "link"; "add"; "probe"; "type"; "dummy" ]

/// Whether this kernel can make a dummy link (Minuteman needs one): tried once, in a
/// throwaway netns.
let hasDummy =
    lazy (inThrowawayNetns $"l4dummy{Environment.ProcessId}" (fun netns -> (tryDummy netns).ExitCode = 0))
