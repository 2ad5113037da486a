/// A pure model of a host: namespaces with links, addresses and routes; checkpoint
/// files; IPAM allocations; delegate attachments. `answer` carries out one request the way
/// the kernel and the reference plugins do, so commands can be run and judged without a
/// machine (the property tests), and shown without changing one (`l4lbctl plan`).
module Dcos.L4lb.HostModel

open System

type LinkM =
    { Kind: string
      Up: bool
      Addresses: Set<Ipv4 * int>
      /// The other end of a veth pair.
      Peer: (Namespace * string) option }

type RouteM =
    { Destination: Ipv4
      PrefixLength: int
      Device: string
      Scope: RouteScope
      Source: Ipv4 option }

type NsM =
    { Links: Map<string, LinkM>
      Routes: Set<RouteM> }

type World =
    { Namespaces: Map<Namespace, NsM>
      /// (directory, file name) -> content
      Files: Map<string * string, string>
      /// (directory, name) -> this plugin's attachment records
      Records: Map<string * string, StoredFile>
      /// Ticks on every record write: a record's modification time.
      Clock: int64
      /// IPAM network name -> (container ID, ifname) -> address
      Ipam: Map<string, Map<string * string, Ipv4>>
      /// (network name, container ID, ifname) of each delegate attachment
      Attachments: Set<string * string * string>
      Forwarding: bool
      DummySupported: bool
      /// The versions a plugin type speaks, where not all of ours (the reference plugins
      /// stop at 1.0.0).
      PluginVersions: Map<string, string list>
      /// Plugin types no CNI_PATH directory holds.
      MissingPlugins: Set<string>
      /// Paths this process may not write.
      ReadOnly: Set<string>
      /// Plugins started and not yet awaited (in the model, a plugin runs when awaited).
      Running: Map<int, PluginCall> }

let emptyNs =
    { Links = Map [ "lo", { Kind = "loopback"; Up = true; Addresses = Set.empty; Peer = None } ]
      Routes = Set.empty }

let initial =
    { Namespaces = Map [ HostNs, emptyNs ]
      Files = Map.empty
      Records = Map.empty
      Clock = 0L
      Ipam = Map.empty
      Attachments = Set.empty
      Forwarding = false
      DummySupported = true
      PluginVersions = Map.empty
      MissingPlugins = Set.empty
      ReadOnly = Set.empty
      Running = Map.empty }

let addNetns (path: string) (w: World) =
    { w with Namespaces = w.Namespaces.Add(ContainerNs path, emptyNs) }

let private removeLinks (names: (Namespace * string) list) (w: World) =
    names
    |> List.fold
        (fun (w: World) (ns, name) ->
            match w.Namespaces.TryFind ns with
            | Some n ->
                let n =
                    { Links = n.Links.Remove name
                      Routes = n.Routes |> Set.filter (fun r -> r.Device <> name) }

                { w with Namespaces = w.Namespaces.Add(ns, n) }
            | None -> w)
        w

/// A link and, for a veth, its peer: deleting either end deletes both.
let private withPeer ns name (link: LinkM) =
    (ns, name) :: Option.toList link.Peer

/// `ip link set <name> name <newName>`: the link's routes follow it, and a veth's peer
/// knows it by its new name. (How the property tests turn this plugin's attachment into
/// the original's, whose host veth was named at random.)
let renameLink (ns: Namespace) (name: string) (newName: string) (w: World) =
    match w.Namespaces.TryFind ns |> Option.bind (fun n -> n.Links.TryFind name) with
    | None -> w
    | Some l ->
        let n = w.Namespaces[ns]

        let n =
            { Links = n.Links.Remove(name).Add(newName, l)
              Routes = n.Routes |> Set.map (fun r -> if r.Device = name then { r with Device = newName } else r) }

        let w = { w with Namespaces = w.Namespaces.Add(ns, n) }

        match l.Peer with
        | Some(peerNs, peer) ->
            let pn = w.Namespaces[peerNs]
            let p = pn.Links[peer]
            { w with Namespaces = w.Namespaces.Add(peerNs, { pn with Links = pn.Links.Add(peer, { p with Peer = Some(ns, newName) }) }) }
        | None -> w

