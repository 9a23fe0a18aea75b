//! Starting a process the way a container expects: its own process group, every signal at its
//! default action and unblocked, none of rinit's descriptors, and the terminal's foreground
//! when it is the main process and stdin is a terminal.
//!
//! `std::process::Command` does the fork/exec dance: it reports exec errors back through a
//! close-on-exec pipe, and returns only once the child has exec'd (so its process group exists
//! before rinit can signal it).

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::pipe2;

use crate::signals;

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

pub struct Options {
    /// Make the child's group the terminal's foreground group (stdin is a terminal).
    pub foreground: bool,
    /// Give the child pipes for stdout and stderr instead of rinit's own.
    pub capture: bool,
}

fn output_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = pipe2(OFlag::O_CLOEXEC)?;
    fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok((read, write))
}

pub fn spawn(argv: &[OsString], opts: &Options) -> Result<Spawned, SpawnError> {
    let Some(program) = argv.first() else {
        return Err(SpawnError {
            code: 2,
            message: "empty command".into(),
        });
    };
    let shown = program.to_string_lossy().into_owned();
    let failed = |e: io::Error| {
        let not_found = e.kind() == io::ErrorKind::NotFound;
        let reason = e
            .raw_os_error()
            .map(|n| nix::errno::Errno::from_raw(n).desc().to_string())
            .unwrap_or_else(|| e.to_string());
        SpawnError {
            code: if not_found { 127 } else { 126 },
            message: format!("cannot run '{shown}': {reason}"),
        }
    };

    let mut cmd = Command::new(program);
    cmd.args(&argv[1..]).process_group(0);
    // fidelity: rinit may have moved to `/` (jobcontrol::leave_dir); processes start where it was.
    if let Some(dir) = crate::jobcontrol::child_dir() {
        cmd.current_dir(dir);
    }
    let mut read_ends = None;
    if opts.capture {
        let (out_r, out_w) = output_pipe().map_err(failed)?;
        let (err_r, err_w) = output_pipe().map_err(failed)?;
        cmd.stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
        read_ends = Some((out_r, err_r));
    }
    let foreground = opts.foreground;
    let rtmax = signals::sigrtmax();
    // SAFETY: the closure makes only async-signal-safe calls (getpid, tcsetpgrp, sigaction,
    // sigprocmask) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if foreground {
                // Still ignoring SIGTTOU (inherited from rinit), so this cannot stop us.
                libc::tcsetpgrp(0, libc::getpid());
            }
            signals::reset_in_child(rtmax);
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(failed)?;
    crate::procs::track(child.id() as i32);
    // Dropping `cmd` closes rinit's copies of the pipes' write ends.
    drop(cmd);
    Ok(Spawned {
        pid: child.id() as i32,
        output: read_ends,
    })
}
