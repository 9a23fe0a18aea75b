//! Everything in the container: as PID 1, every process of the PID namespace; otherwise (a
//! subreaper) every descendant of rinit, found by walking /proc.

use std::collections::HashMap;
use std::ffi::{CStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;

use crate::signals::{self, Signo};

pub fn is_pid1() -> bool {
    std::process::id() == 1
}

/// Opens /dev/null on any of fds 0-2 that the runtime left closed, so that no descriptor of
/// rinit's own (the signalfd, a pipe) can take their place and be handed to a child as its
/// stdin, stdout or stderr.
pub fn ensure_stdio() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: three valid pollfds.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for p in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: open with a static C string; the descriptor is meant to stay open.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd >= 0 && fd != p.fd {
            // SAFETY: plain descriptor juggling on fds rinit owns.
            unsafe {
                libc::dup2(fd, p.fd);
                libc::close(fd);
            }
        }
    }
}

/// The arguments as `main` received them. With `no_main`, `std::env::args_os()` is filled only
/// on glibc (from an init hook); musl has no such hook, so rinit reads them itself.
///
/// # Safety
/// `argv` must hold `argc` valid NUL-terminated strings, as the C runtime passes them.
#[cfg_attr(test, allow(dead_code))]
pub unsafe fn args_from_c(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
    let n = usize::try_from(argc).unwrap_or(0);
    (0..n)
        .map(|i| *argv.add(i))
        .take_while(|p| !p.is_null())
        .map(|p| OsString::from_vec(CStr::from_ptr(p).to_bytes().to_vec()))
        .collect()
}

/// Orphans of rinit's descendants come to rinit when it is not PID 1.
pub fn become_subreaper() -> bool {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 }
}

/// rinit receives `signo` when its parent dies.
pub fn set_parent_death_signal(signo: Signo) -> bool {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signo as libc::c_ulong, 0, 0, 0) == 0 }
}

/// One process as /proc/PID/stat shows it.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: i32,
    pub ppid: i32,
    /// `R`, `S`, `T` (stopped), `Z` (zombie)...
    pub state: char,
    pub comm: String,
}

fn stat(pid: i32) -> Option<Process> {
    // One read: the line is far shorter than the buffer.
    let mut buf = [0u8; 1024];
    let n = fs::File::open(format!("/proc/{pid}/stat"))
        .and_then(|mut f| f.read(&mut buf))
        .ok()?;
    let text = String::from_utf8_lossy(&buf[..n]);
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let mut fields = text.get(close + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Process {
        pid,
        ppid,
        state,
        comm,
    })
}

fn all_pids() -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Every process a stop must reach, rinit itself excluded: as PID 1 every process of the
/// namespace, otherwise every descendant of rinit.
pub fn everyone() -> Vec<Process> {
    let me = std::process::id() as i32;
    let table: HashMap<i32, Process> = all_pids()
        .into_iter()
        .filter(|&p| p != me)
        .filter_map(|p| Some((p, stat(p)?)))
        .collect();
    if is_pid1() {
        return table.into_values().collect();
    }
    table
        .values()
        .filter(|p| descends_from(p.ppid, me, &table))
        .cloned()
        .collect()
}

fn descends_from(mut pid: i32, ancestor: i32, table: &HashMap<i32, Process>) -> bool {
    // Bounded walk: a pid table read in passing may hold a stale loop.
    for _ in 0..table.len() + 1 {
        if pid == ancestor {
            return true;
        }
        match table.get(&pid) {
            Some(p) if p.ppid > 0 => pid = p.ppid,
            _ => return false,
        }
    }
    false
}

/// Sends `signo` to every process in the container. As PID 1 this is `kill(-1)`, which reaches
/// processes that left their group with setsid and skips rinit itself.
pub fn signal_everyone(signo: Signo) {
    if is_pid1() {
        signals::send(-1, signo);
    } else {
        for p in everyone() {
            signals::send(p.pid, signo);
        }
    }
}

/// The stop signal to every process in the container, then SIGCONT to the stopped ones (Ctrl-Z,
/// a debugger), which act on a signal only once continued. Only to those: no running process
/// sees a SIGCONT it did not expect.
pub fn stop_everyone(signo: Signo) {
    if is_pid1() {
        signals::send(-1, signo);
        for p in everyone().iter().filter(|p| p.state == 'T') {
            signals::send(p.pid, libc::SIGCONT);
        }
    } else {
        for p in everyone() {
            signals::send(p.pid, signo);
            if p.state == 'T' {
                signals::send(p.pid, libc::SIGCONT);
            }
        }
    }
}

/// SIGCONT to one process if it is stopped (see [`stop_everyone`]).
pub fn continue_if_stopped(pid: i32) {
    if stat(pid).is_some_and(|p| p.state == 'T') {
        signals::send(pid, libc::SIGCONT);
    }
}
