/// `l4lbctl gc`: the plugin's own GC, run the way a runtime runs it. l4lbctl only says
/// which attachments are still valid (this host's records whose netns exists); what goes,
/// under which locks, is the plugin's decision, and its effect log says what it did.
module Dcos.L4lb.Ctl.PluginGc

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Text.RegularExpressions
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

/// GC's removals as its effect log and `plan gc` describe them: links deleted, files
/// removed, Spartan leases released.
let isRemoval (conf: NetConf) (effect: string) =
    effect.StartsWith "delete link "
    || effect.StartsWith "remove "
    || effect = $"run {conf.Spartan.Network.IpamType} DEL"

/// The plugin binary in the first directory of the CNI path that has one.
let find (cniPath: string list) =
    cniPath
    |> List.map (fun dir -> Path.Combine(dir, Core.name))
    |> List.tryFind File.Exists

// "<time> dcos-l4lb[<pid>] GC: <effect> -> <outcome> (<n> ms)"
let private timing = Regex(@" \([0-9.,]+ ms\)$")

/// An effect log line as (effect, outcome); None for the closing "done" or "failed: ...".
let private logEntry (line: string) =
    match line.IndexOf ": " with
    | -1 -> None
    | start ->
        let text = timing.Replace(line.Substring(start + 2), "")

        match text.IndexOf " -> " with
        | -1 -> None
        | arrow -> Some(text.Substring(0, arrow), text.Substring(arrow + 4))

/// What one run of the plugin did.
type Run =
    {
        ExitCode: int
        Stdout: string
        /// Each effect it carried out, with its outcome, in order.
        Effects: (string * string) list
    }

/// Runs the plugin with this input; its stderr (and that of the plugins it runs) goes to
/// ours. The effect log goes to a file of its own for this run.
let run (binary: string) (input: CniInput.CniInput) : Run =
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

        info.Environment["DCOS_L4LB_LOG_FILE"] <- log

        use plugin = Process.Start info
        plugin.StandardInput.BaseStream.Write(input.Stdin)
        plugin.StandardInput.Close()
        let stdout = plugin.StandardOutput.ReadToEnd()
        plugin.WaitForExit()

        { ExitCode = plugin.ExitCode
          Stdout = stdout
          Effects = File.ReadAllLines(log, Encoding.UTF8) |> Array.toList |> List.choose logEntry }
    finally
        File.Delete log
