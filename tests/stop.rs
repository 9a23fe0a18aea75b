//! The stop sequence: pre-stop command, pre-stop delay, forwarding, grace period, SIGKILL, and
//! leftovers. Times are asserted with generous margins; nothing waits by sleeping.

mod common;

use std::time::Duration;

use common::{now_since_epoch, Mode, Run, Scratch};

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// rinit as PID 1 with `flags` and a signal recorder named `app` as its main process, once the
/// recorder is ready.
fn start_app(dir: &Scratch, flags: &[&str]) -> Run {
    let argv = dir.recorder_argv("app");
    let mut args = flags.to_vec();
    args.push("--");
    args.extend(argv.iter().map(String::as_str));
    let rinit = Run::start(Mode::Pid1, dir, &args);
    dir.wait_for("app.ready", 0, SECS(20));
    rinit
}

/// The child gets SIGTERM no earlier than the delay, and the pre-stop command ran before it.
#[test]
fn pre_stop_command_then_delay_then_sigterm() {
    let dir = Scratch::new("delay");
    let hook = dir.file("hook");
    let pre_stop = format!("drain: sh -c 'date +%s%N > {hook}'");
    let rinit = start_app(
        &dir,
        &["--pre-stop", &pre_stop, "--pre-stop-delay", "1500ms"],
    );
    let sent = now_since_epoch();
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(20));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let got = dir
        .signal_time("app", libc::SIGTERM)
        .expect("app got SIGTERM");
    let hook_ran: u64 = dir.lines("hook")[0].parse().expect("hook wrote its time");
    let hook_ran = Duration::from_nanos(hook_ran);
    assert!(
        got >= sent + Duration::from_millis(1400),
        "too early: {:?}",
        got - sent
    );
    assert!(got < sent + SECS(6), "too late: {:?}", got - sent);
    assert!(
        hook_ran >= sent && hook_ran < got,
        "pre-stop ran before SIGTERM"
    );
    assert!(
        o.stderr.contains("rinit: running pre-stop command drain"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("rinit: pre-stop delay: holding SIGTERM for 1s 500ms"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("rinit: pre-stop delay over"),
        "{}",
        o.stderr
    );
    assert_eq!(
        dir.signals("app"),
        [libc::SIGTERM],
        "nothing before the stop signal"
    );
}

/// The delay holds only the stop signal: other signals are forwarded meanwhile, and the
/// process keeps running through it.
#[test]
fn other_signals_pass_during_the_delay() {
    let dir = Scratch::new("delay-pass");
    let rinit = start_app(&dir, &["--pre-stop-delay", "30s"]);
    rinit.kill(libc::SIGTERM);
    rinit.wait_stderr("pre-stop delay: holding SIGTERM", SECS(10));
    rinit.kill(libc::SIGHUP);
    dir.wait_for("app.sig", 1, SECS(10));
    assert_eq!(dir.signals("app"), [libc::SIGHUP]);
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(10));
    assert_eq!(dir.signals("app"), [libc::SIGHUP, libc::SIGTERM]);
    assert_eq!(o.code, 0);
}

/// A second stop signal cuts the delay short.
#[test]
fn second_sigterm_cuts_the_delay_short() {
    let dir = Scratch::new("cut");
    let rinit = start_app(&dir, &["--pre-stop-delay", "60s"]);
    rinit.kill(libc::SIGTERM);
    rinit.wait_stderr("pre-stop delay: holding SIGTERM for 1m", SECS(10));
    rinit.kill(libc::SIGINT);
    let o = rinit.finish(SECS(15));
    assert!(o.elapsed < SECS(15));
    assert!(o.stderr.contains("received SIGINT again"), "{}", o.stderr);
    // The held signal is the one that goes out.
    assert_eq!(dir.signals("app"), [libc::SIGTERM]);
    assert_eq!(o.code, 0);
}

/// The delay applies to SIGINT too, and the held signal is forwarded after `--rewrite`.
#[test]
fn delay_forwards_the_rewritten_signal() {
    let dir = Scratch::new("delay-rewrite");
    let rinit = start_app(&dir, &["--pre-stop-delay", "200ms", "-r", "INT:TERM"]);
    rinit.kill(libc::SIGINT);
    let o = rinit.finish(SECS(15));
    assert_eq!(dir.signals("app"), [libc::SIGTERM]);
    assert_eq!(o.code, 0);
}

