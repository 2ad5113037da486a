// Descriptors as files: opening, closing, reading and writing them, flock for the lock
// files, fsync for directories (FileStore), access for the writability checks, stat,
// rename and unlink for the log's rotation. Lock files are opened with libc rather than
// FileStream, which takes flocks of its own (EffectRunner.Lock says why that matters).
using System.IO;
using System.Runtime.InteropServices;

namespace Dcos.L4lb.Host;

static partial class Interop
{
    internal static partial class Libc
    {
        [System.Flags]
        public enum OpenFlags
        {
            O_RDONLY = 0x0,
            O_WRONLY = 0x1,
            O_RDWR = 0x2,
            O_CREAT = 0x40,
            O_APPEND = 0x400,
            O_NONBLOCK = 0x800,
            O_DIRECTORY = 0x10000,
            O_CLOEXEC = 0x80000,
        }

        public enum LockOperations
        {
            LOCK_SH = 1,
            LOCK_EX = 2,
            LOCK_UN = 8,
        }

        // struct stat as x86-64 Linux lays it out (the only target), the fields the host reads
        [StructLayout(LayoutKind.Explicit, Size = 144)]
        public struct FileStatus
        {
            [FieldOffset(0)] public ulong Device;
            [FieldOffset(8)] public ulong Inode;
            [FieldOffset(24)] public uint Mode;
            [FieldOffset(48)] public long Size;

            public readonly bool IsRegularFile => (Mode & 0xF000) == 0x8000;

            public readonly bool IsSameFile(in FileStatus other) => Device == other.Device && Inode == other.Inode;
        }

        [System.Flags]
        public enum AccessMode
        {
            W_OK = 2,
        }

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial SafeFileDescriptor open(string path, OpenFlags flags, UnixFileMode mode);

        // raw: SafeFileDescriptor.ReleaseHandle is its one caller
        [LibraryImport("libc", SetLastError = true)]
        public static partial int close(int fd);

        [LibraryImport("libc", SetLastError = true)]
        public static partial int flock(SafeFileDescriptor fd, LockOperations operation);

        [LibraryImport("libc", SetLastError = true)]
        public static partial int fsync(SafeFileDescriptor fd);

        [LibraryImport("libc", SetLastError = true)]
        public static partial int fstat(SafeFileDescriptor fd, out FileStatus status);

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int stat(string path, out FileStatus status);

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int rename(string from, string to);

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int unlink(string path);

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int access(string path, AccessMode mode);

        [LibraryImport("libc", SetLastError = true)]
        public static unsafe partial nint read(SafeFileDescriptor fd, byte* buffer, nint count);

        [LibraryImport("libc", SetLastError = true)]
        public static unsafe partial nint write(SafeFileDescriptor fd, byte* buffer, nint count);

        // The process's standard descriptors (StandardStreams.cs), which it does not own.
        [LibraryImport("libc", SetLastError = true)]
        public static unsafe partial nint read(int fd, byte* buffer, nint count);

        [LibraryImport("libc", SetLastError = true)]
        public static unsafe partial nint write(int fd, byte* buffer, nint count);
    }
}
