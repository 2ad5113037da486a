// The processes a plugin leaves behind: its exit status, and killing it with every
// process it started (PluginProcesses runs the plugins).
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;

namespace Dcos.L4lb.Host;

static unsafe class ProcessTree
{
    public sealed class WaitFailedException(int errno) : Exception($"waitpid: {Interop.Libc.StrError(errno)}")
    {
        public int Errno { get; } = errno;
    }

    // The exit status as Process.ExitCode gave it: the code, or 128 + the signal. Null only
    // for a plugin still running (WNOHANG); an error is a WaitFailedException.
    public static int? Reap(int pid, bool block)
    {
        int status, reaped;
        while ((reaped = Interop.Libc.waitpid(pid, &status, block ? Interop.Libc.WaitOptions.None : Interop.Libc.WaitOptions.WNOHANG)) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Interop.Libc.EINTR)
                throw new WaitFailedException(errno);
        }
        if (reaped == 0)
            return null;
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
    }

    // Kills the plugin and every process it started that is still its descendant, as
    // Process.Kill(entireProcessTree: true) did. (A process group of its own would be one
    // kill(), but the plugin must stay in ours; see Spawn.) Each process is stopped before
    // its children are listed, so none of them starts another unseen, and children are
    // killed before their parents: a stopped parent reaps nobody, so no listed pid can be
    // reused by another process before its kill.
    // Never throws: it runs on every way out, failures included. Whatever stops the
    // listing, what was stopped so far (the plugin first) is killed.
    public static void KillAndReap(int pid)
    {
        var tree = new List<int>();
        try
        {
            Stop(pid, tree);
        }
        catch (Exception)
        {
            if (tree.Count == 0)
                tree.Add(pid);
        }
        for (int i = tree.Count - 1; i >= 0; i--)
            Interop.Libc.kill(tree[i], Interop.Libc.Signal.SIGKILL);
        try
        {
            Reap(pid, block: true);
        }
        catch (WaitFailedException)
        {
            // ECHILD: reaped already
        }

        static void Stop(int pid, List<int> tree)
        {
            Interop.Libc.kill(pid, Interop.Libc.Signal.SIGSTOP);
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
}
