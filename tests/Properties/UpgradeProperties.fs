/// Attachments made by the original Go plugin, on the pure host model: what this plugin's
/// CHECK, DEL and GC do with them after an upgrade. The original's footprint is this
/// plugin's with two differences: the host end of the Spartan veth is named `veth` and 8
/// random hex digits (CNI's ip.RandomVethName), and there is no attachment record.
module Dcos.L4lb.Tests.UpgradeProperties

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

type private Upgrade =
    {
        Conf: NetConf
        Container: Invocation
        /// The original's name for the host end: "veth" + 8 hex digits.
        HostVeth: string
    }

/// A config the original could have attached with (a delegate, Spartan on), at a version
/// with CHECK; a container; the random host veth name.
let private upgrade (versions: string list) : Gen<Upgrade> =
    gen {
        let! conf = validConfig |> Gen.filter (fun c -> c.Delegate.IsSome && c.Spartan.Enabled)
        let! version = Gen.elements versions
        let! id = cniName

        let usable n =
            n <> conf.Spartan.Network.Interface && n <> Naming.minutemanLink && n <> "lo"

        let! ifName = ifName |> Gen.filter usable
        let! high, low = Gen.zip (Gen.choose (0, 0xFFFF)) (Gen.choose (0, 0xFFFF))

        return
            { Conf =
                { conf with
                    CniVersion = version
                    PrevResult = None
                    ValidAttachments = None }
              Container =
                { Command = Add
                  ContainerId = "c" + id
                  Netns = Some $"/run/netns/c{id}"
                  IfName = ifName
                  Args = []
                  Path = [ "/opt/cni/bin" ] }
              HostVeth = $"veth{high:x4}{low:x4}" }
    }

let private invoke (conf: NetConf) (rt: Invocation) (command: Command) w =
    run w (start conf { rt with Command = command })

let private before (u: Upgrade) w = addNetns u.Container.Netns.Value w

/// The original's attachment of the container: made as this plugin makes it, then the
/// host veth renamed and the record forgotten. Returns the world and ADD's output (the
/// delegate's result, which the runtime keeps for CHECK and DEL).
let private attachedByOriginal (u: Upgrade) (w0: World) =
    let w, reply, _ = invoke u.Conf u.Container Add w0

    if reply.ExitCode <> 0 then
        failwith $"ADD failed: {replyText reply}"

    let derived = Naming.hostVethName u.Container.ContainerId u.Container.IfName
    let directory = Naming.attachmentDirectory u.Conf

    let w =
        { renameLink HostNs derived u.HostVeth w with
            Records = w.Records |> Map.filter (fun (dir, _) _ -> dir <> directory) }

    w, Json.parse (ReadOnlyMemory reply.Stdout) |> Result.toOption

let private settled (w: World) =
    { w with Forwarding = true; Clock = 0L }

/// This file's properties get 200 cases each.
let private property name body = propertyWith 200 name body

let upgrades =
    testList
        "attachments of the original plugin"
        [ property
              "one with the original's footprint (random host veth name, no record) passes CHECK, and DEL restores the host"
          <| Prop.forAll (Arb.fromGen (upgrade [ "0.4.0"; "1.0.0"; "1.1.0" ])) (fun u ->
              let w0 = before u initial
              let w1, result = attachedByOriginal u w0
              let conf = { u.Conf with PrevResult = result }
              let w2, checkedOk, _ = invoke conf u.Container Check w1
              let w3, deleted, _ = invoke conf u.Container Del w1

              (checkedOk.ExitCode = 0
               && w2 = w1
               && deleted.ExitCode = 0
               && settled w3 = settled w0)
              |> Prop.label (replyText checkedOk + replyText deleted))

          property (
              "GC does not know one: with its netns it is untouched; with the netns gone (the veth with it) only an orphaned "
              + "checkpoint goes, the Spartan lease stays; the runtime's DEL then restores the host"
          )
          <| Prop.forAll (Arb.fromGen (upgrade [ "1.1.0" ])) (fun u ->
              // the reference plugins stop at 1.0.0: the delegate gets no GC of its own
              let reference = [ "0.1.0"; "0.2.0"; "0.3.0"; "0.3.1"; "0.4.0"; "1.0.0" ]

              let w0 =
                  before
                      u
                      { initial with
                          PluginVersions = Map [ Delegate.pluginType u.Conf, reference ] }

              let w1, result = attachedByOriginal u w0

              let gcConf =
                  { u.Conf with
                      ValidAttachments = Some [] }

              let gcRuntime =
                  { u.Container with
                      ContainerId = ""
                      Netns = None
                      IfName = "" }

              let netns = u.Container.Netns.Value
              let checkpoint = u.Conf.Minuteman.Path, u.Container.ContainerId
              let lease = u.Container.ContainerId, u.Container.IfName

              let wKept, kept, _ = invoke gcConf gcRuntime Gc w1
              let wGone = deleteNetns netns w1
              let wSwept, swept, _ = invoke gcConf gcRuntime Gc wGone

              let wDeleted, deleted, _ =
                  invoke { u.Conf with PrevResult = result } u.Container Del wSwept

              let hostVethGone = not (wGone.Namespaces[HostNs].Links.ContainsKey u.HostVeth)
              let leaseKept = wSwept.Ipam[u.Conf.Spartan.Network.Network].ContainsKey lease

              (kept.ExitCode = 0
               && wKept = w1
               && hostVethGone
               && swept.ExitCode = 0
               && wSwept = { wGone with
                               Files = wGone.Files.Remove checkpoint }
               && leaseKept
               && deleted.ExitCode = 0
               && settled wDeleted = settled (deleteNetns netns w0))
              |> Prop.label (replyText kept + replyText swept + replyText deleted)) ]
