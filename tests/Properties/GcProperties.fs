/// GC (CNI 1.1) on the pure host model: attachments the runtime no longer lists are
/// removed as DEL would remove them, the listed ones are never touched.
module Dcos.L4lb.Tests.GcProperties

open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb
open Dcos.L4lb.Tests.Generators
open Dcos.L4lb.Tests.HostModel

let private config = { FsCheckConfig.defaultConfig with maxTest = scaled 200 }
let private property name body = testPropertyWithConfig config name body

let private replyText (r: Reply) = Encoding.UTF8.GetString r.Stdout

/// One container of a GC scenario: attached by ADD; `Valid`: in the runtime's list;
/// `Gone`: its netns was deleted before the GC (the usual case for a stale one).
type Member =
    { Runtime: Runtime
      Valid: bool
      Gone: bool }

type GcScenario = { Conf: NetConf; Members: Member list }

let private gcScenario: Gen<GcScenario> =
    gen {
        let! conf = validConfig
        let conf = { conf with CniVersion = "1.1.0" }
        let! ids = Gen.nonEmptyListOf cniName |> Gen.map (List.map ((+) "c") >> List.distinct >> List.truncate 5)
        let usable n = n <> conf.Spartan.Network.Interface && n <> Plans.minutemanLink && n <> "lo"
        let! ifNames = Gen.listOfLength ids.Length (ifName |> Gen.filter usable)
        let! valid = Gen.listOfLength ids.Length (Gen.elements [ true; false ])
        let! gone = Gen.listOfLength ids.Length (Gen.elements [ true; true; false ])

        let members =
            List.zip3 ids ifNames (List.zip valid gone)
            |> List.map (fun (id, ifName, (valid, gone)) ->
                { Runtime =
                    { Command = Add
                      ContainerId = id
                      Netns = Some $"/run/netns/{id}"
                      IfName = ifName
                      Args = []
                      Path = [ "/opt/cni/bin" ] }
                  Valid = valid
                  // only a stale container's netns may be gone: the valid ones still run
                  Gone = gone && not valid })

        return { Conf = conf; Members = members }
    }

let private invoke (conf: NetConf) (rt: Runtime) w =
    match Plugin.plan rt conf with
    | Ok plan -> run w (Machine.start plan)
    | Error e -> failwith (e.Describe())

let private attachment (m: Member) =
    { ContainerId = m.Runtime.ContainerId
      IfName = m.Runtime.IfName }

let private gcRuntime =
    { Command = Gc
      ContainerId = ""
      Netns = None
      IfName = ""
      Args = []
      Path = [ "/opt/cni/bin" ] }

let private gcConf (s: GcScenario) =
    { s.Conf with ValidAttachments = Some [ for m in s.Members do if m.Valid then attachment m ] }

/// Every member attached, and the stale ones' netns deleted where the scenario says so.
let private attached (s: GcScenario) =
    let w =
        s.Members
        |> List.fold
            (fun w m ->
                let w, reply, _ = invoke s.Conf m.Runtime (addNetns m.Runtime.Netns.Value w)
                if reply.ExitCode <> 0 then failwith $"ADD failed: {replyText reply}"
                w)
            initial

    s.Members |> List.filter _.Gone |> List.fold (fun w m -> deleteNetns m.Runtime.Netns.Value w) w

let private gcOn (s: GcScenario) w = invoke (gcConf s) gcRuntime w

let private recordKey (conf: NetConf) (m: Member) =
    Plans.attachmentDirectory conf, Plans.attachmentName m.Runtime.ContainerId m.Runtime.IfName

