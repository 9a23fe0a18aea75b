//! Under a peer's name, the behaviour its users can observe beyond the command line: job
//! control (SIGTSTP, SIGTTIN, SIGTTOU), the working directory, and what happens to leftovers
//! when the main process exits (contract, "Names it answers to, exactly").
//!
//! - rinit, tini: TSTP is forwarded; TTIN and TTOU are dropped unless a `-r` rule names them.
//! - dumb-init: TSTP, TTIN and TTOU are forwarded (as SIGSTOP to the group unless `-c` or a `-r`
//!   rule says otherwise), then rinit stops itself, so that the shell that started it sees the
//!   job stop; SIGCONT resumes rinit and is forwarded. When the main process is stopped by one of
//!   them (the terminal sent it to the foreground group rinit gave away: Ctrl-Z), rinit stops
//!   itself too, so that the shell does not wait forever.
//! - rinit, dumb-init: rinit itself moves to `/` (it must not pin a mount); its processes start in
//!   the directory rinit was started in. tini: rinit stays where it was started.
//! - dumb-init, not PID 1, one main process: when it exits rinit exits at once; in setsid mode
//!   (the default) its process group gets one SIGTERM first, with `-c` leftovers are left alone.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use log::debug;

use crate::config::{Config, Personality, ProcSpec, Watch};
use crate::probe::ProbeSpec;
use crate::procs;
use crate::signals::{self, Signo};

const SUSPEND: [Signo; 3] = [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU];

/// The `-r` table with the name's defaults under the user's rules (a user rule wins).
pub fn default_rewrites(
    p: Personality,
    single_child: bool,
    rules: Vec<(Signo, Signo)>,
) -> Vec<(Signo, Signo)> {
    let defaults: Vec<(Signo, Signo)> = match p {
        // Background-terminal signals are not forwarded: rinit never bounces them to the child.
        Personality::Rinit | Personality::Tini => {
            vec![(libc::SIGTTIN, 0), (libc::SIGTTOU, 0)]
        }
        // The group stops, whatever its processes do with the terminal signals.
        Personality::DumbInit if !single_child => {
            SUSPEND.iter().map(|&s| (s, libc::SIGSTOP)).collect()
        }
        Personality::DumbInit => Vec::new(),
    };
    defaults.into_iter().chain(rules).collect()
}

/// The directory rinit was started in, when it leaves it: under its own name and dumb-init's
/// (tini stays where it was started).
fn start_dir(p: Personality) -> Option<PathBuf> {
    if p == Personality::Tini {
        return None;
    }
    std::env::current_dir().ok()
}

/// Under rinit's own name, a process with `user=` (or `--user`) and no `dir=` keeps rinit where
/// it was started: it enters its directory with its own rights, and must not start failing
/// because rinit moved. dumb-init's name has no users to worry about and always moves.
fn stays_for<'a>(p: Personality, mut specs: impl Iterator<Item = &'a ProcSpec>) -> bool {
    p == Personality::Rinit && specs.any(|s| s.opts.user.is_some() && s.opts.dir.is_none())
}

/// Under rinit's and dumb-init's names, every process without `dir=` starts where rinit was
/// started, and the relative paths rinit reads itself (`--watch`, `file:` probes) are made
/// absolute from there.
pub fn keep_dir<'a>(
    p: Personality,
    specs: impl Iterator<Item = &'a mut ProcSpec>,
    watches: &mut [Watch],
) {
    let Some(dir) = start_dir(p) else { return };
    let specs: Vec<&mut ProcSpec> = specs.collect();
    if stays_for(p, specs.iter().map(|s| &**s)) {
        return;
    }
    for spec in specs {
        spec.opts.dir.get_or_insert_with(|| dir.clone());
        if let Some(ProbeSpec::File(path)) = &mut spec.opts.ready {
            *path = dir.join(&*path);
        }
    }
    for w in watches {
        w.path = dir.join(&w.path);
    }
}

/// The directory rinit left for `/`, where its processes start (see `leave_dir`).
static LEFT: OnceLock<PathBuf> = OnceLock::new();

/// Under rinit's and dumb-init's names, rinit moves to `/` so that it keeps no mount busy.
pub fn leave_dir(cfg: &Config) {
    let specs = cfg.tasks.iter().chain(&cfg.procs).chain(&cfg.pre_stop);
    if stays_for(cfg.personality, specs) {
        return;
    }
    if let Some(dir) = start_dir(cfg.personality) {
        if let Err(e) = std::env::set_current_dir("/") {
            debug!("cannot change to /: {e}");
        } else {
            let _ = LEFT.set(dir);
        }
    }
}

