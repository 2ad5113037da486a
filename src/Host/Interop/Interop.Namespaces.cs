// Entering a network namespace, only to create a socket there (NetlinkSocket.OpenIn).
using System.Runtime.InteropServices;

namespace Dcos.L4lb.Host;

static partial class Interop
{
    internal static partial class Libc
    {
        public const int CLONE_NEWNET = 0x40000000;

        // the namespace's file is opened with File.OpenHandle and only borrowed here
        [LibraryImport("libc", SetLastError = true)]
        public static partial int setns(SafeHandle fd, int nstype);
    }
}
