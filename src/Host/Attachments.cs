// This plugin's own attachment records (one small file per attachment, holding the netns
// path): what GC finds stale attachments by. Written to a dot-file and renamed, so a
// listing never sees a partial record; not fsync'ed: after a crash that loses one, DEL
// still works, only GC cannot find that attachment.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Dcos.L4lb;
using Microsoft.FSharp.Collections;

namespace Dcos.L4lb.Host;

static class Attachments
{
    const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    public static Outcome Write(string directory, string name, string content)
    {
        var temporary = Path.Combine(directory, $".{name}.tmp");
        Directory.CreateDirectory(directory, DirectoryMode);
        try
        {
            File.WriteAllBytes(temporary, Encoding.UTF8.GetBytes(content));
            File.Move(temporary, Path.Combine(directory, name), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temporary);
            throw;
        }
        return Outcome.Completed;
    }

    public static Outcome Remove(string directory, string name)
    {
        var path = Path.Combine(directory, name);
        // a dot-file left by a crash mid-write goes too
        TryDelete(Path.Combine(directory, $".{name}.tmp"));
        if (!File.Exists(path))
            return Outcome.NewFailed(new Failure(FailureKind.NotFound, $"{path} does not exist"));
        File.Delete(path);
        return Outcome.Completed;
    }

    public static Outcome List(string directory)
    {
        var records = new List<AttachmentRecord>();
        if (Directory.Exists(directory))
        {
            foreach (var path in Directory.EnumerateFiles(directory))
            {
                // dot-files are records being written
                if (Path.GetFileName(path).StartsWith('.'))
                    continue;
                try
                {
                    records.Add(Record(path));
                }
                catch (FileNotFoundException)
                {
                    // removed by a DEL since the directory was read
                }
            }
        }
        return Outcome.NewAttachmentsFound(ListModule.OfSeq(records));
    }

    public static Outcome Read(string directory, string name) =>
        Outcome.NewAttachmentFound(Record(Path.Combine(directory, name)));

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    static AttachmentRecord Record(string path)
    {
        var content = File.ReadAllText(path);
        return new AttachmentRecord(Path.GetFileName(path), content, File.GetLastWriteTimeUtc(path).Ticks);
    }
}
