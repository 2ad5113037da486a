/// A failure at any step of ADD on the pure host model: the steps done so far are undone,
/// newest first, and the error names the step.
module Dcos.L4lb.Tests.RollbackProperties

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

/// DEL's steps as its reply numbers them: Plans.del, the record's removal last (which
/// runs only when the others all succeeded).
let private delSteps (s: Scenario) = Plans.del s.Conf (withCommand Del s.Ours)

let private injectedFailure (effect: Effect) =
    match effect with
    | AwaitPlugin _ -> exitWith """{"code": 11, "msg": "injected plugin failure"}"""
    | _ -> failure "injected failure"

/// A scenario, the number of effects of its clean ADD, and a step k in 1..n.
let private faultScenario =
    gen {
        let! s = scenario
        let _, reply, trace = add s (before s)
        if reply.ExitCode <> 0 then failwith $"the clean ADD failed: {replyText reply}"
        let! k = Gen.choose (1, trace.Length)
        let! j = Gen.choose (1, 20)
        return s, trace, k, j
    }

/// The compensations that must follow a failure of ADD's k-th effect: the Undo of every
/// step done by then, newest first by plan order. The k-th effect is the k-th step in run
/// order (see "ADD's effects are its steps in the order they run"); a step beside the
/// delegate that fails still lets the delegate finish.
let private expectedUndo (s: Scenario) (k: int) =
    let lanes = Plans.addLanes s.Conf s.Ours
    let order = runOrder s
    let failed = order[k - 1]
    let isBeside = lanes.Beside |> List.exists (fun b -> b.Name = failed.Name)
    let finished = List.take (k - 1) order @ (if isBeside then Option.toList lanes.Delegate |> List.map _.Step else [])

    Plans.add s.Conf s.Ours
    |> List.filter (fun step -> finished |> List.exists (fun f -> f.Name = step.Name))
    |> List.rev
    |> List.choose (fun step ->
        match step.Undo with
        | Undo undo -> Some(requested None undo)
        | _ -> None)

