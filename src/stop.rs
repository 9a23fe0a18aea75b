//! The stop sequence as its own state machine (contract, "What rinit does", step 5, and
//! `--stop-order`): `--pre-stop`, `--pre-stop-delay`, then the stop signal to everything at once
//! (`parallel`) or one process at a time (`reverse`), the grace period, SIGKILL.
//!
//! The machine decides; the supervisor carries it out through [`World`]. It holds no timer: it
//! names its next deadline and is called back when it has passed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::StopOrder;
use crate::signals::{self, Signo};

/// What the stop sequence needs from the supervisor.
pub trait World {
    /// Supervised processes alive now, in start order (indices into the supervisor's list).
    fn alive(&self) -> Vec<usize>;
    /// A process's `grace=`.
    fn grace_of(&self, i: usize) -> Option<Duration>;
    /// The stop signal (or the process's `stop=` instead) to one process: its group, or the
    /// process itself with `--single-child`.
    fn stop_one(&mut self, i: usize, signo: Signo);
    /// SIGKILL to one process (its group, or itself with `--single-child`).
    fn kill_one(&mut self, i: usize);
    /// The stop signal to everything: each process alive gets its `stop=` or `signo`, everything
    /// else in the container `signo`; with `--single-child` only the supervised processes (and,
    /// once none is left, everything else).
    fn stop_all(&mut self, signo: Signo);
    /// SIGKILL to everything left, once the grace period is over.
    fn kill_all(&mut self);
    /// Starts `--pre-stop`: its pid, or `None` when there is none (or it could not start).
    fn start_pre_stop(&mut self) -> Option<i32>;
    /// Kills the `--pre-stop` command's group once its time is up.
    fn kill_pre_stop(&mut self, pid: i32);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// `--pre-stop` runs, bounded by the grace period.
    PreStop { pid: i32, until: Instant },
    /// `--pre-stop-delay`: everything keeps running.
    Delay { until: Instant },
    /// `--stop-order reverse`: `current` got its signal and has until its deadline; `queue`
    /// holds those still to be signalled, next first.
    Reverse {
        current: Option<(usize, Instant)>,
        queue: VecDeque<usize>,
    },
    /// Everything got the stop signal: waiting for exits until the grace period is over.
    Grace,
    /// SIGKILL went out: waiting for the last exits.
    Killed,
}

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub order: StopOrder,
    pub grace_period: Duration,
    pub pre_stop_delay: Duration,
    pub single_child: bool,
}

#[derive(Debug)]
pub struct Stop {
    params: Params,
    /// The (rewritten) stop signal.
    signal: Signo,
    phase: Phase,
    /// The end of the grace period, once the stop signal went out.
    grace_until: Option<Instant>,
    /// With `--single-child`: the leftovers got their SIGTERM.
    leftovers_done: bool,
}

impl Stop {
    /// A stop signal arrived: `--pre-stop`, the delay, then the signal.
    pub fn on_signal(params: Params, signal: Signo, w: &mut dyn World, now: Instant) -> Stop {
        let mut s = Stop::new(params, signal);
        match w.start_pre_stop() {
            Some(pid) => {
                s.phase = Phase::PreStop {
                    pid,
                    until: now + params.grace_period,
                }
            }
            None => s.begin_delay(w, now),
        }
        s
    }

    /// A stop with no pre-stop and no delay: a supervised process exited (SIGTERM to the rest),
    /// or a stop signal arrived while only tasks had started.
    pub fn at_once(params: Params, signal: Signo, w: &mut dyn World, now: Instant) -> Stop {
        let mut s = Stop::new(params, signal);
        s.release(w, now);
        s
    }

    fn new(params: Params, signal: Signo) -> Stop {
        Stop {
            params,
            signal,
            phase: Phase::Grace,
            grace_until: None,
            leftovers_done: false,
        }
    }

    #[cfg(test)]
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// SIGKILL went out to everything at the end of the grace period.
    pub fn killed(&self) -> bool {
        self.phase == Phase::Killed
    }

