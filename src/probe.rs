//! Probes: `tcp:[HOST:]PORT`, `http://HOST[:PORT]/PATH`, `file:PATH`, `exec:CMDLINE` (contract,
//! "Probes, and --check"). Parsing lives here; attempts run in rinit's event loop.
#![allow(dead_code)] // STUB: filled in by the probes work.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;

/// A probe's host: a literal address, or `localhost` (127.0.0.1, then ::1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Localhost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    Tcp {
        host: Host,
        port: u16,
    },
    Http {
        host: Host,
        port: u16,
        /// The `Host` header's value, as written in the URL.
        authority: String,
        path: String,
    },
    File(PathBuf),
    /// The command's words (run with `--user`'s identity, see `Config::user`).
    Exec(Vec<OsString>),
}

/// Parses a PROBE; the error is one line, suggesting `tcp:` or `exec:` where a name or https was
/// given.
pub fn parse(text: &str) -> Result<ProbeSpec, String> {
    Err(format!("probes are not supported yet: '{text}'"))
}

// ---------------------------------------------------------------------------------------------
// STAND-IN for the probes work's `Attempt` (same signatures); replaced when that work lands.
// `file:` and `exec:` only; network probes fail.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;

use crate::config::{ProcOptions, ProcSpec, Role};
use crate::reaper;
use crate::users::Identity;

/// One attempt of one probe.
pub struct Attempt {
    result: Option<bool>,
    deadline: Instant,
    pid: Option<i32>,
}

impl Attempt {
    pub fn start(spec: &ProbeSpec, timeout: Duration, exec_user: Option<&Identity>) -> Attempt {
        let deadline = Instant::now() + timeout;
        let mut a = Attempt {
            result: None,
            deadline,
            pid: None,
        };
        match spec {
            ProbeSpec::File(p) => a.result = Some(p.symlink_metadata().is_ok()),
            ProbeSpec::Exec(argv) => {
                let ps = ProcSpec {
                    name: "probe".into(),
                    argv: argv.clone(),
                    role: Role::Probe,
                    opts: ProcOptions {
                        user: exec_user.cloned(),
                        ..ProcOptions::default()
                    },
                };
                match crate::spawn::spawn(&ps, &crate::spawn::Options::default()) {
                    Ok(s) => a.pid = Some(s.pid),
                    Err(_) => a.result = Some(false),
                }
            }
            _ => a.result = Some(false),
        }
        a
    }

    pub fn done(&self) -> Option<bool> {
        self.result
    }

    pub fn interest(&self) -> Option<(BorrowedFd<'_>, PollFlags)> {
        None
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn on_ready(&mut self) {}

    pub fn exec_pid(&self) -> Option<i32> {
        self.pid.filter(|_| self.result.is_none())
    }

    pub fn on_exit(&mut self, status: reaper::Status) {
        self.result = Some(status.success());
    }

    pub fn on_deadline(&mut self, _now: Instant) {
        if self.result.is_none() {
            if let Some(pid) = self.pid {
                crate::signals::send(-pid, libc::SIGKILL);
            }
            self.result = Some(false);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.result.is_none() {
            if let Some(pid) = self.pid {
                crate::signals::send(-pid, libc::SIGKILL);
            }
        }
    }
}
