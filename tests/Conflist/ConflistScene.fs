namespace Dcos.L4lb.Tests.Conflist

open System.IO
open Dcos.L4lb.Tests

/// The suite's AgentScene: the runtime and every plugin it runs see its `varlib` as
/// /var/lib, so host-local's leases land in `varlib/cni/networks`; libcni is told to keep
/// its results cache in `varlib/cni` too (where a runtime's default would put it), by that
/// directory's real path; the conflists the test writes are in its scratch directory.
type Scene() =
    inherit AgentScene(AgentSceneSettings.OnThisKernel Scene.Names)

    /// "l4la"/"l4lc" netns, "l4lb" bridges on 10.201.x.0/24: apart from the other suites'.
    static member Names: AgentSceneNames =
        { Agent = "l4la"
          Container = "l4lc"
          Prefix = "l4lb-cl"
          Bridge = "l4lb"
          SubnetOctet = 201 }

    /// libcni's cache directory: the private /var/lib/cni, by its real path.
    member s.CacheDir = Path.Combine(s.VarLib, "cni")

    /// The file libcni keeps a successful ADD's result in, until DEL.
    member s.CachedResult(network: string) =
        Path.Combine(s.CacheDir, "results", $"{network}-{s.ContainerId}-{L4lbInAgent.ifName}")

    /// Every file libcni keeps in its results cache.
    member s.CachedResults = s.FilesIn("cni", "results")

    /// Writes a file in the scratch directory and returns its path.
    member s.Write (name: string) (text: string) =
        let path = Path.Combine(s.Scratch, name)
        File.WriteAllText(path, text)
        path
