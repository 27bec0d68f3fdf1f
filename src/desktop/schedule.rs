//! When each account is checked by itself: its interval (its own, or the
//! general one), never sooner than the server's LOGIN-DELAY, later and
//! later after failures that waiting may cure (the server busy, in use or
//! unreachable: the wait doubles up to a cap, and a success resets it),
//! and never while the user is in the middle of an Apply on it.
//!
//! Pure bookkeeping over instants handed in by the caller, so that tests
//! run the rules with a clock of their own and never sleep.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest wait after failures, unless the interval itself is longer.
pub const BACKOFF_CAP: Duration = Duration::from_secs(60 * 60);

/// How an automatic check ended, as far as the schedule cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The machine seems offline (the server's name could not be looked up,
    /// or the network is unreachable): try again later, quietly.
    Offline,
    /// Waiting may help: the server said it is busy (`[SYS/TEMP]`), the
    /// mailbox is in use (`[IN-USE]`), the connection failed or timed out.
    Transient,
    /// Waiting will not help (a refused password, a certificate): the
    /// next check comes at the usual time, and the user has been told.
    Permanent,
}

#[derive(Clone, Debug, Default)]
struct Timer {
    interval: Option<Duration>,
    login_delay: Duration,
    /// Failures in a row that waiting may cure.
    failures: u32,
    /// The last check that reached the server (it counts for LOGIN-DELAY).
    last_login: Option<Instant>,
    due: Option<Instant>,
    /// A check is under way: the next is counted from its end.
    running: bool,
}

impl Timer {
    /// The shortest time between two checks.
    fn floor(&self) -> Duration {
        self.interval.unwrap_or_default().max(self.login_delay)
    }

    fn reschedule(&mut self, now: Instant) {
        let Some(interval) = self.interval else {
            self.due = None;
            return;
        };
        let wait = if self.failures == 0 {
            interval
        } else {
            let doubled = interval.saturating_mul(1 << self.failures.min(16));
            doubled.min(BACKOFF_CAP.max(interval))
        };
        let mut due = now + wait.max(self.login_delay);
        if let Some(login) = self.last_login {
            due = due.max(login + self.floor());
        }
        self.due = Some(due);
    }
}

/// Every account's next automatic check.
#[derive(Debug, Default)]
pub struct Schedule {
    timers: HashMap<String, Timer>,
}

impl Schedule {
    /// Sets (or changes) how often an account is checked; `None`: never by
    /// itself. A new account, or a changed interval, counts from `now`.
    pub fn set_interval(&mut self, account: &str, interval: Option<Duration>, now: Instant) {
        let timer = self.timers.entry(account.to_owned()).or_default();
        if timer.interval == interval {
            return;
        }
        timer.interval = interval;
        if !timer.running {
            timer.reschedule(now);
        }
    }

    /// Forgets accounts that are gone.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.timers.retain(|id, _| keep(id));
    }

    /// The server's LOGIN-DELAY (RFC 2449), in seconds, as its last reply
    /// said.
    pub fn set_login_delay(&mut self, account: &str, secs: Option<u32>) {
        let timer = self.timers.entry(account.to_owned()).or_default();
        timer.login_delay = Duration::from_secs(u64::from(secs.unwrap_or(0)));
    }

    /// A check of the account ended (whoever started it): the next one is
    /// counted from now.
    pub fn checked(&mut self, account: &str, outcome: Outcome, now: Instant) {
        let timer = self.timers.entry(account.to_owned()).or_default();
        timer.running = false;
        match outcome {
            Outcome::Success => {
                timer.failures = 0;
                timer.last_login = Some(now);
            }
            Outcome::Offline | Outcome::Transient => {
                timer.failures = timer.failures.saturating_add(1);
            }
            Outcome::Permanent => timer.failures = 0,
        }
        timer.reschedule(now);
    }

    /// The accounts due now that are free (`busy` says which are not: a job
    /// running, an Apply being confirmed). A busy account stays due and is
    /// checked as soon as it is free.
    pub fn due(&self, now: Instant, busy: impl Fn(&str) -> bool) -> Vec<String> {
        let mut due: Vec<String> = self
            .timers
            .iter()
            .filter(|(id, t)| t.due.is_some_and(|d| d <= now) && !busy(id))
            .map(|(id, _)| id.clone())
            .collect();
        due.sort();
        due
    }

    /// Marks an account's check as started (by the schedule or by the
    /// user), so it is not handed out again before it ends.
    pub fn started(&mut self, account: &str) {
        let timer = self.timers.entry(account.to_owned()).or_default();
        timer.running = true;
        timer.due = None;
    }

    /// When the next check is due, if any: the one moment the window needs
    /// to wake up for (no repaint loop meanwhile).
    pub fn next_due(&self) -> Option<Instant> {
        self.timers.values().filter_map(|t| t.due).min()
    }

    /// When this account is checked next.
    pub fn due_at(&self, account: &str) -> Option<Instant> {
        self.timers.get(account).and_then(|t| t.due)
    }
}

