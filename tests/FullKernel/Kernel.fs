/// Reads what the kernel holds, through `ip -j` (JSON) in a named netns, and asks it
/// what it can do.
module Dcos.L4lb.Tests.FullKernel.Kernel

open System
open System.Text.Json

type Link =
    { Name: string
      Index: int
      /// Administratively up (the UP flag).
      Up: bool
      /// linkinfo.info_kind: "veth", "bridge", "dummy"; "" for lo.
      Kind: string }

type Route =
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
              | _ -> "" } ]

let link netns name = links netns |> List.tryFind (fun l -> l.Name = name)

let linkNames netns = links netns |> List.map _.Name |> List.sort

/// The IPv4 addresses on a link, as (address, prefix length).
let addresses netns device : (string * int) list =
    [ for e in ipJson netns [ "-4"; "addr"; "show"; "dev"; device ] do
          for a in e.GetProperty("addr_info").EnumerateArray() ->
              a.GetProperty("local").GetString(), a.GetProperty("prefixlen").GetInt32() ]

/// One table's IPv4 routes ("main", "local"). A /32 destination is shown as a bare address.
/// With -d, `ip` shows the type and protocol even when they are unicast and boot.
let routes netns (table: string) : Route list =
    [ for e in ipJson netns [ "-d"; "-4"; "route"; "show"; "table"; table ] ->
          { Type = str e "type" |> Option.defaultValue "unicast"
            Destination = e.GetProperty("dst").GetString()
            Device = str e "dev" |> Option.defaultValue ""
            Scope = str e "scope" |> Option.defaultValue "global"
            Protocol = str e "protocol" |> Option.defaultValue "" } ]

/// The IPVS services of the netns at this path, as ipvsadm lists them (-Ln), without the
/// header: "TCP  11.22.33.44:80 rr" and "  -> 10.1.2.1:8080  Masq ..." lines.
let ipvs (netnsPath: string) : string list =
    Command.runInNetns netnsPath "ipvsadm" [ "-L"; "-n" ]
    |> fun text -> text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
    |> Array.filter (fun line ->
        not (line.StartsWith "IP Virtual Server" || line.StartsWith "Prot " || line.TrimStart().StartsWith "-> RemoteAddress"))
    |> Array.map (fun line -> line.TrimEnd())
    |> List.ofArray

/// What this kernel offers the suite, tried once in a throwaway netns: a dummy link (the
/// Minuteman link) and IPVS (what the consumer programs through it).
let capabilities =
    lazy
        (let netns = $"l4fkprobe{Environment.ProcessId % 100000}"
         Command.run "ip" [ "netns"; "add"; netns ] |> ignore

         try
             let dummy = Command.attempt "ip" [ "-n"; netns; "link"; "add"; "probe"; "type"; "dummy" ]
             let ipvs = Command.inNetns $"/run/netns/{netns}" "ipvsadm" [ "-L"; "-n" ]

             [ if dummy.ExitCode <> 0 then
                   $"no dummy links ({dummy.Stderr.Trim()})"
               if ipvs.ExitCode <> 0 then
                   $"no IPVS ({(ipvs.Stderr + ipvs.Stdout).Trim()})" ]
         finally
             Command.run "ip" [ "netns"; "del"; netns ] |> ignore)
