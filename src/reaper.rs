//! Reaping: collect every child that has exited, rinit's own and adopted orphans alike.

use std::fmt;

use crate::signals::{self, Signo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Killed(Signo),
}

impl Status {
    /// The code a shell (and tini) would report: the exit code, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            Status::Exited(c) => c,
            Status::Killed(s) => 128 + s,
        }
    }

    pub fn success(self) -> bool {
        self == Status::Exited(0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exited(c) => write!(f, "exited with code {c}"),
            Status::Killed(s) => write!(f, "was killed by {}", signals::name(*s)),
        }
    }
}

pub struct Reaped {
    pub exits: Vec<(i32, Status)>,
    /// waitpid said ECHILD: rinit has no child left at all.
    pub none_left: bool,
}

/// Reaps until nothing more has exited. Standard SIGCHLDs coalesce, so one wake-up may stand for
/// many exits. Raw waitpid, because a process killed by a real-time signal must be reported too.
pub fn reap() -> Reaped {
    let mut exits = Vec::new();
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid writes only to `status`.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            if libc::WIFEXITED(status) {
                exits.push((pid, Status::Exited(libc::WEXITSTATUS(status))));
            } else if libc::WIFSIGNALED(status) {
                exits.push((pid, Status::Killed(libc::WTERMSIG(status))));
            }
            continue;
        }
        if pid == 0 {
            return Reaped {
                exits,
                none_left: false,
            };
        }
        match nix::errno::Errno::last() {
            nix::errno::Errno::EINTR => continue,
            e => {
                return Reaped {
                    exits,
                    none_left: e == nix::errno::Errno::ECHILD,
                }
            }
        }
    }
}
