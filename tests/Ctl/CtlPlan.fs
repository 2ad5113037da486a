/// `l4lbctl plan`, run as an operator would run it: the steps of each command, each with
/// its undo, and the refusals in the core's words.
module Dcos.L4lb.Tests.CtlPlan

open System.IO
open System.Text.Json
open Expecto
open Dcos.L4lb.Tests.Host
open Dcos.L4lb.Tests.CtlCommands

/// `l4lbctl plan <command>` of `config` for container web1 in /run/netns/web1.
let private planWeb1Of (config: string) (command: string) (more: string list) =
    ctl ([ "plan"; command; config; "--container-id"; "web1"; "--netns"; "/run/netns/web1" ] @ more)

/// The same, of the README config.
let private planWeb1 = planWeb1Of examples.Head

let plan =
    testList
        "plan"
        [ testCase "ADD of the README config: numbered steps, each with its undo"
          <| fun () ->
              let code, out, _ = planWeb1 "add" []

              Expect.equal code 0 out
              Expect.stringStarts out "ADD for container web1 (netns /run/netns/web1, ifname eth0): 22 steps" "header"

              Expect.stringContains
                  out
                  "  7. attachment record: record attachment /var/lib/cni/dcos-l4lb/attachments/spartan-net/web1@eth0"
                  "record step"

              Expect.stringContains out "  9. delegate bridge ADD: run bridge ADD" "delegate step"
              Expect.stringContains out "undo: delegate bridge DEL: run bridge DEL" "its undo"
              Expect.stringContains out "undo: none needed: removed with \"Spartan veth\"" "covered"

              // the model's lease is shown as what it stands for, wherever a step names it
              Expect.stringContains out "add address <spartan address>/32 to spartan" "the Spartan address"
              Expect.stringContains out "scope link src <spartan address> in /run/netns/web1" "the routes from it"
              Expect.stringContains out "add route <spartan address>/32 dev spte72e02531e91" "the host's route to it"

          testCase "--json lists the same steps"
          <| fun () ->
              let code, out, _ = planWeb1 "del" [ "--json" ]

              Expect.equal code 0 out
              use doc = JsonDocument.Parse out

              let names =
                  [ for s in doc.RootElement.GetProperty("steps").EnumerateArray() -> s.GetProperty("name").GetString() ]

              Expect.equal names.Head "lock" "DEL takes the container's lock first"
              Expect.equal names[1..3] [ "delete Spartan veth"; "delete host veth"; "Spartan IPAM host-local DEL" ] "then Spartan, the link before its lease"
              Expect.equal names[names.Length - 2] "delegate bridge DEL" "then the delegate"
              Expect.equal (List.last names) "remove attachment record" "and forgets the attachment last"

          testCase "CHECK of a 0.2.0 config is refused with code 1"
          <| fun () ->
              let code, _, err = planWeb1 "check" []

              Expect.equal code 1 "exit 1"
              Expect.stringContains err "CHECK needs cniVersion 0.4.0" "why"

          testCase "a bad container ID is refused"
          <| fun () ->
              let code, _, err =
                  ctl
                      [ "plan"
                        "add"
                        examples.Head
                        "--container-id"
                        "../x"
                        "--netns"
                        "/run/netns/web1" ]

              Expect.equal code 1 "exit 1"
              Expect.stringContains err "CNI_CONTAINERID: \"../x\" is not a valid container ID" "names the variable"

          testCase "ADD without --container-id or --netns is refused, naming both"
          <| fun () ->
              let code, _, err = ctl [ "plan"; "add"; examples.Head ]
              Expect.equal code 1 "exit 1"
              Expect.stringContains err "CNI_CONTAINERID: is required (CNI code 4)" "container ID"
              Expect.stringContains err "CNI_NETNS: is required for ADD (CNI code 4)" "netns"

          testCase "an invalid invocation is refused in the core's words, config and environment together"
          <| fun () ->
              withTemp (fun dir ->
                  let lone =
                      write
                          dir
                          "lone.conf"
                          """{"cniVersion": "1.0.0", "name": "n", "type": "dcos-l4lb", "minuteman": {"path": "m"}}"""

                  let code, out, err =
                      ctl [ "plan"; "add"; lone; "--container-id"; "web1"; "--netns"; "run/netns/web1" ]

                  Expect.equal code 1 out

                  Expect.equal
                      (err.Trim().Split('\n') |> List.ofArray)
                      [ "CNI_NETNS: \"run/netns/web1\" is not an absolute path to a network namespace (CNI code 4)"
                        "$.minuteman.path: \"m\" is not an absolute directory path; expected a path starting with '/', such as \"/var/run/dcos/cni/l4lb\" (CNI code 7)" ]
                      "every error, as the core words it"

                  // rules l4lbctl never had: only the core knows them
                  let code, _, err = planWeb1 "add" [ "--ifname"; "spartan" ]

                  Expect.equal code 1 err

                  Expect.stringContains
                      err
                      "CNI_IFNAME: \"spartan\" is the name of this plugin's own link in the container"
                      err

                  let lone =
                      write dir "chained.conf" """{"cniVersion": "1.0.0", "name": "n", "type": "dcos-l4lb"}"""

                  let code, _, err =
                      ctl [ "plan"; "add"; lone; "--container-id"; "web1"; "--netns"; "/run/netns/web1" ]

                  Expect.equal code 1 err
                  Expect.stringStarts err "$.delegate: is required, unless the plugin runs chained" err)

          testCase "a --valid that is not CONTAINERID/IFNAME is a usage error"
          <| fun () ->
              let code, _, err = ctl [ "plan"; "gc"; examples.Head; "--valid"; "web1" ]
              Expect.equal code 2 err
              Expect.stringContains err "\"web1\" is not CONTAINERID/IFNAME" err

          testCase "chained in a conflist: ADD runs no delegate, STATUS and GC need no container"
          <| fun () ->
              let chained = Path.Combine(repoRoot, "examples", "40-chained.conflist")

              let code, out, err = planWeb1Of chained "add" []

              Expect.equal code 0 err
              Expect.isFalse (out.Contains "delegate") out

              withTemp (fun dir ->
                  let v11 =
                      write dir "v11.conflist" ((File.ReadAllText chained).Replace("\"1.0.0\"", "\"1.1.0\""))

                  let code, out, err = ctl [ "plan"; "status"; v11 ]
                  Expect.equal code 0 err
                  Expect.stringStarts out "STATUS for the network: 3 steps" out
                  let code, out, err = ctl [ "plan"; "gc"; v11; "--valid"; "web1/eth0" ]
                  Expect.equal code 0 err

                  Expect.stringContains
                      out
                      "list attachment records in /var/lib/cni/dcos-l4lb/attachments/spartan-net"
                      out)

              let code, _, err = ctl [ "plan"; "gc"; chained; "--valid"; "web1/eth0" ]
              Expect.equal code 1 "a 1.0.0 config cannot GC"
              Expect.stringContains err "GC needs cniVersion 1.1.0" err

          testCase "GC's plan shows the removals of this host's stale attachments, never a listed one"
          <| fun () ->
              withTemp (fun dir ->
                  let conf =
                      write
                          dir
                          "gc.conf"
                          """{"cniVersion": "1.1.0", "name": "gcnet", "type": "dcos-l4lb", "minuteman": {"enable": false}, "delegate": {"type": "bridge"}}"""

                  // this host's records, seen through a private /var/lib
                  let records =
                      Path.Combine(dir, "varlib", "cni", "dcos-l4lb", "attachments", "gcnet")

                  Directory.CreateDirectory records |> ignore
                  File.WriteAllText(Path.Combine(records, "web1@eth0"), "/run/netns/web1")
                  File.WriteAllText(Path.Combine(records, "old2@eth0"), "/run/netns/old2")
                  let varlib = Path.Combine(dir, "varlib")
                  let l4lbctl = Path.Combine(repoRoot, "bin", "l4lbctl")
                  let output = Path.Combine(dir, "out")

                  sh
                      $"unshare --mount --propagation private sh -c 'mount --bind {varlib} /var/lib && {l4lbctl} plan gc {conf} --valid web1/eth0 > {output}'"

                  let out = File.ReadAllText output
                  Expect.stringContains out "old2@eth0: record unchanged: read attachment record" out
                  Expect.stringContains out "old2@eth0: Spartan IPAM host-local DEL" out
                  Expect.stringContains out "old2@eth0: remove attachment record" out
                  Expect.isFalse (out.Contains "web1@eth0") out) ]
