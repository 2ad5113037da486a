/// `l4lbctl gc`: the plugin's own GC, run the way a runtime runs it. l4lbctl only says
/// which attachments are still valid (this host's records whose netns exists); what goes,
/// under which locks, is the plugin's decision, and its JSON log says what it did.
module Dcos.L4lb.Ctl.PluginGc

open System
open System.Diagnostics
open System.IO
open System.Text
open Dcos.L4lb
open Dcos.L4lb.Ctl.ConfigFile

/// Where a runtime finds CNI plugins, unless told otherwise.
let defaultCniPath = [ "/opt/cni/bin"; "/usr/lib/cni" ]

/// The GC invocation for the network of a config entry: the config at CNI 1.1.0 with this
/// host's live attachments as cni.dev/valid-attachments, and the attachments listed.
/// None valid when the core cannot read the config (it refuses such a GC before running).
let input (cniPath: string list) (entry: Entry) : CniInput.CniInput * Attachment list =
    let config = CniInput.atGcVersion entry.Bytes

    let valid =
        CniInput.tryConf config
        |> Option.map ThisHost.liveAttachments
        |> Option.defaultValue []

    { Environment = CniInput.environment Gc None None None cniPath
      Stdin = CniInput.withValid valid config },
    valid

/// GC's removals as its effect log tells them: links deleted, files removed, Spartan
/// leases released (the Spartan IPAM plugin's DEL).
let isRemoval (conf: NetConf) (effect: LoggedEffect) =
    match effect.Kind, effect.Plugin with
    | "delete-link", _
    | "remove-file", _ -> true
    | "run-plugin", Some(pluginType, "DEL") -> pluginType = conf.Spartan.Network.IpamType
    | _ -> false

/// The plugin binary in the first directory of the CNI path that has one.
let find (cniPath: string list) =
    cniPath
    |> List.map (fun dir -> Path.Combine(dir, Core.name))
    |> List.tryFind File.Exists

/// How long the plugin's GC may take before l4lbctl kills it (unless --timeout says
/// otherwise): a guard against a hang,
/// not a deadline. The plugin gives each plugin it runs 60 s; a GC may first wait for
/// an ADD that holds an attachment's lock (its delegate and Spartan IPAM runs, each
/// possibly run again after a version negotiation: 4 x 60 s), then run a Spartan IPAM
/// DEL per stale attachment and the delegate's GC. Ten minutes is past all of that on
/// any agent where the plugins answer at all.
let timeLimit = TimeSpan.FromMinutes 10.0

/// The config as the GC run gets it: its log as JSON lines, every effect, all of it in
/// the one file the run reads (no rotation), nothing on stderr.
let private logged (stdin: byte[]) =
    match Json.parse (ReadOnlyMemory stdin) with
    | Ok(Json.Object _ as config) ->
        config
        |> Json.withField "logFormat" (Json.String "json")
        |> Json.withField "logLevel" (Json.String "debug")
        |> Json.withField "logToStderr" (Json.Bool false)
        |> Json.withField "logOptions" Json.Null
        |> Json.render
    | _ -> stdin

/// What one run of the plugin did.
type Run =
    {
        ExitCode: int
        Stdout: string
        /// Each effect it carried out, with its outcome, in order.
        Effects: LoggedEffect list
        /// Killed at the time limit.
        Killed: bool
    }

/// Runs the plugin with this input; its stderr (and that of the plugins it runs) goes to
/// ours. Its log goes to a file of its own for this run, as JSON lines.
let run (timeLimit: TimeSpan) (binary: string) (input: CniInput.CniInput) : Run =
    let log = Path.GetTempFileName()

    try
        let info =
            ProcessStartInfo(
                binary,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false
            )

        // the runtime's variables are ours alone: none inherited from the caller
        for name in [ for v in info.Environment.Keys -> v ] do
            if name.StartsWith "CNI_" then
                info.Environment.Remove name |> ignore

        for KeyValue(name, value) in input.Environment do
            info.Environment[name] <- value

        info.Environment[Logging.fileVariable] <- log

        use plugin = Process.Start info
        let stdout = plugin.StandardOutput.ReadToEndAsync()
        plugin.StandardInput.BaseStream.Write(logged input.Stdin)
        plugin.StandardInput.Close()
        let finished = plugin.WaitForExit timeLimit

        if not finished then
            // the plugins it runs go with it; the locks it held go with their descriptors
            plugin.Kill true
            plugin.WaitForExit()

        // a process that left the tree may hold stdout open: rather than wait for it, what
        // the plugin printed is then lost
        let replied = stdout.Wait(TimeSpan.FromSeconds 10.0)

        { ExitCode = plugin.ExitCode
          Stdout = if replied then stdout.Result else ""
          Effects =
            File.ReadAllLines(log, Encoding.UTF8)
            |> Array.toList
            |> List.choose LoggedEffect.read
          Killed = not finished }
    finally
        File.Delete log
