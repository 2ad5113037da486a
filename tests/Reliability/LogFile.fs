/// The log is a witness, never a cause of failure, and a shared file: a log that cannot
/// be written costs at most one line on stderr and the command runs as without it; lines
/// of concurrent invocations arrive whole and none is lost, across rotations too; the
/// variable wins over the config's logFile; a config's logFile needs no variable.
module Dcos.L4lb.Tests.Reliability.LogFile

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open System.Text.RegularExpressions
open Expecto
open Dcos.L4lb.Tests
open Expectations

let private variable = "DCOS_L4LB_LOG_FILE"

/// The config with log fields set.
let private withLog (fields: (string * JsonNode) list) (conf: JsonObject) =
    let copy = conf.DeepClone().AsObject()

    for key, value in fields do
        copy[key] <- value

    copy

let private stderrLines (o: Command.Outcome) =
    o.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries) |> List.ofArray

let private atMostOneLine what (o: Command.Outcome) =
    let lines = stderrLines o
    Expect.isLessThanOrEqual lines.Length 1 $"{what}: at most one line on stderr, got:\n{o.Stderr}"
    lines

/// ADD, CHECK and DEL of one container with the log wherever `log` puts it: each
/// succeeds, each says so on stderr in at most one line, and DEL leaves nothing.
let private cycleWith (log: Scene -> L4lb.Invocation -> L4lb.Invocation) (mentions: Scene -> string) () =
    use scene = new Scene()
    let c = scene.NewContainer()
    let before = scene.State [ c ]
    let conf = Config.build Config.defaults
    let run command conf = L4lb.exec (log scene (L4lb.invocation scene command c conf))

    let add = run "ADD" conf
    expectOk "ADD" add
    let said = atMostOneLine "ADD" add
    Expect.isNonEmpty said "ADD says that the log cannot be written"
    Expect.stringContains said.Head (mentions scene) "the line names the log"
    expectAttached scene c |> ignore

    let withResult = L4lbInAgent.withPrevResult conf add.Stdout
    let check = run "CHECK" withResult
    expectOk "CHECK" check
    atMostOneLine "CHECK" check |> ignore

    let del = run "DEL" withResult
    expectOk "DEL" del
    atMostOneLine "DEL" del |> ignore
    expectUnchanged "after DEL" before (scene.State [ c ])
    expectNoAllocation scene c

let private toVariable (path: Scene -> string) (scene: Scene) (inv: L4lb.Invocation) =
    { inv with Environment = (variable, path scene) :: inv.Environment }

/// A directory that cannot be written even by root: a read-only tmpfs mounted in the
/// plugin's own mount namespace.
let private readOnly (scene: Scene) (inv: L4lb.Invocation) =
    let dir = Path.Combine(scene.Scratch, "read-only")
    Directory.CreateDirectory dir |> ignore

    { inv with
        Prelude = $"mount -t tmpfs -o ro none '{dir}'"
        Config = withLog [ "logFile", JsonValue.Create(Path.Combine(dir, "l4lb.log")) ] (inv.Config.AsObject()) }

// "<time> dcos-l4lb[<pid>] DEL <container>: <effect> -> <outcome> (<ms> ms)" or "... done"
let private textLine =
    Regex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z dcos-l4lb\[(\d+)\] DEL (\S+): (.+ -> .+ \(\d+\.\d ms\)|done)$")

/// DELs of containers that were never added (no netns): every removal finds nothing, and
/// each invocation writes the same lines.
let private dels (scene: Scene) (count: int) (conf: JsonObject) (env: (string * string) list) =
    let invocations =
        [ for i in 1..count ->
              { L4lb.invocation scene "DEL" { Id = $"logged{i}"; Netns = ""; Path = "" } conf with
                  Netns = None
                  Environment = env
                  TimeoutMs = 300_000 } ]

    let running = invocations |> List.map (L4lb.start)

    for inv, r in List.zip invocations running do
        expectOk $"DEL of {inv.ContainerId.Value}" (r.Wait inv.TimeoutMs)

    [ for inv in invocations -> inv.ContainerId.Value ]

/// Lines per invocation: the same for every one, and that of a DEL run alone.
let private expectEveryInvocationWhole (alone: int) (ids: string list) (containerOf: string list) =
    let counts = containerOf |> List.countBy id |> Map.ofList

    for id in ids do
        Expect.equal (counts.TryFind id |> Option.defaultValue 0) alone $"lines of {id} (a DEL alone writes {alone})"

    Expect.equal counts.Count ids.Length "no line of another container"

let private concurrentOnOneLog () =
    use scene = new Scene()
    let log = Path.Combine(scene.Scratch, "shared.log")
    let conf = Config.build Config.defaults
    let solo = Path.Combine(scene.Scratch, "solo.log")
    dels scene 1 conf [ variable, solo ] |> ignore
    let alone = File.ReadAllLines(solo).Length
    Expect.isGreaterThan alone 2 "a DEL alone logs its effects and its reply"

    let ids = dels scene 100 conf [ variable, log ]
    let lines = File.ReadAllLines log |> List.ofArray
    let broken = lines |> List.filter (textLine.IsMatch >> not)
    Expect.isEmpty broken $"{broken.Length} of {lines.Length} lines are not whole lines"
    let containerOf = lines |> List.map (fun l -> (textLine.Match l).Groups[2].Value)
    expectEveryInvocationWhole alone ids containerOf

    for id in ids do
        Expect.isTrue (lines |> List.exists (fun l -> l.EndsWith $" DEL {id}: done")) $"{id}'s reply line"