/// Nothing of this member is left: record, Spartan lease, host veth, checkpoint (unless
/// another listed attachment has the same container), delegate attachment.
let private removed (s: GcScenario) (w: World) (m: Member) =
    let rt = m.Runtime
    let leases = w.Ipam.TryFind s.Conf.Spartan.Network.Network |> Option.defaultValue Map.empty

    not (w.Records.ContainsKey(recordKey s.Conf m))
    && not (leases.ContainsKey(rt.ContainerId, rt.IfName))
    && not (w.Namespaces[HostNs].Links.ContainsKey(Plans.hostVethName rt.ContainerId rt.IfName))
    && not (w.Files.ContainsKey(s.Conf.Minuteman.Path, rt.ContainerId))
    && not (w.Attachments.Contains(s.Conf.Name, rt.ContainerId, rt.IfName))

let private checks (s: GcScenario) w (m: Member) =
    let _, reply, _ = invoke s.Conf { m.Runtime with Command = Check } w
    reply.ExitCode = 0 && (w.Records.ContainsKey(recordKey s.Conf m))

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
                  |> List.fold (fun w m -> let w, _, _ = invoke s.Conf { m.Runtime with Command = Del; Netns = None } w in w) w0

              // the delegate's own GC forgets what DEL would have removed by running it
              collected = deleted)

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
                  let rec loop w next =
                      match next with
                      | Finish reply -> w, reply
                      | Perform(ReadAttachment(dir, name) as effect, state) when (dir, name) = key ->
                          let w, _ = perform w (WriteAttachment(dir, name, w.Records[key].Content))
                          let w, outcome = perform w effect
                          loop w (Plugin.advance state outcome)
                      | Perform(effect, state) ->
                          let w, outcome = perform w effect
                          loop w (Plugin.advance state outcome)

                  let w0 = attached s

                  let w, reply =
                      match Plugin.plan gcRuntime (gcConf s) with
                      | Ok plan -> loop w0 (Machine.start plan)
                      | Error e -> failwith (e.Describe())

                  let leases = w.Ipam.TryFind s.Conf.Spartan.Network.Network |> Option.defaultValue Map.empty

                  (reply.ExitCode = 0
                   && w.Records.ContainsKey key
                   && (not s.Conf.Spartan.Enabled || leases.ContainsKey(target.Runtime.ContainerId, target.Runtime.IfName))
                   && stale.Tail |> List.forall (removed s w))
                  |> Prop.label (replyText reply)))

          property "a removal that fails is reported, the other stale attachments still go, and its record stays for the next GC"
          <| Prop.forAll (Arb.fromGen (gcScenario |> Gen.filter (fun s -> s.Conf.Spartan.Enabled && s.Members |> List.exists (fun m -> not m.Valid)))) (fun s ->
              let target = s.Members |> List.find (fun m -> not m.Valid)
              let key = recordKey s.Conf target

              // the Spartan IPAM DEL of that attachment fails
              let inject _ effect =
                  match effect with
                  | RunPlugin c when c.Command = "DEL" && c.Environment |> List.contains ("CNI_CONTAINERID", target.Runtime.ContainerId) ->
                      Some(PluginExited(1, Encoding.UTF8.GetBytes """{"code": 11, "msg": "disk on fire"}"""))
                  | _ -> None

              let w, reply, _ = runWith inject (attached s) (match Plugin.plan gcRuntime (gcConf s) with Ok p -> Machine.start p | Error e -> failwith (e.Describe()))
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
                      | RunPlugin c when c.Command = "GC" -> Json.tryField NetConf.validAttachmentsKey c.Config
                      | _ -> None)

              given = Some(NetConf.attachmentsJson (gcConf s).ValidAttachments.Value))

          property "an attachment whose lock cannot be taken is left alone and reported; the others still go"
          <| Prop.forAll (Arb.fromGen (gcScenario |> Gen.filter (fun s -> s.Members |> List.exists (fun m -> not m.Valid)))) (fun s ->
              // GC visits records in name order: the first stale one is the first to ask for
              // its lock file
              let target =
                  s.Members
                  |> List.filter (fun m -> not m.Valid)
                  |> List.minBy (fun m -> Plans.attachmentName m.Runtime.ContainerId m.Runtime.IfName)

              let targetLock = Plans.lockPath target.Runtime.ContainerId target.Runtime.IfName
              let w0 = attached s
              let plan = match Plugin.plan gcRuntime (gcConf s) with Ok p -> p | Error e -> failwith (e.Describe())

              // the first attempt at that lock file fails
              let mutable failedOnce = false

              let inject _ effect =
                  match effect with
                  | TakeLock path when path = targetLock && not failedOnce ->
                      failedOnce <- true
                      Some(Outcome.failed Io "no locks today")
                  | _ -> None

              let w, reply, _ = runWith inject w0 (Machine.start plan)
              let text = replyText reply
              let key = recordKey s.Conf target

              (reply.ExitCode <> 0
               && text.Contains "no locks today"
               && w.Records.ContainsKey key
               && w.Records[key] = w0.Records[key]
               && (not s.Conf.Spartan.Enabled
                   || (w.Ipam[s.Conf.Spartan.Network.Network]).ContainsKey(target.Runtime.ContainerId, target.Runtime.IfName)))
              |> Prop.label text)

          property "without the GC lock, GC removes nothing and says why"
          <| Prop.forAll (Arb.fromGen gcScenario) (fun s ->
              let w0 = attached s
              let plan = match Plugin.plan gcRuntime (gcConf s) with Ok p -> p | Error e -> failwith (e.Describe())
              let inject _ effect = match effect with TakeLock path when path = Plans.gcLockPath -> Some(Outcome.failed Io "no locks today") | _ -> None
              let w, reply, trace = runWith inject w0 (Machine.start plan)
              (reply.ExitCode <> 0 && w = w0 && trace.Length = 1) |> Prop.label (replyText reply))

          property "a delegate from before CNI 1.1 is asked its VERSION, never GC"
          <| Prop.forAll (Arb.fromGen (gcScenario |> Gen.filter (fun s -> s.Conf.Delegate.IsSome))) (fun s ->
              let w0 = { attached s with PluginVersions = Map [ Delegate.pluginType s.Conf, [ "0.4.0"; "1.0.0" ] ] }
              let _, reply, trace = gcOn s w0
              let commands = trace |> List.choose (function RunPlugin c when c.Type = Delegate.pluginType s.Conf && (Json.tryField "ipam" c.Config).IsNone -> Some c.Command | _ -> None)
              (reply.ExitCode = 0 && commands = [ "VERSION" ]) |> Prop.label (replyText reply))

          testCase "GC without cni.dev/valid-attachments is refused (code 7), never read as an empty list" <| fun () ->
              let s = (Gen.sample 1 gcScenario)[0]

              match Plugin.plan gcRuntime { s.Conf with ValidAttachments = None } with
              | Error e -> Expect.equal (e.Code, e.Field) (7, "$[\"cni.dev/valid-attachments\"]") "error"
              | Ok _ -> failtest "planned"

          testCase "GC needs a 1.1.0 config: code 1" <| fun () ->
              let s = (Gen.sample 1 gcScenario)[0]

              match Plugin.plan gcRuntime { (gcConf s) with CniVersion = "1.0.0" } with
              | Error e -> Expect.equal e.Code 1 "code"
              | Ok _ -> failtest "planned"

          property "an ADD that fails at any step leaves no attachment record"
          <| Prop.forAll (Arb.fromGen (Gen.zip gcScenario (Gen.choose (1, 40)))) (fun (s, k) ->
              let m = s.Members.Head
              let w0 = addNetns m.Runtime.Netns.Value initial
              let inject n _ = if n = k then Some(Outcome.failed OtherFailure "injected") else None
              let w, reply, _ = runWith inject w0 (match Plugin.plan m.Runtime s.Conf with Ok p -> Machine.start p | Error e -> failwith (e.Describe()))
              (reply.ExitCode = 0 || w.Records.IsEmpty) |> Prop.label (replyText reply)) ]
