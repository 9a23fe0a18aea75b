//! Everything in the container: as PID 1, every process of the PID namespace; otherwise (a
//! subreaper) every descendant of rinit, found by walking /proc - only a /proc that is checked
//! to show rinit's own PID namespace (or an ancestor's, renumbered). Without one: `kill(-1)` as
//! PID 1, else the process groups of the processes rinit started.

use std::collections::HashMap;
use std::ffi::{CStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

use crate::logging;
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

/// One process as /proc/PID/stat shows it, `pid` as rinit's PID namespace numbers it.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: i32,
    pub ppid: i32,
    /// `R`, `S`, `T` (stopped), `Z` (zombie)...
    pub state: char,
    /// The command name, safe to print (control characters escaped).
    pub comm: String,
    /// The pid in /proc's numbering, and the start time (clock ticks since boot): with the pid,
    /// they tell this process from a later one that reuses its number.
    seen: i32,
    start: u64,
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
    let comm = logging::sanitize(text.get(open + 1..close)?);
    let mut fields = text.get(close + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    // starttime is field 22; ppid was field 4.
    let start = fields.nth(17)?.parse().ok()?;
    Some(Process {
        pid,
        ppid,
        state,
        comm,
        seen: pid,
        start,
    })
}

/// The `NSpid:` line of /proc/PID/status: the pid in /proc's namespace first, then in each
/// nested namespace down to the process's own.
fn nspid(pid: &str) -> Option<Vec<i32>> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    line.split_whitespace().map(|p| p.parse().ok()).collect()
}

/// How the mounted /proc numbers processes, when it can be trusted at all.
#[derive(Debug, Clone, Copy)]
struct View {
    /// rinit's own pid in /proc's numbering.
    me: i32,
    /// How many PID namespaces /proc's is above rinit's: 0 when /proc is rinit's namespace's
    /// own; otherwise a pid of rinit's namespace is entry `depth` of a process's `NSpid:`.
    depth: usize,
}

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Checks that /proc is a procfs that shows rinit itself (`/proc/self` is rinit, as the kernel
/// resolves it), and in which PID namespace: its own, or an ancestor's (`unshare --pid` without
/// `--mount-proc`, where pids read there are not rinit's to signal). `None`: no usable /proc (not
/// mounted, another filesystem over it, a namespace rinit cannot see itself in).
fn view() -> Option<View> {
    // SAFETY: statfs is plain data; statfs fills it from a NUL-terminated path.
    let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statfs(c"/proc".as_ptr(), &mut sfs) } != 0
        || sfs.f_type as i64 != PROC_SUPER_MAGIC
    {
        return None;
    }
    let me = std::process::id() as i32;
    match nspid("self") {
        Some(ids) if ids.last() == Some(&me) => Some(View {
            me: ids[0],
            depth: ids.len() - 1,
        }),
        Some(_) => None,
        // A kernel before 4.1 has no NSpid: /proc/self must at least be rinit's own pid.
        None => (fs::read_link("/proc/self").ok()? == std::path::Path::new(&me.to_string()))
            .then_some(View { me, depth: 0 }),
    }
}

/// Every process a stop must reach, rinit itself excluded, with pids in rinit's namespace: as
/// PID 1 with its namespace's /proc every process of the namespace, otherwise every descendant
/// of rinit. `None` when /proc cannot be trusted.
fn scan() -> Option<Vec<Process>> {
    let view = view()?;
    let dir = fs::read_dir("/proc").ok()?;
    let table: HashMap<i32, Process> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&p| p != view.me)
        .filter_map(|p| Some((p, stat(p)?)))
        .collect();
    let mut found: Vec<Process> = if is_pid1() && view.depth == 0 {
        table.into_values().collect()
    } else {
        table
            .values()
            .filter(|p| descends_from(p.ppid, view.me, &table))
            .cloned()
            .collect()
    };
    if view.depth > 0 {
        // Renumber into rinit's namespace; a process that is gone by now is left out.
        found.retain_mut(|p| {
            let local = nspid(&p.pid.to_string()).and_then(|ids| ids.get(view.depth).copied());
            local.map(|pid| p.pid = pid).is_some()
        });
    }
    Some(found)
}

/// Every process a stop must reach (see [`scan`]); empty when /proc cannot be trusted.
#[allow(dead_code)] // For the supervisor (listing what is left).
pub fn everyone() -> Vec<Process> {
    scan().unwrap_or_default()
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

/// Processes rinit started (each leads its own process group): what a stop can still reach
/// when /proc cannot be trusted.
static STARTED: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Records a process rinit started.
pub fn track(pid: i32) {
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    if started.len() >= 64 && started.len().is_power_of_two() {
        started.retain(|&p| is_own_child(p));
    }
    started.push(pid);
}

/// `pid` is a child of rinit's not reaped yet, so its number (and its process group's) cannot
/// have been reused.
fn is_own_child(pid: i32) -> bool {
    // SAFETY: siginfo_t is plain data; waitid with WNOWAIT only looks.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        ) == 0
    }
}

/// The process groups of the started processes that are still rinit's unreaped children.
fn started_groups() -> Vec<i32> {
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    started.retain(|&p| is_own_child(p));
    started.clone()
}

/// Sends `signo` to every process in the container. As PID 1 this is `kill(-1)`, which reaches
/// processes that left their group with setsid and skips rinit itself (no /proc needed).
/// Otherwise every descendant found in a trusted /proc, or else the process groups of the
/// processes rinit started.
pub fn signal_everyone(signo: Signo) {
    send_to(&if is_pid1() { None } else { scan() }, signo);
}

