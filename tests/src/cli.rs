//! [`Cli`]: runs the `micro` binary as a client with its own config file and home dir.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::binary::micro_bin;

/// What one CLI invocation produced.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOutput {
    /// stdout and stderr together, as Micro's tests read them.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A CLI user with a private `~` and `-c` config file.
pub struct Cli {
    home: TempDir,
}

impl Cli {
    /// A fresh user.
    pub fn new() -> anyhow::Result<Cli> {
        Ok(Cli {
            home: tempfile::tempdir()?,
        })
    }

    /// The config file passed with `-c`.
    pub fn config_file(&self) -> PathBuf {
        self.home.path().join("config.json")
    }

    /// Runs `micro -c CONFIG ARGS…`.
    pub fn run(&self, args: &[&str]) -> CliOutput {
        let out = Command::new(micro_bin())
            .arg("-c")
            .arg(self.config_file())
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("MICRO_ENV")
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) => CliOutput {
                code: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Err(e) => CliOutput {
                code: -1,
                stdout: String::new(),
                stderr: e.to_string(),
            },
        }
    }

    /// Starts `micro -c CONFIG ARGS…` in the background with stdout and stderr piped, for
    /// commands that run until stopped (`broker subscribe`). Kill the child when done.
    pub fn spawn(&self, args: &[&str]) -> std::io::Result<std::process::Child> {
        Command::new(micro_bin())
            .arg("-c")
            .arg(self.config_file())
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("MICRO_ENV")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }

    /// Adds environment `name` for `proxies` (comma-separated) and makes it current.
    pub fn use_env(&self, name: &str, proxies: &str) -> anyhow::Result<()> {
        for args in [vec!["env", "add", name, proxies], vec!["env", "set", name]] {
            let o = self.run(&args);
            if o.code != 0 {
                anyhow::bail!("micro {args:?} failed: {}", o.combined());
            }
        }
        Ok(())
    }

    /// `micro login` as `user`/`password` in the current env.
    pub fn login(&self, user: &str, password: &str) -> anyhow::Result<()> {
        let o = self.run(&["login", "--username", user, "--password", password]);
        if o.code != 0 || o.stdout != "Successfully logged in.\n" {
            anyhow::bail!("micro login as {user} failed: {}", o.combined());
        }
        Ok(())
    }

    /// [`Cli::use_env`], then `micro login` as the default admin: what a user does before
    /// store or config commands, which need an admin.
    pub fn use_env_as_admin(&self, name: &str, proxies: &str) -> anyhow::Result<()> {
        self.use_env(name, proxies)?;
        self.login(crate::auth::ADMIN.0, crate::auth::ADMIN.1)
    }
}
