// An optional trace of every effect and its outcome, for operators chasing a failure:
// appended to the file named by DCOS_L4LB_LOG_FILE (one line per effect, then the reply).
// Nothing is logged when the variable is unset; stdout always carries only the result.
using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

sealed class EffectLog : IDisposable
{
    readonly StreamWriter? _writer;
    readonly string _prefix;

    public EffectLog(string? path, string command, string containerId)
    {
        // STATUS and GC concern the network: no container ID
        _prefix = containerId.Length == 0
            ? $"dcos-l4lb[{Environment.ProcessId}] {command}"
            : $"dcos-l4lb[{Environment.ProcessId}] {command} {containerId}";
        if (string.IsNullOrEmpty(path))
            return;
        try
        {
            _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite), new UTF8Encoding(false));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            StandardStreams.WriteError($"dcos-l4lb: cannot open log file {path}: {e.Message}\n");
        }
    }

    /// One effect carried out: what it was, its outcome ("ok", "found", "exit 0, 123
    /// bytes", "failed (kind): message"), and the time since `began` (a Stopwatch timestamp).
    public void Answered(string effect, string outcome, long began)
    {
        if (_writer is not null)
            Write($"{effect} -> {outcome} ({Stopwatch.GetElapsedTime(began).TotalMilliseconds:F1} ms)");
    }

    public void Finish(Reply reply) =>
        Write(reply.ExitCode == 0 ? "done" : $"failed: {Encoding.UTF8.GetString(reply.Stdout)}");

    void Write(string line)
    {
        if (_writer is null)
            return;
        _writer.WriteLine($"{DateTime.UtcNow:O} {_prefix}: {line}");
        _writer.Flush();
    }

    public void Dispose() => _writer?.Dispose();
}
