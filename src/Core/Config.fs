namespace Dcos.L4lb

open System

/// The network that connects a container to Spartan, the agent's DNS forwarder.
/// Upstream hard-coded all of it; here each part is configurable, with upstream's
/// values as the defaults.
type SpartanNetwork =
    { /// Container-side name of the veth that reaches Spartan.
      Interface: string
      /// Network name the IPAM plugin is called with; host-local keeps its
      /// allocations under /var/lib/cni/networks/<this name>.
      Network: string
      IpamType: string
      Subnet: Ipv4Prefix
      RangeStart: Ipv4
      RangeEnd: Ipv4
      /// Spartan's listening addresses; each gets a /32 route through the veth.
      Services: Ipv4 list }

type SpartanConfig =
    { Enabled: bool
      Network: SpartanNetwork
      /// Put the Spartan service addresses first in the ADD result's dns.nameservers,
      /// for runtimes that write resolv.conf from the result (an upstream TODO).
      Dns: bool }

type MinutemanConfig =
    { Enabled: bool
      /// Directory of checkpoint files (one per container, named by container ID,
      /// holding the netns path) that Minuteman watches.
      Path: string }

/// One attachment of a container to this network, as CNI 1.1's GC names it.
type Attachment = { ContainerId: string; IfName: string }

/// A validated network configuration of type dcos-l4lb.
type NetConf =
    { CniVersion: string
      Name: string
      Type: string
      /// The whole config object of the plugin that gives the container its main
      /// connectivity; its "type" is checked to be a plain file name. None: chained
      /// mode, after that plugin in a conflist, which hands its result in prevResult.
      Delegate: Json option
      Spartan: SpartanConfig
      Minuteman: MinutemanConfig
      Args: Json option
      /// MTU of the Spartan veth; the kernel's default when absent.
      Mtu: int option
      Capabilities: Json option
      RuntimeConfig: Json option
      PrevResult: Json option
      /// GC's cni.dev/valid-attachments: the attachments the runtime still has.
      ValidAttachments: Attachment list option }

module Defaults =
    let private ip text = (Ipv4.tryParse text).Value

    /// Upstream's constants (dcos-cni, 2017), which dcos-net still listens on.
    let spartanNetwork =
        { Interface = "spartan"
          Network = "spartan-network"
          IpamType = "host-local"
          Subnet = { Network = ip "198.51.100.0"; Length = 24 }
          RangeStart = ip "198.51.100.10"
          RangeEnd = ip "198.51.100.253"
          Services = [ ip "198.51.100.1"; ip "198.51.100.2"; ip "198.51.100.3"; ip "198.51.100.4" ] }

    let spartan: SpartanConfig =
        { Enabled = true
          Network = spartanNetwork
          Dns = false }

    /// The dummy link Minuteman looks up in each container: dcos-net finds it by this name.
    let minutemanLink = "minuteman"

    let minuteman: MinutemanConfig =
        { Enabled = true
          Path = "/var/run/dcos/cni/l4lb" }

