// Carries out one effect at a time against the real machine and reports the outcome.
// Each effect does exactly what its description says; what a failure means is the
// core's business.
using System;
using System.Collections.Generic;
using System.IO;
using Dcos.L4lb;
using Dcos.L4lb.Host.Netlink;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace Dcos.L4lb.Host;

public sealed class EffectRunner : IDisposable
{
    const int ENOENT = 2, ESRCH = 3, EEXIST = 17, ENODEV = 19, EOPNOTSUPP = 95;
    readonly Dictionary<string, NetlinkSocket> _sockets = new();

    public Outcome Perform(Effect effect)
    {
        try
        {
            return effect switch
            {
                Effect.RunPlugin run => Plugins.Run(run.Item),
                Effect.WriteCheckpoint w => Checkpoints.Write(w.directory, w.containerId, w.content),
                Effect.RemoveCheckpoint r => Checkpoints.Remove(r.directory, r.containerId),
                Effect.ReadCheckpoint r => Checkpoints.Read(r.directory, r.containerId),
                Effect.WriteAttachment w => Attachments.Write(w.directory, w.name, w.content),
                Effect.RemoveAttachment r => Attachments.Remove(r.directory, r.name),
                Effect.ListAttachments l => Attachments.List(l.directory),
                Effect.ReadAttachment r => Attachments.Read(r.directory, r.name),
                _ when effect.IsEnableIpv4Forwarding => EnableForwarding(),
                Effect.TakeLock l => Lock(l.path),
                Effect.ReleaseLock l => Unlock(l.path),
                Effect.FindPlugin f => Plugins.Find(f.pluginType, f.path) is null
                    ? Failed(FailureKind.NotFound, $"plugin \"{f.pluginType}\" not found in CNI_PATH ({string.Join(":", f.path)})")
                    : Outcome.Completed,
                Effect.CheckWritable c => Writable(c.path),
                _ => PerformNetlink(effect),
            };
        }
        catch (NetlinkException e)
        {
            return Failed(KindOf(e.Errno), $"{effect.Describe()}: {Explain(effect, e)}");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Failed(FailureKind.NotFound, $"{effect.Describe()}: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Failed(FailureKind.Io, $"{effect.Describe()}: {e.Message}");
        }
    }

    Outcome PerformNetlink(Effect effect)
    {
        switch (effect)
        {
            case Effect.CreateVeth v:
                using (var netns = File.OpenHandle(v.netns, FileMode.Open, FileAccess.Read))
                    Rtnl.CreateVeth(Socket(Namespace.HostNs), v.host, v.container, netns, OptionModule.ToNullable(v.mtu));
                return Outcome.Completed;
            case Effect.CreateDummy d:
                Rtnl.CreateLink(Socket(d.Item1), d.name, "dummy");
                return Outcome.Completed;
            case Effect.SetLinkUp u:
                Rtnl.SetUp(Socket(u.Item1), u.name);
                return Outcome.Completed;
            case Effect.AddAddress a:
            {
                var s = Socket(a.Item1);
                Rtnl.AddAddress(s, Rtnl.GetLink(s, a.link).Index, Fixed(a.Item3), a.prefixLength);
                return Outcome.Completed;
            }
            case Effect.AddRoute r:
            {
                var s = Socket(r.Item1);
                var route = r.Item2;
                byte scope = route.Scope.IsLinkScope ? Rtnl.RT_SCOPE_LINK : Rtnl.RT_SCOPE_UNIVERSE;
                uint? source = route.Source is null ? null : Fixed(route.Source.Value);
                Rtnl.AddRoute(s, Fixed(route.Destination), route.PrefixLength, Rtnl.GetLink(s, route.Device).Index, scope, source);
                return Outcome.Completed;
            }
            case Effect.DeleteLink d:
                Rtnl.DeleteLink(Socket(d.Item1), d.name);
                return Outcome.Completed;
            case Effect.InspectLink i:
            {
                var s = Socket(i.Item1);
                var link = Rtnl.GetLink(s, i.name);
                var addresses = new List<Tuple<Ipv4, int>>();
                foreach (var (address, length) in Rtnl.GetAddresses(s, link.Index))
                    addresses.Add(Tuple.Create(Ipv4.NewIpv4(address), length));
                return Outcome.NewLinkFound(new LinkState(link.Kind, link.Up, ListModule.OfSeq(addresses)));
            }
            case Effect.InspectRoutes i:
            {
                var s = Socket(i.Item1);
                int index = Rtnl.GetLink(s, i.link).Index;
                var entries = new List<RouteEntry>();
                foreach (var route in Rtnl.GetRoutes(s))
                {
                    if (route.OutputIndex != index)
                        continue;
                    var scope = route.Scope == Rtnl.RT_SCOPE_LINK ? RouteScope.LinkScope : RouteScope.UniverseScope;
                    var source = route.Source is uint src ? FSharpOption<Ipv4>.Some(Ipv4.NewIpv4(src)) : FSharpOption<Ipv4>.None;
                    entries.Add(new RouteEntry(Ipv4.NewIpv4(route.Destination), route.PrefixLength, scope, source));
                }
                return Outcome.NewRoutesFound(ListModule.OfSeq(entries));
            }
            default:
                throw new InvalidOperationException($"no runner for \"{effect.Describe()}\"");
        }
    }

    static uint Fixed(Address address) => address is Address.Fixed f
        ? f.Item.Value
        : throw new InvalidOperationException("the core resolves every address before an effect reaches the runner");

    NetlinkSocket Socket(Namespace ns)
    {
        var key = ns is Namespace.ContainerNs c ? c.path : "";
        if (!_sockets.TryGetValue(key, out var socket))
        {
            socket = key.Length == 0 ? NetlinkSocket.OpenHere() : NetlinkSocket.OpenIn(key);
            _sockets[key] = socket;
        }
        return socket;
    }

    // Held until released (GC, one attachment at a time) or until the process exits: the
    // kernel releases a flock with its last descriptor.
    // Opened with libc, not FileStream: .NET takes flocks of its own to emulate FileShare,
    // which would make a waiting process fail instead of wait.
    // By path: a GC may be asked for a lock it holds already (two attachments on one of
    // the striped lock files), and a second flock on a new descriptor would wait forever.
    readonly Dictionary<string, int> _locks = new(StringComparer.Ordinal);

    Outcome Lock(string path)
    {
        if (_locks.ContainsKey(path))
            return Outcome.Completed;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        int fd = Libc.open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0b110_100_100);
        if (fd < 0 || Libc.flock(fd, Libc.LOCK_EX) != 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (fd >= 0)
                Libc.close(fd);
            return Failed(FailureKind.Io, $"cannot lock {path}: {Libc.StrError(errno)}");
        }
        _locks[path] = fd;
        return Outcome.Completed;
    }

