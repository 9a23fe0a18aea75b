//! One supervised process's life, as an explicit state machine: waiting for its turn (tasks
//! first, then an earlier process's readiness), running (with its `ready=` probe pending until it
//! succeeds once), in restart back-off, or gone for good. The supervisor feeds it events (started,
//! exited, probe progress, deadlines) and reads its deadlines; it holds no timer of its own.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;

use crate::config::{ExitAction, ProcSpec, RestartPolicy};
use crate::probe::Attempt;
use crate::reaper::Status;
use crate::restart::Backoff;
use crate::users::Identity;

/// First pause between two probe attempts; it doubles up to [`PROBE_LONGEST`].
const PROBE_FIRST: Duration = Duration::from_millis(100);
const PROBE_LONGEST: Duration = Duration::from_secs(1);
/// Each probe attempt's bound.
pub const PROBE_ATTEMPT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started yet: tasks are running, or an earlier process is not ready.
    Waiting,
    /// Running (its `ready=` probe may still be pending).
    Running { pid: i32, since: Instant },
    /// Exited; starts again at `until` (`--restart`).
    Backoff { until: Instant, last: Status },
    /// Gone for good.
    Done(Status),
}

/// A `ready=` probe's progress. It runs only while its process runs, and never again once it
/// succeeded: idle stays idle.
pub enum Readiness {
    /// No `ready=`: started means ready.
    Ready,
    /// Not ready yet.
    Pending {
        /// The process's first start: `--ready-timeout` counts from here.
        since: Option<Instant>,
        attempt: Option<Attempt>,
        /// When the next attempt may begin.
        next: Instant,
        interval: Duration,
    },
}

/// What became of a process that exited outside a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Restarts after this delay.
    Restart(Duration),
    /// Too many restarts: rinit gives up on it; then as `exit=` says (stop everything, or not).
    GaveUp(ExitAction),
    /// Not restarted: stops everything (`exit=stop`).
    Stop,
    /// Not restarted, and nothing else stops (`exit=ignore`).
    Ignore,
}

pub struct Proc {
    pub spec: ProcSpec,
    pub state: State,
    pub ready: Readiness,
    backoff: Backoff,
}

impl Proc {
    pub fn new(spec: ProcSpec, now: Instant) -> Proc {
        let ready = match spec.opts.ready {
            Some(_) => Readiness::Pending {
                since: None,
                attempt: None,
                next: now,
                interval: PROBE_FIRST,
            },
            None => Readiness::Ready,
        };
        Proc {
            spec,
            state: State::Waiting,
            ready,
            backoff: Backoff::default(),
        }
    }

    pub fn pid(&self) -> Option<i32> {
        match self.state {
            State::Running { pid, .. } => Some(pid),
            _ => None,
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.ready, Readiness::Ready)
    }

    /// It started (or tried to: a failed start is an exit right after).
    pub fn started(&mut self, pid: i32, now: Instant) {
        self.state = State::Running { pid, since: now };
        if let Readiness::Pending { since, next, .. } = &mut self.ready {
            since.get_or_insert(now);
            *next = now;
        }
    }

    /// It exited outside a stop: restart it per its policy, or not.
    pub fn exited(&mut self, status: Status, now: Instant, default: RestartPolicy) -> Exit {
        let uptime = match self.state {
            State::Running { since, .. } => now.saturating_duration_since(since),
            _ => Duration::ZERO,
        };
        self.cancel_attempt();
        let restart = !self.spec.is_main()
            && match self.spec.opts.restart.unwrap_or(default) {
                RestartPolicy::Never => false,
                RestartPolicy::OnFailure => !status.success(),
                RestartPolicy::Always => true,
            };
        if restart {
            if let Some(delay) = self.backoff.next_delay(now, uptime) {
                self.state = State::Backoff {
                    until: now + delay,
                    last: status,
                };
                return Exit::Restart(delay);
            }
            self.state = State::Done(status);
            return Exit::GaveUp(self.spec.opts.exit);
        }
        self.state = State::Done(status);
        match self.spec.opts.exit {
            ExitAction::Stop => Exit::Stop,
            ExitAction::Ignore => Exit::Ignore,
        }
    }

