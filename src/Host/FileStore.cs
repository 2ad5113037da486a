// The small files the plugin keeps: one directory per kind, one file per name. Both
// kinds are written the one crash-safe way: the content goes to a dot-file, which
// readers skip, and is renamed into place, so no reader ever sees a partial file under
// the final name and a crash leaves at most a dot-file, which removal takes along. A
// failure is an EffectFailedException, for either kind.
//
// Checkpoints (Minuteman's) are read by dcos-net, which watches the directory for
// IN_CLOSE_WRITE and IN_DELETE only, ignores dot-files, and reads a file whole when it
// sees it: so a checkpoint is fsync'ed before the rename, and the final name is then
// opened for writing and closed, the close-write it acts on (the rename alone it
// ignores).
// Attachment records are this plugin's own (one per attachment, holding the netns
// path), what GC finds stale attachments by: not fsync'ed, since after a crash that
// loses one, DEL still works and only GC cannot find that attachment.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

sealed class FileStore
{
    internal const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    internal const UnixFileMode FileMode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static readonly FileStore Checkpoints = new(flushToDisk: true, closeWriteFinalName: true);
    public static readonly FileStore Records = new(flushToDisk: false, closeWriteFinalName: false);

    readonly bool _flushToDisk, _closeWriteFinalName;

    FileStore(bool flushToDisk, bool closeWriteFinalName) =>
        (_flushToDisk, _closeWriteFinalName) = (flushToDisk, closeWriteFinalName);

    public void Write(string directory, string name, string content)
    {
        var final = Path.Combine(directory, name);
        var temporary = TemporaryPath(directory, name);
        try
        {
            Directory.CreateDirectory(directory, DirectoryMode);
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = FileMode0644 };
            using (var file = new FileStream(temporary, options))
            {
                file.Write(Encoding.UTF8.GetBytes(content));
                file.Flush(flushToDisk: _flushToDisk);
            }
            File.Move(temporary, final, overwrite: true);
            if (_closeWriteFinalName)
                using (new FileStream(final, FileMode.Open, FileAccess.Write)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temporary);
            throw new EffectFailedException(FailureKind.Io, $"cannot write {final}: {e.Message}");
        }
    }

    static string TemporaryPath(string directory, string name) => Path.Combine(directory, $".{name}.tmp");

    public static void Remove(string directory, string name)
    {
        var final = Path.Combine(directory, name);
        TryDelete(TemporaryPath(directory, name));
        try
        {
            if (!File.Exists(final))
                throw new EffectFailedException(FailureKind.NotFound, $"{final} does not exist");
            File.Delete(final);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EffectFailedException(FailureKind.Io, $"cannot remove {final}: {e.Message}");
        }
    }

    public static StoredFile Read(string directory, string name)
    {
        var final = Path.Combine(directory, name);
        try
        {
            return Stored(final);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new EffectFailedException(FailureKind.NotFound, $"{final} does not exist");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EffectFailedException(FailureKind.Io, $"cannot read {final}: {e.Message}");
        }
    }

    // A directory that does not exist holds no files.
    public static StoredFile[] List(string directory)
    {
        if (!Directory.Exists(directory))
            return [];
        var files = new List<StoredFile>();
        foreach (var path in Directory.EnumerateFiles(directory))
        {
            // dot-files are files being written
            if (Path.GetFileName(path).StartsWith('.'))
                continue;
            try
            {
                files.Add(Stored(path));
            }
            catch (FileNotFoundException)
            {
                // removed (by a DEL) since the directory was read
            }
        }
        return files.ToArray();
    }

    static StoredFile Stored(string path)
    {
        var content = File.ReadAllText(path);
        return new StoredFile(Path.GetFileName(path), content, File.GetLastWriteTimeUtc(path).Ticks);
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