module internal SpartanParse =
    open Validation

    let private address path (json: Json) =
        match json with
        | Json.String s ->
            match Ipv4.tryParse s with
            | Some ip -> Ok ip
            | None -> Field.error path $"\"{s}\" is not an IPv4 address; expected a dotted quad such as \"198.51.100.1\""
        | other -> Field.wrongType path "an IPv4 address string" other

    let private optionalAddress path key obj (fallback: Ipv4) =
        match Field.tryGet key obj with
        | None -> Ok fallback
        | Some json -> address path json

    let private subnet path obj (fallback: Ipv4Prefix) =
        match Field.tryGet "subnet" obj with
        | None -> Ok fallback
        | Some(Json.String s) ->
            match Ipv4Prefix.tryParse s with
            | Ok prefix when prefix.Length <= 30 -> Ok prefix
            | Ok prefix -> Field.error path $"\"{string prefix}\" leaves no room for addresses; expected a prefix length of 30 or less"
            | Error message -> Field.error path message
        | Some other -> Field.wrongType path "an IPv4 subnet string" other

    let private services path obj (fallback: Ipv4 list) =
        match Field.tryGet "services" obj with
        | None -> Ok fallback
        | Some(Json.Array []) -> Field.error path "is empty; expected at least one Spartan address"
        | Some(Json.Array items) ->
            let parsed = items |> List.mapi (fun i item -> address $"{path}[{string i}]" item)

            match parsed |> List.collect Validation.errors with
            | [] ->
                let ips = parsed |> List.choose (function Ok ip -> Some ip | Error _ -> None)

                if List.length (List.distinct ips) = List.length ips then
                    Ok ips
                else
                    Field.error path "lists an address twice; expected distinct addresses"
            | errors -> Error errors
        | Some other -> Field.wrongType path "an array of IPv4 addresses" other

    type private Addressing =
        { Subnet: Ipv4Prefix
          RangeStart: Ipv4
          RangeEnd: Ipv4
          Services: Ipv4 list }

    /// How the range, subnet and services fit together: the range inside the subnet,
    /// clear of its network and broadcast addresses, and no service address in it (the
    /// IPAM plugin would hand that address to a container).
    let private consistent (net: Addressing) : CniError list =
        let p = "$.spartan.ipam"
        let inRange ip = ip >= net.RangeStart && ip <= net.RangeEnd

        let outside (name: string) ip =
            if Ipv4Prefix.contains net.Subnet ip then []
            else [ CniError.invalidConfig $"{p}.{name}" (string ip + " is outside the subnet " + string net.Subnet) ]

        let reserved (name: string) ip =
            if ip = net.Subnet.Network || ip = Ipv4Prefix.broadcast net.Subnet then
                [ CniError.invalidConfig $"{p}.{name}" (string ip + " is the network or broadcast address of " + string net.Subnet) ]
            else []

        let order =
            if net.RangeStart <= net.RangeEnd then []
            else [ CniError.invalidConfig $"{p}.rangeStart" (string net.RangeStart + " comes after rangeEnd " + string net.RangeEnd) ]

        let clashes =
            net.Services
            |> List.mapi (fun i ip -> i, ip)
            |> List.filter (fun (_, ip) -> inRange ip)
            |> List.map (fun (i, ip) ->
                CniError.invalidConfig
                    $"$.spartan.services[{string i}]"
                    (string ip + " is inside the allocation range " + string net.RangeStart + "-" + string net.RangeEnd + "; expected service addresses outside it"))

        outside "rangeStart" net.RangeStart
        @ outside "rangeEnd" net.RangeEnd
        @ reserved "rangeStart" net.RangeStart
        @ reserved "rangeEnd" net.RangeEnd
        @ order
        @ clashes

    let private network (obj: Json) : Result<SpartanNetwork, CniError list> =
        let d = Defaults.spartanNetwork

        let ipam =
            Field.optionalObject "$.spartan.ipam" "ipam" obj
            |> Result.map (Option.defaultValue (Json.Object []))

        let ipamField f =
            match ipam with
            | Ok o -> f o
            | Error _ -> Error [] // reported once, by ipam itself

        // The addressing is checked as a whole even when a name elsewhere is wrong.
        let addressing =
            validate {
                let! subnet = ipamField (fun o -> subnet "$.spartan.ipam.subnet" o d.Subnet)
                and! rangeStart = ipamField (fun o -> optionalAddress "$.spartan.ipam.rangeStart" "rangeStart" o d.RangeStart)
                and! rangeEnd = ipamField (fun o -> optionalAddress "$.spartan.ipam.rangeEnd" "rangeEnd" o d.RangeEnd)
                and! services = services "$.spartan.services" obj d.Services

                return
                    { Subnet = subnet
                      RangeStart = rangeStart
                      RangeEnd = rangeEnd
                      Services = services }
            }
            |> Result.bind (fun a ->
                match consistent a with
                | [] -> Ok a
                | errors -> Error errors)

        validate {
            let! iface =
                Field.string "$.spartan.interface" "interface" obj (Some d.Interface)
                |> Field.check Invocation.isValidIfName "$.spartan.interface" (fun name ->
                    $"\"{name}\" is not a valid interface name; expected 1 to 15 bytes without '/', ':' or white space")
                |> Field.check (fun name -> name <> "lo" && name <> Defaults.minutemanLink) "$.spartan.interface" (fun name ->
                    $"\"{name}\" is taken in every container (\"lo\") or by Minuteman; expected another name")
            and! networkName =
                Field.string "$.spartan.network" "network" obj (Some d.Network)
                |> Field.check Names.isValidNetworkName "$.spartan.network" (fun name ->
                    $"\"{name}\" is not a valid network name; {Names.networkNameExpected}")
            and! _ = ipam
            and! ipamType =
                ipamField (fun o ->
                    Field.string "$.spartan.ipam.type" "type" o (Some d.IpamType)
                    |> Field.check Names.isPlainFileName "$.spartan.ipam.type" (fun name ->
                        $"\"{name}\" is not valid; {Names.plainFileNameExpected}"))
            and! a = addressing

            return
                { Interface = iface
                  Network = networkName
                  IpamType = ipamType
                  Subnet = a.Subnet
                  RangeStart = a.RangeStart
                  RangeEnd = a.RangeEnd
                  Services = a.Services }
        }

    /// `spartan`: absent (enabled, defaults), a boolean (upstream's README), or an object
    /// (upstream's code read {"enable": bool}); an object without "enable" is enabled.
    let parse (value: Json option) : Result<SpartanConfig, CniError list> =
        match value with
        | None -> Ok Defaults.spartan
        | Some(Json.Bool enabled) -> Ok { Defaults.spartan with Enabled = enabled }
        | Some(Json.Object _ as obj) ->
            validate {
                let! enabled = Field.bool "$.spartan.enable" "enable" obj true
                and! net = network obj
                and! dns = Field.bool "$.spartan.dns" "dns" obj false
                return { Enabled = enabled; Network = net; Dns = dns }
            }
        | Some other -> Field.wrongType "$.spartan" "true, false or an object like {\"enable\": true}" other

    let render (s: SpartanConfig) =
        let n = s.Network
        let str (x: obj) = Json.String(string x)

        Json.Object
            [ "enable", Json.Bool s.Enabled
              "dns", Json.Bool s.Dns
              "interface", Json.String n.Interface
              "network", Json.String n.Network
              "ipam",
              Json.Object
                  [ "type", Json.String n.IpamType
                    "subnet", str n.Subnet
                    "rangeStart", str n.RangeStart
                    "rangeEnd", str n.RangeEnd ]
              "services", Json.Array(n.Services |> List.map str) ]

