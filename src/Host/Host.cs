// The imperative shell: reads the CNI invocation (environment, stdin), hands it to the
// core, answers the requests the core makes, and writes the reply. It decides nothing.
// It is total: whatever is thrown, the reply is a CNI error on stdout, and every plugin
// started is killed and reaped and every lock released first. Only SIGKILL ends it
// without a reply (the next DEL or GC then cleans up).
using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Encodings.Web;
using System.Text.Json;
using Dcos.L4lb;

namespace Dcos.L4lb.Host;

public static class Program
{
    // libcni's code for an internal error (ErrInternal), as the reference plugins use it
    const int InternalErrorCode = 999;

    public static int Main()
    {
        byte[] input = [];
        try
        {
            var env = ProcessEnvironment.Variables;
            input = Core.wantsInput(env) ? StandardStreams.ReadInput(Core.maxInputBytes) : [];

            Reply reply;
            using (var log = new EffectLog(Core.logSettings(env, input)))
            {
                using (var runner = new EffectRunner(log))
                    reply = Run(env, input, runner);
                log.Finish(reply);
            }
            if (reply.Stderr.Length > 0)
                StandardStreams.WriteError(reply.Stderr);
            StandardStreams.WriteOutput(reply.Stdout);
            return reply.ExitCode;
        }
        catch (Exception e)
        {
            return LastResort(input, e);
        }
    }

    // The core's reply; if the core (or the runner) throws past every request's own
    // handling, an internal error, once the runner has been disposed of.
    static Reply Run(IReadOnlyDictionary<string, string> env, byte[] input, EffectRunner runner)
    {
        try
        {
            Next next = input.Length > Core.maxInputBytes
                ? Core.finished(Core.inputTooLarge(env))
                : Core.start(env, input);
            while (next is Next.Pending pending)
                next = pending.Request.Handle(runner);
            return ((Next.Finished)next).Reply;
        }
        catch (Exception e)
        {
            return new Reply(InternalError(input, e), "", 1);
        }
    }

    // Nothing of the core's is needed here: it may be what failed.
    static int LastResort(byte[] input, Exception e)
    {
        try
        {
            StandardStreams.WriteOutput(InternalError(input, e));
        }
        catch (Exception)
        {
            try
            {
                StandardStreams.WriteError($"dcos-l4lb: internal error: {e.GetType().Name}: {e.Message}\n");
            }
            catch (Exception)
            {
                // stdout and stderr both gone: the exit code is all there is
            }
        }
        return 1;
    }

    static byte[] InternalError(byte[] input, Exception e)
    {
        var json = new MemoryStream();
        // quotes and the like as they are: the message is read by people
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("cniVersion", CniVersionOf(input));
            writer.WriteNumber("code", InternalErrorCode);
            writer.WriteString("msg", $"dcos-l4lb failed unexpectedly, and what this command had done, if anything, may not be undone (DEL removes it): {e.GetType().Name}: {e.Message}");
            writer.WriteEndObject();
        }
        return json.ToArray();
    }

    // The config's own cniVersion, or the newest this plugin speaks.
    static string CniVersionOf(byte[] input)
    {
        try
        {
            var reader = new Utf8JsonReader(input);
            while (reader.Read())
            {
                if (reader.CurrentDepth == 1 && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("cniVersion")
                    && reader.Read() && reader.TokenType == JsonTokenType.String)
                    return reader.GetString()!;
            }
        }
        catch (JsonException)
        {
            // not JSON, or cut short
        }
        return CniVersion.newest;
    }
}
