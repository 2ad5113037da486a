/// `l4lbctl validate` reads the log fields by the plugin's own rules: each mistake with
/// its JSON path, beside the config's other mistakes.
module Dcos.L4lb.Tests.LogValidation

open System.IO
open System.Text.Json
open Expecto
open Dcos.L4lb.Tests.Host

let private badLog =
    """{"cniVersion": "1.0.0", "name": "n", "type": "dcos-l4lb", "delegate": {"type": "bridge"},
        "logFile": "dcos-l4lb.log", "logLevel": 3, "logOptions": {"maxSize": 0, "compress": true}}"""

let private goodLog =
    """{"cniVersion": "1.0.0", "name": "n", "type": "dcos-l4lb", "delegate": {"type": "bridge"},
        "logFile": "/var/log/dcos-l4lb.log", "logLevel": "debug", "logToStderr": false, "logFormat": "json",
        "logOptions": {"maxSize": 10, "maxBackups": 3}}"""

let tests =
    testList
        "validate log fields"
        [ testCase "bad log fields: each error at its JSON path; exit 1"
          <| fun () ->
              withTemp (fun dir ->
                  let file = Path.Combine(dir, "bad.conf")
                  File.WriteAllText(file, badLog)
                  let code, out, _ = ctl [ "validate"; "--json"; file ]
                  Expect.equal code 1 out
                  use doc = JsonDocument.Parse out

                  let paths =
                      [ for e in doc.RootElement[0].GetProperty("errors").EnumerateArray() ->
                            e.GetProperty("path").GetString(), e.GetProperty("code").GetInt32() ]

                  Expect.equal
                      (List.sort paths)
                      [ "$.logFile", 7; "$.logLevel", 7; "$.logOptions.compress", 7; "$.logOptions.maxSize", 7 ]
                      out

                  let _, text, _ = ctl [ "validate"; file ]
                  Expect.stringContains text "$.logFile: \"dcos-l4lb.log\" is not an absolute file path" text)

          testCase "good log fields: valid, exit 0"
          <| fun () ->
              withTemp (fun dir ->
                  let file = Path.Combine(dir, "good.conf")
                  File.WriteAllText(file, goodLog)
                  let code, out, _ = ctl [ "validate"; file ]
                  Expect.equal code 0 out
                  Expect.stringContains out $"{file}: valid" out) ]
