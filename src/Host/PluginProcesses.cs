// Runs other CNI plugins (the delegate, the IPAM plugin): found by type in CNI_PATH, our
// environment with the call's CNI_* variables, the config on stdin, its stderr passed
// through to ours, bounded in time. A run is started and later awaited, by the id Start
// hands out; the time limit counts from the start.
//
// The plugin is started with posix_spawn and watched from this thread alone, with one
// poll() on the three things that can happen: room in its stdin pipe, data or
// end-of-file on its stdout pipe, and its exit (a pidfd, readable once it has exited).
// System.Diagnostics.Process did the same with a SIGCHLD thread, thread-pool workers and
// an epoll thread, and handed the exit between them: about 7 ms of an ADD+DEL cycle,
// which runs four plugins (measured when it was replaced).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

sealed unsafe class PluginProcesses : IDisposable
{
    const UnixFileMode AnyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    // Without a pidfd (Linux before 5.3) nothing wakes poll() when the plugin exits, so
    // it wakes this often to ask waitpid.
    const int ExitCheckMs = 2;

    /// What is read of a plugin's stdout, at most: as much as the plugin reads of its own
    /// stdin (a result is a few kilobytes). A plugin that prints more is killed.
    public static readonly int MaxOutputBytes = Core.maxInputBytes;

    readonly Dictionary<int, Running> _running = new();
    int _lastId;
    bool _childrenWaitable;

    public static string? Find(string type, string[] path)
    {
        foreach (var dir in path)
        {
            var candidate = Path.Combine(dir, type);
            if (File.Exists(candidate) && (File.GetUnixFileMode(candidate) & AnyExecute) != 0)
                return candidate;
        }
        return null;
    }

    /// Starts the plugin and hands it the config: the id to await it by. A plugin that is
    /// not found or cannot be started is an EffectFailedException.
    public int Start(PluginCall call)
    {
        var binary = Find(call.Type, call.Path)
            ?? throw new EffectFailedException(FailureKind.NotFound, $"plugin \"{call.Type}\" not found in CNI_PATH ({string.Join(":", call.Path)})");
        var input = call.Stdin();
        var environment = EnvironmentOf(call);
        if (!_childrenWaitable)
        {
            MakeChildrenWaitable();
            _childrenWaitable = true;
        }

        // Both pipes are close-on-exec: the plugin gets only its ends of them, as its fds 0
        // and 1 (dup2 clears the flag on the copies). Every other fd of ours is
        // close-on-exec too (netlink sockets, lock files, the log, other plugins' pipes),
        // so it inherits nothing else but our stderr, its fd 2.
        var (stdinRead, stdinWrite) = Pipe(binary);
        SafeFileDescriptor stdoutRead, stdoutWrite;
        try
        {
            (stdoutRead, stdoutWrite) = Pipe(binary);
        }
        catch
        {
            stdinRead.Dispose();
            stdinWrite.Dispose();
            throw;
        }
        // Our end of stdin never blocks: a plugin that does not read must not stop us
        // from reading its stdout or noticing its exit. (SIGPIPE is ignored by the .NET
        // runtime, so writing after the plugin is gone fails with EPIPE instead of
        // killing us.)
        Interop.Libc.fcntl(stdinWrite, Interop.Libc.FcntlCommand.F_SETFL, Interop.Libc.OpenFlags.O_NONBLOCK);

        long started = Stopwatch.GetTimestamp();
        int error = Spawn(binary, environment, stdinRead, stdoutWrite, out int pid);
        stdinRead.Dispose();
        stdoutWrite.Dispose();
        if (error != 0)
        {
            stdinWrite.Dispose();
            stdoutRead.Dispose();
            throw CannotRun(binary, null, error);
        }
        var plugin = new Running(call, pid, input, stdinWrite, stdoutRead, started);
        try
        {
            // the config usually fits in the pipe at once: the plugin need not wait for Await
            plugin.Feed();
            _running[++_lastId] = plugin;
            return _lastId;
        }
        catch (Exception e)
        {
            plugin.Dispose();
            throw e as EffectFailedException ?? new EffectFailedException(FailureKind.Interrupted,
                $"plugin \"{call.Type}\" {call.Command} was started, then killed: {e.GetType().Name}: {e.Message}");
        }
    }

    /// When the plugin was started (a Stopwatch timestamp): its time limit counts from then.
    /// Null for an id that is not running.
    public long? StartedAt(int id) => _running.TryGetValue(id, out var plugin) ? plugin.Started : null;

