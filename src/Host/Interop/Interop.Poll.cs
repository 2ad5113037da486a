// Watching a plugin's pipes and its pidfd at once (PluginProcesses.Running.Supervise).
using System.Runtime.InteropServices;

namespace Dcos.L4lb.Host;

static partial class Interop
{
    internal static partial class Libc
    {
        [System.Flags]
        public enum PollEvents : short
        {
            None = 0,
            POLLIN = 0x1,
            POLLOUT = 0x4,
        }

        // The descriptor is the raw number (SafeFileDescriptor.Number): the caller holds
        // the handle open across the poll.
        [StructLayout(LayoutKind.Sequential)]
        public struct PollFd
        {
            public int Fd;
            public PollEvents Events;
            public PollEvents Revents;
        }

        [LibraryImport("libc", SetLastError = true)]
        public static unsafe partial int poll(PollFd* fds, nuint count, int timeoutMs);
    }
}