    /// The stop signal is still held back (pre-stop command or delay).
    pub fn holding(&self) -> bool {
        matches!(self.phase, Phase::PreStop { .. } | Phase::Delay { .. })
    }

    pub fn is_pre_stop(&self, pid: i32) -> bool {
        matches!(self.phase, Phase::PreStop { pid: p, .. } if p == pid)
    }

    fn begin_delay(&mut self, w: &mut dyn World, now: Instant) {
        if self.params.pre_stop_delay.is_zero() {
            self.release(w, now);
        } else {
            log::info!(
                "pre-stop delay: holding {} for {}",
                signals::name(self.signal),
                humantime::format_duration(self.params.pre_stop_delay)
            );
            self.phase = Phase::Delay {
                until: now + self.params.pre_stop_delay,
            };
        }
    }

    /// Sends the stop signal (all at once, or the first in reverse order) and starts the grace
    /// period.
    fn release(&mut self, w: &mut dyn World, now: Instant) {
        if matches!(self.phase, Phase::Delay { .. }) {
            log::info!(
                "pre-stop delay over: forwarding {}",
                signals::name(self.signal)
            );
        }
        self.grace_until = Some(now + self.params.grace_period);
        match self.params.order {
            StopOrder::Parallel => {
                self.phase = Phase::Grace;
                self.signal_all(w, self.signal);
                self.check_leftovers(w);
            }
            StopOrder::Reverse => {
                let queue = w.alive().into_iter().rev().collect();
                self.phase = Phase::Reverse {
                    current: None,
                    queue,
                };
                self.next_in_reverse(w, now);
            }
        }
    }

    /// Reverse order: the next process still alive gets its signal and its time; after the last,
    /// everything else gets the signal.
    fn next_in_reverse(&mut self, w: &mut dyn World, now: Instant) {
        let grace_until = self.grace_until.unwrap_or(now);
        let Phase::Reverse { current, queue } = &mut self.phase else {
            return;
        };
        *current = None;
        let alive = w.alive();
        while let Some(i) = queue.pop_front() {
            if !alive.contains(&i) {
                continue;
            }
            let left = grace_until.saturating_duration_since(now);
            let still = queue.iter().filter(|j| alive.contains(j)).count() as u32 + 1;
            let share = match w.grace_of(i) {
                Some(g) => g,
                None => left / still,
            };
            *current = Some((i, (now + share).min(grace_until)));
            w.stop_one(i, self.signal);
            return;
        }
        self.phase = Phase::Grace;
        self.signal_all(w, self.signal);
        self.check_leftovers(w);
    }

    fn signal_all(&mut self, w: &mut dyn World, signo: Signo) {
        // With nothing supervised left, this already is the leftovers' signal.
        if w.alive().is_empty() {
            self.leftovers_done = true;
        }
        w.stop_all(signo);
    }

    /// With `--single-child`, once no supervised process is left, the rest gets SIGTERM.
    fn check_leftovers(&mut self, w: &mut dyn World) {
        if self.params.single_child
            && !self.leftovers_done
            && self.phase == Phase::Grace
            && w.alive().is_empty()
        {
            self.leftovers_done = true;
            w.stop_all(libc::SIGTERM);
        }
    }

    /// Another stop signal arrived during the stop.
    pub fn repeat(&mut self, signal: Signo, w: &mut dyn World, now: Instant) {
        match &self.phase {
            Phase::PreStop { .. } | Phase::Delay { .. } => self.release(w, now),
            Phase::Reverse {
                current: Some((i, _)),
                ..
            } => w.stop_one(*i, signal),
            Phase::Reverse { .. } | Phase::Grace => w.stop_all(signal),
            Phase::Killed => {}
        }
    }

    /// The `--pre-stop` command exited: on to the delay.
    pub fn pre_stop_exited(&mut self, w: &mut dyn World, now: Instant) {
        if matches!(self.phase, Phase::PreStop { .. }) {
            self.begin_delay(w, now);
        }
    }

