/// The Minuteman path end to end on a kernel that has it: the link and the checkpoint
/// file, what a dcos-net-like watcher sees, and a consumer that uses the registration the
/// way dcos-net does. Each test builds its own scene and tears it down, pass or fail.
module Dcos.L4lb.Tests.FullKernel.MinutemanPath

open System
open System.IO
open System.Text
open Expecto
open Dcos.L4lb.Tests
open Dcos.L4lb.Tests.FullKernel.MinutemanChecks

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
            let dir, settle, conf = watchedCheckpoints scene false
            let cid = scene.ContainerId
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
            let dir, settle, conf = watchedCheckpoints scene true
            let output = add scene conf

            // The consumer learns of the container from the watcher, and of its netns only
            // from what it read at the event.
            let netnsPath =
                match settle () with
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
            Expect.equal (settle ()) [ Delete scene.ContainerId ] "the events of DEL"

            let after = Consumer.fetch netnsPath
            Expect.notEqual after.ExitCode 0 $"the VIP is unreachable after DEL: {Command.describe after}"
            expectNothingLeft scene dir)

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
              yield! MinutemanGc.cases
              leaks ]
    )