module internal MinutemanParse =
    open Validation

    let private path (obj: Json) =
        Field.string "$.minuteman.path" "path" obj (Some Defaults.minuteman.Path)
        |> Field.check (fun p -> p.StartsWith '/' && not (p.Contains '\000')) "$.minuteman.path" (fun p ->
            "\"" + p + "\" is not an absolute directory path; expected a path starting with '/', such as \"" + Defaults.minuteman.Path + "\"")
        // the path is where files are created and deleted: no way out of it through ".."
        |> Field.check (fun p -> not (p.Split('/') |> Array.contains "..")) "$.minuteman.path" (fun p ->
            $"\"{p}\" contains a \"..\" component; expected a plain absolute directory path")

    /// `minuteman`: absent (enabled, default path), a boolean, or {"enable", "path"};
    /// an object without "enable" is enabled.
    let parse (value: Json option) : Result<MinutemanConfig, CniError list> =
        match value with
        | None -> Ok Defaults.minuteman
        | Some(Json.Bool enabled) -> Ok { Defaults.minuteman with Enabled = enabled }
        | Some(Json.Object _ as obj) ->
            validate {
                let! enabled = Field.bool "$.minuteman.enable" "enable" obj true
                and! path = path obj
                return { Enabled = enabled; Path = path }
            }
        | Some other -> Field.wrongType "$.minuteman" "true, false or an object like {\"enable\": true, \"path\": \"/dir\"}" other

    let render (m: MinutemanConfig) =
        Json.Object [ "enable", Json.Bool m.Enabled; "path", Json.String m.Path ]

