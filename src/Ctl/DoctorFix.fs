/// `l4lbctl doctor --fix`: carries out Doctor.repairs under the plugin's own locks. The
/// plugin's GC goes first and takes its locks itself; every other repair is made under the
/// GC lock (GCs serialise on it) and, where the leftover names its attachment, that
/// attachment's lock, in the order GC takes them, and only if a fresh look under the locks
/// still finds the same leftover: an ADD or DEL that ran meanwhile has the last word.
module Dcos.L4lb.Ctl.DoctorFix

open System
open System.IO
open System.Runtime.InteropServices
open Dcos.L4lb
open Dcos.L4lb.Ctl.DoctorSnapshot
open Dcos.L4lb.Ctl.Doctor

[<DllImport("libc", EntryPoint = "open", SetLastError = true)>]
extern int private openFile(string path, int flags, int mode)

[<DllImport("libc", SetLastError = true)>]
extern int private flock(int fd, int operation)

[<DllImport("libc", SetLastError = true)>]
extern int private close(int fd)

/// An flock(LOCK_EX) on the lock file, created as the plugin creates it, held until
/// disposed. Not FileStream: .NET's own flocks would make it fail where it must wait.
let private hold (path: string) : IDisposable =
    let rwx_rx_rx =
        UnixFileMode.UserRead
        ||| UnixFileMode.UserWrite
        ||| UnixFileMode.UserExecute
        ||| UnixFileMode.GroupRead
        ||| UnixFileMode.GroupExecute
        ||| UnixFileMode.OtherRead
        ||| UnixFileMode.OtherExecute

    Directory.CreateDirectory(Path.GetDirectoryName path, rwx_rx_rx) |> ignore
    let O_RDWR, O_CREAT, O_CLOEXEC, LOCK_EX = 2, 0x40, 0x80000, 2
    let fd = openFile (path, O_RDWR ||| O_CREAT ||| O_CLOEXEC, 0o644)

    if fd < 0 || flock (fd, LOCK_EX) <> 0 then
        let errno = Marshal.GetLastPInvokeError()

        if fd >= 0 then
            close fd |> ignore

        failwith $"cannot lock {path}: {Marshal.GetPInvokeErrorMessage errno}"

    { new IDisposable with
        member _.Dispose() = close fd |> ignore }

/// The attachment a repair's leftover names, whose lock ADD and DEL hold while they
/// change it: a lease's container and ifname, a record's dot-file's name.
let private attachmentLock (conf: NetConf) (repair: Repair) =
    match repair with
    | ReleaseLease l -> Some(Naming.lockPath l.ContainerId l.ReleaseIfName)
    | RemoveDotFile d when d.Directory = Naming.attachmentDirectory conf && d.Name.EndsWith ".tmp" ->
        Naming.parseAttachmentName (d.Name.Substring(1, d.Name.Length - 5))
        |> Option.map (fun a -> Naming.lockPath a.ContainerId a.IfName)
    | _ -> None

/// The same leftover: a dot-file's age moves on, the rest stays as seen.
let private same (a: Repair) (b: Repair) =
    match a, b with
    | RemoveDotFile x, RemoveDotFile y -> x.Directory = y.Directory && x.Name = y.Name
    | _ -> a = b

/// The Spartan IPAM plugin's DEL for the lease, at the version the plugin would agree.
let private release (s: Snapshot) (lease: Lease) =
    let ipam =
        s.Plugins
        |> List.tryPick (fun (plugin, probe) ->
            match plugin, probe with
            | SpartanIpam _, Speaks(path, versions) ->
                PluginOutput.negotiate s.Conf.CniVersion versions
                |> Option.map (fun agreed -> path, agreed)
            | _ -> None)

    match ipam with
    | None -> "failed: the Spartan IPAM plugin cannot be run (see its finding)"
    | Some(path, agreed) ->
        let config =
            Plans.ipamConfig s.Conf |> Json.withField "cniVersion" (Json.String agreed)

        let env =
            [ "CNI_COMMAND", "DEL"
              "CNI_CONTAINERID", lease.ContainerId
              "CNI_IFNAME", lease.ReleaseIfName
              "CNI_PATH", String.Join(":", s.CniPath) ]

        let ran = DoctorLook.run path [] env (Json.render config) Plans.pluginTimeoutMs

        if ran.ExitCode = 0 then
            "ok"
        else
            $"failed: {path} DEL exited {ran.ExitCode}: {(ran.Stdout + ran.Stderr).Trim()}"

let private perform (s: Snapshot) (repair: Repair) =
    match repair with
    | PluginGc -> invalidOp "the plugin's GC is run on its own"
    | ReleaseLease lease -> release s lease
    | DeleteHostVeth name ->
        let ran = DoctorLook.run "ip" [ "link"; "del"; name ] [] [||] 10_000

        if ran.ExitCode = 0 then
            "ok"
        else
            $"failed: {ran.Stderr.Trim()}"
    | RemoveDotFile d ->
        File.Delete(Path.Combine(d.Directory, d.Name))
        "ok"

/// The plugin's GC for the network, as `l4lbctl gc` runs it.
let private pluginGc (s: Snapshot) (entry: ConfigFile.Entry) =
    match PluginGc.find s.CniPath with
    | None -> $"""failed: no {Core.name} in {String.Join(":", s.CniPath)}"""
    | Some binary ->
        let input, _ = PluginGc.input s.CniPath entry
        let result = PluginGc.run PluginGc.timeLimit binary input

        if result.ExitCode = 0 then
            "ok"
        else
            $"failed: exit {result.ExitCode}: {result.Stdout.Trim()}"

/// Carries out the repairs of a snapshot's findings; each with its outcome ("ok",
/// "skipped: ..." or "failed: ...").
let run (config: string) (entry: ConfigFile.Entry) (s: Snapshot) (todo: Repair list) : (Repair * string) list =
    let attempt f =
        try
            f ()
        with e ->
            $"failed: {e.Message}"

    let gc =
        if List.contains PluginGc todo then
            [ PluginGc, attempt (fun () -> pluginGc s entry) ]
        else
            []

    let own = todo |> List.filter ((<>) PluginGc)

    let others =
        if own.IsEmpty then
            []
        else
            use _gcLock = hold Naming.gcLockPath

            [ for repair in own ->
                  repair,
                  attempt (fun () ->
                      use _attachment =
                          match attachmentLock s.Conf repair with
                          | Some path -> hold path
                          | None ->
                              { new IDisposable with
                                  member _.Dispose() = () }

                      let now = DoctorLook.leftovers s

                      if
                          findings config now
                          |> List.exists (fun f -> f.Repair |> Option.exists (same repair))
                      then
                          perform now repair
                      else
                          "skipped: no longer a leftover") ]

    gc @ others
