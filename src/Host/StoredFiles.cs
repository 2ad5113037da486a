// The small files the plugin keeps, checkpoints and attachment records alike: one
// directory per kind, one file per name, written under a dot-file name and renamed into
// place (Checkpoints.cs, Attachments.cs). Readers skip dot-files; removal takes a dot-file
// a crash left along.
using System;
using System.Collections.Generic;
using System.IO;
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

static class StoredFiles
{
    internal const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    internal static string TemporaryPath(string directory, string name) => Path.Combine(directory, $".{name}.tmp");

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

    internal static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
