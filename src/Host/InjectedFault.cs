// A test hook, off unless DCOS_L4LB_TEST_THROW_AT is set: an exception no code path
// expects, thrown at the n-th request the host answers, to show that the host stays
// total (the Reliability suite's Unexpected.fs). Never set it on an agent.
//   <n>           while carrying out request n, before its effect
//   <n>:resume    when resuming the core with request n's outcome, after its effect,
//                 as if the core had thrown on it
//   <n>:twice     on resuming the core, and again on answering the request as failed:
//                 no rollback is possible, the reply is the last resort
using System;
using System.Collections.Generic;

namespace Dcos.L4lb.Host;

sealed class InjectedFault
{
    public const string Variable = "DCOS_L4LB_TEST_THROW_AT";

    enum Where { Nowhere, Effect, Resume, Twice }

    readonly int _at;
    readonly Where _where;
    int _answered;

    InjectedFault(int at, Where where) => (_at, _where) = (at, where);

    public static InjectedFault Of(IReadOnlyDictionary<string, string> environment)
    {
        if (!environment.TryGetValue(Variable, out var text) || text.Length == 0)
            return new(0, Where.Nowhere);
        var parts = text.Split(':', 2);
        var where = parts.Length == 1 ? Where.Effect : parts[1] switch
        {
            "resume" => Where.Resume,
            "twice" => Where.Twice,
            _ => Where.Nowhere,
        };
        return int.TryParse(parts[0], out int at) && at > 0 ? new(at, where) : new(0, Where.Nowhere);
    }

    /// A request is about to be carried out.
    public void BeforeEffect()
    {
        _answered++;
        if (_where == Where.Effect)
            ThrowAt("carrying out");
    }

    /// The core is about to be resumed with the outcome of the request last carried out.
    public void BeforeResume()
    {
        if (_where is Where.Resume or Where.Twice)
            ThrowAt("resuming the core with the outcome of");
    }

    /// The request last carried out is about to be answered as failed instead.
    public void BeforeFailure()
    {
        if (_where == Where.Twice)
            ThrowAt("answering as failed");
    }

    void ThrowAt(string when)
    {
        if (_answered == _at)
            throw new InvalidOperationException($"injected by {Variable}: {when} request {_at}");
    }
}
