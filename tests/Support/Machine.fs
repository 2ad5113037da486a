/// What a leak of ours would change on the machine itself, outside every scene: links of
/// our names in the root netns, and the machine's own IPAM state for our network name.
module Dcos.L4lb.Tests.Machine

open System
open System.IO

/// The root netns's links the plugin makes (spartan, minuteman, spt*) and those `ours`
/// names (the scenes' bridges).
let links (ours: string -> bool) : string list =
    Command.run "ip" [ "-o"; "link"; "show" ]
    |> fun text -> text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
    |> Array.map (fun line -> line.Split(':').[1].Trim().Split('@').[0])
    |> Array.filter (fun n -> n = "spartan" || n = "minuteman" || n.StartsWith "spt" || ours n)
    |> List.ofArray

/// What /var/lib/cni holds for the network "spartan-net"; `absent` when there is no
/// /var/lib/cni.
let cniState (absent: string list) : string list =
    if Directory.Exists "/var/lib/cni" then
        Directory.GetFileSystemEntries("/var/lib/cni", "*", SearchOption.AllDirectories)
        |> Array.filter (fun p -> p.Contains "/spartan-net")
        |> Array.sort
        |> List.ofArray
    else
        absent
