/// The Minuteman path end to end on a kernel that has it: the link and the checkpoint
/// file, what a dcos-net-like watcher sees, and a consumer that uses the registration the
/// way dcos-net does. Each test builds its own scene and tears it down, pass or fail.
module Dcos.L4lb.Tests.FullKernel.MinutemanPath

open System
open System.IO
open System.Text
open System.Text.Json.Nodes
open Expecto
open Dcos.L4lb.Tests

// ---- helpers -------------------------------------------------------------------------

let private json (text: string) = JsonNode.Parse text

/// {"enable": true, "path": path}
let private minutemanAt (path: string) =
    let field = JsonObject()
    field["enable"] <- JsonValue.Create true
    field["path"] <- JsonValue.Create path
    field :> JsonNode

let private spartanOff = "spartan", json """{ "enable": false }"""

let private requireKernel () =
    match Ipvs.capabilities.Force() with
    | [] -> ()
    | missing -> failtest $"""this kernel cannot run the suite: {String.Join("; ", missing)}"""

let private scenario name withDnsmasq (body: Scene -> unit) =
    testCase name (fun () ->
        requireKernel ()
        use scene = new Scene(withDnsmasq: bool)
        body scene)

let private expectOk = AgentScenes.expectOk

/// Runs one command for another attachment of the scene's agent: this container ID,
/// CNI_NETNS (None leaves it unset) and ifname.
let private runFor (scene: Scene) command (containerId: string) (netns: string option) (ifName: string) config =
    L4lb.exec
        { L4lb.invocation scene command scene.MainContainer config with
            ContainerId = Some containerId
            Netns = netns
            IfName = Some ifName }

/// A successful ADD: its output (the delegate's result, for DEL's prevResult).
let private add (scene: Scene) conf =
    let o = L4lb.run scene "ADD" conf
    expectOk "ADD" o
    o.Stdout

let private del (scene: Scene) conf addOutput =
    expectOk "DEL" (L4lb.run scene "DEL" (L4lbInAgent.withPrevResult conf addOutput))

let private entries dir =
    if Directory.Exists dir then
        Directory.GetFileSystemEntries dir |> Array.map Path.GetFileName |> Array.sort |> List.ofArray
    else
        []

let private netnsBytes (scene: Scene) = Encoding.UTF8.GetBytes scene.Netns

/// The container is registered with Minuteman: a dummy link `minuteman` that is up, and
/// `dir/<containerID>` holding exactly the netns path's bytes (no newline), alone in dir.
let private expectRegistered (scene: Scene) (dir: string) =
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
let private expectSpartan (scene: Scene) =
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
let private expectNothingLeft (scene: Scene) (dir: string) =
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
let private relevant (events: WatchEvent list) =
    for e in events do
        match e with
        | Trouble what -> failtest $"the watcher reported trouble: {what}"
        | _ -> ()

    events
    |> List.filter (function
        | Ignored _ -> false
        | _ -> true)

// ---- a consumer like dcos-net's l4lb ---------------------------------------------------

/// What dcos-net does with a registered netns, by the checkpoint's content (the netns
/// path, used verbatim): look up `minuteman`'s ifindex there (dcos-net fails if it is
/// missing), add each VIP route to the local table (255) with oif minuteman, then an IPVS
/// service per VIP with masquerading backends, all inside that netns.
module private Consumer =
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

    /// A client in the container: fetches `url`, 5 s at most.
    let fetch (netnsPath: string) : Command.Outcome =
        Command.inNetns
            netnsPath
            Programs.python3
            [ "-c"
              "import sys, urllib.request\nsys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
              url ]

// ---- the cases -----------------------------------------------------------------------

let private kernelCase =
    testCase "the kernel has dummy links and IPVS" (fun () ->
        Expect.equal (Ipvs.capabilities.Force()) [] "what the kernel lacks")

