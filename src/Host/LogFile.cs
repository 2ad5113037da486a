// The log file, shared by every invocation on the agent. Opened with O_APPEND and written
// with one write(2) a line: the kernel puts each write at the end of the file as it is
// then, so the lines of concurrent invocations neither interleave nor overwrite each other
// (a FileStream in FileMode.Append writes at its own offset: lines were lost that way).
//
// Rotation renames the file to <file>.1 (and each backup one further) when it has reached
// its size. Every writer holds <file>.lock shared while it appends, and checks first that
// its descriptor is still the file at the path, reopening it if not; the rotator holds the
// lock exclusive. So no line goes to a file that a rotation is moving or dropping, and
// each line is written once: nothing is copied.
using System;
using System.Runtime.InteropServices;
using static Dcos.L4lb.Host.Interop.Libc;

namespace Dcos.L4lb.Host;

sealed class LogFile : IDisposable
{
    const int ENOENT = 2;

    readonly string _path;
    readonly long _maxBytes;
    readonly int _maxBackups;
    SafeFileDescriptor _fd;
    // Only when rotating a regular file: no lock file beside /dev/stderr or a FIFO.
    SafeFileDescriptor? _lock;

    LogFile(string path, SafeFileDescriptor fd, long maxBytes, int maxBackups)
    {
        _path = path;
        _fd = fd;
        _maxBytes = maxBytes;
        _maxBackups = maxBackups;
    }

    /// The file opened for appending, or null and why not. `rotation` says why the file
    /// will not be rotated although it should be (its lock file cannot be opened).
    public static LogFile? Open(string path, long maxBytes, int maxBackups, out string? problem, out string? rotation)
    {
        rotation = null;
        var fd = OpenForAppend(path, out problem);
        if (fd is null)
            return null;
        var file = new LogFile(path, fd, maxBytes, maxBackups);
        if (maxBytes > 0 && fstat(fd, out var status) == 0 && status.IsRegularFile)
        {
            var lockFd = open(path + ".lock", OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_CLOEXEC, FileStore.FileMode0644);
            if (lockFd.IsInvalid)
            {
                rotation = $"cannot open {path}.lock ({Errno()}), so the log is not rotated";
                lockFd.Dispose();
            }
            else
                file._lock = lockFd;
        }
        return file;
    }

    /// Appends one line in one write, or says why it could not.
    public bool Append(byte[] line, out string? problem)
    {
        if (_lock is null)
            return WriteAll(line, out problem);

        bool full;
        if (!Flock(LockOperations.LOCK_SH, out problem))
            return false;
        try
        {
            if (!Current(out problem) || !WriteAll(line, out problem))
                return false;
            full = fstat(_fd, out var status) == 0 && status.Size >= _maxBytes;
        }
        finally
        {
            Flock(LockOperations.LOCK_UN, out _);
        }
        return !full || Rotate(out problem);
    }

    // Under the exclusive lock, and only if the file at the path is still full: another
    // invocation may have rotated it since this one looked.
    bool Rotate(out string? problem)
    {
        if (!Flock(LockOperations.LOCK_EX, out problem))
            return false;
        try
        {
            if (stat(_path, out var status) == 0 && status.Size >= _maxBytes)
            {
                for (int n = _maxBackups - 1; n >= 1; n--)
                    if (rename($"{_path}.{n}", $"{_path}.{n + 1}") != 0 && Marshal.GetLastPInvokeError() != ENOENT)
                        return Failed($"cannot rename {_path}.{n}", out problem);
                int moved = _maxBackups > 0 ? rename(_path, _path + ".1") : unlink(_path);
                if (moved != 0 && Marshal.GetLastPInvokeError() != ENOENT)
                    return Failed($"cannot rotate {_path}", out problem);
            }
            return Current(out problem);
        }
        finally
        {
            Flock(LockOperations.LOCK_UN, out _);
        }
    }

    // The descriptor is the file at the path (reopened, created, after a rotation).
    bool Current(out string? problem)
    {
        problem = null;
        if (stat(_path, out var named) == 0 && fstat(_fd, out var own) == 0 && named.IsSameFile(own))
            return true;
        var fd = OpenForAppend(_path, out problem);
        if (fd is null)
            return false;
        _fd.Dispose();
        _fd = fd;
        return true;
    }

    static SafeFileDescriptor? OpenForAppend(string path, out string? problem)
    {
        problem = null;
        var fd = open(path, OpenFlags.O_WRONLY | OpenFlags.O_APPEND | OpenFlags.O_CREAT | OpenFlags.O_CLOEXEC, FileStore.FileMode0644);
        if (!fd.IsInvalid)
            return fd;
        problem = Errno();
        fd.Dispose();
        return null;
    }

    // One write(2) for the line; a short write (a signal, the disk filling up) is
    // followed by one for the rest, which lands after whatever was appended meanwhile.
    unsafe bool WriteAll(byte[] line, out string? problem)
    {
        problem = null;
        fixed (byte* p = line)
        {
            nint done = 0;
            while (done < line.Length)
            {
                nint n = write(_fd, p + done, line.Length - done);
                if (n > 0)
                    done += n;
                else if (n == 0)
                    return Failed("the write wrote nothing", out problem);
                else if (Marshal.GetLastPInvokeError() != EINTR)
                    return Failed("write failed", out problem);
            }
        }
        return true;
    }

    bool Flock(LockOperations operation, out string? problem)
    {
        problem = null;
        while (flock(_lock!, operation) != 0)
            if (Marshal.GetLastPInvokeError() != EINTR)
                return Failed($"cannot lock {_path}.lock", out problem);
        return true;
    }

    static bool Failed(string what, out string? problem)
    {
        problem = $"{what}: {Errno()}";
        return false;
    }

    static string Errno() => StrError(Marshal.GetLastPInvokeError());

    public void Dispose()
    {
        _fd.Dispose();
        _lock?.Dispose();
    }
}