fn send_to(found: &Option<Vec<Process>>, signo: Signo) {
    if is_pid1() {
        signals::send(-1, signo);
    } else if let Some(found) = found {
        for p in found {
            send_checked(p, signo);
        }
    } else {
        for g in started_groups() {
            signals::send(-g, signo);
        }
    }
}

/// The stop signal to every process in the container, then SIGCONT to the stopped ones (Ctrl-Z,
/// a debugger), which act on a signal only once continued. Only to those: no running process
/// sees a SIGCONT it did not expect. (Without a trusted /proc, stopped processes are not told
/// apart: they are ended by the SIGKILL after the grace period.)
pub fn stop_everyone(signo: Signo) {
    // As PID 1, kill(-1) first: it needs no scan, and the scan (only to find the stopped
    // processes) must not delay the stop signal.
    if is_pid1() {
        signals::send(-1, signo);
    }
    let found = scan();
    if !is_pid1() {
        send_to(&found, signo);
    }
    for p in found.iter().flatten().filter(|p| p.state == 'T') {
        send_checked(p, libc::SIGCONT);
    }
}

/// Signals a process found in /proc only if it is still that process: a pidfd pins the pid,
/// then /proc must show the same start time. A process that exited since the scan, and whose
/// pid went to an unrelated process, is never signalled. (`kill` on kernels without pidfds.)
fn send_checked(p: &Process, signo: Signo) {
    // SAFETY: pidfd_open takes a pid and flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, p.pid, 0) } as i32;
    if fd < 0 {
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
            signals::send(p.pid, signo);
        }
        return;
    }
    if stat(p.seen).is_some_and(|now| now.start == p.start) {
        // SAFETY: a pidfd rinit owns; no siginfo.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd,
                signo,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
    // SAFETY: closing the pidfd opened above.
    unsafe { libc::close(fd) };
}

/// SIGCONT to one process if it is stopped (see [`stop_everyone`]).
pub fn continue_if_stopped(pid: i32) {
    if view().is_some_and(|v| v.depth == 0) && stat(pid).is_some_and(|p| p.state == 'T') {
        signals::send(pid, libc::SIGCONT);
    }
}

/// SIGKILL passes after the grace period: one per wake-up (each after reaping) while anything
/// is left, so that a process forking faster than one pass is caught by the next; bounded.
const KILL_PASSES: u32 = 100;
static PASSES: AtomicU32 = AtomicU32::new(0);

/// One SIGKILL pass over whatever is left of rinit's processes; the first one says what it
/// kills. Returns whether anything was signalled.
pub fn kill_pass(grace: &dyn std::fmt::Display) -> bool {
    let pass = PASSES.fetch_add(1, Ordering::Relaxed);
    if pass >= KILL_PASSES {
        return false;
    }
    let found = scan().map(|v| v.into_iter().filter(|p| p.state != 'Z').collect::<Vec<_>>());
    let groups = if found.is_none() && !is_pid1() {
        started_groups()
    } else {
        Vec::new()
    };
    // As PID 1, kill(-1, 0) tells whether anything at all is left, /proc or not.
    let any = if is_pid1() {
        signals::send(-1, 0)
    } else {
        found.as_ref().map_or(!groups.is_empty(), |f| !f.is_empty())
    };
    if !any {
        return false;
    }
    if pass == 0 {
        let what = match &found {
            Some(f) if !f.is_empty() => f
                .iter()
                .map(|p| format!("{} ({})", p.pid, p.comm))
                .collect::<Vec<_>>()
                .join(", "),
            _ if is_pid1() => "every process left".to_string(),
            _ => format!(
                "the process groups {}",
                groups
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        log::warn!("grace period of {grace} is over: killing {what}");
    }
    send_to(&found, libc::SIGKILL);
    true
}

/// A failure rinit cannot work around (its event loop's wait fails): SIGKILL to everything,
/// reap it all, exit 1. Said once, never a loop.
pub fn give_up(why: &str) -> ! {
    log::error!("{why}: killing every process and exiting");
    signal_everyone(libc::SIGKILL);
    loop {
        // SAFETY: waitpid with a null status pointer.
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    std::process::exit(1)
}

/// The event loop's poll failed (EINVAL once RLIMIT_NOFILE is below the poll set): said once;
/// the loop then polls its signals first and only as many descriptors as the limit allows
/// ([`poll_limit`]), so that stops and deadlines still happen.
pub fn poll_failed(e: nix::errno::Errno) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        log::error!("poll failed: {e}; polling fewer descriptors (output may be delayed)");
    }
}

/// How many of `wanted` descriptors one poll may watch under RLIMIT_NOFILE now; at least one
/// (the signals).
pub fn poll_limit(wanted: usize) -> usize {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills one rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return 1;
    }
    wanted
        .min(usize::try_from(rl.rlim_cur).unwrap_or(usize::MAX))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_proc_is_recognised() {
        // The test runs with the host's /proc in the host's namespace: rinit's own view.
        let v = view().expect("a procfs on /proc");
        assert_eq!(v.depth, 0);
        assert_eq!(v.me, std::process::id() as i32);
    }

    #[test]
    fn a_reused_pid_is_not_signalled() {
        use std::os::unix::process::ExitStatusExt;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut p = stat(child.id() as i32).unwrap();
        p.start += 1; // As if the pid now belonged to a later process.
        send_checked(&p, libc::SIGTERM);
        p.start -= 1;
        send_checked(&p, libc::SIGKILL);
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn children_are_found_and_tracked() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let found = everyone();
        assert!(found.iter().any(|p| p.pid == pid && p.comm == "sleep"));
        track(pid);
        assert!(started_groups().contains(&pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!started_groups().contains(&pid));
    }
}