let private defaultConfig =
    let name =
        "default config (Spartan and Minuteman on, checkpoint in /var/run/dcos/cni/l4lb): "
        + "ADD makes the minuteman link and the checkpoint file, DEL removes both"

    if not Minuteman.privateRun then
        testCase name (fun () ->
            skiptest "writes the machine's /var/run/dcos/cni/l4lb; runs only with FULLKERNEL_PRIVATE_RUN=1 (lane.sh sets it)")
    else
        scenario name false (fun scene ->
            let dir = scene.UseDefaultCheckpointDir()
            Expect.equal (entries dir) [] $"{dir} before ADD"
            let conf = scene.Config false []
            let output = add scene conf
            expectRegistered scene dir
            expectSpartan scene
            let createdByAdd = Directory.Exists dir && List.contains dir scene.CreatedDirs

            if createdByAdd then
                Expect.equal
                    (File.GetUnixFileMode dir)
                    (UnixFileMode.UserRead ||| UnixFileMode.UserWrite ||| UnixFileMode.UserExecute
                     ||| UnixFileMode.GroupRead ||| UnixFileMode.GroupExecute
                     ||| UnixFileMode.OtherRead ||| UnixFileMode.OtherExecute)
                    $"{dir}, created by ADD, has mode 0755"

            del scene conf output
            expectNothingLeft scene dir)

let private minutemanAlone =
    scenario
        "Minuteman alone (spartan off), checkpoint on a tmpfs under /run: ADD registers the netns, DEL removes both"
        false
        (fun scene ->
            let dir = scene.CheckpointDir
            let conf = scene.Config false [ spartanOff; "minuteman", minutemanAt dir ]
            let output = add scene conf
            expectRegistered scene dir
            Expect.equal (Kernel.linkNames scene.Container) [ "eth0"; "lo"; "minuteman" ] "the container's links"
            Expect.equal (scene.Allocations Spartan.ipamNetwork) [] "no Spartan IPAM allocation"
            del scene conf output
            expectNothingLeft scene dir)

let private spartanAndMinuteman =
    scenario
        "Spartan and Minuteman together (masqueraded bridge): names resolve through Spartan, the netns is registered, DEL removes all"
        true
        (fun scene ->
            let dir = scene.CheckpointDir
            let conf = scene.Config true [ "spartan", json """{ "enable": true }"""; "minuteman", minutemanAt dir ]
            let output = add scene conf
            expectRegistered scene dir
            expectSpartan scene
            Expect.equal (Kernel.linkNames scene.Container) [ "eth0"; "lo"; "minuteman"; "spartan" ] "the container's links"

            Attachment.expectResolves scene
            del scene conf output
            expectNothingLeft scene dir)

let private watcherCase =
    scenario
        "a watcher like dcos-net's sees one close-write with the whole netns path per ADD and one delete per DEL"
        false
        (fun scene ->
            let dir = scene.CheckpointDir
            // dcos-net waits for its directory to exist before it watches it
            Directory.CreateDirectory dir |> ignore
            let watcher = scene.Watch dir
            let conf = scene.Config false [ "minuteman", minutemanAt dir ]
            let cid = scene.ContainerId
            let settle () = relevant (watcher.Settle())
            let registered = CloseWrite(cid, Ok(netnsBytes scene))

            Expect.equal (settle ()) [] "events before ADD"

            let output = add scene conf
            Expect.equal (settle ()) [ registered ] "the events of ADD"
            expectRegistered scene dir

            del scene conf output
            Expect.equal (settle ()) [ Delete cid ] "the events of DEL"

            del scene conf output
            Expect.equal (settle ()) [] "the events of a second DEL"

            let output = add scene conf
            Expect.equal (settle ()) [ registered ] "the events of ADD after DEL"

            del scene conf output
            Expect.equal (settle ()) [ Delete cid ] "the events of the last DEL"
            expectNothingLeft scene dir)