/// A child that ignores SIGTERM is killed when the grace period ends: exit 137, and rinit
/// names what it had to kill.
#[test]
fn grace_period_ends_in_sigkill() {
    let dir = Scratch::new("grace");
    let ready = dir.file("ready");
    let script = format!("trap '' TERM; touch {ready}; while :; do sleep 1; done");
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &["--grace-period", "1s", "sh", "-c", &script],
    );
    dir.wait_for("ready", 0, SECS(20));
    let sent = std::time::Instant::now();
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(20));
    let took = sent.elapsed();
    assert_eq!(o.code, 137, "{}", o.stderr);
    assert!(
        took >= Duration::from_millis(900),
        "killed too early: {took:?}"
    );
    assert!(took < SECS(8), "killed too late: {took:?}");
    assert!(
        o.stderr.contains("grace period of 1s is over: killing"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("(sh)"), "names the process: {}", o.stderr);
}

/// A child that exits at once on SIGTERM ends the run at once, even with a long grace period.
#[test]
fn prompt_exit_does_not_wait_out_the_grace_period() {
    let dir = Scratch::new("prompt");
    let rinit = start_app(&dir, &["--grace-period", "5m"]);
    let sent = std::time::Instant::now();
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(30));
    assert_eq!(o.code, 0);
    assert!(sent.elapsed() < SECS(3), "took {:?}", sent.elapsed());
}

/// When the main process exits, background processes get SIGTERM, finish their cleanup, and
/// only then does rinit exit with the main process's code.
#[test]
fn leftovers_are_stopped_gracefully_after_the_main_process() {
    for mode in [Mode::Pid1, Mode::Plain] {
        let dir = Scratch::new("leftovers");
        // Two background apps that take 300 ms to clean up after SIGTERM.
        let app = |n: &str| format!("{} 15 0.3", dir.recorder(n));
        let script = format!(
            "{} & {} & while [ ! -e {} ] || [ ! -e {} ]; do sleep 0.05; done; exit 3",
            app("a"),
            app("b"),
            dir.file("a.ready"),
            dir.file("b.ready")
        );
        let o = Run::start(mode, &dir, &["sh", "-c", &script]).finish(SECS(20));
        assert_eq!(o.code, 3, "{}", o.stderr);
        for n in ["a", "b"] {
            let lines = dir.lines(&format!("{n}.sig"));
            assert_eq!(lines.len(), 2, "{n}: {lines:?}");
            assert!(lines[0].starts_with("15 "), "{n}: {lines:?}");
            assert_eq!(lines[1], "cleanup", "{n} finished its cleanup");
        }
        assert!(o.elapsed < SECS(8), "no SIGKILL needed: {:?}", o.elapsed);
    }
}

/// Leftovers that ignore SIGTERM are killed after the grace period; the exit code stays the
/// main process's.
#[test]
fn stubborn_leftovers_are_killed_and_the_code_kept() {
    let dir = Scratch::new("stubborn");
    let ready = dir.file("ready");
    let script = format!("sh -c \"trap '' TERM; touch {ready}; while :; do sleep 1; done\" & while [ ! -e {ready} ]; do sleep 0.05; done; exit 6");
    let o = Run::start(
        Mode::Pid1,
        &dir,
        &["--grace-period", "500ms", "sh", "-c", &script],
    )
    .finish(SECS(20));
    assert_eq!(o.code, 6, "{}", o.stderr);
    assert!(
        o.stderr.contains("grace period of 500ms is over: killing"),
        "{}",
        o.stderr
    );
    assert!(o.elapsed < SECS(8));
}

/// A process that left the group with setsid still gets the stop signal: as PID 1 through
/// kill(-1), as a subreaper through the walk of rinit's descendants.
#[test]
#[cfg_attr(missing_setsid, ignore = "needs setsid")]
fn setsid_processes_are_stopped_too() {
    if common::missing(&["setsid"]) {
        return;
    }
    for mode in [Mode::Pid1, Mode::Plain] {
        let dir = Scratch::new("setsid");
        let script = format!("setsid {} & exec sleep 100", dir.recorder("escaped"));
        let rinit = Run::start(mode, &dir, &["sh", "-c", &script]);
        dir.wait_for("escaped.ready", 0, SECS(20));
        rinit.kill(libc::SIGTERM);
        let o = rinit.finish(SECS(20));
        assert_eq!(dir.signals("escaped"), [libc::SIGTERM]);
        assert_eq!(o.code, 143, "sleep was killed by SIGTERM: {}", o.stderr);
        assert!(o.elapsed < SECS(8), "no SIGKILL needed: {:?}", o.elapsed);
    }
}

