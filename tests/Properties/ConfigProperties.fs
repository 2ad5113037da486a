module Dcos.L4lb.Tests.ConfigProperties

open System
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Dcos.L4lb
open Dcos.L4lb.HostModel
open Dcos.L4lb.Tests.Generators
open Dcos.L4lb.Tests.Invocations
open Dcos.L4lb.Tests.PropertyTest

let private parseBytes (bytes: byte[]) = NetConf.parse (ReadOnlyMemory bytes)
let private parseJson json = parseBytes (Json.render json)

let private cniCodes = set [ 1; 2; 3; 4; 5; 6; 7; 11 ]

/// An error is well formed when its code is in the spec's table, it says where (a JSON
/// path or a CNI_* variable) and what, and the text a user sees names that place.
let private wellFormed (e: CniError) =
    cniCodes.Contains e.Code
    && e.Message.Trim().Length > 0
    && (e.Field.StartsWith "$" || e.Field.StartsWith "CNI_")
    && e.Describe().StartsWith(e.Field + ": ")

/// Objects whose keys are the config's own field names with values of any shape: the
/// inputs most likely to reach deep into the validator.
let private configShaped: Gen<Json> =
    let keys =
        [ "cniVersion"; "name"; "type"; "delegate"; "spartan"; "minuteman"; "args"; "mtu"
          "capabilities"; "runtimeConfig"; "prevResult"; "enable"; "path"; "interface"
          "network"; "ipam"; "subnet"; "rangeStart"; "rangeEnd"; "services" ]

    let rec value depth =
        if depth = 0 then
            json
        else
            Gen.frequency
                [ 3, json
                  1, Gen.elements [ Json.String "1.0.0"; Json.String "198.51.100.0/24"; Json.String "/x"; Json.Bool false ]
                  2, Gen.listOf (Gen.zip (Gen.elements keys) (value (depth - 1))) |> Gen.resize 6 |> Gen.map Json.Object ]

    Gen.listOf (Gen.zip (Gen.elements keys) (value 2)) |> Gen.resize 10 |> Gen.map Json.Object

/// Mistakes on one field replace each other, and a mistake on a parent hides those below
/// it: up to three mistakes whose fields have nothing to do with each other.
let private unrelatedMistakes: Gen<Mistake list> =
    let related (a: Mistake) (b: Mistake) =
        List.allPairs a.Touches b.Touches |> List.exists (fun (p, q) -> p.StartsWith q || q.StartsWith p)

    Gen.shuffle mistakes
    |> Gen.map (fun shuffled ->
        shuffled
        |> Seq.fold (fun kept m -> if List.length kept < 3 && kept |> List.forall (related m >> not) then m :: kept else kept) [])

let private neverThrows (bytes: byte[]) =
    match parseBytes bytes with
    | Ok _ -> true
    | Error errors -> not errors.IsEmpty && List.forall wellFormed errors

/// This file's properties get 300 cases each.
let private property name body = propertyWith 300 name body

let parsing =
    testList
        "parsing"
        [ property "never throws on any byte sequence"
          <| Prop.forAll (ArbMap.defaults |> ArbMap.arbitrary<byte[]>) neverThrows

          property "rendering any JSON value and parsing it back gives the same value"
          <| Prop.forAll (Arb.fromGen json) (fun j -> Json.parse (ReadOnlyMemory(Json.render j)) = Ok j)

          property "never throws on any JSON value"
          <| Prop.forAll (Arb.fromGen json) (Json.render >> neverThrows)

          property "never throws on truncated or corrupted configs"
          <| Prop.forAll (Arb.fromGen (Gen.zip3 validConfig (Gen.choose (0, 10000)) (Gen.choose (0, 255)))) (fun (c, cut, b) ->
              let bytes = NetConf.render c
              let position = cut % (bytes.Length + 1)
              let truncated = bytes[.. position - 1]
              let corrupted = Array.copy bytes

              if position < bytes.Length then
                  corrupted[position] <- byte b

              neverThrows truncated && neverThrows corrupted)

          property "every error has a CNI code and names its field"
          <| Prop.forAll (Arb.fromGen configShaped) (fun j ->
              match parseJson j with
              | Ok _ -> true
              | Error errors -> List.forall wellFormed errors)

          property "a valid config renders and parses back to itself"
          <| Prop.forAll (Arb.fromGen validConfig) (fun c -> parseBytes (NetConf.render c) = Ok c)

          property "a config with both features disabled is always rejected"
          <| Prop.forAll (Arb.fromGen (Gen.zip validConfig (Gen.elements [ true; false ]))) (fun (c, asBool) ->
              let off = { c with Spartan = { c.Spartan with Enabled = false }; Minuteman = { c.Minuteman with Enabled = false } }
              let j = NetConf.toJson off
              let j = if asBool then j |> Json.withField "spartan" (Json.Bool false) |> Json.withField "minuteman" (Json.Bool false) else j

              match parseJson j with
              | Error errors -> errors |> List.exists (fun e -> e.Code = 7 && e.Field = "$.spartan.enable")
              | Ok _ -> false)

          property "each known mistake is reported alone, with its code and path"
          <| Prop.forAll (Arb.fromGen (Gen.zip mistakeBase (Gen.elements mistakes))) (fun (c, m) ->
              match parseJson (m.Apply (NetConf.toJson c)) with
              | Error [ e ] -> (e.Code = m.Code && e.Field = m.Path && wellFormed e) |> Prop.label $"{m.What}: got {e.Code} {e.Describe()}"
              | other -> false |> Prop.label $"{m.What}: got {other}")

          property "several mistakes on unrelated fields are all reported"
          <| Prop.forAll (Arb.fromGen (Gen.zip mistakeBase unrelatedMistakes)) (fun (c, ms) ->
              let applied = ms |> List.fold (fun j m -> m.Apply j) (NetConf.toJson c)

              match parseJson applied with
              | Error errors ->
                  let reported = errors |> List.map _.Field |> set
                  ms |> List.forall (fun m -> reported.Contains m.Path)
              | Ok _ -> false) ]