let private consumerCase =
    scenario
        "a dcos-net-like consumer routes a VIP through minuteman to IPVS in the container, which reaches the agent's server; DEL leaves nothing"
        false
        (fun scene ->
            let dir = scene.CheckpointDir
            Directory.CreateDirectory dir |> ignore
            let watcher = scene.Watch dir
            let conf = scene.Config true [ "minuteman", minutemanAt dir ]
            let output = add scene conf

            // The consumer learns of the container from the watcher, and of its netns only
            // from what it read at the event.
            let netnsPath =
                match relevant (watcher.Settle()) with
                | [ CloseWrite(name, Ok content) ] when name = scene.ContainerId -> Encoding.UTF8.GetString content
                | other -> failtest $"the events of ADD: {other}"

            Expect.equal netnsPath scene.Netns "the netns the consumer read"

            let token = $"served by the agent of scene {scene.Container}"
            let server = scene.Serve(scene.Gateway, Consumer.backendPort, [ "token.txt", token ])

            let before = Consumer.fetch netnsPath
            Expect.notEqual before.ExitCode 0 $"the VIP is unreachable before the consumer programs it: {Command.describe before}"

            Consumer.program netnsPath scene.Gateway

            let local = Kernel.tableRoutes scene.Container "local"

            Expect.isTrue
                (List.contains Consumer.expectedRoute local)
                $"the VIP route {Consumer.expectedRoute} is in the container's local table: {local}"

            let services = Ipvs.services netnsPath
            Expect.equal services.Length 2 $"IPVS in the container: {services}"
            Expect.stringStarts services[0] $"TCP  {Consumer.vip}:{Consumer.port} rr" "the IPVS service"
            Expect.stringStarts (services[1].TrimStart()) $"-> {scene.Gateway}:{Consumer.backendPort}" "its backend"
            Expect.stringContains services[1] "Masq" "the backend is masqueraded"
            Expect.equal (Ipvs.services scene.AgentNetns) [] "IPVS in the agent (IPVS is per netns)"

            let through = Consumer.fetch netnsPath
            expectOk $"fetching {Consumer.url} from the container" through
            Expect.equal through.Stdout token "what the container got through the VIP"
            // http.server logs "<client address> - - [date] \"GET /token.txt ...\" 200 -"
            let requests =
                server.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                |> Array.filter (fun line -> line.Contains "GET /token.txt")
                |> Array.map (fun line -> line.Split(' ').[0])
                |> List.ofArray

            let containerAddresses =
                [ for link in [ "eth0"; "spartan" ] do
                      for address, _ in Kernel.addresses scene.Container link -> address ]

            match requests with
            | [ client ] ->
                Expect.contains containerAddresses client "the agent's server saw the request come from the container"
            | other -> failtest $"the agent's server saw {other.Length} requests for the token: {server.Log}"

            del scene conf output
            Expect.equal (relevant (watcher.Settle())) [ Delete scene.ContainerId ] "the events of DEL"

            let after = Consumer.fetch netnsPath
            Expect.notEqual after.ExitCode 0 $"the VIP is unreachable after DEL: {Command.describe after}"
            expectNothingLeft scene dir)

// ---- GC (CNI 1.1) --------------------------------------------------------------------

/// The attachment records ADD writes and DEL and GC remove, by name
/// ("<containerID>@<ifname>"), dot-files included.
let private records (scene: Scene) =
    entries (Path.Combine(scene.VarLib, "cni", "dcos-l4lb", "attachments", L4lbInAgent.network))

/// The Spartan IPAM leases as "<containerID> <ifname>": host-local's lease files hold both,
/// one a line.
let private spartanLeases (scene: Scene) =
    let dir = Path.Combine(scene.VarLib, "cni", "networks", Spartan.ipamNetwork)

    if Directory.Exists dir then
        [ for file in Directory.GetFiles dir do
              if Net.IPAddress.TryParse(Path.GetFileName file) |> fst then
                  String.Join(" ", File.ReadAllText(file).Split([| '\r'; '\n' |], StringSplitOptions.RemoveEmptyEntries)) ]
        |> List.sort
    else
        []

/// Another netns in the scene (a second container, or an earlier sandbox), deleted after
/// `body` whatever happens, unless the test deleted it already.
let private withNetns (name: string) (body: string -> unit) =
    Netns.create name

    try
        body $"/run/netns/{name}"
    finally
        Netns.delete name

