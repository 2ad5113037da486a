// Does the direct writer for "plain" values give the bytes Utf8JsonWriter (relaxed) gives?
open System
open System.Buffers
open System.Text.Encodings.Web
open System.Text.Json

[<RequireQualifiedAccess>]
type Json =
    | Null
    | Bool of bool
    | Number of string
    | String of string
    | Array of Json list
    | Object of (string * Json) list

let writerOptions = JsonWriterOptions(Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping)
let rec write (w: Utf8JsonWriter) json =
    match json with
    | Json.Null -> w.WriteNullValue()
    | Json.Bool b -> w.WriteBooleanValue b
    | Json.Number text -> w.WriteRawValue(text, skipInputValidation = true)
    | Json.String s -> w.WriteStringValue s
    | Json.Array items -> w.WriteStartArray(); (for i in items do write w i); w.WriteEndArray()
    | Json.Object members -> w.WriteStartObject(); (for (k, v) in members do w.WritePropertyName k; write w v); w.WriteEndObject()
let renderOld json =
    let buffer = ArrayBufferWriter<byte>(512)
    do
        use w = new Utf8JsonWriter(buffer, writerOptions)
        write w json
        w.Flush()
    buffer.WrittenSpan.ToArray()

let plain (s: string) =
    s |> Seq.forall (fun c -> c >= ' ' && c < '\u007f' && c <> '"' && c <> '\\' && c <> '<' && c <> '>' && c <> '&' && c <> '\'' && c <> '+' && c <> '`')
let rec allPlain json =
    match json with
    | Json.String s -> plain s
    | Json.Array items -> List.forall allPlain items
    | Json.Object members -> List.forall (fun (k, v) -> plain k && allPlain v) members
    | _ -> true
let rec writePlain (sb: Text.StringBuilder) json =
    match json with
    | Json.Null -> sb.Append("null") |> ignore
    | Json.Bool b -> sb.Append(if b then "true" else "false") |> ignore
    | Json.Number text -> sb.Append(text) |> ignore
    | Json.String s -> sb.Append('"').Append(s).Append('"') |> ignore
    | Json.Array items ->
        sb.Append('[') |> ignore
        items |> List.iteri (fun i item -> (if i > 0 then sb.Append(',') |> ignore); writePlain sb item)
        sb.Append(']') |> ignore
    | Json.Object members ->
        sb.Append('{') |> ignore
        members |> List.iteri (fun i (k, v) -> (if i > 0 then sb.Append(',') |> ignore); sb.Append('"').Append(k).Append("\":") |> ignore; writePlain sb v)
        sb.Append('}') |> ignore
let renderNew json =
    if allPlain json then
        let sb = Text.StringBuilder()
        writePlain sb json
        Text.Encoding.UTF8.GetBytes(sb.ToString())
    else renderOld json

let rnd = Random(42)
let alphabet = "abcXYZ019 -_./:=<>&'+`\"\\\u007f\u0001\té€😀"
let randString () =
    let n = rnd.Next(0, 8)
    String(Array.init n (fun _ -> alphabet[rnd.Next alphabet.Length]))
let plainString () =
    let a = "abcXYZ019 -_./:=,;!?#$%()*@[]^{|}~"
    String(Array.init (rnd.Next(0, 10)) (fun _ -> a[rnd.Next a.Length]))
let rec gen depth (str: unit -> string) =
    match rnd.Next(if depth > 3 then 4 else 6) with
    | 0 -> Json.Null
    | 1 -> Json.Bool(rnd.Next 2 = 0)
    | 2 -> Json.Number([| "0"; "1.5"; "-3e10"; "12345678901234567890" |][rnd.Next 4])
    | 3 -> Json.String(str ())
    | 4 -> Json.Array [ for _ in 1 .. rnd.Next 4 -> gen (depth + 1) str ]
    | _ -> Json.Object [ for _ in 1 .. rnd.Next 4 -> str (), gen (depth + 1) str ]
let mutable plainCount, checkedCount, bad = 0, 0, 0
for i in 1 .. 20000 do
    let j = gen 0 (if i % 2 = 0 then plainString else randString)
    if allPlain j then plainCount <- plainCount + 1
    checkedCount <- checkedCount + 1
    if renderOld j <> renderNew j then
        bad <- bad + 1
        if bad < 5 then printfn "DIFF: %s vs %s" (Text.Encoding.UTF8.GetString(renderOld j)) (Text.Encoding.UTF8.GetString(renderNew j))
printfn "%d values (%d plain): %d differ" checkedCount plainCount bad
// every single ASCII character as a string, key and value
for c in 0 .. 127 do
    let s = string (char c)
    let j = Json.Object [ s, Json.String s ]
    if renderOld j <> renderNew j then printfn "char %d differs" c
printfn "single characters checked"
