/// l4lbctl, run as an operator would run it, on real files and real namespaces.
module Dcos.L4lb.Tests.CtlCommands

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Expecto
open Dcos.L4lb.Tests.Host

let write dir name (text: string) =
    let path = Path.Combine(dir, name)
    File.WriteAllText(path, text)
    path

let examples =
    Directory.GetFiles(Path.Combine(repoRoot, "examples"), "*.conf")
    |> Array.sort
    |> List.ofArray

let badConf =
    """{"cniVersion": "9.9.9", "name": "n", "type": "dcos-l4lb", "minuteman": {"path": "relative"}, "delegate": {"type": "bridge"}}"""

let conflist =
    """{"cniVersion": "1.0.0", "name": "chain", "plugins": [
         {"type": "portmap", "capabilities": {"portMappings": true}},
         {"type": "dcos-l4lb", "minuteman": {"path": "MMPATH"}, "delegate": {"type": "bridge", "bridge": "b0"}}]}"""

let validate =
    testList
        "validate"
        [ testCase "every shipped example is valid: exit 0"
          <| fun () ->
              let code, out, _ = ctl ("validate" :: examples)
              Expect.equal code 0 out

              for file in examples do
                  Expect.stringContains out $"{file}: valid" file

          testCase "a bad config: each error with its path, code and a hint; exit 1"
          <| fun () ->
              withTemp (fun dir ->
                  let file = write dir "bad.conf" badConf
                  let code, out, _ = ctl [ "validate"; file ]
                  Expect.equal code 1 "exit 1"
                  Expect.stringContains out "2 problem(s)" "count"
                  Expect.stringContains out "$.cniVersion: version \"9.9.9\" is not supported" "version"
                  Expect.stringContains out "CNI code 1; use one of the CNI versions" "hint"
                  Expect.stringContains out "$.minuteman.path: \"relative\" is not an absolute directory path" "path")

          testCase "--json reports every file with its errors"
          <| fun () ->
              withTemp (fun dir ->
                  let file = write dir "bad.conf" badConf
                  let code, out, _ = ctl [ "validate"; "--json"; file; examples.Head ]
                  Expect.equal code 1 "exit 1"
                  use doc = JsonDocument.Parse out
                  let files = [ for f in doc.RootElement.EnumerateArray() -> f ]
                  Expect.equal files.Length 2 "two files"
                  Expect.isFalse (files[0].GetProperty("valid").GetBoolean()) "bad"
                  Expect.isTrue (files[1].GetProperty("valid").GetBoolean()) "good"

                  let codes =
                      [ for e in files[0].GetProperty("errors").EnumerateArray() ->
                            e.GetProperty("path").GetString(), e.GetProperty("code").GetInt32() ]

                  Expect.equal codes [ "$.cniVersion", 1; "$.minuteman.path", 7 ] "paths and codes")

          testCase "without a delegate: valid only after another plugin in a conflist"
          <| fun () ->
              withTemp (fun dir ->
                  let lone =
                      write dir "lone.conf" """{"cniVersion": "1.0.0", "name": "n", "type": "dcos-l4lb"}"""

                  let first =
                      write
                          dir
                          "first.conflist"
                          """{"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "dcos-l4lb"}, {"type": "tuning"}]}"""

                  let chained = Path.Combine(repoRoot, "examples", "40-chained.conflist")
                  let code, out, _ = ctl [ "validate"; lone; first; chained ]
                  Expect.equal code 1 out
                  // the core's rule and words: a delegate unless chained with a prevResult
                  Expect.stringContains
                      out
                      $"{lone}: 1 problem(s)\n  $.delegate: is required, unless the plugin runs chained"
                      out

                  Expect.stringContains
                      out
                      $"{first}: 1 problem(s)\n  $.plugins[0].delegate: is required, unless the plugin runs chained"
                      out

                  Expect.stringContains out $"{chained}: valid" out)

          testCase "a conflist: our entry gets the list's name and version; paths point into the list"
          <| fun () ->
              withTemp (fun dir ->
                  let good = write dir "good.conflist" (conflist.Replace("MMPATH", "/run/l4lb"))
                  let bad = write dir "bad.conflist" (conflist.Replace("MMPATH", "run/l4lb"))
                  let code, out, _ = ctl [ "validate"; good ]
                  Expect.equal code 0 out
                  let code, out, _ = ctl [ "validate"; bad ]
                  Expect.equal code 1 "exit 1"
                  Expect.stringContains out "$.plugins[1].minuteman.path" "path into the list")

          testCase "a missing file is reported, exit 1"
          <| fun () ->
              let code, out, _ = ctl [ "validate"; "/nonexistent/x.conf" ]
              Expect.equal code 1 "exit 1"
              Expect.stringContains out "cannot read /nonexistent/x.conf" "message" ]

