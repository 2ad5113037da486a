/// l4lbctl, run as an operator would run it, on real files and real namespaces.
module Dcos.L4lb.Tests.CtlTests

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Expecto

let private repoRoot =
    let rec up (dir: DirectoryInfo) =
        if File.Exists(Path.Combine(dir.FullName, "paket.dependencies")) then dir.FullName else up dir.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

let private ctl (args: string list) =
    let info = ProcessStartInfo(Path.Combine(repoRoot, "bin", "l4lbctl"), args, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = repoRoot)
    use p = Process.Start info
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEnd()
    p.WaitForExit()
    p.ExitCode, out.Result, err

let private sh (command: string) =
    use p = Process.Start(ProcessStartInfo("/bin/sh", [| "-c"; command |]))
    p.WaitForExit()
    if p.ExitCode <> 0 then failwith $"`{command}` failed"

let private withTemp (f: string -> unit) =
    let dir = Directory.CreateTempSubdirectory("l4lbctl-test-")

    try
        f dir.FullName
    finally
        dir.Delete true

let private write dir name (text: string) =
    let path = Path.Combine(dir, name)
    File.WriteAllText(path, text)
    path

let private examples = Directory.GetFiles(Path.Combine(repoRoot, "examples"), "*.conf") |> Array.sort |> List.ofArray

let private badConf =
    """{"cniVersion": "9.9.9", "name": "n", "type": "dcos-l4lb", "minuteman": {"path": "relative"}, "delegate": {"type": "bridge"}}"""

let private conflist =
    """{"cniVersion": "1.0.0", "name": "chain", "plugins": [
         {"type": "portmap", "capabilities": {"portMappings": true}},
         {"type": "dcos-l4lb", "minuteman": {"path": "MMPATH"}, "delegate": {"type": "bridge", "bridge": "b0"}}]}"""

let validate =
    testList
        "validate"
        [ testCase "every shipped example is valid: exit 0" <| fun () ->
              let code, out, _ = ctl ("validate" :: examples)
              Expect.equal code 0 out

              for file in examples do
                  Expect.stringContains out $"{file}: valid" file

          testCase "a bad config: each error with its path, code and a hint; exit 1" <| fun () ->
              withTemp (fun dir ->
                  let file = write dir "bad.conf" badConf
                  let code, out, _ = ctl [ "validate"; file ]
                  Expect.equal code 1 "exit 1"
                  Expect.stringContains out "2 problem(s)" "count"
                  Expect.stringContains out "$.cniVersion: version \"9.9.9\" is not supported" "version"
                  Expect.stringContains out "CNI code 1; use one of the CNI versions" "hint"
                  Expect.stringContains out "$.minuteman.path: \"relative\" is not an absolute directory path" "path")

          testCase "--json reports every file with its errors" <| fun () ->
              withTemp (fun dir ->
                  let file = write dir "bad.conf" badConf
                  let code, out, _ = ctl [ "validate"; "--json"; file; examples.Head ]
                  Expect.equal code 1 "exit 1"
                  use doc = JsonDocument.Parse out
                  let files = [ for f in doc.RootElement.EnumerateArray() -> f ]
                  Expect.equal files.Length 2 "two files"
                  Expect.isFalse (files[0].GetProperty("valid").GetBoolean()) "bad"
                  Expect.isTrue (files[1].GetProperty("valid").GetBoolean()) "good"
                  let codes = [ for e in files[0].GetProperty("errors").EnumerateArray() -> e.GetProperty("path").GetString(), e.GetProperty("code").GetInt32() ]
                  Expect.equal codes [ "$.cniVersion", 1; "$.minuteman.path", 7 ] "paths and codes")

          testCase "without a delegate: valid only after another plugin in a conflist" <| fun () ->
              withTemp (fun dir ->
                  let lone = write dir "lone.conf" """{"cniVersion": "1.0.0", "name": "n", "type": "dcos-l4lb"}"""
                  let first = write dir "first.conflist" """{"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "dcos-l4lb"}, {"type": "tuning"}]}"""
                  let chained = Path.Combine(repoRoot, "examples", "40-chained.conflist")
                  let code, out, _ = ctl [ "validate"; lone; first; chained ]
                  Expect.equal code 1 out
                  Expect.stringContains out "$.delegate: is required in a single network config" out
                  Expect.stringContains out "$.plugins[0].delegate: is required for the first plugin of a conflist" out
                  Expect.stringContains out $"{chained}: valid" out)

          testCase "a conflist: our entry gets the list's name and version; paths point into the list" <| fun () ->
              withTemp (fun dir ->
                  let good = write dir "good.conflist" (conflist.Replace("MMPATH", "/run/l4lb"))
                  let bad = write dir "bad.conflist" (conflist.Replace("MMPATH", "run/l4lb"))
                  let code, out, _ = ctl [ "validate"; good ]
                  Expect.equal code 0 out
                  let code, out, _ = ctl [ "validate"; bad ]
                  Expect.equal code 1 "exit 1"
                  Expect.stringContains out "$.plugins[1].minuteman.path" "path into the list")

          testCase "a missing file is reported, exit 1" <| fun () ->
              let code, out, _ = ctl [ "validate"; "/nonexistent/x.conf" ]
              Expect.equal code 1 "exit 1"
              Expect.stringContains out "cannot read /nonexistent/x.conf" "message" ]

