// The rtnetlink requests the effects need, one method each, on a socket that already
// lives in the right namespace.
using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using Microsoft.Win32.SafeHandles;

namespace Dcos.L4lb.Host.Netlink;

/// A link as the kernel reports it.
// PeerIndex: a veth's IFLA_LINK, its peer's index in the peer's namespace (0: none).
sealed record KernelLink(int Index, string Name, string Kind, bool Up, int PeerIndex);

/// An IPv4 route in the main table.
sealed record KernelRoute(uint Destination, int PrefixLength, byte Scope, uint? Source, int OutputIndex);

static class Rtnl
{
    public const byte AF_INET = 2;
    const ushort RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18;
    const ushort RTM_NEWADDR = 20, RTM_GETADDR = 22;
    const ushort RTM_NEWROUTE = 24, RTM_GETROUTE = 26;
    const ushort NLM_F_REQUEST = 1, NLM_F_ACK = 4, NLM_F_DUMP = 0x300, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400;
    const ushort IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_LINK = 5, IFLA_LINKINFO = 18, IFLA_NET_NS_FD = 28;
    const ushort IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2, VETH_INFO_PEER = 1;
    const ushort IFA_ADDRESS = 1, IFA_LOCAL = 2;
    const ushort RTA_DST = 1, RTA_OIF = 4, RTA_PREFSRC = 7, RTA_TABLE = 15;
    const uint IFF_UP = 1;
    public const byte RT_TABLE_MAIN = 254, RTPROT_BOOT = 3, RTN_UNICAST = 1;
    public const byte RT_SCOPE_UNIVERSE = 0, RT_SCOPE_LINK = 253;

    static Message Request(NetlinkSocket socket, ushort type, ushort flags) =>
        new(type, (ushort)(NLM_F_REQUEST | flags), socket.NextSequence());

    /// Both ends in one request, so there is never a half-made pair.
    public static void CreateVeth(NetlinkSocket host, string hostName, string peerName, SafeFileHandle peerNetns, int? mtu)
    {
        var m = Request(host, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK).LinkInfo().Attribute(IFLA_IFNAME, hostName);
        if (mtu is int hostMtu)
            m.Attribute(IFLA_MTU, (uint)hostMtu);
        int info = m.BeginNested(IFLA_LINKINFO);
        m.Attribute(IFLA_INFO_KIND, "veth");
        int data = m.BeginNested(IFLA_INFO_DATA);
        int peer = m.BeginNested(VETH_INFO_PEER);
        m.LinkInfo().Attribute(IFLA_IFNAME, peerName).Attribute(IFLA_NET_NS_FD, (uint)peerNetns.DangerousGetHandle());
        if (mtu is int peerMtu)
            m.Attribute(IFLA_MTU, (uint)peerMtu);
        m.EndNested(peer).EndNested(data).EndNested(info);
        Execute(host, m);
    }

    public static void CreateLink(NetlinkSocket s, string name, string kind)
    {
        var m = Request(s, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK).LinkInfo().Attribute(IFLA_IFNAME, name);
        int info = m.BeginNested(IFLA_LINKINFO);
        m.Attribute(IFLA_INFO_KIND, kind).EndNested(info);
        Execute(s, m);
    }

    public static void SetUp(NetlinkSocket s, string name) =>
        Execute(s, Request(s, RTM_NEWLINK, NLM_F_ACK).LinkInfo(0, IFF_UP, IFF_UP).Attribute(IFLA_IFNAME, name));

    public static void DeleteLink(NetlinkSocket s, string name) =>
        Execute(s, Request(s, RTM_DELLINK, NLM_F_ACK).LinkInfo().Attribute(IFLA_IFNAME, name));

    public static KernelLink GetLink(NetlinkSocket s, string name) =>
        FirstLink(s.Exchange(Request(s, RTM_GETLINK, 0).LinkInfo().Attribute(IFLA_IFNAME, name)))
        ?? throw new NetlinkException(19, $"no link {name}");

    public static KernelLink GetLink(NetlinkSocket s, int index) =>
        FirstLink(s.Exchange(Request(s, RTM_GETLINK, 0).LinkInfo(index)))
        ?? throw new NetlinkException(19, $"no link with index {index}");

    static KernelLink? FirstLink(IEnumerable<(ushort Type, byte[] Payload)> replies)
    {
        foreach (var (type, payload) in replies)
        {
            if (type != RTM_NEWLINK || payload.Length < 16)
                continue;
            int index = BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(4));
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(payload.AsSpan(8));
            var attributes = new Attributes(payload.AsSpan(16));
            var kind = new Attributes(attributes.Find(IFLA_LINKINFO)).String(IFLA_INFO_KIND) ?? "";
            int peer = attributes.TryUInt32(IFLA_LINK, out uint link) ? (int)link : 0;
            return new KernelLink(index, attributes.String(IFLA_IFNAME) ?? "", kind, (flags & IFF_UP) != 0, peer);
        }
        return null;
    }

    public static void AddAddress(NetlinkSocket s, int index, uint address, int prefixLength) =>
        Execute(s, Request(s, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK)
            .AddressInfo((byte)prefixLength, RT_SCOPE_UNIVERSE, index)
            .Address(IFA_LOCAL, address)
            .Address(IFA_ADDRESS, address));

    public static List<(uint Address, int PrefixLength)> GetAddresses(NetlinkSocket s, int index)
    {
        var found = new List<(uint, int)>();
        foreach (var (type, payload) in s.Exchange(Request(s, RTM_GETADDR, NLM_F_DUMP).AddressInfo(0, 0, 0)))
        {
            if (type != RTM_NEWADDR || payload.Length < 8 || payload[0] != AF_INET)
                continue;
            if (BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(4)) != index)
                continue;
            var attributes = new Attributes(payload.AsSpan(8));
            if (attributes.TryAddress(IFA_LOCAL, out var local) || attributes.TryAddress(IFA_ADDRESS, out local))
                found.Add((local, payload[1]));
        }
        return found;
    }

    public static void AddRoute(NetlinkSocket s, uint destination, int prefixLength, int outputIndex, byte scope, uint? source)
    {
        var m = Request(s, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK)
            .RouteInfo((byte)prefixLength, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST)
            .Address(RTA_DST, destination)
            .Attribute(RTA_OIF, (uint)outputIndex);
        if (source is uint src)
            m.Address(RTA_PREFSRC, src);
        Execute(s, m);
    }

    public static List<KernelRoute> GetRoutes(NetlinkSocket s)
    {
        var routes = new List<KernelRoute>();
        foreach (var (type, payload) in s.Exchange(Request(s, RTM_GETROUTE, NLM_F_DUMP).RouteInfo(0, 0, 0, 0, 0)))
        {
            if (type != RTM_NEWROUTE || payload.Length < 12 || payload[0] != AF_INET)
                continue;
            var attributes = new Attributes(payload.AsSpan(12));
            uint table = attributes.TryUInt32(RTA_TABLE, out var t) ? t : payload[4];
            if (table != RT_TABLE_MAIN || !attributes.TryUInt32(RTA_OIF, out var oif))
                continue;
            attributes.TryAddress(RTA_DST, out var destination);
            uint? source = attributes.TryAddress(RTA_PREFSRC, out var src) ? src : null;
            routes.Add(new KernelRoute(destination, payload[1], payload[6], source, (int)oif));
        }
        return routes;
    }

    static void Execute(NetlinkSocket s, Message m) => s.Exchange(m);
}
