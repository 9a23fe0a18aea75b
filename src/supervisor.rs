//! The event loop of PID 1. Idle, rinit sleeps in a blocking read of its signalfd. It uses
//! `ppoll` instead only when there is more to watch: output pipes to relay (`--prefix`), or a
//! deadline, which becomes the poll's timeout (the pre-stop command's bound, the pre-stop delay,
//! the grace period, a restart's back-off). No timer is ever armed while nothing is pending.

use std::time::{Duration, Instant};

use log::{debug, error, info, log, warn, Level};
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;

use crate::config::{Config, ProcSpec, RestartPolicy};
use crate::jobcontrol;
use crate::procs;
use crate::reaper::{self, Status};
use crate::relay::{Relay, Slot, Stream};
use crate::restart::Backoff;
use crate::signals::{self, Signals, Signo};
use crate::spawn::{self, Options};

struct Proc {
    spec: ProcSpec,
    pid: Option<i32>,
    started: Instant,
    backoff: Backoff,
    restart_at: Option<Instant>,
    /// How it last exited (kept while a restart is pending).
    last: Option<Status>,
}

/// A stop in progress (contract, "What rinit does", step 5).
#[derive(Default)]
struct Stop {
    /// The (rewritten) stop signal, held back while `--pre-stop` runs and `--pre-stop-delay`
    /// passes; `None` once it went out.
    held: Option<Signo>,
    /// The `--pre-stop` command and the end of its allowance.
    hook: Option<(i32, Instant)>,
    delay_until: Option<Instant>,
    grace_until: Option<Instant>,
    killed: bool,
}

pub struct Supervisor {
    cfg: Config,
    signals: Signals,
    procs: Vec<Proc>,
    relay: Relay,
    stop: Option<Stop>,
    exit_code: Option<i32>,
    none_left: bool,
    tty: bool,
}

/// Runs the configured processes to the end and returns rinit's exit code.
pub fn run(cfg: Config, signals: Signals) -> i32 {
    let now = Instant::now();
    let tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let procs = cfg
        .procs
        .iter()
        .map(|spec| Proc {
            spec: spec.clone(),
            pid: None,
            started: now,
            backoff: Backoff::default(),
            restart_at: None,
            last: None,
        })
        .collect();
    let mut s = Supervisor {
        cfg,
        signals,
        procs,
        relay: Relay::default(),
        stop: None,
        exit_code: None,
        none_left: false,
        tty,
    };
    for i in 0..s.procs.len() {
        if s.stop.is_some() {
            break;
        }
        s.start(i);
    }
    s.event_loop();
    s.relay.finish();
    let code = s.exit_code.unwrap_or(0);
    if s.cfg.remap_exit.contains(&code) {
        debug!("exit code {code} remapped to 0");
        return 0;
    }
    code
}

impl Supervisor {
    /// Start, exit and restart lines: shown by default with `--run`, with `-v` otherwise.
    fn lifecycle_level(&self) -> Level {
        if self.cfg.multi {
            Level::Info
        } else {
            Level::Debug
        }
    }

    fn start(&mut self, i: usize) {
        let capture = self.cfg.prefix && !self.procs[i].spec.is_main();
        let opts = Options {
            foreground: self.procs[i].spec.is_main() && self.tty,
            capture,
        };
        let level = self.lifecycle_level();
        let p = &mut self.procs[i];
        p.restart_at = None;
        match spawn::spawn(&p.spec.argv, &opts) {
            Ok(spawned) => {
                p.pid = Some(spawned.pid);
                p.started = Instant::now();
                self.none_left = false;
                log!(level, "started {} (pid {})", p.spec.name, spawned.pid);
                if let Some((out, err)) = spawned.output {
                    self.relay.add(&p.spec.name, Stream::Stdout, out);
                    self.relay.add(&p.spec.name, Stream::Stderr, err);
                }
            }
            Err(e) => {
                error!("{}", e.message);
                self.supervised_exit(i, Status::Exited(e.code), Duration::ZERO);
            }
        }
    }

    fn event_loop(&mut self) {
        // A process that could not even start leaves nothing to wait for.
        self.reap();
        loop {
            if self.none_left && self.procs.iter().all(|p| p.restart_at.is_none()) {
                return;
            }
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            let (signals, ready) = self.wait(timeout);
            for &signo in &signals {
                if signo != libc::SIGCHLD {
                    self.on_signal(signo);
                }
            }
            // fidelity: dumb-init's job control (suspend, resume) after forwarding.
            let main = self
                .procs
                .iter()
                .find(|p| p.spec.is_main())
                .and_then(|p| p.pid);
            jobcontrol::after_signals(&self.cfg, &signals, main, self.tty);
            self.reap();
            for slot in ready {
                self.relay.ready(slot);
            }
            self.on_deadlines(Instant::now());
        }
    }

