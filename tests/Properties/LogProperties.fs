/// The log fields of a config: each mistake is reported at its JSON path by the same
/// validation every other field has; the settings the host gets (Core.logSettings) follow
/// the config, with DCOS_L4LB_LOG_FILE winning; the JSON lines read back as they were
/// written.
module Dcos.L4lb.Tests.LogProperties

open System
open System.Collections.Generic
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb
open Dcos.L4lb.Tests.Generators

let private config = { FsCheckConfig.defaultConfig with maxTest = Generators.scaled 200 }
let private property name body = testPropertyWithConfig config name body

let private s = Json.String
let private n = Json.Number

/// A log field, or a member of logOptions, set on a config object.
let private withLog (path: string list) (value: Json) (json: Json) =
    match path with
    | [ key ] -> Json.withField key value json
    | [ "logOptions"; key ] ->
        let options =
            match Json.tryField "logOptions" json with
            | Some(Json.Object _ as o) -> o
            | _ -> Json.Object []

        Json.withField "logOptions" (Json.withField key value options) json
    | _ -> invalidArg "path" "a log field or a logOptions member"

let private mistakes =
    [ "logFile relative", [ "logFile" ], s "var/log/l4lb.log", "$.logFile"
      "logFile not a string", [ "logFile" ], n "1", "$.logFile"
      "logFile a directory path", [ "logFile" ], s "/var/log/", "$.logFile"
      "logLevel unknown", [ "logLevel" ], s "panic", "$.logLevel"
      "logLevel not a string", [ "logLevel" ], Json.Bool true, "$.logLevel"
      "logToStderr not a boolean", [ "logToStderr" ], s "yes", "$.logToStderr"
      "logFormat unknown", [ "logFormat" ], s "xml", "$.logFormat"
      "logOptions not an object", [ "logOptions" ], n "5", "$.logOptions"
      "maxSize zero", [ "logOptions"; "maxSize" ], n "0", "$.logOptions.maxSize"
      "maxSize negative", [ "logOptions"; "maxSize" ], n "-1", "$.logOptions.maxSize"
      "maxSize a string", [ "logOptions"; "maxSize" ], s "100M", "$.logOptions.maxSize"
      "maxBackups fractional", [ "logOptions"; "maxBackups" ], n "1.5", "$.logOptions.maxBackups"
      "maxBackups too many", [ "logOptions"; "maxBackups" ], n "101", "$.logOptions.maxBackups"
      "maxAge (not carried out)", [ "logOptions"; "maxAge" ], n "5", "$.logOptions.maxAge"
      "compress (not carried out)", [ "logOptions"; "compress" ], Json.Bool true, "$.logOptions.compress" ]

let private fine =
    [ [ "logFile" ], s "/var/log/dcos-l4lb.log"
      [ "logLevel" ], s "error"
      [ "logLevel" ], s "verbose"
      [ "logLevel" ], s "debug"
      [ "logToStderr" ], Json.Bool true
      [ "logFormat" ], s "json"
      [ "logFormat" ], s "text"
      [ "logOptions"; "maxSize" ], n "100"
      [ "logOptions"; "maxSize" ], n "0.5"
      [ "logOptions"; "maxBackups" ], n "0" ]

let private parse (json: Json) =
    NetConf.parse (ReadOnlyMemory(Json.render json))

let private env (pairs: (string * string) list) =
    let d = Dictionary<string, string>()

    for k, v in ("CNI_COMMAND", "ADD") :: pairs do
        d[k] <- v

    d :> IReadOnlyDictionary<string, string>

let private settingsOf (pairs: (string * string) list) (conf: Json) =
    Core.logSettings (env pairs) (Json.render conf)

let validation =
    testList
        "log fields"
        [ for what, path, value, expected in mistakes do
              property $"{what}: one error, at {expected}" (fun () ->
                  Prop.forAll (Arb.fromGen validConfig) (fun c ->
                      match parse (withLog path value (NetConf.toJson c)) with
                      | Error [ e ] -> e.Field = expected && e.Code = 7
                      | _ -> false))

          property "valid log fields change nothing the commands read" (fun () ->
              Prop.forAll (Arb.fromGen (Gen.zip validConfig (Gen.subListOf fine))) (fun (c, fields) ->
                  let json = fields |> List.fold (fun j (path, value) -> withLog path value j) (NetConf.toJson c)
                  parse json = Ok c))

          property "a log mistake is reported beside the config's other mistakes" (fun () ->
              Prop.forAll (Arb.fromGen validConfig) (fun c ->
                  let json =
                      NetConf.toJson c
                      |> withLog [ "logFile" ] (s "relative.log")
                      |> Json.withField "mtu" (n "1")

                  match parse json with
                  | Error errors -> List.sort [ for e in errors -> e.Field ] = [ "$.logFile"; "$.mtu" ]
                  | Ok _ -> false)) ]

let private base' =
    Json.Object [ "cniVersion", s "1.0.0"; "name", s "net1"; "type", s "dcos-l4lb" ]

