// errno values the host tells apart, and the C library's words for any errno. Numbers
// are Linux's on x86-64, the only target (Host.csproj).
using System.Runtime.InteropServices;

namespace Dcos.L4lb.Host;

static partial class Interop
{
    internal static partial class Libc
    {
        public const int EINTR = 4, ECHILD = 10, EAGAIN = 11, EPIPE = 32;

        [LibraryImport("libc", EntryPoint = "strerror")]
        private static partial nint strerror_raw(int errno);

        public static string StrError(int errno) => Marshal.PtrToStringUTF8(strerror_raw(errno)) ?? $"errno {errno}";
    }
}
