//! `--watch SIGNAL[:NAME]=PATH`: changes to PATH, seen through inotify on its parent directory
//! (or on PATH itself when it is a directory, for its direct entries), gathered into bursts. A
//! burst fires 1 s after its last change and at most 10 s after its first, so a certificate and
//! its key written one after the other give one reload. Nothing here polls: the inotify
//! descriptor joins rinit's one poll, and a deadline exists only while a burst is pending.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use log::{debug, error};
use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use crate::config::Watch;

/// Quiet time that ends a burst.
const SETTLE: Duration = Duration::from_secs(1);
/// A burst never waits longer than this after its first change.
const LONGEST: Duration = Duration::from_secs(10);

fn mask() -> AddWatchFlags {
    AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR
}

/// What one `--watch` looks at now.
struct Entry {
    path: PathBuf,
    dir: PathBuf,
    /// The directory watched, and its descriptor (`None`: could not be set up).
    wd: Option<WatchDescriptor>,
    /// Names in that directory that count; empty: every entry (PATH is that directory).
    names: Vec<OsString>,
    /// Watching a parent above PATH's own (PATH's directory does not exist yet).
    above: bool,
    /// The pending burst: its first and its last change.
    burst: Option<(Instant, Instant)>,
}

pub struct Watcher {
    inotify: Inotify,
    entries: Vec<Entry>,
}

/// The directory to watch for `path` and the names in it that stand for `path`.
fn target(path: &Path) -> (PathBuf, Vec<OsString>, bool) {
    if path.is_dir() {
        return (path.to_path_buf(), Vec::new(), false);
    }
    let mut names = Vec::new();
    if let Some(name) = path.file_name() {
        names.push(name.to_os_string());
    }
    // A symlink into its own directory (a ConfigMap's `app.conf -> ..data/app.conf`): the swap
    // of the link's first component (`..data`) is a change of PATH.
    if let Ok(link) = std::fs::read_link(path) {
        if let Some(Component::Normal(first)) = link.components().next() {
            if link.components().count() > 1 {
                names.push(first.to_os_string());
            }
        }
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if parent.is_dir() {
        return (parent, names, false);
    }
    // Watched from its nearest existing ancestor, through the name on the way down to PATH.
    let mut child = parent.as_path();
    while let Some(up) = child.parent() {
        let up_dir = if up.as_os_str().is_empty() {
            Path::new(".")
        } else {
            up
        };
        if up_dir.is_dir() {
            let name = child.file_name().map(OsStr::to_os_string);
            return (up_dir.to_path_buf(), name.into_iter().collect(), true);
        }
        child = up;
    }
    (PathBuf::from("/"), Vec::new(), true)
}

impl Watcher {
    /// Sets up every watch; one that cannot be set up is logged, not fatal. `None` when there
    /// is nothing to watch or inotify is not available.
    pub fn new(watches: &[Watch]) -> Option<Watcher> {
        if watches.is_empty() {
            return None;
        }
        let inotify = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(i) => i,
            Err(e) => {
                error!("cannot watch files (inotify: {}): --watch is off", e.desc());
                return None;
            }
        };
        let mut w = Watcher {
            inotify,
            entries: Vec::new(),
        };
        for watch in watches {
            w.entries.push(Entry {
                path: watch.path.clone(),
                dir: PathBuf::new(),
                wd: None,
                names: Vec::new(),
                above: false,
                burst: None,
            });
            w.arm(w.entries.len() - 1);
        }
        Some(w)
    }

    /// (Re)sets up entry `i`'s watch for where PATH stands now.
    fn arm(&mut self, i: usize) {
        let e = &mut self.entries[i];
        let (dir, names, above) = target(&e.path);
        match self.inotify.add_watch(&dir, mask()) {
            Ok(wd) => {
                debug!(
                    "watching {} for changes to {}",
                    dir.display(),
                    e.path.display()
                );
                e.wd = Some(wd);
                e.dir = dir;
                e.names = names;
                e.above = above;
            }
            Err(err) => {
                let hint = if err == Errno::ENOSPC {
                    " (raise fs.inotify.max_user_watches)"
                } else {
                    ""
                };
                error!(
                    "cannot watch {} for {}: {}{hint}",
                    dir.display(),
                    e.path.display(),
                    err.desc()
                );
                e.wd = None;
            }
        }
    }

    /// Reads the pending events and records changes; call when poll says the descriptor is
    /// readable.
    pub fn on_readable(&mut self, now: Instant) {
        loop {
            let events = match self.inotify.read_events() {
                Ok(ev) if !ev.is_empty() => ev,
                Ok(_) | Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    error!("reading file events failed: {}", e.desc());
                    return;
                }
            };
            let mut rearm = Vec::new();
            for ev in &events {
                let overflow = ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW);
                for (i, e) in self.entries.iter_mut().enumerate() {
                    if !overflow && e.wd != Some(ev.wd) {
                        continue;
                    }
                    let gone = ev.mask.intersects(
                        AddWatchFlags::IN_IGNORED
                            | AddWatchFlags::IN_DELETE_SELF
                            | AddWatchFlags::IN_MOVE_SELF,
                    );
                    let hit = overflow
                        || gone
                        || match &ev.name {
                            Some(n) => e.names.is_empty() || e.names.contains(n),
                            None => false,
                        };
                    if !hit {
                        continue;
                    }
                    // PATH's directory appeared or went: watch where it stands now.
                    if gone || target(&e.path).0 != e.dir {
                        rearm.push(i);
                    }
                    // From above, only a change that reached PATH itself counts.
                    if !e.above || e.path.symlink_metadata().is_ok() {
                        let first = e.burst.map_or(now, |(f, _)| f);
                        e.burst = Some((first, now));
                    }
                }
            }
            rearm.sort_unstable();
            rearm.dedup();
            for i in rearm {
                self.arm(i);
            }
        }
    }

    /// When the next burst fires, if any is pending.
    pub fn deadline(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|e| e.burst.map(|(f, l)| (l + SETTLE).min(f + LONGEST)))
            .min()
    }

    /// The watches (indices in `--watch` order) whose burst is over at `now`.
    pub fn due(&mut self, now: Instant) -> Vec<usize> {
        let mut v = Vec::new();
        for (i, e) in self.entries.iter_mut().enumerate() {
            if let Some((f, l)) = e.burst {
                if now >= (l + SETTLE).min(f + LONGEST) {
                    e.burst = None;
                    v.push(i);
                }
            }
        }
        v
    }

    /// A stop began: no more signals.
    pub fn clear(&mut self) {
        for e in &mut self.entries {
            e.burst = None;
        }
    }
}

