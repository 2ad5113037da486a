/// `l4lbctl gc` is the plugin's own GC, and `plan gc` shows what that GC does: on a
/// scene of real namespaces, attachments and checkpoints (see GcScene).
module Dcos.L4lb.Tests.GcTests

open System
open System.IO
open System.Text.Json
open Expecto
open Dcos.L4lb.Tests.Host
open Dcos.L4lb.Tests.GcScene

let private cniPath = $"{binDir}:{referencePlugins}"

/// GC's removals among a plan's or a log's effects.
let private isRemoval (effect: string) =
    effect.StartsWith "delete link "
    || effect.StartsWith "remove "
    || effect = "run host-local DEL"

/// The effects `l4lbctl gc` printed (each line "<effect> -> <outcome>").
let private printedEffects (out: string) =
    [ for line in out.Split('\n', StringSplitOptions.RemoveEmptyEntries) do
          match line.IndexOf " -> " with
          | -1 -> ()
          | i -> line.Substring(0, i) ]
    |> Set.ofList

/// The removals a plan printed as text shows, from its "  3. <step>: <effect>" lines.
let private shownRemovals (text: string) =
    [ for line in text.Split('\n') do
          let found =
              [ ": delete link "; ": remove "; ": run host-local DEL" ]
              |> List.map (fun marker -> line.LastIndexOf marker)
              |> List.filter (fun i -> i >= 0)

          // the step's name may say "remove" too ("c2@eth0: remove attachment record")
          if not found.IsEmpty then
              line.Substring(List.max found + 2) ]
    |> Set.ofList

let private writeConfig (s: Scene) (version: string) =
    let file = Path.Combine(s.Scratch, $"gc-{version}.conf")
    File.WriteAllText(file, gcConfig s version)
    file

/// What GC removed from the scene, run by `gc`.
let private removedBy (gc: Scene -> unit) =
    let mutable result = None

    withScene (fun s ->
        let before = found s
        gc s
        result <- Some(s, removed before (found s)))

    result.Value

let tests =
    testList
        "gc"
        [ testCase "l4lbctl gc removes exactly what the plugin's own GC removes on the same host"
          <| fun () ->
              let s, fromPlugin =
                  removedBy (fun s ->
                      // as a runtime runs it: the config at 1.1.0 with the attachments it still has
                      let env = [ "CNI_COMMAND", "GC"; "CNI_PATH", referencePlugins ]
                      let code, out, err = plugin env (runtimeGcConfig s [ s.Id 1 ])
                      Expect.equal code 0 $"the plugin's GC: {out} {err}")

              let _, fromCtl =
                  removedBy (fun s ->
                      let code, out, err = ctl [ "gc"; writeConfig s "1.0.0"; "--cni-path"; cniPath ]
                      Expect.equal code 0 $"l4lbctl gc: {out} {err}"
                      Expect.stringContains out $"valid attachments (recorded, netns exists): {s.Id 1}/eth0" out)

              Expect.equal fromCtl fromPlugin "l4lbctl gc and the plugin's GC removed the same"

              // and what they removed is what GC is for: the stale attachments (c2, c3) and
              // the checkpoint no record accounts for whose netns is gone
              Expect.equal
                  fromPlugin
                  { Records = set [ $"{s.Id 2}@eth0"; $"{s.Id 3}@eth0" ]
                    HostVeths = set [ s.HostVeth 3 ]
                    Leases = set [ s.Id 2; s.Id 3 ]
                    Checkpoints = set [ s.Id 2; s.Id 3; s.Orphan 1 ] }
                  "removed"

          testCase "plan gc and gc --dry-run show exactly the removals gc then performs"
          <| fun () ->
              withScene (fun s ->
                  let before = found s
                  let code, out, err = ctl [ "plan"; "gc"; writeConfig s "1.1.0"; "--json" ]
                  Expect.equal code 0 err
                  use doc = JsonDocument.Parse out

                  let steps =
                      [ for step in doc.RootElement.GetProperty("steps").EnumerateArray() ->
                            step.GetProperty("effect").GetString() ]

                  let planned = steps |> List.filter isRemoval |> Set.ofList

                  let code, dryRun, err =
                      ctl [ "gc"; writeConfig s "1.0.0"; "--cni-path"; cniPath; "--dry-run" ]

                  Expect.equal code 0 err
                  Expect.equal (shownRemovals dryRun) planned "gc --dry-run shows plan gc's removals"
                  Expect.equal (found s) before "plan and --dry-run removed nothing"

                  let code, out, err = ctl [ "gc"; writeConfig s "1.0.0"; "--cni-path"; cniPath ]
                  Expect.equal code 0 $"{out} {err}"
                  Expect.equal (printedEffects out) planned "gc performed the removals plan gc showed"

                  Expect.isTrue
                      (planned.Contains $"remove checkpoint {s.Checkpoints}/{s.Orphan 1}"
                       && planned.Contains $"delete link {s.HostVeth 3} in the host"
                       && planned.Contains "run host-local DEL")
                      $"the plan has GC's removals: {planned}") ]
