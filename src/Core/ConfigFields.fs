namespace Dcos.L4lb

/// Reading one field of a JSON object, with the JSON path of every error.
module internal Field =
    let error path message = Error [ CniError.invalidConfig path message ]

    let wrongType path expected (actual: Json) =
        error path ("expected " + expected + ", found " + Json.kindName actual)

    /// A member that is absent or null is "not given", as for Go's decoder.
    let tryGet key (obj: Json) =
        match Json.tryField key obj with
        | None
        | Some Json.Null -> None
        | Some value -> Some value

    let string path key obj (fallback: string option) =
        match tryGet key obj, fallback with
        | Some(Json.String s), _ -> Ok s
        | Some other, _ -> wrongType path "a string" other
        | None, Some value -> Ok value
        | None, None -> error path "is required"

    let bool path key obj (fallback: bool) =
        match tryGet key obj with
        | Some(Json.Bool b) -> Ok b
        | Some other -> wrongType path "true or false" other
        | None -> Ok fallback

    let optionalObject path key obj =
        match tryGet key obj with
        | Some(Json.Object _ as o) -> Ok(Some o)
        | Some other -> wrongType path "an object" other
        | None -> Ok None

    let check (predicate: 'a -> bool) path (message: 'a -> string) (result: Result<'a, CniError list>) =
        match result with
        | Ok value when not (predicate value) -> error path (message value)
        | other -> other

module internal Names =
    /// A plugin type names a binary looked up in CNI_PATH: it must not be a path.
    let isPlainFileName (name: string) =
        name.Length > 0 && name <> "." && name <> ".." && not (name.Contains '/') && not (name.Contains '\000')

    let plainFileNameExpected = "expected a plugin binary name: not empty, no '/', not \".\" or \"..\""

    /// CNI 1.0 gives network names the container ID's alphabet (libcni checks it).
    let isValidNetworkName = Invocation.isValidContainerId

    let networkNameExpected =
        "expected an ASCII letter or digit followed by letters, digits, '_', '.' or '-'"

