/// What the Minuteman cases share: their scene and configs, ADD and DEL, what a
/// registered, attached or cleaned-up container looks like, the watcher's events as
/// dcos-net acts on them, and a consumer that uses a registration the way dcos-net does.
module Dcos.L4lb.Tests.FullKernel.MinutemanChecks

open System
open System.IO
open System.Text
open System.Text.Json.Nodes
open Expecto
open Dcos.L4lb.Tests

// ---- helpers -------------------------------------------------------------------------

let json (text: string) = JsonNode.Parse text

/// {"enable": true, "path": path}
let minutemanAt (path: string) =
    let field = JsonObject()
    field["enable"] <- JsonValue.Create true
    field["path"] <- JsonValue.Create path
    field :> JsonNode

let spartanOff = "spartan", json """{ "enable": false }"""

let requireKernel () =
    match Ipvs.capabilities.Force() with
    | [] -> ()
    | missing -> failtest $"""this kernel cannot run the suite: {String.Join("; ", missing)}"""

let scenario name withDnsmasq (body: Scene -> unit) =
    testCase name (fun () ->
        requireKernel ()
        use scene = new Scene(withDnsmasq: bool)
        body scene)

let expectOk = AgentScenes.expectOk

/// Runs one command for another attachment of the scene's agent: this container ID,
/// CNI_NETNS (None leaves it unset) and ifname.
let runFor (scene: Scene) command (containerId: string) (netns: string option) (ifName: string) config =
    L4lb.exec
        { L4lb.invocation scene command scene.MainContainer config with
            ContainerId = Some containerId
            Netns = netns
            IfName = Some ifName }

/// A successful ADD: its output (the delegate's result, for DEL's prevResult).
let add (scene: Scene) conf =
    let o = L4lb.run scene "ADD" conf
    expectOk "ADD" o
    o.Stdout

let del (scene: Scene) conf addOutput =
    expectOk "DEL" (L4lb.run scene "DEL" (L4lbInAgent.withPrevResult conf addOutput))

let entries dir =
    if Directory.Exists dir then
        Directory.GetFileSystemEntries dir |> Array.map Path.GetFileName |> Array.sort |> List.ofArray
    else
        []

let netnsBytes (scene: Scene) = Encoding.UTF8.GetBytes scene.Netns

/// The container is registered with Minuteman: a dummy link `minuteman` that is up, and
/// `dir/<containerID>` holding exactly the netns path's bytes (no newline), alone in dir.
let expectRegistered (scene: Scene) (dir: string) =
    let link = Kernel.link scene.Container "minuteman"

    match link with
    | Some l ->
        Expect.equal l.Kind "dummy" "the minuteman link's kind"
        Expect.isTrue l.Up "the minuteman link is up"
    | None -> failtest $"no minuteman link in the container: {Kernel.linkNames scene.Container}"

    let file = Path.Combine(dir, scene.ContainerId)
    Expect.isTrue (File.Exists file) $"{file} exists"
    let content = File.ReadAllBytes file

    if content <> netnsBytes scene then
        failtest
            $"{file} must hold exactly the bytes of {scene.Netns} ({(netnsBytes scene).Length} bytes, no newline); it holds {content.Length} bytes: {Convert.ToHexString content}"
    Expect.equal (entries dir) [ scene.ContainerId ] $"{dir} holds the checkpoint file and nothing else"

/// The container's Spartan attachment: a veth `spartan`, up, one /32 from the range, and
/// a route to each Spartan address.
let expectSpartan (scene: Scene) =
    match Kernel.link scene.Container "spartan" with
    | Some l ->
        Expect.equal l.Kind "veth" "the container's spartan link is a veth"
        Expect.isTrue l.Up "the container's spartan link is up"
    | None -> failtest $"no spartan link in the container: {Kernel.linkNames scene.Container}"

    let address =
        match Kernel.addresses scene.Container "spartan" with
        | [ address, 32 ] -> address
        | other -> failtest $"the container's spartan link holds {other}; expected one /32"

    Expect.isTrue (Spartan.inRange address) $"{address} lies in 198.51.100.10-198.51.100.253"

    let routed =
        Kernel.tableRoutes scene.Container "main"
        |> List.filter (fun r -> r.Device = "spartan")
        |> List.map _.Destination
        |> List.sort

    Expect.equal routed (List.sort Spartan.serviceAddresses) "the container's routes through spartan"

    Expect.equal
        (scene.Allocations Spartan.ipamNetwork)
        [ { Address = address; Owner = scene.ContainerId } ]
        "the Spartan IPAM allocation"

/// Nothing of the attachment is left: the container has only lo, the agent no veth, both
/// IPAM networks are empty, no route in the container goes through minuteman and the
/// checkpoint directory holds nothing (no dot-file either).
let expectNothingLeft (scene: Scene) (dir: string) =
    Expect.equal (Kernel.linkNames scene.Container) [ "lo" ] "the container's links"

    Expect.equal
        (Kernel.links scene.Agent |> List.filter (fun l -> l.Kind = "veth") |> List.map _.Name)
        []
        "veth links in the agent"

    Expect.equal (scene.Allocations Spartan.ipamNetwork) [] "Spartan IPAM allocations"
    Expect.equal (scene.Allocations L4lbInAgent.network) [] "delegate IPAM allocations"

    for table in [ "main"; "local" ] do
        Expect.equal
            (Kernel.tableRoutes scene.Container table |> List.filter (fun r -> r.Device = "minuteman"))
            []
            $"routes through minuteman in table {table}"

    Expect.equal (entries dir) [] $"what {dir} holds"

