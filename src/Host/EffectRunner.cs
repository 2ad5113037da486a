// Carries out one effect at a time against the real machine and reports the outcome.
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

public sealed class EffectRunner
{
    public Outcome Perform(Effect effect) =>
        Outcome.NewFailed(new Failure(FailureKind.OtherFailure,
            $"this build cannot yet {effect.Describe()}: the effect runner is not implemented"));
}
