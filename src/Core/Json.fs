namespace Dcos.L4lb

open System
open System.Text.Json

/// A JSON value as plain, comparable data.
/// Numbers keep the text they were written with: a delegate's config must reach the
/// delegate with its numbers as the operator wrote them (1.0 stays 1.0, 1e3 stays 1e3).
/// Objects keep their members in order, repeated keys included; lookups take the last
/// one, as Go's encoding/json (used by every reference plugin) does.
[<RequireQualifiedAccess>]
type Json =
    | Null
    | Bool of value: bool
    | Number of text: string
    | String of value: string
    | Array of items: Json list
    | Object of fields: (string * Json) list

[<RequireQualifiedAccess>]
module Json =
    // Go's decoder has no depth limit worth reaching; 64 is System.Text.Json's default and
    // far beyond any real network configuration.
    let private documentOptions =
        JsonDocumentOptions(MaxDepth = 64, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow)

    let rec private ofElement (e: JsonElement) : Json =
        match e.ValueKind with
        | JsonValueKind.Object -> Json.Object [ for p in e.EnumerateObject() -> p.Name, ofElement p.Value ]
        | JsonValueKind.Array -> Json.Array [ for x in e.EnumerateArray() -> ofElement x ]
        | JsonValueKind.String -> Json.String(e.GetString() |> Option.ofObj |> Option.defaultValue "")
        | JsonValueKind.Number -> Json.Number(e.GetRawText())
        | JsonValueKind.True -> Json.Bool true
        | JsonValueKind.False -> Json.Bool false
        | _ -> Json.Null

    /// Parses UTF-8 JSON text. Never throws: any failure (bad syntax, bad UTF-8, an
    /// escaped lone surrogate, too deep) is the returned message.
    let parse (utf8: ReadOnlyMemory<byte>) : Result<Json, string> =
        try
            use doc = JsonDocument.Parse(utf8, documentOptions)
            Ok(ofElement doc.RootElement)
        with e ->
            Error e.Message

    // Our own writer, not Utf8JsonWriter: its first string builds System.Text.Encodings.Web's
    // encoders, about a million instructions at every start of the plugin (measured
    // when this writer replaced it). RFC 8259 needs only '"', '\\' and control characters escaped;
    // everything else, non-ASCII included, is written as UTF-8 text.
    let private writeString (sb: Text.StringBuilder) (s: string) =
        sb.Append '"' |> ignore

        for c in s do
            match c with
            | '"' -> sb.Append "\\\"" |> ignore
            | '\\' -> sb.Append "\\\\" |> ignore
            | '\n' -> sb.Append "\\n" |> ignore
            | '\r' -> sb.Append "\\r" |> ignore
            | '\t' -> sb.Append "\\t" |> ignore
            | c when c < ' ' -> sb.Append("\\u").Append((int c).ToString("x4")) |> ignore
            | c -> sb.Append c |> ignore

        sb.Append '"' |> ignore

    let rec private write (sb: Text.StringBuilder) json =
        match json with
        | Json.Null -> sb.Append "null" |> ignore
        | Json.Bool b -> sb.Append(if b then "true" else "false") |> ignore
        | Json.Number text -> sb.Append text |> ignore
        | Json.String s -> writeString sb s
        | Json.Array items ->
            sb.Append '[' |> ignore

            items
            |> List.iteri (fun i item ->
                if i > 0 then
                    sb.Append ',' |> ignore

                write sb item)

            sb.Append ']' |> ignore
        | Json.Object members ->
            sb.Append '{' |> ignore

            members
            |> List.iteri (fun i (key, value) ->
                if i > 0 then
                    sb.Append ',' |> ignore

                writeString sb key
                sb.Append ':' |> ignore
                write sb value)

            sb.Append '}' |> ignore

    /// Compact UTF-8 JSON text.
    let render (json: Json) : byte[] =
        let sb = Text.StringBuilder(256)
        write sb json
        Text.Encoding.UTF8.GetBytes(sb.ToString())

    let ofInt (n: int) = Json.Number(string n)

    let tryField (key: string) (json: Json) : Json option =
        match json with
        | Json.Object members -> members |> List.tryFindBack (fun (k, _) -> k = key) |> Option.map snd
        | _ -> None

    /// Sets a member of an object: the first occurrence is replaced in place and any
    /// later repeats dropped, so the result has exactly one such key.
    let withField (key: string) (value: Json) (json: Json) : Json =
        match json with
        | Json.Object members ->
            if members |> List.exists (fun (k, _) -> k = key) then
                let rec go seen rest =
                    match rest with
                    | [] -> []
                    | (k, _) :: tail when k = key -> if seen then go true tail else (k, value) :: go true tail
                    | m :: tail -> m :: go seen tail

                Json.Object(go false members)
            else
                Json.Object(members @ [ key, value ])
        | other -> other

    /// The object's members as a reader sees them: one per key (the last), sorted by key.
    let effectiveMembers (members: (string * Json) list) =
        members
        |> List.rev
        |> List.distinctBy fst
        |> List.sortWith (fun (a, _) (b, _) -> String.CompareOrdinal(a, b))

    /// Equality as a JSON reader sees it: member order and shadowed repeats do not matter;
    /// numbers compare as written.
    let rec deepEqual (a: Json) (b: Json) : bool =
        match a, b with
        | Json.Object xs, Json.Object ys ->
            let xs, ys = effectiveMembers xs, effectiveMembers ys

            List.length xs = List.length ys
            && List.forall2 (fun (kx, vx) (ky, vy) -> kx = ky && deepEqual vx vy) xs ys
        | Json.Array xs, Json.Array ys -> List.length xs = List.length ys && List.forall2 deepEqual xs ys
        | _ -> a = b

    let kindName (json: Json) =
        match json with
        | Json.Null -> "null"
        | Json.Bool _ -> "a boolean"
        | Json.Number _ -> "a number"
        | Json.String _ -> "a string"
        | Json.Array _ -> "an array"
        | Json.Object _ -> "an object"