/// Events as dcos-net acts on them: names starting with '.' dropped. Anything the watcher
/// could not make sense of fails the test.
let relevant (events: WatchEvent list) =
    for e in events do
        match e with
        | Trouble what -> failtest $"the watcher reported trouble: {what}"
        | _ -> ()

    events
    |> List.filter (function
        | Ignored _ -> false
        | _ -> true)

/// The checkpoint directory, made (dcos-net waits for its directory to exist before it
/// watches it) and watched as dcos-net does; the events since the last look (`relevant`);
/// the config that names it with Minuteman on, the bridge masqueraded or not.
let watchedCheckpoints (scene: Scene) (ipMasq: bool) =
    let dir = scene.CheckpointDir
    Directory.CreateDirectory dir |> ignore
    let watcher = scene.Watch dir
    dir, (fun () -> relevant (watcher.Settle())), scene.Config ipMasq [ "minuteman", minutemanAt dir ]

// ---- a consumer like dcos-net's l4lb ---------------------------------------------------

/// What dcos-net does with a registered netns, by the checkpoint's content (the netns
/// path, used verbatim): look up `minuteman`'s ifindex there (dcos-net fails if it is
/// missing), add each VIP route to the local table (255) with oif minuteman, then an IPVS
/// service per VIP with masquerading backends, all inside that netns.
module Consumer =
    let vip = "11.22.33.44"
    let port = 80
    let backendPort = 8080
    let url = $"http://{vip}:{port}/token.txt"

    /// dcos-net's route for a container netns (dcos_l4lb_route_mgr): table 255, dst
    /// VIP/32, oif minuteman, scope link, protocol boot, type unicast.
    let expectedRoute: Kernel.TableRoute =
        { Type = "unicast"
          Destination = vip
          Device = "minuteman"
          Scope = "link"
          Protocol = "boot" }

    let program (netnsPath: string) (backend: string) =
        Command.runInNetns netnsPath "ip" [ "link"; "show"; "minuteman" ] |> ignore

        Command.runInNetns
            netnsPath
            "ip"
            [ "route"; "add"; "unicast"; vip + "/32"; "dev"; "minuteman"; "table"; "local"; "scope"; "link"; "proto"; "boot" ]
        |> ignore

        Command.runInNetns netnsPath "ipvsadm" [ "-A"; "-t"; $"{vip}:{port}"; "-s"; "rr" ] |> ignore

        Command.runInNetns netnsPath "ipvsadm" [ "-a"; "-t"; $"{vip}:{port}"; "-r"; $"{backend}:{backendPort}"; "-m" ]
        |> ignore

    /// A client in the container: fetches `url`, giving up after 30 s (a guard against a
    /// hang: the fetch takes well under a second; where the VIP has no route it fails at
    /// once).
    let fetch (netnsPath: string) : Command.Outcome =
        Command.inNetns
            netnsPath
            Programs.python3
            [ "-c"
              "import sys, urllib.request\nsys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())"
              url ]

// ---- GC (CNI 1.1) --------------------------------------------------------------------

/// The attachment records ADD writes and DEL and GC remove, by name
/// ("<containerID>@<ifname>"), dot-files included.
let records (scene: Scene) =
    scene.AttachmentRecords

/// The Spartan IPAM leases as "<containerID> <ifname>": host-local's lease files hold both,
/// one a line.
let spartanLeases (scene: Scene) =
    let dir = Path.Combine(scene.VarLib, "cni", "networks", Spartan.ipamNetwork)

    if Directory.Exists dir then
        [ for file in Directory.GetFiles dir do
              if Net.IPAddress.TryParse(Path.GetFileName file) |> fst then
                  String.Join(" ", File.ReadAllText(file).Split([| '\r'; '\n' |], StringSplitOptions.RemoveEmptyEntries)) ]
        |> List.sort
    else
        []

/// The scene's container after a GC that kept it (eth0): registered, attached to
/// Spartan, and its lease and record the only ones left.
let expectKeptByGc (scene: Scene) (dir: string) =
    let a, eth0 = scene.ContainerId, L4lbInAgent.ifName
    expectRegistered scene dir
    expectSpartan scene
    Expect.equal (spartanLeases scene) [ $"{a} {eth0}" ] "Spartan leases after GC"
    Expect.equal (records scene) [ $"{a}@{eth0}" ] "attachment records after GC"

/// Another netns in the scene (a second container, or an earlier sandbox), deleted after
/// `body` whatever happens, unless the test deleted it already.
let withNetns (name: string) (body: string -> unit) =
    Netns.create name

    try
        body $"/run/netns/{name}"
    finally
        Netns.delete name