impl AsFd for Watcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_settle_and_are_bounded() {
        let dir = std::env::temp_dir().join(format!("rinit-watch-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("app.conf");
        let mut w = Watcher::new(&[Watch {
            signal: libc::SIGHUP,
            target: None,
            path: file.clone(),
        }])
        .unwrap();
        assert_eq!(w.deadline(), None);
        let t = Instant::now();
        std::fs::write(dir.join("other"), "x").unwrap();
        w.on_readable(t);
        assert_eq!(w.deadline(), None, "another file is no change");
        std::fs::write(&file, "x").unwrap();
        w.on_readable(t);
        assert_eq!(w.deadline(), Some(t + SETTLE));
        // Changes keep coming: the burst is bounded by 10 s after its first change.
        for s in 1..=12 {
            std::fs::write(&file, "y").unwrap();
            w.on_readable(t + Duration::from_millis(900 * s));
        }
        assert_eq!(w.deadline(), Some(t + LONGEST));
        assert_eq!(w.due(t + LONGEST), [0]);
        assert_eq!(w.deadline(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_parent_is_watched_from_above() {
        let dir = std::env::temp_dir().join(format!("rinit-watch-above-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sub/app.conf");
        let mut w = Watcher::new(&[Watch {
            signal: libc::SIGHUP,
            target: None,
            path: file.clone(),
        }])
        .unwrap();
        let t = Instant::now();
        std::fs::create_dir(dir.join("sub")).unwrap();
        w.on_readable(t);
        assert_eq!(w.deadline(), None, "PATH does not exist yet");
        std::fs::write(&file, "x").unwrap();
        w.on_readable(t);
        assert_eq!(w.deadline(), Some(t + SETTLE));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
