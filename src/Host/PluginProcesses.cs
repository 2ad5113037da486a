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
// which runs four plugins (docs/performance.md).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Dcos.L4lb;
using Dcos.L4lb.Host.Netlink;

namespace Dcos.L4lb.Host;

sealed unsafe class PluginProcesses : IDisposable
{
    const UnixFileMode AnyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    // Without a pidfd (Linux before 5.3) nothing wakes poll() when the plugin exits, so
    // it wakes this often to ask waitpid.
    const int ExitCheckMs = 2;

    readonly Dictionary<int, Running> _running = new();
    int _lastId;

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

        // Both pipes are close-on-exec: the plugin gets only its ends of them, as its fds 0
        // and 1 (dup2 clears the flag on the copies). Every other fd of ours is
        // close-on-exec too (netlink sockets, lock files, the log, other plugins' pipes),
        // so it inherits nothing else but our stderr, its fd 2.
        int* stdinPipe = stackalloc int[2];
        int* stdoutPipe = stackalloc int[2];
        if (Libc.pipe2(stdinPipe, Libc.O_CLOEXEC) != 0)
            throw CannotRun(binary, "pipe", Marshal.GetLastPInvokeError());
        if (Libc.pipe2(stdoutPipe, Libc.O_CLOEXEC) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Libc.close(stdinPipe[0]);
            Libc.close(stdinPipe[1]);
            throw CannotRun(binary, "pipe", errno);
        }
        // Our end of stdin never blocks: a plugin that does not read must not stop us
        // from reading its stdout or noticing its exit. (SIGPIPE is ignored by the .NET
        // runtime, so writing after the plugin is gone fails with EPIPE instead of
        // killing us.)
        Libc.fcntl(stdinPipe[1], Libc.F_SETFL, Libc.O_NONBLOCK);

