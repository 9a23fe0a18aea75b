//! The event loop of PID 1. It only dispatches: signals, exits, probe progress, file events and
//! deadlines go to the per-process state machines (`lifecycle`), the start sequence (tasks, then
//! processes in order, each waiting for the readiness of those before it) and the stop sequence
//! (`stop`). Idle, rinit sleeps in a blocking read of its signalfd; it polls instead only when
//! there is more to watch (output to relay, a probe's socket, inotify), and a deadline becomes
//! the poll's timeout. No timer is ever armed while nothing is pending.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use log::{debug, error, info, log, warn, Level};
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;

use crate::config::{Config, ExitAction, LogFormat, ProcSpec, Role};
use crate::jobcontrol;
use crate::lifecycle::{Exit, Proc, State};
use crate::procs;
use crate::reaper::{self, Status};
use crate::relay::{Relay, Slot, Stream};
use crate::signals::{self, Signals, Signo};
use crate::spawn::{self, Options};
use crate::stop::{self, Stop, World};
use crate::watch::Watcher;

/// The running task stands at this index in the stop sequence's view.
const TASK: usize = usize::MAX;

/// The `--task` steps: one at a time, in order.
struct Tasks {
    specs: Vec<ProcSpec>,
    /// The next one to start.
    next: usize,
    /// The one running.
    pid: Option<i32>,
}

pub struct Supervisor {
    cfg: Config,
    signals: Signals,
    tasks: Tasks,
    procs: Vec<Proc>,
    /// The next process to start, in start order.
    next_start: usize,
    relay: Relay,
    watcher: Option<Watcher>,
    stop: Option<Stop>,
    exit_code: Option<i32>,
    /// The code of the first failing `exit=ignore` process: rinit's code when only such
    /// processes ended the run.
    ignored_code: Option<i32>,
    none_left: bool,
    tty: bool,
}

/// What one wait brought.
#[derive(Default)]
struct Woken {
    signals: Vec<Signo>,
    relay: Vec<Slot>,
    probes: Vec<usize>,
    files: bool,
}