    Outcome Unlock(string path)
    {
        if (!_locks.Remove(path, out int fd))
            return Failed(FailureKind.NotFound, $"{path} is not locked by this process");
        Libc.close(fd);
        return Outcome.Completed;
    }

    static Outcome Writable(string path)
    {
        var existing = path;
        while (!File.Exists(existing) && !Directory.Exists(existing) && Path.GetDirectoryName(existing) is { } parent)
            existing = parent;
        if (Libc.access(existing, Libc.W_OK) == 0)
            return Outcome.Completed;
        int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
        return Failed(FailureKind.Io, $"{existing} is not writable: {Libc.StrError(errno)}");
    }

    static Outcome EnableForwarding()
    {
        using var file = new FileStream("/proc/sys/net/ipv4/ip_forward", FileMode.Open, FileAccess.Write);
        file.Write("1"u8);
        return Outcome.Completed;
    }

    static FailureKind KindOf(int errno) => errno switch
    {
        ENOENT or ENODEV or ESRCH => FailureKind.NotFound,
        EEXIST => FailureKind.AlreadyExists,
        EOPNOTSUPP => FailureKind.Unsupported,
        _ => FailureKind.OtherFailure,
    };

    // The kernel's words for a missing link type ("Operation not supported") do not say
    // what is missing; say it.
    static string Explain(Effect effect, NetlinkException e) => effect switch
    {
        Effect.CreateDummy when e.Errno == EOPNOTSUPP =>
            "the kernel has no \"dummy\" link type (Operation not supported): Minuteman needs the dummy module; disable Minuteman or load the module",
        Effect.CreateVeth when e.Errno == EOPNOTSUPP => "the kernel has no \"veth\" link type (Operation not supported)",
        _ => e.Message,
    };

    static Outcome Failed(FailureKind kind, string message) => Outcome.NewFailed(new Failure(kind, message));

    public void Dispose()
    {
        foreach (var socket in _sockets.Values)
            socket.Dispose();
        foreach (var fd in _locks.Values)
            Libc.close(fd);
    }
}