    /// Kills and reaps the plugin, if it is still running: nothing will await it.
    public void Kill(int id)
    {
        if (_running.Remove(id, out var plugin))
            plugin.Dispose();
    }

    /// Waits for the plugin to exit, feeding it the rest of its config and collecting its
    /// stdout; kills it (and what it started) at its time limit (TimedOut), when it prints
    /// more than MaxOutputBytes, or when it cannot be watched (Interrupted).
    public PluginExit Await(int id)
    {
        var plugin = Started(id);
        _running.Remove(id);
        using (plugin)
            return plugin.Supervise();
    }

    Running Started(int id) => _running.TryGetValue(id, out var plugin)
        ? plugin
        : throw new InvalidOperationException($"no plugin is running with id {id}: each started plugin is awaited once");

    // Ours, with the call's CNI_* variables on top; CNI_NETNS only if the call has one.
    static List<string> EnvironmentOf(PluginCall call)
    {
        var environment = new Dictionary<string, string>(ProcessEnvironment.Variables, StringComparer.Ordinal);
        foreach (var (key, value) in call.Environment)
            environment[key] = value;
        if (!call.Environment.Any(v => v.Key == "CNI_NETNS"))
            environment.Remove("CNI_NETNS");
        return environment.Select(e => $"{e.Key}={e.Value}").ToList();
    }

    // A runtime that starts us with SIGCHLD ignored makes the kernel reap our children
    // itself: waitpid would find no exit status (ECHILD), and the plugins we run would
    // inherit the setting. The default is put back, once, before the first plugin starts.
    static void MakeChildrenWaitable()
    {
        byte* old = stackalloc byte[Interop.Libc.SigactionSize];
        if (Interop.Libc.sigaction(Interop.Libc.Signal.SIGCHLD, null, old) == 0 && *(nint*)old == Interop.Libc.SIG_IGN)
        {
            byte* byDefault = stackalloc byte[Interop.Libc.SigactionSize];
            new Span<byte>(byDefault, Interop.Libc.SigactionSize).Clear();
            Interop.Libc.sigaction(Interop.Libc.Signal.SIGCHLD, byDefault, null);
        }
    }

    // Both ends close-on-exec, each owned from the moment pipe2 returns it.
    static (SafeFileDescriptor Read, SafeFileDescriptor Write) Pipe(string binary)
    {
        int* fds = stackalloc int[2];
        if (Interop.Libc.pipe2(fds, Interop.Libc.OpenFlags.O_CLOEXEC) != 0)
            throw CannotRun(binary, "pipe", Marshal.GetLastPInvokeError());
        return (new SafeFileDescriptor(fds[0]), new SafeFileDescriptor(fds[1]));
    }

    // The plugin keeps our signal mask and ignored signals (as with Process) and stays in
    // our process group: a runtime that kills our group on its own timeout kills the
    // plugins we run with us. Returns posix_spawn's error number (0: started).
    static int Spawn(string binary, List<string> environment, SafeFileDescriptor stdin, SafeFileDescriptor stdout, out int pid)
    {
        var argv = CStrings([binary]);
        var envp = CStrings(environment);
        byte* actions = stackalloc byte[Interop.Libc.PosixSpawnFileActionsSize];
        byte* attributes = stackalloc byte[Interop.Libc.PosixSpawnAttrSize];
        // glibc's posix_spawn ignores its two internal signals (32 and 33) in the child
        // until exec, and exec keeps them ignored: they go back to the default, which is
        // what the plugin got from Process. (sigaddset refuses them, hence the bits.)
        ulong* internalSignals = stackalloc ulong[Interop.Libc.SigSetSize / sizeof(ulong)];
        new Span<ulong>(internalSignals, Interop.Libc.SigSetSize / sizeof(ulong)).Clear();
        internalSignals[0] = 1UL << (32 - 1) | 1UL << (33 - 1);
        Interop.Libc.posix_spawn_file_actions_init(actions);
        Interop.Libc.posix_spawnattr_init(attributes);
        try
        {
            int error = Interop.Libc.posix_spawn_file_actions_adddup2(actions, stdin, 0);
            if (error == 0)
                error = Interop.Libc.posix_spawn_file_actions_adddup2(actions, stdout, 1);
            if (error == 0)
                error = Interop.Libc.posix_spawnattr_setflags(attributes, Interop.Libc.PosixSpawnFlags.POSIX_SPAWN_SETSIGDEF);
            if (error == 0)
                error = Interop.Libc.posix_spawnattr_setsigdefault(attributes, internalSignals);
            int spawned = 0;
            if (error == 0)
                fixed (nint* a = argv, e = envp)
                    error = Interop.Libc.posix_spawn(&spawned, a[0], actions, attributes, a, e);
            pid = spawned;
            return error;
        }
        finally
        {
            Interop.Libc.posix_spawnattr_destroy(attributes);
            Interop.Libc.posix_spawn_file_actions_destroy(actions);
            foreach (var s in argv.Concat(envp))
                Marshal.FreeCoTaskMem(s);
        }
    }

