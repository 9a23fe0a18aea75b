//! Users and groups, read from the container's /etc/passwd and /etc/group (never NSS: the binary
//! is static).
#![allow(dead_code)] // STUB: filled in by the users work.

use std::path::PathBuf;

/// Who a process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (from /etc/group; empty when the user has no entry).
    pub groups: Vec<u32>,
    /// From the passwd entry, when there is one: HOME and USER are set from these.
    pub name: Option<String>,
    pub home: Option<PathBuf>,
}

/// Resolves `USER[:GROUP]` or `UID[:GID]` (contract, "Users").
pub fn resolve(spec: &str) -> Result<Identity, String> {
    Err(format!("users are not supported yet: '{spec}'"))
}
