namespace Dcos.L4lb

open System
open System.Collections.Generic
open System.Text

/// The CNI operations this plugin answers.
type Command =
    | Add
    | Del
    | Check
    | Version
    /// CNI 1.1: is the plugin ready to serve ADD?
    | Status
    /// CNI 1.1: remove what belongs to attachments the runtime no longer has.
    | Gc

    /// The CNI_COMMAND spelling. Also ToString: the compiler's own ToString for a union
    /// goes through FSharp.Core's reflection-based printf, which Native AOT cannot run.
    member command.Name =
        match command with
        | Add -> "ADD"
        | Del -> "DEL"
        | Check -> "CHECK"
        | Version -> "VERSION"
        | Status -> "STATUS"
        | Gc -> "GC"

    override command.ToString() = command.Name

/// The runtime parameters of one invocation (the CNI_* environment), validated.
type Invocation =
    { Command: Command
      ContainerId: string
      /// None only for DEL, which the spec lets run without a netns.
      Netns: string option
      IfName: string
      Args: (string * string) list
      /// CNI_PATH, in search order, empty entries dropped.
      Path: string list }

module Invocation =
    let private isAsciiAlnum (c: char) = Char.IsAsciiLetterOrDigit c

    /// The spec's container ID: an ASCII letter or digit, then letters, digits, '_', '.', '-'.
    let isValidContainerId (id: string) =
        not (String.IsNullOrEmpty id)
        && isAsciiAlnum id[0]
        && id |> Seq.forall (fun c -> isAsciiAlnum c || c = '_' || c = '.' || c = '-')

    /// Linux's rule for interface names (the kernel's dev_valid_name, as the reference
    /// plugins check it): 1 to 15 bytes (IFNAMSIZ less the NUL), not "." or "..",
    /// no '/', ':' or white space.
    let isValidIfName (name: string) =
        not (String.IsNullOrEmpty name)
        && Encoding.UTF8.GetByteCount name <= 15
        && name <> "."
        && name <> ".."
        && not (name |> Seq.exists (fun c -> c = '/' || c = ':' || Char.IsWhiteSpace c))

    /// CNI_ARGS: "K=V;K=V". Empty segments are skipped; every other one needs a
    /// non-empty key and exactly one '='.
    let parseArgs (text: string) : Result<(string * string) list, string> =
        let pairs = text.Split(';', StringSplitOptions.RemoveEmptyEntries)

        let parsed =
            pairs
            |> Array.map (fun pair ->
                match pair.Split '=' with
                | [| key; value |] when key.Length > 0 -> Ok(key, value)
                | _ -> Error pair)

        match parsed |> Array.tryPick (function Error p -> Some p | Ok _ -> None) with
        | Some bad -> Error $"\"{bad}\" is not a KEY=VALUE pair; expected KEY=VALUE pairs separated by ';'"
        | None -> Ok [ for r in parsed do match r with Ok kv -> yield kv | Error _ -> () ]

    let private commandNames = "ADD, DEL, CHECK, GC, STATUS or VERSION"

    let parseCommand (text: string) : Result<Command, CniError> =
        match text with
        | "ADD" -> Ok Add
        | "DEL" -> Ok Del
        | "CHECK" -> Ok Check
        | "VERSION" -> Ok Version
        | "STATUS" -> Ok Status
        | "GC" -> Ok Gc
        | other ->
            Error(
                CniError.invalidEnvironment "CNI_COMMAND" $"unknown command \"{other}\"; expected {commandNames}"
            )

    /// Reads and checks the CNI_* variables for the command CNI_COMMAND names.
    /// Every problem is reported, not just the first.
    let ofEnvironment (env: IReadOnlyDictionary<string, string>) : Result<Invocation, CniError list> =
        let get name =
            match env.TryGetValue name with
            | true, v when not (String.IsNullOrEmpty v) -> Some v
            | _ -> None

        let bad name message = Error [ CniError.invalidEnvironment name message ]

        let path () =
            match get "CNI_PATH" with
            | None -> bad "CNI_PATH" "is required: the directories where CNI plugins are found"
            | Some text ->
                match text.Split(':', StringSplitOptions.RemoveEmptyEntries) |> List.ofArray with
                | [] -> bad "CNI_PATH" "names no directory"
                | dirs -> Ok dirs

        match get "CNI_COMMAND" with
        | None -> bad "CNI_COMMAND" $"is not set; expected {commandNames}"
        | Some text ->
            match parseCommand text with
            | Error e -> Error [ e ]
            | Ok Version ->
                Ok
                    { Command = Version
                      ContainerId = ""
                      Netns = None
                      IfName = ""
                      Args = []
                      Path = [] }
            | Ok(Status | Gc as command) ->
                // STATUS and GC concern the network, not a container: only CNI_PATH is needed
                path ()
                |> Result.map (fun dirs ->
                    { Command = command
                      ContainerId = ""
                      Netns = None
                      IfName = ""
                      Args = []
                      Path = dirs })
            | Ok command ->
                let containerId =
                    match get "CNI_CONTAINERID" with
                    | None -> bad "CNI_CONTAINERID" "is required"
                    | Some id when isValidContainerId id -> Ok id
                    | Some id ->
                        bad
                            "CNI_CONTAINERID"
                            $"\"{id}\" is not a valid container ID; expected an ASCII letter or digit followed by letters, digits, '_', '.' or '-'"

                let netns =
                    match get "CNI_NETNS", command with
                    | None, Del -> Ok None
                    | None, _ -> bad "CNI_NETNS" $"is required for {text}"
                    | Some path, _ when path.StartsWith '/' -> Ok(Some path)
                    | Some path, _ -> bad "CNI_NETNS" $"\"{path}\" is not an absolute path to a network namespace"

                let ifName =
                    match get "CNI_IFNAME" with
                    | None -> bad "CNI_IFNAME" "is required"
                    | Some name when isValidIfName name -> Ok name
                    | Some name ->
                        bad
                            "CNI_IFNAME"
                            $"\"{name}\" is not a valid interface name; expected 1 to 15 bytes without '/', ':' or white space, not \".\" or \"..\""

                let args =
                    match get "CNI_ARGS" with
                    | None -> Ok []
                    | Some text ->
                        match parseArgs text with
                        | Ok pairs -> Ok pairs
                        | Error message -> bad "CNI_ARGS" message

                Validation.validate {
                    let! containerId = containerId
                    and! netns = netns
                    and! ifName = ifName
                    and! args = args
                    and! path = path ()

                    return
                        { Command = command
                          ContainerId = containerId
                          Netns = netns
                          IfName = ifName
                          Args = args
                          Path = path }
                }
