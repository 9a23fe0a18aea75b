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