let rollback =
    testList
        "rollback on the model"
        [ property "a failure at any step k of ADD leaves the host as before, and the error names step k"
          <| Prop.forAll (Arb.fromGen faultScenario) (fun (s, _, k, _) ->
              let w0 = before s
              let w1, reply, _ = runWith (fun n e -> if n = k then Some(injectedFailure e) else None) w0 (invocation s.Conf s.Ours)
              let text = replyText reply

              (reply.ExitCode <> 0
               && settled w1 = settled w0
               && text.Contains $"ADD step {numberOf s (List.item (k - 1) (runOrder s))} ("
               && text.Contains "injected")
              |> Prop.label text)

          property "an effect of ADD carried out and then answered Interrupted (the host's answer when the core throws on an outcome) is undone too: the host as before"
          <| Prop.forAll (Arb.fromGen faultScenario) (fun (s, trace, k, _) ->
              let w0 = before s
              let interrupted = DoneThenFail { Kind = Interrupted; Message = "injected after the effect" }
              let w1, reply, _ = runWith (fun n _ -> if n = k then Some interrupted else None) w0 (invocation s.Conf s.Ours)

              match List.item (k - 1) trace with
              // a "not yet attached" probe finds nothing: its outcome is a failure already
              | InspectLink _ -> true |> Prop.label "a probe"
              | _ -> (reply.ExitCode <> 0 && settled w1 = settled w0) |> Prop.label (replyText reply))

          property "the compensations run newest first, every one, even when one of them fails"
          <| Prop.forAll (Arb.fromGen faultScenario) (fun (s, _, k, j) ->
              let undo = expectedUndo s k
              // a failure beside the delegate still awaits it before undoing
              let lanes = Plans.addLanes s.Conf s.Ours
              let awaited = lanes.Delegate.IsSome && lanes.Beside |> List.exists (fun b -> b.Name = (List.item (k - 1) (runOrder s)).Name)
              let undoStart = if awaited then k + 1 else k
              let failing = if undo.IsEmpty then 0 else undoStart + 1 + (j % undo.Length)
              let w0 = before s

              let inject n e =
                  if n = k || n = failing then Some(injectedFailure e) else None

              let _, reply, ran = runWith inject w0 (invocation s.Conf s.Ours)
              let text = replyText reply
              let after = ran |> List.skip undoStart |> List.map withoutHandle

              (reply.ExitCode <> 0
               && after = undo
               && (failing = 0 || text.Contains "undo ("))
              |> Prop.label $"k={k} failing={failing}\nran {after |> List.map _.Describe()}\nexpected {undo |> List.map _.Describe()}\n{text}")

          property "a DEL step that fails does not stop the others; DEL reports it"
          <| Prop.forAll (Arb.fromGen (Gen.zip scenario (Gen.choose (1, 100)))) (fun (s, pick) ->
              let w1, _, _ = add s (before s)
              let steps = delSteps s
              let k = 1 + pick % steps.Length
              let _, clean, cleanTrace = del s s.Ours w1
              let _, reply, trace = runWith (fun n e -> if n = k then Some(injectedFailure e) else None) w1 (invocation s.Conf (withCommand Del s.Ours))
              let text = replyText reply
              // every step still runs, except the record's removal after a failure: the
              // record stays so that GC can finish the job
              let expected =
                  if k = steps.Length then cleanTrace
                  else cleanTrace |> List.filter (function Change(RemoveFile(AttachmentRecord, _, _)) -> false | _ -> true)

              (ok clean && reply.ExitCode <> 0 && trace = expected && text.Contains $"DEL step {k} (")
              |> Prop.label $"k={k}: {text}")

          property "a DEL whose k-th step fails reports \"DEL step k (<that step's name>)\""
          <| Prop.forAll (Arb.fromGen (Gen.zip scenario (Gen.choose (1, 100)))) (fun (s, pick) ->
              let w1, _, _ = add s (before s)
              let steps = delSteps s
              let k = 1 + pick % steps.Length
              let _, reply, _ = runWith (fun n e -> if n = k then Some(injectedFailure e) else None) w1 (invocation s.Conf (withCommand Del s.Ours))

              match Json.parse (ReadOnlyMemory reply.Stdout) |> Result.map (Json.tryField "msg") with
              | Ok(Some(Json.String msg)) -> msg.StartsWith $"DEL step {k} ({steps[k - 1].Name}): " |> Prop.label $"k={k}: {msg}"
              | other -> false |> Prop.label $"k={k}: {other}")

          property "an ADD whose k-th step fails reports \"ADD step k (<that step's name>)\", k its place in Plans.add"
          <| Prop.forAll (Arb.fromGen faultScenario) (fun (s, _, k, _) ->
              let step = (runOrder s)[k - 1]
              let _, reply, _ = runWith (fun n e -> if n = k then Some(injectedFailure e) else None) (before s) (invocation s.Conf s.Ours)

              match Json.parse (ReadOnlyMemory reply.Stdout) |> Result.map (Json.tryField "msg") with
              | Ok(Some(Json.String msg)) -> msg.StartsWith $"ADD step {numberOf s step} ({step.Name}): " |> Prop.label $"k={k}: {msg}"
              | other -> false |> Prop.label $"k={k}: {other}")

          property "a delegate ADD that may have acted (killed at its timeout or before its end, or exit 0 with no address) gets its DEL; a refused one does not"
          <| Prop.forAll (Arb.fromGen (Gen.zip (scenario |> Gen.filter (fun s -> s.Conf.Delegate.IsSome && not (s.Conf.Spartan.Enabled && s.Conf.Spartan.Network.IpamType = Delegate.pluginType s.Conf))) (Gen.elements [ 0; 1; 2; 3 ]))) (fun (s, kind) ->
              let delegateType = Delegate.pluginType s.Conf
              let isDelegate (c: PluginCall) = c.Type = delegateType && c.Config <> Plans.ipamConfig s.Conf

              let fault =
                  match kind with
                  | 0 -> FailWith { Kind = TimedOut; Message = "killed at its timeout" }
                  | 1 -> ExitWith { ExitCode = 0; Stdout = Encoding.UTF8.GetBytes """{"cniVersion": "1.0.0"}""" }
                  | 3 -> FailWith { Kind = Interrupted; Message = "killed: its output passed the limit" }
                  | _ -> exitWith """{"code": 11, "msg": "refused"}"""

              let inject _ effect =
                  match effect with
                  | AwaitPlugin p when p.Call.Command = "ADD" && isDelegate p.Call -> Some fault
                  | _ -> None

              let _, reply, trace = runWith inject (before s) (invocation s.Conf s.Ours)
              let deleted = trace |> List.exists (function AwaitPlugin p -> p.Call.Command = "DEL" && isDelegate p.Call | _ -> false)
              (reply.ExitCode <> 0 && deleted = (kind <> 2)) |> Prop.label $"kind {kind}: {replyText reply}")

          property "when the Minuteman link cannot be made, nothing is left (delegate included)"
          <| Prop.forAll (Arb.fromGen (scenario |> Gen.filter (fun s -> s.Conf.Minuteman.Enabled))) (fun s ->
              let w0 = { before s with DummySupported = false }
              let w1, reply, _ = add s w0
              let text = replyText reply
              (reply.ExitCode <> 0 && settled w1 = settled w0 && text.Contains "dummy") |> Prop.label text)

          property "a plugin's own details survive its failed ADD step, and msg is not repeated in details"
          <| Prop.forAll (Arb.fromGen (scenario |> Gen.filter (fun s -> s.Conf.Delegate.IsSome))) (fun s ->
              let failing = """{"cniVersion": "1.0.0", "code": 11, "msg": "boom", "details": "more about boom"}"""

              let inject _ effect =
                  match effect with
                  | AwaitPlugin p when p.Call.Command = "ADD" && p.Call.Type = Delegate.pluginType s.Conf && (Json.tryField "rangeStart" p.Call.Config).IsNone ->
                      Some(exitWith failing)
                  | _ -> None

              let _, reply, _ = runWith inject (before s) (invocation s.Conf s.Ours)

              match Json.parse (ReadOnlyMemory reply.Stdout) with
              | Ok j ->
                  (Json.tryField "details" j = Some(Json.String "more about boom")
                   && (match Json.tryField "msg" j with Some(Json.String m) -> m.Contains "boom" | _ -> false))
                  |> Prop.label (replyText reply)
              | Error e -> false |> Prop.label e) ]
