/// GC (CNI 1.1) on the pure host model: attachments the runtime no longer lists are
/// removed as DEL would remove them, the listed ones are never touched; Minuteman
/// checkpoints the original plugin left without a record go once nothing can use them.
module Dcos.L4lb.Tests.GcProperties

open System
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb
open Dcos.L4lb.HostModel
open Dcos.L4lb.Tests.Generators
open Dcos.L4lb.Tests.Invocations
open Dcos.L4lb.Tests.PropertyTest

/// One container of a GC scenario: attached by ADD; `Valid`: in the runtime's list;
/// `Gone`: its netns was deleted before the GC (the usual case for a stale one).
type Member =
    { Invocation: Invocation
      Valid: bool
      Gone: bool }

type GcScenario = { Conf: NetConf; Members: Member list }

let gcScenario: Gen<GcScenario> =
    gen {
        let! conf = validConfig
        let conf = { conf with CniVersion = "1.1.0" }
        let! ids = Gen.nonEmptyListOf cniName |> Gen.map (List.map ((+) "c") >> List.distinct >> List.truncate 5)
        let usable n = n <> conf.Spartan.Network.Interface && n <> Naming.minutemanLink && n <> "lo"
        let! ifNames = Gen.listOfLength ids.Length (ifName |> Gen.filter usable)
        let! valid = Gen.listOfLength ids.Length (Gen.elements [ true; false ])
        let! gone = Gen.listOfLength ids.Length (Gen.elements [ true; true; false ])

        let members =
            List.zip3 ids ifNames (List.zip valid gone)
            |> List.map (fun (id, ifName, (valid, gone)) ->
                { Invocation = Invocations.addOf id ifName
                  Valid = valid
                  // only a stale container's netns may be gone: the valid ones still run
                  Gone = gone && not valid })

        return { Conf = conf; Members = members }
    }

let invoke (conf: NetConf) (rt: Invocation) w = run w (start conf rt)

let attachment (m: Member) =
    { ContainerId = m.Invocation.ContainerId
      IfName = m.Invocation.IfName }

let gcInvocation =
    { Command = Gc
      ContainerId = ""
      Netns = None
      IfName = ""
      Args = []
      Path = [ "/opt/cni/bin" ] }

let gcConf (s: GcScenario) =
    { s.Conf with ValidAttachments = Some [ for m in s.Members do if m.Valid then attachment m ] }

/// Every member attached, and the stale ones' netns deleted where the scenario says so.
let attached (s: GcScenario) =
    let w =
        s.Members
        |> List.fold
            (fun w m ->
                let w, reply, _ = invoke s.Conf m.Invocation (addNetns m.Invocation.Netns.Value w)
                if reply.ExitCode <> 0 then failwith $"ADD failed: {replyText reply}"
                w)
            initial

    s.Members |> List.filter _.Gone |> List.fold (fun w m -> deleteNetns m.Invocation.Netns.Value w) w

let gcOn (s: GcScenario) w = invoke (gcConf s) gcInvocation w

/// The GC of this scenario, not yet started.
let gcProgram (s: GcScenario) = start (gcConf s) gcInvocation

let recordKey (conf: NetConf) (m: Member) =
    Naming.attachmentDirectory conf, Naming.attachmentName m.Invocation.ContainerId m.Invocation.IfName

/// Nothing of this member is left: record, Spartan lease, host veth, checkpoint (unless
/// another listed attachment has the same container), delegate attachment.
let removed (s: GcScenario) (w: World) (m: Member) =
    let rt = m.Invocation
    let leases = w.Ipam.TryFind s.Conf.Spartan.Network.Network |> Option.defaultValue Map.empty

    not (w.Records.ContainsKey(recordKey s.Conf m))
    && not (leases.ContainsKey(rt.ContainerId, rt.IfName))
    && not (w.Namespaces[HostNs].Links.ContainsKey(Naming.hostVethName rt.ContainerId rt.IfName))
    && not (w.Files.ContainsKey(s.Conf.Minuteman.Path, rt.ContainerId))
    && not (w.Attachments.Contains(s.Conf.Name, rt.ContainerId, rt.IfName))

let checks (s: GcScenario) w (m: Member) =
    let _, reply, _ = invoke s.Conf { m.Invocation with Command = Check } w
    reply.ExitCode = 0 && (w.Records.ContainsKey(recordKey s.Conf m))

/// This file's properties get 200 cases each.
let private property name body = propertyWith 200 name body

