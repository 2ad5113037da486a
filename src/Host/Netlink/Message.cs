// Building rtnetlink requests: a header, a fixed struct, then attributes, each padded to
// four bytes, nested attributes closed by patching their length.
using System;
using System.Buffers.Binary;
using System.Text;

namespace Dcos.L4lb.Host.Netlink;

sealed class Message
{
    public const int HeaderLength = 16;
    byte[] _buffer = new byte[256];
    int _length;

    public Message(ushort type, ushort flags, uint sequence)
    {
        _length = HeaderLength;
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(6), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(8), sequence);
    }

    public uint Sequence => BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(8));

    Span<byte> Reserve(int count)
    {
        int padded = Align(count);
        if (_length + padded > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + padded));
        var span = _buffer.AsSpan(_length, padded);
        span.Clear();
        _length += padded;
        return span[..count];
    }

    public static int Align(int n) => (n + 3) & ~3;

    /// ifinfomsg: family, type, index, flags, change.
    public Message LinkInfo(int index = 0, uint flags = 0, uint change = 0)
    {
        var s = Reserve(16);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], index);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(s[12..], change);
        return this;
    }

    /// ifaddrmsg: AF_INET, prefix length, flags, scope, index.
    public Message AddressInfo(byte prefixLength, byte scope, int index)
    {
        var s = Reserve(8);
        s[0] = Rtnl.AF_INET;
        s[1] = prefixLength;
        s[3] = scope;
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], index);
        return this;
    }

    /// rtmsg: AF_INET, destination length, table, protocol, scope, type.
    public Message RouteInfo(byte destinationLength, byte table, byte protocol, byte scope, byte type)
    {
        var s = Reserve(12);
        s[0] = Rtnl.AF_INET;
        s[1] = destinationLength;
        s[4] = table;
        s[5] = protocol;
        s[6] = scope;
        s[7] = type;
        return this;
    }

    public Message Attribute(ushort type, ReadOnlySpan<byte> value)
    {
        var s = Reserve(4 + value.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(s, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(s[2..], type);
        value.CopyTo(s[4..]);
        return this;
    }

    public Message Attribute(ushort type, string value)
    {
        // the kernel reads names as NUL-terminated strings
        var bytes = new byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, bytes);
        return Attribute(type, bytes);
    }

    public Message Attribute(ushort type, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return Attribute(type, b);
    }

    /// An IPv4 address in network byte order.
    public Message Address(ushort type, uint address)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, address);
        return Attribute(type, b);
    }

    public int BeginNested(ushort type)
    {
        int start = _length;
        var s = Reserve(4);
        BinaryPrimitives.WriteUInt16LittleEndian(s[2..], type);
        return start;
    }

    public Message EndNested(int start)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(start), (ushort)(_length - start));
        return this;
    }

    public ReadOnlySpan<byte> Complete()
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer, (uint)_length);
        return _buffer.AsSpan(0, _length);
    }
}
