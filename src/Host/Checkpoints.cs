// Minuteman's checkpoint files. Its consumer (dcos-net) watches the directory for
// IN_CLOSE_WRITE and IN_DELETE only, ignores names starting with '.', and reads a file
// whole when it sees it: so the content is written to a dot-file, renamed into place
// (which the consumer ignores), and then the final name is opened for writing and closed,
// which is the close-write it acts on. A crash leaves at most a dot-file, never a partial
// file under the final name. Read, listed and removed as every stored file (StoredFiles.cs).
using System;
using System.IO;
using System.Text;
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

static class Checkpoints
{
    const UnixFileMode FileMode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static void Write(string directory, string containerId, string content)
    {
        var final = Path.Combine(directory, containerId);
        var temporary = StoredFiles.TemporaryPath(directory, containerId);
        try
        {
            Directory.CreateDirectory(directory, StoredFiles.DirectoryMode);
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = FileMode0644 };
            using (var file = new FileStream(temporary, options))
            {
                file.Write(Encoding.UTF8.GetBytes(content));
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, final, overwrite: true);
            using (new FileStream(final, FileMode.Open, FileAccess.Write)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            StoredFiles.TryDelete(temporary);
            throw new EffectFailedException(FailureKind.Io, $"cannot write {final}: {e.Message}");
        }
    }
}