let gc =
    testList
        "GC on the model"
        [ property "GC removes every attachment not in the list, and every listed one still passes CHECK"
          <| Prop.forAll (Arb.fromGen gcScenario) (fun s ->
              let w, reply, _ = gcOn s (attached s)
              let stale, valid = s.Members |> List.partition (fun m -> not m.Valid)

              (reply.ExitCode = 0
               && stale |> List.forall (removed s w)
               && valid |> List.forall (checks s w))
              |> Prop.label (replyText reply))

          property "GC leaves the host as DEL of each stale attachment (without its netns) would"
          <| Prop.forAll (Arb.fromGen gcScenario) (fun s ->
              let w0 = attached s
              let collected, _, _ = gcOn s w0

              let deleted =
                  s.Members
                  |> List.filter (fun m -> not m.Valid)
                  |> List.fold (fun w m -> let w, _, _ = invoke s.Conf { m.Invocation with Command = Del; Netns = None } w in w) w0

              // the delegate's own GC forgets what DEL would have removed by running it
              collected = deleted)

          property "GC takes the stale attachments in record-name order, releasing each one's lock before it takes the next"
          <| Prop.forAll (Arb.fromGen gcScenario) (fun s ->
              let _, reply, trace = gcOn s (attached s)

              let locks =
                  trace
                  |> List.choose (function
                      | Change(TakeLock path) when path <> Naming.gcLockPath -> Some("take " + path)
                      | Change(ReleaseLock path) -> Some("release " + path)
                      | _ -> None)

              let expected =
                  s.Members
                  |> List.filter (fun m -> not m.Valid)
                  |> List.sortBy (fun m -> Naming.attachmentName m.Invocation.ContainerId m.Invocation.IfName)
                  |> List.collect (fun m ->
                      let path = Naming.lockPath m.Invocation.ContainerId m.Invocation.IfName
                      [ "take " + path; "release " + path ])

              (reply.ExitCode = 0 && locks = expected) |> Prop.label (System.String.Join("; ", locks)))

          property "a GC whose k-th effect fails reports \"GC step k (...)\" first"
          <| Prop.forAll (Arb.fromGen (Gen.zip gcScenario (Gen.choose (1, 1000)))) (fun (s, pick) ->
              let w0 = attached s
              let _, _, clean = gcOn s w0
              let k = 1 + pick % clean.Length

              let inject n effect =
                  match effect with
                  | _ when n <> k -> None
                  | AwaitPlugin _ -> Some(ExitWith { ExitCode = 1; Stdout = System.Text.Encoding.UTF8.GetBytes """{"code": 11, "msg": "injected"}""" })
                  | _ -> Some(FailWith { Kind = OtherFailure; Message = "injected" })

              let _, reply, _ = runWith inject w0 (gcProgram s)

              match Json.parse (System.ReadOnlyMemory reply.Stdout) |> Result.map (Json.tryField "msg") with
              | Ok(Some(Json.String msg)) -> msg.StartsWith $"GC step {k} (" |> Prop.label $"k={k}: {msg}"
              | other -> false |> Prop.label $"k={k} of {clean.Length}: {other}")

          testCase "a stale attachment of a container that has another, listed attachment leaves the container's checkpoint" <| fun () ->
              let conf =
                  match NetConf.parse (System.ReadOnlyMemory(System.Text.Encoding.UTF8.GetBytes """{"cniVersion": "1.1.0", "name": "gcnet", "type": "dcos-l4lb", "delegate": {"type": "bridge"}}""")) with
                  | Ok c -> c
                  | Error e -> failwith (e.Head.Describe())

              let at ifName netns = { gcInvocation with Command = Add; ContainerId = "web"; IfName = ifName; Netns = Some netns; Path = [ "/opt/cni/bin" ] }
              let stale, kept = at "eth1" "/run/netns/old", at "eth2" "/run/netns/new"
              let w = initial |> addNetns "/run/netns/old" |> addNetns "/run/netns/new"
              let w, first, _ = invoke conf stale w
              let w, second, _ = invoke conf kept w
              Expect.equal (first.ExitCode, second.ExitCode) (0, 0) (replyText first + replyText second)
              let listed = { conf with ValidAttachments = Some [ { ContainerId = "web"; IfName = "eth2" } ] }
              let w, reply, _ = invoke listed gcInvocation w
              Expect.equal reply.ExitCode 0 (replyText reply)
              Expect.equal (w.Files.TryFind(conf.Minuteman.Path, "web")) (Some "/run/netns/new") "the listed attachment's checkpoint stays"
              Expect.isFalse (w.Records.ContainsKey(Naming.attachmentDirectory conf, "web@eth1")) "the stale attachment's record went"

          property "ADD (once its plugins are found), DEL and GC's attachment removals take the attachment's lock before anything else"
          <| Prop.forAll (Arb.fromGen gcScenario) (fun s ->
              let m = s.Members.Head
              let lock = Change(TakeLock(Naming.lockPath m.Invocation.ContainerId m.Invocation.IfName))
              let _, _, added = invoke s.Conf m.Invocation (addNetns m.Invocation.Netns.Value initial)
              let added = added |> List.filter (function Change(FindPlugin _) -> false | _ -> true)
              let w = attached s
              let _, _, deleted = invoke s.Conf { m.Invocation with Command = Del } w
              List.tryHead added = Some lock && List.tryHead deleted = Some lock)

          property "GC twice: the second finds nothing to do"
          <| Prop.forAll (Arb.fromGen gcScenario) (fun s ->
              let w1, first, _ = gcOn s (attached s)
              let w2, second, _ = gcOn s w1
              first.ExitCode = 0 && second.ExitCode = 0 && w2 = w1)

          property "GC with every attachment listed changes nothing"
          <| Prop.forAll (Arb.fromGen gcScenario) (fun s ->
              let s = { s with Members = s.Members |> List.map (fun m -> { m with Valid = true; Gone = false }) }
              let w0 = attached s
              let w1, reply, _ = gcOn s w0
              reply.ExitCode = 0 && w1 = w0)

          property "an attachment added again after GC listed it (its record rewritten) is left alone"
          <| Prop.forAll (Arb.fromGen gcScenario) (fun s ->
              let stale = s.Members |> List.filter (fun m -> not m.Valid)

              if stale.IsEmpty then
                  true |> Prop.label "nothing stale"
              else
                 (let target = stale.Head
                  let key = recordKey s.Conf target

                  // the runtime re-adds the container between GC's listing and its look under
                  // the lock: in the model, the record is rewritten just before that look
                  let rewrite effect (w: World) =
                      match effect with
                      | ReadFile(AttachmentRecord, dir, name) when (dir, name) = key -> fst (change w (WriteRecord(dir, name, w.Records[key].Content)))
                      | _ -> w

                  let w, reply = runInterleaved rewrite (attached s) (gcProgram s)

                  let leases = w.Ipam.TryFind s.Conf.Spartan.Network.Network |> Option.defaultValue Map.empty

                  (reply.ExitCode = 0
                   && w.Records.ContainsKey key
                   && (not s.Conf.Spartan.Enabled || leases.ContainsKey(target.Invocation.ContainerId, target.Invocation.IfName))
                   && stale.Tail |> List.forall (removed s w))
                  |> Prop.label (replyText reply)))

          property "a removal that fails is reported, the other stale attachments still go, and its record stays for the next GC"
          <| Prop.forAll (Arb.fromGen (gcScenario |> Gen.filter (fun s -> s.Conf.Spartan.Enabled && s.Members |> List.exists (fun m -> not m.Valid)))) (fun s ->
              let target = s.Members |> List.find (fun m -> not m.Valid)
              let key = recordKey s.Conf target

              // the Spartan IPAM DEL of that attachment fails
              let inject _ effect =
                  match effect with
                  | AwaitPlugin p when p.Call.Command = "DEL" && p.Call.Environment |> Array.contains (Collections.Generic.KeyValuePair("CNI_CONTAINERID", target.Invocation.ContainerId)) ->
                      Some(exitWith """{"code": 11, "msg": "disk on fire"}""")
                  | _ -> None

              let w, reply, _ = runWith inject (attached s) (gcProgram s)
              let text = replyText reply
              let others = s.Members |> List.filter (fun m -> not m.Valid && m <> target)

              (reply.ExitCode <> 0
               && text.Contains "disk on fire"
               && text.Contains(snd key)
               && w.Records.ContainsKey key
               && others |> List.forall (removed s w))
              |> Prop.label text)

          property "the delegate gets GC with the same list"
          <| Prop.forAll (Arb.fromGen (gcScenario |> Gen.filter (fun s -> s.Conf.Delegate.IsSome))) (fun s ->
              let _, _, trace = gcOn s (attached s)

              let given =
                  trace
                  |> List.tryPick (function
                      | AwaitPlugin p when p.Call.Command = "GC" -> Json.tryField NetConf.validAttachmentsKey p.Call.Config
                      | _ -> None)

              given = Some(NetConf.attachmentsJson (gcConf s).ValidAttachments.Value))

          property "an attachment whose lock cannot be taken is left alone and reported; the others still go"
          <| Prop.forAll (Arb.fromGen (gcScenario |> Gen.filter (fun s -> s.Members |> List.exists (fun m -> not m.Valid)))) (fun s ->
              // GC visits records in name order: the first stale one is the first to ask for
              // its lock file
              let target =
                  s.Members
                  |> List.filter (fun m -> not m.Valid)
                  |> List.minBy (fun m -> Naming.attachmentName m.Invocation.ContainerId m.Invocation.IfName)

              let targetLock = Naming.lockPath target.Invocation.ContainerId target.Invocation.IfName
              let w0 = attached s

              // the first attempt at that lock file fails
              let mutable failedOnce = false

              let inject _ effect =
                  match effect with
                  | Change(TakeLock path) when path = targetLock && not failedOnce ->
                      failedOnce <- true
                      Some(FailWith { Kind = Io; Message = "no locks today" })
                  | _ -> None

              let w, reply, _ = runWith inject w0 (gcProgram s)
              let text = replyText reply
              let key = recordKey s.Conf target

              (reply.ExitCode <> 0
               && text.Contains "no locks today"
               && w.Records.ContainsKey key
               && w.Records[key] = w0.Records[key]
               && (not s.Conf.Spartan.Enabled
                   || (w.Ipam[s.Conf.Spartan.Network.Network]).ContainsKey(target.Invocation.ContainerId, target.Invocation.IfName)))
              |> Prop.label text)

          property "without the GC lock, GC removes nothing and says why"
          <| Prop.forAll (Arb.fromGen gcScenario) (fun s ->
              let w0 = attached s
              let inject _ effect = match effect with Change(TakeLock path) when path = Naming.gcLockPath -> Some(FailWith { Kind = Io; Message = "no locks today" }) | _ -> None
              let w, reply, trace = runWith inject w0 (gcProgram s)
              (reply.ExitCode <> 0 && w = w0 && trace.Length = 1) |> Prop.label (replyText reply))

          property "a delegate from before CNI 1.1 is asked its VERSION, never GC"
          // (a delegate of the IPAM plugin's type would be asked its VERSION by the IPAM DEL's
          // negotiation too)
          <| Prop.forAll (Arb.fromGen (gcScenario |> Gen.filter (fun s -> s.Conf.Delegate.IsSome && Delegate.pluginType s.Conf <> s.Conf.Spartan.Network.IpamType))) (fun s ->
              let w0 = { attached s with PluginVersions = Map [ Delegate.pluginType s.Conf, [ "0.4.0"; "1.0.0" ] ] }
              let _, reply, trace = gcOn s w0
              let commands = trace |> List.choose (function AwaitPlugin p when p.Call.Type = Delegate.pluginType s.Conf && (Json.tryField "ipam" p.Call.Config).IsNone -> Some p.Call.Command | _ -> None)
              (reply.ExitCode = 0 && commands = [ "VERSION" ]) |> Prop.label (replyText reply))

          testCase "GC without cni.dev/valid-attachments is refused (code 7), never read as an empty list" <| fun () ->
              let s = (Gen.sample 1 gcScenario)[0]

              match Core.command gcInvocation { s.Conf with ValidAttachments = None } with
              | Error e -> Expect.equal (e.Code, e.Field) (7, "$[\"cni.dev/valid-attachments\"]") "error"
              | Ok _ -> failtest "GC runs"

          testCase "GC needs a 1.1.0 config: code 1" <| fun () ->
              let s = (Gen.sample 1 gcScenario)[0]

              match Core.command gcInvocation { (gcConf s) with CniVersion = "1.0.0" } with
              | Error e -> Expect.equal e.Code 1 "code"
              | Ok _ -> failtest "GC runs"

          property "an ADD that fails at any step leaves no attachment record"
          <| Prop.forAll (Arb.fromGen (Gen.zip gcScenario (Gen.choose (1, 40)))) (fun (s, k) ->
              let m = s.Members.Head
              let w0 = addNetns m.Invocation.Netns.Value initial
              let inject n _ = if n = k then Some(failure "injected") else None
              let w, reply, _ = runWith inject w0 (start s.Conf m.Invocation)
              (reply.ExitCode = 0 || w.Records.IsEmpty) |> Prop.label (replyText reply)) ]