/// The kernel destroys a namespace's links with it, and so the peers of its veths.
let deleteNetns (path: string) (w: World) =
    let ns = ContainerNs path

    match w.Namespaces.TryFind ns with
    | None -> w
    | Some n ->
        let peers = n.Links |> Map.toList |> List.choose (fun (_, l) -> l.Peer)
        removeLinks peers { w with Namespaces = w.Namespaces.Remove ns }

let private fail kind message = Error { Kind = kind; Message = message }

let private pluginError code (message: string) =
    { ExitCode = 1
      Stdout = Json.render (Json.Object [ "cniVersion", Json.String "1.0.0"; "code", Json.ofInt code; "msg", Json.String message ]) }

let private pluginOk (json: Json) = { ExitCode = 0; Stdout = Json.render json }

let private str key json =
    match Json.tryField key json with
    | Some(Json.String s) -> s
    | _ -> ""

let private env (call: PluginCall) key =
    call.Environment |> Array.tryFind (fun v -> v.Key = key) |> Option.map _.Value |> Option.defaultValue ""

let private resultJson (version: string) (address: Ipv4) (length: int) =
    if CniVersion.atLeast "0.3.0" version then
        Json.Object
            [ "cniVersion", Json.String version
              "ips", Json.Array [ Json.Object [ "address", Json.String $"{string address}/{string length}" ] ] ]
    else
        Json.Object [ "cniVersion", Json.String version; "ip4", Json.Object [ "ip", Json.String $"{string address}/{string length}" ] ]

let private versionsOf (w: World) (call: PluginCall) =
    w.PluginVersions.TryFind call.Type |> Option.defaultValue CniVersion.supported

/// host-local, in the model: the lowest free address of the range, keyed by
/// (container ID, ifname); DEL releases and is idempotent.
let private ipam (w: World) (call: PluginCall) : World * PluginExit =
    let version = str "cniVersion" call.Config
    let network = str "name" call.Config
    let ipamConf = Json.tryField "ipam" call.Config |> Option.defaultValue (Json.Object [])
    let key = env call "CNI_CONTAINERID", env call "CNI_IFNAME"
    let leases = w.Ipam.TryFind network |> Option.defaultValue Map.empty

    if not (List.contains version (versionsOf w call)) then
        w, pluginError 1 $"incompatible CNI version {version}"
    else
        match call.Command with
        | "ADD" ->
            if leases.ContainsKey key then
                w, pluginError 100 "duplicate allocation"
            else
                let first = (Ipv4.tryParse (str "rangeStart" ipamConf)).Value.Value
                let last = (Ipv4.tryParse (str "rangeEnd" ipamConf)).Value.Value
                let used = leases |> Map.values |> Seq.map _.Value |> Set.ofSeq
                let subnet = Ipv4Prefix.tryParse (str "subnet" ipamConf)

                match Seq.tryFind (fun a -> not (used.Contains a)) (seq { first..last }), subnet with
                | Some free, Ok prefix ->
                    let address = Ipv4 free
                    { w with Ipam = w.Ipam.Add(network, leases.Add(key, address)) }, pluginOk (resultJson version address prefix.Length)
                | None, _ -> w, pluginError 100 "no IP addresses available in range set"
                | _, Error e -> w, pluginError 7 e
        | "DEL" ->
            let leases = leases.Remove key
            let ipam = if leases.IsEmpty then w.Ipam.Remove network else w.Ipam.Add(network, leases)
            { w with Ipam = ipam }, pluginOk (Json.Object [])
        | other -> w, pluginError 4 $"unexpected command {other}"