/// A GC config for checkpoints alone: no Spartan, no delegate, Minuteman in `directory`.
let private checkpointsOnly (dir: string) (directory: string) =
    write
        dir
        "gc.conf"
        $"""{{"cniVersion": "1.1.0", "name": "l4ctl-gc-{Environment.ProcessId}", "type": "dcos-l4lb", "spartan": false, "minuteman": {{"path": "{directory}"}}}}"""

let registrations =
    testList
        "list and gc"
        [ testCase "list shows live and stale registrations; gc removes only the stale, after a dry run"
          <| fun () ->
              withTemp (fun dir ->
                  let netns = $"l4ctl{Environment.ProcessId}"

                  let checkpoints =
                      Directory.CreateDirectory(Path.Combine(dir, "checkpoints")).FullName

                  let conf = checkpointsOnly dir checkpoints
                  sh $"ip netns add {netns}"

                  try
                      restoringHost [] (fun () ->
                          write checkpoints "live1" $"/run/netns/{netns}" |> ignore
                          write checkpoints "stale1" "/run/netns/l4ctl-gone-1" |> ignore
                          write checkpoints "stale2" "/proc/999999999/ns/net" |> ignore
                          write checkpoints ".tmp-in-flight" "/run/netns/gone" |> ignore
                          let fresh = write checkpoints "fresh" "/run/netns/l4ctl-gone-2"
                          // written "after the scan began" by the old gc's rule; the plugin's GC
                          // re-reads a checkpoint under its lock instead: unchanged, it goes
                          File.SetLastWriteTimeUtc(fresh, DateTime.UtcNow.AddHours 1.0)

                          let code, out, _ = ctl [ "list"; "--path"; checkpoints ]
                          Expect.equal code 0 out
                          Expect.stringContains out "live1" "live listed"

                          Expect.isTrue
                              (out.Split('\n')
                               |> Array.exists (fun l -> l.StartsWith "live1" && l.Contains " live "))
                              "live1 is live"

                          Expect.isTrue
                              (out.Split('\n')
                               |> Array.exists (fun l -> l.StartsWith "stale1" && l.Contains " stale "))
                              "stale1 is stale"

                          Expect.isFalse (out.Contains ".tmp-in-flight") "dot-files ignored"

                          let code, out, _ = ctl [ "list"; "--path"; checkpoints; "--json" ]
                          Expect.equal code 0 out
                          use doc = JsonDocument.Parse out
                          Expect.equal (doc.RootElement.GetArrayLength()) 4 "four registrations"

                          let code, out, err = ctl [ "gc"; conf; "--dry-run" ]
                          Expect.equal code 0 err

                          Expect.stringContains
                              out
                              $"stale1: remove orphaned checkpoint: remove checkpoint {checkpoints}/stale1"
                              "dry run reports"

                          Expect.isFalse (out.Contains "live1: remove") "and keeps the live one"
                          Expect.isTrue (File.Exists(Path.Combine(checkpoints, "stale1"))) "dry run removes nothing"

                          let code, out, err = ctl [ "gc"; conf; "--cni-path"; binDir ]
                          Expect.equal code 0 $"{out} {err}"

                          let left =
                              Directory.GetFiles checkpoints
                              |> Array.map Path.GetFileName
                              |> Array.sort
                              |> List.ofArray

                          Expect.equal left [ ".tmp-in-flight"; "live1" ] "only the stale ones went"
                          Expect.stringContains out $"remove checkpoint {checkpoints}/stale1 -> ok" out)
                  finally
                      sh $"ip netns del {netns}")

          testCase "gc without the plugin in the CNI path says where it looked; exit 1"
          <| fun () ->
              withTemp (fun dir ->
                  let code, _, err = ctl [ "gc"; checkpointsOnly dir dir; "--cni-path"; dir ]
                  Expect.equal code 1 err
                  Expect.stringContains err $"no dcos-l4lb in {dir}" err)

          testCase "list of a missing directory says so"
          <| fun () ->
              let code, out, _ = ctl [ "list"; "--path"; "/nonexistent-l4lb" ]
              Expect.equal code 0 out
              Expect.stringContains out "no registrations" "message" ]

