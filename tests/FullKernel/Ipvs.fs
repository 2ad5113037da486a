/// IPVS, which the dcos-net-like consumer programs, and whether this kernel offers what
/// the suite needs.
module Dcos.L4lb.Tests.FullKernel.Ipvs

open System
open Dcos.L4lb.Tests

/// The IPVS services of the netns at this path, as ipvsadm lists them (-Ln), without the
/// header: "TCP  11.22.33.44:80 rr" and "  -> 10.1.2.1:8080  Masq ..." lines.
let services (netnsPath: string) : string list =
    Command.runInNetns netnsPath "ipvsadm" [ "-L"; "-n" ]
    |> fun text -> text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
    |> Array.filter (fun line ->
        not (line.StartsWith "IP Virtual Server" || line.StartsWith "Prot " || line.TrimStart().StartsWith "-> RemoteAddress"))
    |> Array.map (fun line -> line.TrimEnd())
    |> List.ofArray

/// What this kernel lacks of what the suite needs, tried once in a throwaway netns: a
/// dummy link (the Minuteman link) and IPVS (what the consumer programs through it).
let capabilities =
    lazy
        (Kernel.inThrowawayNetns $"l4fkprobe{Environment.ProcessId % 100000}" (fun netns ->
            let dummy = Kernel.tryDummy netns
            let ipvs = Command.inNetns $"/run/netns/{netns}" "ipvsadm" [ "-L"; "-n" ]

            [ if dummy.ExitCode <> 0 then
                  $"no dummy links ({dummy.Stderr.Trim()})"
              if ipvs.ExitCode <> 0 then
                  $"no IPVS ({(ipvs.Stderr + ipvs.Stdout).Trim()})" ]))