/// A bridge-like delegate, in the model: ADD puts `ifname` in the netns and records an
/// attachment under the network name; DEL undoes both and is idempotent; CHECK looks.
let private delegatePlugin (w: World) (call: PluginCall) : World * PluginExit =
    let network = str "name" call.Config
    let id, ifName = env call "CNI_CONTAINERID", env call "CNI_IFNAME"
    let netns = env call "CNI_NETNS"
    let ns = ContainerNs netns
    let key = network, id, ifName
    let version = str "cniVersion" call.Config

    match call.Command with
    // like the reference plugins: a config version they do not speak is refused (code 1)
    | _ when not (List.contains version (versionsOf w call)) -> w, pluginError 1 $"incompatible CNI versions; config is \"{version}\""
    | "ADD" ->
        match w.Namespaces.TryFind ns with
        | None -> w, pluginError 100 $"failed to open netns {netns}"
        | Some n when n.Links.ContainsKey ifName || w.Attachments.Contains key -> w, pluginError 100 $"{ifName} already exists"
        | Some n ->
            let address = Ipv4(0x0A000000u + uint32 (w.Attachments.Count + 2))
            let link = { Kind = "veth"; Up = true; Addresses = set [ address, 24 ]; Peer = None }

            { w with
                Namespaces = w.Namespaces.Add(ns, { n with Links = n.Links.Add(ifName, link) })
                Attachments = w.Attachments.Add key },
            pluginOk (resultJson (str "cniVersion" call.Config) address 24)
    | "DEL" ->
        let w = removeLinks [ ns, ifName ] w
        { w with Attachments = w.Attachments.Remove key }, pluginOk (Json.Object [])
    | "CHECK" ->
        let prevVersion = Json.tryField "prevResult" call.Config |> Option.bind (Json.tryField "cniVersion")

        match prevVersion with
        // like libcni: a prevResult in a version the plugin does not speak cannot be read
        | Some(Json.String v) when not (List.contains v (versionsOf w call)) ->
            w, pluginError 999 ("could not parse prevResult: unmarshalled CNIVersion is \"" + v + "\"")
        | _ when w.Attachments.Contains key -> w, pluginOk (Json.Object [])
        | _ -> w, pluginError 100 ("no attachment of " + id + "/" + ifName + " to " + network)
    | "GC" ->
        // like the reference plugins from CNI 1.1: forget this network's attachments that
        // are not in the list (the netns, and so the links, are assumed gone)
        let valid =
            match Json.tryField "cni.dev/valid-attachments" call.Config with
            | Some(Json.Array items) -> items |> List.map (fun a -> network, str "containerID" a, str "ifname" a) |> Set.ofList
            | _ -> Set.empty

        { w with Attachments = w.Attachments |> Set.filter (fun ((n, _, _) as a) -> n <> network || valid.Contains a) }, pluginOk (Json.Object [])
    | other -> w, pluginError 4 $"unexpected command {other}"

let private isIpam (call: PluginCall) =
    match Json.tryField "ipam" call.Config with
    | Some ipamConf -> str "type" ipamConf = call.Type && (Json.tryField "rangeStart" ipamConf).IsSome
    | None -> false

let private link (w: World) ns name =
    w.Namespaces.TryFind ns |> Option.bind (fun n -> n.Links.TryFind name)

let private setLink (w: World) ns name (l: LinkM) =
    let n = w.Namespaces[ns]
    { w with Namespaces = w.Namespaces.Add(ns, { n with Links = n.Links.Add(name, l) }) }

let private noNetns (ns: string) = fail NotFound $"network namespace {ns} does not exist"

/// As the host answers a plugin it cannot find in CNI_PATH.
let private missingPlugin (pluginType: string) =
    { Kind = NotFound; Message = "plugin \"" + pluginType + "\" not found in CNI_PATH" }

let private notFound pluginType = Error(missingPlugin pluginType)

