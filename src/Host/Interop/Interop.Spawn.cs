// Starting a plugin (PluginProcesses.cs): posix_spawn with its file actions and
// attributes, and the pipes to its stdin and stdout. Struct sizes and numbers are
// glibc's on x86-64, the only target (Host.csproj).
using System.Runtime.InteropServices;

namespace Dcos.L4lb.Host;

static partial class Interop
{
    internal static partial class Libc
    {
        // sizeof(posix_spawn_file_actions_t) is 80, of posix_spawnattr_t 336, of sigset_t 128:
        // the buffers are larger, never smaller
        public const int PosixSpawnFileActionsSize = 128, PosixSpawnAttrSize = 512, SigSetSize = 128;

        [System.Flags]
        public enum PosixSpawnFlags : short
        {
            POSIX_SPAWN_SETSIGDEF = 0x04,
        }

        public enum FcntlCommand
        {
            F_SETFL = 4,
        }

        // raw: the two descriptors are handed to SafeFileDescriptors at once (PluginProcesses.Pipe)
        [LibraryImport("libc", SetLastError = true)]
        public static unsafe partial int pipe2(int* fds, OpenFlags flags);

        // variadic in C; a third int argument is passed the same way on x86-64
        [LibraryImport("libc", SetLastError = true)]
        public static partial int fcntl(SafeFileDescriptor fd, FcntlCommand command, OpenFlags argument);

        // posix_spawn and its file actions return an error number instead of setting errno
        [LibraryImport("libc")]
        public static unsafe partial int posix_spawn_file_actions_init(byte* actions);

        [LibraryImport("libc")]
        public static unsafe partial int posix_spawn_file_actions_adddup2(byte* actions, SafeFileDescriptor fd, int newFd);

        [LibraryImport("libc")]
        public static unsafe partial int posix_spawn_file_actions_destroy(byte* actions);

        [LibraryImport("libc")]
        public static unsafe partial int posix_spawnattr_init(byte* attributes);

        [LibraryImport("libc")]
        public static unsafe partial int posix_spawnattr_setflags(byte* attributes, PosixSpawnFlags flags);

        [LibraryImport("libc")]
        public static unsafe partial int posix_spawnattr_setsigdefault(byte* attributes, ulong* signals);

        [LibraryImport("libc")]
        public static unsafe partial int posix_spawnattr_destroy(byte* attributes);

        [LibraryImport("libc")]
        public static unsafe partial int posix_spawn(int* pid, nint path, byte* actions, byte* attributes, nint* argv, nint* envp);
    }
}
