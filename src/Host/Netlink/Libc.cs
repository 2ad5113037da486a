// The few libc calls the runner needs, source-generated (AOT-safe). The managed Socket
// class cannot open AF_NETLINK, so netlink goes through these; plugins are run with
// posix_spawn and poll (PluginProcesses.cs) rather than System.Diagnostics.Process.
using System.Runtime.InteropServices;

namespace Dcos.L4lb.Host.Netlink;

static partial class Libc
{
    public const int AF_NETLINK = 16;
    public const int SOCK_RAW = 3;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int NETLINK_ROUTE = 0;
    public const int CLONE_NEWNET = 0x40000000;
    public const int SOL_SOCKET = 1;
    public const int SO_RCVTIMEO = 20;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int setsockopt(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setns(int fd, int nstype);

    public const int LOCK_EX = 2;
    public const int W_OK = 2;

    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int access(string path, int mode);
    public const int O_RDWR = 2, O_CREAT = 0x40, O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int flock(int fd, int operation);

    // Running plugins (PluginProcesses.cs). Struct layouts and numbers are glibc's on x86-64, the
    // only target (Host.csproj).
    public const int O_NONBLOCK = 0x800, F_SETFL = 4;
    public const int EINTR = 4, EAGAIN = 11, ENOSYS = 38;
    public const int SIGKILL = 9, SIGSTOP = 19;
    public const int WNOHANG = 1;
    public const short POLLIN = 1, POLLOUT = 4;
    public const long SYS_pidfd_open = 434;
    // sizeof(posix_spawn_file_actions_t) is 80, of posix_spawnattr_t 336, of sigset_t 128
    public const int PosixSpawnFileActionsSize = 128, PosixSpawnAttrSize = 512, SigSetSize = 128;
    public const short POSIX_SPAWN_SETSIGDEF = 0x04;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int pipe2(int* fds, int flags);

    // variadic in C; a third int argument is passed the same way on x86-64
    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int waitpid(int pid, int* status, int options);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    // pidfd_open through syscall(2): glibc has a wrapper only from 2.36, and binding it
    // would make the binary need that glibc (it needs 2.34)
    [LibraryImport("libc", SetLastError = true)]
    public static partial long syscall(long number, long argument1, long argument2);

    // posix_spawn and its file actions return an error number instead of setting errno
    [LibraryImport("libc")]
    public static unsafe partial int posix_spawn_file_actions_init(byte* actions);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawn_file_actions_adddup2(byte* actions, int fd, int newFd);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawn_file_actions_destroy(byte* actions);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawnattr_init(byte* attributes);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawnattr_setflags(byte* attributes, short flags);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawnattr_setsigdefault(byte* attributes, ulong* signals);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawnattr_destroy(byte* attributes);

    [LibraryImport("libc")]
    public static unsafe partial int posix_spawn(int* pid, nint path, byte* actions, byte* attributes, nint* argv, nint* envp);

    [LibraryImport("libc", EntryPoint = "strerror")]
    private static partial nint strerror_raw(int errno);

    public static string StrError(int errno) => Marshal.PtrToStringUTF8(strerror_raw(errno)) ?? $"errno {errno}";
}
