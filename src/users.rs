//! Users and groups, read from the container's /etc/passwd and /etc/group (never NSS: the binary
//! is static). Names are resolved once, at start-up (contract, "Users").

use std::collections::HashMap;
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

/// Resolves `USER[:GROUP]` or `UID[:GID]` against the container's files and rinit's own identity.
/// `Ok(None)`: no identity change (rinit is not root and the target is rinit itself). Reads the
/// files on every call: use [`Users`] to resolve many.
#[allow(dead_code)] // For callers outside the start-up (cli uses `Users`).
pub fn resolve(spec: &str) -> Result<Option<Identity>, String> {
    Users::load().resolve(spec)
}

/// The container's user and group files, read once, and what they resolved to.
pub struct Users {
    passwd: String,
    group: String,
    euid: u32,
    egid: u32,
    cache: HashMap<String, Result<Option<Identity>, String>>,
}

impl Users {
    /// Reads /etc/passwd and /etc/group (a missing or unreadable file is taken as empty: then only
    /// numeric ids resolve).
    pub fn load() -> Users {
        let read = |p: &str| std::fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned());
        Users {
            passwd: read("/etc/passwd").unwrap_or_default(),
            group: read("/etc/group").unwrap_or_default(),
            // SAFETY: geteuid and getegid cannot fail.
            euid: unsafe { libc::geteuid() },
            egid: unsafe { libc::getegid() },
            cache: HashMap::new(),
        }
    }

    pub fn resolve(&mut self, spec: &str) -> Result<Option<Identity>, String> {
        if let Some(r) = self.cache.get(spec) {
            return r.clone();
        }
        let r = resolve_in(spec, &self.passwd, &self.group, self.euid, self.egid);
        self.cache.insert(spec.to_string(), r.clone());
        r
    }
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0].is_empty() || f[0].starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

/// `(name, gid, members)` of every well-formed /etc/group line.
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, &str)> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || f[0].is_empty() || f[0].starts_with('#') {
            return None;
        }
        Some((f[0], f[2].parse().ok()?, f[3]))
    })
}

/// A numeric id: decimal, and not -1 (`(uid_t)-1` means "no change" to the kernel).
fn numeric_id(text: &str) -> Option<Result<u32, String>> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match text.parse::<u32>() {
        Ok(n) if n != u32::MAX => Ok(n),
        _ => Err(format!("id {text} is out of range")),
    })
}

/// The testable core of [`resolve`]: `passwd` and `group` are the files' texts, `euid`/`egid`
/// rinit's own identity.
pub fn resolve_in(
    spec: &str,
    passwd: &str,
    group: &str,
    euid: u32,
    egid: u32,
) -> Result<Option<Identity>, String> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() {
        return Err(format!(
            "'{spec}' names no user (write USER[:GROUP] or UID[:GID])"
        ));
    }
    if grp == Some("") {
        return Err(format!("'{spec}' names no group after ':'"));
    }
    let entry = match numeric_id(user) {
        Some(uid) => {
            let uid = uid?;
            (uid, passwd_entries(passwd).find(|e| e.uid == uid))
        }
        None => match passwd_entries(passwd).find(|e| e.name == user) {
            Some(e) => (e.uid, Some(e)),
            None => return Err(format!("unknown user '{user}' (not in /etc/passwd)")),
        },
    };
    let (uid, entry) = entry;
    let gid = match grp {
        None => entry.as_ref().map_or(0, |e| e.gid),
        Some(g) => match numeric_id(g) {
            Some(gid) => gid?,
            None => match group_entries(group).find(|(name, _, _)| *name == g) {
                Some((_, gid, _)) => gid,
                None => return Err(format!("unknown group '{g}' (not in /etc/group)")),
            },
        },
    };
    let mut groups = Vec::new();
    if let Some(e) = &entry {
        groups.push(gid);
        for (_, g, members) in group_entries(group) {
            if members.split(',').any(|m| m.trim() == e.name) && !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    if euid != 0 {
        if uid == euid && gid == egid {
            return Ok(None);
        }
        return Err(format!(
            "cannot run as uid {uid} gid {gid} ('{spec}'): rinit runs as uid {euid} gid {egid}, \
             not root"
        ));
    }
    Ok(Some(Identity {
        uid,
        gid,
        groups,
        name: entry.as_ref().map(|e| e.name.to_string()),
        home: entry
            .as_ref()
            .filter(|e| !e.home.is_empty())
            .map(|e| PathBuf::from(e.home)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          # comment\n\
                          broken line\n\
                          postgres:x:70:70:PostgreSQL:/var/lib/postgresql:/bin/sh\n\
                          www:x:33:33::/var/www:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\n\
                         postgres:x:70:\n\
                         www:x:33:\n\
                         ssl:x:101:postgres,www\n\
                         audio:x:29:www\n";

    fn r(spec: &str) -> Result<Option<Identity>, String> {
        resolve_in(spec, PASSWD, GROUP, 0, 0)
    }

    #[test]
    fn names() {
        let id = r("postgres").unwrap().unwrap();
        assert_eq!((id.uid, id.gid), (70, 70));
        assert_eq!(id.groups, [70, 101]);
        assert_eq!(id.name.as_deref(), Some("postgres"));
        assert_eq!(id.home, Some(PathBuf::from("/var/lib/postgresql")));
        let id = r("www:ssl").unwrap().unwrap();
        assert_eq!((id.uid, id.gid), (33, 101));
        assert_eq!(id.groups, [101, 29]);
        let id = r("www:5").unwrap().unwrap();
        assert_eq!(id.gid, 5);
    }

    #[test]
    fn numbers_need_no_entry() {
        let id = r("1000").unwrap().unwrap();
        assert_eq!((id.uid, id.gid), (1000, 0));
        assert!(id.groups.is_empty() && id.name.is_none() && id.home.is_none());
        let id = r("1000:1000").unwrap().unwrap();
        assert_eq!((id.uid, id.gid), (1000, 1000));
        // A numeric uid with an entry takes the entry's group, name and home.
        let id = r("70").unwrap().unwrap();
        assert_eq!((id.uid, id.gid), (70, 70));
        assert_eq!(id.name.as_deref(), Some("postgres"));
        let id = r("70:ssl").unwrap().unwrap();
        assert_eq!(id.gid, 101);
    }

    #[test]
    fn errors() {
        assert!(r("nobody").unwrap_err().contains("unknown user 'nobody'"));
        assert!(r("www:nogroup")
            .unwrap_err()
            .contains("unknown group 'nogroup'"));
        assert!(r("").is_err());
        assert!(r(":0").is_err());
        assert!(r("0:").is_err());
        assert!(r("4294967295").is_err());
        assert!(r("99999999999").is_err());
        assert!(resolve_in("root", "", "", 0, 0).is_err());
    }

    #[test]
    fn not_root() {
        assert_eq!(resolve_in("www", PASSWD, GROUP, 33, 33), Ok(None));
        assert_eq!(resolve_in("33:33", PASSWD, GROUP, 33, 33), Ok(None));
        let e = resolve_in("postgres", PASSWD, GROUP, 33, 33).unwrap_err();
        assert!(
            e.contains("uid 70 gid 70") && e.contains("uid 33 gid 33"),
            "{e}"
        );
        assert!(resolve_in("www:ssl", PASSWD, GROUP, 33, 33).is_err());
    }
}
