namespace Dcos.L4lb.Tests.FullKernel

open System
open System.IO
open System.Text
open System.Text.Json
open System.Threading
open Dcos.L4lb.Tests

/// One event as dcos-net would act on it (dot-names are kept apart as Ignored).
type WatchEvent =
    /// IN_CLOSE_WRITE, with the file's bytes as read at the event (or why they could not be).
    | CloseWrite of name: string * content: Result<byte[], string>
    | Delete of name: string
    | Ignored of name: string
    /// "overflow", "watch-gone", "expired", "error: ..."
    | Trouble of string

    override e.ToString() =
        match e with
        | CloseWrite(name, Ok bytes) -> $"close-write {name} = \"{Encoding.UTF8.GetString bytes}\" ({bytes.Length} bytes)"
        | CloseWrite(name, Error why) -> $"close-write {name}, unreadable: {why}"
        | Delete name -> $"delete {name}"
        | Ignored name -> $"ignored {name}"
        | Trouble what -> what

/// A checkpoint-directory watcher that behaves as dcos-net's (checkpoint-watcher.py):
/// inotify on the directory for IN_CLOSE_WRITE and IN_DELETE only, names starting with
/// '.' ignored, a file read whole at its close-write.
///
/// `Settle` is a barrier: it writes and then deletes a file of its own in the directory
/// and waits until the watcher reports both. inotify reports a directory's events in
/// the order they happened, so every event of an ADD or DEL that returned before the
/// barrier has been reported by then, and no sleeping or guessing is needed.
type Watcher(directory: string) =
    let script = Path.Combine(AppContext.BaseDirectory, "checkpoint-watcher.py")
    let events = ResizeArray<WatchEvent>()
    let mutable ready = false
    let mutable cursor = 0
    let mutable barriers = 0
    let barrierPrefix = "fullkernel-barrier-"

    let parse (line: string) =
        try
            use doc = JsonDocument.Parse line
            let root = doc.RootElement
            let text (name: string) = root.GetProperty(name).GetString()

            match text "event" with
            | "ready" ->
                ready <- true
                None
            | "close-write" ->
                match root.TryGetProperty "content" with
                | true, hex -> Some(CloseWrite(text "name", Ok(Convert.FromHexString(hex.GetString()))))
                | _ -> Some(CloseWrite(text "name", Error(text "error")))
            | "delete" -> Some(Delete(text "name"))
            | "ignored" -> Some(Ignored(text "name"))
            | "error" -> Some(Trouble("error: " + text "error"))
            | other -> Some(Trouble other)
        with :? JsonException ->
            Some(Trouble("watcher said: " + line))

    let proc =
        new Background(
            Programs.python3,
            [ script; directory; "900" ],
            stdinOpen = true,
            onLine =
                fun line ->
                    lock events (fun () ->
                        parse line |> Option.iter events.Add
                        Monitor.PulseAll events)
        )

    do

        Programs.waitUntil
            $"the checkpoint watcher on {directory}"
            120.
            (fun () -> if proc.HasExited then Some $"it exited: {proc.Log}" else None)
            (fun () -> lock events (fun () -> ready))

    let waitFor (what: string) (predicate: WatchEvent -> bool) =
        // a guard against a hang: the watcher reports within milliseconds
        let deadline = DateTime.UtcNow.AddSeconds 60.

        lock events (fun () ->
            let rec loop () =
                match Seq.tryFindIndex predicate (Seq.skip cursor events) with
                | Some i -> cursor + i
                | None ->
                    let left = deadline - DateTime.UtcNow

                    if left <= TimeSpan.Zero then
                        failwith $"the watcher did not report {what} within 60 s; it saw: {List.ofSeq events}"

                    Monitor.Wait(events, left) |> ignore
                    loop ()

            loop ())

    member _.Directory = directory

    /// Every event since the previous barrier, in order, without the barrier's own.
    member _.Settle() : WatchEvent list =
        barriers <- barriers + 1
        let name = $"{barrierPrefix}{barriers}"
        let path = Path.Combine(directory, name)
        File.WriteAllText(path, "barrier")
        File.Delete path
        let last = waitFor $"the delete of {name}" (fun e -> e = Delete name)

        lock events (fun () ->
            let since = [ for i in cursor .. last -> events[i] ]
            cursor <- last + 1

            since
            |> List.filter (function
                | CloseWrite(n, _)
                | Delete n -> not (n.StartsWith barrierPrefix)
                | _ -> true))

    /// Everything it reported, for failure messages.
    member _.All = lock events (fun () -> List.ofSeq events)

    /// The watcher's process, for the leak check.
    member _.Pid = proc.Pid

    interface IDisposable with
        member _.Dispose() =
            proc.CloseInput 5_000 |> ignore
            (proc :> IDisposable).Dispose()
