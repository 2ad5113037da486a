namespace Dcos.L4lb

/// What a command prints: its result, or its problems as one CNI error.
module Replies =
    let ok (stdout: byte[]) = { Stdout = stdout; Stderr = ""; ExitCode = 0 }

    let errorReply (cniVersion: string) (errors: CniError list) =
        { Stdout = Json.render (CniError.toJson cniVersion errors)
          Stderr = ""
          ExitCode = 1 }

    /// Success, or every problem, the first as the headline.
    let reply (conf: NetConf) (errors: CniError list) =
        match errors with
        | [] -> ok [||]
        | _ -> errorReply conf.CniVersion errors
