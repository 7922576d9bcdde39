//! Binary-driven checks of the `micro` CLI that need no running server: help, Micro's messages
//! for missing/unknown commands, environments in a temp `-c` file, dial failures, and
//! `micro server` refusing a bad flag before touching its data directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch home and config file for one test.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `micro -c <config> args…` with a clean environment.
    fn micro(&self, args: &[&str]) -> Output {
        let mut all = vec!["-c".to_owned(), self.config().display().to_string()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        self.micro_raw(&all)
    }

    /// Runs `micro args…` with HOME in the sandbox and no MICRO_* variables.
    fn micro_raw<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
        for (key, _) in std::env::vars() {
            if key.starts_with("MICRO_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", self.dir.path())
            .args(args)
            .output()
            .expect("run micro")
    }
}

/// stdout + stderr, as Micro's tests read them.
fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_fails_with(out: &Output, text: &str) {
    assert!(!out.status.success(), "expected failure, got {out:?}");
    assert!(
        combined(out).contains(text),
        "expected {text:?} in {:?}",
        combined(out)
    );
}

#[test]
fn help_exits_zero_everywhere() {
    let sb = Sandbox::new();
    let cases: &[&[&str]] = &[
        &["--help"],
        &["help"],
        &["server", "--help"],
        &["env", "--help"],
        &["env", "add", "--help"],
        &["store", "--help"],
        &["store", "read", "--help"],
        &["store", "write", "--help"],
        &["store", "list", "--help"],
        &["store", "delete", "--help"],
        &["store", "databases", "--help"],
        &["store", "tables", "--help"],
        &["cluster", "--help"],
        &["cluster", "members", "--help"],
        &["auth", "--help"],
        &["auth", "list", "--help"],
        &["auth", "list", "rules", "--help"],
        &["auth", "list", "accounts", "--help"],
        &["auth", "create", "--help"],
        &["auth", "create", "rule", "--help"],
        &["auth", "create", "account", "--help"],
        &["auth", "delete", "--help"],
        &["auth", "delete", "rule", "--help"],
        &["auth", "delete", "account", "--help"],
        &["login", "--help"],
        &["logout", "--help"],
        &["user", "--help"],
        &["user", "token", "--help"],
        &["user", "namespace", "--help"],
        &["user", "namespace", "set", "--help"],
        &["user", "set", "--help"],
        &["user", "set", "password", "--help"],
        &["user", "config", "--help"],
        &["user", "config", "get", "--help"],
    ];
    for args in cases {
        let out = sb.micro(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let text = combined(&out);
        let name = match args {
            ["--help"] | ["help"] => "micro".to_owned(),
            _ => format!("micro {}", args[..args.len() - 1].join(" ")),
        };
        assert!(text.starts_with(&format!("{name} - ")), "{args:?}: {text}");
    }
}

#[test]
fn missing_and_unknown_commands() {
    let sb = Sandbox::new();
    let out = sb.micro(&[]);
    assert_fails_with(
        &out,
        "No command provided to micro. Please refer to 'micro --help'",
    );
    assert_eq!(out.status.code(), Some(1));
    let out = sb.micro(&["asdasd"]);
    assert_fails_with(
        &out,
        "Unrecognized micro command: asdasd. Please refer to 'micro --help'",
    );
    assert_eq!(out.status.code(), Some(1));
    let out = sb.micro(&["store", "asdasd"]);
    assert_fails_with(&out, "Unrecognized subcommand for micro store: asdasd");
    let out = sb.micro(&["store", "read", "--bogus"]);
    assert_fails_with(&out, "--bogus");
    assert_eq!(
        combined(&out).trim_end().lines().count(),
        1,
        "{}",
        combined(&out)
    );
}

#[test]
fn environments_round_trip() {
    let sb = Sandbox::new();
    let out = sb.micro(&["env", "add", "foo", "127.0.0.1:1"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(combined(&out), "", "env add must print nothing");

    let listing = combined(&sb.micro(&["env"]));
    assert!(listing.contains("* local"), "{listing}");
    assert!(listing
        .lines()
        .any(|l| l.starts_with("  foo") && l.contains("127.0.0.1:1")));
    assert_eq!(combined(&sb.micro(&["env", "get"])), "local\n");

    assert_eq!(combined(&sb.micro(&["env", "set", "foo"])), "");
    assert!(combined(&sb.micro(&["env"])).contains("* foo"));
    assert_fails_with(
        &sb.micro(&["env", "del", "foo"]),
        "Environment 'foo' is your current environment. Before deleting it, please change your \
         current environment.",
    );
    assert_fails_with(
        &sb.micro(&["env", "set", "nope"]),
        "Environment 'nope' does not exist",
    );
    assert_fails_with(
        &sb.micro(&["env", "del", "nope"]),
        "Environment 'nope' does not exist",
    );
    assert_fails_with(
        &sb.micro(&["-e", "nope", "store", "read", "x"]),
        "Env \"nope\" not found. See `micro env` for available environments.",
    );
    assert_eq!(combined(&sb.micro(&["env", "set", "local"])), "");
    assert_eq!(combined(&sb.micro(&["env", "del", "foo"])), "");
    assert!(!combined(&sb.micro(&["env"])).contains("foo"));
}

#[test]
fn missing_config_file_is_created() {
    let sb = Sandbox::new();
    let nested = sb.path("deep/dir/config.json");
    let out = sb.micro_raw(&["-c", nested.to_str().unwrap(), "env", "get"]);
    assert_eq!(combined(&out), "local\n");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&nested).unwrap()).unwrap();
    assert_eq!(doc["env"], "local");
    // Without -c, the file lives under ~/.micro.
    assert_eq!(combined(&sb.micro_raw(&["env", "get"])), "local\n");
    assert!(sb.path(".micro/config.json").exists());
}

#[test]
fn unreachable_server_fails_to_connect() {
    let sb = Sandbox::new();
    assert!(sb
        .micro(&["env", "add", "foo", "127.0.0.1:1"])
        .status
        .success());
    let out = sb.micro(&["-e", "foo", "store", "read", "x"]);
    assert_fails_with(&out, "Failed to connect to micro server at 127.0.0.1:1");
    assert_eq!(out.status.code(), Some(4));

    assert!(sb
        .micro(&["env", "add", "multi", "127.0.0.1:1,127.0.0.1:2"])
        .status
        .success());
    let out = sb.micro(&["-e", "multi", "cluster", "members"]);
    assert_fails_with(
        &out,
        "Failed to connect to micro server at 127.0.0.1:1,127.0.0.1:2",
    );
}

#[test]
fn local_argument_errors_come_before_dialling() {
    let sb = Sandbox::new();
    assert!(sb
        .micro(&["env", "add", "foo", "127.0.0.1:1"])
        .status
        .success());
    assert_fails_with(
        &sb.micro(&["-e", "foo", "store", "read"]),
        "Key arg is required",
    );
    assert_fails_with(
        &sb.micro(&["-e", "foo", "store", "write", "k"]),
        "Key and Value args are required",
    );
    assert_fails_with(
        &sb.micro(&["-e", "foo", "store", "delete"]),
        "Key is required",
    );
}

#[test]
fn server_rejects_a_bad_address_before_writing_anything() {
    let sb = Sandbox::new();
    let data = sb.path("data");
    let out = sb.micro_raw(&[
        Path::new("server"),
        Path::new("--data-dir"),
        &data,
        Path::new("--api-address"),
        Path::new("nonsense"),
    ]);
    assert!(!out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim_end().lines().count(),
        1,
        "one-line error expected: {stdout:?}"
    );
    assert!(stdout.contains("nonsense"), "{stdout}");
    assert!(!data.exists(), "data dir was created");

    let out = sb.micro_raw(&["server", "extra"]);
    assert_fails_with(&out, "server takes no arguments, got: extra");
}