let private mergedKeys = set [ "name"; "cniVersion"; "args"; "runtimeConfig"; "prevResult" ]
let private commands = Gen.elements [ Add; Del; Check ]
let private delegated = validConfig |> Gen.filter (fun c -> c.Delegate.IsSome)

let private others (json: Json) =
    match json with
    | Json.Object ms -> Json.effectiveMembers ms |> List.filter (fun (k, _) -> not (mergedKeys.Contains k))
    | _ -> failwith "not an object"

let merge =
    testList
        "delegate merge"
        [ property "sets name and cniVersion from the parent and leaves every other field deep-equal"
          <| Prop.forAll (Arb.fromGen (Gen.zip delegated commands)) (fun (c, cmd) ->
              let merged = Delegate.config cmd c
              Json.tryField "name" merged = Some(Json.String c.Name)
              && Json.tryField "cniVersion" merged = Some(Json.String c.CniVersion)
              && Json.deepEqual (Json.Object(others merged)) (Json.Object(others c.Delegate.Value)))

          property "args come from the parent when it has them, and are never injected as null"
          <| Prop.forAll (Arb.fromGen (Gen.zip delegated commands)) (fun (c, cmd) ->
              let merged = Delegate.config cmd c

              match c.Args with
              | Some args -> Json.tryField "args" merged = Some args
              | None -> Json.tryField "args" merged = Json.tryField "args" c.Delegate.Value)

          property "runtimeConfig passes through; prevResult only for CHECK and DEL"
          <| Prop.forAll (Arb.fromGen (Gen.zip delegated commands)) (fun (c, cmd) ->
              let merged = Delegate.config cmd c
              let expect key (value: Json option) = Json.tryField key merged = (value |> Option.orElse (Json.tryField key c.Delegate.Value))
              let prev = if cmd = Add then None else c.PrevResult
              expect "runtimeConfig" c.RuntimeConfig && expect "prevResult" prev)

          property "is idempotent"
          <| Prop.forAll (Arb.fromGen (Gen.zip delegated commands)) (fun (c, cmd) ->
              let once = Delegate.config cmd c
              let twice = Delegate.config cmd { c with Delegate = Some once }
              once = twice)

          property "keeps numbers as written"
          <| Prop.forAll (Arb.fromGen (Gen.zip delegated numberText)) (fun (c, number) ->
              let c = { c with Delegate = Some(Json.withField "mtu" (Json.Number number) c.Delegate.Value) }
              let bytes = Json.render (Delegate.config Add c)
              Encoding.UTF8.GetString(bytes).Contains($"\"mtu\":{number}")) ]

/// The spec's container ID language, written independently of the validator: a regular
/// expression over ASCII classes (\z, since $ would also match before a final newline).
let private containerIdLanguage =
    RegularExpressions.Regex(@"\A[A-Za-z0-9][A-Za-z0-9_.\-]*\z", RegularExpressions.RegexOptions.CultureInvariant)

/// The interface-name language from the kernel's dev_valid_name and Go's unicode.IsSpace,
/// with white space as the explicit list of Unicode's White_Space code points.
let private whiteSpace =
    set (List.map char ([ 0x09..0x0D ] @ [ 0x20; 0x85; 0xA0; 0x1680 ] @ [ 0x2000..0x200A ] @ [ 0x2028; 0x2029; 0x202F; 0x205F; 0x3000 ]))

let private ifNameLanguage (s: string) =
    let bytes = Encoding.UTF8.GetBytes s
    bytes.Length >= 1 && bytes.Length <= 15 && s <> "." && s <> ".."
    && s |> Seq.forall (fun c -> c <> '/' && c <> ':' && not (whiteSpace.Contains c))

let names =
    testList
        "names"
        [ property "the container-ID validator accepts exactly the spec's language"
          <| Prop.forAll (Arb.fromGen nameCandidate) (fun s -> Invocation.isValidContainerId s = containerIdLanguage.IsMatch s)

          property "the ifname validator accepts exactly the kernel's language"
          <| Prop.forAll (Arb.fromGen nameCandidate) (fun s -> Invocation.isValidIfName s = ifNameLanguage s)

          property "generated names cover both answers"
          <| Prop.forAll (Arb.fromGen (Gen.listOfLength 200 nameCandidate)) (fun xs ->
              let ids = xs |> List.map Invocation.isValidContainerId |> set
              let ifs = xs |> List.map Invocation.isValidIfName |> set
              ids.Count = 2 && ifs.Count = 2)

          testCase "ifname length counts bytes, not characters" <| fun () ->
              Expect.isTrue (Invocation.isValidIfName (String('a', 15))) "15 ASCII bytes fit"
              Expect.isFalse (Invocation.isValidIfName (String('a', 16))) "16 bytes do not"
              Expect.isFalse (Invocation.isValidIfName (String('é', 8))) "8 two-byte characters are 16 bytes" ]
