/// The plan of ADD as the tests expect it, and the checks every suite shares: the error
/// names the step, an attachment is complete, and nothing is left behind.
module Dcos.L4lb.Tests.Reliability.Expectations

open System
open System.IO
open System.Text.RegularExpressions
open Expecto
open Dcos.L4lb.Tests

/// What decides the steps of ADD (Plans.add).
type Shape =
    { Delegate: string
      Ipam: string
      Minuteman: bool
      Services: string list }

let shape =
    { Delegate = "bridge"
      Ipam = "host-local"
      Minuteman = false
      Services = Spartan.serviceAddresses }

/// ADD's steps in order, by the names errors give them, each with the effect the plugin's
/// effect log shows for it (a regular expression).
let addPlan (s: Shape) : (string * string) list =
    let netns = "/run/netns/\\S+"
    let hv = "spt[0-9a-f]{12}"
    let ip = "198\\.51\\.100\\.\\d+"

    [ "delegate plugin", $"find plugin {Regex.Escape s.Delegate} in \\S+"
      "Spartan IPAM plugin", $"find plugin {Regex.Escape s.Ipam} in \\S+"
      "lock", "lock /var/lib/cni/dcos-l4lb/lock\\.\\d+"
      "not yet attached (Spartan link)", $"inspect link spartan in {netns}"
      "not yet attached (host veth)", $"inspect link {hv} in the host"
      if s.Minuteman then
          "not yet attached (Minuteman link)", $"inspect link minuteman in {netns}"
      "attachment record", "record attachment /var/lib/cni/dcos-l4lb/attachments/\\S+"
      "IPv4 forwarding", "enable IPv4 forwarding"
      $"delegate {s.Delegate} ADD", $"run {Regex.Escape s.Delegate} ADD"
      $"Spartan IPAM {s.Ipam} ADD", $"run {Regex.Escape s.Ipam} ADD"
      "Spartan veth", $"create veth spartan in {netns} with peer {hv} on the host"
      "Spartan address", $"add address {ip}/32 to spartan in {netns}"
      "Spartan link up", $"set spartan up in {netns}"
      "host veth up", $"set {hv} up in the host"
      for service in s.Services do
          $"route to Spartan {service}",
          $"add route {Regex.Escape service}/32 dev spartan scope link src {ip} in {netns}"
      "host route to the Spartan address", $"add route {ip}/32 dev {hv} scope link in the host"
      if s.Minuteman then
          "Minuteman link", $"create dummy link minuteman in {netns}"
          "Minuteman link up", $"set minuteman up in {netns}"
          "Minuteman checkpoint", "write checkpoint \\S+" ]

let addSteps (s: Shape) = addPlan s |> List.map fst

/// ADD's steps in the order its effect log has them: each line is written as its step
/// completes, and the delegate's at its await, after the Spartan and Minuteman lane that
/// ran while the delegate did.
let logOrder (s: Shape) : (string * string) list =
    let plan = addPlan s

    let delegateAt =
        plan |> List.findIndex (fun (name, _) -> name = $"delegate {s.Delegate} ADD")

    List.take delegateAt plan
    @ List.skip (delegateAt + 1) plan
    @ [ plan[delegateAt] ]

/// The step of ADD an effect log line stands for, by its pattern.
let stepOfLine (s: Shape) (line: string) : string option =
    addPlan s
    |> List.tryFind (fun (_, pattern) -> Regex.IsMatch(line, "^" + pattern + " -> "))
    |> Option.map fst

/// The 1-based number of the named step of ADD.
let stepNumber (s: Shape) (name: string) =
    match addSteps s |> List.tryFindIndex ((=) name) with
    | Some i -> i + 1
    | None -> failwith $"no step \"{name}\" in the expected plan {addSteps s}"

let expectOk = AgentScenes.expectOk

/// The ADD failed, and its error reply's msg begins "ADD step k (<name>): failed" and
/// says that the steps before it were undone; `mentions` appear in msg or details.
let expectFailedAt (s: Shape) (name: string) (mentions: string list) (o: Command.Outcome) : L4lbInAgent.ErrorReply =
    Expect.notEqual o.ExitCode 0 $"ADD must fail: {L4lb.describe o}"
    let reply = L4lbInAgent.error o
    let k = stepNumber s name
    Expect.stringStarts reply.Msg $"ADD step {k} ({name}): failed" $"the error names step {k}: {L4lb.describe o}"

    Expect.isTrue
        (reply.Msg.Contains "the steps before it were undone")
        $"the error says the earlier steps were undone (and none of the undos failed): {reply.Msg} / {reply.Details}"

    for m in mentions do
        Expect.isTrue
            (reply.Msg.Contains m || reply.Details.Contains m)
            $"the error mentions \"{m}\": {L4lb.describe o}"

    reply

/// Nothing changed between the two states.
let expectUnchanged (what: string) (before: State) (after: State) =
    match after.Diff before with
    | [] -> ()
    | diff ->
        failtest
            $"""{what}: left behind or changed:{Environment.NewLine}  {String.Join(Environment.NewLine + "  ", diff)}"""

/// No IPAM allocation of this container in either network.
let expectNoAllocation (scene: Scene) (c: Container) =
    Expect.equal (scene.AllocationOf Spartan.ipamNetwork c.Id) [] $"Spartan IPAM allocations of {c.Id}"
    Expect.equal (scene.AllocationOf Delegate.network c.Id) [] $"delegate IPAM allocations of {c.Id}"

/// Every artefact of one complete attachment among many: the Spartan side
/// (Attachment.expectSpartanOf), eth0 on the delegate's bridge with the delegate's address,
/// held by this container. Returns the Spartan address.
let expectAttachedIn (view: Attachment.AgentView) (c: Container) : string =
    let address = Attachment.expectSpartanOf view c

    let eth0 =
        match Kernel.addresses c.Netns "eth0" with
        | [ a, 16 ] -> a
        | other -> failtest $"{c.Id}: eth0 holds {other}"

    Expect.equal (Attachment.heldBy view.Delegate c.Id) [ eth0 ] $"{c.Id}: the delegate's IPAM allocation"
    let peer = (Kernel.links c.Netns |> List.find (fun l -> l.Name = "eth0")).Peer

    let ports =
        view.Links
        |> List.filter (fun l -> l.Master = Some Delegate.bridge && Some l.Index = peer)

    Expect.equal ports.Length 1 $"{c.Id}: eth0's peer is a port of {Delegate.bridge}"
    address

let expectAttached (scene: Scene) (c: Container) : string =
    expectAttachedIn (Attachment.agentView scene) c

/// The effect log the plugin writes when DCOS_L4LB_LOG_FILE is set, each line with the
/// time it was written: one line per effect ("<effect> -> <outcome> (<ms>)"), then "done"
/// or "failed: ...".
let timedEffectLog (file: string) : (DateTime * string) list =
    if File.Exists file then
        [ for line in File.ReadAllLines file do
              let i = line.IndexOf ": "

              if i >= 0 then
                  let time = line.Substring(0, line.IndexOf ' ')
                  DateTime.Parse(time, null, Globalization.DateTimeStyles.RoundtripKind), line.Substring(i + 2) ]
    else
        []

let effectLog (file: string) : string list = timedEffectLog file |> List.map snd
