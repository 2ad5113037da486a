// The imperative shell: reads the CNI invocation (environment, stdin), hands it to the
// core, answers the requests the core makes, and writes the reply. It decides nothing.
using System;
using System.Collections.Generic;
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

public static class Program
{
    public static int Main()
    {
        var env = ProcessEnvironment.Variables;
        byte[] input = Core.wantsInput(env) ? StandardStreams.ReadInput(Core.maxInputBytes) : [];
        Next next = input.Length > Core.maxInputBytes
            ? Core.finished(Core.inputTooLarge(env))
            : Core.start(env, input);

        using var log = new EffectLog(Core.logSettings(env, input));
        using var runner = new EffectRunner(log);
        while (next is Next.Pending pending)
            next = pending.Request.Handle(runner);

        var reply = ((Next.Finished)next).Reply;
        log.Finish(reply);
        if (reply.Stderr.Length > 0)
            StandardStreams.WriteError(reply.Stderr);
        StandardStreams.WriteOutput(reply.Stdout);
        return reply.ExitCode;
    }
}
