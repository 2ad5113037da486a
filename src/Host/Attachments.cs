// This plugin's own attachment records (one small file per attachment, holding the netns
// path): what GC finds stale attachments by. Written to a dot-file and renamed, so a
// listing never sees a partial record; not fsync'ed: after a crash that loses one, DEL
// still works, only GC cannot find that attachment. Read, listed and removed as every
// stored file (StoredFiles.cs).
using System;
using System.IO;
using System.Text;

namespace Dcos.L4lb.Host;

static class Attachments
{
    public static void Write(string directory, string name, string content)
    {
        var temporary = StoredFiles.TemporaryPath(directory, name);
        Directory.CreateDirectory(directory, StoredFiles.DirectoryMode);
        try
        {
            File.WriteAllBytes(temporary, Encoding.UTF8.GetBytes(content));
            File.Move(temporary, Path.Combine(directory, name), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            StoredFiles.TryDelete(temporary);
            throw;
        }
    }
}
