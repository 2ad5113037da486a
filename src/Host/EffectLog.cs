// What the plugin did, for operators chasing a failure: the lines the core's log settings
// ask for (Core.logSettings: the config's log fields, DCOS_L4LB_LOG_FILE), appended to the
// log file and/or written to stderr. stdout always carries only the result.
//
// A log is a witness, never a cause of failure: a file that cannot be opened or written
// (a full disk, EIO, a directory, no permission) costs one line on stderr and the log
// stops; the command runs as it would without one.
using System;
using System.Diagnostics;
using Dcos.L4lb;
using Microsoft.FSharp.Core;

namespace Dcos.L4lb.Host;

sealed class EffectLog : IDisposable
{
    readonly LogSettings _settings;
    readonly long _began = Stopwatch.GetTimestamp();
    LogFile? _file;
    bool _toStderr;
    bool _complained;

    public EffectLog(LogSettings settings)
    {
        _settings = settings;
        _toStderr = settings.ToStderr;
        if (settings.File is not { } path)
            return;
        try
        {
            _file = LogFile.Open(path, settings.MaxBytes, settings.MaxBackups, out var problem, out var rotation);
            if (_file is null)
                Complain($"cannot open log file {path}: {problem}");
            else if (rotation is not null)
                Complain($"log file {path}: {rotation}");
        }
        catch (Exception e)
        {
            Complain($"cannot open log file {path}: {e.Message}");
        }
    }

    bool Writing => _file is not null || _toStderr;

    /// Whether effects are logged: when not, the runner makes no outcome for the log.
    public bool LogsEffects => Writing && _settings.LogsEffects;

    /// One effect carried out: what it was (`described` as the host names it), the plan
    /// step it belongs to, its outcome, and the time since `began` (a Stopwatch timestamp).
    public void Answered(Effect effect, FSharpOption<Label>? label, string described, EffectOutcome outcome, long began)
    {
        if (!LogsEffects)
            return;
        Write(() => Logging.effectLine(_settings, Environment.ProcessId, DateTime.UtcNow, effect, label, described, outcome,
            Stopwatch.GetElapsedTime(began).TotalMilliseconds));
    }

    public void Finish(Reply reply)
    {
        if (!Writing || !_settings.LogsReply(reply.ExitCode))
            return;
        Write(() => Logging.replyLine(_settings, Environment.ProcessId, DateTime.UtcNow, reply,
            Stopwatch.GetElapsedTime(_began).TotalMilliseconds));
    }

    // Every exception stops here: whatever goes wrong with the log, the command goes on.
    void Write(Func<byte[]> line)
    {
        byte[] bytes;
        try
        {
            bytes = line();
        }
        catch (Exception e)
        {
            Complain($"cannot make a log line: {e.Message}");
            _file?.Dispose();
            _file = null;
            _toStderr = false;
            return;
        }
        if (_file is not null)
        {
            string? problem;
            try
            {
                if (_file.Append(bytes, out problem))
                    problem = null;
            }
            catch (Exception e)
            {
                problem = e.Message;
            }
            if (problem is not null)
            {
                Complain($"cannot write log file {_settings.File}: {problem}; no more log lines from this invocation");
                _file.Dispose();
                _file = null;
            }
        }
        if (_toStderr)
        {
            try
            {
                StandardStreams.WriteError(bytes);
            }
            catch (Exception)
            {
                _toStderr = false; // nowhere left to say so
            }
        }
    }

    // At most one line on stderr, whatever else fails after it.
    void Complain(string message)
    {
        if (_complained)
            return;
        _complained = true;
        try
        {
            StandardStreams.WriteError($"dcos-l4lb: {message}\n");
        }
        catch (Exception)
        {
        }
    }

    public void Dispose() => _file?.Dispose();
}
