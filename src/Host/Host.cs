// The imperative shell: reads the CNI invocation (environment, stdin), hands it to the
// core, performs the effects the core asks for, and writes the reply. It decides nothing.
using System;
using System.Collections.Generic;
using System.IO;
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

public static class Program
{
    public static int Main()
    {
        var env = ReadEnvironment();
        byte[] input = Plugin.wantsInput(env) ? StandardStreams.ReadInput(Plugin.maxInputBytes) : [];
        Next next = input.Length > Plugin.maxInputBytes
            ? Next.NewFinish(Plugin.inputTooLarge(env))
            : Plugin.start(env, input);

        using var runner = new EffectRunner();
        using var log = new EffectLog(env.GetValueOrDefault("DCOS_L4LB_LOG_FILE"),
            env.GetValueOrDefault("CNI_COMMAND", ""), env.GetValueOrDefault("CNI_CONTAINERID", ""));
        while (next is Next.Perform perform)
            next = Plugin.advance(perform.state, log.Trace(perform.effect, () => runner.Perform(perform.effect)));

        var reply = ((Next.Finish)next).Item;
        log.Finish(reply);
        if (reply.Stderr.Length > 0)
            StandardStreams.WriteError(reply.Stderr);
        StandardStreams.WriteOutput(reply.Stdout);
        return reply.ExitCode;
    }

    static Dictionary<string, string> ReadEnvironment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
            env[(string)entry.Key] = entry.Value as string ?? "";
        return env;
    }
}
