/// Fake plugins, as shell scripts in the scene's own CNI_PATH directory (ahead of the
/// reference plugins). Most wrap a real reference plugin: they let it do its work, then
/// misbehave in a chosen way (a hook runs, the output is replaced), so the failure they
/// provoke comes after real, undoable work. Every call is logged as
/// "<fake> <CNI_COMMAND> <CNI_CONTAINERID>".
module Dcos.L4lb.Tests.Reliability.Fakes

open System.IO
open Expecto
open Dcos.L4lb.Tests

/// The delegate wrapper around /usr/lib/cni/bridge.
let bridge = "bridge-then-hook"
/// The IPAM wrapper around /usr/lib/cni/host-local.
let hostLocal = "host-local-then-hook"
/// A delegate that refuses ADD cleanly, having done nothing.
let failing = "fail-delegate"
/// A bridge delegate that answers a repeated ADD for an attached container with its
/// first result (an idempotent plugin), and serialises concurrent ADDs for one container.
let idempotent = "bridge-idempotent"

let private log (scene: Scene) = Path.Combine(scene.Fakes, "calls.log")

// Runs the real plugin; if it succeeded, runs hook-<fake>-<COMMAND>.sh (if present), then
// prints output-<fake>-<COMMAND> (if present) in place of the real output.
let private wrapper (scene: Scene) (name: string) (real: string) =
    $"""#!/bin/sh
conf=$(cat)
echo "{name} $CNI_COMMAND $CNI_CONTAINERID" >> '{log scene}'
out=$(printf '%%s' "$conf" | '{L4lbInAgent.referencePlugins}/{real}')
rc=$?
if [ $rc -ne 0 ]; then printf '%%s\n' "$out"; exit $rc; fi
hook='{scene.Fakes}/hook-{name}-'"$CNI_COMMAND"'.sh'
if [ -f "$hook" ]; then sh "$hook" </dev/null >/dev/null 2>&1; fi
override='{scene.Fakes}/output-{name}-'"$CNI_COMMAND"
if [ -f "$override" ]; then cat "$override"; else printf '%%s\n' "$out"; fi
exit 0
"""

let private failingScript (scene: Scene) =
    $"""#!/bin/sh
cat >/dev/null
echo "{failing} $CNI_COMMAND $CNI_CONTAINERID" >> '{log scene}'
case "$CNI_COMMAND" in
  ADD) echo '{{"cniVersion":"1.0.0","code":11,"msg":"try again later"}}'; exit 1;;
  *) exit 0;;
esac
"""

let private idempotentScript (scene: Scene) =
    $"""#!/bin/sh
conf=$(cat)
echo "{idempotent} $CNI_COMMAND $CNI_CONTAINERID" >> '{log scene}'
dir='{scene.Fakes}/idem-'"$CNI_CONTAINERID-$CNI_IFNAME"
if [ "$CNI_COMMAND" = ADD ]; then
  if mkdir "$dir" 2>/dev/null; then
    out=$(printf '%%s' "$conf" | '{L4lbInAgent.referencePlugins}/bridge')
    rc=$?
    if [ $rc -eq 0 ]; then printf '%%s\n' "$out" > "$dir/result"; fi
    touch "$dir/done"
    printf '%%s\n' "$out"; exit $rc
  fi
  i=0
  while [ ! -e "$dir/done" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
  if [ -f "$dir/result" ] && nsenter --net="$CNI_NETNS" ip link show dev "$CNI_IFNAME" >/dev/null 2>&1; then
    cat "$dir/result"; exit 0
  fi
fi
printf '%%s' "$conf" | exec '{L4lbInAgent.referencePlugins}/bridge'
"""

let private install (scene: Scene) =
    let write name (text: string) =
        let file = Path.Combine(scene.Fakes, name)

        if not (File.Exists file) then
            File.WriteAllText(file + ".tmp", text)
            File.SetUnixFileMode(file + ".tmp", enum<System.IO.UnixFileMode> 0o755)
            File.Move(file + ".tmp", file)

    lock scene (fun () ->
        write bridge (wrapper scene bridge "bridge")
        write hostLocal (wrapper scene hostLocal "host-local")
        write failing (failingScript scene)
        write idempotent (idempotentScript scene))

