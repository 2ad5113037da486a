namespace Dcos.L4lb

open System

/// The step of a plan a request belongs to, for the log and for `l4lbctl plan`.
type Label =
    { Step: string
      /// How the step is undone, in words.
      Undo: string
      /// The step's number in ADD's or DEL's plan (what errors name it by); null for a
      /// request outside a plan (CHECK, STATUS, GC, an undo).
      Number: Nullable<int> }

/// What the host does next: answer a request, or finish with a reply. The core is a
/// program that stops at every effect; the host carries the effect out and resumes the
/// program by answering the request with the outcome its kind has (a link's state for
/// InspectLink, an exit for AwaitPlugin, ...). No other outcome can be handed in.
type Next =
    /// The end of an invocation: what to print and the exit code.
    | Finished of Reply: Reply
    | Pending of Request: Request

/// An effect the host must carry out. Every request can fail; each kind has its own
/// answer, and `Handle` hands it to the handler's method for that kind.
and [<AbstractClass>] Request internal (effect: Effect, label: Label option, failed: Failure -> Next) =
    /// What to do, as data (for the log).
    member _.Effect = effect
    /// The plan step this request carries out, if it is one.
    member _.Label = label
    member _.Fail(failure: Failure) = failed failure
    member _.Fail(kind: FailureKind, message: string) = failed { Kind = kind; Message = message }
    abstract Handle<'r> : IRequestHandler<'r> -> 'r

/// One method per kind of request: whoever answers requests (the host, the model)
/// implements all of them, so no kind can be missed.
and IRequestHandler<'r> =
    abstract Change: ChangeRequest -> 'r
    abstract Start: StartRequest -> 'r
    abstract Await: AwaitRequest -> 'r
    abstract InspectLink: LinkRequest -> 'r
    abstract ListRoutes: RoutesRequest -> 'r
    abstract ReadFile: FileRequest -> 'r
    abstract ListFiles: FilesRequest -> 'r

/// A change or a probe: answered Completed.
and [<Sealed>] ChangeRequest internal (change: Change, label, resume: Result<unit, Failure> -> Next) =
    inherit Request(Effect.Change change, label, Error >> resume)
    member _.Change = change
    member _.Completed() = resume (Ok())
    override r.Handle h = h.Change r

and [<Sealed>] StartRequest internal (call: PluginCall, label, resume: Result<int, Failure> -> Next) =
    inherit Request(StartPlugin call, label, Error >> resume)
    member _.Call = call
    /// The host's handle for the started plugin, handed back in its AwaitRequest.
    member _.Started(id: int) = resume (Ok id)
    override r.Handle h = h.Start r

and [<Sealed>] AwaitRequest internal (plugin: RunningPlugin, label, resume: Result<PluginExit, Failure> -> Next) =
    inherit Request(AwaitPlugin plugin, label, Error >> resume)
    member _.Plugin = plugin
    member _.Exited(exitCode: int, stdout: byte[]) = resume (Ok { ExitCode = exitCode; Stdout = stdout })
    override r.Handle h = h.Await r

and [<Sealed>] LinkRequest internal (ns: Namespace, name: string, label, resume: Result<LinkState, Failure> -> Next) =
    inherit Request(InspectLink(ns, name), label, Error >> resume)
    member _.Namespace = ns
    member _.Name = name
    member _.Found(link: LinkState) = resume (Ok link)
    override r.Handle h = h.InspectLink r

and [<Sealed>] RoutesRequest internal (ns: Namespace, link: string, label, resume: Result<RouteEntry[], Failure> -> Next) =
    inherit Request(ListRoutes(ns, link), label, Error >> resume)
    member _.Namespace = ns
    member _.Link = link
    member _.Found(routes: RouteEntry[]) = resume (Ok routes)
    override r.Handle h = h.ListRoutes r

and [<Sealed>] FileRequest internal (kind: FileKind, directory: string, name: string, label, resume: Result<StoredFile, Failure> -> Next) =
    inherit Request(ReadFile(kind, directory, name), label, Error >> resume)
    member _.Kind = kind
    member _.Directory = directory
    member _.Name = name
    member _.Found(file: StoredFile) = resume (Ok file)
    override r.Handle h = h.ReadFile r

and [<Sealed>] FilesRequest internal (kind: FileKind, directory: string, label, resume: Result<StoredFile[], Failure> -> Next) =
    inherit Request(ListFiles(kind, directory), label, Error >> resume)
    member _.Kind = kind
    member _.Directory = directory
    member _.Found(files: StoredFile[]) = resume (Ok files)
    override r.Handle h = h.ListFiles r

/// A piece of the core that performs effects and then yields a value: given what to do
/// with the value, the next thing the host must do.
type Program<'a> = ('a -> Next) -> Next

/// The computation expression for programs: `let!` performs and binds the answer,
/// `match!` branches on it, `return` ends with a value. Loops are recursion (see
/// `Program.collect`).
type ProgramBuilder() =
    member _.Return(value: 'a) : Program<'a> = fun k -> k value
    member _.ReturnFrom(p: Program<'a>) : Program<'a> = p
    member _.Bind(p: Program<'a>, f: 'a -> Program<'b>) : Program<'b> = fun k -> p (fun a -> f a k)
    member _.Delay(f: unit -> Program<'a>) : Program<'a> = fun k -> f () k

[<AutoOpen>]
module ProgramBuilder =
    let program = ProgramBuilder()

module Program =
    /// Nothing to do, and no items: a branch of a command that does not apply.
    let none<'a> : Program<'a list> = fun k -> k []

    /// Runs `f` on each item in turn and joins what they yield, in order.
    let rec collect (f: 'x -> Program<'y list>) (items: 'x list) : Program<'y list> =
        program {
            match items with
            | [] -> return []
            | x :: rest ->
                let! first = f x
                let! others = collect f rest
                return first @ others
        }

/// The effects, one primitive each: the only places a request is made. `label` names the
/// plan step the effect carries out, when it is one.
module Perform =
    let change label (c: Change) : Program<Result<unit, Failure>> = fun k -> Pending(ChangeRequest(c, label, k))
    let start label (call: PluginCall) : Program<Result<int, Failure>> = fun k -> Pending(StartRequest(call, label, k))

    let await label (plugin: RunningPlugin) : Program<Result<PluginExit, Failure>> =
        fun k -> Pending(AwaitRequest(plugin, label, k))

    let inspectLink label ns name : Program<Result<LinkState, Failure>> = fun k -> Pending(LinkRequest(ns, name, label, k))
    let listRoutes label ns link : Program<Result<RouteEntry[], Failure>> = fun k -> Pending(RoutesRequest(ns, link, label, k))

    let readFile label kind directory name : Program<Result<StoredFile, Failure>> =
        fun k -> Pending(FileRequest(kind, directory, name, label, k))

    let listFiles label kind directory : Program<Result<StoredFile[], Failure>> =
        fun k -> Pending(FilesRequest(kind, directory, label, k))

    /// A plugin run from start to exit.
    let run label (call: PluginCall) : Program<Result<PluginExit, Failure>> =
        program {
            match! start label call with
            | Ok id -> return! await label { Id = id; Call = call }
            | Error f -> return Error f
        }

    /// Runs a whole program: the first thing the host must do.
    let first (p: Program<Reply>) : Next = p Finished
