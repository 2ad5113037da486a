/// FsCheck generators: arbitrary JSON, valid network configurations built from their
/// parts, and single, known mistakes applied to a valid configuration.
module Dcos.L4lb.Tests.Generators

open System
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb

let private chars (s: string) = s.ToCharArray() |> List.ofArray

/// Text drawn from ASCII, Latin-1 and beyond, and a few surrogate pairs (always paired:
/// text decoded from UTF-8 never holds a lone surrogate).
let text: Gen<string> =
    let piece =
        Gen.frequency
            [ 6, Gen.elements (chars "abcXYZ019 _.-/:;=\"\\{}[],") |> Gen.map string
              2, Gen.choose (0, 0x2FF) |> Gen.map (char >> string)
              1, Gen.elements [ "é"; "ß"; "中"; "\u2028"; "\u00A0"; "\t"; "\n"; "😀"; "\u0000" ] ]

    Gen.listOf piece |> Gen.map String.Concat

/// JSON number text in every shape the grammar allows.
let numberText: Gen<string> =
    gen {
        let! sign = Gen.elements [ ""; "-" ]
        let! intPart = Gen.oneof [ Gen.constant "0"; Gen.choose (1, 999999) |> Gen.map string ]
        let! frac = Gen.oneof [ Gen.constant ""; Gen.choose (0, 9999) |> Gen.map (sprintf ".%d") ]
        let! exp = Gen.oneof [ Gen.constant ""; Gen.map2 (sprintf "%s%d") (Gen.elements [ "e"; "E+"; "e-" ]) (Gen.choose (0, 300)) ]
        return sign + intPart + frac + exp
    }

let rec private jsonOfSize (size: int) : Gen<Json> =
    let scalar =
        Gen.oneof
            [ Gen.constant Json.Null
              Gen.elements [ true; false ] |> Gen.map Json.Bool
              numberText |> Gen.map Json.Number
              text |> Gen.map Json.String ]

    if size <= 0 then
        scalar
    else
        let child = jsonOfSize (size / 3)

        Gen.frequency
            [ 3, scalar
              1, Gen.listOf child |> Gen.resize 4 |> Gen.map Json.Array
              2, Gen.listOf (Gen.zip text child) |> Gen.resize 4 |> Gen.map Json.Object ]

let json: Gen<Json> = Gen.sized (fun s -> jsonOfSize (min s 30))

let jsonObject: Gen<Json> =
    Gen.listOf (Gen.zip text json) |> Gen.resize 5 |> Gen.map Json.Object

let private alnum = chars "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/// Names in the CNI alphabet: container IDs and network names.
let cniName: Gen<string> =
    gen {
        let! first = Gen.elements alnum
        let! rest = Gen.listOf (Gen.elements (alnum @ chars "_.-")) |> Gen.resize 20
        return String(first :: rest |> Array.ofList)
    }

let ifName: Gen<string> =
    Gen.nonEmptyListOf (Gen.elements (alnum @ chars "_.-@+é"))
    |> Gen.map (fun cs -> String(Array.ofList cs))
    |> Gen.filter Invocation.isValidIfName

let pluginType: Gen<string> =
    Gen.nonEmptyListOf (Gen.elements (alnum @ chars "_.-"))
    |> Gen.map (fun cs -> String(Array.ofList cs))
    |> Gen.filter (fun t -> t <> "." && t <> "..")

let absolutePath: Gen<string> =
    Gen.listOf (Gen.elements [ "var"; "run"; "dcos"; "cni"; "l4lb"; "a b"; "ü"; "."; "..a" ])
    |> Gen.map (fun parts -> "/" + String.Join("/", parts))