/// Runs the configured processes to the end and returns rinit's exit code.
pub fn run(cfg: Config, signals: Signals) -> i32 {
    let now = Instant::now();
    let tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let procs = cfg
        .procs
        .iter()
        .map(|s| Proc::new(s.clone(), now))
        .collect();
    let watcher = Watcher::new(&cfg.watches);
    let mut s = Supervisor {
        tasks: Tasks {
            specs: cfg.tasks.clone(),
            next: 0,
            pid: None,
        },
        cfg,
        signals,
        procs,
        next_start: 0,
        relay: Relay::default(),
        watcher,
        stop: None,
        exit_code: None,
        ignored_code: None,
        none_left: false,
        tty,
    };
    s.advance();
    s.event_loop();
    s.relay.finish();
    let code = s.exit_code.or(s.ignored_code).unwrap_or(0);
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

    fn stop_params(&self) -> stop::Params {
        stop::Params {
            order: self.cfg.stop_order,
            grace_period: self.cfg.grace_period,
            pre_stop_delay: self.cfg.pre_stop_delay,
            single_child: self.cfg.single_child,
        }
    }

    /// Whether a process's output goes through the relay: with `--log-format json` everything's
    /// but a main COMMAND on a terminal; otherwise `--prefix` for all but the main COMMAND.
    fn captures(&self, spec: &ProcSpec) -> bool {
        match self.cfg.log_format {
            LogFormat::Json => !(spec.is_main() && self.tty),
            LogFormat::Plain => self.cfg.prefix && !spec.is_main() && spec.role != Role::PreStop,
        }
    }

    fn spawn(&mut self, spec: &ProcSpec) -> Result<i32, spawn::SpawnError> {
        let opts = Options {
            foreground: spec.is_main() && self.tty,
            capture: self.captures(spec),
        };
        let spawned = spawn::spawn(spec, &opts)?;
        self.none_left = false;
        if let Some((out, err)) = spawned.output {
            self.relay.add(&spec.name, Stream::Stdout, out);
            self.relay.add(&spec.name, Stream::Stderr, err);
        }
        Ok(spawned.pid)
    }

    /// Starts what may start now: the next task, or the next processes in order up to the
    /// first whose readiness is still pending.
    fn advance(&mut self) {
        let level = self.lifecycle_level();
        while self.stop.is_none() && self.tasks.pid.is_none() {
            if let Some(spec) = self.tasks.specs.get(self.tasks.next).cloned() {
                match self.spawn(&spec) {
                    Ok(pid) => {
                        log!(level, "started task {} (pid {pid})", spec.name);
                        self.tasks.pid = Some(pid);
                    }
                    Err(e) => {
                        error!("{}", e.message);
                        error!("task {} failed: nothing more starts", spec.name);
                        self.exit_code.get_or_insert(e.code);
                        self.begin_stop_after_exit();
                    }
                }
                return;
            }
            let Some(i) = (self.next_start < self.procs.len()).then_some(self.next_start) else {
                return;
            };
            if let Some(p) = self.procs[..i].iter().find(|p| !p.is_ready()) {
                debug!(
                    "{} waits for {} to be ready",
                    self.procs[i].spec.name, p.spec.name
                );
                return;
            }
            self.next_start += 1;
            self.start(i);
        }
    }

    fn start(&mut self, i: usize) {
        let level = self.lifecycle_level();
        let spec = self.procs[i].spec.clone();
        let now = Instant::now();
        match self.spawn(&spec) {
            Ok(pid) => {
                log!(level, "started {} (pid {pid})", spec.name);
                self.procs[i].started(pid, now);
                self.drive_probe(i, now);
            }
            Err(e) => {
                error!("{}", e.message);
                self.procs[i].started(0, now);
                self.process_exited(i, Status::Exited(e.code));
            }
        }
    }

    fn event_loop(&mut self) {
        // A process that could not even start leaves nothing to wait for.
        self.reap();
        loop {
            if self.finished() {
                return;
            }
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            let woken = self.wait(timeout);
            for &signo in &woken.signals {
                if signo != libc::SIGCHLD {
                    self.on_signal(signo);
                }
            }
            // fidelity: dumb-init's job control (suspend, resume) after forwarding.
            let main = self
                .procs
                .iter()
                .find(|p| p.spec.is_main())
                .and_then(Proc::pid);
            jobcontrol::after_signals(&self.cfg, &woken.signals, main, self.tty);
            self.reap();
            for slot in woken.relay {
                self.relay.ready(slot);
            }
            for i in woken.probes {
                self.procs[i].probe_fd_ready();
            }
            if woken.files {
                if let Some(w) = &mut self.watcher {
                    w.on_readable(Instant::now());
                    if self.stop.is_some() {
                        w.clear();
                    }
                }
            }
            self.on_deadlines(Instant::now());
        }
    }

    /// Nothing is left: no child at all, nothing waiting to restart or to start.
    fn finished(&self) -> bool {
        self.none_left
            && !self
                .procs
                .iter()
                .any(|p| matches!(p.state, State::Backoff { .. }))
            && (self.stop.is_some() || self.nothing_to_start())
    }

    fn nothing_to_start(&self) -> bool {
        self.tasks.next >= self.tasks.specs.len() && self.next_start >= self.procs.len()
    }

    /// Sleeps in the kernel until a signal, a descriptor event, or the deadline. With nothing
    /// to watch and no deadline, the wait is a plain blocking read of the signalfd.
    fn wait(&self, timeout: Option<Duration>) -> Woken {
        let interest = self.relay.interest();
        let probes: Vec<_> = self
            .procs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.probe_interest()?)))
            .collect();
        if interest.is_empty() && probes.is_empty() && self.watcher.is_none() && timeout.is_none() {
            return Woken {
                signals: self.signals.read(),
                ..Woken::default()
            };
        }
        let mut fds = Vec::with_capacity(interest.len() + probes.len() + 2);
        fds.push(PollFd::new(self.signals.as_fd(), PollFlags::POLLIN));
        for (fd, read, _) in &interest {
            let flags = if *read {
                PollFlags::POLLIN
            } else {
                PollFlags::POLLOUT
            };
            fds.push(PollFd::new(*fd, flags));
        }
        for (_, (fd, flags)) in &probes {
            fds.push(PollFd::new(*fd, *flags));
        }
        if let Some(w) = &self.watcher {
            fds.push(PollFd::new(w.as_fd(), PollFlags::POLLIN));
        }
        match ppoll(&mut fds, timeout.map(TimeSpec::from_duration), None) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Woken::default(),
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
        let mut woken = Woken::default();
        if ready(&fds[0]) {
            woken.signals = self.signals.read();
        }
        // Slots in order: signals, relay, probes, inotify (a refused poll may have cut the tail).
        let at = |k: usize| fds.get(k).is_some_and(ready);
        woken.relay = (0..interest.len())
            .filter(|&k| at(1 + k))
            .map(|k| interest[k].2)
            .collect();
        let base = 1 + interest.len();
        woken.probes = (0..probes.len())
            .filter(|&k| at(base + k))
            .map(|k| probes[k].0)
            .collect();
        woken.files = self.watcher.is_some() && at(base + probes.len());
        woken
    }

    fn next_deadline(&self) -> Option<Instant> {
        // Once a stop began, only its own deadlines count: no restart, probe or file signal.
        if let Some(st) = &self.stop {
            return st.deadline();
        }
        let procs = self.procs.iter().filter_map(|p| {
            [p.deadline(), p.ready_deadline(self.cfg.ready_timeout)]
                .into_iter()
                .flatten()
                .min()
        });
        let files = self.watcher.as_ref().and_then(Watcher::deadline);
        procs.chain(files).min()
    }

    fn on_signal(&mut self, signo: Signo) {
        // Matched before the rewrite: the signal as received decides whether it stops.
        let is_stop = self.cfg.stop_signals.contains(&signo);
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
        if !is_stop {
            self.forward(to);
            return;
        }
        let now = Instant::now();
        if self.stop.as_ref().is_some_and(Stop::holding) {
            info!(
                "received {} again: ending the pre-stop wait",
                signals::name(signo)
            );
        }
        if self.with_stop(|st, w| st.repeat(to, w, now)) {
            return;
        }
        debug!("received {}: stopping", signals::name(signo));
        self.cancel_starts();
        let params = self.stop_params();
        // While only tasks have started, the running task gets the signal at once.
        let stop = if self.next_start == 0 {
            Stop::at_once(params, to, self, now)
        } else {
            Stop::on_signal(params, to, self, now)
        };
        self.stop = Some(stop);
    }

    /// Runs `f` on the stop in progress, with the supervisor as its world; false when no stop
    /// is in progress.
    fn with_stop(&mut self, f: impl FnOnce(&mut Stop, &mut Self)) -> bool {
        let Some(mut st) = self.stop.take() else {
            return false;
        };
        f(&mut st, self);
        self.stop = Some(st);
        true
    }

    /// A stop begins: nothing more starts or restarts, no probe runs, no file signal goes out.
    fn cancel_starts(&mut self) {
        for p in &mut self.procs {
            // A process waiting for its restart is down: its last exit is the run's result.
            if let Some(last) = p.cancel_restart() {
                self.exit_code.get_or_insert(last.code());
            }
        }
        if let Some(w) = &mut self.watcher {
            w.clear();
        }
    }

    /// Passes a signal that is not a stop on to the supervised processes (and the running
    /// task): their process groups, or with `--single-child` the processes themselves.
    fn forward(&self, signo: Signo) {
        let pids = self
            .procs
            .iter()
            .filter_map(Proc::pid)
            .chain(self.tasks.pid);
        for pid in pids {
            let target = if self.cfg.single_child { pid } else { -pid };
            debug!("forwarding {} to {target}", signals::name(signo));
            signals::send(target, signo);
        }
    }

    /// A supervised process exited and is not restarted (or a task failed, or a process was not
    /// ready in time): SIGTERM to everything that is left.
    fn begin_stop_after_exit(&mut self) {
        if self.stop.is_some() {
            return;
        }
        self.cancel_starts();
        let params = self.stop_params();
        let stop = Stop::at_once(params, libc::SIGTERM, self, Instant::now());
        self.stop = Some(stop);
    }

    fn reap(&mut self) {
        let reaped = reaper::reap();
        self.none_left = reaped.none_left;
        for (pid, status) in reaped.exits {
            if let Some(i) = self.procs.iter().position(|p| p.pid() == Some(pid)) {
                // fidelity: under dumb-init's name (not PID 1) the main exit ends the run.
                if jobcontrol::main_exit_ends_run(&self.cfg, pid) {
                    self.procs[i].exited_in_stop(status);
                    self.exit_code.get_or_insert(status.code());
                    self.none_left = true;
                    continue;
                }
                self.process_exited(i, status);
            } else if self.tasks.pid == Some(pid) {
                self.task_exited(status);
            } else if self.stop.as_ref().is_some_and(|s| s.is_pre_stop(pid)) {
                if status.success() {
                    info!("pre-stop command finished");
                } else {
                    warn!("pre-stop command {status}");
                }
                let now = Instant::now();
                self.with_stop(|st, w| st.pre_stop_exited(w, now));
            } else if self.procs.iter_mut().any(|p| p.probe_exited(pid, status)) {
                // An `exec:` probe: its result is read in `on_deadlines`.
            } else if self.cfg.warn_on_reap {
                warn!("reaped orphan {pid}, which {status}");
            }
        }
    }

    fn task_exited(&mut self, status: Status) {
        let level = self.lifecycle_level();
        let name = self
            .tasks
            .specs
            .get(self.tasks.next)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        self.tasks.pid = None;
        if self.stop.is_some() {
            log!(level, "task {name} {status}");
            self.exit_code.get_or_insert(status.code());
            let now = Instant::now();
            self.with_stop(|st, w| st.process_exited(TASK, w, now));
            return;
        }
        if status.success() {
            log!(level, "task {name} {status}");
            self.tasks.next += 1;
            self.advance();
            return;
        }
        error!("task {name} {status}: nothing more starts");
        self.exit_code.get_or_insert(status.code());
        self.begin_stop_after_exit();
    }

    fn process_exited(&mut self, i: usize, status: Status) {
        let level = self.lifecycle_level();
        let name = self.procs[i].spec.name.clone();
        let now = Instant::now();
        if self.stop.is_some() {
            log!(level, "{name} {status}");
            self.procs[i].exited_in_stop(status);
            self.record_exit(i, status);
            self.with_stop(|st, w| st.process_exited(i, w, now));
            return;
        }
        let outcome = self.procs[i].exited(status, now, self.cfg.restart);
        match outcome {
            Exit::Restart(delay) => {
                info!(
                    "{name} {status}; restarting in {}",
                    humantime::format_duration(delay)
                );
            }
            Exit::GaveUp(ExitAction::Stop) => {
                warn!("{name} {status}; giving up after 10 restarts within 5 minutes");
                self.exit_code.get_or_insert(status.code());
                self.begin_stop_after_exit();
            }
            Exit::Stop => {
                log!(level, "{name} {status}");
                self.exit_code.get_or_insert(status.code());
                self.begin_stop_after_exit();
            }
            Exit::Ignore | Exit::GaveUp(ExitAction::Ignore) => {
                if matches!(outcome, Exit::GaveUp(_)) {
                    warn!("{name} {status}; giving up after 10 restarts within 5 minutes (exit=ignore)");
                } else {
                    log!(level, "{name} {status} (exit=ignore)");
                }
                self.record_exit(i, status);
                if self.nothing_supervised_left() {
                    debug!("no supervised process left");
                    self.begin_stop_after_exit();
                }
            }
        }
    }

    /// The run's code: the first exit, except that an `exit=ignore` process's exit only counts
    /// when no other decides it.
    fn record_exit(&mut self, i: usize, status: Status) {
        if self.procs[i].spec.opts.exit == ExitAction::Ignore {
            if !status.success() {
                self.ignored_code.get_or_insert(status.code());
            }
        } else {
            self.exit_code.get_or_insert(status.code());
        }
    }

    /// Every supervised process is gone for good (none running, none in back-off, none left
    /// to start).
    fn nothing_supervised_left(&self) -> bool {
        self.nothing_to_start()
            && self
                .procs
                .iter()
                .all(|p| matches!(p.state, State::Done(_) | State::Waiting))
    }

    fn drive_probe(&mut self, i: usize, now: Instant) {
        if self.stop.is_some() {
            return;
        }
        let user = self.cfg.user.clone();
        if let Some(took) = self.procs[i].drive_probe(now, user.as_ref()) {
            // Tenths of a second in integers: float formatting would cost ~15 KiB of binary.
            let tenths = took.as_millis() / 100;
            info!(
                "{} ready after {}.{}s",
                self.procs[i].spec.name,
                tenths / 10,
                tenths % 10
            );
            self.advance();
        }
    }

    fn on_deadlines(&mut self, now: Instant) {
        if let Some(st) = &self.stop {
            // After the SIGKILL at the end of the grace period, another pass after each
            // wake-up while anything is left (a process forked in between).
            if st.killed() && !self.none_left {
                let grace = humantime::format_duration(self.cfg.grace_period);
                procs::kill_pass(&grace);
            }
            self.with_stop(|st, w| {
                if st.deadline().is_some_and(|d| now >= d) {
                    st.on_deadline(w, now);
                }
            });
            return;
        }
        for i in 0..self.procs.len() {
            if self.stop.is_some() {
                return;
            }
            if self.procs[i].restart_due(now) {
                self.start(i);
            }
            self.drive_probe(i, now);
        }
        if let Some(timeout) = self.cfg.ready_timeout {
            let late = self
                .procs
                .iter()
                .find(|p| p.ready_deadline(Some(timeout)).is_some_and(|d| now >= d));
            if let Some(p) = late {
                error!(
                    "{} was not ready after {}: stopping",
                    p.spec.name,
                    humantime::format_duration(timeout)
                );
                self.exit_code.get_or_insert(1);
                self.begin_stop_after_exit();
                return;
            }
        }
        let due = match &mut self.watcher {
            Some(w) => w.due(now),
            None => Vec::new(),
        };
        for k in due {
            self.file_changed(k);
        }
    }

    /// A `--watch` burst is over: its signal to its process (the process itself, not its
    /// group), unless that one is not running (restart back-off).
    fn file_changed(&self, k: usize) {
        let Some(watch) = self.cfg.watches.get(k) else {
            return;
        };
        let has_main = self.procs.iter().any(|p| p.spec.is_main());
        for p in &self.procs {
            let target = match &watch.target {
                Some(name) => p.spec.name == *name,
                None => p.spec.is_main() || (!has_main && p.spec.role == Role::Run),
            };
            if !target {
                continue;
            }
            match p.pid() {
                Some(pid) => {
                    info!(
                        "{} changed: sending {} to {}",
                        watch.path.display(),
                        signals::name(watch.signal),
                        p.spec.name
                    );
                    signals::send(pid, watch.signal);
                }
                None => debug!(
                    "{} changed, but {} is not running",
                    watch.path.display(),
                    p.spec.name
                ),
            }
        }
    }

    /// Every live process the stop sequence addresses, with its `stop=`: the running task, the
    /// running supervised processes.
    fn live(&self) -> Vec<(i32, Option<Signo>)> {
        let task = self.tasks.pid.map(|pid| {
            let stop = self
                .tasks
                .specs
                .get(self.tasks.next)
                .and_then(|s| s.opts.stop);
            (pid, stop)
        });
        self.procs
            .iter()
            .filter_map(|p| Some((p.pid()?, p.spec.opts.stop)))
            .chain(task)
            .collect()
    }

    fn pid_of(&self, i: usize) -> Option<(i32, Option<Signo>)> {
        if i == TASK {
            let pid = self.tasks.pid?;
            return Some((pid, self.tasks.specs.get(self.tasks.next)?.opts.stop));
        }
        let p = self.procs.get(i)?;
        Some((p.pid()?, p.spec.opts.stop))
    }

    fn target(&self, pid: i32) -> i32 {
        if self.cfg.single_child {
            pid
        } else {
            -pid
        }
    }
}

