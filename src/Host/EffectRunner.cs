// Answers the core's requests one at a time, a method per kind of request: carries out
// each effect against the real machine and hands the outcome back. Each effect does
// exactly what its description says; what a failure means is the core's business.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using Dcos.L4lb;
using Dcos.L4lb.Host.Netlink;

namespace Dcos.L4lb.Host;

/// An effect that failed in a way the runner has put in words: answered as this failure,
/// the message as it is.
sealed class EffectFailedException(FailureKind kind, string message) : Exception(message)
{
    public FailureKind Kind { get; } = kind;
}

sealed class EffectRunner(EffectLog log) : IRequestHandler<Next>, IDisposable
{
    const int ENOENT = 2, ESRCH = 3, EEXIST = 17, ENODEV = 19, EOPNOTSUPP = 95;
    readonly Dictionary<string, NetlinkSocket> _sockets = new();
    readonly PluginProcesses _plugins = new();

    Next IRequestHandler<Next>.Change(ChangeRequest request) =>
        Answer(request, () => Make(request.Change), EffectOutcome.Completed, request.Completed);

    // Not logged: the await's line stands for the whole run.
    Next IRequestHandler<Next>.Start(StartRequest request) =>
        Answer(request, () => _plugins.Start(request.Call), null, request.Started,
            describedAs: $"run {request.Call.Describe()}");

    Next IRequestHandler<Next>.Await(AwaitRequest request) =>
        Answer(request, () => _plugins.Await(request.Plugin.Id), exit => EffectOutcome.NewExited(exit.ExitCode, exit.Stdout.Length),
            exit => request.Exited(exit.ExitCode, exit.Stdout), began: _plugins.StartedAt(request.Plugin.Id));

    Next IRequestHandler<Next>.InspectLink(LinkRequest request) =>
        Answer(request, () => ReadLink(request.Namespace, request.Name), _ => EffectOutcome.Found, request.Found);

    Next IRequestHandler<Next>.ListRoutes(RoutesRequest request) =>
        Answer(request, () => RoutesVia(request.Namespace, request.Link), _ => EffectOutcome.Found, request.Found);

    Next IRequestHandler<Next>.ReadFile(FileRequest request) =>
        Answer(request, () => FileStore.Read(request.Directory, request.Name), _ => EffectOutcome.Found, request.Found);

    Next IRequestHandler<Next>.ListFiles(FilesRequest request) =>
        Answer(request, () => FileStore.List(request.Directory), _ => EffectOutcome.Found, request.Found);

    Next Answer(Request request, System.Action carryOut, EffectOutcome outcome, Func<Next> answer) =>
        Answer(request, () => { carryOut(); return true; }, _ => outcome, _ => answer());

