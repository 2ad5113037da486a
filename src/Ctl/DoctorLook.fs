/// What doctor sees of the agent it runs on (the netns it is run in): links and routes
/// through `ip -j`, files, the plugins' VERSION, a dummy link tried in a throwaway netns.
/// It reads and tries; it judges nothing (Doctor does).
module Dcos.L4lb.Ctl.DoctorLook

open System
open System.Diagnostics
open System.IO
open System.Runtime.InteropServices
open System.Text.Json
open Dcos.L4lb
open Dcos.L4lb.Ctl.DoctorSnapshot

/// How a program run by doctor ended.
type Ran =
    { ExitCode: int
      Stdout: string
      Stderr: string }

/// Runs a program to its end with exactly this environment (plus PATH) and input; killed,
/// with everything it started, at the time limit.
let run (program: string) (args: string list) (env: (string * string) list) (stdin: byte[]) (timeoutMs: int) : Ran =
    let info =
        ProcessStartInfo(
            program,
            args,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false
        )

    info.Environment.Clear()
    info.Environment["PATH"] <- Environment.GetEnvironmentVariable "PATH"

    for name, value in env do
        info.Environment[name] <- value

    use p = Process.Start info
    let stdout = p.StandardOutput.ReadToEndAsync()
    let stderr = p.StandardError.ReadToEndAsync()

    try
        p.StandardInput.BaseStream.Write stdin
        p.StandardInput.Close()
    with :? IOException ->
        () // it exited without reading

    if not (p.WaitForExit timeoutMs) then
        p.Kill true
        p.WaitForExit()

        { ExitCode = -1
          Stdout = ""
          Stderr = $"killed after {timeoutMs / 1000} s" }
    else
        p.WaitForExit()

        { ExitCode = p.ExitCode
          Stdout = stdout.Result
          Stderr = stderr.Result }

/// `ip -j <args>` in doctor's netns, as a JSON array.
let private ipJson (args: string list) =
    let ran = run "ip" ("-j" :: args) [] [||] 10_000

    if ran.ExitCode <> 0 then
        failwith $"""ip {String.Join(" ", args)} failed: {ran.Stderr.Trim()}"""

    use doc = JsonDocument.Parse(if ran.Stdout.Trim() = "" then "[]" else ran.Stdout)
    [ for e in doc.RootElement.EnumerateArray() -> e.Clone() ]

let private text (e: JsonElement) (name: string) =
    match e.TryGetProperty name with
    | true, v when v.ValueKind = JsonValueKind.String -> v.GetString()
    | _ -> ""

/// The agent's links, each with its kind, whether a veth's peer is known and its IPv4
/// addresses.
let links () : AgentLink list =
    [ for l in ipJson [ "-d"; "addr"; "show" ] ->
          let kind =
              match l.TryGetProperty "linkinfo" with
              | true, info -> text info "info_kind"
              | _ -> ""

          let addresses =
              match l.TryGetProperty "addr_info" with
              | true, infos ->
                  [ for a in infos.EnumerateArray() do
                        if text a "family" = "inet" then
                            yield! Ipv4.tryParse (text a "local") |> Option.toList ]
              | _ -> []

          { Name = text l "ifname"
            Kind = kind
            HasPeer = fst (l.TryGetProperty "link_index") || fst (l.TryGetProperty "link")
            Addresses = addresses } ]

/// The main table's /32 routes: destination and device.
let hostRoutes () : (Ipv4 * string) list =
    [ for r in ipJson [ "-4"; "route"; "show"; "table"; "main" ] do
          let dst = text r "dst"

          let address =
              if dst.EndsWith "/32" then
                  dst.Substring(0, dst.Length - 3)
              else
                  dst

          match Ipv4.tryParse address with
          | Some a -> yield a, text r "dev"
          | None -> () ]

let private forwarding () =
    try
        Some(File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim() = "1")
    with _ ->
        None

/// A dummy link made in a netns of its own, which goes when `ip` exits: nothing to undo.
let private dummyLinks () : Result<bool, string> =
    try
        let ran =
            run "unshare" [ "--net"; "ip"; "link"; "add"; "l4lbctl-probe"; "type"; "dummy" ] [] [||] 10_000

        if ran.ExitCode = 0 then Ok true
        elif ran.Stderr.Contains "Unknown device type" then Ok false
        else Result.Error(ran.Stderr.Trim())
    with e ->
        Result.Error e.Message

[<DllImport("libc", SetLastError = true)>]
extern int access(string path, int mode)

/// Whether ADD could write a checkpoint: into the directory (a dot-file, which dcos-net
/// skips, made and removed), or, while it does not exist, create it in its nearest parent.
let private checkpointDirectory (path: string) : Result<unit, string> =
    let rec nearest (p: string) =
        if isNull p || Directory.Exists p || File.Exists p then
            p
        else
            nearest (Path.GetDirectoryName p)

    try
        if Directory.Exists path then
            let probe = Path.Combine(path, $".l4lbctl-doctor.{Environment.ProcessId}")
            File.WriteAllText(probe, "")
            File.Delete probe
            Ok()
        else
            match nearest path with
            | p when File.Exists p -> Result.Error $"{p} is a file, not a directory"
            | p when access (p, 2 (* W_OK *) ) = 0 -> Ok()
            | p -> Result.Error $"{p} is not writable"
    with e ->
        Result.Error e.Message

