/// `l4lbctl gc` does not wait for ever: a plugin that hangs is killed at the time limit,
/// with what it started, and gc says so and exits 1.
module Dcos.L4lb.Tests.GcTimeLimit

open System
open System.Diagnostics
open System.IO
open Expecto
open Dcos.L4lb.Tests.Host

/// Alive: not gone, and not a zombie waiting for its new parent to reap it.
let private running (pid: string) =
    try
        let stat = File.ReadAllText $"/proc/{pid}/stat"
        stat.Substring(stat.LastIndexOf ')' + 2, 1) <> "Z"
    with :? IOException ->
        false

let tests =
    testList
        "gc time limit"
        [ testCase "a GC that hangs is killed at --timeout with the processes it started; exit 1"
          <| fun () ->
              withTemp (fun dir ->
                  // a stand-in for the plugin: starts a child, records both pids, hangs
                  let fake = Path.Combine(dir, "dcos-l4lb")
                  let pids = Path.Combine(dir, "pids")

                  File.WriteAllText(fake, $"#!/bin/sh\ncat >/dev/null\nsleep 300 &\necho $$ $! > '{pids}'\nwait\n")

                  File.SetUnixFileMode(fake, UnixFileMode.UserRead ||| UnixFileMode.UserWrite ||| UnixFileMode.UserExecute)
                  let conf = Path.Combine(repoRoot, "examples", "10-spartan-net.conf")
                  let clock = Stopwatch.StartNew()
                  let code, out, err = ctl [ "gc"; conf; "--cni-path"; dir; "--timeout"; "2" ]
                  // the guard of this test: five times what the case takes
                  Expect.isLessThan clock.Elapsed.TotalSeconds 60.0 "gc returned long before the fake's 300 s"
                  Expect.equal code 1 $"exit 1\n{out}\n{err}"
                  Expect.stringContains err "did not finish within 2 s" err

                  for pid in File.ReadAllText(pids).Split(' ', StringSplitOptions.RemoveEmptyEntries) do
                      Expect.isFalse (running (pid.Trim())) $"process {pid} was killed") ]
