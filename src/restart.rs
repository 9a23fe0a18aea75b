//! Restart back-off for `--restart`: doubling from 100 ms up to 30 s, reset after 60 s of
//! uptime; after 10 restarts within 5 minutes rinit gives up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const FIRST: Duration = Duration::from_millis(100);
const LONGEST: Duration = Duration::from_secs(30);
const STABLE: Duration = Duration::from_secs(60);
const WINDOW: Duration = Duration::from_secs(300);
const MAX_IN_WINDOW: usize = 10;

#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    recent: VecDeque<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: FIRST,
            recent: VecDeque::new(),
        }
    }
}

impl Backoff {
    /// The process exited at `now` after running for `uptime`: how long to wait before starting
    /// it again, or `None` to give up.
    pub fn next_delay(&mut self, now: Instant, uptime: Duration) -> Option<Duration> {
        if uptime >= STABLE {
            self.next = FIRST;
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= MAX_IN_WINDOW {
            return None;
        }
        self.recent.push_back(now);
        let delay = self.next;
        self.next = (self.next * 2).min(LONGEST);
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps_then_gives_up() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        let mut t = t0;
        let mut delays = Vec::new();
        while let Some(d) = b.next_delay(t, Duration::from_millis(1)) {
            delays.push(d.as_millis());
            t += d;
        }
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000]
        );
    }

    #[test]
    fn long_uptime_resets() {
        let mut b = Backoff::default();
        let t = Instant::now();
        assert_eq!(b.next_delay(t, Duration::ZERO), Some(FIRST));
        assert_eq!(b.next_delay(t, Duration::ZERO), Some(FIRST * 2));
        assert_eq!(b.next_delay(t, STABLE), Some(FIRST));
    }

    #[test]
    fn old_restarts_leave_the_window() {
        let mut b = Backoff::default();
        let t = Instant::now();
        for _ in 0..MAX_IN_WINDOW {
            assert!(b.next_delay(t, STABLE).is_some());
        }
        assert_eq!(b.next_delay(t, STABLE), None);
        assert!(b.next_delay(t + WINDOW, STABLE).is_some());
    }
}