let private gcReleasesLost =
    scenario
        ("GC (CNI 1.1), Minuteman on: of two containers, the one the runtime lost (its netns deleted) loses its checkpoint "
         + "(one delete, as the watcher sees), Spartan lease and record; the listed one stays registered and passes CHECK; "
         + "DEL of both leaves nothing")
        false
        (fun scene ->
            let dir = scene.CheckpointDir
            Directory.CreateDirectory dir |> ignore
            let watcher = scene.Watch dir
            let settle () = relevant (watcher.Settle())
            let conf = scene.Config false [ "minuteman", minutemanAt dir ]
            let a = scene.ContainerId
            let b = a + "-b"
            let eth0 = L4lbInAgent.ifName
            let aFile = Path.Combine(dir, a)

            withNetns (scene.Container + "b") (fun bNetns ->
                let outputA = add scene conf
                let addB = runFor scene "ADD" b (Some bNetns) eth0 conf
                expectOk "ADD b" addB

                Expect.equal
                    (settle ())
                    [ CloseWrite(a, Ok(netnsBytes scene)); CloseWrite(b, Ok(Encoding.UTF8.GetBytes bNetns)) ]
                    "the events of both ADDs"

                Expect.equal (entries dir) (List.sort [ a; b ]) "the checkpoint files after both ADDs"
                Expect.equal (records scene) (List.sort [ $"{a}@{eth0}"; $"{b}@{eth0}" ]) "attachment records after both ADDs"
                Expect.equal (spartanLeases scene) (List.sort [ $"{a} {eth0}"; $"{b} {eth0}" ]) "Spartan leases after both ADDs"
                let aBytes, aWritten = File.ReadAllBytes aFile, File.GetLastWriteTimeUtc aFile

                // the runtime loses b: its netns goes, and no DEL comes
                Netns.delete (scene.Container + "b")
                Expect.equal (settle ()) [] "events when b's netns goes"

                expectOk "GC" (L4lb.gc scene conf [ a, eth0 ])
                Expect.equal (settle ()) [ Delete b ] "the events of GC: one delete, for b, and nothing for a"
                Expect.equal (entries dir) [ a ] "the checkpoint files after GC"
                Expect.equal (File.ReadAllBytes aFile, File.GetLastWriteTimeUtc aFile) (aBytes, aWritten) "a's checkpoint file is untouched"
                expectRegistered scene dir
                expectSpartan scene
                Expect.equal (spartanLeases scene) [ $"{a} {eth0}" ] "Spartan leases after GC"
                Expect.equal (records scene) [ $"{a}@{eth0}" ] "attachment records after GC"
                Expect.isNone (Kernel.link scene.Agent (Kernel.hostVethName b eth0)) "b's host veth"

                expectOk "CHECK of a after GC" (L4lb.run scene "CHECK" (L4lbInAgent.withPrevResult conf outputA))
                Expect.equal (settle ()) [] "the events of CHECK"

                // the DEL the runtime still owes b (its delegate lease is released by DEL only)
                expectOk "DEL b" (runFor scene "DEL" b None eth0 (L4lbInAgent.withPrevResult conf addB.Stdout))
                Expect.equal (settle ()) [] "the events of b's DEL (its checkpoint is gone already)"

                del scene conf outputA
                Expect.equal (settle ()) [ Delete a ] "the events of a's DEL")

            expectNothingLeft scene dir
            Expect.equal (records scene) [] "attachment records at the end")

let private gcKeepsListedCheckpoint =
    scenario
        ("GC (CNI 1.1), Minuteman on: a stale attachment of a container ID that is still listed (eth1, in an earlier "
         + "sandbox netns since deleted) loses its Spartan lease and record, but not the container's checkpoint")
        false
        (fun scene ->
            let dir = scene.CheckpointDir
            Directory.CreateDirectory dir |> ignore
            let watcher = scene.Watch dir
            let settle () = relevant (watcher.Settle())
            let conf = scene.Config false [ "minuteman", minutemanAt dir ]
            let a = scene.ContainerId
            let eth0, eth1 = L4lbInAgent.ifName, "eth1"
            let aFile = Path.Combine(dir, a)

            withNetns (scene.Container + "o") (fun earlier ->
                // the container's earlier sandbox, attached as eth1, then lost without a DEL
                let first = runFor scene "ADD" a (Some earlier) eth1 conf
                expectOk "ADD in the earlier sandbox (eth1)" first
                Netns.delete (scene.Container + "o")
                // its new sandbox, attached as eth0: the checkpoint now names this netns
                let output = add scene conf

                Expect.equal
                    (settle ())
                    [ CloseWrite(a, Ok(Encoding.UTF8.GetBytes earlier)); CloseWrite(a, Ok(netnsBytes scene)) ]
                    "the events of both ADDs"

                Expect.equal (records scene) [ $"{a}@{eth0}"; $"{a}@{eth1}" ] "attachment records after both ADDs"
                Expect.equal (spartanLeases scene) [ $"{a} {eth0}"; $"{a} {eth1}" ] "Spartan leases after both ADDs"
                let written = File.GetLastWriteTimeUtc aFile

                expectOk "GC" (L4lb.gc scene conf [ a, eth0 ])
                Expect.equal (settle ()) [] "the events of GC: none, the checkpoint stays"
                Expect.equal (File.GetLastWriteTimeUtc aFile) written "the checkpoint file is untouched"
                expectRegistered scene dir
                expectSpartan scene
                Expect.equal (spartanLeases scene) [ $"{a} {eth0}" ] "Spartan leases after GC"
                Expect.equal (records scene) [ $"{a}@{eth0}" ] "attachment records after GC"
                Expect.isNone (Kernel.link scene.Agent (Kernel.hostVethName a eth1)) "the eth1 attachment's host veth"
                expectOk "CHECK after GC" (L4lb.run scene "CHECK" (L4lbInAgent.withPrevResult conf output))

                // the runtime's DELs: the live attachment's first (DEL removes the checkpoint
                // by container ID), then the stale one's, which releases its delegate lease
                del scene conf output
                Expect.equal (settle ()) [ Delete a ] "the events of the eth0 DEL"
                expectOk "DEL of eth1" (runFor scene "DEL" a None eth1 (L4lbInAgent.withPrevResult conf first.Stdout))
                Expect.equal (settle ()) [] "the events of the eth1 DEL")

            expectNothingLeft scene dir
            Expect.equal (records scene) [] "attachment records at the end")

