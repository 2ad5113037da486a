// The process's standard streams, read and written with read(2) and write(2) on
// descriptors 0, 1 and 2. System.Console would do, but on Unix it also sets up terminal
// handling and a signal-handling thread at first use: start-up cost a plugin, run once
// per container, pays for nothing. (A FileStream on the descriptor will not do either:
// on a regular file it writes at its own position, from 0, not at the descriptor's.)
using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace Dcos.L4lb.Host;

static class StandardStreams
{
    const int EINTR = 4, EBADF = 9, EPIPE = 32;

    /// stdin whole, or the first limit + 1 bytes of it (the caller tells "too large").
    public static unsafe byte[] ReadInput(int limit)
    {
        var buffer = new MemoryStream();
        // on the stack: a config is a few hundred bytes, and a 16 KB array on the heap is
        // a slow allocation that the GC clears first, at every start
        Span<byte> chunk = stackalloc byte[16 * 1024];
        fixed (byte* p = chunk)
        {
            while (buffer.Length <= limit)
            {
                nint n = Interop.Libc.read(0, p, chunk.Length);
                if (n < 0 && Marshal.GetLastPInvokeError() == EINTR)
                    continue;
                // no stdin at all reads as an empty one: the core then says what is missing
                if (n < 0 && Marshal.GetLastPInvokeError() == EBADF)
                    break;
                if (n < 0)
                    throw new IOException($"cannot read stdin: {Interop.Libc.StrError(Marshal.GetLastPInvokeError())}");
                if (n == 0)
                    break;
                buffer.Write(chunk[..(int)Math.Min(n, limit + 1 - buffer.Length)]);
            }
        }
        return buffer.ToArray();
    }

    public static void WriteOutput(byte[] bytes) => WriteAll(1, bytes);

    public static void WriteError(string text) => WriteAll(2, Encoding.UTF8.GetBytes(text));

    public static void WriteError(byte[] bytes) => WriteAll(2, bytes);

    // A reader that went away (EPIPE) is not our failure to report: as System.Console
    // does, the rest is dropped.
    static unsafe void WriteAll(int fd, byte[] bytes)
    {
        fixed (byte* p = bytes)
        {
            nint done = 0;
            while (done < bytes.Length)
            {
                nint n = Interop.Libc.write(fd, p + done, bytes.Length - done);
                if (n >= 0)
                    done += n;
                else if (Marshal.GetLastPInvokeError() is int errno && errno != EINTR)
                {
                    if (errno == EPIPE)
                        return;
                    throw new IOException($"cannot write to descriptor {fd}: {Interop.Libc.StrError(errno)}");
                }
            }
        }
    }
}