/// A Spartan network whose range fits its subnet and whose services stay clear of it.
let spartanNetwork: Gen<SpartanNetwork> =
    gen {
        let! length = Gen.choose (8, 26)
        let! seed = Gen.choose (0, Int32.MaxValue) |> Gen.map uint32
        let network = Ipv4(seed &&& Ipv4.mask length)
        let size = 1u <<< (32 - length)
        // room for the range in the lower half and services in the upper half
        let half = size / 2u
        // at least eight addresses, so several containers fit
        let! a = Gen.choose (1, int (min (half - 9u) 100000u)) |> Gen.map uint32
        let! width = Gen.choose (7, int (min (half - 1u - a) 100000u)) |> Gen.map uint32
        let start, finish = a, a + width
        let! serviceCount = Gen.choose (1, 4)
        let! offsets = Gen.listOfLength serviceCount (Gen.choose (int half, int (min (size - 2u) (half + 1000u)))) |> Gen.map List.distinct
        let! iface = ifName |> Gen.filter (fun n -> n <> "lo" && n <> Defaults.minutemanLink)
        let! netName = cniName
        let! ipamType = pluginType

        return
            { Interface = iface
              Network = netName
              IpamType = ipamType
              Subnet = { Network = network; Length = length }
              RangeStart = Ipv4(network.Value + start)
              RangeEnd = Ipv4(network.Value + finish)
              Services = offsets |> List.map (fun o -> Ipv4(network.Value + uint32 o)) }
    }

/// A delegate object: a valid "type" plus arbitrary other members (never another "type").
let delegateObject: Gen<Json> =
    gen {
        let! t = pluginType
        let! extra = Gen.listOf (Gen.zip (text |> Gen.filter ((<>) "type")) json) |> Gen.resize 6
        let! position = Gen.choose (0, extra.Length)
        let members = List.insertAt position ("type", Json.String t) extra
        return Json.Object members
    }

let private optionalObject = Gen.optionOf jsonObject

let validConfig: Gen<NetConf> =
    gen {
        let! version = Gen.elements CniVersion.supported
        let! name = cniName
        let! pluginType = Gen.oneof [ Gen.constant "dcos-l4lb"; pluginType ]
        let! delegateObj = Gen.frequency [ 4, delegateObject |> Gen.map Some; 1, Gen.constant None ]
        let! spartanOn, minutemanOn = Gen.elements [ true, true; true, false; false, true ]
        let! dns = Gen.elements [ true; false ]
        let! network = Gen.oneof [ Gen.constant Defaults.spartanNetwork; spartanNetwork ]
        let! path = Gen.oneof [ Gen.constant Defaults.minuteman.Path; absolutePath ]
        let! args = optionalObject
        let! mtu = Gen.optionOf (Gen.choose (68, 65535))
        let! capabilities = optionalObject
        let! runtimeConfig = optionalObject
        let! valid = Gen.optionOf (Gen.listOf (Gen.zip cniName ifName |> Gen.map (fun (id, n) -> { ContainerId = id; IfName = n })))
        // chained mode (no delegate) always has the previous plugin's result
        let! prevResult =
            match delegateObj with
            | Some _ -> optionalObject
            | None -> jsonObject |> Gen.map (Json.withField "ips" (Json.Array [ Json.Object [ "address", Json.String "10.1.0.5/24" ] ]) >> Some)

        return
            { CniVersion = version
              Name = name
              Type = pluginType
              Delegate = delegateObj
              Spartan = { Enabled = spartanOn; Network = network; Dns = dns }
              Minuteman = { Enabled = minutemanOn; Path = path }
              Args = args
              Mtu = mtu
              Capabilities = capabilities
              RuntimeConfig = runtimeConfig
              PrevResult = prevResult
              ValidAttachments = valid }
    }

/// One known mistake: a description, how to apply it to a valid config's JSON, the
/// CNI code and the JSON path the error must carry.
type Mistake =
    { What: string
      Apply: Json -> Json
      Code: int
      Path: string
      /// The paths whose validity this mistake changes: what it writes, and for the
      /// cross-field checks, every field the check reads.
      Touches: string list }

let private at (path: string list) (value: Json) (json: Json) =
    let rec go path json =
        match path with
        | [] -> value
        | [ key ] -> Json.withField key value json
        | key :: rest ->
            let inner = Json.tryField key json |> Option.defaultValue (Json.Object [])
            Json.withField key (go rest inner) json

    go path json

let private without (key: string) (json: Json) =
    match json with
    | Json.Object ms -> Json.Object(ms |> List.filter (fun (k, _) -> k <> key))
    | other -> other

let private mistake what code path apply =
    { What = what
      Apply = apply
      Code = code
      Path = path
      Touches = [ path ] }

