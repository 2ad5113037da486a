/// Reads what the kernel holds, through `ip -j` (JSON) in a named netns.
module Dcos.L4lb.Tests.Reliability.Kernel

open System.IO
open System.Net
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
    }

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
    let text = Shell.ip netns ("-j" :: args)

    if text.Trim() = "" then
        []
    else
        use doc = JsonDocument.Parse text
        [ for e in doc.RootElement.EnumerateArray() -> e.Clone() ]

let links netns : Link list =
    [ for e in ipJson netns [ "-d"; "link"; "show" ] ->
          { Name = e.GetProperty("ifname").GetString()
            Index = e.GetProperty("ifindex").GetInt32()
            Up =
              e.GetProperty("flags").EnumerateArray()
              |> Seq.exists (fun f -> f.GetString() = "UP")
            Kind =
              match e.TryGetProperty "linkinfo" with
              | true, info -> str info "info_kind" |> Option.defaultValue ""
              | _ -> ""
            Master = str e "master"
            Peer = str e "link_index" |> Option.map int } ]

let link netns name =
    links netns |> List.tryFind (fun l -> l.Name = name)

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

/// Every IPv4 route of every table, as `ip` prints them (for before/after comparisons).
let allRoutes netns : string list =
    (Shell.ip netns [ "-4"; "route"; "show"; "table"; "all" ]).Split('\n', System.StringSplitOptions.RemoveEmptyEntries)
    // a bridge without ports has no carrier, so its routes show "linkdown": not a change
    |> Array.map (fun r -> r.Replace(" linkdown", "").Trim())
    |> Array.sort
    |> List.ofArray

/// The host end of a Spartan veth: "spt" + 12 hex digits (Plans.hostVethName).
let isHostVeth (link: Link) =
    Regex.IsMatch(link.Name, "^spt[0-9a-f]{12}$")

/// The derived host veth name, as Plans.hostVethName computes it: "spt" + the low 48 bits
/// of FNV-1a-64 over UTF-8(containerId + NUL + ifname), 12 hex digits.
let hostVethName (containerId: string) (ifName: string) =
    let mutable hash = 0xcbf29ce484222325UL

    for b in System.Text.Encoding.UTF8.GetBytes(containerId + "\000" + ifName) do
        hash <- (hash ^^^ uint64 b) * 0x100000001b3UL

    "spt" + (hash &&& 0xFFFFFFFFFFFFUL).ToString("x12")

let private toNumber (a: IPAddress) =
    a.GetAddressBytes() |> Array.fold (fun n b -> n * 256u + uint32 b) 0u

let inRange (first: string) (last: string) (address: string) =
    let a = toNumber (IPAddress.Parse address)
    a >= toNumber (IPAddress.Parse first) && a <= toNumber (IPAddress.Parse last)

/// The inode of a network namespace file (/run/netns/x or /proc/pid/ns/net).
let netnsInode (path: string) : string option =
    try
        let target = (FileInfo path).LinkTarget

        if not (isNull target) then
            Some target // "net:[4026532...]"
        else
            let o = Shell.attempt "stat" [ "-L"; "-c"; "%i"; path ]

            if o.ExitCode = 0 then
                Some $"net:[{o.Stdout.Trim()}]"
            else
                None
    with _ ->
        None

/// The processes whose network namespace is this one.
let processesIn (netnsPath: string) : int list =
    match netnsInode netnsPath with
    | None -> []
    | Some inode ->
        [ for dir in Directory.GetDirectories "/proc" do
              match System.Int32.TryParse(Path.GetFileName dir) with
              | true, pid ->
                  try
                      if (FileInfo(Path.Combine(dir, "ns", "net"))).LinkTarget = inode then
                          pid
                  with _ ->
                      ()
              | _ -> () ]

/// Whether this kernel can make a dummy link (Minuteman needs one): tried once, in a
/// throwaway netns.
let hasDummy =
    lazy
        (let netns = $"l4rdummy{System.Environment.ProcessId}"
         Shell.run "ip" [ "netns"; "add"; netns ] |> ignore

         try
             (Shell.attempt "ip" [ "-n"; netns; "link"; "add"; "probe"; "type"; "dummy" ]).ExitCode = 0
         finally
             Shell.run "ip" [ "netns"; "del"; netns ] |> ignore)
