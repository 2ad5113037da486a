namespace Dcos.L4lb.Tests.FullKernel

open System
open System.IO
open System.Text.Json.Nodes
open Dcos.L4lb.Tests

/// Minuteman's checkpoint directory when the config names none.
module Minuteman =
    let defaultDir = "/var/run/dcos/cni/l4lb"

    /// The default directory lies on the machine's /run, which dcos-net watches on a real
    /// agent. The suite writes there only when told that /run is private to this run
    /// (lane.sh mounts a fresh tmpfs on /run, natively or in the User-mode Linux guest).
    let privateRun = Environment.GetEnvironmentVariable "FULLKERNEL_PRIVATE_RUN" = "1"

/// The agent of a full kernel: a dummy link named `spartan` holding 198.51.100.1-.3/32
/// (as on a real agent), dnsmasq when asked for, and a scratch directory /run/l4lb-fk-<tag>
/// on a tmpfs of its own (inotify sees nothing on User-mode Linux's hostfs, and nothing
/// may land on the disk), where `www` holds what servers serve. Beside what AgentScene
/// tears down, teardown stops the watchers and servers the test started and removes what
/// it put in the default checkpoint directory.
type Scene(withDnsmasq: bool) =
    inherit
        AgentScene(
            { Names = Scene.Names
              ServerLink = "dummy"
              Dnsmasq = withDnsmasq
              Container = true
              Scratch = PrivateTmpfs "/run"
              Prepare = fun _ scratch -> Directory.CreateDirectory(Path.Combine(scratch, "www")) |> ignore }
        )

    new() = new Scene(false)

    /// The test's own PATH goes to the plugins: in the User-mode Linux guest it starts with
    /// a directory where `iptables` is iptables-legacy (the guest kernel has no IPv4
    /// nftables), which the bridge plugin needs for ipMasq.
    override _.SearchPath =
        match Environment.GetEnvironmentVariable "PATH" with
        | null
        | "" -> L4lbInAgent.searchPath
        | p -> p

    /// The README's example shape around a bridge delegate unique to the scene (its IPAM
    /// hands out no routes, so the container knows only its own subnet); `features` adds the
    /// "spartan"/"minuteman" fields, none of them meaning the defaults.
    member s.Config (ipMasq: bool) (features: (string * JsonNode) list) : JsonObject =
        L4lbInAgent.config "0.4.0" "bridge" s.Bridge ipMasq s.Subnet features

    /// "fka"/"fkc" netns, "fkb" bridges on 10.201.x.0/24.
    static member Names: AgentSceneNames =
        { Agent = "fka"
          Container = "fkc"
          Prefix = "l4lb-fk"
          Bridge = "fkb"
          SubnetOctet = 201 }

    /// The scene will use Minuteman's default directory: remembers which of its parents
    /// are missing so that teardown removes exactly those again, with the container's
    /// checkpoint file.
    member s.UseDefaultCheckpointDir() =
        if not Minuteman.privateRun then
            failwith "the default checkpoint directory is only used when FULLKERNEL_PRIVATE_RUN=1"

        s.WillCreate [ "/var/run/dcos/cni/l4lb"; "/var/run/dcos/cni"; "/var/run/dcos" ]
        let containerId = s.ContainerId

        s.OnTeardown(
            "clean the default checkpoint directory",
            fun () ->
                if Directory.Exists Minuteman.defaultDir then
                    for name in [ containerId; $".{containerId}.tmp" ] do
                        File.Delete(Path.Combine(Minuteman.defaultDir, name))
        )

        Minuteman.defaultDir

    /// A dcos-net-like watcher on `directory` (which must exist), stopped at teardown.
    member s.Watch(directory: string) : Watcher =
        let w = new Watcher(directory)
        s.Own("checkpoint watcher", w.Pid, "checkpoint-watcher", w)
        w

    /// An HTTP server in the agent netns on address:port, serving `www`, stopped at
    /// teardown (`timeout` ends it after 900 s should teardown never come). Returns it once
    /// it listens: python3 starts in a second or two in the guest, the wait is a guard
    /// against a hang.
    member s.Serve(address: string, port: int, files: (string * string) list) : Background =
        let www = Path.Combine(s.Scratch, "www")

        for name, content in files do
            File.WriteAllText(Path.Combine(www, name), content)

        let p =
            new Background(
                "ip",
                [ "netns"; "exec"; s.Agent; "timeout"; "900"; Programs.python3; "-m"; "http.server"; string port
                  "--bind"; address; "--directory"; www ]
            )

        s.Own("http server", p.Pid, www, p)

        Programs.waitUntil
            $"the HTTP server on {address}:{port}"
            120.
            (fun () -> if p.HasExited then Some $"it exited: {p.Log}" else None)
            (fun () -> Netns.isListening s.Agent "-tln" address port)

        p