    // NUL-terminated UTF-8 copies, and the NULL that ends the array
    static nint[] CStrings(IReadOnlyList<string> strings)
    {
        var pointers = new nint[strings.Count + 1];
        for (int i = 0; i < strings.Count; i++)
            pointers[i] = Marshal.StringToCoTaskMemUTF8(strings[i]);
        return pointers;
    }

    // One started plugin: the pipes' ends we hold, the config still to write, the stdout
    // read so far.
    sealed class Running : IDisposable
    {
        // A result is a few hundred bytes: the buffer starts at a page. Past that it is
        // made as large as it may get at once, MaxOutputBytes + 1 (the byte that tells
        // "too much"), and left uninitialised, so that only what is read into it becomes
        // resident (doubling would touch twice as much, and leave the copies to the GC).
        const int FirstOutputBytes = 4096;

        public readonly long Started;
        readonly PluginCall _call;
        readonly int _pid;
        readonly byte[] _input;
        int _written;
        byte[] _output = new byte[FirstOutputBytes];
        int _read;
        readonly SafeFileDescriptor _stdin, _stdout, _pidfd;
        bool _reaped;

        public Running(PluginCall call, int pid, byte[] input, SafeFileDescriptor stdin, SafeFileDescriptor stdout, long started)
        {
            (_call, _pid, _input, _stdin, _stdout, Started) = (call, pid, input, stdin, stdout, started);
            _pidfd = Interop.Libc.PidfdOpen(pid);
        }

        // Collects stdout and waits for the exit. The plugin has _call.TimeoutMs from its
        // start to exit; once it has, its stdout has as long again to reach end-of-file,
        // since a process it left running may hold it open.
        public PluginExit Supervise()
        {
            int? exitCode = null;
            var limit = TimeSpan.FromMilliseconds(_call.TimeoutMs);
            long since = Started;
            Interop.Libc.PollFd* fds = stackalloc Interop.Libc.PollFd[3];
            while (_stdout.IsOpen || exitCode is null)
            {
                int count = 0, stdinAt = -1, stdoutAt = -1, pidfdAt = -1;
                if (_stdin.IsOpen)
                    fds[stdinAt = count++] = new Interop.Libc.PollFd { Fd = _stdin.Number, Events = Interop.Libc.PollEvents.POLLOUT };
                if (_stdout.IsOpen)
                    fds[stdoutAt = count++] = new Interop.Libc.PollFd { Fd = _stdout.Number, Events = Interop.Libc.PollEvents.POLLIN };
                if (exitCode is null && _pidfd.IsOpen)
                    fds[pidfdAt = count++] = new Interop.Libc.PollFd { Fd = _pidfd.Number, Events = Interop.Libc.PollEvents.POLLIN };

                // A plugin awaited late (the delegate, after the lane beside it) may be past
                // its time and done all the same: past the deadline, what is ready is still
                // taken, and only a poll that finds nothing more times it out.
                var left = limit - Stopwatch.GetElapsedTime(since);
                bool overdue = left <= TimeSpan.Zero;
                int wait = overdue ? 0 : (int)Math.Min(Math.Ceiling(left.TotalMilliseconds), exitCode is null && !_pidfd.IsOpen ? ExitCheckMs : int.MaxValue);
                int ready = Interop.Libc.poll(fds, (nuint)count, wait);
                if (ready < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Interop.Libc.EINTR)
                        continue;
                    throw Lost("poll", errno);
                }
                bool exitSeen = false;

                // POLLERR/POLLHUP too: the next write or read says what happened
                if (stdinAt >= 0 && fds[stdinAt].Revents != Interop.Libc.PollEvents.None)
                    Feed();
                if (stdoutAt >= 0 && fds[stdoutAt].Revents != Interop.Libc.PollEvents.None)
                    Drain();
                if (exitCode is null && (!_pidfd.IsOpen || fds[pidfdAt].Revents != Interop.Libc.PollEvents.None) && ReapOwn() is int code)
                {
                    _reaped = true;
                    exitCode = code;
                    exitSeen = true;
                    since = Stopwatch.GetTimestamp();
                }
                if (overdue && ready == 0 && !exitSeen)
                    throw TimedOut(exited: exitCode is not null);
            }
            return new PluginExit(exitCode.Value, _output.AsSpan(0, _read).ToArray());
        }

