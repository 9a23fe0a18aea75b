//! Starting a process the way a container expects: its own process group, every signal at its
//! default action and unblocked, none of rinit's descriptors, the terminal's foreground when it
//! is the main process and stdin is a terminal, and the per-process options of its CMDLINE label
//! (`user=`, `dir=`, `env=`).
//!
//! `std::process::Command` does the fork/exec dance: it reports exec errors back through a
//! close-on-exec pipe, and returns only once the child has exec'd (so its process group exists
//! before rinit can signal it).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::pipe2;

use crate::config::ProcSpec;
use crate::signals;
use crate::users::Identity;

pub struct Spawned {
    pub pid: i32,
    /// Read ends of the child's stdout and stderr when they are captured (non-blocking).
    pub output: Option<(OwnedFd, OwnedFd)>,
}

/// Why a program could not be started, with the exit code the contract gives it.
#[derive(Debug)]
pub struct SpawnError {
    pub code: i32,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Make the child's group the terminal's foreground group (stdin is a terminal).
    pub foreground: bool,
    /// Give the child pipes for stdout and stderr instead of rinit's own.
    pub capture: bool,
}

fn output_pipe(owner: Option<&Identity>) -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = pipe2(OFlag::O_CLOEXEC)?;
    fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    if let Some(id) = owner {
        // The process may reopen /proc/self/fd/1 (nginx, php-fpm do): it must own its pipe.
        // SAFETY: fchown on a descriptor rinit owns.
        if unsafe { libc::fchown(write.as_raw_fd(), id.uid, id.gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((read, write))
}

fn reason(e: &io::Error) -> String {
    e.raw_os_error()
        .map(|n| nix::errno::Errno::from_raw(n).desc().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// The identity to switch to in the child: `None` when there is nothing to change (no `user=`,
/// or rinit already is that user and group and is not root).
fn switch_to(user: Option<&Identity>) -> Option<&Identity> {
    let id = user?;
    // SAFETY: getuid and getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if uid != 0 && id.uid == uid && id.gid == gid {
        return None;
    }
    Some(id)
}

pub fn spawn(spec: &ProcSpec, opts: &Options) -> Result<Spawned, SpawnError> {
    let argv = &spec.argv;
    let Some(program) = argv.first() else {
        return Err(SpawnError {
            code: 2,
            message: "empty command".into(),
        });
    };
    let shown = program.to_string_lossy().into_owned();
    let failed = |e: io::Error| SpawnError {
        code: if e.kind() == io::ErrorKind::NotFound {
            127
        } else {
            126
        },
        message: format!("cannot run '{shown}': {}", reason(&e)),
    };
    let o = &spec.opts;
    if let Some(dir) = &o.dir {
        if let Err(e) = std::fs::read_dir(dir) {
            return Err(SpawnError {
                code: 126,
                message: format!(
                    "cannot run '{shown}': working directory '{}': {}",
                    dir.display(),
                    reason(&e)
                ),
            });
        }
    }
    let user = switch_to(o.user.as_ref());

    let mut cmd = Command::new(program);
    cmd.args(&argv[1..]).process_group(0);
    // fidelity: rinit may have moved to `/` (jobcontrol::leave_dir); processes start where it was
    // (`dir=` is entered after this, in the child).
    if let Some(dir) = crate::jobcontrol::child_dir() {
        cmd.current_dir(dir);
    }
    if let Some(id) = o.user.as_ref() {
        if let Some(home) = &id.home {
            cmd.env("HOME", home);
        }
        if let Some(name) = &id.name {
            cmd.env("USER", name);
        }
    }
    for (k, v) in &o.env {
        cmd.env(k, v);
    }
    let mut read_ends = None;
    if opts.capture {
        let (out_r, out_w) = output_pipe(user).map_err(failed)?;
        let (err_r, err_w) = output_pipe(user).map_err(failed)?;
        cmd.stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
        read_ends = Some((out_r, err_r));
    }
    // Everything the child needs, prepared before the fork: it may not allocate.
    let ids = user.map(|id| {
        let groups: Vec<libc::gid_t> = id.groups.clone();
        (id.uid, id.gid, groups)
    });
    let dir = match &o.dir {
        Some(d) => Some(
            std::ffi::CString::new(d.as_os_str().as_bytes()).map_err(|_| SpawnError {
                code: 126,
                message: format!("cannot run '{shown}': working directory contains NUL"),
            })?,
        ),
        None => None,
    };
    let switching = ids.is_some() || dir.is_some();
    let foreground = opts.foreground;
    let rtmax = signals::sigrtmax();
    // SAFETY: the closure makes only async-signal-safe calls (getpid, tcsetpgrp, sigaction,
    // sigprocmask, setgroups, setgid, setuid, chdir) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if foreground {
                // Still ignoring SIGTTOU (inherited from rinit), so this cannot stop us.
                libc::tcsetpgrp(0, libc::getpid());
            }
            if let Some((uid, gid, groups)) = &ids {
                // Supplementary groups first, then the group, then the user: each needs root.
                // Raw system calls: libc's wrappers may synchronise threads (musl), which is no
                // business of a freshly forked child.
                if libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) != 0
                    || libc::syscall(libc::SYS_setgid, *gid) != 0
                    || libc::syscall(libc::SYS_setuid, *uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            // After the switch: the directory is entered with the process's own rights.
            if let Some(d) = &dir {
                if libc::chdir(d.as_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            signals::reset_in_child(rtmax);
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| {
        let mut err = failed(e);
        if switching {
            // The switch of user or directory may be what failed: say what was asked.
            let mut what = Vec::new();
            if let Some(id) = &o.user {
                what.push(format!("uid {} gid {}", id.uid, id.gid));
            }
            if let Some(d) = &o.dir {
                what.push(format!("in '{}'", d.display()));
            }
            err.message.push_str(&format!(" (as {})", what.join(", ")));
        }
        err
    })?;
    crate::procs::track(child.id() as i32);
    // Dropping `cmd` closes rinit's copies of the pipes' write ends.
    drop(cmd);
    Ok(Spawned {
        pid: child.id() as i32,
        output: read_ends,
    })
}