impl World for Supervisor {
    fn alive(&self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.procs.len())
            .filter(|&i| self.procs[i].pid().is_some())
            .collect();
        if self.tasks.pid.is_some() {
            v.push(TASK);
        }
        v
    }

    fn grace_of(&self, i: usize) -> Option<Duration> {
        if i == TASK {
            return self.tasks.specs.get(self.tasks.next)?.opts.grace;
        }
        self.procs.get(i)?.spec.opts.grace
    }

    fn stop_one(&mut self, i: usize, signo: Signo) {
        let Some((pid, own)) = self.pid_of(i) else {
            return;
        };
        let signo = own.unwrap_or(signo);
        let target = self.target(pid);
        debug!("sending {} to {target}", signals::name(signo));
        signals::send(target, signo);
        procs::continue_if_stopped(pid);
    }

    fn kill_one(&mut self, i: usize) {
        let Some((pid, _)) = self.pid_of(i) else {
            return;
        };
        let name = if i == TASK {
            "the task".to_string()
        } else {
            self.procs[i].spec.name.clone()
        };
        warn!("{name} did not stop in its time: killing it");
        signals::send(self.target(pid), libc::SIGKILL);
    }

    fn stop_all(&mut self, signo: Signo) {
        let live = self.live();
        if self.cfg.single_child {
            if live.is_empty() {
                if !self.none_left {
                    debug!("sending {} to the processes left", signals::name(signo));
                    procs::stop_everyone(signo);
                }
                return;
            }
            for (pid, own) in live {
                signals::send(pid, own.unwrap_or(signo));
                procs::continue_if_stopped(pid);
            }
            return;
        }
        let own: Vec<(i32, Signo)> = live
            .iter()
            .filter_map(|&(pid, own)| Some((pid, own?)))
            .collect();
        if own.is_empty() {
            // Commonly the main process was the last one: nothing to signal, no /proc walk.
            if !self.none_left {
                procs::stop_everyone(signo);
            }
            return;
        }
        // Processes with `stop=` get theirs, to their group; everything else the stop signal.
        for &(pid, s) in &own {
            debug!("sending {} to {}", signals::name(s), -pid);
            signals::send(-pid, s);
        }
        for p in procs::everyone() {
            // SAFETY: getpgid has no memory-safety preconditions.
            let pgid = unsafe { libc::getpgid(p.pid) };
            let in_own_group = own.iter().any(|&(pid, _)| pid == pgid);
            if !in_own_group {
                signals::send(p.pid, signo);
            }
            if p.state == 'T' {
                signals::send(p.pid, libc::SIGCONT);
            }
        }
    }

    fn kill_all(&mut self) {
        // harden (faults F, G): procs bounds and words the SIGKILL pass.
        let grace = humantime::format_duration(self.cfg.grace_period);
        procs::kill_pass(&grace);
    }

    fn start_pre_stop(&mut self) -> Option<i32> {
        let cmd = self.cfg.pre_stop.clone()?;
        match self.spawn(&cmd) {
            Ok(pid) => {
                info!("running pre-stop command {} (pid {pid})", cmd.name);
                Some(pid)
            }
            Err(e) => {
                warn!("pre-stop command: {}", e.message);
                None
            }
        }
    }

    fn kill_pre_stop(&mut self, pid: i32) {
        let grace = humantime::format_duration(self.cfg.grace_period);
        warn!("pre-stop command still running after {grace}: killing it");
        signals::send(-pid, libc::SIGKILL);
    }
}
