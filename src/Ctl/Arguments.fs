/// The command line, as Argu declares it: every usage text here is what --help shows.
module Dcos.L4lb.Ctl.Arguments

open Argu

type Operation =
    | Add
    | Del
    | Check
    | Gc
    | Status

type ValidateArgs =
    | [<MainCommand; Mandatory>] Files of file: string list
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Files _ ->
                "network configs (.conf, .json) or conflists (.conflist) to check. Example: l4lbctl validate /etc/cni/net.d/*.conf"
            | Json -> "print the findings as JSON, for machines"

type PlanArgs =
    | [<MainCommand; ExactlyOnce>] Target of operation: Operation * file: string
    | [<Unique>] Container_Id of id: string
    | [<Unique>] Netns of path: string
    | [<Unique>] Ifname of name: string
    | Valid of attachment: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Target _ ->
                "the operation (add, del, check, gc or status) and the network config. Example: l4lbctl plan add 10-spartan.conf --container-id web1 --netns /run/netns/web1"
            | Container_Id _ -> "CNI_CONTAINERID, the container ID; add, del and check"
            | Netns _ -> "CNI_NETNS, the container's network namespace path; add and check, optional for del"
            | Ifname _ -> "CNI_IFNAME, the interface name; default eth0"
            | Valid _ ->
                "gc: an attachment that is still valid, as CONTAINERID/IFNAME; repeat it. Default: the config's cni.dev/valid-attachments or, without one, this host's recorded attachments whose netns exists. Example: l4lbctl plan gc net.conflist --valid web1/eth0"
            | Json -> "print the plan as JSON"

type ListArgs =
    | [<Unique>] Path of directory: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Path _ ->
                "the Minuteman checkpoint directory; default /var/run/dcos/cni/l4lb. Example: l4lbctl list --path /var/run/dcos/cni/l4lb"
            | Json -> "print the registrations as JSON"

type GcArgs =
    | [<MainCommand; ExactlyOnce>] Config of file: string
    | [<Unique>] Cni_Path of directories: string
    | Dry_Run
    | [<Unique>] Timeout of seconds: int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Config _ ->
                "the network config (.conf) or conflist whose network to collect. Example: l4lbctl gc /etc/cni/net.d/10-spartan.conf"
            | Cni_Path _ ->
                "where dcos-l4lb is found, and CNI_PATH for the plugins it runs: directories separated by ':'; default /opt/cni/bin:/usr/lib/cni"
            | Dry_Run ->
                "print what the plugin's GC would do (as plan gc), run nothing. Example: l4lbctl gc /etc/cni/net.d/10-spartan.conf --dry-run"
            | Timeout _ ->
                "kill the plugin's GC, and the plugins it runs, if it has not finished after this many seconds (a guard against a hang); default 600"

type DoctorArgs =
    | [<MainCommand; ExactlyOnce>] Config of file: string
    | [<Unique>] Cni_Path of directories: string
    | Json
    | Fix
    | Dry_Run

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Config _ ->
                "the network config (.conf) or conflist to check this agent for. Example: l4lbctl doctor /etc/cni/net.d/10-spartan.conf"
            | Cni_Path _ ->
                "where the plugin, the delegate and the Spartan IPAM plugin are looked for: directories separated by ':'; default /opt/cni/bin:/usr/lib/cni"
            | Json -> "print one JSON document"
            | Fix ->
                "remove the leftovers under the plugin's locks (the plugin's GC, the Spartan IPAM plugin's DEL), then check again. Example: l4lbctl doctor /etc/cni/net.d/10-spartan.conf --fix"
            | Dry_Run -> "show what --fix would do; change nothing"

type CtlArgs =
    | [<CliPrefix(CliPrefix.None)>] Validate of ParseResults<ValidateArgs>
    | [<CliPrefix(CliPrefix.None)>] Plan of ParseResults<PlanArgs>
    | [<CliPrefix(CliPrefix.None)>] List of ParseResults<ListArgs>
    | [<CliPrefix(CliPrefix.None)>] Gc of ParseResults<GcArgs>
    | [<CliPrefix(CliPrefix.None)>] Doctor of ParseResults<DoctorArgs>
    | [<CliPrefix(CliPrefix.None)>] Version

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Validate _ -> "check network configurations; exit 0 when all are valid, 1 otherwise"
            | Plan _ ->
                "show the effects ADD, DEL, CHECK, GC or STATUS would have, with each step's undo, run on a model of this host; nothing is executed"
            | List _ -> "list the containers registered with Minuteman and whether each netns still exists"
            | Gc _ ->
                "run the plugin's own GC for a network, as a runtime would: every attachment recorded on this host whose netns is gone is removed, and every Minuteman checkpoint no record accounts for whose netns is gone"
            | Doctor _ ->
                "check this agent for a network: plugins, Spartan addresses, forwarding, dummy links, leftovers; exit 0 healthy, 1 findings"
            | Version -> "print the version"

let examples =
    """
Examples:
  l4lbctl validate /etc/cni/net.d/10-spartan.conf
  l4lbctl validate --json examples/*.conf
  l4lbctl plan add examples/10-spartan-net.conf --container-id web1 --netns /run/netns/web1
  l4lbctl plan gc /etc/cni/net.d/40-spartan.conflist --valid web1/eth0 --valid web2/eth0
  l4lbctl list
  l4lbctl gc /etc/cni/net.d/10-spartan.conf --dry-run
  l4lbctl doctor /etc/cni/net.d/10-spartan.conf --fix
"""
