/// The binary's protocol surface: VERSION, the about text, and a valid request.
module Dcos.L4lb.Tests.Replies

open System
open System.Text.Json
open Expecto

/// The plugin where the test runs (these commands change nothing), this input as UTF-8.
let private run env (stdin: string) =
    L4lb.execRaw L4lb.Here env (Text.Encoding.UTF8.GetBytes stdin)

let tests =
    testList
        "replies"
        [ testCase "VERSION prints the seven supported versions and exits 0" <| fun () ->
              let o = run [ "CNI_COMMAND", "VERSION" ] """{"cniVersion": "1.0.0"}"""
              Expect.equal o.ExitCode 0 "exit"
              use doc = JsonDocument.Parse o.Stdout

              let versions =
                  [ for v in doc.RootElement.GetProperty("supportedVersions").EnumerateArray() -> v.GetString() ]

              Expect.equal versions [ "0.1.0"; "0.2.0"; "0.3.0"; "0.3.1"; "0.4.0"; "1.0.0"; "1.1.0" ] "versions"
              Expect.equal o.Stderr "" "nothing on stderr"

          testCase "VERSION with empty stdin still answers" <| fun () ->
              let o = run [ "CNI_COMMAND", "VERSION" ] ""
              Expect.equal o.ExitCode 0 "exit"
              Expect.stringContains o.Stdout "supportedVersions" "reply"

          testCase "stdout redirected to a file that has content already: the reply is added after it" <| fun () ->
              // a positional writer would put the reply at offset 0, over what is there
              let file = IO.Path.GetTempFileName()

              try
                  Command.sh $"(echo before; echo '{{\"cniVersion\":\"1.0.0\"}}' | CNI_COMMAND=VERSION {L4lbBinary.path}; echo; echo after) > {file}"
                  |> ignore

                  let lines = IO.File.ReadAllLines file
                  Expect.equal lines.Length 3 (String.Join("|", lines))
                  Expect.equal lines[0] "before" "first line kept"
                  Expect.stringStarts lines[1] "{\"cniVersion\":\"1.1.0\",\"supportedVersions\"" "the reply"
                  Expect.equal lines[2] "after" "last line"
              finally
                  IO.File.Delete file

          testCase "a reader that closes stdout early does not make the plugin crash" <| fun () ->
              let errors = IO.Path.GetTempFileName()

              try
                  // `true` exits at once: the reply is written to a pipe nobody reads (EPIPE)
                  Command.sh $"echo '{{\"cniVersion\":\"1.0.0\"}}' | CNI_COMMAND=VERSION {L4lbBinary.path} 2> {errors} | true"
                  |> ignore

                  Expect.equal (IO.File.ReadAllText errors) "" "nothing on stderr"
              finally
                  IO.File.Delete errors

          testCase "run by hand: the about text on stderr, stdout empty, exit 0" <| fun () ->
              let o = run [] ""
              Expect.equal o.ExitCode 0 "exit"
              Expect.equal o.Stdout "" "stdout"
              Expect.stringStarts o.Stderr "CNI dcos-l4lb plugin v" "about"
              Expect.stringContains o.Stderr "CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0" "versions"

          testCase "the error's cniVersion is the config's" <| fun () ->
              let o = run [ "CNI_COMMAND", "ADD" ] """{"cniVersion": "0.3.1", "name": "x"}"""
              use doc = JsonDocument.Parse o.Stdout
              Expect.equal (doc.RootElement.GetProperty("cniVersion").GetString()) "0.3.1" "version" ]
