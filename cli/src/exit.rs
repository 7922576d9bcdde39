//! Errors → one printed line and a process exit code, after Micro v3's `CliError` + `cmd.Run`.
//!
//! Exit 1 errors (Micro's plain errors) print to stdout with the first letter upper-cased; the
//! others (Micro's "exit coders": 2, 4, 127) print to stderr.

use anyhow::Error;

use crate::client::RpcError;

/// Exit code of clap usage errors (clap's own default).
pub const USAGE: i32 = 2;

/// Maps an error to Micro's documented exit code.
///
/// | error | code |
/// |---|---|
/// | local errors (bad args, env file, unknown env), not found, timeout, rejected, 403, 429 | 1 |
/// | unauthenticated | 2 |
/// | no server reachable / all `Unavailable` | 4 |
/// | any other server error | 127 |
pub fn exit_code(err: &Error) -> i32 {
    match rpc_error(err) {
        None => 1,
        Some(
            RpcError::NotFound
            | RpcError::Timeout
            | RpcError::Rejected(_)
            | RpcError::Forbidden(_)
            | RpcError::Throttled(_),
        ) => 1,
        Some(RpcError::Unauthorized) => 2,
        Some(RpcError::Connect { .. } | RpcError::Unavailable { .. }) => 4,
        Some(RpcError::Server(_)) => 127,
    }
}

/// Returns the one line to print: an RPC error's own text (it is already user-facing), else the
/// whole context chain; first letter upper-cased, newlines flattened.
pub fn message(err: &Error) -> String {
    let text = match rpc_error(err) {
        Some(rpc) => rpc.to_string(),
        None => format!("{err:#}"),
    };
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = flat.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Unknown error".to_owned(),
    }
}

/// Prints the error where Micro would: stdout for exit code 1, stderr otherwise.
pub fn report(err: &Error) {
    let line = message(err);
    if exit_code(err) == 1 {
        crate::output::print(format!("{line}\n"));
    } else {
        eprintln!("{line}");
    }
}

/// Finds an [`RpcError`] anywhere in the chain.
fn rpc_error(err: &Error) -> Option<&RpcError> {
    err.chain().find_map(|e| e.downcast_ref::<RpcError>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::{anyhow, Context};

    #[test]
    fn codes_follow_micro() {
        let connect = RpcError::Connect {
            addresses: "a:1".into(),
        };
        assert_eq!(exit_code(&connect.clone().into()), 4);
        assert_eq!(
            exit_code(
                &RpcError::Unavailable {
                    address: "a".into(),
                    detail: "x".into()
                }
                .into()
            ),
            4
        );
        assert_eq!(exit_code(&RpcError::Unauthorized.into()), 2);
        assert_eq!(exit_code(&RpcError::NotFound.into()), 1);
        assert_eq!(exit_code(&RpcError::Timeout.into()), 1);
        assert_eq!(exit_code(&RpcError::Rejected("x".into()).into()), 1);
        assert_eq!(exit_code(&RpcError::Forbidden("x".into()).into()), 1);
        assert_eq!(exit_code(&RpcError::Throttled("x".into()).into()), 1);
        assert_eq!(exit_code(&RpcError::Server("x".into()).into()), 127);
        assert_eq!(exit_code(&anyhow!("Key arg is required")), 1);
        // Context on top does not hide the classification.
        let wrapped = Err::<(), _>(connect).context("reading key").unwrap_err();
        assert_eq!(exit_code(&wrapped), 4);
        assert_eq!(
            message(&wrapped),
            "Failed to connect to micro server at a:1"
        );
    }

    #[test]
    fn messages_are_one_line_and_capitalised() {
        assert_eq!(message(&RpcError::NotFound.into()), "Not found");
        assert_eq!(message(&anyhow!("key is required")), "Key is required");
        let chained = Err::<(), _>(anyhow!("permission denied"))
            .context("failed to write /x")
            .unwrap_err();
        assert_eq!(message(&chained), "Failed to write /x: permission denied");
        assert_eq!(message(&anyhow!("two\nlines")), "Two lines");
        assert_eq!(message(&anyhow!("")), "Unknown error");
    }
}
