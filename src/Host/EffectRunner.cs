// Answers the core's requests one at a time, a method per kind of request: carries out
// each effect against the real machine and hands the outcome back. Each effect does
// exactly what its description says; what a failure means is the core's business.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Dcos.L4lb;
using Dcos.L4lb.Host.Netlink;

namespace Dcos.L4lb.Host;

/// An effect that failed in a way the runner has put in words: answered as this failure,
/// the message as it is.
sealed class EffectFailedException(FailureKind kind, string message) : Exception(message)
{
    public FailureKind Kind { get; } = kind;
}

sealed class EffectRunner(EffectLog log) : IRequestHandler<Next>, IChangeHandler<System.Action>, IDisposable
{
    const int ENOENT = 2, ESRCH = 3, EEXIST = 17, ENODEV = 19, EOPNOTSUPP = 95;
    readonly Dictionary<string, NetlinkSocket> _sockets = new();
    readonly PluginProcesses _plugins = new();
    readonly InjectedFault _fault = InjectedFault.Of(ProcessEnvironment.Variables);

    Next IRequestHandler<Next>.Change(ChangeRequest request) =>
        Answer(request, request.Change.Handle<System.Action>(this), EffectOutcome.Completed, request.Completed);

    // Not logged: the await's line stands for the whole run. A plugin started whose start
    // the core could not take is killed: nothing will await it.
    Next IRequestHandler<Next>.Start(StartRequest request) =>
        Answer(request, () => _plugins.Start(request.Call), null, request.Started,
            describedAs: $"run {request.Call.Describe()}", abandon: _plugins.Kill);

