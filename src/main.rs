//! rinit: a container init. The story of PID 1, in order.
//!
//! `no_main`: rinit's `main` is the C entry point, so the Rust runtime's start-up (stack-guard
//! discovery through /proc/self/maps, an alternate signal stack, SIGPIPE ignored) is skipped.
//! It measured about 0.2 ms of every container start; rinit needs none of it: it blocks SIGPIPE
//! with the other signals, and it checks its standard descriptors itself (`procs::ensure_stdio`).
#![cfg_attr(not(test), no_main)]

mod check;
mod cli;
mod cmdline;
mod config;
mod jobcontrol;
mod lifecycle;
mod logging;
mod probe;
mod procs;
mod reaper;
mod relay;
mod restart;
mod signals;
mod spawn;
mod stop;
mod supervisor;
mod users;
mod watch;

use std::io::Write;

#[cfg(not(test))]
#[no_mangle]
// The C runtime is the only caller, and it passes valid pointers.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: the C runtime hands `main` argc valid, NUL-terminated strings.
    let args = unsafe { procs::args_from_c(argc, argv) };
    pid1(args)
}

#[cfg_attr(test, allow(dead_code))]
fn pid1(args: Vec<std::ffi::OsString>) -> ! {
    // Descriptors 0-2 must exist before rinit opens any of its own.
    procs::ensure_stdio();
    // `--check PROBE...` (a HEALTHCHECK): runs the probes, starts nothing, exits 0 or 1.
    if let Some((probes, timeout)) = cli::check_request(&args) {
        std::process::exit(check::run(&probes, timeout));
    }
    // Then block the signals rinit handles: as PID 1 a signal whose action is the
    // default is dropped by the kernel, and one sent before the child exists must wait for it.
    let signals = match signals::Signals::block() {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "rinit: cannot set up signal handling: {e}"
            );
            std::process::exit(1);
        }
    };
    let cfg = cli::parse(args);
    logging::init(&cfg);

    // Orphans must come to rinit even when it is not PID 1 (nested inits, `docker run --init`).
    if !procs::is_pid1() && !procs::become_subreaper() {
        log::warn!("cannot register as child subreaper: orphans will not be reaped by rinit");
    }
    if cfg.subreaper {
        log::debug!("-s: rinit registers as subreaper whenever it is not PID 1");
    }
    if let Some(sig) = cfg.pdeathsig {
        if !procs::set_parent_death_signal(sig) {
            log::warn!("cannot set the parent-death signal");
        }
    }

    // Under its own and dumb-init's names rinit keeps no mount busy (its processes keep their dir).
    jobcontrol::leave_dir(&cfg);

    let code = supervisor::run(cfg, signals);
    std::process::exit(code);
}
