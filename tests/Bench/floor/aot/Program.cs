// Minimal CNI VERSION responder: the floor of a .NET Native AOT process.
// Reads stdin to EOF (as a CNI plugin must), checks CNI_COMMAND, writes a fixed reply.
using System;
using System.Runtime.InteropServices;

internal static unsafe class Program
{
    [DllImport("libc")] private static extern nint read(int fd, byte* buf, nint count);
    [DllImport("libc")] private static extern nint write(int fd, byte* buf, nint count);
    [DllImport("libc")] private static extern byte* getenv(byte* name);

    private static int Main()
    {
#if USE_CONSOLE
        using (var stdin = Console.OpenStandardInput()) stdin.CopyTo(System.IO.Stream.Null);
        if (Environment.GetEnvironmentVariable("CNI_COMMAND") != "VERSION") return 1;
        using var stdout = Console.OpenStandardOutput();
        stdout.Write("{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\"]}\n"u8);
        return 0;
#else
        byte* buf = stackalloc byte[4096];
        while (read(0, buf, 4096) > 0) { }
        byte* cmd;
        fixed (byte* name = "CNI_COMMAND\0"u8) cmd = getenv(name);
        if (cmd == null || !new ReadOnlySpan<byte>(cmd, 8).SequenceEqual("VERSION\0"u8)) return 1;
        ReadOnlySpan<byte> reply = "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\"]}\n"u8;
        fixed (byte* p = reply) write(1, p, reply.Length);
        return 0;
#endif
    }
}