        long started = Stopwatch.GetTimestamp();
        int error = Spawn(binary, EnvironmentOf(call), stdinPipe[0], stdoutPipe[1], out int pid);
        Libc.close(stdinPipe[0]);
        Libc.close(stdoutPipe[1]);
        if (error != 0)
        {
            Libc.close(stdinPipe[1]);
            Libc.close(stdoutPipe[0]);
            throw CannotRun(binary, null, error);
        }
        var plugin = new Running(call, pid, stdinPipe[1], stdoutPipe[0], started);
        // the config usually fits in the pipe at once: the plugin need not wait for Await
        plugin.Feed();
        _running[++_lastId] = plugin;
        return _lastId;
    }

    /// When the plugin was started (a Stopwatch timestamp): its time limit counts from then.
    public long StartedAt(int id) => Started(id).Started;

    /// Waits for the plugin to exit, feeding it the rest of its config and collecting its
    /// stdout; kills it (and what it started) at its time limit: TimedOut.
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

    // The plugin keeps our signal mask and ignored signals (as with Process) and stays in
    // our process group: a runtime that kills our group on its own timeout kills the
    // plugins we run with us. Returns posix_spawn's error number (0: started).
    static int Spawn(string binary, List<string> environment, int stdin, int stdout, out int pid)
    {
        var argv = CStrings([binary]);
        var envp = CStrings(environment);
        byte* actions = stackalloc byte[Libc.PosixSpawnFileActionsSize];
        byte* attributes = stackalloc byte[Libc.PosixSpawnAttrSize];
        // glibc's posix_spawn ignores its two internal signals (32 and 33) in the child
        // until exec, and exec keeps them ignored: they go back to the default, which is
        // what the plugin got from Process. (sigaddset refuses them, hence the bits.)
        ulong* internalSignals = stackalloc ulong[Libc.SigSetSize / sizeof(ulong)];
        new Span<ulong>(internalSignals, Libc.SigSetSize / sizeof(ulong)).Clear();
        internalSignals[0] = 1UL << (32 - 1) | 1UL << (33 - 1);
        Libc.posix_spawn_file_actions_init(actions);
        Libc.posix_spawnattr_init(attributes);
        try
        {
            int error = Libc.posix_spawn_file_actions_adddup2(actions, stdin, 0);
            if (error == 0)
                error = Libc.posix_spawn_file_actions_adddup2(actions, stdout, 1);
            if (error == 0)
                error = Libc.posix_spawnattr_setflags(attributes, Libc.POSIX_SPAWN_SETSIGDEF);
            if (error == 0)
                error = Libc.posix_spawnattr_setsigdefault(attributes, internalSignals);
            int spawned = 0;
            if (error == 0)
                fixed (nint* a = argv, e = envp)
                    error = Libc.posix_spawn(&spawned, a[0], actions, attributes, a, e);
            pid = spawned;
            return error;
        }
        finally
        {
            Libc.posix_spawnattr_destroy(attributes);
            Libc.posix_spawn_file_actions_destroy(actions);
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
        public readonly long Started;
        readonly PluginCall _call;
        readonly int _pid;
        readonly byte[] _input;
        int _written;
        readonly MemoryStream _output = new();
        readonly byte[] _chunk = new byte[16 * 1024];
        int _stdin, _stdout, _pidfd;
        bool _reaped;

        public Running(PluginCall call, int pid, int stdin, int stdout, long started)
        {
            (_call, _pid, _stdin, _stdout, Started) = (call, pid, stdin, stdout, started);
            _input = call.Stdin();
            _pidfd = (int)Libc.syscall(Libc.SYS_pidfd_open, pid, 0);
        }

        // Collects stdout and waits for the exit. The plugin has _call.TimeoutMs from its
        // start to exit; once it has, its stdout has as long again to reach end-of-file,
        // since a process it left running may hold it open.
        public PluginExit Supervise()
        {
            int? exitCode = null;
            var limit = TimeSpan.FromMilliseconds(_call.TimeoutMs);
            long since = Started;
            Libc.PollFd* fds = stackalloc Libc.PollFd[3];
            while (_stdout >= 0 || exitCode is null)
            {
                int count = 0, stdinAt = -1, stdoutAt = -1, pidfdAt = -1;
                if (_stdin >= 0)
                    fds[stdinAt = count++] = new Libc.PollFd { Fd = _stdin, Events = Libc.POLLOUT };
                if (_stdout >= 0)
                    fds[stdoutAt = count++] = new Libc.PollFd { Fd = _stdout, Events = Libc.POLLIN };
                if (exitCode is null && _pidfd >= 0)
                    fds[pidfdAt = count++] = new Libc.PollFd { Fd = _pidfd, Events = Libc.POLLIN };

                // A plugin awaited late (the delegate, after the lane beside it) may be past
                // its time and done all the same: past the deadline, what is ready is still
                // taken, and only a poll that finds nothing more times it out.
                var left = limit - Stopwatch.GetElapsedTime(since);
                bool overdue = left <= TimeSpan.Zero;
                int wait = overdue ? 0 : (int)Math.Min(Math.Ceiling(left.TotalMilliseconds), exitCode is null && _pidfd < 0 ? ExitCheckMs : int.MaxValue);
                int ready = Libc.poll(fds, (nuint)count, wait);
                if (ready < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR)
                        continue;
                    throw CannotRun(_call.Type, "poll", errno);
                }
                bool exitSeen = false;

                // POLLERR/POLLHUP too: the next write or read says what happened
                if (stdinAt >= 0 && fds[stdinAt].Revents != 0)
                    Feed();
                if (stdoutAt >= 0 && fds[stdoutAt].Revents != 0)
                    Drain();
                if (exitCode is null && (_pidfd < 0 || fds[pidfdAt].Revents != 0) && Reap(_pid, block: false) is int code)
                {
                    _reaped = true;
                    exitCode = code;
                    exitSeen = true;
                    since = Stopwatch.GetTimestamp();
                }
                if (overdue && ready == 0 && !exitSeen)
                    throw TimedOut(exited: exitCode is not null);
            }
            return new PluginExit(exitCode.Value, _output.ToArray());
        }

        // Writes what the pipe takes; stops writing once all is written or the plugin
        // stopped reading (EPIPE: it may exit without reading its input; its exit status
        // says why).
        public void Feed()
        {
            nint n;
            fixed (byte* p = _input)
                n = _written < _input.Length ? Libc.write(_stdin, p + _written, _input.Length - _written) : 0;
            if (n > 0)
                _written += (int)n;
            else if (n < 0 && Marshal.GetLastPInvokeError() is Libc.EAGAIN or Libc.EINTR)
                return;
            if (n <= 0 || _written == _input.Length)
                Close(ref _stdin);
        }

        // Reads what is there; end-of-file (or an error) closes our end.
        void Drain()
        {
            nint n;
            fixed (byte* p = _chunk)
                n = Libc.read(_stdout, p, _chunk.Length);
            if (n > 0)
                _output.Write(_chunk, 0, (int)n);
            else if (n == 0 || Marshal.GetLastPInvokeError() is not (Libc.EINTR or Libc.EAGAIN))
                Close(ref _stdout);
        }

        EffectFailedException TimedOut(bool exited) => exited
            ? new(FailureKind.TimedOut, $"plugin \"{_call.Type}\" {_call.Command} exited, but its stdout stayed open for {_call.TimeoutMs / 1000} s (a process it started holds it)")
            : new(FailureKind.TimedOut, $"plugin \"{_call.Type}\" {_call.Command} did not finish within {_call.TimeoutMs / 1000} s and was killed");

        // A plugin not seen to exit (timed out, a failed poll, never awaited) is killed.
        public void Dispose()
        {
            if (!_reaped)
                KillAndReap(_pid);
            _reaped = true;
            Close(ref _stdin);
            Close(ref _stdout);
            Close(ref _pidfd);
        }
    }

    // The exit status as Process.ExitCode gave it: the code, or 128 + the signal.
    static int? Reap(int pid, bool block)
    {
        int status, reaped;
        while ((reaped = Libc.waitpid(pid, &status, block ? 0 : Libc.WNOHANG)) < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR)
        {
        }
        if (reaped <= 0)
            return null;
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
    }

    // Kills the plugin and every process it started that is still its descendant, as
    // Process.Kill(entireProcessTree: true) did. (A process group of its own would be one
    // kill(), but the plugin must stay in ours; see Spawn.) Each process is stopped before
    // its children are listed, so none of them starts another unseen, and children are
    // killed before their parents: a stopped parent reaps nobody, so no listed pid can be
    // reused by another process before its kill.
    static void KillAndReap(int pid)
    {
        var tree = new List<int>();
        Stop(pid, tree);
        for (int i = tree.Count - 1; i >= 0; i--)
            Libc.kill(tree[i], Libc.SIGKILL);
        Reap(pid, block: true);

        static void Stop(int pid, List<int> tree)
        {
            Libc.kill(pid, Libc.SIGSTOP);
            tree.Add(pid);
            foreach (var child in ChildrenOf(pid))
                Stop(child, tree);
        }
    }

    // From /proc/<pid>/stat: "pid (comm) state ppid ...", where comm may hold spaces.
    static List<int> ChildrenOf(int parent)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
                continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1]) == parent)
                    children.Add(pid);
            }
            catch (IOException)
            {
                // gone since the directory was read
            }
        }
        return children;
    }

    static void Close(ref int fd)
    {
        if (fd >= 0)
            Libc.close(fd);
        fd = -1;
    }

    // call: the libc call that failed, unless it was posix_spawn (the exec itself)
    static EffectFailedException CannotRun(string plugin, string? call, int errno) =>
        new(FailureKind.OtherFailure, $"cannot run plugin {plugin}: {(call is null ? "" : call + ": ")}{Libc.StrError(errno)}");

    /// Kills and reaps every plugin started and never awaited (a core that stopped early).
    public void Dispose()
    {
        foreach (var plugin in _running.Values)
            plugin.Dispose();
        _running.Clear();
    }
}