/// Where "now" comes from: the system's monotonic clock, or one a test
/// moves by hand.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<Instant>>>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that stands still until `advance` moves it.
    pub fn manual() -> Clock {
        Clock {
            manual: Some(Arc::new(Mutex::new(Instant::now()))),
        }
    }

    pub fn now(&self) -> Instant {
        match &self.manual {
            Some(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
            None => Instant::now(),
        }
    }

    /// Moves a manual clock on (a system clock moves by itself).
    pub fn advance(&self, by: Duration) {
        if let Some(at) = &self.manual {
            let mut at = at.lock().unwrap_or_else(|e| e.into_inner());
            *at += by;
        }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn never_busy(_: &str) -> bool {
        false
    }

    #[test]
    fn an_account_is_due_after_its_interval_and_not_before() {
        let clock = Clock::manual();
        let mut schedule = Schedule::default();
        schedule.set_interval("a", Some(5 * MIN), clock.now());
        schedule.set_interval("b", None, clock.now());
        assert!(schedule.due(clock.now(), never_busy).is_empty());
        assert_eq!(schedule.next_due(), Some(clock.now() + 5 * MIN));
        clock.advance(5 * MIN - Duration::from_secs(1));
        assert!(schedule.due(clock.now(), never_busy).is_empty());
        clock.advance(Duration::from_secs(1));
        assert_eq!(schedule.due(clock.now(), never_busy), ["a"]);
        // Handed out once: not again while it runs.
        schedule.started("a");
        assert!(schedule.due(clock.now(), never_busy).is_empty());
        assert_eq!(schedule.next_due(), None);
        schedule.checked("a", Outcome::Success, clock.now());
        assert_eq!(schedule.due_at("a"), Some(clock.now() + 5 * MIN));
    }

    #[test]
    fn login_delay_is_the_shortest_time_between_checks() {
        let clock = Clock::manual();
        let mut schedule = Schedule::default();
        schedule.set_interval("a", Some(5 * MIN), clock.now());
        schedule.set_login_delay("a", Some(900));
        schedule.checked("a", Outcome::Success, clock.now());
        assert_eq!(schedule.due_at("a"), Some(clock.now() + 15 * MIN));
        // A failure soon after a login waits for the delay too.
        clock.advance(MIN);
        schedule.checked("a", Outcome::Transient, clock.now());
        let due = schedule.due_at("a").expect("due");
        assert!(due >= clock.now() + 14 * MIN, "{:?}", due - clock.now());
    }

    #[test]
    fn failures_that_waiting_may_cure_double_the_wait_up_to_a_cap_and_a_success_resets_it() {
        let clock = Clock::manual();
        let mut schedule = Schedule::default();
        schedule.set_interval("a", Some(5 * MIN), clock.now());
        let mut waits = Vec::new();
        for outcome in [
            Outcome::Transient,
            Outcome::Offline,
            Outcome::Transient,
            Outcome::Transient,
            Outcome::Transient,
            Outcome::Transient,
        ] {
            schedule.checked("a", outcome, clock.now());
            let due = schedule.due_at("a").expect("due");
            waits.push((due - clock.now()).as_secs() / 60);
            clock.advance(due - clock.now());
        }
        assert_eq!(waits, [10, 20, 40, 60, 60, 60]);
        schedule.checked("a", Outcome::Success, clock.now());
        assert_eq!(schedule.due_at("a"), Some(clock.now() + 5 * MIN));
        // A refused password is not cured by waiting, nor made worse.
        schedule.checked("a", Outcome::Permanent, clock.now());
        assert_eq!(schedule.due_at("a"), Some(clock.now() + 5 * MIN));
    }

    #[test]
    fn an_interval_longer_than_the_cap_is_never_shortened() {
        let clock = Clock::manual();
        let mut schedule = Schedule::default();
        schedule.set_interval("a", Some(120 * MIN), clock.now());
        schedule.checked("a", Outcome::Offline, clock.now());
        assert_eq!(schedule.due_at("a"), Some(clock.now() + 120 * MIN));
    }

    #[test]
    fn a_busy_account_waits_and_is_checked_when_free() {
        let clock = Clock::manual();
        let mut schedule = Schedule::default();
        schedule.set_interval("a", Some(MIN), clock.now());
        schedule.set_interval("b", Some(MIN), clock.now());
        clock.advance(2 * MIN);
        assert_eq!(schedule.due(clock.now(), |id| id == "a"), ["b"]);
        assert_eq!(schedule.due(clock.now(), never_busy), ["a", "b"]);
    }

    #[test]
    fn turning_checks_off_and_on_again() {
        let clock = Clock::manual();
        let mut schedule = Schedule::default();
        schedule.set_interval("a", Some(MIN), clock.now());
        schedule.set_interval("a", None, clock.now());
        assert_eq!(schedule.next_due(), None);
        clock.advance(10 * MIN);
        assert!(schedule.due(clock.now(), never_busy).is_empty());
        schedule.set_interval("a", Some(2 * MIN), clock.now());
        assert_eq!(schedule.due_at("a"), Some(clock.now() + 2 * MIN));
        // The same interval again changes nothing.
        clock.advance(MIN);
        schedule.set_interval("a", Some(2 * MIN), clock.now());
        assert_eq!(schedule.due_at("a"), Some(clock.now() + MIN));
        schedule.retain(|id| id != "a");
        assert_eq!(schedule.next_due(), None);
    }

    #[test]
    fn a_system_clock_moves_by_itself_and_ignores_advance() {
        let clock = Clock::system();
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now() < before + Duration::from_secs(60));
        assert!(!clock.is_manual());
    }
}