let settings =
    testList
        "log settings"
        [ test "no log fields and no variable: no log" {
              let got = settingsOf [] base'
              Expect.isFalse got.Enabled "enabled"
              Expect.isNull got.File "file"
          }

          test "logFile alone: a verbose text log there, not rotated" {
              let got = settingsOf [ "CNI_CONTAINERID", "c1" ] (withLog [ "logFile" ] (s "/var/log/x.log") base')
              Expect.equal got.File "/var/log/x.log" "file"
              Expect.equal got.Level LogLevel.Verbose "level"
              Expect.equal got.Format LogFormat.Text "format"
              Expect.equal got.MaxBytes 0L "no rotation"
              Expect.isTrue (got.LogsReply 0) "a line for each command"
              Expect.isFalse got.LogsEffects "no line for each effect"
              Expect.equal (got.Command, got.Container, got.Network) ("ADD", "c1", "net1") "what the lines name"
          }

          test "the variable wins over logFile, and alone gives debug" {
              let conf = withLog [ "logFile" ] (s "/var/log/x.log") base'
              let got = settingsOf [ Logging.fileVariable, "/tmp/y.log" ] conf
              Expect.equal got.File "/tmp/y.log" "the variable's file"
              Expect.equal got.Level LogLevel.Debug "debug, as the variable always logged"

              let leveled = settingsOf [ Logging.fileVariable, "/tmp/y.log" ] (withLog [ "logLevel" ] (s "error") conf)
              Expect.equal leveled.Level LogLevel.Error "the config's level"
              Expect.isFalse (leveled.LogsReply 0) "error: no line for a command that succeeds"
              Expect.isTrue (leveled.LogsReply 7) "error: a line for one that fails"
          }

          test "rotation from logOptions, in bytes" {
              let conf = base' |> withLog [ "logOptions"; "maxSize" ] (n "0.5") |> withLog [ "logOptions"; "maxBackups" ] (n "3")
              let got = settingsOf [ Logging.fileVariable, "/tmp/y.log" ] conf
              Expect.equal (got.MaxBytes, got.MaxBackups) (524288L, 3) "0.5 MB, 3 backups"
          }

          test "a key written with escapes is read" {
              let bytes = Encoding.UTF8.GetBytes """{"cniVersion":"1.0.0","name":"n","type":"t","\u006cogFile":"/x.log"}"""
              Expect.equal (Core.logSettings (env []) bytes).File "/x.log" "file"
          }

          test "invalid log fields give no log from the config, but the variable still works" {
              let conf = withLog [ "logFile" ] (s "relative") base'
              Expect.isFalse (settingsOf [] conf).Enabled "no log"
              Expect.equal (settingsOf [ Logging.fileVariable, "/tmp/y.log" ] conf).File "/tmp/y.log" "the variable's file"
          } ]

let private effects =
    [ Change(DeleteLink(HostNs, "veth1")), Completed
      Change(RemoveFile(Checkpoint, "/run/l4lb", "c1")), Failed { Kind = NotFound; Message = "gone\nreally" }
      InspectLink(ContainerNs "/run/netns/x", "spartan"), Found
      AwaitPlugin
          { Id = 3
            Call =
              { Type = "host-local"
                Command = "DEL"
                Environment = [||]
                Config = Json.Object []
                Path = [||]
                TimeoutMs = 1 } },
      Exited(0, 12) ]

let lines =
    testList
        "log lines"
        [ test "a JSON effect line reads back as it was written" {
              let settings =
                  { settingsOf [ Logging.fileVariable, "/tmp/y.log" ] (withLog [ "logFormat" ] (s "json") base') with
                      Container = "c\"1" }

              for effect, outcome in effects do
                  let label = Some { Step = "step one"; Undo = "nothing"; Number = Nullable 3 }
                  let line = Logging.effectLine settings 42 DateTime.UtcNow effect label (effect.Describe()) outcome 1.25
                  let text = Encoding.UTF8.GetString line
                  Expect.equal (text.IndexOf '\n') (text.Length - 1) "one line"

                  let expected =
                      { Step = Some "step one"
                        StepNumber = Some 3
                        Effect = effect.Describe()
                        Kind = Logging.effectKind effect
                        Plugin =
                          match effect with
                          | AwaitPlugin p -> Some(p.Call.Type, p.Call.Command)
                          | _ -> None
                        Outcome = outcome }

                  Expect.equal (LoggedEffect.read text) (Some expected) text
          }

          test "a text line is one line whatever the message holds" {
              let settings = settingsOf [ Logging.fileVariable, "/tmp/y.log" ] base'

              let line =
                  Logging.effectLine settings 42 DateTime.UtcNow (fst effects[1]) None "remove" (snd effects[1]) 0.5
                  |> Encoding.UTF8.GetString

              Expect.equal (line.IndexOf '\n') (line.Length - 1) line
              Expect.stringContains line "ADD: remove -> failed (not found): gone really (0.5 ms)" line
          }

          test "a reply line names the error" {
              let settings = settingsOf [ Logging.fileVariable, "/tmp/y.log" ] (withLog [ "logFormat" ] (s "json") base')
              let reply = { Stdout = Encoding.UTF8.GetBytes """{"code":7,"msg":"bad"}"""; Stderr = ""; ExitCode = 1 }

              match Json.parse (ReadOnlyMemory(Logging.replyLine settings 42 DateTime.UtcNow reply 3.0)) with
              | Ok json ->
                  Expect.equal (Json.tryField "outcome" json) (Some(s "failed")) "outcome"
                  Expect.equal (Json.tryField "error" json |> Option.bind (Json.tryField "code")) (Some(n "7")) "the error"
                  Expect.equal (Json.tryField "network" json) (Some(s "net1")) "network"
              | Error e -> failtest e
          } ]