module NetConf =
    open Validation

    let private supportedList = String.Join(", ", CniVersion.supported)

    let private cniVersion obj =
        match Field.tryGet "cniVersion" obj with
        | Some(Json.String v) when CniVersion.isSupported v -> Ok v
        | Some(Json.String v) ->
            Error [ CniError.create IncompatibleVersion "$.cniVersion" $"version \"{v}\" is not supported; expected one of {supportedList}" ]
        | Some other -> Field.wrongType "$.cniVersion" "a version string such as \"1.0.0\"" other
        | None -> Field.error "$.cniVersion" $"is required; expected one of {supportedList}"

    let private delegateConfig obj =
        match Field.tryGet "delegate" obj with
        | None -> Ok None
        | Some(Json.Object _ as d) ->
            Field.string "$.delegate.type" "type" d None
            |> Field.check Names.isPlainFileName "$.delegate.type" (fun t -> $"\"{t}\" is not valid; {Names.plainFileNameExpected}")
            |> Result.map (fun _ -> Some d)
        | Some other -> Field.wrongType "$.delegate" "an object" other

    let private mtu obj =
        match Field.tryGet "mtu" obj with
        | None -> Ok None
        | Some(Json.Number text) ->
            match Int32.TryParse(text, Globalization.NumberStyles.AllowLeadingSign, Globalization.CultureInfo.InvariantCulture) with
            | true, n when n >= 68 && n <= 65535 -> Ok(Some n)
            | _ -> Field.error "$.mtu" $"{text} is not a valid MTU; expected a whole number from 68 (IPv4's minimum) to 65535"
        | Some other -> Field.wrongType "$.mtu" "a whole number" other

    /// Whether a feature's value says "enabled", read on its own so that "both disabled"
    /// is reported even when another part of that feature's object is wrong.
    let private enabledIn (value: Json option) =
        match value with
        | Some(Json.Bool b) -> Some b
        | Some(Json.Object _ as o) ->
            match Field.tryGet "enable" o with
            | None -> Some true
            | Some(Json.Bool b) -> Some b
            | Some _ -> None
        | None -> Some true
        | Some _ -> None

    let private features (spartan: Json option) (minuteman: Json option) =
        match enabledIn spartan, enabledIn minuteman with
        | Some false, Some false ->
            Field.error
                "$.spartan.enable"
                "and $.minuteman.enable are both false; expected at least one enabled (with neither, use the delegate plugin directly)"
        | _ -> Ok()

    /// The key CNI 1.1 gives GC's list of attachments that are still valid.
    let validAttachmentsKey = "cni.dev/valid-attachments"

    let private validAttachments (root: Json) =
        let path = "$[\"" + validAttachmentsKey + "\"]"

        let entry i (item: Json) =
            let at = $"{path}[{string i}]"

            match item with
            | Json.Object _ ->
                validate {
                    let! id = Field.string $"{at}.containerID" "containerID" item None
                    and! ifName = Field.string $"{at}.ifname" "ifname" item None
                    return { ContainerId = id; IfName = ifName }
                }
            | other -> Field.wrongType at "an object with containerID and ifname" other

        match Field.tryGet validAttachmentsKey root with
        | None -> Ok None
        | Some(Json.Array items) ->
            let results = items |> List.mapi entry

            match results |> List.collect Validation.errors with
            | [] -> Ok(Some [ for r in results do match r with Ok a -> a | Error _ -> () ])
            | errors -> Error errors
        | Some other -> Field.wrongType path "an array of {\"containerID\", \"ifname\"} objects" other

    let private ofJson (root: Json) : Result<NetConf, CniError list> =
        let spartanJson, minutemanJson = Field.tryGet "spartan" root, Field.tryGet "minuteman" root

        validate {
            let! version = cniVersion root
            and! name =
                Field.string "$.name" "name" root None
                |> Field.check Names.isValidNetworkName "$.name" (fun n -> $"\"{n}\" is not a valid network name; {Names.networkNameExpected}")
            and! pluginType = Field.string "$.type" "type" root None |> Field.check (fun t -> t.Length > 0) "$.type" (fun _ -> "is empty")
            and! delegateConfig = delegateConfig root
            and! () = features spartanJson minutemanJson
            and! spartan = SpartanParse.parse spartanJson
            and! minuteman = MinutemanParse.parse minutemanJson
            and! args = Field.optionalObject "$.args" "args" root
            and! mtu = mtu root
            and! capabilities = Field.optionalObject "$.capabilities" "capabilities" root
            and! runtimeConfig = Field.optionalObject "$.runtimeConfig" "runtimeConfig" root
            and! prevResult = Field.optionalObject "$.prevResult" "prevResult" root
            and! valid = validAttachments root
            // checked with the rest; the host reads them through Core.logSettings
            and! _ = LogConfig.parse root

            return
                { CniVersion = version
                  Name = name
                  Type = pluginType
                  Delegate = delegateConfig
                  Spartan = spartan
                  Minuteman = minuteman
                  Args = args
                  Mtu = mtu
                  Capabilities = capabilities
                  RuntimeConfig = runtimeConfig
                  PrevResult = prevResult
                  ValidAttachments = valid }
        }

    /// Reads a network configuration from the bytes a runtime sends on stdin.
    /// Never throws: every problem is a CniError with its CNI code and JSON path.
    let parse (utf8: ReadOnlyMemory<byte>) : Result<NetConf, CniError list> =
        match Json.parse utf8 with
        | Error message -> Error [ CniError.create DecodeFailure "$" $"is not valid JSON: {message}" ]
        | Ok(Json.Object _ as root) -> ofJson root
        | Ok other -> Error [ CniError.create DecodeFailure "$" $"expected a JSON object, found {Json.kindName other}" ]

    let attachmentsJson (attachments: Attachment list) =
        Json.Array
            [ for a in attachments ->
                  Json.Object [ "containerID", Json.String a.ContainerId; "ifname", Json.String a.IfName ] ]

    let toJson (conf: NetConf) : Json =
        let optional key value = value |> Option.map (fun v -> key, v) |> Option.toList

        Json.Object(
            [ "cniVersion", Json.String conf.CniVersion
              "name", Json.String conf.Name
              "type", Json.String conf.Type
              "spartan", SpartanParse.render conf.Spartan
              "minuteman", MinutemanParse.render conf.Minuteman ]
            @ optional "delegate" conf.Delegate
            @ optional "args" conf.Args
            @ optional "mtu" (conf.Mtu |> Option.map Json.ofInt)
            @ optional "capabilities" conf.Capabilities
            @ optional "runtimeConfig" conf.RuntimeConfig
            @ optional "prevResult" conf.PrevResult
            @ optional validAttachmentsKey (conf.ValidAttachments |> Option.map attachmentsJson)
        )

    let render (conf: NetConf) : byte[] = Json.render (toJson conf)
