// A plugin's life after its start: its pidfd, its exit status, and the signals that
// end it and what it started (PluginProcesses.KillAndReap).
using System.Runtime.InteropServices;

namespace Dcos.L4lb.Host;

static partial class Interop
{
    internal static partial class Libc
    {
        public const long SYS_pidfd_open = 434;

        public enum Signal
        {
            SIGKILL = 9,
            SIGCHLD = 17,
            SIGSTOP = 19,
        }

        // glibc's struct sigaction on x86-64: the handler (SIG_DFL 0, SIG_IGN 1) first
        public const int SigactionSize = 152;
        public const nint SIG_IGN = 1;

        [LibraryImport("libc", SetLastError = true)]
        public static unsafe partial int sigaction(Signal signal, byte* action, byte* old);

        [System.Flags]
        public enum WaitOptions
        {
            None = 0,
            WNOHANG = 1,
        }

        [LibraryImport("libc", SetLastError = true)]
        public static unsafe partial int waitpid(int pid, int* status, WaitOptions options);

        [LibraryImport("libc", SetLastError = true)]
        public static partial int kill(int pid, Signal signal);

        // pidfd_open through syscall(2): glibc has a wrapper only from 2.36, and the plugin
        // also links against an older libc.a
        [LibraryImport("libc", SetLastError = true)]
        public static partial long syscall(long number, long argument1, long argument2);

        /// A pidfd for the process, invalid where the kernel has none (Linux before 5.3).
        public static SafeFileDescriptor PidfdOpen(int pid)
        {
            long fd = syscall(SYS_pidfd_open, pid, 0);
            return new SafeFileDescriptor(fd < 0 ? -1 : (int)fd);
        }
    }
}