let plan =
    testList
        "plan"
        [ testCase "ADD of the README config: numbered steps, each with its undo" <| fun () ->
              let code, out, _ = ctl [ "plan"; "add"; examples.Head; "--container-id"; "web1"; "--netns"; "/run/netns/web1" ]
              Expect.equal code 0 out
              Expect.stringStarts out "ADD for container web1 (netns /run/netns/web1, ifname eth0): 20 steps" "header"
              Expect.stringContains out "  5. attachment record: record attachment /var/lib/cni/dcos-l4lb/attachments/spartan-net/web1@eth0" "record step"
              Expect.stringContains out "  7. delegate bridge ADD: run bridge ADD" "delegate step"
              Expect.stringContains out "undo: delegate bridge DEL: run bridge DEL" "its undo"
              Expect.stringContains out "undo: none needed: removed with \"Spartan veth\"" "covered"

          testCase "--json lists the same steps" <| fun () ->
              let code, out, _ = ctl [ "plan"; "del"; examples.Head; "--container-id"; "web1"; "--netns"; "/run/netns/web1"; "--json" ]
              Expect.equal code 0 out
              use doc = JsonDocument.Parse out
              let names = [ for s in doc.RootElement.GetProperty("steps").EnumerateArray() -> s.GetProperty("name").GetString() ]
              Expect.equal names.Head "lock" "DEL takes the container's lock first"
              Expect.equal names[1] "Spartan IPAM host-local DEL" "then Spartan"
              Expect.equal names[names.Length - 2] "delegate bridge DEL" "then the delegate"
              Expect.equal (List.last names) "remove attachment record" "and forgets the attachment last"

          testCase "CHECK of a 0.2.0 config is refused with code 1" <| fun () ->
              let code, _, err = ctl [ "plan"; "check"; examples.Head; "--container-id"; "web1"; "--netns"; "/run/netns/web1" ]
              Expect.equal code 1 "exit 1"
              Expect.stringContains err "CHECK needs cniVersion 0.4.0" "why"

          testCase "a bad container ID is refused" <| fun () ->
              let code, _, err = ctl [ "plan"; "add"; examples.Head; "--container-id"; "../x"; "--netns"; "/run/netns/web1" ]
              Expect.equal code 1 "exit 1"
              Expect.stringContains err "--container-id" "names the option"

          testCase "ADD without --container-id or --netns is refused, naming both" <| fun () ->
              let code, _, err = ctl [ "plan"; "add"; examples.Head ]
              Expect.equal code 1 "exit 1"
              Expect.stringContains err "--container-id: is required for ADD" "container ID"
              Expect.stringContains err "--netns: is required for ADD" "netns"

          testCase "chained in a conflist: ADD runs no delegate, STATUS and GC need no container" <| fun () ->
              let chained = Path.Combine(repoRoot, "examples", "40-chained.conflist")
              let code, out, err = ctl [ "plan"; "add"; chained; "--container-id"; "web1"; "--netns"; "/run/netns/web1" ]
              Expect.equal code 0 err
              Expect.isFalse (out.Contains "delegate") out

              withTemp (fun dir ->
                  let v11 = write dir "v11.conflist" ((File.ReadAllText chained).Replace("\"1.0.0\"", "\"1.1.0\""))
                  let code, out, err = ctl [ "plan"; "status"; v11 ]
                  Expect.equal code 0 err
                  Expect.stringStarts out "STATUS for the network: 3 steps" out
                  let code, out, err = ctl [ "plan"; "gc"; v11; "--valid"; "web1/eth0" ]
                  Expect.equal code 0 err
                  Expect.stringContains out "list attachment records in /var/lib/cni/dcos-l4lb/attachments/spartan-net" out)

              let code, _, err = ctl [ "plan"; "gc"; chained; "--valid"; "web1/eth0" ]
              Expect.equal code 1 "a 1.0.0 config cannot GC"
              Expect.stringContains err "GC needs cniVersion 1.1.0" err

          testCase "GC's plan shows the removals of this host's stale attachments, never a listed one" <| fun () ->
              withTemp (fun dir ->
                  let conf =
                      write dir "gc.conf" """{"cniVersion": "1.1.0", "name": "gcnet", "type": "dcos-l4lb", "minuteman": {"enable": false}, "delegate": {"type": "bridge"}}"""

                  // this host's records, seen through a private /var/lib
                  let records = Path.Combine(dir, "varlib", "cni", "dcos-l4lb", "attachments", "gcnet")
                  Directory.CreateDirectory records |> ignore
                  File.WriteAllText(Path.Combine(records, "web1@eth0"), "/run/netns/web1")
                  File.WriteAllText(Path.Combine(records, "old2@eth0"), "/run/netns/old2")
                  let varlib = Path.Combine(dir, "varlib")
                  let l4lbctl = Path.Combine(repoRoot, "bin", "l4lbctl")
                  let output = Path.Combine(dir, "out")

                  sh $"unshare --mount --propagation private sh -c 'mount --bind {varlib} /var/lib && {l4lbctl} plan gc {conf} --valid web1/eth0 > {output}'"

                  let out = File.ReadAllText output
                  Expect.stringContains out "old2@eth0: record unchanged: read attachment record" out
                  Expect.stringContains out "old2@eth0: Spartan IPAM host-local DEL" out
                  Expect.stringContains out "old2@eth0: remove attachment record" out
                  Expect.isFalse (out.Contains "web1@eth0") out) ]