    // A plugin whose end was not seen is killed, and may have done part of its work.
    Next IRequestHandler<Next>.Await(AwaitRequest request) =>
        Answer(request, () => _plugins.Await(request.Plugin.Id), exit => EffectOutcome.NewExited(exit.ExitCode, exit.Stdout.Length),
            exit => request.Exited(exit.ExitCode, exit.Stdout), began: _plugins.StartedAt(request.Plugin.Id),
            unexpected: () => { _plugins.Kill(request.Plugin.Id); return FailureKind.Interrupted; });

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
    // default now). Whatever is thrown is answered as a failure of the request, named by
    // its effect, so that the core undoes what came before as for any failed step: an
    // exception put in words as the failure it is, any other as OtherFailure (or what
    // `unexpected`, which cleans up after it, says).
    Next Answer<T>(Request request, Func<T> carryOut, Func<T, EffectOutcome>? outcome, Func<T, Next> answer,
        long? began = null, string? describedAs = null, Func<FailureKind>? unexpected = null, Action<T>? abandon = null)
    {
        long since = began ?? Stopwatch.GetTimestamp();
        string effect = describedAs ?? request.Effect.Describe();
        T found;
        try
        {
            _fault.BeforeEffect();
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
        catch (Exception e)
        {
            return Fail(unexpected?.Invoke() ?? FailureKind.OtherFailure, $"{effect}: unexpected {e.GetType().Name}: {e.Message}");
        }
        if (outcome is not null && log.LogsEffects)
            log.Answered(request.Effect, request.Label, effect, outcome(found), since);
        try
        {
            _fault.BeforeResume();
            return answer(found);
        }
        catch (Exception e)
        {
            // The core threw on this outcome (a bug of ours): it is answered failed instead,
            // which the core takes by undoing, this request's effect included (it took
            // place: Interrupted). An exception on that path too ends the command with the
            // last-resort reply (Program.Main).
            abandon?.Invoke(found);
            _fault.BeforeFailure();
            return Fail(FailureKind.Interrupted, $"{effect}: done, but the plugin failed on its outcome: {e.GetType().Name}: {e.Message}");
        }

        Next Fail(FailureKind kind, string message)
        {
            if (log.LogsEffects)
                log.Answered(request.Effect, request.Label, effect, EffectOutcome.NewFailed(new Failure(kind, message)), since);
            return request.Fail(kind, message);
        }
    }

    // Each change as what carries it out, run by Answer (which turns its exceptions into
    // failures).
    System.Action IChangeHandler<System.Action>.EnableIpv4Forwarding() => EnableForwarding;

    System.Action IChangeHandler<System.Action>.TakeLock(string path) => () => Lock(path);

    System.Action IChangeHandler<System.Action>.ReleaseLock(string path) => () => Unlock(path);

    System.Action IChangeHandler<System.Action>.CreateVeth(string netns, string container, string host, int? mtu) => () =>
    {
        using var netnsFile = File.OpenHandle(netns, FileMode.Open, FileAccess.Read);
        NamingMissingType("veth", "", () => Rtnl.CreateVeth(Socket(Namespace.HostNs), host, container, netnsFile, mtu));
    };

    System.Action IChangeHandler<System.Action>.CreateDummy(Namespace ns, string name) => () =>
        NamingMissingType("dummy", ": Minuteman needs the dummy module; disable Minuteman or load the module",
            () => Rtnl.CreateLink(Socket(ns), name, "dummy"));

    System.Action IChangeHandler<System.Action>.SetLinkUp(Namespace ns, string name) => () => Rtnl.SetUp(Socket(ns), name);

    System.Action IChangeHandler<System.Action>.AddAddress(Namespace ns, string link, Ipv4 address, int prefixLength) => () =>
    {
        var s = Socket(ns);
        Rtnl.AddAddress(s, Rtnl.GetLink(s, link).Index, address.Value, prefixLength);
    };

    System.Action IChangeHandler<System.Action>.AddRoute(Namespace ns, Route route) => () =>
    {
        var s = Socket(ns);
        byte scope = route.IsLinkScope ? Rtnl.RT_SCOPE_LINK : Rtnl.RT_SCOPE_UNIVERSE;
        Rtnl.AddRoute(s, route.Destination.Value, route.PrefixLength, Rtnl.GetLink(s, route.Device).Index, scope, route.SourceValue);
    };

    System.Action IChangeHandler<System.Action>.DeleteLink(Namespace ns, string name) => () => Rtnl.DeleteLink(Socket(ns), name);

    System.Action IChangeHandler<System.Action>.WriteCheckpoint(string directory, string containerId, string content) => () =>
        FileStore.Checkpoints.Write(directory, containerId, content);

    System.Action IChangeHandler<System.Action>.WriteRecord(string directory, string name, string content) => () =>
        FileStore.Records.Write(directory, name, content);

    System.Action IChangeHandler<System.Action>.RemoveFile(FileKind kind, string directory, string name) => () =>
        FileStore.Remove(directory, name);

    System.Action IChangeHandler<System.Action>.FindPlugin(string pluginType, string[] path) => () =>
    {
        if (PluginProcesses.Find(pluginType, path) is null)
            throw new EffectFailedException(FailureKind.NotFound, $"plugin \"{pluginType}\" not found in CNI_PATH ({string.Join(":", path)})");
    };

    System.Action IChangeHandler<System.Action>.CheckWritable(string path) => () => Writable(path);

    System.Action IChangeHandler<System.Action>.CheckExists(string path) => () =>
    {
        if (!File.Exists(path) && !Directory.Exists(path))
            throw new EffectFailedException(FailureKind.NotFound, $"{path} does not exist");
    };

    LinkState ReadLink(Namespace ns, string name)
    {
        var s = Socket(ns);
        var link = Rtnl.GetLink(s, name);
        var addresses = new List<LinkAddress>();
        foreach (var (address, length) in Rtnl.GetAddresses(s, link.Index))
            addresses.Add(new LinkAddress(Ipv4.OfValue(address), length));
        return new LinkState(link.Kind, link.Up, addresses.ToArray(), ns.NetnsPath is null ? null : HostPeer(link));
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
            var source = route.Source is uint src ? Ipv4.OfValue(src) : (Ipv4?)null;
            entries.Add(new RouteEntry(Ipv4.OfValue(route.Destination), route.PrefixLength, scope, source));
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
        int errno = fd.IsInvalid ? System.Runtime.InteropServices.Marshal.GetLastPInvokeError() : 0;
        // a signal while waiting for the lock (EINTR) is no reason to give up on it
        while (errno == 0 && Interop.Libc.flock(fd, Interop.Libc.LockOperations.LOCK_EX) != 0)
            if ((errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError()) == Interop.Libc.EINTR)
                errno = 0;
        if (errno != 0)
        {
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

    // Whatever happened before: every plugin still running is killed and reaped, every
    // socket closed and every lock released, one failure stopping none of the others.
    public void Dispose()
    {
        _plugins.Dispose();
        foreach (var handle in _sockets.Values.Cast<IDisposable>().Concat(_locks.Values))
        {
            try
            {
                handle.Dispose();
            }
            catch (Exception)
            {
                // closing a descriptor releases it even when close(2) reports an error
            }
        }
        _sockets.Clear();
        _locks.Clear();
    }
}
