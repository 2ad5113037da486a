/// `l4lbctl doctor`'s judgement: what is wrong with this agent for a network, from a
/// snapshot of it (DoctorLook takes it). Pure: every rule here runs on data, without root.
module Dcos.L4lb.Ctl.Doctor

open System
open Dcos.L4lb
open Dcos.L4lb.Ctl.DoctorSnapshot

/// A dot-file younger than this may be a write in progress (a write is a dot-file and a
/// rename, milliseconds apart, inside one plugin run, which its plugins' time limits bound).
let dotFileGrace = TimeSpan.FromMinutes 10.0

/// The host end of a Spartan veth: "spt" and 12 hex digits (Naming.hostVethName).
let isSpartanHostVeth (name: string) =
    name.Length = 15
    && name.StartsWith "spt"
    && name.Substring 3
       |> Seq.forall (fun c -> Char.IsAsciiDigit c || (c >= 'a' && c <= 'f'))

/// dcos-net's DNS listens on the first three service addresses; the fourth is the DNS
/// proxy of Kubernetes on DC/OS, which an agent without Kubernetes does not have.
let kubernetesDnsProxy = Ipv4.tryParse "198.51.100.4" |> Option.get

let private finding check severity subject meaning advice repair =
    { Check = check
      Severity = severity
      Subject = subject
      Meaning = meaning
      Advice = advice
      Repair = repair }

/// The plugins the network needs and whether each speaks a version the config can use.
/// The plugin negotiates as PluginOutput does: the newest version both speak, no newer
/// than the config's; the delegate's result must then be convertible to the config's.
let private plugins (s: Snapshot) =
    let dirs = String.Join(":", s.CniPath)

    [ for plugin, probe in s.Plugins do
          let subject = $"{plugin.Type} ({plugin.Role})"

          match probe with
          | NotInPath ->
              finding
                  "plugin-missing"
                  Error
                  subject
                  $"{plugin.Type} is in none of the CNI path's directories ({dirs}): every ADD of the network fails."
                  $"install {plugin.Type} in one of {dirs} (or name its directory with --cni-path)"
                  None
          | Unanswered(path, problem) ->
              finding
                  "plugin-version"
                  Error
                  subject
                  $"{path} did not answer VERSION ({problem}): the plugin cannot agree a CNI version with it."
                  $"replace {path} with a working CNI plugin"
                  None
          | Speaks(path, versions) ->
              let listed = String.Join(", ", versions)

              let call =
                  { Type = plugin.Type
                    Command = "ADD"
                    Environment = [||]
                    Config = Json.Object []
                    Path = List.toArray s.CniPath
                    TimeoutMs = 0 }

              let problem =
                  match plugin with
                  | Wrapper when not (List.contains s.Conf.CniVersion versions) ->
                      Some
                          $"the runtime runs it at cniVersion {s.Conf.CniVersion}, which its VERSION ({listed}) does not list"
                  | Wrapper -> None
                  | DelegatePlugin _
                  | SpartanIpam _ ->
                      match PluginOutput.negotiate s.Conf.CniVersion versions, plugin with
                      | None, _ ->
                          Some
                              $"it speaks {listed}: none is {s.Conf.CniVersion} or older, so the plugin cannot agree a version with it"
                      | Some agreed, DelegatePlugin _ ->
                          match
                              PluginOutput.inVersion
                                  call
                                  s.Conf.CniVersion
                                  (Json.Object [ "cniVersion", Json.String agreed ])
                          with
                          | Ok _ -> None
                          | Result.Error e ->
                              Some $"the newest version both speak is {agreed}, and its result {e.Message}"
                      | Some _, _ -> None

              match problem with
              | Some why ->
                  finding
                      "plugin-version"
                      Error
                      subject
                      $"{path}: {why}. Every ADD of the network fails."
                      $"set the config's cniVersion to one {plugin.Type} speaks ({listed}), or install a {plugin.Type} that speaks {s.Conf.CniVersion}"
                      None
              | None -> () ]