        // waitpid's error is the step's failure, never "still running". ECHILD: the plugin
        // was reaped by another (it is not ours to kill any more).
        int? ReapOwn()
        {
            try
            {
                return ProcessTree.Reap(_pid, block: false);
            }
            catch (ProcessTree.WaitFailedException e)
            {
                _reaped |= e.Errno == Interop.Libc.ECHILD;
                throw Lost("waitpid", e.Errno);
            }
        }

        // Writes what the pipe takes; stops writing once all is written or the plugin
        // stopped reading (EPIPE: it may exit without reading its input; its exit status
        // says why).
        public void Feed()
        {
            nint n;
            fixed (byte* p = _input)
                n = _written < _input.Length ? Interop.Libc.write(_stdin, p + _written, _input.Length - _written) : 0;
            if (n > 0)
                _written += (int)n;
            else if (n < 0 && Marshal.GetLastPInvokeError() is int errno && errno != Interop.Libc.EPIPE)
            {
                if (errno is Interop.Libc.EAGAIN or Interop.Libc.EINTR)
                    return;
                throw Lost("write", errno);
            }
            if (n <= 0 || _written == _input.Length)
                _stdin.Dispose();
        }

        // Reads what is there, into the buffer's free room; end-of-file closes our end.
        // Past MaxOutputBytes the plugin is killed (by Dispose, after the throw).
        void Drain()
        {
            if (_read == _output.Length)
            {
                var all = GC.AllocateUninitializedArray<byte>(MaxOutputBytes + 1);
                _output.AsSpan(0, _read).CopyTo(all);
                _output = all;
            }
            nint n;
            fixed (byte* p = _output)
                n = Interop.Libc.read(_stdout, p + _read, _output.Length - _read);
            if (n > 0 && (_read += (int)n) > MaxOutputBytes)
                throw new EffectFailedException(FailureKind.Interrupted,
                    $"plugin \"{_call.Type}\" {_call.Command} printed more than {MaxOutputBytes} bytes (the limit for a plugin's result) and was killed");
            if (n == 0)
                _stdout.Dispose();
            else if (n < 0 && Marshal.GetLastPInvokeError() is int errno && errno is not (Interop.Libc.EINTR or Interop.Libc.EAGAIN))
                throw Lost("read", errno);
        }

        // A failed system call on the plugin's pipes or exit: it is killed (by Dispose,
        // after the throw), and may have done part of its work.
        EffectFailedException Lost(string call, int errno) =>
            new(FailureKind.Interrupted, $"plugin \"{_call.Type}\" {_call.Command} was killed: {call}: {Interop.Libc.StrError(errno)}");

        EffectFailedException TimedOut(bool exited) => exited
            ? new(FailureKind.TimedOut, $"plugin \"{_call.Type}\" {_call.Command} exited, but its stdout stayed open for {_call.TimeoutMs / 1000} s (a process it started holds it)")
            : new(FailureKind.TimedOut, $"plugin \"{_call.Type}\" {_call.Command} did not finish within {_call.TimeoutMs / 1000} s and was killed");

        // A plugin not seen to exit (timed out, a failed poll, never awaited) is killed.
        public void Dispose()
        {
            if (!_reaped)
                ProcessTree.KillAndReap(_pid);
            _reaped = true;
            _stdin.Dispose();
            _stdout.Dispose();
            _pidfd.Dispose();
        }
    }

    // call: the libc call that failed, unless it was posix_spawn (the exec itself)
    static EffectFailedException CannotRun(string plugin, string? call, int errno) =>
        new(FailureKind.OtherFailure, $"cannot run plugin {plugin}: {(call is null ? "" : call + ": ")}{Interop.Libc.StrError(errno)}");

    /// Kills and reaps every plugin started and never awaited (a core that stopped early,
    /// or failed).
    public void Dispose()
    {
        foreach (var plugin in _running.Values)
        {
            try
            {
                plugin.Dispose();
            }
            catch (Exception)
            {
                // the next one all the same
            }
        }
        _running.Clear();
    }
}