/// Where a process starts when its spec names no directory: the one rinit left (dumb-init's
/// name), else rinit's own (`None`).
pub fn child_dir() -> Option<&'static Path> {
    LEFT.get().map(PathBuf::as_path)
}

/// After a batch of signals was handled (forwarded): dumb-init's job control.
pub fn after_signals(cfg: &Config, batch: &[Signo], main: Option<i32>, tty: bool) {
    if cfg.personality != Personality::DumbInit {
        return;
    }
    if batch.iter().any(|s| SUSPEND.contains(s)) {
        suspend();
        // Whatever stopped while rinit was stopped is resumed along with it.
        drain_stops(main);
    } else if batch.contains(&libc::SIGCONT) {
        drain_stops(main);
        if tty {
            give_terminal_back(main);
        }
    } else if batch.contains(&libc::SIGCHLD) {
        if let Some(pid) = main {
            if stopped_by_terminal(pid) {
                debug!("{pid} stopped by the terminal: suspending");
                suspend();
                drain_stops(main);
            }
        }
    }
}

fn suspend() {
    debug!("suspending rinit (job control)");
    signals::send(std::process::id() as i32, libc::SIGSTOP);
}

/// The stop reports of `pid` (waitid with WSTOPPED only: its exit is left to the reaper);
/// returns the signal of the last one.
fn stop_report(pid: i32) -> Option<Signo> {
    let mut last = None;
    loop {
        // SAFETY: siginfo_t is plain data; waitid writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a siginfo_t.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WSTOPPED | libc::WNOHANG,
            )
        };
        // SAFETY: waitid filled in the fields of a child's report (si_pid 0 when none).
        if r != 0 || unsafe { info.si_pid() } == 0 {
            return last;
        }
        // SAFETY: as above.
        last = Some(unsafe { info.si_status() });
    }
}

fn drain_stops(main: Option<i32>) {
    if let Some(pid) = main {
        stop_report(pid);
    }
}

/// The main process was stopped by SIGTSTP, SIGTTIN or SIGTTOU, and still is.
fn stopped_by_terminal(pid: i32) -> bool {
    stop_report(pid).is_some_and(|s| SUSPEND.contains(&s)) && state(pid) == Some('T')
}

/// The state letter of /proc/PID/stat (`T`: stopped).
fn state(pid: i32) -> Option<char> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = text.get(text.rfind(')')? + 1..)?;
    after.split_whitespace().next()?.chars().next()
}

/// Resumed in the foreground (`fg`): the terminal goes back to the main process's group.
fn give_terminal_back(main: Option<i32>) {
    let Some(pid) = main else { return };
    // SAFETY: plain calls on descriptor 0.
    unsafe {
        if libc::tcgetpgrp(0) == libc::getpgrp() {
            libc::tcsetpgrp(0, pid);
        }
    }
}

/// Under dumb-init's name and not PID 1, with only the main process: whether its exit ends the
/// run at once (the caller records the code and leaves). In setsid mode, its process group gets
/// one SIGTERM (after `-r`) first; with `-c` whatever is left is left alone.
pub fn main_exit_ends_run(cfg: &Config, pid: i32) -> bool {
    let alone = cfg.procs.len() == 1 && cfg.procs[0].is_main();
    if cfg.personality != Personality::DumbInit || procs::is_pid1() || !alone {
        return false;
    }
    // SIGTERM goes through `-r` like any forwarded signal (dumb-init does the same).
    let term = cfg.rewrite.apply(libc::SIGTERM);
    if !cfg.single_child && term != 0 {
        debug!("sending {} to process group {pid}", signals::name(term));
        signals::send(-pid, term);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_by_name() {
        let tini = default_rewrites(Personality::Tini, true, vec![(libc::SIGTTIN, 10)]);
        let r = crate::signals::Rewrite::new(&tini);
        assert_eq!(r.apply(libc::SIGTTIN), 10);
        assert_eq!(r.apply(libc::SIGTTOU), 0);
        assert_eq!(r.apply(libc::SIGTSTP), libc::SIGTSTP);
        let dumb = default_rewrites(Personality::DumbInit, false, vec![(libc::SIGTSTP, 1)]);
        let r = crate::signals::Rewrite::new(&dumb);
        assert_eq!(r.apply(libc::SIGTSTP), 1);
        assert_eq!(r.apply(libc::SIGTTIN), libc::SIGSTOP);
        let single = default_rewrites(Personality::DumbInit, true, Vec::new());
        let r = crate::signals::Rewrite::new(&single);
        assert_eq!(r.apply(libc::SIGTTOU), libc::SIGTTOU);
    }
}