/// Spartan's service addresses must be on a link of the agent, or the containers' DNS
/// queries go nowhere; forwarding carries the delegate's traffic beyond the agent.
let private agent (s: Snapshot) =
    let present = s.Links |> List.collect _.Addresses |> Set.ofList
    let services = s.Conf.Spartan.Network.Services
    let missing = services |> List.filter (present.Contains >> not)
    let shown (addresses: Ipv4 list) = String.Join(", ", addresses)

    [ if s.Conf.Spartan.Enabled && not missing.IsEmpty then
          let advice =
              $"start dcos-net (its DNS puts Spartan's addresses on the agent's spartan link), or add them: "
              + String.Join("; ", missing |> List.map (fun a -> $"ip addr add {a}/32 dev spartan"))

          if missing.Length = services.Length then
              finding
                  "spartan-addresses"
                  Error
                  (shown missing)
                  "none of the Spartan service addresses is on a link of this agent: the containers' queries to Spartan go unanswered."
                  advice
                  None
          elif missing = [ kubernetesDnsProxy ] then
              finding
                  "spartan-addresses"
                  Note
                  (shown missing)
                  "the DNS proxy of Kubernetes on DC/OS is not on this agent: only containers that use it are affected."
                  "nothing, unless Kubernetes on DC/OS runs here; then check its DNS proxy"
                  None
          else
              finding
                  "spartan-addresses"
                  Warning
                  (shown missing)
                  "some Spartan service addresses are not on a link of this agent: queries to them go unanswered, and resolvers wait for each before trying the next."
                  advice
                  None
      match s.Forwarding with
      | Some false ->
          finding
              "ip-forward"
              Warning
              "net.ipv4.ip_forward"
              "IPv4 forwarding is off: containers reach nothing beyond the agent until the next ADD turns it on."
              "sysctl -w net.ipv4.ip_forward=1"
              None
      | Some true -> ()
      | None ->
          finding
              "ip-forward"
              Warning
              "net.ipv4.ip_forward"
              "/proc/sys/net/ipv4/ip_forward cannot be read: ADD, which writes 1 there, may fail."
              "run doctor as root; check that /proc/sys is mounted"
              None ]

/// What Minuteman's part of ADD needs: dummy links, a writable checkpoint directory.
let private minuteman (s: Snapshot) =
    let disable = "or set \"minuteman\": {\"enable\": false} in the config"

    [ match s.DummyLinks with
      | Some(Ok false) ->
          finding
              "dummy-links"
              Error
              "link type dummy"
              "the kernel cannot make dummy links: ADD's Minuteman link fails, and every ADD of the network is undone."
              $"modprobe dummy, {disable}"
              None
      | Some(Result.Error problem) ->
          finding
              "dummy-links"
              Warning
              "link type dummy"
              $"doctor could not try a dummy link in a throwaway netns ({problem})."
              $"try it by hand: unshare --net ip link add probe type dummy; if that fails, modprobe dummy, {disable}"
              None
      | Some(Ok true)
      | None -> ()
      match s.CheckpointDirectory with
      | Some(Result.Error problem) ->
          finding
              "checkpoint-directory"
              Error
              s.Conf.Minuteman.Path
              $"ADD cannot write its Minuteman checkpoint ({problem}): every ADD of the network fails."
              $"make {s.Conf.Minuteman.Path} a writable directory, or set minuteman.path to one"
              None
      | Some(Ok())
      | None -> () ]

/// The attachments of this network whose netns exists: what `l4lbctl gc` lists as valid.
let private validAttachments (s: Snapshot) =
    s.Records
    |> List.filter (fun r -> r.Network = s.Conf.Name && s.LiveNetns.Contains r.Netns)
    |> List.map _.Attachment

/// Records and checkpoints whose netns is gone, as the plugin's GC finds them: GC removes
/// a checkpoint unless the container has an attachment still valid.
let private stale (s: Snapshot) (config: string) =
    let valid = validAttachments s |> List.map _.ContainerId |> Set.ofList
    let gc = $"l4lbctl gc {config}"

    [ for r in s.Records do
          if r.Network = s.Conf.Name && not (s.LiveNetns.Contains r.Netns) then
              finding
                  "stale-record"
                  Warning
                  $"{Naming.attachmentName r.Attachment.ContainerId r.Attachment.IfName} (netns {r.Netns})"
                  "an attachment whose netns is gone, and no DEL came: its Spartan lease, host veth and checkpoint are still held."
                  gc
                  (Some PluginGc)
      for c in s.Checkpoints do
          if c.Content.StartsWith '/' && not (s.LiveNetns.Contains c.Content) then
              let file = IO.Path.Combine(s.Conf.Minuteman.Path, c.Name)

              if valid.Contains c.Name then
                  finding
                      "stale-checkpoint"
                      Warning
                      $"{file} (netns {c.Content})"
                      "the checkpoint names a netns that is gone, but the container has a live attachment: Minuteman cannot serve it."
                      $"run DEL and then ADD for container {c.Name}"
                      None
              else
                  finding
                      "stale-checkpoint"
                      Warning
                      $"{file} (netns {c.Content})"
                      "a Minuteman checkpoint whose netns is gone: dcos-net tries, and fails, to program it at every start."
                      gc
                      (Some PluginGc) ]