    // Carries out the request and answers it with what was found, logged with its outcome
    // (unless `outcome` is null) and the time since `began` (a Stopwatch timestamp; by
    // default now). An exception is answered as the failure it is, and logged.
    Next Answer<T>(Request request, Func<T> carryOut, Func<T, EffectOutcome>? outcome, Func<T, Next> answer,
        long? began = null, string? describedAs = null)
    {
        long since = began ?? Stopwatch.GetTimestamp();
        string effect = describedAs ?? request.Effect.Describe();
        T found;
        try
        {
            found = carryOut();
        }
        catch (EffectFailedException e)
        {
            return Fail(e.Kind, e.Message);
        }
        catch (NetlinkException e)
        {
            return Fail(KindOf(e.Errno), $"{effect}: {e.Message}");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Fail(FailureKind.NotFound, $"{effect}: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(FailureKind.Io, $"{effect}: {e.Message}");
        }
        if (outcome is not null && log.LogsEffects)
            log.Answered(request.Effect, request.Label, effect, outcome(found), since);
        return answer(found);

        Next Fail(FailureKind kind, string message)
        {
            if (log.LogsEffects)
                log.Answered(request.Effect, request.Label, effect, EffectOutcome.NewFailed(new Failure(kind, message)), since);
            return request.Fail(kind, message);
        }
    }

    void Make(Change change)
    {
        switch (change)
        {
            case Change.TakeLock l:
                Lock(l.path);
                break;
            case Change.ReleaseLock l:
                Unlock(l.path);
                break;
            case Change.CreateVeth v:
                using (var netns = File.OpenHandle(v.netns, FileMode.Open, FileAccess.Read))
                    NamingMissingType("veth", "", () => Rtnl.CreateVeth(Socket(Namespace.HostNs), v.host, v.container, netns, v.mtu));
                break;
            case Change.CreateDummy d:
                NamingMissingType("dummy", ": Minuteman needs the dummy module; disable Minuteman or load the module",
                    () => Rtnl.CreateLink(Socket(d.ns), d.name, "dummy"));
                break;
            case Change.SetLinkUp u:
                Rtnl.SetUp(Socket(u.ns), u.name);
                break;
            case Change.AddAddress a:
                {
                    var s = Socket(a.ns);
                    Rtnl.AddAddress(s, Rtnl.GetLink(s, a.link).Index, a.address.Value, a.prefixLength);
                    break;
                }
            case Change.AddRoute r:
                {
                    var s = Socket(r.ns);
                    var route = r.route;
                    byte scope = route.Scope.IsLinkScope ? Rtnl.RT_SCOPE_LINK : Rtnl.RT_SCOPE_UNIVERSE;
                    Rtnl.AddRoute(s, route.Destination.Value, route.PrefixLength, Rtnl.GetLink(s, route.Device).Index, scope, route.SourceValue);
                    break;
                }
            case Change.DeleteLink d:
                Rtnl.DeleteLink(Socket(d.ns), d.name);
                break;
            case Change.WriteCheckpoint w:
                FileStore.Checkpoints.Write(w.directory, w.containerId, w.content);
                break;
            case Change.WriteRecord w:
                FileStore.Records.Write(w.directory, w.name, w.content);
                break;
            case Change.RemoveFile r:
                FileStore.Remove(r.directory, r.name);
                break;
            case Change.FindPlugin f:
                if (PluginProcesses.Find(f.pluginType, f.path) is null)
                    throw new EffectFailedException(FailureKind.NotFound, $"plugin \"{f.pluginType}\" not found in CNI_PATH ({string.Join(":", f.path)})");
                break;
            case Change.CheckWritable c:
                Writable(c.path);
                break;
            case Change.CheckExists c:
                if (!File.Exists(c.path) && !Directory.Exists(c.path))
                    throw new EffectFailedException(FailureKind.NotFound, $"{c.path} does not exist");
                break;
            case var _ when change.IsEnableIpv4Forwarding:
                EnableForwarding();
                break;
            default:
                throw new InvalidOperationException($"no runner for \"{change.Describe()}\"");
        }
    }

    LinkState ReadLink(Namespace ns, string name)
    {
        var s = Socket(ns);
        var link = Rtnl.GetLink(s, name);
        var addresses = new List<LinkAddress>();
        foreach (var (address, length) in Rtnl.GetAddresses(s, link.Index))
            addresses.Add(new LinkAddress(Ipv4.NewIpv4(address), length));
        return new LinkState(link.Kind, link.Up, addresses.ToArray(), ns.IsContainerNs ? HostPeer(link) : null);
    }

    // The host end of a veth whose other end is in a container: the kernel gives the peer's
    // index (IFLA_LINK) in the peer's namespace; it is ours when the link of that index here
    // is a veth whose own peer index is the container end's.
    string? HostPeer(KernelLink containerEnd)
    {
        if (containerEnd.Kind != "veth" || containerEnd.PeerIndex <= 0)
            return null;
        try
        {
            var hostEnd = Rtnl.GetLink(Socket(Namespace.HostNs), containerEnd.PeerIndex);
            return hostEnd.Kind == "veth" && hostEnd.PeerIndex == containerEnd.Index ? hostEnd.Name : null;
        }
        catch (NetlinkException)
        {
            return null;
        }
    }

    RouteEntry[] RoutesVia(Namespace ns, string device)
    {
        var s = Socket(ns);
        int index = Rtnl.GetLink(s, device).Index;
        var entries = new List<RouteEntry>();
        foreach (var route in Rtnl.GetRoutes(s))
        {
            if (route.OutputIndex != index)
                continue;
            var scope = route.Scope == Rtnl.RT_SCOPE_LINK ? RouteScope.LinkScope : RouteScope.UniverseScope;
            var source = route.Source is uint src ? Ipv4.NewIpv4(src) : (Ipv4?)null;
            entries.Add(new RouteEntry(Ipv4.NewIpv4(route.Destination), route.PrefixLength, scope, source));
        }
        return entries.ToArray();
    }

    NetlinkSocket Socket(Namespace ns)
    {
        var path = ns.NetnsPath;
        var key = path ?? "";
        if (!_sockets.TryGetValue(key, out var socket))
        {
            socket = path is null ? NetlinkSocket.OpenHere() : NetlinkSocket.OpenIn(path);
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
    readonly Dictionary<string, SafeFileDescriptor> _locks = new(StringComparer.Ordinal);

    void Lock(string path)
    {
        if (_locks.ContainsKey(path))
            return;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!, FileStore.DirectoryMode);
        var fd = Interop.Libc.open(path, Interop.Libc.OpenFlags.O_RDWR | Interop.Libc.OpenFlags.O_CREAT | Interop.Libc.OpenFlags.O_CLOEXEC, FileStore.FileMode0644);
        if (fd.IsInvalid || Interop.Libc.flock(fd, Interop.Libc.LockOperations.LOCK_EX) != 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            fd.Dispose();
            throw new EffectFailedException(FailureKind.Io, $"cannot lock {path}: {Interop.Libc.StrError(errno)}");
        }
        _locks[path] = fd;
    }

    void Unlock(string path)
    {
        if (!_locks.Remove(path, out var fd))
            throw new EffectFailedException(FailureKind.NotFound, $"{path} is not locked by this process");
        fd.Dispose();
    }

    static void Writable(string path)
    {
        var existing = path;
        while (!File.Exists(existing) && !Directory.Exists(existing) && Path.GetDirectoryName(existing) is { } parent)
            existing = parent;
        if (Interop.Libc.access(existing, Interop.Libc.AccessMode.W_OK) == 0)
            return;
        int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
        throw new EffectFailedException(FailureKind.Io, $"{existing} is not writable: {Interop.Libc.StrError(errno)}");
    }

    static void EnableForwarding()
    {
        using var file = new FileStream("/proc/sys/net/ipv4/ip_forward", FileMode.Open, FileAccess.Write);
        file.Write("1"u8);
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
    static void NamingMissingType(string kind, string advice, System.Action create)
    {
        try
        {
            create();
        }
        catch (NetlinkException e) when (e.Errno == EOPNOTSUPP)
        {
            throw new NetlinkException(e.Errno, $"the kernel has no \"{kind}\" link type (Operation not supported){advice}");
        }
    }

    public void Dispose()
    {
        _plugins.Dispose();
        foreach (var socket in _sockets.Values)
            socket.Dispose();
        foreach (var fd in _locks.Values)
            fd.Dispose();
    }
}
