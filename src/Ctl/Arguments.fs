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
            | Files _ -> "network configs (.conf, .json) or conflists (.conflist) to check. Example: l4lbctl validate /etc/cni/net.d/*.conf"
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
            | Container_Id _ -> "the container ID (CNI_CONTAINERID); add, del and check"
            | Netns _ -> "the container's network namespace path (CNI_NETNS); add and check, optional for del"
            | Ifname _ -> "the interface name (CNI_IFNAME); default eth0"
            | Valid _ ->
                "gc: an attachment that is still valid, as CONTAINERID/IFNAME (repeat it; default: the config's cni.dev/valid-attachments). The plan shows what GC would remove among this host's attachment records. Example: l4lbctl plan gc net.conflist --valid web1/eth0"
            | Json -> "print the plan as JSON"

type ListArgs =
    | [<Unique>] Path of directory: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Path _ -> "the Minuteman checkpoint directory; default /var/run/dcos/cni/l4lb. Example: l4lbctl list --path /var/run/dcos/cni/l4lb"
            | Json -> "print the registrations as JSON"

type GcArgs =
    | [<Unique>] Path of directory: string
    | Dry_Run

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Path _ -> "the Minuteman checkpoint directory; default /var/run/dcos/cni/l4lb"
            | Dry_Run -> "report what would be removed, remove nothing. Example: l4lbctl gc --dry-run"

type CtlArgs =
    | [<CliPrefix(CliPrefix.None)>] Validate of ParseResults<ValidateArgs>
    | [<CliPrefix(CliPrefix.None)>] Plan of ParseResults<PlanArgs>
    | [<CliPrefix(CliPrefix.None)>] List of ParseResults<ListArgs>
    | [<CliPrefix(CliPrefix.None)>] Gc of ParseResults<GcArgs>
    | [<CliPrefix(CliPrefix.None)>] Version

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Validate _ -> "check network configurations; exit 0 when all are valid, 1 otherwise"
            | Plan _ -> "show the steps ADD, DEL, CHECK, GC or STATUS would take, with each step's undo; nothing is executed"
            | List _ -> "list the containers registered with Minuteman and whether each netns still exists"
            | Gc _ -> "remove Minuteman registrations whose netns no longer exists (the runtime's CNI GC does more: see plan gc)"
            | Version -> "print the version"

let examples =
    """
Examples:
  l4lbctl validate /etc/cni/net.d/10-spartan.conf
  l4lbctl validate --json examples/*.conf
  l4lbctl plan add examples/10-spartan-net.conf --container-id web1 --netns /run/netns/web1
  l4lbctl plan gc /etc/cni/net.d/40-spartan.conflist --valid web1/eth0 --valid web2/eth0
  l4lbctl list
  l4lbctl gc --dry-run
"""
