/// The delegate runs beside the Spartan attachment and the Minuteman registration: every
/// point at which it can finish, with a failure at any step of either lane.
module Dcos.L4lb.Tests.LaneProperties

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

let private invocation command (id: string) (ifName: string) = { Invocations.addOf id ifName with Command = command }

type LaneCase =
    { Conf: NetConf
      Add: Invocation
      /// The delegate finishes just before this effect (or when awaited).
      FinishAt: int
      /// The 1-based step of the command that fails; 0: none.
      Failing: int }

/// A config with a delegate (so there are two lanes) and one container.
let private laneCase (steps: NetConf -> Invocation -> Planned list) : Gen<LaneCase> =
    gen {
        let! conf = validConfig |> Gen.filter (fun c -> c.Delegate.IsSome && not (c.Spartan.Enabled && c.Spartan.Network.IpamType = Delegate.pluginType c))
        let! id = cniName
        let! ifName = ifName |> Gen.filter (fun n -> n <> conf.Spartan.Network.Interface && n <> Naming.minutemanLink && n <> "lo")
        let add = invocation Add ("c" + id) ifName
        let count = (steps conf add).Length
        let! finishAt = Gen.choose (1, count + 8)
        let! failing = Gen.frequency [ 1, Gen.constant 0; 4, Gen.choose (1, count) ]
        return { Conf = conf; Add = add; FinishAt = finishAt; Failing = failing }
    }

let private before (c: LaneCase) = initial |> addNetns c.Add.Netns.Value

let private stepName (steps: Planned list) (k: int) =
    if k = 0 then None else Some (List.item (k - 1) steps).Name

let private msg (r: Reply) =
    match Json.parse (ReadOnlyMemory r.Stdout) |> Result.map (Json.tryField "msg") with
    | Ok(Some(Json.String m)) -> m
    | _ -> ""

/// This file's properties get 300 cases each.
let private property name body = propertyWith 300 name body

let lanes =
    testList
        "two lanes on the model"
        [ property "ADD, its delegate finishing at any point and any one step of either lane failing: attached in full, or the host as before"
          <| Prop.forAll (Arb.fromGen (laneCase Plans.add)) (fun c ->
              let steps = Plans.add c.Conf c.Add
              let w0 = before c
              let w1, reply, _ = runScheduled c.FinishAt (stepName steps c.Failing) w0 (start c.Conf c.Add)

              if c.Failing = 0 then
                  // then DEL, with its delegate finishing at the same point, restores the host
                  let w2, deleted, _ = runScheduled c.FinishAt None w1 (start c.Conf { c.Add with Command = Del })
                  (reply.ExitCode = 0 && deleted.ExitCode = 0 && settled w2 = settled w0) |> Prop.label (replyText reply + replyText deleted)
              else
                  (reply.ExitCode <> 0
                   && settled w1 = settled w0
                   && (msg reply).StartsWith $"ADD step {c.Failing} ({steps[c.Failing - 1].Name}): failed")
                  |> Prop.label $"step {c.Failing} fails, the delegate finishes at effect {c.FinishAt}: {replyText reply}")

          property "DEL, its delegate finishing at any point and any one step failing: every other step runs, the failure is reported, and a DEL after it leaves the host clean"
          <| Prop.forAll (Arb.fromGen (laneCase (fun conf add -> Plans.del conf { add with Command = Del }))) (fun c ->
              let del = { c.Add with Command = Del }
              let steps = Plans.del c.Conf del
              let w0 = before c
              let w1, added, _ = run w0 (start c.Conf c.Add)
              let w2, reply, trace = runScheduled c.FinishAt (stepName steps c.Failing) w1 (start c.Conf del)
              let ran = trace |> List.choose (fun (_, label) -> label |> Option.map _.Step) |> Set.ofList
              let w3, again, _ = run w2 (start c.Conf del)

              (added.ExitCode = 0
               && steps |> List.forall (fun s -> s.Lane = Last || ran.Contains s.Name)
               && (if c.Failing = 0 then reply.ExitCode = 0 else (msg reply).StartsWith $"DEL step {c.Failing} ({steps[c.Failing - 1].Name}): ")
               && again.ExitCode = 0
               && settled w3 = settled w0)
              |> Prop.label $"step {c.Failing} fails, the delegate finishes at effect {c.FinishAt}: {replyText reply}")

          property "ADD awaits its delegate after every Spartan and Minuteman step it carried out, also when one of them failed"
          <| Prop.forAll (Arb.fromGen (laneCase Plans.add)) (fun c ->
              let lanes = Plans.addLanes c.Conf c.Add
              let steps = Plans.add c.Conf c.Add
              let _, _, trace = runScheduled c.FinishAt (stepName steps c.Failing) (before c) (start c.Conf c.Add)
              let delegateName = lanes.Delegate.Value.Name
              let names = trace |> List.map (fun (_, label) -> label |> Option.map _.Step |> Option.defaultValue "")
              let beside = lanes.Beside |> List.map _.Name |> Set.ofList
              let stoppedBefore = c.Failing > 0 && c.Failing <= lanes.Before.Length

              match names |> List.tryFindIndex ((=) delegateName) with
              | Some i -> not stoppedBefore && names |> List.skip (i + 1) |> List.forall (beside.Contains >> not)
              | None -> stoppedBefore
              |> Prop.label (String.Join(", ", names)))

          property "CHECK of an attachment runs the delegate's CHECK beside its own checks, whenever it finishes, and reports both"
          <| Prop.forAll (Arb.fromGen (laneCase Plans.add |> Gen.filter (fun c -> CniVersion.atLeast "0.4.0" c.Conf.CniVersion))) (fun c ->
              let w1, added, _ = run (before c) (start c.Conf c.Add)
              let check = { c.Add with Command = Check }
              let delegateCheck = $"delegate {Delegate.pluginType c.Conf} CHECK"
              let _, healthy, _ = runScheduled c.FinishAt None w1 (start c.Conf check)
              let _, failing, trace = runScheduled c.FinishAt (Some delegateCheck) w1 (start c.Conf check)
              let last = trace |> List.last |> snd |> Option.map _.Step

              (added.ExitCode = 0 && healthy.ExitCode = 0 && failing.ExitCode <> 0 && (msg failing).Contains delegateCheck && last = Some delegateCheck)
              |> Prop.label (replyText healthy + replyText failing)) ]
