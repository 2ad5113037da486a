/// A scene for one invocation: a network namespace and a checkpoint path that the test
/// owns, and a record of everything the plugin could leave behind, taken before and
/// after. Disposing it removes what the test made, whatever happened.
module Dcos.L4lb.Tests.InvocationScene

open System
open System.IO

type Snapshot =
    { HostLinks: string
      NetnsLinks: string
      CheckpointDirExists: bool
      IpamState: string list }

type Scene() =
    let suffix = Guid.NewGuid().ToString("N").Substring(0, 6)
    let id = $"l4lb-proto-{Environment.ProcessId}-{suffix}"
    let scratch = Directory.CreateTempSubdirectory("l4lb-proto-")
    let varLib = Directory.CreateDirectory(Path.Combine(scratch.FullName, "varlib")).FullName
    do Command.sh $"ip netns add {id}" |> ignore

    member _.Netns = $"/run/netns/{id}"
    member _.NetnsName = id

    /// Where the plugin runs: in the scene's netns, with a private, empty /var/lib (IPAM
    /// state and the plugin's lock files land there, not on the machine).
    member _.Place = L4lb.InNetns(id, varLib)

    /// Where a config's minuteman.path points: a directory that does not exist yet.
    member _.CheckpointDir = Path.Combine(scratch.FullName, "l4lb")

    member s.Snapshot() =
        let ipamRoot = "/var/lib/cni/networks"

        { HostLinks = Command.sh "ip -o link show | sed -E 's/^[0-9]+: //; s/ state .*//' | sort"
          NetnsLinks = Command.sh $"ip -n {id} -o link show | sed -E 's/^[0-9]+: //' | sort"
          CheckpointDirExists = Directory.Exists s.CheckpointDir
          IpamState =
            if Directory.Exists ipamRoot then
                Directory.GetFiles(ipamRoot, "*", SearchOption.AllDirectories) |> Array.sort |> List.ofArray
            else
                [] }

    interface IDisposable with
        member _.Dispose() =
            try
                Command.sh $"ip netns del {id}" |> ignore
            finally
                scratch.Delete true
