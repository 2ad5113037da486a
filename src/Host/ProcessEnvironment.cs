// The process's environment, read once from environ(7): the request (CNI_COMMAND and the
// rest) for the core, and what every plugin we run inherits. Environment.GetEnvironmentVariables
// would do, but it decodes environ into a dictionary and then copies that into a Hashtable
// of boxed entries: about 100 k instructions at every start (measured when it was replaced).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Dcos.L4lb.Host;

static unsafe class ProcessEnvironment
{
    /// NAME=value entries in environ's order. As .NET reads them: an entry without '=' or
    /// with an empty name is skipped, and of a name given twice the first value counts.
    public static readonly Dictionary<string, string> Variables = Read();

    static Dictionary<string, string> Read()
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        var environ = Interop.SystemNative.GetEnviron();
        if (environ is null)
            return variables;
        for (byte** entry = environ; *entry is not null; entry++)
        {
            var text = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(*entry);
            int equals = text.IndexOf((byte)'=');
            if (equals > 0)
                variables.TryAdd(Encoding.UTF8.GetString(text[..equals]), Encoding.UTF8.GetString(text[(equals + 1)..]));
        }
        return variables;
    }
}
