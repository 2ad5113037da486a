/// The network configuration lists the runtime is given: dcos-l4lb chained after the
/// reference bridge plugin, dcos-l4lb around a bridge delegate (alone, or followed by
/// the reference tuning plugin), and chains in which a plugin fails. Minuteman is off in
/// every working list: this kernel has no dummy links.
module Dcos.L4lb.Tests.Conflist.Lists

open Dcos.L4lb.Tests

/// The list's name. libcni passes it to every plugin as `name`; host-local keeps the
/// bridge's leases under it, and libcni names its cached result after it.
let network = L4lbInAgent.network

/// The sysctl the tuning plugin sets in the container, and its value.
let tunedSysctl, tunedValue = "net.ipv4.conf.eth0.accept_local", "1"

/// The reference bridge plugin on the scene's bridge, with host-local IPAM for eth0.
let bridge (scene: Scene) =
    $"""{{ "type": "bridge", "bridge": "{scene.Bridge}", "isGateway": true, "ipMasq": false,
          "ipam": {{ "type": "host-local", "subnet": "{scene.Subnet}" }} }}"""

/// dcos-l4lb without a delegate: chained after the plugin that connects the container.
let chained (spartan: string) =
    $"""{{ "type": "dcos-l4lb", "spartan": {spartan}, "minuteman": {{ "enable": false }} }}"""

/// dcos-l4lb running the bridge plugin itself, as its delegate.
let withDelegate (scene: Scene) =
    $"""{{ "type": "dcos-l4lb", "minuteman": {{ "enable": false }}, "delegate": {bridge scene} }}"""

let tuning =
    $"""{{ "type": "tuning", "sysctl": {{ "{tunedSysctl}": "{tunedValue}" }} }}"""

/// A tuning plugin whose ADD fails: the sysctl does not exist. Its DEL has nothing to do.
let badTuning =
    """{ "type": "tuning", "sysctl": { "net.ipv4.conf.eth0.no_such_setting": "1" } }"""

/// dcos-l4lb chained, with Minuteman on and its checkpoint directory under a regular
/// file, so its ADD fails whatever the kernel: at the `minuteman` link where there are
/// no dummy links, else at the checkpoint file.
let failingChained (blocker: string) =
    $"""{{ "type": "dcos-l4lb", "minuteman": {{ "enable": true, "path": "{blocker}/l4lb" }} }}"""

/// The conflist document.
let document (cniVersion: string) (plugins: string list) =
    let body = System.String.Join(",\n    ", plugins)
    $"{{\n  \"cniVersion\": \"{cniVersion}\",\n  \"name\": \"{network}\",\n  \"plugins\": [\n    {body}\n  ]\n}}\n"

/// A list that connects the container and attaches it to Spartan.
type Working =
    {
        Name: string
        Plugins: Scene -> string list
        /// Whether tuning runs last and sets `tunedSysctl`.
        Tuned: bool
        /// Whether the result must list the Spartan addresses as nameservers.
        SpartanDns: bool
    }

let working =
    [ { Name = "chained: [bridge, dcos-l4lb]"
        Plugins = fun scene -> [ bridge scene; chained "true" ]
        Tuned = false
        SpartanDns = false }
      { Name = "chained with spartan.dns: [bridge, dcos-l4lb]"
        Plugins = fun scene -> [ bridge scene; chained """{ "dns": true }""" ]
        Tuned = false
        SpartanDns = true }
      { Name = "delegate: [dcos-l4lb(bridge)]"
        Plugins = fun scene -> [ withDelegate scene ]
        Tuned = false
        SpartanDns = false }
      { Name = "delegate, then tuning: [dcos-l4lb(bridge), tuning]"
        Plugins = fun scene -> [ withDelegate scene; tuning ]
        Tuned = true
        SpartanDns = false } ]

/// A list whose ADD fails part-way.
type Failing =
    {
        Name: string
        Plugins: Scene -> string list
        /// The plugin type libcni's error names.
        Failed: string
        /// Whether dcos-l4lb's own ADD is the one that fails (it then undoes its own
        /// steps; the runtime's DEL undoes the bridge's).
        L4lbFails: bool
    }

let failing =
    [ { Name = "chained, a plugin after dcos-l4lb fails: [bridge, dcos-l4lb, tuning(bad)]"
        Plugins = fun scene -> [ bridge scene; chained "true"; badTuning ]
        Failed = "tuning"
        L4lbFails = false }
      { Name = "delegate, a plugin after dcos-l4lb fails: [dcos-l4lb(bridge), tuning(bad)]"
        Plugins = fun scene -> [ withDelegate scene; badTuning ]
        Failed = "tuning"
        L4lbFails = false }
      { Name = "chained, dcos-l4lb fails: [bridge, dcos-l4lb(bad minuteman.path)]"
        Plugins = fun scene -> [ bridge scene; failingChained (scene.Write "blocker" "") ]
        Failed = "dcos-l4lb"
        L4lbFails = true } ]