    /// Supervised process `i` exited (and was not restarted).
    pub fn process_exited(&mut self, i: usize, w: &mut dyn World, now: Instant) {
        match &self.phase {
            // The app is going down anyway: holding the signal back helps no one now.
            Phase::PreStop { .. } | Phase::Delay { .. } => self.release(w, now),
            Phase::Reverse {
                current: Some((c, _)),
                ..
            } if *c == i => self.next_in_reverse(w, now),
            _ => self.check_leftovers(w),
        }
    }

    /// The next moment the machine must act, if any.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::PreStop { until, .. } | Phase::Delay { until } => Some(*until),
            Phase::Reverse {
                current: Some((_, until)),
                ..
            } => Some(*until),
            Phase::Reverse { .. } | Phase::Grace => self.grace_until,
            Phase::Killed => None,
        }
    }

    pub fn on_deadline(&mut self, w: &mut dyn World, now: Instant) {
        match self.phase.clone() {
            Phase::PreStop { pid, until } if now >= until => {
                w.kill_pre_stop(pid);
                self.begin_delay(w, now);
            }
            Phase::Delay { until } if now >= until => self.release(w, now),
            Phase::Reverse {
                current: Some((i, until)),
                ..
            } if now >= until => {
                if self.grace_until.is_some_and(|g| now >= g) {
                    self.phase = Phase::Killed;
                    w.kill_all();
                } else {
                    w.kill_one(i);
                    self.next_in_reverse(w, now);
                }
            }
            Phase::Grace | Phase::Reverse { .. } if self.grace_until.is_some_and(|g| now >= g) => {
                self.phase = Phase::Killed;
                w.kill_all();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Fake {
        alive: Vec<usize>,
        graces: Vec<Option<Duration>>,
        log: Vec<String>,
        pre_stop: Option<i32>,
    }

    impl World for Fake {
        fn alive(&self) -> Vec<usize> {
            self.alive.clone()
        }
        fn grace_of(&self, i: usize) -> Option<Duration> {
            self.graces.get(i).copied().flatten()
        }
        fn stop_one(&mut self, i: usize, signo: Signo) {
            self.log.push(format!("sig {i} {signo}"));
        }
        fn kill_one(&mut self, i: usize) {
            self.log.push(format!("kill {i}"));
        }
        fn stop_all(&mut self, signo: Signo) {
            self.log.push(format!("all {signo}"));
        }
        fn kill_all(&mut self) {
            self.log.push("kill all".into());
        }
        fn start_pre_stop(&mut self) -> Option<i32> {
            self.pre_stop
        }
        fn kill_pre_stop(&mut self, pid: i32) {
            self.log.push(format!("kill pre-stop {pid}"));
        }
    }

    fn params(order: StopOrder) -> Params {
        Params {
            order,
            grace_period: Duration::from_secs(9),
            pre_stop_delay: Duration::ZERO,
            single_child: false,
        }
    }

    const TERM: Signo = libc::SIGTERM;

    #[test]
    fn parallel_signals_all_then_kills_at_grace() {
        let mut w = Fake {
            alive: vec![0, 1],
            ..Fake::default()
        };
        let t = Instant::now();
        let mut s = Stop::on_signal(params(StopOrder::Parallel), TERM, &mut w, t);
        assert_eq!(w.log, ["all 15"]);
        assert_eq!(s.deadline(), Some(t + Duration::from_secs(9)));
        s.on_deadline(&mut w, t + Duration::from_secs(9));
        assert_eq!(w.log, ["all 15", "kill all"]);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn reverse_order_shares_the_grace_period() {
        let mut w = Fake {
            alive: vec![0, 1, 2],
            ..Fake::default()
        };
        let t = Instant::now();
        let mut s = Stop::on_signal(params(StopOrder::Reverse), TERM, &mut w, t);
        // The last started (the main COMMAND) first, with a third of 9 s.
        assert_eq!(w.log, ["sig 2 15"]);
        assert_eq!(s.deadline(), Some(t + Duration::from_secs(3)));
        // It exits after 1 s: the next gets its signal at once, with half of the 8 s left.
        w.alive = vec![0, 1];
        s.process_exited(2, &mut w, t + Duration::from_secs(1));
        assert_eq!(w.log, ["sig 2 15", "sig 1 15"]);
        assert_eq!(s.deadline(), Some(t + Duration::from_secs(5)));
        // Its time is up: SIGKILL, and the first one gets its signal.
        s.on_deadline(&mut w, t + Duration::from_secs(5));
        assert_eq!(w.log[2..], ["kill 1", "sig 0 15"]);
        w.alive = vec![0];
        assert_eq!(s.deadline(), Some(t + Duration::from_secs(9)));
        w.alive = vec![];
        s.process_exited(0, &mut w, t + Duration::from_secs(6));
        // After the last, everything else gets the signal; the grace deadline stays.
        assert_eq!(w.log[4..], ["all 15"]);
        assert_eq!(s.phase(), &Phase::Grace);
        assert_eq!(s.deadline(), Some(t + Duration::from_secs(9)));
    }

    #[test]
    fn reverse_order_uses_grace_and_skips_the_dead() {
        let mut w = Fake {
            alive: vec![0, 2],
            graces: vec![None, None, Some(Duration::from_secs(1))],
            ..Fake::default()
        };
        let t = Instant::now();
        let mut s = Stop::at_once(params(StopOrder::Reverse), TERM, &mut w, t);
        assert_eq!(w.log, ["sig 2 15"]);
        assert_eq!(s.deadline(), Some(t + Duration::from_secs(1)));
        s.on_deadline(&mut w, t + Duration::from_secs(1));
        // 1 is dead already: 0 gets all of the 8 s left.
        assert_eq!(w.log, ["sig 2 15", "kill 2", "sig 0 15"]);
        assert_eq!(s.deadline(), Some(t + Duration::from_secs(9)));
        s.on_deadline(&mut w, t + Duration::from_secs(9));
        assert_eq!(w.log[3..], ["kill all"]);
    }

    #[test]
    fn pre_stop_then_delay_then_signal() {
        let mut w = Fake {
            alive: vec![0],
            pre_stop: Some(42),
            ..Fake::default()
        };
        let mut p = params(StopOrder::Parallel);
        p.pre_stop_delay = Duration::from_secs(2);
        let t = Instant::now();
        let mut s = Stop::on_signal(p, TERM, &mut w, t);
        assert!(s.is_pre_stop(42) && s.holding());
        assert_eq!(s.deadline(), Some(t + Duration::from_secs(9)));
        s.pre_stop_exited(&mut w, t + Duration::from_secs(1));
        assert_eq!(s.deadline(), Some(t + Duration::from_secs(3)));
        assert!(w.log.is_empty());
        s.on_deadline(&mut w, t + Duration::from_secs(3));
        assert_eq!(w.log, ["all 15"]);
        assert_eq!(s.deadline(), Some(t + Duration::from_secs(12)));
    }

    #[test]
    fn second_signal_cuts_the_delay_short() {
        let mut w = Fake {
            alive: vec![0],
            ..Fake::default()
        };
        let mut p = params(StopOrder::Parallel);
        p.pre_stop_delay = Duration::from_secs(5);
        let t = Instant::now();
        let mut s = Stop::on_signal(p, TERM, &mut w, t);
        assert!(w.log.is_empty());
        s.repeat(TERM, &mut w, t);
        assert_eq!(w.log, ["all 15"]);
    }

    #[test]
    fn single_child_leftovers_get_sigterm_once() {
        let mut w = Fake {
            alive: vec![0],
            ..Fake::default()
        };
        let mut p = params(StopOrder::Parallel);
        p.single_child = true;
        let t = Instant::now();
        let mut s = Stop::on_signal(p, libc::SIGINT, &mut w, t);
        assert_eq!(w.log, ["all 2"]);
        w.alive.clear();
        s.process_exited(0, &mut w, t);
        s.process_exited(0, &mut w, t);
        assert_eq!(w.log, ["all 2", "all 15"]);
    }
}
