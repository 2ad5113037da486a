/// The container runtime of these tests: cniclient (cniclient/main.go), a small Go program
/// on libcni, the client library container runtimes use. It is built once per test run,
/// offline, from the libcni sources Debian's golang-github-appc-cni-dev installs, and run
/// in a scene's agent netns with the scene's own /var/lib, as L4lbInAgent runs the plugin.
module Dcos.L4lb.Tests.Conflist.Runtime

open System
open System.IO
open Dcos.L4lb.Tests

/// Where golang-github-appc-cni-dev puts libcni: a GOPATH, so no module download is needed.
let private goPath = "/usr/share/gocode"

/// The client's source, copied next to the test assembly by the build.
let private source = Path.Combine(AppContext.BaseDirectory, "cniclient", "main.go")

/// The temporary directory the client is built into; removed by `remove`.
let private buildDir =
    lazy (Directory.CreateTempSubdirectory("l4lb-cniclient-").FullName)

let private build () =
    if not (Directory.Exists(Path.Combine(goPath, "src/github.com/containernetworking/cni/libcni"))) then
        failwith
            $"libcni's sources are not under {goPath}: install golang-go and golang-github-appc-cni-dev (make deps)"

    let dir = buildDir.Force()
    let binary = Path.Combine(dir, "cniclient")

    // GOPATH mode, no proxy: the build uses what the Debian packages installed and
    // nothing else. Its own cache lives in the build directory, and goes with it.
    let env =
        [ "PATH", L4lbInAgent.searchPath
          "GO111MODULE", "off"
          "GOPATH", goPath
          "GOPROXY", "off"
          "GOFLAGS", ""
          "GOENV", "off"
          "GOCACHE", Path.Combine(dir, "gocache")
          "CGO_ENABLED", "0" ]

    // A file, not a directory, on the command line: GOPATH mode refuses to build a
    // package named by an absolute directory outside GOPATH. The limit is a guard against
    // a hang: the build, from an empty cache, takes under a minute on a quiet machine.
    let o =
        Command.executeWithin 600_000 "go" [ "build"; "-o"; binary; source ] (Some env) ""

    if o.ExitCode <> 0 then
        failwith $"building cniclient from {source} failed: {Command.describe o}"

    Directory.Delete(Path.Combine(dir, "gocache"), true)
    binary

let private client = lazy (build ())

/// The built client's path (built on first use).
let path () = client.Force()

/// Removes the client and its build directory, if they were made.
let remove () =
    if buildDir.IsValueCreated && Directory.Exists buildDir.Value then
        Directory.Delete(buildDir.Value, true)

/// The plugin directories the runtime is given: the one holding dcos-l4lb under test
/// first, then the reference plugins.
let cniPath =
    [ Path.GetDirectoryName L4lbBinary.path; L4lbInAgent.referencePlugins ]

/// Runs one command of the client ("add", "check", "del", "validate") for the scene's
/// container with the conflist at `list`, in the agent netns with the scene's /var/lib:
/// CNI_NETNS is `netns`, CNI_ARGS is `cniArgs` ("" for none). The client's environment is
/// PATH alone: libcni passes it on to every plugin, with the CNI_* variables of the call.
let invoke (scene: Scene) (netns: string) (cniArgs: string) (list: string) (command: string) : Command.Outcome =
    let program, args =
        L4lbInAgent.inAgent
            ""
            scene.VarLib
            scene.Agent
            [ path ()
              "-conflist"
              list
              "-container-id"
              scene.ContainerId
              "-netns"
              netns
              "-ifname"
              L4lbInAgent.ifName
              "-cni-path"
              String.Join(":", cniPath)
              "-cache-dir"
              scene.CacheDir
              "-args"
              cniArgs
              command ]

    Command.execute program args (Some [ "PATH", L4lbInAgent.searchPath ]) ""

/// Runs one command for the scene's container, as a runtime would.
let run (scene: Scene) list command =
    invoke scene scene.Netns "" list command

/// Likewise, with CNI_ARGS.
let runWithArgs (scene: Scene) cniArgs list command =
    invoke scene scene.Netns cniArgs list command