    /// Sleeps in the kernel until a signal, output to relay, or the deadline; returns the
    /// signals received and the relay's descriptors that are ready. With nothing to relay and
    /// no deadline, the wait is a plain blocking read of the signalfd.
    fn wait(&self, timeout: Option<Duration>) -> (Vec<Signo>, Vec<Slot>) {
        let interest = self.relay.interest();
        if interest.is_empty() && timeout.is_none() {
            return (self.signals.read(), Vec::new());
        }
        let mut fds = Vec::with_capacity(interest.len() + 1);
        fds.push(PollFd::new(
            std::os::fd::AsFd::as_fd(&self.signals),
            PollFlags::POLLIN,
        ));
        for (fd, read, _) in &interest {
            let flags = if *read {
                PollFlags::POLLIN
            } else {
                PollFlags::POLLOUT
            };
            fds.push(PollFd::new(*fd, flags));
        }
        match ppoll(&mut fds, timeout.map(TimeSpec::from_duration), None) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return (Vec::new(), Vec::new()),
            Err(e) => {
                // harden (fault I): a poll set the kernel refuses (EINVAL under a lowered
                // RLIMIT_NOFILE): the signals and what the limit allows; else end cleanly.
                procs::poll_failed(e);
                fds.truncate(procs::poll_limit(fds.len()));
                match ppoll(&mut fds, timeout.map(TimeSpec::from_duration), None) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => procs::give_up(&format!("poll failed: {e}")),
                }
            }
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let signals = if ready(&fds[0]) {
            self.signals.read()
        } else {
            Vec::new()
        };
        let slots = fds[1..]
            .iter()
            .zip(&interest)
            .filter(|(fd, _)| ready(fd))
            .map(|(_, (_, _, slot))| *slot)
            .collect();
        (signals, slots)
    }

    fn next_deadline(&self) -> Option<Instant> {
        match &self.stop {
            Some(st) => [
                st.hook.map(|(_, t)| t),
                st.delay_until,
                st.grace_until.filter(|_| !st.killed),
            ]
            .into_iter()
            .flatten()
            .min(),
            None => self.procs.iter().filter_map(|p| p.restart_at).min(),
        }
    }

    fn on_signal(&mut self, signo: Signo) {
        let to = self.cfg.rewrite.apply(signo);
        if to == 0 {
            debug!("dropping {} (rewritten to 0)", signals::name(signo));
            return;
        }
        if to != signo {
            debug!(
                "received {}, forwarding {}",
                signals::name(signo),
                signals::name(to)
            );
        }
        if signo != libc::SIGTERM && signo != libc::SIGINT {
            self.forward(to);
            return;
        }
        match &self.stop {
            None => self.begin_stop_on_signal(signo, to),
            Some(st) if st.held.is_some() => {
                info!(
                    "received {} again: ending the pre-stop wait",
                    signals::name(signo)
                );
                self.release_stop();
            }
            Some(_) => self.send_stop(to),
        }
    }

    /// Passes a signal on to the supervised processes: their process groups, or with
    /// `--single-child` the processes themselves.
    fn forward(&self, signo: Signo) {
        for p in &self.procs {
            if let Some(pid) = p.pid {
                let target = if self.cfg.single_child { pid } else { -pid };
                debug!("forwarding {} to {target}", signals::name(signo));
                signals::send(target, signo);
            }
        }
    }

    fn any_supervised_alive(&self) -> bool {
        self.procs.iter().any(|p| p.pid.is_some())
    }

    /// The stop signal itself: to every process in the container, or with `--single-child` to
    /// the supervised processes only (and to what is left once they are gone). A stopped
    /// process acts on it only once continued, so the stopped ones get SIGCONT after it.
    fn send_stop(&self, signo: Signo) {
        if !self.cfg.single_child {
            procs::stop_everyone(signo);
        } else if self.any_supervised_alive() {
            self.forward(signo);
            for pid in self.procs.iter().filter_map(|p| p.pid) {
                procs::continue_if_stopped(pid);
            }
        } else {
            self.stop_leftovers();
        }
    }

    /// SIGTERM to whatever is left once the supervised processes are gone, if anything is.
    fn stop_leftovers(&self) {
        if !self.none_left {
            debug!("sending SIGTERM to the processes left");
            procs::stop_everyone(libc::SIGTERM);
        }
    }

    fn begin_stop_on_signal(&mut self, signo: Signo, to: Signo) {
        debug!("received {}: stopping", signals::name(signo));
        for p in &mut self.procs {
            // A process waiting for its restart is down: its last exit is the run's result.
            if p.restart_at.take().is_some() {
                if let Some(last) = p.last {
                    self.exit_code.get_or_insert(last.code());
                }
            }
        }
        let mut stop = Stop {
            held: Some(to),
            ..Stop::default()
        };
        if let Some(cmd) = &self.cfg.pre_stop {
            let opts = Options {
                foreground: false,
                capture: false,
            };
            match spawn::spawn(&cmd.argv, &opts) {
                Ok(spawned) => {
                    info!(
                        "running pre-stop command {} (pid {})",
                        cmd.name, spawned.pid
                    );
                    stop.hook = Some((spawned.pid, Instant::now() + self.cfg.grace_period));
                    self.none_left = false;
                }
                Err(e) => warn!("pre-stop command: {}", e.message),
            }
        }
        let hook_running = stop.hook.is_some();
        self.stop = Some(stop);
        if !hook_running {
            self.begin_delay();
        }
    }

    fn begin_delay(&mut self) {
        let delay = self.cfg.pre_stop_delay;
        let Some(st) = &mut self.stop else { return };
        st.hook = None;
        let Some(held) = st.held else { return };
        if delay.is_zero() {
            self.release_stop();
            return;
        }
        info!(
            "pre-stop delay: holding {} for {}",
            signals::name(held),
            humantime::format_duration(delay)
        );
        st.delay_until = Some(Instant::now() + delay);
    }

    /// Sends the held stop signal and starts the grace period.
    fn release_stop(&mut self) {
        let Some(st) = &mut self.stop else { return };
        let Some(signo) = st.held.take() else { return };
        if st.delay_until.take().is_some() {
            info!("pre-stop delay over: forwarding {}", signals::name(signo));
        }
        st.hook = None;
        st.grace_until = Some(Instant::now() + self.cfg.grace_period);
        self.send_stop(signo);
    }

    /// A supervised process exited and is not restarted: stop everything that is left.
    fn begin_stop_after_exit(&mut self) {
        for p in &mut self.procs {
            p.restart_at = None;
        }
        self.stop = Some(Stop {
            grace_until: Some(Instant::now() + self.cfg.grace_period),
            ..Stop::default()
        });
        // Commonly the main process was the last one: nothing to signal, no /proc walk.
        self.stop_leftovers();
    }

    fn reap(&mut self) {
        let reaped = reaper::reap();
        self.none_left = reaped.none_left;
        let now = Instant::now();
        for (pid, status) in reaped.exits {
            if let Some(i) = self.procs.iter().position(|p| p.pid == Some(pid)) {
                // fidelity: under dumb-init's name (not PID 1) the main exit ends the run.
                if jobcontrol::main_exit_ends_run(&self.cfg, pid) {
                    self.procs[i].pid = None;
                    self.exit_code.get_or_insert(status.code());
                    self.none_left = true;
                    continue;
                }
                let uptime = now.duration_since(self.procs[i].started);
                self.procs[i].pid = None;
                self.supervised_exit(i, status, uptime);
            } else if self.is_hook(pid) {
                if status.success() {
                    info!("pre-stop command finished");
                } else {
                    warn!("pre-stop command {status}");
                }
                self.begin_delay();
            } else if self.cfg.warn_on_reap {
                warn!("reaped orphan {pid}, which {status}");
            }
        }
    }

    fn is_hook(&self, pid: i32) -> bool {
        matches!(&self.stop, Some(Stop { hook: Some((h, _)), .. }) if *h == pid)
    }

    fn supervised_exit(&mut self, i: usize, status: Status, uptime: Duration) {
        let level = self.lifecycle_level();
        let name = self.procs[i].spec.name.clone();
        if let Some(st) = &self.stop {
            log!(level, "{name} {status}");
            self.exit_code.get_or_insert(status.code());
            if st.held.is_some() {
                // The app is going down anyway: holding the signal back helps no one now.
                self.release_stop();
            } else if self.cfg.single_child && !self.any_supervised_alive() {
                self.stop_leftovers();
            }
            return;
        }
        let p = &mut self.procs[i];
        p.last = Some(status);
        let restart = !p.spec.is_main()
            && match self.cfg.restart {
                RestartPolicy::Never => false,
                RestartPolicy::OnFailure => !status.success(),
                RestartPolicy::Always => true,
            };
        if restart {
            let now = Instant::now();
            match p.backoff.next_delay(now, uptime) {
                Some(delay) => {
                    info!(
                        "{name} {status}; restarting in {}",
                        humantime::format_duration(delay)
                    );
                    p.restart_at = Some(now + delay);
                    return;
                }
                None => warn!("{name} {status}; giving up after 10 restarts within 5 minutes"),
            }
        } else {
            log!(level, "{name} {status}");
        }
        self.exit_code.get_or_insert(status.code());
        self.begin_stop_after_exit();
    }

    fn on_deadlines(&mut self, now: Instant) {
        let grace = humantime::format_duration(self.cfg.grace_period);
        let Some(st) = &mut self.stop else {
            for i in 0..self.procs.len() {
                if self.procs[i].restart_at.is_some_and(|t| now >= t) {
                    self.start(i);
                }
            }
            return;
        };
        if let Some((pid, until)) = st.hook {
            if now >= until {
                warn!("pre-stop command still running after {grace}: killing it");
                signals::send(-pid, libc::SIGKILL);
                self.begin_delay();
            }
        } else if st.delay_until.is_some_and(|t| now >= t) {
            self.release_stop();
        } else if !self.none_left && st.grace_until.is_some_and(|t| now >= t) {
            // harden (faults F, G): a SIGKILL pass at the deadline, then one after each
            // wake-up (reaped first) while anything is left; procs bounds and words them.
            st.killed = true;
            procs::kill_pass(&grace);
        }
    }
}
