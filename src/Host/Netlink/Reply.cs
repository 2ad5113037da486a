// Reading rtnetlink replies without trusting any length: every length is checked against
// what is left before it is used.
using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Text;

namespace Dcos.L4lb.Host.Netlink;

readonly ref struct Attributes
{
    readonly ReadOnlySpan<byte> _data;
    public Attributes(ReadOnlySpan<byte> data) => _data = data;

    /// The payload of the first attribute of this type, or an empty span.
    public ReadOnlySpan<byte> Find(ushort type)
    {
        var rest = _data;
        while (rest.Length >= 4)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(rest);
            ushort kind = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(rest[2..]) & 0x3FFF);
            if (length < 4 || length > rest.Length)
                break;
            if (kind == type)
                return rest[4..length];
            rest = rest[Math.Min(Message.Align(length), rest.Length)..];
        }
        return default;
    }

    public bool TryUInt32(ushort type, out uint value)
    {
        var v = Find(type);
        value = v.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(v) : 0;
        return v.Length >= 4;
    }

    public bool TryAddress(ushort type, out uint address)
    {
        var v = Find(type);
        address = v.Length >= 4 ? BinaryPrimitives.ReadUInt32BigEndian(v) : 0;
        return v.Length >= 4;
    }

    public string? String(ushort type)
    {
        var v = Find(type);
        if (v.IsEmpty)
            return null;
        int nul = v.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul >= 0 ? v[..nul] : v);
    }
}

static class ReplyReader
{
    /// Splits a datagram into messages; stops at the first malformed length.
    public static IEnumerable<(ushort Type, ushort Flags, uint Sequence, byte[] Payload)> Split(byte[] datagram, int count)
    {
        int offset = 0;
        var result = new List<(ushort, ushort, uint, byte[])>();
        while (count - offset >= Message.HeaderLength)
        {
            var span = datagram.AsSpan(offset, count - offset);
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(span);
            if (length < Message.HeaderLength || length > span.Length)
                break;
            result.Add((BinaryPrimitives.ReadUInt16LittleEndian(span[4..]),
                        BinaryPrimitives.ReadUInt16LittleEndian(span[6..]),
                        BinaryPrimitives.ReadUInt32LittleEndian(span[8..]),
                        span[Message.HeaderLength..length].ToArray()));
            offset += Message.Align(length);
        }
        return result;
    }
}
