/// Running the core's commands on the host model (src/Core/HostModel.fs).
module Dcos.L4lb.Tests.Invocations

open System.Text
open Dcos.L4lb
open Dcos.L4lb.HostModel

/// What the host must do first for a valid invocation of this config.
let start (conf: NetConf) (rt: Invocation) : Next =
    match Core.command rt conf with
    | Ok p -> Perform.first p
    | Error e -> failwith (e.Describe())

/// ADD of container `id` on `ifName`, in the netns /run/netns/<id>, plugins in /opt/cni/bin.
let addOf (id: string) (ifName: string) =
    { Command = Add
      ContainerId = id
      Netns = Some $"/run/netns/{id}"
      IfName = ifName
      Args = []
      Path = [ "/opt/cni/bin" ] }

/// A plugin run's effect with the host's handle for it left out: what a step asks for.
let withoutHandle (effect: Effect) =
    match effect with
    | AwaitPlugin p -> AwaitPlugin { p with Id = 0 }
    | other -> other

/// The injected fault a failed plugin run or change gets.
let failure (message: string) = FailWith { Kind = OtherFailure; Message = message }

/// A plugin run that exits 1 with this CNI error object.
let exitWith (json: string) = ExitWith { ExitCode = 1; Stdout = Encoding.UTF8.GetBytes json }

let replyText (r: Reply) = Encoding.UTF8.GetString r.Stdout