let registrations =
    testList
        "list and gc"
        [ testCase "list shows live and stale registrations; gc removes only the stale, after a dry run" <| fun () ->
              withTemp (fun dir ->
                  let netns = $"l4ctl{Environment.ProcessId}"
                  sh $"ip netns add {netns}"

                  try
                      write dir "live1" $"/run/netns/{netns}" |> ignore
                      write dir "stale1" "/run/netns/l4ctl-gone-1" |> ignore
                      write dir "stale2" "/proc/999999999/ns/net" |> ignore
                      write dir ".tmp-in-flight" "/run/netns/gone" |> ignore
                      let fresh = write dir "fresh" "/run/netns/l4ctl-gone-2"
                      // written "after the scan began": an ADD in progress
                      File.SetLastWriteTimeUtc(fresh, DateTime.UtcNow.AddHours 1.0)

                      let code, out, _ = ctl [ "list"; "--path"; dir ]
                      Expect.equal code 0 out
                      Expect.stringContains out "live1" "live listed"
                      Expect.isTrue (out.Split('\n') |> Array.exists (fun l -> l.StartsWith "live1" && l.Contains " live ")) "live1 is live"
                      Expect.isTrue (out.Split('\n') |> Array.exists (fun l -> l.StartsWith "stale1" && l.Contains " stale ")) "stale1 is stale"
                      Expect.isFalse (out.Contains ".tmp-in-flight") "dot-files ignored"

                      let code, out, _ = ctl [ "list"; "--path"; dir; "--json" ]
                      Expect.equal code 0 out
                      use doc = JsonDocument.Parse out
                      Expect.equal (doc.RootElement.GetArrayLength()) 4 "four registrations"

                      let code, out, _ = ctl [ "gc"; "--path"; dir; "--dry-run" ]
                      Expect.equal code 0 out
                      Expect.stringContains out "would remove stale1" "dry run reports"
                      Expect.isTrue (File.Exists(Path.Combine(dir, "stale1"))) "dry run removes nothing"

                      let code, out, _ = ctl [ "gc"; "--path"; dir ]
                      Expect.equal code 0 out
                      let left = Directory.GetFiles dir |> Array.map Path.GetFileName |> Array.sort |> List.ofArray
                      Expect.equal left [ ".tmp-in-flight"; "fresh"; "live1" ] "only the stale ones went"
                      Expect.stringContains out "kept fresh" "the fresh one is kept"
                  finally
                      sh $"ip netns del {netns}")

          testCase "list of a missing directory says so" <| fun () ->
              let code, out, _ = ctl [ "list"; "--path"; "/nonexistent-l4lb" ]
              Expect.equal code 0 out
              Expect.stringContains out "no registrations" "message" ]

let usage =
    testList
        "usage"
        [ testCase "a usage error gives Argu's message and exit 2" <| fun () ->
              let code, _, err = ctl [ "plan"; "add" ]
              Expect.equal code 2 "exit 2"
              Expect.stringContains err "ERROR" "Argu's message"

          testCase "--help everywhere, with examples, exit 0" <| fun () ->
              for args in [ [ "--help" ]; [ "validate"; "--help" ]; [ "plan"; "--help" ]; [ "gc"; "--help" ]; [ "list"; "--help" ] ] do
                  let code, out, _ = ctl args
                  Expect.equal code 0 (String.Join(" ", args))
                  Expect.stringContains out "USAGE: l4lbctl" "usage"
                  Expect.stringContains out "Example" "examples"

          testCase "version" <| fun () ->
              let code, out, _ = ctl [ "version" ]
              Expect.equal code 0 "exit"
              Expect.stringStarts out "l4lbctl 0.1.0" "version" ]
