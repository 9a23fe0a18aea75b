//! `rinit --check PROBE...`: run each probe once and exit 0 when all succeed, 1 otherwise (never 2,
//! which Docker reserves). Starts no process and reads no other option or variable.
//!
//! rinit is not PID 1 here (a `HEALTHCHECK` runs it through `docker exec`), so its loop is its
//! own: all probes at once, one poll on their sockets and on a pidfd per `exec:` child (reaped
//! with waitpid on its pid), until all are done or the timeout is up.

use std::io::Write;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;

use crate::probe::{self, Attempt};
use crate::reaper::Status;

/// Runs the probes (as given on the command line) within `timeout`; returns the exit code.
pub fn run(probes: &[String], timeout: Duration) -> i32 {
    let mut err = std::io::stderr();
    let mut specs = Vec::with_capacity(probes.len());
    for text in probes {
        match probe::parse(text) {
            Ok(spec) => specs.push(spec),
            Err(e) => {
                let _ = writeln!(err, "rinit: {e}");
                return 1;
            }
        }
    }
    // `exec:` probes run with rinit's own identity.
    let mut attempts: Vec<Attempt> = specs
        .iter()
        .map(|s| Attempt::start(s, timeout, None))
        .collect();
    drive(&mut attempts);
    let mut code = 0;
    for (text, a) in probes.iter().zip(&attempts) {
        if let Some(why) = a.failure() {
            let _ = writeln!(err, "rinit: check failed: {text}: {why}");
            code = 1;
        }
    }
    code
}

/// Drives the attempts until each is done (at the latest at its deadline). An `exec:` child left
/// at its deadline is killed with its group and not waited for.
pub(crate) fn drive(attempts: &mut [Attempt]) {
    let pidfds: Vec<Option<OwnedFd>> = attempts
        .iter()
        .map(|a| a.exec_pid().and_then(pidfd_open))
        .collect();
    loop {
        let now = Instant::now();
        // Without pidfds (Linux < 5.3), exits are seen by looking every 50 ms.
        let mut look = false;
        for (a, pidfd) in attempts.iter_mut().zip(&pidfds) {
            if let (Some(pid), None) = (a.exec_pid(), a.done()) {
                match try_wait(pid) {
                    Some(status) => a.on_exit(status),
                    None => look |= pidfd.is_none(),
                }
            }
            a.on_deadline(now);
        }
        let Some(deadline) = attempts
            .iter()
            .filter(|a| a.done().is_none())
            .map(Attempt::deadline)
            .min()
        else {
            return;
        };
        let mut wait = deadline.saturating_duration_since(now);
        if look {
            wait = wait.min(Duration::from_millis(50));
        }
        let mut fds = Vec::new();
        let mut owners = Vec::new();
        for (i, (a, pidfd)) in attempts.iter().zip(&pidfds).enumerate() {
            if a.done().is_some() {
                continue;
            }
            if let Some((fd, events)) = a.interest() {
                fds.push(PollFd::new(fd, events));
                owners.push(i);
            }
            if let Some(pidfd) = pidfd {
                fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
                owners.push(i);
            }
        }
        // EINTR or a failed poll: the loop looks again, bounded by the deadline.
        let _ = ppoll(&mut fds, Some(TimeSpec::from_duration(wait)), None);
        let ready: Vec<usize> = fds
            .iter()
            .zip(&owners)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, &i)| i)
            .collect();
        drop(fds);
        for i in ready {
            attempts[i].on_ready();
        }
    }
}

/// A descriptor that polls readable once the process has exited (Linux 5.3+).
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: plain syscall; a non-negative result is a new close-on-exec descriptor we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: `fd` is fresh and owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reaps `pid` if it has exited.
fn try_wait(pid: i32) -> Option<Status> {
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid writes only to `status`.
    if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } != pid {
        return None;
    }
    if libc::WIFSIGNALED(status) {
        Some(Status::Killed(libc::WTERMSIG(status)))
    } else {
        Some(Status::Exited(libc::WEXITSTATUS(status)))
    }
}
