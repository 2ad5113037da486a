/// A host with stale attachments for GC to find, built with the real plugin, the
/// reference bridge and host-local plugins and real network namespaces:
/// - c1 attached, its netns there: valid;
/// - c2 attached, its netns deleted (with it the Spartan veth);
/// - c3 attached, its netns path gone while a process keeps the namespace alive, so its
///   host veth is still there;
/// - Minuteman checkpoints of c1, c2 and c3 as the plugin would write them, and two no
///   record accounts for (the original plugin's): one whose netns is gone, one whose
///   netns exists; and a dot-file (a write in progress).
/// Containers are attached with Minuteman disabled (this kernel may have no dummy links);
/// the GC config enables it with the scene's own checkpoint directory.
module Dcos.L4lb.Tests.GcScene

open System
open System.Diagnostics
open System.IO
open Dcos.L4lb
open Dcos.L4lb.Tests.Host

/// Names nothing else on this host uses: this process's.
let private tag = $"l4c{Environment.ProcessId % 100000}"

type Scene =
    {
        Network: string
        SpartanNetwork: string
        Bridge: string
        /// The Minuteman checkpoint directory of the GC config.
        Checkpoints: string
        /// Where a test writes its configs.
        Scratch: string
        /// (container ID, netns name), c1 to c3.
        Containers: (string * string) list
    }

    member s.Id(i: int) = fst s.Containers[i - 1]
    member s.Netns(i: int) = $"/run/netns/{snd s.Containers[i - 1]}"
    member s.HostVeth(i: int) = Naming.hostVethName (s.Id i) "eth0"
    member s.Orphan(i: int) = $"{tag}o{i}"
    member s.Records = Path.Combine(ourState, "attachments", s.Network)
    member s.Leases = Path.Combine(varLibCni, "networks", s.SpartanNetwork)

let private configOf (s: Scene) (version: string) (minuteman: string) =
    $"""{{"cniVersion": "{version}", "name": "{s.Network}", "type": "dcos-l4lb",
         "minuteman": {minuteman},
         "spartan": {{"network": "{s.SpartanNetwork}", "services": ["10.213.92.1"],
                      "ipam": {{"subnet": "10.213.92.0/24", "rangeStart": "10.213.92.10", "rangeEnd": "10.213.92.250"}}}},
         "delegate": {{"type": "bridge", "bridge": "{s.Bridge}",
                       "ipam": {{"type": "host-local", "subnet": "10.213.91.0/24"}}}}}}"""

/// The config the containers were added with.
let addConfig (s: Scene) =
    configOf s "1.0.0" """{"enable": false}"""

/// The config GC gets (l4lbctl raises its version to 1.1.0).
let gcConfig (s: Scene) (version: string) =
    configOf s version $"""{{"enable": true, "path": "{s.Checkpoints}"}}"""

/// GC's config as a runtime speaking CNI 1.1 sends it, with its list of valid attachments.
let runtimeGcConfig (s: Scene) (valid: string list) =
    let items =
        valid |> List.map (fun id -> $"""{{"containerID": "{id}", "ifname": "eth0"}}""")

    let config = gcConfig s "1.1.0"

    config.Substring(0, config.LastIndexOf '}')
    + $""", "cni.dev/valid-attachments": [{String.Join(", ", items)}]}}"""

let private add (s: Scene) (i: int) =
    let env =
        [ "CNI_COMMAND", "ADD"
          "CNI_CONTAINERID", s.Id i
          "CNI_NETNS", s.Netns i
          "CNI_IFNAME", "eth0"
          "CNI_PATH", referencePlugins ]

    let code, out, err = plugin env (addConfig s)

    if code <> 0 then
        failwith $"ADD of {s.Id i} failed: {out} {err}"

/// A guard against a hang: the waits below take milliseconds on a quiet machine (the
/// kernel destroys a deleted netns a moment later).
let private waitFor (what: string) (condition: unit -> bool) =
    Programs.waitUntil what 30. (fun () -> None) condition