/// The changes (and probes) on the model, one method each.
type private Changes(w: World) =
    let completed = w, Ok()

    interface IChangeHandler<World * Result<unit, Failure>> with
        member _.EnableIpv4Forwarding() = { w with Forwarding = true }, Ok()
        // one invocation at a time in the model: a lock is always free
        member _.TakeLock _ = completed
        member _.ReleaseLock _ = completed

        member _.FindPlugin(pluginType, _) =
            if w.MissingPlugins.Contains pluginType then w, notFound pluginType else completed

        member _.CheckWritable path =
            if w.ReadOnly.Contains path then w, fail Io $"{path} is read-only" else completed

        member _.CheckExists path =
            if w.Namespaces.ContainsKey(ContainerNs path) then completed else w, fail NotFound $"{path} does not exist"

        member _.CreateVeth(netns, container, host, _) =
            let ns = ContainerNs netns

            match w.Namespaces.TryFind ns with
            | None -> w, noNetns netns
            | Some n when n.Links.ContainsKey container -> w, fail AlreadyExists $"{container} exists in {netns}"
            | Some _ when (link w HostNs host).IsSome -> w, fail AlreadyExists $"{host} exists on the host"
            | Some _ ->
                let veth peer = { Kind = "veth"; Up = false; Addresses = Set.empty; Peer = Some peer }
                let w = setLink w ns container (veth (HostNs, host))
                setLink w HostNs host (veth (ns, container)), Ok()

        member _.CreateDummy(ns, name) =
            match w.Namespaces.TryFind ns with
            | None -> w, noNetns (ns.Describe())
            | Some _ when not w.DummySupported -> w, fail Unsupported "the kernel has no dummy link type"
            | Some n when n.Links.ContainsKey name -> w, fail AlreadyExists $"{name} exists"
            | Some _ -> setLink w ns name { Kind = "dummy"; Up = false; Addresses = Set.empty; Peer = None }, Ok()

        member _.SetLinkUp(ns, name) =
            match link w ns name with
            | Some l -> setLink w ns name { l with Up = true }, Ok()
            | None -> w, fail NotFound $"no link {name}"

        member _.AddAddress(ns, name, address, length) =
            match link w ns name with
            | Some l when l.Addresses.Contains(address, length) -> w, fail AlreadyExists "address exists"
            | Some l -> setLink w ns name { l with Addresses = l.Addresses.Add(address, length) }, Ok()
            | None -> w, fail NotFound $"no link {name}"

        member _.AddRoute(ns, r) =
            let entry: RouteM =
                { Destination = r.Destination.Resolved
                  PrefixLength = r.PrefixLength
                  Device = r.Device
                  Scope = r.Scope
                  Source = r.Source |> Option.map _.Resolved }

            let local (ip: Ipv4) =
                w.Namespaces[ns].Links |> Map.exists (fun _ l -> l.Addresses |> Set.exists (fst >> (=) ip))

            match link w ns r.Device with
            | None -> w, fail NotFound $"no link {r.Device}"
            | Some l when not l.Up -> w, fail OtherFailure "Network is down"
            | Some _ when entry.Source |> Option.exists (local >> not) -> w, fail OtherFailure "Invalid argument: source is not local"
            | Some _ when w.Namespaces[ns].Routes.Contains entry -> w, fail AlreadyExists "route exists"
            | Some _ ->
                let n = w.Namespaces[ns]
                { w with Namespaces = w.Namespaces.Add(ns, { n with Routes = n.Routes.Add entry }) }, Ok()

        member _.DeleteLink(ns, name) =
            match w.Namespaces.TryFind ns, link w ns name with
            | None, _ -> w, noNetns (ns.Describe())
            | _, None -> w, fail NotFound $"no link {name}"
            | _, Some l -> removeLinks (withPeer ns name l) w, Ok()

        member _.WriteCheckpoint(dir, id, content) = { w with Files = w.Files.Add((dir, id), content) }, Ok()

        member _.WriteRecord(dir, name, content) =
            let clock = w.Clock + 1L

            { w with
                Clock = clock
                Records = w.Records.Add((dir, name), { Name = name; Content = content; Modified = clock }) },
            Ok()

        member _.RemoveFile(kind, dir, name) =
            match kind with
            | Checkpoint when w.Files.ContainsKey(dir, name) -> { w with Files = w.Files.Remove(dir, name) }, Ok()
            | AttachmentRecord when w.Records.ContainsKey(dir, name) -> { w with Records = w.Records.Remove(dir, name) }, Ok()
            | _ -> w, fail NotFound "no such file"

/// A change (or probe) on the model.
let change (w: World) (c: Change) : World * Result<unit, Failure> = c.Handle(Changes w)