/// Makes sure the scene's fakes exist (idempotent).
let ensure (scene: Scene) = install scene

/// Shell commands the wrapper `fake` runs after its real plugin succeeded at `command`.
let hook (scene: Scene) (fake: string) (command: string) (script: string) =
    install scene
    File.WriteAllText(Path.Combine(scene.Fakes, $"hook-{fake}-{command}.sh"), script)

/// What the wrapper `fake` prints at `command` in place of its real plugin's result.
let replaceOutput (scene: Scene) (fake: string) (command: string) (text: string) =
    install scene
    File.WriteAllText(Path.Combine(scene.Fakes, $"output-{fake}-{command}"), text)

/// A file in the fakes directory (markers that hooks touch).
let marker (scene: Scene) (name: string) = Path.Combine(scene.Fakes, name)

// ---- hooks that order the two lanes --------------------------------------------------
// The plugin runs the delegate while its Spartan lane runs, so which of the two reaches a
// point first is a race. These hook texts (for `hook`) take it out: a hook waits until the
// other lane has got somewhere. A wait gives up after 20 s, leaving "<marker>.never", and
// `expectWaited` fails the test on it: a plugin that ran the lanes one after the other
// would otherwise only be slower.

/// Shell commands that wait until `condition` (a shell test) holds; `name` is the marker
/// whose ".never" says it never did.
let waitUntil (scene: Scene) (name: string) (condition: string) =
    let never = marker scene name + ".never"
    $"i=0\nuntil {condition}; do\n  if [ $i -ge 2000 ]; then touch '{never}'; break; fi\n  sleep 0.01; i=$((i+1))\ndone\n"

/// Shell commands that mark this moment.
let signal (scene: Scene) (name: string) = $"touch '{marker scene name}'\n"

/// Shell commands that wait until another hook has signalled `name`.
let waitFor (scene: Scene) (name: string) =
    waitUntil scene name $"[ -e '{marker scene name}' ]"

/// Shell commands that record which fake runs this hook (the wrapper is the hook's
/// parent), for `waitForExit`.
let signalExit (scene: Scene) (name: string) =
    let m = marker scene name
    $"echo $PPID > '{m}.tmp' && mv '{m}.tmp' '{m}'\n"

/// Shell commands that wait until the fake that ran `signalExit name` has exited (it stays
/// a zombie until the plugin awaits it).
let waitForExit (scene: Scene) (name: string) =
    let m = marker scene name

    waitFor scene name
    + waitUntil scene name $"[ \"$(cut -d' ' -f3 /proc/$(cat '{m}')/stat 2>/dev/null || echo Z)\" = Z ]"

/// Hooks that make the delegate (the bridge wrapper) finish its ADD before the Spartan
/// lane goes on: the IPAM wrapper's ADD, having allocated, waits for the bridge wrapper to
/// exit, then runs `andThen` (shell commands).
let delegateFirst (scene: Scene) (andThen: string) =
    hook scene bridge "ADD" (signalExit scene "delegate-added")
    hook scene hostLocal "ADD" (waitForExit scene "delegate-added" + andThen)

/// Hooks that make the delegate (the bridge wrapper) attach and then hang, and the Spartan
/// IPAM wrapper's ADD, having allocated, wait until the delegate has attached: the lane is
/// done while the delegate still runs.
let delegateAttachedThenHangs (scene: Scene) =
    hook scene bridge "ADD" (signal scene "delegate-attached" + "sleep 3600\n")
    hook scene hostLocal "ADD" (waitFor scene "delegate-attached")

/// Every wait of the hooks came to its end.
let expectWaited (scene: Scene) =
    let never =
        if Directory.Exists scene.Fakes then
            Directory.GetFiles(scene.Fakes, "*.never")
            |> Array.map Path.GetFileName
            |> List.ofArray
        else
            []

    if not never.IsEmpty then
        failtest $"a hook waited 20 s in vain for {never}: the lanes did not overlap as the test arranged"

/// The fakes' calls so far, in order: "<fake> <COMMAND> <container id>".
let calls (scene: Scene) : string list =
    let file = log scene

    if File.Exists file then
        File.ReadAllLines file |> List.ofArray
    else
        []