    /// It exited during a stop: never restarted.
    pub fn exited_in_stop(&mut self, status: Status) {
        self.cancel_attempt();
        self.state = State::Done(status);
    }

    /// A stop began: a pending restart will not happen. Returns the last exit when one was
    /// pending.
    pub fn cancel_restart(&mut self) -> Option<Status> {
        self.cancel_attempt();
        match self.state {
            State::Backoff { last, .. } => {
                self.state = State::Done(last);
                Some(last)
            }
            _ => None,
        }
    }

    pub fn restart_due(&self, now: Instant) -> bool {
        matches!(self.state, State::Backoff { until, .. } if now >= until)
    }

    fn cancel_attempt(&mut self) {
        if let Readiness::Pending { attempt, .. } = &mut self.ready {
            // Dropping an attempt cancels it (and kills an `exec:` probe's group).
            *attempt = None;
        }
    }

    /// The moment this process needs the loop's attention: its restart, or its probe's next
    /// step. None when there is nothing to do (no probe runs while it is not running).
    pub fn deadline(&self) -> Option<Instant> {
        match (&self.state, &self.ready) {
            (State::Backoff { until, .. }, _) => Some(*until),
            (State::Running { .. }, Readiness::Pending { attempt, next, .. }) => {
                Some(attempt.as_ref().map_or(*next, |a| a.deadline()))
            }
            _ => None,
        }
    }

    /// When `--ready-timeout` runs out for it, if its probe is still pending.
    pub fn ready_deadline(&self, timeout: Option<Duration>) -> Option<Instant> {
        match (&self.ready, timeout) {
            (
                Readiness::Pending {
                    since: Some(since), ..
                },
                Some(t),
            ) => Some(*since + t),
            _ => None,
        }
    }

    /// The descriptor the pending probe attempt waits on, if any.
    pub fn probe_interest(&self) -> Option<(BorrowedFd<'_>, PollFlags)> {
        match &self.ready {
            Readiness::Pending {
                attempt: Some(a), ..
            } => a.interest(),
            _ => None,
        }
    }

    pub fn probe_fd_ready(&mut self) {
        if let Readiness::Pending {
            attempt: Some(a), ..
        } = &mut self.ready
        {
            a.on_ready();
        }
    }

    /// `pid` was reaped: if it is this process's `exec:` probe, it is handed over and `true`.
    pub fn probe_exited(&mut self, pid: i32, status: Status) -> bool {
        if let Readiness::Pending {
            attempt: Some(a), ..
        } = &mut self.ready
        {
            if a.exec_pid() == Some(pid) {
                a.on_exit(status);
                return true;
            }
        }
        false
    }

