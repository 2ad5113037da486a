// The small files the plugin keeps: one directory per kind, one file per name. Both
// kinds are written the one crash-safe way: the content goes to a dot-file, which
// readers skip, and is renamed into place, so no reader ever sees a partial file under
// the final name and a crash leaves at most a dot-file, which removal takes along. A
// failure is an EffectFailedException, for either kind.
//
// Both kinds are durable when the effect is answered, so when the command replies:
// the dot-file is fsync'ed before the rename (a power cut after the rename must not
// leave an empty file under the final name), and the directory after it (the rename,
// or a removal, is an entry of the directory, which the kernel writes back when it
// likes). A directory the write creates is made durable in its parent the same way.
// Checkpoints (Minuteman's) are read by dcos-net, which may act on one as soon as it
// sees it; attachment records are what GC finds stale attachments by.
//
// dcos-net watches the checkpoint directory for IN_CLOSE_WRITE and IN_DELETE only,
// ignores dot-files, and reads a file whole when it sees it: so after the rename, the
// final name is opened for writing and closed, the close-write it acts on (the rename
// alone it ignores).
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

sealed class FileStore
{
    internal const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    internal const UnixFileMode FileMode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static readonly FileStore Checkpoints = new(closeWriteFinalName: true);
    public static readonly FileStore Records = new(closeWriteFinalName: false);

    readonly bool _closeWriteFinalName;

    FileStore(bool closeWriteFinalName) => _closeWriteFinalName = closeWriteFinalName;

    public void Write(string directory, string name, string content)
    {
        var final = Path.Combine(directory, name);
        var temporary = TemporaryPath(directory, name);
        try
        {
            CreateDirectory(directory);
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = FileMode0644 };
            using (var file = new FileStream(temporary, options))
            {
                file.Write(Encoding.UTF8.GetBytes(content));
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, final, overwrite: true);
            if (_closeWriteFinalName)
                using (new FileStream(final, FileMode.Open, FileAccess.Write)) { }
            SyncDirectory(directory);
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
            SyncDirectory(directory);
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

    // Each directory it creates is an entry of its parent: that parent is synced too.
    static void CreateDirectory(string directory)
    {
        var created = new List<string>();
        for (var d = directory; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d))
            created.Add(d);
        if (created.Count == 0)
            return;
        Directory.CreateDirectory(directory, DirectoryMode);
        foreach (var d in created)
            SyncDirectory(Path.GetDirectoryName(d)!);
    }

    // fsync(2) on the directory: its entries (a rename, a removal) reach the disk.
    static void SyncDirectory(string directory)
    {
        using var fd = Interop.Libc.open(directory, Interop.Libc.OpenFlags.O_RDONLY | Interop.Libc.OpenFlags.O_DIRECTORY | Interop.Libc.OpenFlags.O_CLOEXEC, 0);
        int errno = fd.IsInvalid ? Marshal.GetLastPInvokeError() : 0;
        while (errno == 0 && Interop.Libc.fsync(fd) != 0)
            if ((errno = Marshal.GetLastPInvokeError()) == Interop.Libc.EINTR)
                errno = 0;
        if (errno != 0)
            throw new IOException($"cannot sync directory {directory}: {Interop.Libc.StrError(errno)}");
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
