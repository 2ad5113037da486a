// An rtnetlink socket, opened either in the host namespace or inside a container's. A
// netlink socket stays bound to the namespace it was created in, so only its creation
// needs to happen inside the container netns; every later request on it acts there.
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using Microsoft.Win32.SafeHandles;

namespace Dcos.L4lb.Host.Netlink;

sealed class NetlinkException(int errno, string message) : Exception(message)
{
    public int Errno { get; } = errno;
}

sealed class NetlinkSocket : IDisposable
{
    const ushort NLMSG_ERROR = 2;
    const ushort NLMSG_DONE = 3;
    readonly SafeFileDescriptor _fd;
    uint _sequence;

    // One receive buffer per thread, not per socket, and not cleared: an ADD opens two
    // sockets, and a cleared 64 KB array is a slow allocation that touches 16 pages for
    // replies of a few hundred bytes. An exchange copies out what it keeps before the next.
    [ThreadStatic]
    static byte[]? t_receive;

    static byte[] ReceiveBuffer => t_receive ??= GC.AllocateUninitializedArray<byte>(64 * 1024);

    NetlinkSocket(SafeFileDescriptor fd)
    {
        _fd = fd;
        _sequence = (uint)Environment.TickCount;
    }

    public static NetlinkSocket OpenHere() => new(CreateSocket());

    /// Opens a socket inside the netns at path. The switch happens on a dedicated thread
    /// that returns to its own namespace before it ends, so no thread of this process is
    /// ever left in the container's namespace. A missing netns is FileNotFoundException.
    public static NetlinkSocket OpenIn(string netnsPath)
    {
        using var target = File.OpenHandle(netnsPath, FileMode.Open, FileAccess.Read);
        SafeFileDescriptor? fd = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var home = File.OpenHandle("/proc/thread-self/ns/net", FileMode.Open, FileAccess.Read);
                Enter(target, netnsPath);
                try
                {
                    fd = CreateSocket();
                }
                finally
                {
                    if (Interop.Libc.setns(home, Interop.Libc.CLONE_NEWNET) != 0)
                        Environment.FailFast("dcos-l4lb: could not return a thread to its own network namespace");
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
            throw failure;
        return new NetlinkSocket(fd!);
    }

    static void Enter(SafeFileHandle ns, string path)
    {
        if (Interop.Libc.setns(ns, Interop.Libc.CLONE_NEWNET) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new NetlinkException(errno, $"cannot enter network namespace {path}: {Interop.Libc.StrError(errno)}");
        }
    }

    static unsafe SafeFileDescriptor CreateSocket()
    {
        var fd = Interop.Libc.socket(Interop.Libc.AF_NETLINK, Interop.Libc.SocketType.SOCK_RAW | Interop.Libc.SocketType.SOCK_CLOEXEC, Interop.Libc.NETLINK_ROUTE);
        if (fd.IsInvalid)
        {
            int errno = Marshal.GetLastPInvokeError();
            fd.Dispose();
            throw new NetlinkException(errno, $"cannot open a netlink socket: {Interop.Libc.StrError(errno)}");
        }
        // a kernel that never answers must not hang a container start
        long* timeout = stackalloc long[2] { 10, 0 };
        Interop.Libc.setsockopt(fd, Interop.Libc.SOL_SOCKET, Interop.Libc.SO_RCVTIMEO, timeout, 16);
        return fd;
    }

    public uint NextSequence() => ++_sequence;

    unsafe void Send(Message message)
    {
        var bytes = message.Complete();
        fixed (byte* p = bytes)
        {
            // a signal (EINTR) interrupts the call, not the request: it is made again
            while (Interop.Libc.send(_fd, p, bytes.Length, 0) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno != Interop.Libc.EINTR)
                    throw new NetlinkException(errno, $"netlink send failed: {Interop.Libc.StrError(errno)}");
            }
        }
    }

    unsafe int Receive(byte[] buffer)
    {
        fixed (byte* p = buffer)
        {
            nint n;
            while ((n = Interop.Libc.recv(_fd, p, buffer.Length, 0)) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno != Interop.Libc.EINTR)
                    throw new NetlinkException(errno, $"netlink receive failed: {Interop.Libc.StrError(errno)}");
            }
            return (int)n;
        }
    }

    static int ErrorOf(byte[] payload) =>
        payload.Length >= 4 ? -System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(payload) : 0;

    /// Sends a request and collects the replies to it: data messages until the ACK, the
    /// end of a dump, or an error (thrown as NetlinkException with the kernel's errno).
    public List<(ushort Type, byte[] Payload)> Exchange(Message message)
    {
        uint sequence = message.Sequence;
        Send(message);
        var replies = new List<(ushort, byte[])>();
        var buffer = ReceiveBuffer;
        while (true)
        {
            int count = Receive(buffer);
            foreach (var (type, flags, seq, payload) in ReplyReader.Split(buffer, count))
            {
                if (seq != sequence)
                    continue;
                if (type == NLMSG_ERROR)
                {
                    int errno = ErrorOf(payload);
                    if (errno != 0)
                        throw new NetlinkException(errno, Interop.Libc.StrError(errno));
                    return replies;
                }
                if (type == NLMSG_DONE)
                    return replies;
                replies.Add((type, payload));
                // a single answer (not part of a dump) ends the exchange
                if ((flags & 2 /* NLM_F_MULTI */) == 0)
                    return replies;
            }
        }
    }

    public void Dispose() => _fd.Dispose();
}
