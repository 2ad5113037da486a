/// The cases: each network configuration list of Lists, for each CNI version libcni 1.1.2
/// and dcos-l4lb share from CHECK on, run through libcni as a runtime would. Each test
/// builds its own scene, runs the runtime, reads the kernel and the files, and tears the
/// scene down.
module Dcos.L4lb.Tests.Conflist.LibcniRuns

open System.IO
open System.Text.Json.Nodes
open Expecto
open Dcos.L4lb.Tests

/// libcni 1.1.2 speaks up to 1.0.0; CHECK and a cached prevResult on DEL exist from 0.4.0.
let versions = [ "0.4.0"; "1.0.0" ]

/// Kubernetes-style CNI_ARGS, as the kubelet's runtimes pass them.
let private kubernetesArgs (scene: Scene) =
    $"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID={scene.ContainerId}"

// ---- helpers -------------------------------------------------------------------------

let private scenario name body = AgentScenes.scenario<Scene> name body
let private expectOk = AgentScenes.expectOk

let private writeList (scene: Scene) version (plugins: string list) =
    scene.Write $"{Lists.network}.conflist" (Lists.document version plugins)

/// Writes the list and runs a successful ADD; returns the list's path and the result.
let private add (scene: Scene) version (list: Lists.Working) =
    let path = writeList scene version (list.Plugins scene)
    let o = Runtime.run scene path "add"
    expectOk "ADD through libcni" o
    path, o.Stdout

let private names = Attachment.names

let private field (node: JsonNode) (name: string) = string node[name]

/// The bridge's side of eth0: a veth in the agent that is a port of the scene's bridge.
let private expectBridgePort (scene: Scene) =
    let ports =
        Kernel.links scene.Agent
        |> List.filter (fun l -> l.Kind = "veth" && l.Master = Some scene.Bridge)

    Expect.equal (List.length ports) 1 $"ports of {scene.Bridge} in the agent: {names ports}"

/// Every artefact of the bridge's attachment and of the Spartan one, as the kernel and
/// the IPAM state show them.
let private expectAttached (scene: Scene) =
    Attachment.expectAttached scene |> ignore
    Expect.stringStarts (Attachment.eth0Address scene) scene.SubnetPrefix $"eth0's address is in {scene.Subnet}"
    expectBridgePort scene

let private expectNoCachedResult (scene: Scene) =
    Expect.equal scene.CachedResults [] "libcni's cached results"

/// No address held in either IPAM network, no result cached.
let private expectReleased (scene: Scene) =
    Attachment.expectReleased scene
    expectNoCachedResult scene

/// What a container looks like that was never attached: nothing in it but `lo`, no veth
/// in the agent (neither the bridge's nor an spt* one), nothing held, nothing cached.
let private expectNothingLeft (scene: Scene) =
    Attachment.expectNothingLeft scene
    expectNoCachedResult scene

let private tunedValue (scene: Scene) =
    let file = "/proc/sys/" + Lists.tunedSysctl.Replace('.', '/')
    (Command.runInNetns scene.Netns "cat" [ file ]).Trim()

// ---- the cases for a list that works -------------------------------------------------

let private validate version (list: Lists.Working) =
    scenario "libcni's ValidateNetworkList accepts the list" (fun scene ->
        let path = writeList scene version (list.Plugins scene)
        let o = Runtime.run scene path "validate"
        expectOk "ValidateNetworkList" o)

let private addResult version (list: Lists.Working) =
    scenario "ADD's result is the bridge's, and libcni caches it" (fun scene ->
        let _, output = add scene version list
        let result = (JsonNode.Parse output).AsObject()
        Expect.equal (field result "cniVersion") version "the result's cniVersion"

        let ip =
            match List.ofSeq (result["ips"].AsArray()) with
            | [ ip ] -> ip
            | other -> failtest $"ips: {other}"

        Expect.equal (field ip "address") (Attachment.eth0Address scene) "ips[0].address is eth0's address"
        Expect.equal (field ip "gateway") scene.Gateway "ips[0].gateway is the bridge"
        let eth0 = result["interfaces"].AsArray()[ip["interface"].GetValue<int>()]
        Expect.equal (field eth0 "name") L4lbInAgent.ifName "ips[0].interface names eth0"
        Expect.equal (field eth0 "sandbox") scene.Netns "eth0's sandbox"

        let nameservers =
            match result["dns"] with
            | null -> []
            | dns ->
                match dns["nameservers"] with
                | null -> []
                | servers -> [ for s in servers.AsArray() -> string s ]

        if list.SpartanDns then
            Expect.equal nameservers Spartan.serviceAddresses "dns.nameservers: the Spartan addresses"
        else
            Expect.equal nameservers [] "dns.nameservers"
            Expect.isFalse (output.Contains "198.51.100.") "the result does not mention the Spartan attachment"

        let cached = scene.CachedResult Lists.network
        Expect.isTrue (File.Exists cached) $"libcni's cached result {cached} exists"
        let cachedResult = (JsonNode.Parse(File.ReadAllText cached))["result"]

        Expect.isTrue
            (JsonNode.DeepEquals(cachedResult, result))
            $"the cached result is the one printed: {cachedResult.ToJsonString()}")

let private attached version (list: Lists.Working) =
    scenario "ADD gives the container eth0 and the Spartan attachment" (fun scene ->
        add scene version list |> ignore
        expectAttached scene

        if list.Tuned then
            Expect.equal (tunedValue scene) Lists.tunedValue $"{Lists.tunedSysctl}, set by tuning")