/// A plugin run on the model, start to exit.
let runPlugin (w: World) (call: PluginCall) : World * Result<PluginExit, Failure> =
    match call.Command with
    | _ when w.MissingPlugins.Contains call.Type -> w, notFound call.Type
    | "STATUS" ->
        if List.contains "1.1.0" (versionsOf w call) then w, Ok(pluginOk (Json.Object []))
        else w, Ok(pluginError 1 "incompatible CNI version 1.1.0")
    | "VERSION" ->
        w, Ok(pluginOk (Json.Object [ "cniVersion", Json.String "1.0.0"; "supportedVersions", Json.Array(versionsOf w call |> List.map Json.String) ]))
    | _ ->
        let w, exit = if isIpam call then ipam w call else delegatePlugin w call
        w, Ok exit

let inspectLink (w: World) ns name : Result<LinkState, Failure> =
    match link w ns name with
    | Some l ->
        Ok
            { LinkState.Kind = l.Kind
              Up = l.Up
              Addresses = [| for a, length in l.Addresses -> { Address = a; PrefixLength = length } |]
              Peer =
                match ns, l.Peer with
                | ContainerNs _, Some(HostNs, peer) -> peer
                | _ -> null }
    | None -> fail NotFound $"no link {name}"

let listRoutes (w: World) ns name : Result<RouteEntry[], Failure> =
    match w.Namespaces.TryFind ns with
    | None -> noNetns (ns.Describe())
    | Some n ->
        Ok
            [| for r in n.Routes do
                   if r.Device = name then
                       { RouteEntry.Destination = r.Destination
                         PrefixLength = r.PrefixLength
                         Scope = r.Scope
                         Source = Option.toNullable r.Source } |]

let private checkpoint name content = { Name = name; Content = content; Modified = 0L }

let readFile (w: World) kind dir name : Result<StoredFile, Failure> =
    match kind with
    | Checkpoint ->
        match w.Files.TryFind(dir, name) with
        | Some content -> Ok(checkpoint name content)
        | None -> fail NotFound "no such file"
    | AttachmentRecord ->
        match w.Records.TryFind(dir, name) with
        | Some r -> Ok r
        | None -> fail NotFound "no such file"

let listFiles (w: World) kind dir : StoredFile[] =
    match kind with
    | Checkpoint -> [| for KeyValue((d, name), content) in w.Files do if d = dir then checkpoint name content |]
    | AttachmentRecord -> [| for KeyValue((d, _), r) in w.Records do if d = dir then r |]

/// A fault to inject in place of a request's own answer.
type Fault =
    /// The request fails.
    | FailWith of failure: Failure
    /// A plugin run exits with this.
    | ExitWith of exit: PluginExit
    /// The request is carried out, then answered as failed: what the host does when the
    /// core throws on an outcome.
    | DoneThenFail of failure: Failure

/// Carries out one request on the model: the changed world and what to do next. A fault
/// stands in for the request's own outcome and leaves the world untouched.
let answer (fault: Fault option) (w: World) (request: Request) : World * Next =
    let reply (w: World, outcome: Result<'a, Failure>) (found: 'a -> Next) =
        match fault, outcome with
        | Some(FailWith f), _
        | Some(DoneThenFail f), Ok _ -> w, request.Fail f
        | _, Ok value -> w, found value
        | _, Error f -> w, request.Fail f

    request.Handle
        { new IRequestHandler<World * Next> with
            member _.Change r =
                reply (match fault with Some(FailWith _ | ExitWith _) -> w, Ok() | _ -> change w r.Change) r.Completed

            member _.Start r =
                match fault with
                | Some(FailWith f)
                | Some(DoneThenFail f) -> w, r.Fail f
                | _ when w.MissingPlugins.Contains r.Call.Type -> w, r.Fail(missingPlugin r.Call.Type)
                | _ ->
                    let id = (if w.Running.IsEmpty then 0 else Seq.max w.Running.Keys) + 1
                    { w with Running = w.Running.Add(id, r.Call) }, r.Started id

            member _.Await r =
                let w = { w with Running = w.Running.Remove r.Plugin.Id }

                match fault with
                | Some(ExitWith e) -> w, r.Exited(e.ExitCode, e.Stdout)
                | Some(FailWith f) -> w, r.Fail f
                | Some(DoneThenFail f) -> fst (runPlugin w r.Plugin.Call), r.Fail f
                | None ->
                    match runPlugin w r.Plugin.Call with
                    | w, Ok exit -> w, r.Exited(exit.ExitCode, exit.Stdout)
                    | w, Error f -> w, r.Fail f

            member _.InspectLink r = reply (w, inspectLink w r.Namespace r.Name) r.Found
            member _.ListRoutes r = reply (w, listRoutes w r.Namespace r.Link) r.Found
            member _.ReadFile r = reply (w, readFile w r.Kind r.Directory r.Name) r.Found
            member _.ListFiles r = reply (w, Ok(listFiles w r.Kind r.Directory)) r.Found }

