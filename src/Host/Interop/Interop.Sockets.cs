// The managed Socket class cannot open AF_NETLINK: rtnetlink sockets (NetlinkSocket.cs)
// are opened and used through these.
using System.Runtime.InteropServices;

namespace Dcos.L4lb.Host;

static partial class Interop
{
    internal static partial class Libc
    {
        public const int AF_NETLINK = 16;
        public const int NETLINK_ROUTE = 0;
        public const int SOL_SOCKET = 1;
        public const int SO_RCVTIMEO = 20;

        // socket(2)'s type argument: the type, with creation flags or'ed in
        [System.Flags]
        public enum SocketType
        {
            SOCK_RAW = 3,
            SOCK_CLOEXEC = 0x80000,
        }

        [LibraryImport("libc", SetLastError = true)]
        public static partial SafeFileDescriptor socket(int domain, SocketType type, int protocol);

        [LibraryImport("libc", SetLastError = true)]
        public static unsafe partial nint send(SafeFileDescriptor fd, byte* buffer, nint length, int flags);

        [LibraryImport("libc", SetLastError = true)]
        public static unsafe partial nint recv(SafeFileDescriptor fd, byte* buffer, nint length, int flags);

        [LibraryImport("libc", SetLastError = true)]
        public static unsafe partial int setsockopt(SafeFileDescriptor fd, int level, int name, void* value, int length);
    }
}