/// Where a plugin of this type is found in the CNI path, and what its VERSION says (asked
/// at the config's version, as the plugin asks it).
let private probe (cniPath: string list) (cniVersion: string) (pluginType: string) : PluginProbe =
    match
        cniPath
        |> List.map (fun d -> Path.Combine(d, pluginType))
        |> List.tryFind File.Exists
    with
    | None -> NotInPath
    | Some path ->
        try
            let query = Json.render (Json.Object [ "cniVersion", Json.String cniVersion ])

            let ran =
                run path [] [ "CNI_COMMAND", "VERSION"; "CNI_PATH", String.Join(":", cniPath) ] query 10_000

            match PluginOutput.supportedVersions (Text.Encoding.UTF8.GetBytes ran.Stdout) with
            | [] -> Unanswered(path, $"exit {ran.ExitCode}, {ran.Stdout.Trim()} {ran.Stderr.Trim()}".Trim())
            | versions -> Speaks(path, versions)
        with e ->
            Unanswered(path, e.Message)

let private plugins (conf: NetConf) (cniPath: string list) =
    [ yield Wrapper
      if conf.Delegate.IsSome then
          yield DelegatePlugin(Delegate.pluginType conf)
      if conf.Spartan.Enabled then
          yield SpartanIpam conf.Spartan.Network.IpamType ]
    |> List.map (fun p -> p, probe cniPath conf.CniVersion p.Type)

/// host-local keeps its leases here, under the IPAM network's name.
let hostLocalNetworks = "/var/lib/cni/networks"

let private leases (conf: NetConf) : Lease list =
    let net = conf.Spartan.Network
    let dir = Path.Combine(hostLocalNetworks, net.Network)

    if
        not conf.Spartan.Enabled
        || net.IpamType <> "host-local"
        || not (Directory.Exists dir)
    then
        []
    else
        [ for file in Directory.GetFiles dir |> Array.sort do
              match Ipv4.tryParse (Path.GetFileName file) with
              | Some address ->
                  let lines =
                      try
                          File.ReadAllText(file).Split([| '\r'; '\n' |], StringSplitOptions.RemoveEmptyEntries)
                      with :? IOException ->
                          [||] // released while we looked

                  yield
                      { Address = address
                        File = file
                        ContainerId = lines |> Array.tryHead |> Option.defaultValue "" |> _.Trim()
                        IfName = lines |> Array.tryItem 1 |> Option.map _.Trim() }
              | None -> () ]

/// Every network's attachment records.
let private records (conf: NetConf) : Record list =
    let all = Path.GetDirectoryName(Naming.attachmentDirectory conf)

    if not (Directory.Exists all) then
        []
    else
        [ for dir in Directory.GetDirectories all |> Array.sort do
              let network = Path.GetFileName dir

              for r in ThisHost.files dir do
                  match Naming.parseAttachmentName r.Name with
                  | Some a ->
                      yield
                          { Network = network
                            Attachment = a
                            Netns = r.Content }
                  | None -> () ]

let private dotFiles (dirs: string list) : DotFile list =
    let now = DateTime.UtcNow

    [ for dir in dirs do
          if Directory.Exists dir then
              for file in Directory.GetFiles dir |> Array.sort do
                  let name = Path.GetFileName file

                  if name.StartsWith '.' then
                      yield
                          { Directory = dir
                            Name = name
                            Age = now - File.GetLastWriteTimeUtc file } ]

/// What may be left over, looked at in this order: links and routes before records, so a
/// veth an ADD is making is seen with the record that ADD wrote before it.
let leftovers (s: Snapshot) : Snapshot =
    let links = links ()
    let routes = hostRoutes ()
    let records = records s.Conf
    let checkpoints = ThisHost.checkpoints s.Conf

    let dirs =
        [ Naming.attachmentDirectory s.Conf
          if s.Conf.Minuteman.Enabled then
              s.Conf.Minuteman.Path ]

    let named = (records |> List.map _.Netns) @ (checkpoints |> List.map _.Content)

    { s with
        Links = links
        HostRoutes = routes
        Records = records
        Checkpoints = checkpoints
        Leases = leases s.Conf
        DotFiles = dotFiles dirs
        LiveNetns = named |> List.filter ThisHost.netnsExists |> Set.ofList }

/// Everything doctor judges, for the network of `conf`.
let snapshot (conf: NetConf) (cniPath: string list) : Snapshot =
    let minuteman f =
        if conf.Minuteman.Enabled then Some(f ()) else None

    leftovers
        { Conf = conf
          CniPath = cniPath
          Plugins = plugins conf cniPath
          Links = []
          HostRoutes = []
          Forwarding = forwarding ()
          DummyLinks = minuteman dummyLinks
          CheckpointDirectory = minuteman (fun () -> checkpointDirectory conf.Minuteman.Path)
          Records = []
          Checkpoints = []
          Leases = []
          DotFiles = []
          LiveNetns = Set.empty }
