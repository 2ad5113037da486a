/// Where the dcos-l4lb binary under test is.
module Dcos.L4lb.Tests.L4lbBinary

open System
open System.IO

/// The repository's root: the directory above the tests that holds paket.dependencies.
let repoRoot =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failwith "cannot find the repository root (paket.dependencies)"
        elif File.Exists(Path.Combine(dir.FullName, "paket.dependencies")) then dir.FullName
        else up dir.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

/// bin/dcos-l4lb as `make build` makes it, or DCOS_L4LB_BIN.
let path =
    match Environment.GetEnvironmentVariable "DCOS_L4LB_BIN" with
    | null
    | "" -> Path.Combine(repoRoot, "bin", "dcos-l4lb")
    | p -> Path.GetFullPath p
