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
    public static Outcome Write(string directory, string name, string content)
    {
        var temporary = Path.Combine(directory, $".{name}.tmp");
        Directory.CreateDirectory(directory, Checkpoints.DirectoryMode);
        try
        {
            File.WriteAllBytes(temporary, Encoding.UTF8.GetBytes(content));
            File.Move(temporary, Path.Combine(directory, name), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Checkpoints.TryDelete(temporary);
            throw;
        }
        return Outcome.Completed;
    }

    // the same dot-file convention as the checkpoints: a leftover dot-file goes too
    public static Outcome Remove(string directory, string name) => Checkpoints.Remove(directory, name);

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

    static AttachmentRecord Record(string path)
    {
        var content = File.ReadAllText(path);
        return new AttachmentRecord(Path.GetFileName(path), content, File.GetLastWriteTimeUtc(path).Ticks);
    }
}