/// Runs an invocation to its reply, with the effects it asked for and the plan step each
/// belongs to (a plugin run is one effect, its await: its start is not shown).
/// `inject n effect` may put a fault in place of the n-th effect's outcome (1-based).
let runLabelled (inject: int -> Effect -> Fault option) (w: World) (next: Next) : World * Reply * (Effect * Label option) list =
    let rec loop w (next: Next) n trace =
        match next with
        | Finished reply -> w, reply, List.rev trace
        | Pending(:? StartRequest as r) -> let w, next = answer None w r in loop w next n trace
        | Pending r ->
            let w, next = answer (inject n r.Effect) w r
            loop w next (n + 1) ((r.Effect, r.Label) :: trace)

    loop w next 1 []

/// Runs an invocation as `runLabelled` does, with the plugins it starts finishing (their
/// work applied to the world) just before its `finishAt`-th effect, or when awaited if
/// that comes first: any point at which a plugin running beside other steps can end. The
/// step named `failing` fails: a plugin that refuses (and so does nothing), or any other
/// effect that fails without a change.
let runScheduled (finishAt: int) (failing: string option) (w: World) (next: Next) : World * Reply * (Effect * Label option) list =
    let fails (label: Label option) =
        match label, failing with
        | Some l, Some name -> l.Step = name
        | _ -> false

    let refusal =
        { ExitCode = 1
          Stdout = Json.render (Json.Object [ "cniVersion", Json.String "1.0.0"; "code", Json.ofInt 11; "msg", Json.String "injected" ]) }

    // started plugins: their call and label, and their exit once they have run
    let rec loop w (next: Next) n (running: Map<int, PluginCall * Label option * PluginExit option>) trace =
        let w, running =
            if n < finishAt then
                w, running
            else
                running
                |> Map.fold
                    (fun (w, running: Map<_, _>) id (call, label, exit) ->
                        match exit with
                        | Some _ -> w, running
                        | None when fails label -> w, running.Add(id, (call, label, Some refusal))
                        | None ->
                            match runPlugin w call with
                            | w, Ok e -> w, running.Add(id, (call, label, Some e))
                            | w, Error _ -> w, running)
                    (w, running)

        match next with
        | Finished reply -> w, reply, List.rev trace
        | Pending(:? StartRequest as r) ->
            let id = (if running.IsEmpty then 0 else Seq.max running.Keys) + 1
            loop w (r.Started id) n (running.Add(id, (r.Call, r.Label, None))) trace
        | Pending(:? AwaitRequest as r) ->
            let call, label, exit = running[r.Plugin.Id]

            let w, exit =
                match exit with
                | Some e -> w, e
                | None when fails label -> w, refusal
                | None ->
                    match runPlugin w call with
                    | w, Ok e -> w, e
                    | w, Error _ -> w, refusal

            loop w (r.Exited(exit.ExitCode, exit.Stdout)) (n + 1) (running.Remove r.Plugin.Id) ((r.Effect, r.Label) :: trace)
        | Pending r ->
            let fault = if fails r.Label then Some(FailWith { Kind = OtherFailure; Message = "injected" }) else None
            let w, next = answer fault w r
            loop w next (n + 1) running ((r.Effect, r.Label) :: trace)

    loop w next 1 Map.empty []

/// Runs an invocation to its reply, with the effects it asked for (see runLabelled).
let runWith (inject: int -> Effect -> Fault option) (w: World) (next: Next) : World * Reply * Effect list =
    let w, reply, trace = runLabelled inject w next
    w, reply, List.map fst trace

let run w next = runWith (fun _ _ -> None) w next
