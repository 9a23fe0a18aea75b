//! Signals: names and numbers, the rewrite table, and the mask rinit waits on.
//!
//! Signals are plain numbers (`i32`) throughout rinit so that real-time signals, which nix's
//! `Signal` enum cannot represent, are forwarded and rewritten like any other.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::str::FromStr;

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

pub type Signo = i32;

/// Fault signals. A real fault (the kernel's, synchronous) is forced through rinit's mask and
/// kills it at once; one sent with kill() waits in the signalfd and is forwarded like any other.
const SYNCHRONOUS: [Signo; 7] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGABRT,
];

/// Whether a signal came from a process (kill, sigqueue, tkill/tgkill) rather than the kernel.
fn sent_by_a_process(code: i32) -> bool {
    matches!(code, libc::SI_USER | libc::SI_QUEUE | libc::SI_TKILL)
}

pub fn sigrtmin() -> Signo {
    libc::SIGRTMIN()
}

pub fn sigrtmax() -> Signo {
    libc::SIGRTMAX()
}

/// Parses a signal given by name (`TERM`, `SIGTERM`, `term`, `RTMIN+3`, `SIGRTMAX-1`) or number.
pub fn parse(text: &str) -> Result<Signo, String> {
    let t = text.trim();
    let bad = || format!("unknown signal '{text}'");
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let n: Signo = t.parse().map_err(|_| bad())?;
        return if (1..=sigrtmax()).contains(&n) {
            Ok(n)
        } else {
            Err(format!(
                "signal number {n} is out of range (1-{})",
                sigrtmax()
            ))
        };
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return realtime(sigrtmin(), rest, 1).ok_or_else(bad);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return realtime(sigrtmax(), rest, -1).ok_or_else(bad);
    }
    Signal::from_str(&format!("SIG{name}"))
        .map(|s| s as Signo)
        .map_err(|_| bad())
}

/// `RTMIN`, `RTMIN+N` (direction 1) or `RTMAX`, `RTMAX-N` (direction -1).
fn realtime(base: Signo, rest: &str, direction: Signo) -> Option<Signo> {
    let offset = match rest {
        "" => 0,
        _ => {
            let sign = if direction > 0 { '+' } else { '-' };
            rest.strip_prefix(sign)?.parse::<Signo>().ok()?
        }
    };
    let n = base.checked_add(direction.checked_mul(offset)?)?;
    (sigrtmin()..=sigrtmax()).contains(&n).then_some(n)
}

/// `SIGTERM`, `SIGRTMIN+3`, or the number when it has no name.
pub fn name(signo: Signo) -> String {
    if let Ok(s) = Signal::try_from(signo) {
        return s.as_str().to_string();
    }
    if (sigrtmin()..=sigrtmax()).contains(&signo) {
        return match signo - sigrtmin() {
            0 => "SIGRTMIN".to_string(),
            n => format!("SIGRTMIN+{n}"),
        };
    }
    format!("signal {signo}")
}

/// The `-r FROM:TO` table. `TO` = 0 drops the signal.
#[derive(Debug, Clone, Default)]
pub struct Rewrite {
    map: HashMap<Signo, Signo>,
}

/// One `FROM:TO` rule, parsed.
pub fn parse_rule(text: &str) -> Result<(Signo, Signo), String> {
    let (from, to) = text
        .split_once(':')
        .ok_or_else(|| format!("'{text}' is not FROM:TO (e.g. TERM:QUIT, 15:3, USR1:0)"))?;
    let to = if to.trim() == "0" { 0 } else { parse(to)? };
    Ok((parse(from)?, to))
}

impl Rewrite {
    pub fn new(rules: &[(Signo, Signo)]) -> Self {
        Rewrite {
            map: rules.iter().copied().collect(),
        }
    }

    /// The signal to forward in place of `signo`; 0 means drop it.
    pub fn apply(&self, signo: Signo) -> Signo {
        self.map.get(&signo).copied().unwrap_or(signo)
    }
}

/// The signals rinit receives through its signalfd: every catchable one. A blocked SIGTTOU or
/// SIGTTIN also counts as ignored for the terminal driver, so rinit writing to (or taking) a
/// terminal it handed to the child is never stopped.
fn handled() -> SigSet {
    SigSet::all()
}

/// Blocked signals, read from a signalfd. Set up before the first fork so that no signal sent at
/// start-up is lost; the descriptor is close-on-exec.
pub struct Signals {
    fd: SignalFd,
    /// rinit's own pid (as its PID namespace sees it), to recognise signals it raised itself.
    me: u32,
}