/// With `-c` the stop signal goes to the main process only; what is left when it exits gets
/// SIGTERM then.
#[test]
fn single_child_stop_reaches_leftovers_after_main() {
    let dir = Scratch::new("single-stop");
    let script = format!(
        "trap 'exit 0' TERM; {} & while :; do sleep 0.05; done",
        dir.recorder("bg")
    );
    let rinit = Run::start(Mode::Pid1, &dir, &["-c", "sh", "-c", &script]);
    dir.wait_for("bg.ready", 0, SECS(20));
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(20));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(dir.signals("bg"), [libc::SIGTERM]);
    assert!(o.elapsed < SECS(8));
}

/// A pre-stop command that fails is logged, never fatal; one that hangs is bounded by the
/// grace period.
#[test]
fn failing_and_hanging_pre_stop_commands() {
    let dir = Scratch::new("hook-fail");
    let rinit = start_app(&dir, &["--pre-stop", "sh -c 'exit 4'"]);
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(20));
    assert_eq!(o.code, 0);
    assert!(
        o.stderr.contains("pre-stop command exited with code 4"),
        "{}",
        o.stderr
    );
    assert_eq!(dir.signals("app"), [libc::SIGTERM]);

    let dir = Scratch::new("hook-hang");
    let rinit = start_app(&dir, &["--pre-stop", "sleep 100", "--grace-period", "1s"]);
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(20));
    assert_eq!(o.code, 0);
    assert!(
        o.stderr.contains("pre-stop command still running after 1s"),
        "{}",
        o.stderr
    );
    assert!(o.elapsed < SECS(8));

    let dir = Scratch::new("hook-missing");
    let rinit = start_app(&dir, &["--pre-stop", "/no/such/hook"]);
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(20));
    assert_eq!(o.code, 0);
    assert!(
        o.stderr
            .contains("pre-stop command: cannot run '/no/such/hook'"),
        "{}",
        o.stderr
    );
}

/// Settings from the environment, as a Kubernetes manifest would give them.
#[test]
fn stop_settings_from_the_environment() {
    let dir = Scratch::new("env");
    let ready = dir.file("ready");
    let script = format!("trap '' TERM; touch {ready}; while :; do sleep 1; done");
    let rinit = Run::start_with(
        Mode::Pid1,
        &dir,
        &["sh", "-c", &script],
        &[
            ("RINIT_PRE_STOP_DELAY", "300ms"),
            ("RINIT_GRACE_PERIOD", "700ms"),
        ],
    );
    dir.wait_for("ready", 0, SECS(20));
    let sent = std::time::Instant::now();
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(20));
    assert_eq!(o.code, 137);
    assert!(
        sent.elapsed() >= Duration::from_millis(900),
        "{:?}",
        sent.elapsed()
    );
    assert!(
        o.stderr.contains("grace period of 700ms is over"),
        "{}",
        o.stderr
    );
    // A flag beats its variable.
    let o = Run::start_with(
        Mode::Plain,
        &dir,
        &["--grace-period", "2s", "-v", "sh", "-c", "exit 0"],
        &[("RINIT_GRACE_PERIOD", "nonsense")],
    )
    .finish(SECS(10));
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// A stopped process (Ctrl-Z, a debugger) is continued after the stop signal, so it acts on
/// it at once instead of waiting for the SIGKILL at the end of the grace period.
#[test]
fn stopped_processes_are_continued_to_take_sigterm() {
    for mode in [Mode::Pid1, Mode::Plain] {
        let dir = Scratch::new("stopped");
        let script = "sleep 1000 & kill -STOP $!; exit 2";
        let o =
            Run::start(mode, &dir, &["--grace-period", "1m", "sh", "-c", script]).finish(SECS(30));
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert!(
            o.elapsed < SECS(10),
            "waited for the grace period: {:?}",
            o.elapsed
        );
    }
}
