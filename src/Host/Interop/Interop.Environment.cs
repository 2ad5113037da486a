// The process's environ(7), for ProcessEnvironment. The binary is statically linked, and
// a static binary cannot look its own symbols (environ) up with dlsym; System.Native,
// linked into the image, hands it over, as it does for .NET's own Environment.
using System.Runtime.InteropServices;

namespace Dcos.L4lb.Host;

static partial class Interop
{
    internal static partial class SystemNative
    {
        [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_GetEnviron")]
        public static unsafe partial byte** GetEnviron();
    }
}