// ---- upgrade: an attachment of the original plugin ----------------------------------

let private attachedByOriginal =
    scenario
        ("attached by the original plugin (its footprint by hand: random host veth, lease, checkpoint, minuteman link), "
         + "config raised to 1.1.0: CHECK passes; DEL leaves nothing, and the watcher sees one delete")
        false
        (fun scene ->
            let dir = scene.CheckpointDir
            Directory.CreateDirectory dir |> ignore
            let watcher = scene.Watch dir
            let conf = scene.Config false [ "minuteman", minutemanAt dir ]
            conf["cniVersion"] <- JsonValue.Create "1.1.0"

            let footprint =
                OriginalAttachment.make
                    (OriginalAttachment.inScene scene OriginalAttachment.WithIfName (Some dir) true)
                    conf

            Expect.equal (relevant (watcher.Settle())) [ CloseWrite(scene.ContainerId, Ok(netnsBytes scene)) ] "the original's registration"
            expectRegistered scene dir
            expectSpartan scene
            Expect.isSome (Kernel.link scene.Agent footprint.HostVeth) $"{footprint.HostVeth} in the agent"

            let conf = L4lbInAgent.withPrevResult conf (OriginalAttachment.resultAs "1.1.0" footprint.DelegateResult)
            expectOk "CHECK" (L4lb.run scene "CHECK" conf)
            Expect.equal (relevant (watcher.Settle())) [] "the events of CHECK"
            expectOk "DEL" (L4lb.run scene "DEL" conf)
            Expect.equal (relevant (watcher.Settle())) [ Delete scene.ContainerId ] "the events of DEL"
            Expect.isNone (Kernel.link scene.Agent footprint.HostVeth) $"{footprint.HostVeth} in the agent"
            Expect.isEmpty (Kernel.tableRoutes scene.Agent "main" |> List.filter (fun r -> r.Destination = footprint.Address)) "the agent's route to the Spartan address"
            expectNothingLeft scene dir
            Expect.equal (records scene) [] "attachment records")

// ---- the machine is left as found ----------------------------------------------------

/// What a leak of ours would change on the machine itself: namespaces and links of our
/// names, and the machine's own IPAM state for our network names.
let private machineState () =
    let namespaces =
        Command.run "ip" [ "netns"; "list" ]
        |> fun text -> text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        |> Array.map (fun line -> line.Split(' ').[0])
        |> Array.filter (fun n ->
            n.StartsWith Scene.Names.Agent
            || n.StartsWith Scene.Names.Container
            || n.StartsWith "l4fkprobe")
        |> List.ofArray

    namespaces, Machine.links (fun n -> n.StartsWith Scene.Names.Bridge), Machine.cniState []

let private before = lazy (machineState ())

let private leaks =
    testCase "every scene was torn down and the machine left as found" (fun () ->
        AgentScenes.expectTornDown ()
        Expect.equal (machineState ()) before.Value "our namespaces, root-netns links and /var/lib/cni state")

let tests =
    before.Force() |> ignore

    testSequenced (
        testList
            "fullkernel"
            [ kernelCase
              defaultConfig
              minutemanAlone
              spartanAndMinuteman
              watcherCase
              consumerCase
              gcReleasesLost
              gcKeepsListedCheckpoint
              attachedByOriginal
              leaks ]
    )