    /// Moves the probe on: cancels an attempt past its bound, takes a finished attempt's result,
    /// starts the next attempt when it is due. Returns how long the process took to be ready
    /// when it just became so.
    pub fn drive_probe(&mut self, now: Instant, exec_user: Option<&Identity>) -> Option<Duration> {
        let State::Running { .. } = self.state else {
            return None;
        };
        let spec = self.spec.opts.ready.as_ref()?;
        let Readiness::Pending {
            since,
            attempt,
            next,
            interval,
        } = &mut self.ready
        else {
            return None;
        };
        // At most two rounds: a finished attempt, then a new one that may finish at once
        // (`file:`); the one after that waits for its pause.
        for _ in 0..2 {
            if let Some(a) = attempt {
                if a.done().is_none() && now >= a.deadline() {
                    a.on_deadline(now);
                }
                match a.done() {
                    None => return None,
                    Some(true) => {
                        let took = now.saturating_duration_since(since.unwrap_or(now));
                        self.ready = Readiness::Ready;
                        return Some(took);
                    }
                    Some(false) => {
                        *attempt = None;
                        *next = now + *interval;
                        *interval = (*interval * 2).min(PROBE_LONGEST);
                    }
                }
            }
            if now < *next {
                return None;
            }
            *attempt = Some(Attempt::start(spec, PROBE_ATTEMPT, exec_user));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ProcOptions, Role};
    use crate::probe::ProbeSpec;

    fn spec(ready: Option<ProbeSpec>, restart: Option<RestartPolicy>) -> ProcSpec {
        ProcSpec {
            name: "p".into(),
            argv: vec!["true".into()],
            role: Role::Run,
            opts: ProcOptions {
                ready,
                restart,
                ..ProcOptions::default()
            },
        }
    }

    #[test]
    fn restart_per_policy_then_for_good() {
        let t = Instant::now();
        let mut p = Proc::new(spec(None, Some(RestartPolicy::OnFailure)), t);
        p.started(10, t);
        assert_eq!(
            p.exited(Status::Exited(1), t, RestartPolicy::Never),
            Exit::Restart(PROBE_FIRST)
        );
        assert_eq!(p.deadline(), Some(t + PROBE_FIRST));
        assert!(p.restart_due(t + PROBE_FIRST));
        p.started(11, t + PROBE_FIRST);
        assert_eq!(
            p.exited(Status::Exited(0), t, RestartPolicy::Always),
            Exit::Stop
        );
        assert_eq!(p.state, State::Done(Status::Exited(0)));
    }

    #[test]
    fn exit_ignore() {
        let t = Instant::now();
        let mut s = spec(None, None);
        s.opts.exit = ExitAction::Ignore;
        let mut p = Proc::new(s, t);
        p.started(10, t);
        assert_eq!(
            p.exited(Status::Killed(9), t, RestartPolicy::Never),
            Exit::Ignore
        );
    }

    #[test]
    fn cancelled_restart_gives_the_last_exit() {
        let t = Instant::now();
        let mut p = Proc::new(spec(None, Some(RestartPolicy::Always)), t);
        p.started(10, t);
        p.exited(Status::Exited(3), t, RestartPolicy::Never);
        assert_eq!(p.cancel_restart(), Some(Status::Exited(3)));
        assert_eq!(p.deadline(), None);
    }

    #[test]
    fn file_probe_succeeds_once_and_then_sleeps() {
        let t = Instant::now();
        let mut p = Proc::new(spec(Some(ProbeSpec::File("/".into())), None), t);
        assert!(!p.is_ready());
        // Not running: no probe, no deadline.
        assert_eq!(p.drive_probe(t, None), None);
        assert_eq!(p.deadline(), None);
        p.started(10, t);
        assert_eq!(
            p.ready_deadline(Some(Duration::from_secs(5))),
            Some(t + Duration::from_secs(5))
        );
        assert!(p.drive_probe(t, None).is_some());
        assert!(p.is_ready());
        assert_eq!(p.deadline(), None);
        assert_eq!(p.ready_deadline(Some(Duration::from_secs(5))), None);
    }

    #[test]
    fn failing_probe_backs_off_to_one_second() {
        let t = Instant::now();
        let path = "/nonexistent/rinit-lifecycle-test";
        let mut p = Proc::new(spec(Some(ProbeSpec::File(path.into())), None), t);
        p.started(10, t);
        let mut now = t;
        let mut pauses = Vec::new();
        for _ in 0..6 {
            assert_eq!(p.drive_probe(now, None), None);
            let next = p.deadline().expect("a next attempt");
            pauses.push((next - now).as_millis());
            now = next;
        }
        assert_eq!(pauses, [100, 200, 400, 800, 1000, 1000]);
        // The timeout counts from the first start, across a restart.
        p.exited(Status::Exited(1), now, RestartPolicy::Always);
        assert_eq!(
            p.ready_deadline(Some(Duration::from_secs(60))),
            Some(t + Duration::from_secs(60))
        );
    }
}
