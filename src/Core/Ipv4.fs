namespace Dcos.L4lb

open System

/// An IPv4 address as its 32-bit number, so ranges and subnets are plain arithmetic.
[<Struct; CustomEquality; CustomComparison>]
type Ipv4 =
    | Ipv4 of value: uint32

    member a.Value = let (Ipv4 v) = a in v

    /// For the host: the address of this 32-bit number.
    static member OfValue(value: uint32) = Ipv4 value

    override a.ToString() =
        let v = a.Value
        (v >>> 24).ToString() + "." + ((v >>> 16) &&& 255u).ToString() + "." + ((v >>> 8) &&& 255u).ToString() + "." + (v &&& 255u).ToString()

    override a.Equals(other) =
        match other with
        | :? Ipv4 as b -> a.Value = b.Value
        | _ -> false

    override a.GetHashCode() = int a.Value

    interface IComparable with
        member a.CompareTo(other) =
            match other with
            | :? Ipv4 as b -> compare a.Value b.Value
            | _ -> invalidArg (nameof other) "not an Ipv4"

/// An IPv4 subnet: network address and prefix length, host bits zero.
type Ipv4Prefix =
    { Network: Ipv4
      Length: int }

    override p.ToString() = p.Network.ToString() + "/" + p.Length.ToString()

module Ipv4 =
    /// Strict dotted quad, as Go's net.ParseIP reads IPv4 since Go 1.17: four decimal
    /// parts 0-255, no leading zeros (which some tools read as octal).
    let tryParse (text: string) : Ipv4 option =
        let parts = text.Split '.'

        let part (s: string) =
            if s.Length = 0 || s.Length > 3 || not (s |> Seq.forall Char.IsAsciiDigit) then None
            elif s.Length > 1 && s[0] = '0' then None
            else
                let n = int s
                if n > 255 then None else Some(uint32 n)

        if parts.Length <> 4 then
            None
        else
            match part parts[0], part parts[1], part parts[2], part parts[3] with
            | Some a, Some b, Some c, Some d -> Some(Ipv4((a <<< 24) ||| (b <<< 16) ||| (c <<< 8) ||| d))
            | _ -> None

    /// "a.b.c.d/n" as plugins report addresses: host bits allowed.
    let tryParseCidr (text: string) : (Ipv4 * int) option =
        match text.Split '/' with
        | [| address; length |] when length.Length > 0 && length.Length <= 2 && length |> Seq.forall Char.IsAsciiDigit && int length <= 32 ->
            tryParse address |> Option.map (fun ip -> ip, int length)
        | _ -> None

    let mask (length: int) =
        if length = 0 then 0u else UInt32.MaxValue <<< (32 - length)

module Ipv4Prefix =
    let contains (prefix: Ipv4Prefix) (address: Ipv4) =
        (address.Value &&& Ipv4.mask prefix.Length) = prefix.Network.Value

    let broadcast (prefix: Ipv4Prefix) =
        Ipv4(prefix.Network.Value ||| ~~~(Ipv4.mask prefix.Length))

    /// "a.b.c.d/n" with the host bits zero. The error says what was expected.
    let tryParse (text: string) : Result<Ipv4Prefix, string> =
        let expected = "expected an IPv4 subnet such as \"198.51.100.0/24\""

        match text.Split '/' with
        | [| address; length |] ->
            let validLength =
                length.Length > 0
                && length.Length <= 2
                && length |> Seq.forall Char.IsAsciiDigit
                && int length <= 32

            match Ipv4.tryParse address, validLength with
            | Some ip, true ->
                let n = int length
                let network = Ipv4(ip.Value &&& Ipv4.mask n)

                if network = ip then
                    Ok { Network = network; Length = n }
                else
                    Error("\"" + text + "\" has host bits set; did you mean \"" + string network + "/" + string n + "\"?")
            | _ -> Error $"\"{text}\" is not valid; {expected}"
        | _ -> Error $"\"{text}\" is not valid; {expected}"