let usage =
    testList
        "usage"
        [ testCase "a usage error gives Argu's message and exit 2"
          <| fun () ->
              let code, _, err = ctl [ "plan"; "add" ]
              Expect.equal code 2 "exit 2"
              Expect.stringContains err "ERROR" "Argu's message"

          testCase "--help everywhere, with examples, exit 0"
          <| fun () ->
              for args in
                  [ [ "--help" ]
                    [ "validate"; "--help" ]
                    [ "plan"; "--help" ]
                    [ "gc"; "--help" ]
                    [ "list"; "--help" ] ] do
                  let code, out, _ = ctl args
                  Expect.equal code 0 (String.Join(" ", args))
                  Expect.stringContains out "USAGE: l4lbctl" "usage"
                  Expect.stringContains out "Example" "examples"

          testCase "version"
          <| fun () ->
              let code, out, _ = ctl [ "version" ]
              Expect.equal code 0 "exit"
              Expect.stringStarts out "l4lbctl 0.1.0" "version" ]

/// Every example of docs/cli.md, run again in order as the doc shows it, through /bin/sh
/// from the repository root: each must print what the doc shows and exit as it says.
/// `/tmp/l4lb-doc`, where the doc's examples write their files, is a fresh directory here.
let docs =
    testList
        "docs"
        [ testCase "docs/cli.md: every example prints what the doc shows and exits as it says"
          <| fun () ->
              let doc = File.ReadAllLines(Path.Combine(repoRoot, "docs", "cli.md"))
              let docDir = "/tmp/l4lb-doc"

              // In a ``` block: "$ COMMAND" (a heredoc runs on to its "EOF"), then its output
              // up to "[exit N]" (or, exit 0, up to the next command or the block's end). A
              // last output line "…" stands for the rest.
              let examples =
                  let rec parse i inBlock acc =
                      if i >= doc.Length then
                          List.rev acc
                      elif doc[i].StartsWith "```" then
                          parse (i + 1) (not inBlock) acc
                      elif inBlock && doc[i].StartsWith "$ " then
                          let heredoc =
                              if doc[i].Contains "<<'EOF'" then
                                  let body = doc[i + 1 ..] |> Array.takeWhile ((<>) "EOF")
                                  Array.append body [| "EOF" |]
                              else
                                  [||]

                          let command = String.Join("\n", Array.append [| doc[i].Substring 2 |] heredoc)
                          let start = i + 1 + heredoc.Length

                          let output =
                              doc[start..]
                              |> Array.takeWhile (fun l ->
                                  not (l.StartsWith "$ " || l.StartsWith "[exit " || l.StartsWith "```"))

                          let next = start + output.Length

                          let exit, next =
                              if doc[next].StartsWith "[exit " then
                                  int (doc[next].Substring(6, doc[next].Length - 7)), next + 1
                              else
                                  0, next

                          parse next inBlock ((command, output, exit) :: acc)
                      else
                          parse (i + 1) inBlock acc

                  parse 0 false []

              Expect.isGreaterThanOrEqual examples.Length 20 "examples found"

              withTemp (fun dir ->
                  restoringHost [] (fun () ->
                      for command, output, exit in examples do
                          let code, out, err = exec "/bin/sh" [ "-c"; command.Replace(docDir, dir) ]
                          let shown = (out + err).TrimEnd('\n').Replace(dir, docDir).Split('\n')

                          let shown, output =
                              if output.Length > 0 && Array.last output = "…" then
                                  Array.truncate (output.Length - 1) shown, output[.. output.Length - 2]
                              else
                                  shown, output

                          Expect.equal (String.Join("\n", shown)) (String.Join("\n", output)) command
                          Expect.equal code exit $"{command}: exit")) ]