let private touching paths m = { m with Touches = paths }
let private crossField = touching [ "$.spartan.ipam"; "$.spartan.services" ]

/// Every mistake keeps the rest of the config valid, so it is the only error.
let mistakes: Mistake list =
    let s = Json.String
    let n = Json.Number

    [ mistake "cniVersion missing" 7 "$.cniVersion" (without "cniVersion")
      mistake "cniVersion unsupported" 1 "$.cniVersion" (at [ "cniVersion" ] (s "0.5.0"))
      mistake "cniVersion not a string" 7 "$.cniVersion" (at [ "cniVersion" ] (n "1"))
      mistake "name missing" 7 "$.name" (without "name")
      mistake "name with a slash" 7 "$.name" (at [ "name" ] (s "a/b"))
      mistake "type missing" 7 "$.type" (without "type")
      mistake "type empty" 7 "$.type" (at [ "type" ] (s ""))
      mistake "delegate not an object" 7 "$.delegate" (at [ "delegate" ] (s "bridge"))
      mistake "delegate type missing" 7 "$.delegate.type" (fun j -> at [ "delegate" ] (Json.tryField "delegate" j |> Option.get |> without "type") j)
      mistake "delegate type a path" 7 "$.delegate.type" (at [ "delegate"; "type" ] (s "../bridge"))
      mistake "delegate type dot-dot" 7 "$.delegate.type" (at [ "delegate"; "type" ] (s ".."))
      mistake "delegate type not a string" 7 "$.delegate.type" (at [ "delegate"; "type" ] (Json.Bool true))
      mistake "both features disabled" 7 "$.spartan.enable" (at [ "spartan" ] (Json.Bool false) >> at [ "minuteman" ] (Json.Bool false))
      |> touching [ "$.spartan"; "$.minuteman" ]
      mistake "both disabled, object form" 7 "$.spartan.enable" (at [ "spartan"; "enable" ] (Json.Bool false) >> at [ "minuteman"; "enable" ] (Json.Bool false))
      |> touching [ "$.spartan.enable"; "$.minuteman.enable" ]
      mistake "spartan a string" 7 "$.spartan" (at [ "spartan" ] (s "yes"))
      mistake "spartan.dns a string" 7 "$.spartan.dns" (at [ "spartan"; "dns" ] (s "yes"))
      mistake "spartan.enable a string" 7 "$.spartan.enable" (at [ "spartan"; "enable" ] (s "true"))
      mistake "minuteman a number" 7 "$.minuteman" (at [ "minuteman" ] (n "1"))
      mistake "minuteman path relative" 7 "$.minuteman.path" (at [ "minuteman"; "path" ] (s "var/run/l4lb"))
      mistake "minuteman path climbs out" 7 "$.minuteman.path" (at [ "minuteman"; "path" ] (s "/var/run/../../etc"))
      mistake "minuteman path empty" 7 "$.minuteman.path" (at [ "minuteman"; "path" ] (s ""))
      mistake "minuteman path not a string" 7 "$.minuteman.path" (at [ "minuteman"; "path" ] (Json.Array []))
      mistake "args not an object" 7 "$.args" (at [ "args" ] (Json.Array []))
      mistake "mtu too small" 7 "$.mtu" (at [ "mtu" ] (n "67"))
      mistake "mtu too large" 7 "$.mtu" (at [ "mtu" ] (n "65536"))
      mistake "mtu fractional" 7 "$.mtu" (at [ "mtu" ] (n "1500.5"))
      mistake "mtu a string" 7 "$.mtu" (at [ "mtu" ] (s "1500"))
      mistake "capabilities not an object" 7 "$.capabilities" (at [ "capabilities" ] (Json.Bool true))
      mistake "runtimeConfig not an object" 7 "$.runtimeConfig" (at [ "runtimeConfig" ] (n "3"))
      mistake "prevResult not an object" 7 "$.prevResult" (at [ "prevResult" ] (s "{}"))
      mistake "interface too long" 7 "$.spartan.interface" (at [ "spartan"; "interface" ] (s "spartan-interface"))
      mistake "interface lo" 7 "$.spartan.interface" (at [ "spartan"; "interface" ] (s "lo"))
      mistake "interface with a colon" 7 "$.spartan.interface" (at [ "spartan"; "interface" ] (s "sp:1"))
      mistake "network name invalid" 7 "$.spartan.network" (at [ "spartan"; "network" ] (s "-spartan"))
      mistake "ipam not an object" 7 "$.spartan.ipam" (at [ "spartan"; "ipam" ] (s "host-local"))
      mistake "ipam type a path" 7 "$.spartan.ipam.type" (at [ "spartan"; "ipam"; "type" ] (s "/usr/lib/cni/host-local"))
      mistake "subnet not a subnet" 7 "$.spartan.ipam.subnet" (at [ "spartan"; "ipam"; "subnet" ] (s "198.51.100.0"))
      mistake "subnet with host bits" 7 "$.spartan.ipam.subnet" (at [ "spartan"; "ipam"; "subnet" ] (s "198.51.100.7/24"))
      mistake "subnet too small" 7 "$.spartan.ipam.subnet" (at [ "spartan"; "ipam"; "subnet" ] (s "198.51.100.0/31"))
      mistake "range start not an address" 7 "$.spartan.ipam.rangeStart" (at [ "spartan"; "ipam"; "rangeStart" ] (s "198.51.100.010"))
      mistake "range outside subnet" 7 "$.spartan.ipam.rangeEnd" (at [ "spartan"; "ipam"; "rangeEnd" ] (s "198.51.101.20"))
      |> crossField
      mistake "range reversed" 7 "$.spartan.ipam.rangeStart" (at [ "spartan"; "ipam"; "rangeStart" ] (s "198.51.100.200") >> at [ "spartan"; "ipam"; "rangeEnd" ] (s "198.51.100.100"))
      |> crossField
      mistake "range on the broadcast address" 7 "$.spartan.ipam.rangeEnd" (at [ "spartan"; "ipam"; "rangeEnd" ] (s "198.51.100.255"))
      |> crossField
      mistake "services empty" 7 "$.spartan.services" (at [ "spartan"; "services" ] (Json.Array []))
      mistake "service not IPv4" 7 "$.spartan.services[1]" (at [ "spartan"; "services" ] (Json.Array [ s "198.51.100.1"; s "fd00::1" ]))
      mistake "service repeated" 7 "$.spartan.services" (at [ "spartan"; "services" ] (Json.Array [ s "198.51.100.1"; s "198.51.100.1" ]))
      mistake "service inside the range" 7 "$.spartan.services[0]" (at [ "spartan"; "services" ] (Json.Array [ s "198.51.100.20" ]))
      |> crossField ]

