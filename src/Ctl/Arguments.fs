/// The command line, as Argu declares it: every usage text here is what --help shows.
module Dcos.L4lb.Ctl.Arguments

open Argu

type Operation =
    | Add
    | Del
    | Check

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
    | [<Mandatory; Unique>] Container_Id of id: string
    | [<Mandatory; Unique>] Netns of path: string
    | [<Unique>] Ifname of name: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Target _ -> "the operation (add, del or check) and the network config. Example: l4lbctl plan add 10-spartan.conf --container-id web1 --netns /run/netns/web1"
            | Container_Id _ -> "the container ID (CNI_CONTAINERID)"
            | Netns _ -> "the container's network namespace path (CNI_NETNS)"
            | Ifname _ -> "the interface name (CNI_IFNAME); default eth0"
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
            | Plan _ -> "show the steps ADD, DEL or CHECK would take, with each step's undo; nothing is executed"
            | List _ -> "list the containers registered with Minuteman and whether each netns still exists"
            | Gc _ -> "remove registrations whose netns no longer exists"
            | Version -> "print the version"

let examples =
    """
Examples:
  l4lbctl validate /etc/cni/net.d/10-spartan.conf
  l4lbctl validate --json examples/*.conf
  l4lbctl plan add examples/10-spartan-net.conf --container-id web1 --netns /run/netns/web1
  l4lbctl list
  l4lbctl gc --dry-run
"""