let linkExists (name: string) =
    Directory.Exists $"/sys/class/net/{name}"

/// What GC may remove, as found on the host.
type Found =
    {
        Records: Set<string>
        HostVeths: Set<string>
        /// The container IDs holding a Spartan lease.
        Leases: Set<string>
        Checkpoints: Set<string>
    }

let private names (directory: string) =
    if Directory.Exists directory then
        Directory.GetFiles directory |> Array.map Path.GetFileName |> Set.ofArray
    else
        Set.empty

let found (s: Scene) =
    { Records = names s.Records
      HostVeths = [ 1..3 ] |> List.map s.HostVeth |> List.filter linkExists |> Set.ofList
      Leases =
        names s.Leases
        |> Set.filter (fun n -> Net.IPAddress.TryParse(n: string) |> fst)
        |> Set.map (fun n -> (File.ReadAllLines(Path.Combine(s.Leases, n))[0]).Trim())
      Checkpoints = names s.Checkpoints }

/// What went between two looks at the host.
let removed (before: Found) (after: Found) =
    { Records = before.Records - after.Records
      HostVeths = before.HostVeths - after.HostVeths
      Leases = before.Leases - after.Leases
      Checkpoints = before.Checkpoints - after.Checkpoints }

/// Builds the scene, runs `body` on it, and removes every trace of it, also when
/// building or `body` fails.
let withScene (body: Scene -> unit) =
    let checkpoints =
        Directory.CreateTempSubdirectory("l4lbctl-gc-checkpoints-").FullName

    let scratch = Directory.CreateTempSubdirectory("l4lbctl-gc-").FullName

    let s =
        { Network = $"{tag}-gc"
          SpartanNetwork = $"{tag}-spartan"
          Bridge = $"{tag}br"
          Checkpoints = checkpoints
          Scratch = scratch
          Containers = [ for i in 1..3 -> $"{tag}c{i}", $"{tag}-{i}" ] }

    let delegateNetwork = Path.Combine(varLibCni, "networks", s.Network)
    let mutable holder: Process option = None

    restoringHost [ s.Records; s.Leases; delegateNetwork; checkpoints; scratch ] (fun () ->
        try
            for i in 1..3 do
                sh $"ip netns add {snd s.Containers[i - 1]}"
                add s i

            let checkpoint name (netns: string) =
                File.WriteAllText(Path.Combine(checkpoints, name), netns)

            for i in 1..3 do
                checkpoint (s.Id i) (s.Netns i)

            checkpoint (s.Orphan 1) $"/run/netns/{tag}-none"
            checkpoint (s.Orphan 2) (s.Netns 1)
            checkpoint $".{s.Orphan 3}.tmp" $"/run/netns/{tag}-none"

            let p =
                Process.Start("ip", [ "netns"; "exec"; snd s.Containers[2]; "sleep"; "600" ])

            holder <- Some p

            waitFor "the process holding c3's netns" (fun () ->
                (File.ReadAllText $"/proc/{p.Id}/comm").Trim() = "sleep")

            sh $"ip netns del {snd s.Containers[1]}"
            sh $"ip netns del {snd s.Containers[2]}"
            // the kernel destroys a deleted netns, and the peers of its veths, a moment later
            waitFor "c2's host veth to go with its netns" (fun () -> not (linkExists (s.HostVeth 2)))

            body s
        finally
            holder
            |> Option.iter (fun p ->
                p.Kill()
                p.WaitForExit())

            for _, netns in s.Containers do
                if File.Exists $"/run/netns/{netns}" then
                    shQuiet $"ip netns del {netns}"

            for i in 1..3 do
                if linkExists (s.HostVeth i) then
                    shQuiet $"ip link del {s.HostVeth i}"

            if linkExists s.Bridge then
                shQuiet $"ip link del {s.Bridge}")