/// A config that the Spartan-specific mistakes apply to: upstream's Spartan network,
/// both features enabled, so each mistake stands alone.
let mistakeBase: Gen<NetConf> =
    validConfig
    |> Gen.filter (fun c -> c.Delegate.IsSome)
    |> Gen.map (fun c ->
        { c with
            Spartan = { c.Spartan with Enabled = true; Network = Defaults.spartanNetwork }
            Minuteman = { c.Minuteman with Enabled = true } })

/// A container ID or interface name candidate: mostly from the allowed alphabets, with
/// look-alikes (non-ASCII letters and digits, white space of every kind) mixed in.
let nameCandidate: Gen<string> =
    let tricky = chars "/:;=é٣ＡßẞΣ\u00A0\u2000\u3000\u0085\t\n\v\f\r \u200B\uFEFF"

    Gen.frequency
        [ 1, Gen.elements [ ""; "."; ".."; "..."; "-a"; "_a"; ".a"; "a"; "0" ]
          8,
          Gen.listOf (Gen.frequency [ 8, Gen.elements (alnum @ chars "_.-"); 1, Gen.elements tricky ])
          |> Gen.map (fun cs -> String(Array.ofList cs)) ]

/// An IPv4 address (of the lower half of the space).
let ipv4 = Gen.choose (0, Int32.MaxValue) |> Gen.map (uint32 >> Ipv4)

/// A property's case count, times PROPERTY_SCALE when set (for long hunts).
let scaled (cases: int) =
    match Int32.TryParse(Environment.GetEnvironmentVariable "PROPERTY_SCALE") with
    | true, factor when factor > 0 -> cases * factor
    | _ -> cases
