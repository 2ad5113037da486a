/// When the plugin replies, its attachment record and its checkpoint are on disk: strace
/// shows, for each file written, the file fsync'ed, then renamed into place, then its
/// directory fsync'ed; and for each file removed, the directory fsync'ed after the unlink.
module Dcos.L4lb.Tests.Reliability.Durable

open System.IO
open System.Text.RegularExpressions
open Expecto
open Dcos.L4lb.Tests
open Expectations

/// One system call of the trace: the thread (when strace follows several), the call and
/// its arguments, its result.
type private Call =
    { Thread: string
      Name: string
      Args: string
      Result: string }

let private parse (trace: string) : Call list =
    [ for line in File.ReadAllLines trace do
          let m = Regex.Match(line, "^(?:(\\d+)\\s+)?(\\w+)\\((.*)\\)\\s+=\\s+(-?\\d+)")

          if m.Success then
              { Thread = m.Groups[1].Value
                Name = m.Groups[2].Value
                Args = m.Groups[3].Value
                Result = m.Groups[4].Value } ]

let private quoted (path: string) = "\"" + path + "\""

/// The index of the first call after `from` that matches, or a failure naming `what`.
let private find (calls: Call list) (from: int) (what: string) (matches: Call -> bool) =
    match calls |> List.indexed |> List.tryFind (fun (i, c) -> i > from && matches c) with
    | Some(i, _) -> i
    | None -> failtest $"no {what} after call {from} in the trace"

let private isFsyncOf (thread: string) (fd: string) (c: Call) =
    c.Thread = thread && (c.Name = "fsync" || c.Name = "fdatasync") && c.Args = fd

/// The directory is opened and fsync'ed after call `from`.
let private directorySynced (calls: Call list) (from: int) (directory: string) =
    let opened =
        find calls from $"open of {directory}" (fun c ->
            c.Name = "openat"
            && c.Args.Contains(quoted directory)
            && c.Args.Contains "O_DIRECTORY")

    let d = calls[opened]

    find calls opened $"fsync of {directory}" (isFsyncOf d.Thread d.Result)
    |> ignore

/// `final` written the durable way: its dot-file opened, fsync'ed, renamed to it, and the
/// directory fsync'ed, in that order.
let private expectWrittenDurably (calls: Call list) (directory: string) (name: string) =
    let temporary = Path.Combine(directory, $".{name}.tmp")
    let final = Path.Combine(directory, name)

    let opened =
        find calls -1 $"open of {temporary}" (fun c ->
            c.Name = "openat"
            && c.Args.Contains(quoted temporary)
            && c.Args.Contains "O_CREAT")

    let file = calls[opened]

    let synced =
        find calls opened $"fsync of {temporary}" (isFsyncOf file.Thread file.Result)

    let renamed =
        find calls synced $"rename of {temporary} to {final}" (fun c ->
            c.Name.StartsWith "rename"
            && c.Args.Contains(quoted temporary)
            && c.Args.Contains(quoted final))

    directorySynced calls renamed directory

/// `final` removed, and then its directory fsync'ed.
let private expectRemovedDurably (calls: Call list) (directory: string) (name: string) =
    let final = Path.Combine(directory, name)

    let removed =
        find calls -1 $"unlink of {final}" (fun c -> c.Name.StartsWith "unlink" && c.Args.Contains(quoted final))

    directorySynced calls removed directory

let private traced (scene: Scene) (inv: L4lb.Invocation) (trace: string) =
    { inv with
        // the plugin's own thread, which carries out every effect (not the plugins it runs)
        Tracer = Faults.tracing trace "openat,fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat" }

let private recordsAndCheckpoints () =
    Faults.requireStrace ()
    use scene = new Scene()
    let c = scene.NewContainer()
    let conf = Config.build Config.defaults
    let records = $"/var/lib/cni/dcos-l4lb/attachments/{L4lbInAgent.network}"
    let addTrace = Path.Combine(scene.Scratch, "add.trace")
    let o = L4lb.exec (traced scene (L4lb.invocation scene "ADD" c conf) addTrace)
    expectOk "ADD" o

    let record =
        match scene.FilesIn("cni", "dcos-l4lb", "attachments", L4lbInAgent.network) with
        | [ name ] -> name
        | other -> failtest $"one attachment record after ADD: {other}"

    expectWrittenDurably (parse addTrace) records record

    // DEL with Minuteman on removes the checkpoint too (this kernel makes none: it has no
    // dummy links; the one ADD would have written is put there by hand)
    Directory.CreateDirectory scene.CheckpointDir |> ignore
    File.WriteAllText(Path.Combine(scene.CheckpointDir, c.Id), c.Path)

    let withMinuteman =
        Config.build
            { Config.defaults with
                Minuteman = Config.minutemanOn scene }

    let delTrace = Path.Combine(scene.Scratch, "del.trace")

    expectOk
        "DEL"
        (L4lb.exec (traced scene (L4lb.invocation scene "DEL" c (L4lbInAgent.withPrevResult withMinuteman o.Stdout)) delTrace))

    let calls = parse delTrace
    expectRemovedDurably calls records record
    expectRemovedDurably calls scene.CheckpointDir c.Id

let tests =
    testCase
        "the attachment record is fsync'ed, renamed, its directory fsync'ed; removals of records and checkpoints are followed by a directory fsync"
        recordsAndCheckpoints
