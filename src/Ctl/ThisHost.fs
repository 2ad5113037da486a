/// What l4lbctl reads from this host: attachment records, Minuteman checkpoints, which
/// netns exist. Read only: every change is the plugin's.
module Dcos.L4lb.Ctl.ThisHost

open System.IO
open Dcos.L4lb

/// A netns path that still names something: a namespace mounted at /run/netns/... or a
/// /proc/<pid>/ns/net of a live process.
let netnsExists (path: string) = path.StartsWith '/' && File.Exists path

/// The files of a directory as the plugin lists them: none when it does not exist,
/// dot-files (files being written) left out; in name order.
let files (directory: string) : StoredFile list =
    if not (Directory.Exists directory) then
        []
    else
        [ for file in Directory.GetFiles directory |> Array.sort do
              let name = Path.GetFileName file

              if not (name.StartsWith '.') then
                  try
                      yield
                          { Name = name
                            Content = File.ReadAllText file
                            Modified = File.GetLastWriteTimeUtc(file).Ticks }
                  with :? IOException ->
                      () ] // removed while we looked

/// This host's attachment records of the network.
let records (conf: NetConf) = files (Naming.attachmentDirectory conf)

/// The recorded attachments whose netns still exists: the valid list l4lbctl gives GC.
let liveAttachments (conf: NetConf) : Attachment list =
    records conf
    |> List.choose (fun r ->
        if netnsExists r.Content then
            Naming.parseAttachmentName r.Name
        else
            None)

/// The Minuteman checkpoints of the config's directory (none with Minuteman disabled).
let checkpoints (conf: NetConf) =
    if conf.Minuteman.Enabled then
        files conf.Minuteman.Path
    else
        []

/// A model of this host as GC sees it: the network's attachment records, the Minuteman
/// checkpoints, and each netns they name that exists.
let gcModel (conf: NetConf) : HostModel.World =
    let records = records conf
    let checkpoints = checkpoints conf
    let recordDirectory = Naming.attachmentDirectory conf

    let world =
        { HostModel.initial with
            Records = Map [ for r in records -> (recordDirectory, r.Name), r ]
            Files = Map [ for c in checkpoints -> (conf.Minuteman.Path, c.Name), c.Content ] }

    records @ checkpoints
    |> List.map _.Content
    |> List.distinct
    |> List.filter netnsExists
    |> List.fold (fun w netns -> HostModel.addNetns netns w) world
