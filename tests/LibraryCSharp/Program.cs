// Checks Dcos.L4lb.ConfigValidator from C#, used the way docs/library.md shows it.
// Prints one line per check and closes with "library-csharp: N passed, N failed"
// (tests/run-all.sh adds these up). Arguments such as --summary are ignored.
using System.Text;
using Dcos.L4lb;

var checks = new List<(string Name, Func<string?> Run)>();
void Check(string name, Func<string?> run) => checks.Add((name, run));

// The README's example configuration, as examples/10-spartan-net.conf ships it.
var readmeExample = File.ReadAllText(Path.Combine(RepositoryRoot(), "examples", "10-spartan-net.conf"));

// Five mistakes; every one is reported, in this order.
const string severalMistakes = """
    {
      "cniVersion": "0.5.0",
      "name": "bad net",
      "type": "dcos-l4lb",
      "mtu": 40,
      "minuteman": { "enable": true, "path": "var/run/l4lb" },
      "delegate": { "type": "/opt/cni/bin/bridge" }
    }
    """;
var expectedMistakes = new[]
{
    (1, "$.cniVersion"),
    (7, "$.name"),
    (7, "$.delegate.type"),
    (7, "$.minuteman.path"),
    (7, "$.mtu"),
};

const string bothDisabled = """
    {
      "cniVersion": "1.0.0",
      "name": "nothing-net",
      "type": "dcos-l4lb",
      "spartan": false,
      "minuteman": { "enable": false },
      "delegate": { "type": "bridge" }
    }
    """;

Check("README example (bytes) is valid", () =>
{
    var result = ConfigValidator.Validate(Encoding.UTF8.GetBytes(readmeExample));
    return result.IsValid && result.Errors.Count == 0 ? null : $"errors: {Describe(result)}";
});

Check("README example (string) is valid", () =>
{
    var result = ConfigValidator.Validate(readmeExample);
    return result.IsValid ? null : $"errors: {Describe(result)}";
});

Check("several mistakes: every code and path, in order", () =>
{
    var result = ConfigValidator.Validate(Encoding.UTF8.GetBytes(severalMistakes));
    var actual = result.Errors.Select(error => (error.Code, error.Path)).ToArray();
    if (result.IsValid)
        return "reported valid";
    return actual.SequenceEqual(expectedMistakes)
        ? null
        : $"expected [{string.Join(", ", expectedMistakes)}], got [{string.Join(", ", actual)}]";
});

Check("several mistakes: each message is non-empty and ToString names path and code", () =>
{
    var result = ConfigValidator.Validate(severalMistakes);
    foreach (var error in result.Errors)
    {
        if (string.IsNullOrWhiteSpace(error.Message))
            return $"{error.Path} has an empty message";
        var text = error.ToString();
        if (!text.StartsWith(error.Path + ": ") || !text.EndsWith($"(CNI code {error.Code})"))
            return $"ToString() gave \"{text}\"";
    }
    return null;
});

Check("bytes that are not JSON: code 6 at $", () =>
{
    var result = ConfigValidator.Validate(new byte[] { 0xff, 0xfe, 0x00, 0x7b });
    return Single(result, 6, "$");
});

Check("text that is not JSON: code 6 at $", () =>
    Single(ConfigValidator.Validate("{\"cniVersion\": \"1.0.0\",}"), 6, "$"));

Check("JSON that is not an object: code 6 at $", () =>
    Single(ConfigValidator.Validate("[1, 2, 3]"), 6, "$"));

Check("both features disabled: code 7 at $.spartan.enable", () =>
    Single(ConfigValidator.Validate(Encoding.UTF8.GetBytes(bothDisabled)), 7, "$.spartan.enable"));

var passed = 0;
var failed = 0;
foreach (var (name, run) in checks)
{
    string? problem;
    try
    {
        problem = run();
    }
    catch (Exception e)
    {
        problem = $"threw {e.GetType().Name}: {e.Message}";
    }
    if (problem is null)
    {
        passed++;
        Console.WriteLine($"ok: {name}");
    }
    else
    {
        failed++;
        Console.WriteLine($"FAILED: {name}: {problem}");
    }
}
Console.WriteLine($"library-csharp: {passed} passed, {failed} failed");
return failed == 0 ? 0 : 1;

static string Describe(ValidationResult result) =>
    string.Join("; ", result.Errors.Select(error => error.ToString()));

static string? Single(ValidationResult result, int code, string path)
{
    if (result.IsValid || result.Errors.Count != 1)
        return $"expected one error, got {result.Errors.Count}: {Describe(result)}";
    var error = result.Errors[0];
    return error.Code == code && error.Path == path
        ? null
        : $"expected code {code} at {path}, got {error}";
}

// The checkout this program was built in: the directory above it that holds paket.dependencies.
static string RepositoryRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "paket.dependencies")))
            return dir.FullName;
    }
    throw new InvalidOperationException($"no paket.dependencies above {AppContext.BaseDirectory}");
}
