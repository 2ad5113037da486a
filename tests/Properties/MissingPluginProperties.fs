/// A plugin that is not in CNI_PATH: ADD and CHECK refuse before acting, DEL removes
/// what it can and reports it.
module Dcos.L4lb.Tests.MissingPluginProperties

open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb
open Dcos.L4lb.HostModel
open Dcos.L4lb.Tests.Generators
open Dcos.L4lb.Tests.Invocations

let private config = { FsCheckConfig.defaultConfig with maxTest = scaled 250 }
let private property name body = testPropertyWithConfig config name body

/// A config, the container, and the type of one plugin its ADD runs (delegate or
/// Spartan IPAM), which the host does not have.
type private Case =
    { Conf: NetConf
      Rt: Invocation
      Missing: string
      /// The name the step that finds it has.
      Probe: string }

let private case: Gen<Case> =
    gen {
        // a delegate of the IPAM plugin's type would be missing too, and found first
        let distinct (c: NetConf) = c.Delegate.IsNone || not c.Spartan.Enabled || Delegate.pluginType c <> c.Spartan.Network.IpamType
        let! conf = validConfig |> Gen.filter (fun c -> (c.Delegate.IsSome || c.Spartan.Enabled) && distinct c)
        let! id = cniName
        let! ifName = ifName |> Gen.filter (fun n -> n <> conf.Spartan.Network.Interface && n <> Naming.minutemanLink && n <> "lo")

        let plugins =
            [ if conf.Delegate.IsSome then
                  Delegate.pluginType conf, "delegate plugin"
              if conf.Spartan.Enabled then
                  conf.Spartan.Network.IpamType, "Spartan IPAM plugin" ]

        let! missing, probe = Gen.elements plugins

        return
            { Conf = conf
              Rt = addOf ("c" + id) ifName
              Missing = missing
              Probe = probe }
    }

let private missing (c: Case) (w: World) =
    { w with MissingPlugins = w.MissingPlugins.Add c.Missing }

let private ranPlugin (trace: Effect list) =
    trace
    |> List.exists (function
        | AwaitPlugin _
        | StartPlugin _ -> true
        | _ -> false)

/// Only the probes for plugins: no lock, no link looked at, nothing written.
let private onlyProbes (trace: Effect list) =
    trace
    |> List.forall (function
        | Change(FindPlugin _) -> true
        | _ -> false)

let tests =
    testList
        "a plugin missing from CNI_PATH"
        [ property "ADD: refused at the step that finds it, the host model unchanged, no plugin run, nothing locked"
          <| Prop.forAll (Arb.fromGen case) (fun c ->
              let w0 = initial |> addNetns c.Rt.Netns.Value |> missing c
              let w1, reply, trace = run w0 (start c.Conf c.Rt)
              let text = replyText reply

              (reply.ExitCode <> 0
               && w1 = w0
               && not (ranPlugin trace)
               && onlyProbes trace
               && text.Contains $"step {string (trace.Length)} ({c.Probe})"
               && text.Contains c.Missing)
              |> Prop.label text)

          property "CHECK: a missing delegate is the one problem, and no check or plugin runs"
          <| Prop.forAll (Arb.fromGen (case |> Gen.filter (fun c -> c.Conf.Delegate.IsSome && CniVersion.atLeast "0.4.0" c.Conf.CniVersion))) (fun c ->
              let c = { c with Missing = Delegate.pluginType c.Conf; Probe = "delegate plugin" }
              let w1, added, _ = run (initial |> addNetns c.Rt.Netns.Value) (start c.Conf c.Rt)
              let w1 = missing c w1
              let w2, reply, trace = run w1 (start c.Conf { c.Rt with Command = Check })
              let text = replyText reply

              (added.ExitCode = 0
               && reply.ExitCode <> 0
               && w2 = w1
               && trace.Length = 1
               && onlyProbes trace
               && text.Contains "CHECK step 1 (delegate plugin)")
              |> Prop.label text)

          property "DEL: every other step still runs, the missing plugin is reported, and the record stays for a later DEL"
          <| Prop.forAll (Arb.fromGen case) (fun c ->
              let w0 = initial |> addNetns c.Rt.Netns.Value
              let w1, added, _ = run w0 (start c.Conf c.Rt)
              let del = { c.Rt with Command = Del }
              let w2, reply, _ = run (missing c w1) (start c.Conf del)
              let text = replyText reply
              // with the plugin back, a second DEL finishes the job
              let w3, again, _ = run { w2 with MissingPlugins = Set.empty } (start c.Conf del)
              let ourLinks (w: World) = w.Namespaces.TryFind(ContainerNs c.Rt.Netns.Value) |> Option.map _.Links.Count
              let linksBefore = ourLinks w0

              (added.ExitCode = 0
               && reply.ExitCode <> 0
               && text.Contains c.Missing
               && not w2.Records.IsEmpty
               // this plugin's own links went; only what the missing delegate made can stay
               && (c.Probe <> "Spartan IPAM plugin" || ourLinks w2 = linksBefore)
               && again.ExitCode = 0
               && { w3 with Clock = 0L; Forwarding = false } = { w0 with Clock = 0L })
              |> Prop.label (text + Encoding.UTF8.GetString again.Stdout)) ]