let private dns version (list: Lists.Working) =
    scenario "the container resolves names through Spartan" (fun scene ->
        add scene version list |> ignore
        Attachment.expectResolves scene)

let private check version (list: Lists.Working) =
    scenario "CHECK passes, then fails once a Spartan route is gone" (fun scene ->
        let path, _ = add scene version list
        expectOk "CHECK of an intact attachment" (Runtime.run scene path "check")

        Command.ip scene.Container [ "route"; "del"; "198.51.100.2/32"; "dev"; "spartan" ]
        |> ignore

        let o = Runtime.run scene path "check"
        Expect.notEqual o.ExitCode 0 $"CHECK after the removal must fail: {Command.describe o}"
        Expect.stringContains o.Stderr "Spartan routes" "libcni's error is dcos-l4lb's, naming what is missing")

let private del version (list: Lists.Working) =
    scenario "DEL leaves nothing, and a second DEL succeeds" (fun scene ->
        let path, _ = add scene version list
        expectOk "DEL" (Runtime.run scene path "del")
        expectNothingLeft scene
        expectOk "the second DEL" (Runtime.run scene path "del")
        expectNothingLeft scene)

/// `ip netns del` returns before the kernel has destroyed the namespace: its veths, and
/// so the bridge's ends of them in the agent, go some 20 ms later. The netns is gone
/// once no veth but this plugin's own host ends (spt…) is left in the agent. The wait
/// gives up after 30 s (a guard against a hang) and leaves the verdict to the test.
let private awaitNetnsTeardown (scene: Scene) =
    let deadline = System.DateTime.UtcNow.AddSeconds 30.

    let rec wait () =
        let others = Kernel.links scene.Agent |> List.filter (fun l -> l.Kind = "veth" && not (Kernel.isHostVeth l))

        if not others.IsEmpty && System.DateTime.UtcNow < deadline then
            System.Threading.Thread.Sleep 10
            wait ()

    wait ()

let private delNetnsGone version (list: Lists.Working) =
    scenario "DEL after the container's netns is gone releases everything" (fun scene ->
        let path, _ = add scene version list
        Command.run "ip" [ "netns"; "del"; scene.Container ] |> ignore
        awaitNetnsTeardown scene
        expectOk "DEL" (Runtime.run scene path "del")
        Attachment.expectNoAgentVeth scene
        expectReleased scene)

/// A runtime that lost the container's netns path runs DEL with CNI_NETNS empty: the
/// plugins release what they can reach from the host.
let private delWithoutNetns version (list: Lists.Working) =
    scenario "DEL with an empty CNI_NETNS releases the addresses and the Spartan veth" (fun scene ->
        let path, _ = add scene version list
        expectOk "DEL" (Runtime.invoke scene "" "" path "del")
        expectReleased scene
        Attachment.expectNoHostVeth scene
        // deleting the host end took the container end with it; eth0 is the bridge's,
        // which cannot reach the container without its netns
        Expect.equal (names (Kernel.links scene.Container)) [ "eth0"; "lo" ] "container links")

let private forList version (list: Lists.Working) =
    testList
        list.Name
        [ validate version list
          addResult version list
          attached version list
          dns version list
          check version list
          del version list
          delNetnsGone version list
          delWithoutNetns version list ]

/// The chained list with the CNI_ARGS a Kubernetes runtime passes.
let private kubernetes version =
    let list = Lists.working.Head

    scenario $"{list.Name} with Kubernetes CNI_ARGS: ADD, CHECK, DEL" (fun scene ->
        let path = writeList scene version (list.Plugins scene)

        let run command =
            Runtime.runWithArgs scene (kubernetesArgs scene) path command

        expectOk "ADD" (run "add")
        expectAttached scene
        expectOk "CHECK" (run "check")
        expectOk "DEL" (run "del")
        expectNothingLeft scene)

// ---- the cases for a list whose ADD fails --------------------------------------------

let private failingCase version (list: Lists.Failing) =
    scenario list.Name (fun scene ->
        let path = writeList scene version (list.Plugins scene)
        let o = Runtime.run scene path "add"
        Expect.notEqual o.ExitCode 0 $"ADD must fail: {Command.describe o}"
        Expect.stringContains o.Stderr $"plugin type=\"{list.Failed}\" failed (add)" "libcni names the failing plugin"
        Expect.equal scene.CachedResults [] "libcni caches no result for a failed ADD"

        // libcni does not undo a failed ADD; the plugins before the failing one leave
        // their attachments for the runtime's DEL. dcos-l4lb undoes its own steps when
        // it is the one that fails.
        if list.L4lbFails then
            Expect.equal (names (Kernel.links scene.Container)) [ "eth0"; "lo" ] "container links after the failed ADD"
            Attachment.expectNoHostVeth scene
            Expect.equal (scene.Allocations Spartan.ipamNetwork) [] "Spartan IPAM allocations"
        else
            expectAttached scene

        expectOk "the runtime's DEL" (Runtime.run scene path "del")
        expectNothingLeft scene
        expectOk "a second DEL" (Runtime.run scene path "del")
        expectNothingLeft scene)

let private forVersion version =
    testList
        $"cniVersion {version}"
        [ for list in Lists.working -> forList version list
          yield kubernetes version
          yield testList "failing chains" [ for list in Lists.failing -> failingCase version list ] ]

let tests =
    AgentScenes.suite Scene.Names "conflist" [ for version in versions -> forVersion version ]
