// Runs another CNI plugin: found by type in CNI_PATH, our environment with its CNI_*
// variables, the config on stdin, its stderr passed through to ours, bounded in time.
using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

static class Plugins
{
    const UnixFileMode AnyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    public static string? Find(string type, Microsoft.FSharp.Collections.FSharpList<string> path)
    {
        foreach (var dir in path)
        {
            var candidate = Path.Combine(dir, type);
            if (File.Exists(candidate) && (File.GetUnixFileMode(candidate) & AnyExecute) != 0)
                return candidate;
        }
        return null;
    }

    public static Outcome Run(PluginCall call)
    {
        var binary = Find(call.Type, call.Path);
        if (binary is null)
            return Failed(FailureKind.NotFound, $"plugin \"{call.Type}\" not found in CNI_PATH ({string.Join(":", call.Path)})");

        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };
        foreach (var (key, value) in call.Environment.Select(t => (t.Item1, t.Item2)))
            start.Environment[key] = value;
        if (!call.Environment.Any(t => t.Item1 == "CNI_NETNS"))
            start.Environment.Remove("CNI_NETNS");

        try
        {
            using var process = Process.Start(start)!;
            var stdout = new MemoryStream();
            var reading = process.StandardOutput.BaseStream.CopyToAsync(stdout);
            try
            {
                using (var stdin = process.StandardInput.BaseStream)
                    stdin.Write(JsonModule.render(call.Config));
            }
            catch (IOException)
            {
                // the plugin may exit without reading its input; its exit status says why
            }
            if (!process.WaitForExit(call.TimeoutMs))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                return Failed(FailureKind.TimedOut, $"plugin \"{call.Type}\" {call.Command} did not finish within {call.TimeoutMs / 1000} s and was killed");
            }
            // A child the plugin left running may hold its stdout open: the reply is never
            // waited for longer than the plugin itself may take.
            if (!reading.Wait(call.TimeoutMs))
                return Failed(FailureKind.TimedOut, $"plugin \"{call.Type}\" {call.Command} exited, but its stdout stayed open for {call.TimeoutMs / 1000} s (a process it started holds it)");
            return Outcome.NewPluginExited(process.ExitCode, stdout.ToArray());
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException)
        {
            return Failed(FailureKind.OtherFailure, $"cannot run plugin {binary}: {e.Message}");
        }
    }

    static Outcome Failed(FailureKind kind, string message) => Outcome.NewFailed(new Failure(kind, message));
}
