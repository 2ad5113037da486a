// Minuteman's checkpoint files. Its consumer (dcos-net) watches the directory for
// IN_CLOSE_WRITE and IN_DELETE only, ignores names starting with '.', and reads a file
// whole when it sees it: so the content is written to a dot-file, renamed into place
// (which the consumer ignores), and then the final name is opened for writing and closed,
// which is the close-write it acts on. A crash leaves at most a dot-file, never a partial
// file under the final name.
using System;
using System.IO;
using System.Text;
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

static class Checkpoints
{
    internal const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    const UnixFileMode FileMode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static Outcome Write(string directory, string containerId, string content)
    {
        var final = Path.Combine(directory, containerId);
        var temporary = Path.Combine(directory, $".{containerId}.tmp");
        try
        {
            Directory.CreateDirectory(directory, DirectoryMode);
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = FileMode0644 };
            using (var file = new FileStream(temporary, options))
            {
                file.Write(Encoding.UTF8.GetBytes(content));
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, final, overwrite: true);
            using (new FileStream(final, FileMode.Open, FileAccess.Write)) { }
            return Outcome.Completed;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temporary);
            return Outcome.NewFailed(new Failure(FailureKind.Io, $"cannot write {final}: {e.Message}"));
        }
    }

    // Attachment records follow the same dot-file convention and are removed the same way.
    public static Outcome Remove(string directory, string containerId)
    {
        var final = Path.Combine(directory, containerId);
        // a dot-file left by a crash mid-write goes too
        TryDelete(Path.Combine(directory, $".{containerId}.tmp"));
        try
        {
            if (!File.Exists(final))
                return Outcome.NewFailed(new Failure(FailureKind.NotFound, $"{final} does not exist"));
            File.Delete(final);
            return Outcome.Completed;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Outcome.NewFailed(new Failure(FailureKind.Io, $"cannot remove {final}: {e.Message}"));
        }
    }

    public static Outcome Read(string directory, string containerId)
    {
        var final = Path.Combine(directory, containerId);
        try
        {
            return Outcome.NewCheckpointFound(File.ReadAllText(final));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Outcome.NewFailed(new Failure(FailureKind.NotFound, $"{final} does not exist"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Outcome.NewFailed(new Failure(FailureKind.Io, $"cannot read {final}: {e.Message}"));
        }
    }

    internal static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