let private rotationUnderLoad () =
    use scene = new Scene()
    let log = Path.Combine(scene.Scratch, "rotated.log")
    // about 1.2 KB a file, four DEL lines: 50 DELs (some 90 KB) rotate it 70 times or so,
    // often several invocations at once, and the 100 backups hold it all
    let maxBytes = 1258L

    let conf =
        Config.build Config.defaults
        |> withLog
            [ "logFile", JsonValue.Create log
              "logFormat", JsonValue.Create "json"
              "logLevel", JsonValue.Create "debug"
              "logOptions", JsonNode.Parse """{"maxSize": 0.0012, "maxBackups": 100}""" ]

    let soloConf =
        conf
        |> withLog [ "logFile", JsonValue.Create(Path.Combine(scene.Scratch, "solo.log")); "logOptions", null ]

    dels scene 1 soloConf [] |> ignore
    let alone = File.ReadAllLines(Path.Combine(scene.Scratch, "solo.log")).Length

    let ids = dels scene 50 conf []

    let files =
        Directory.GetFiles(scene.Scratch, "rotated.log*")
        |> Array.filter (fun f -> not (f.EndsWith ".lock"))
        |> List.ofArray

    Expect.isGreaterThan files.Length 20 $"the log was rotated: {String.Join(' ', files)}"
    Expect.isLessThan files.Length 101 "no backup was dropped (the test would lose lines then)"

    // A backup smaller than maxSize was rotated by a second rotator after the first: the
    // race that, a step further, renames one backup over another.
    for f in files do
        let size = (FileInfo f).Length
        // each of the 50 may append a line between a rotation's check and the next
        Expect.isLessThan size (maxBytes + 50L * 1024L) $"{f} was rotated soon after it was full"

        if f <> log then
            Expect.isGreaterThanOrEqual size maxBytes $"{f} was full when it was rotated"

    let lines = files |> List.collect (File.ReadAllLines >> List.ofArray)

    let parsed =
        [ for l in lines ->
              try
                  use doc = JsonDocument.Parse l
                  doc.RootElement.GetProperty("container").GetString()
              with e ->
                  failtest $"not a whole JSON line ({e.Message}): {l}" ]

    Expect.equal (List.distinct lines).Length lines.Length "no line written twice"
    expectEveryInvocationWhole alone ids parsed

let private precedence () =
    use scene = new Scene()
    let fromConfig = Path.Combine(scene.Scratch, "config.log")
    let fromVariable = Path.Combine(scene.Scratch, "variable.log")
    let conf = Config.build Config.defaults |> withLog [ "logFile", JsonValue.Create fromConfig ]
    dels scene 1 conf [ variable, fromVariable ] |> ignore
    Expect.isFalse (File.Exists fromConfig) "nothing in the config's logFile"
    let lines = File.ReadAllLines fromVariable
    Expect.isGreaterThan lines.Length 1 "the variable's file, at debug: every effect and the reply"
    Expect.stringEnds lines[lines.Length - 1] "DEL logged1: done" "the reply's line"

let private configOnly () =
    use scene = new Scene()
    let c = scene.NewContainer()
    let log = Path.Combine(scene.Scratch, "from-config.log")
    let conf = Config.build Config.defaults |> withLog [ "logFile", JsonValue.Create log ]
    let add = L4lb.exec (L4lb.invocation scene "ADD" c conf)
    expectOk "ADD" add
    Expect.equal add.Stderr "" "nothing on stderr"

    expectOk "DEL" (L4lb.exec (L4lb.invocation scene "DEL" c (L4lbInAgent.withPrevResult conf add.Stdout)))

    let lines = File.ReadAllLines log
    Expect.equal lines.Length 2 $"verbose, the default: one line a command:\n{String.Join('\n', lines)}"
    Expect.stringEnds lines[0] $"ADD {c.Id}: done" "ADD's line"
    Expect.stringEnds lines[1] $"DEL {c.Id}: done" "DEL's line"

let tests =
    testList
        "log"
        [ testCase "the log at /dev/full (DCOS_L4LB_LOG_FILE): ADD, CHECK and DEL succeed, one stderr line at most, nothing left"
          <| cycleWith (toVariable (fun _ -> "/dev/full")) (fun _ -> "/dev/full")
          testCase "the log a directory: ADD, CHECK and DEL succeed, one stderr line at most, nothing left"
          <| cycleWith (toVariable _.Scratch) _.Scratch
          testCase "the config's logFile on a read-only file system: ADD, CHECK and DEL succeed, one stderr line at most"
          <| cycleWith readOnly (fun scene -> Path.Combine(scene.Scratch, "read-only"))
          testCase "a config's logFile gives a log with no variable set" configOnly
          testCase "DCOS_L4LB_LOG_FILE wins over the config's logFile" precedence
          testCase "100 concurrent DELs on one log: every line whole, every invocation's lines all there"
              concurrentOnOneLog
          testCase "rotation under 50 concurrent DELs: no line lost, none written twice" rotationUnderLoad ]