impl Signals {
    pub fn block() -> nix::Result<Self> {
        let set = handled();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals {
            fd,
            me: std::process::id(),
        })
    }

    /// The pending signals, up to 16 in one read(2); blocks until one arrives when none is
    /// pending, so call it only once poll said the descriptor is readable, or to wait.
    /// Standard signals coalesce; real-time ones queue. A signal rinit raised itself (SIGPIPE
    /// from a write to a closed pipe) is not the user's and is left out, and so is a fault
    /// signal the kernel queued (not a fault of rinit's own: that one is never queued).
    pub fn read(&self) -> Vec<Signo> {
        const N: usize = 16;
        // SAFETY: signalfd_siginfo is plain data; all-zero is a valid value.
        let mut buf: [libc::signalfd_siginfo; N] = unsafe { std::mem::zeroed() };
        // SAFETY: the buffer is valid for writes of its whole size.
        let n = unsafe {
            libc::read(
                self.fd.as_fd().as_raw_fd(),
                buf.as_mut_ptr().cast(),
                std::mem::size_of_val(&buf),
            )
        };
        let count = usize::try_from(n).unwrap_or(0) / std::mem::size_of::<libc::signalfd_siginfo>();
        buf[..count]
            .iter()
            .filter(|i| !(i.ssi_pid == self.me && sent_by_a_process(i.ssi_code)))
            .filter(|i| {
                !SYNCHRONOUS.contains(&(i.ssi_signo as Signo)) || sent_by_a_process(i.ssi_code)
            })
            .map(|i| i.ssi_signo as Signo)
            .collect()
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Between fork and exec (async-signal-safe calls only): every signal back to its default
/// action and nothing blocked, so the program starts as if rinit were not there. The raw
/// system call also resets glibc's internal signals (32, 33), which `signal()` refuses to touch
/// but which a runtime may hand down ignored.
pub fn reset_in_child(rtmax: Signo) {
    // The kernel's `struct sigaction` on x86_64 and aarch64.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: rt_sigaction and rt_sigprocmask are async-signal-safe system calls; errors
    // (SIGKILL, SIGSTOP) are expected and harmless.
    unsafe {
        for s in 1..=rtmax {
            libc::syscall(
                libc::SYS_rt_sigaction,
                s,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
        let empty: u64 = 0;
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        );
    }
}

/// Sends a raw signal number (real-time signals included). `pid` < 0 addresses a group, -1 all.
pub fn send(pid: i32, signo: Signo) -> bool {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, signo) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("TERM"), Ok(libc::SIGTERM));
        assert_eq!(parse("sigterm"), Ok(libc::SIGTERM));
        assert_eq!(parse("SIGUSR1"), Ok(libc::SIGUSR1));
        assert_eq!(parse("15"), Ok(15));
        assert_eq!(parse("RTMIN"), Ok(sigrtmin()));
        assert_eq!(parse("SIGRTMIN+3"), Ok(sigrtmin() + 3));
        assert_eq!(parse("rtmax-1"), Ok(sigrtmax() - 1));
        assert!(parse("RTMIN+99").is_err());
        assert!(parse("RTMIN+2147483647").is_err());
        assert!(parse("RTMAX-2147483647").is_err());
        assert!(parse("0").is_err());
        assert!(parse("NOPE").is_err());
        assert!(parse("").is_err());
        assert!(parse("65").is_err());
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(sigrtmin() + 2), "SIGRTMIN+2");
        assert_eq!(parse(&name(sigrtmin() + 2)), Ok(sigrtmin() + 2));
    }

    #[test]
    fn rules() {
        assert_eq!(parse_rule("TERM:QUIT"), Ok((15, 3)));
        assert_eq!(parse_rule("15:0"), Ok((15, 0)));
        assert!(parse_rule("15").is_err());
        assert!(parse_rule("15:BOGUS").is_err());
        let r = Rewrite::new(&[(15, 3), (10, 0)]);
        assert_eq!(r.apply(15), 3);
        assert_eq!(r.apply(10), 0);
        assert_eq!(r.apply(1), 1);
    }

    /// A real fault is not held in the signalfd: the kernel forces it through rinit's mask, so
    /// a fault in rinit itself still ends it at once (by the signal, not by a queued read).
    #[test]
    fn a_real_fault_is_never_held() {
        // SAFETY: the child makes only raw system calls, then faults; the parent waits for it.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let held = Signals::block();
            // SAFETY: deliberately a real SIGSEGV (a volatile read of unmapped address 16).
            let _ = unsafe { std::ptr::read_volatile(16usize as *const u8) };
            drop(held);
            // SAFETY: only reached if the fault was held back.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFSIGNALED(status), "status {status}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSEGV);
    }
}