/// Whether a record of any network is this lease's attachment.
let private accountsFor (records: Record list) (lease: Lease) =
    records
    |> List.exists (fun r ->
        r.Attachment.ContainerId = lease.ContainerId
        && (lease.IfName.IsNone || lease.IfName = Some r.Attachment.IfName))

/// Spartan leases that no record accounts for and no route of the agent leads to (a live
/// container of the original has its host route); host veths no record accounts for that
/// lead nowhere; dot-files older than any write.
let private leftovers (s: Snapshot) =
    let routed = s.HostRoutes |> List.map fst |> Set.ofList
    let devices = s.HostRoutes |> List.map snd |> Set.ofList

    let inUse (l: Lease) =
        accountsFor s.Records l || routed.Contains l.Address

    let ownedVeths =
        s.Records
        |> List.map (fun r -> Naming.hostVethName r.Attachment.ContainerId r.Attachment.IfName)
        |> Set.ofList

    [ for lease in s.Leases do
          if not (inUse lease) then
              let subject = $"{lease.Address} ({lease.File})"

              let meaning =
                  "a Spartan address leased to a container no attachment record accounts for and no route of this agent leads to: the original plugin's, or a crash's. It is never handed out again."

              // host-local's DEL releases every lease of that container and ifname
              let sharesOwner =
                  s.Leases
                  |> List.exists (fun other ->
                      other <> lease
                      && other.ContainerId = lease.ContainerId
                      && other.ReleaseIfName = lease.ReleaseIfName
                      && inUse other)

              if lease.ContainerId = "" || sharesOwner then
                  finding
                      "spartan-lease"
                      Warning
                      subject
                      (meaning
                       + " Its container holds another lease, or none is named: --fix leaves it.")
                      $"rm {lease.File}"
                      None
              else
                  finding
                      "spartan-lease"
                      Warning
                      $"{subject}, container {lease.ContainerId}"
                      meaning
                      "l4lbctl doctor CONFIG --fix"
                      (Some(ReleaseLease lease))
      for link in s.Links do
          if
              link.Kind = "veth"
              && isSpartanHostVeth link.Name
              && not (ownedVeths.Contains link.Name)
              && (not link.HasPeer || not (devices.Contains link.Name))
          then
              let why =
                  if link.HasPeer then
                      "no route leads to it"
                  else
                      "it has no peer"

              finding
                  "host-veth"
                  Warning
                  link.Name
                  $"a host end of a Spartan veth that no attachment record accounts for, and {why}: a crash's leftover."
                  $"ip link del {link.Name}"
                  (Some(DeleteHostVeth link.Name))
      for d in s.DotFiles do
          if d.Age > dotFileGrace then
              finding
                  "dot-file"
                  Warning
                  (IO.Path.Combine(d.Directory, d.Name))
                  $"a write cut short by a crash {int d.Age.TotalMinutes} minutes ago; readers skip it."
                  $"rm {IO.Path.Combine(d.Directory, d.Name)}"
                  (Some(RemoveDotFile d)) ]

/// Every finding, in the order an operator fixes them: what breaks ADD, then the agent,
/// then leftovers. `config` is the config's path, as the advice names it.
let findings (config: string) (s: Snapshot) : Finding list =
    let withConfig (f: Finding) =
        { f with
            Advice = f.Advice.Replace("CONFIG", config) }

    plugins s @ agent s @ minuteman s @ stale s config @ leftovers s
    |> List.map withConfig

/// A config the core refuses: each problem a finding.
let ofConfigErrors (errors: CniError list) : Finding list =
    [ for e in errors ->
          finding
              "config"
              Error
              e.Field
              $"{e.Message} (CNI code {e.Code}): every ADD of the network fails."
              (ConfigFile.hint e.Code)
              None ]

/// 0 healthy (notes only), 1 when something needs fixing.
let exitCode (found: Finding list) =
    if found |> List.exists (fun f -> f.Severity <> Note) then
        1
    else
        0

/// What --fix does, in order: the plugin's GC once (it takes its own locks), then each
/// repair of doctor's own.
let repairs (found: Finding list) : Repair list =
    let own = found |> List.choose _.Repair |> List.filter ((<>) PluginGc)

    if found |> List.exists (fun f -> f.Repair = Some PluginGc) then
        PluginGc :: own
    else
        own
