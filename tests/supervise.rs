//! Supervision (issue 10): `--task`, start order with `ready=`, `--ready-timeout`,
//! `--stop-order reverse`, per-process options (`stop=`, `exit=`, `grace=`, `user=`, `dir=`,
//! `env=`), `--stop-signals` and `--watch`. rinit runs as PID 1 of a fresh PID namespace; order
//! is proven by files and recorded signal times, never by sleeps.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::thread;
use std::time::{Duration, Instant};

use common::{now_since_epoch, Mode, Run, Scratch};

const SECS: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;

/// A shell command line that waits for `file` to exist, then exits with `code`.
fn exit_after(file: &str, code: i32) -> String {
    format!("sh -c 'while [ ! -e {file} ]; do sleep 0.01; done; exit {code}'")
}

/// A recorder command line that exits on the signals in `exit_on` (comma-separated numbers,
/// empty: never) after `cleanup` seconds.
fn recorder_with(dir: &Scratch, name: &str, exit_on: &str, cleanup: f64) -> String {
    format!("{} '{exit_on}' {cleanup}", dir.recorder(name))
}

/// The nanosecond timestamp a `date +%s%N` wrote into `file`.
fn stamp(dir: &Scratch, file: &str) -> u64 {
    dir.lines(file)
        .first()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("{file} holds no time"))
}

/// Tasks run in order before the processes; a failing task ends the run with its code and
/// nothing after it starts.
#[test]
fn a_failing_task_ends_the_run_with_its_code() {
    let dir = Scratch::new("task-fails");
    let order = dir.file("order");
    let t1 = format!("t1: sh -c 'echo t1 >> {order}'");
    let t2 = format!("t2: sh -c 'echo t2 >> {order}; exit 3'");
    let t3 = format!("t3: sh -c 'echo t3 >> {order}'");
    let run = format!("web: sh -c 'echo web >> {order}'");
    let main = format!("echo main >> {order}");
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &[
            "--task", &t1, "--task", &t2, "--task", &t3, "--run", &run, "--", "sh", "-c", &main,
        ],
    );
    let o = rinit.finish(SECS(60));
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(dir.lines("order"), ["t1", "t2"], "{}", o.stderr);
    assert!(o.stderr.contains("t2 exited with code 3"), "{}", o.stderr);
}

/// A task killed by a signal: rinit exits 128+N.
#[test]
fn a_task_killed_by_a_signal_gives_128_plus_n() {
    let dir = Scratch::new("task-killed");
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &["--task", "sh -c 'kill -USR1 $$'", "--", "touch", "main"],
    );
    let o = rinit.finish(SECS(60));
    assert_eq!(o.code, 128 + libc::SIGUSR1, "{}", o.stderr);
    assert!(!dir.exists("main"), "nothing starts after a failed task");
}

/// Tasks one at a time before everything else; a daemon a task leaves behind keeps running and
/// is stopped with everything else (SIGTERM, no grace period wasted).
#[test]
fn tasks_run_first_and_their_daemons_are_stopped_with_the_rest() {
    let dir = Scratch::new("task-order");
    let order = dir.file("order");
    let daemon = dir.recorder("daemon");
    let t1 = format!("t1: sh -c 'sleep 0.2; echo t1 >> {order}'");
    let t2 = format!("t2: sh -c '{daemon} & echo t2 >> {order}'");
    let main = format!(
        "while [ ! -e {} ]; do sleep 0.01; done; echo main >> {order}; exit 4",
        dir.file("daemon.ready")
    );
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &[
            "--grace-period",
            "20s",
            "--task",
            &t1,
            "--task",
            &t2,
            "--",
            "sh",
            "-c",
            &main,
        ],
    );
    let o = rinit.finish(SECS(60));
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert_eq!(dir.lines("order"), ["t1", "t2", "main"], "{}", o.stderr);
    assert_eq!(dir.signals("daemon"), [libc::SIGTERM], "{}", o.stderr);
    assert!(
        o.elapsed < SECS(10),
        "no grace period wasted: {:?}",
        o.elapsed
    );
}

/// A stop while only a task runs: no pre-stop delay, the task gets the signal at once, rinit
/// exits with the task's code and nothing else starts.
#[test]
fn a_stop_during_tasks_skips_the_pre_stop_delay() {
    let dir = Scratch::new("task-stop");
    let task = format!("t: {}", recorder_with(&dir, "t", "15", 0.0));
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &[
            "--pre-stop-delay",
            "10s",
            "--task",
            &task,
            "--",
            "touch",
            "main",
        ],
    );
    dir.wait_for("t.ready", 0, SECS(60));
    let sent = Instant::now();
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(dir.signals("t"), [libc::SIGTERM], "{}", o.stderr);
    assert!(sent.elapsed() < SECS(5), "no delay: {:?}", sent.elapsed());
    assert!(!dir.exists("main"), "{}", o.stderr);
}

/// `ready=` makes the later processes wait: a chain of three starts in order, each only once
/// the one before it is ready.
#[test]
fn a_dependency_chain_of_three_starts_in_order() {
    let dir = Scratch::new("chain");
    let step = |name: &str, after: Option<&str>| {
        let check = match after {
            Some(prev) => format!(
                "[ -e {} ] && touch {}; ",
                dir.file(prev),
                dir.file(&format!("{name}.saw"))
            ),
            None => String::new(),
        };
        format!(
            "{check}date +%s%N > {start}; sleep 0.3; touch {up}; exec sleep 1000",
            start = dir.file(&format!("{name}.start")),
            up = dir.file(&format!("{name}.up")),
        )
    };
    let a = format!(
        "a,ready=file:{}: sh -c '{}'",
        dir.file("a.up"),
        step("a", None)
    );
    let b = format!(
        "b,ready=file:{}: sh -c '{}'",
        dir.file("b.up"),
        step("b", Some("a.up"))
    );
    let c = format!(
        "[ -e {} ] && touch {}; date +%s%N > {}",
        dir.file("b.up"),
        dir.file("c.saw"),
        dir.file("c.start")
    );
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &["--run", &a, "--run", &b, "--", "sh", "-c", &c],
    );
    let o = rinit.finish(SECS(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        dir.exists("b.saw"),
        "b started before a was ready: {}",
        o.stderr
    );
    assert!(
        dir.exists("c.saw"),
        "c started before b was ready: {}",
        o.stderr
    );
    let (ta, tb, tc) = (
        stamp(&dir, "a.start"),
        stamp(&dir, "b.start"),
        stamp(&dir, "c.start"),
    );
    assert!(ta < tb && tb < tc, "{ta} {tb} {tc}");
    assert!(o.stderr.contains("rinit: a ready after"), "{}", o.stderr);
    assert!(o.stderr.contains("rinit: b ready after"), "{}", o.stderr);
}

/// A probe that never succeeds: after `--ready-timeout` rinit names the process, stops
/// everything and exits 1; what waited on it never started.
#[test]
fn a_probe_that_times_out_ends_the_run_with_1() {
    let dir = Scratch::new("probe-timeout");
    let db = format!(
        "db,ready=file:{}: {}",
        dir.file("never"),
        dir.recorder("db")
    );
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &["--ready-timeout", "1s", "--run", &db, "--", "touch", "main"],
    );
    let o = rinit.finish(SECS(60));
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("db was not ready after 1s"),
        "{}",
        o.stderr
    );
    assert!(!dir.exists("main"), "{}", o.stderr);
    assert_eq!(dir.signals("db"), [libc::SIGTERM], "{}", o.stderr);
    assert!(o.elapsed < SECS(10), "{:?}", o.elapsed);
}

/// The timeout's 1 goes through `-e` like any code.
#[test]
fn a_probe_timeout_is_remapped_by_e() {
    let dir = Scratch::new("probe-timeout-e");
    let db = format!("db,ready=file:{}: sleep 1000", dir.file("never"));
    let o = Run::start(
        Mode::Pid1,
        &dir,
        &[
            "-e",
            "1",
            "--ready-timeout",
            "500ms",
            "--run",
            &db,
            "--",
            "true",
        ],
    )
    .finish(SECS(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// `--stop-order reverse`: the main COMMAND first, then the `--run` processes in reverse start
/// order, each once the one before has exited, all within one grace period.
#[test]
fn reverse_stop_order_within_one_grace_period() {
    let dir = Scratch::new("reverse");
    let a = format!("a: {}", recorder_with(&dir, "a", "15", 0.4));
    let b = format!("b: {}", recorder_with(&dir, "b", "15", 0.4));
    let mut main = dir.recorder_argv("main");
    main.extend(["15".to_string(), "0.4".to_string()]);
    let mut args = vec!["--stop-order", "reverse", "--grace-period", "8s"];
    args.extend(["--run", &a, "--run", &b, "--"]);
    args.extend(main.iter().map(String::as_str));
    let rinit = Run::start(Mode::Pid1, &dir, &args);
    for n in ["a", "b", "main"] {
        dir.wait_for(&format!("{n}.ready"), 0, SECS(60));
    }
    let sent = now_since_epoch();
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let t = |n| {
        dir.signal_time(n, libc::SIGTERM)
            .unwrap_or_else(|| panic!("{n} got no SIGTERM: {}", o.stderr))
    };
    let (tm, tb, ta) = (t("main"), t("b"), t("a"));
    assert!(tm >= sent, "{}", o.stderr);
    assert!(tb >= tm + MS(350), "b {:?} after main", tb - tm);
    assert!(ta >= tb + MS(350), "a {:?} after b", ta - tb);
    assert!(
        ta < sent + SECS(6),
        "all within the grace period: {:?}",
        ta - sent
    );
    for n in ["a", "b", "main"] {
        assert_eq!(dir.signals(n), [libc::SIGTERM], "{n}: {}", o.stderr);
    }
}

/// Reverse order: a process that does not stop within its `grace=` is killed and the next one
/// gets its signal at once.
#[test]
fn reverse_stop_order_kills_a_stuck_process_after_its_grace() {
    let dir = Scratch::new("reverse-stuck");
    let a = format!("a: {}", recorder_with(&dir, "a", "15", 0.0));
    let b = format!("b,grace=1s: {}", recorder_with(&dir, "b", "", 0.0));
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &[
            "--stop-order",
            "reverse",
            "--grace-period",
            "20s",
            "--run",
            &a,
            "--run",
            &b,
        ],
    );
    dir.wait_for("a.ready", 0, SECS(60));
    dir.wait_for("b.ready", 0, SECS(60));
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(60));
    let tb = dir.signal_time("b", libc::SIGTERM).expect("b got SIGTERM");
    let ta = dir.signal_time("a", libc::SIGTERM).expect("a got SIGTERM");
    assert!(ta >= tb + MS(900), "a {:?} after b", ta - tb);
    assert!(ta < tb + SECS(5), "a {:?} after b", ta - tb);
    assert!(
        o.stderr.contains("b did not stop in its time"),
        "{}",
        o.stderr
    );
    assert!(o.elapsed < SECS(15), "{:?}", o.elapsed);
}

/// `stop=` replaces the stop signal for that process, also in the SIGTERM after another
/// process exited.
#[test]
fn stop_signal_per_process() {
    let dir = Scratch::new("stop-per-proc");
    let a = format!("a,stop=QUIT: {}", recorder_with(&dir, "a", "3", 0.0));
    let b = format!("b: {}", dir.recorder("b"));
    let rinit = Run::start(Mode::Pid1, &dir, &["--run", &a, "--run", &b]);
    dir.wait_for("a.ready", 0, SECS(60));
    dir.wait_for("b.ready", 0, SECS(60));
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(dir.signals("a"), [libc::SIGQUIT], "{}", o.stderr);
    assert_eq!(dir.signals("b"), [libc::SIGTERM], "{}", o.stderr);

    let dir = Scratch::new("stop-per-proc-exit");
    let a = format!("a,stop=QUIT: {}", recorder_with(&dir, "a", "3", 0.0));
    let main = format!(
        "while [ ! -e {} ]; do sleep 0.01; done; exit 5",
        dir.file("a.ready")
    );
    let o = Run::start(Mode::Pid1, &dir, &["--run", &a, "--", "sh", "-c", &main]).finish(SECS(60));
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert_eq!(dir.signals("a"), [libc::SIGQUIT], "{}", o.stderr);
}

/// `exit=ignore`: its exit stops nothing; rinit ends once nothing supervised is left.
#[test]
fn exit_ignore_keeps_the_others_running() {
    let dir = Scratch::new("exit-ignore");
    let seed = format!(
        "seed,exit=ignore: {}",
        exit_after(&dir.file("web.ready"), 3)
    );
    let web = format!("web: {}", dir.recorder("web"));
    let rinit = Run::start(Mode::Pid1, &dir, &["--run", &seed, "--run", &web]);
    rinit.wait_stderr("seed exited with code 3", SECS(60));
    // Still running: a USR1 reaches it, and it got nothing else.
    rinit.kill(libc::SIGUSR1);
    dir.wait_for("web.sig", 1, SECS(10));
    assert_eq!(dir.signals("web"), [libc::SIGUSR1]);
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(60));
    assert_eq!(dir.signals("web"), [libc::SIGUSR1, libc::SIGTERM]);
    assert_eq!(o.code, 0, "web's exit decides: {}", o.stderr);

    // Only ignored processes: rinit ends when the last one is gone, with the failure's code.
    let dir = Scratch::new("exit-ignore-all");
    let o = Run::start(
        Mode::Pid1,
        &dir,
        &[
            "--run",
            "a,exit=ignore: sh -c 'exit 4'",
            "--run",
            "b,exit=ignore: sh -c 'sleep 0.3'",
        ],
    )
    .finish(SECS(60));
    assert_eq!(o.code, 4, "{}", o.stderr);
}

/// `user=` drops privileges (uid, gid, supplementary groups), `dir=` and `env=` apply, and the
/// relay pipes belong to the user.
#[test]
fn user_dir_and_env_per_process() {
    let dir = Scratch::new("user");
    let cmd = "u,user=65534:65534,dir=/tmp,env=GREETING=hi: sh -c 'id -u; id -g; id -G; pwd; echo $GREETING; echo piped > /proc/self/fd/1'";
    let o = Run::start(Mode::Pid1, &dir, &["--prefix", "--run", cmd]).finish(SECS(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "u | 65534",
            "u | 65534",
            "u | 65534",
            "u | /tmp",
            "u | hi",
            "u | piped"
        ],
        "{}",
        o.stderr
    );
}

/// A missing `dir=` is an exec failure (126) naming it.
#[test]
fn a_missing_dir_is_126() {
    let dir = Scratch::new("no-dir");
    let o = Run::start(
        Mode::Pid1,
        &dir,
        &["--run", "x,dir=/nonexistent/rinit: true"],
    )
    .finish(SECS(60));
    assert_eq!(o.code, 126, "{}", o.stderr);
    assert!(o.stderr.contains("/nonexistent/rinit"), "{}", o.stderr);
}

/// `--stop-signals QUIT`: QUIT gets the pre-stop delay and the grace period; TERM then is a
/// plain signal, forwarded at once.
#[test]
fn stop_signals_quit_gets_the_delay() {
    let dir = Scratch::new("stop-signals");
    let mut args = vec!["--stop-signals", "QUIT", "--pre-stop-delay", "1s", "--"];
    let mut main = dir.recorder_argv("app");
    main.push("3".to_string());
    args.extend(main.iter().map(String::as_str));
    let rinit = Run::start(Mode::Pid1, &dir, &args);
    dir.wait_for("app.ready", 0, SECS(60));
    rinit.kill(libc::SIGTERM);
    dir.wait_for("app.sig", 1, SECS(10));
    assert_eq!(dir.signals("app"), [libc::SIGTERM]);
    let sent = now_since_epoch();
    rinit.kill(libc::SIGQUIT);
    let o = rinit.finish(SECS(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(dir.signals("app"), [libc::SIGTERM, libc::SIGQUIT]);
    let got = dir.signal_time("app", libc::SIGQUIT).expect("QUIT");
    assert!(got >= sent + MS(900), "QUIT after {:?}", got - sent);
    assert!(
        o.stderr.contains("pre-stop delay: holding SIGQUIT"),
        "{}",
        o.stderr
    );
}

/// A Kubernetes ConfigMap volume: `..data` is an atomic symlink swap. Each burst of changes
/// gives exactly one signal, to the named process only, about 1 s after the burst.
#[test]
fn configmap_data_swap_sends_one_signal_per_burst() {
    let dir = Scratch::new("watch");
    let cm = dir.path.join("cm");
    fs::create_dir_all(cm.join("..v1")).unwrap();
    fs::write(cm.join("..v1/app.conf"), "v1").unwrap();
    symlink("..v1", cm.join("..data")).unwrap();
    symlink("..data/app.conf", cm.join("app.conf")).unwrap();
    let swap = |v: &str| {
        fs::create_dir_all(cm.join(v)).unwrap();
        fs::write(cm.join(v).join("app.conf"), v).unwrap();
        let _ = fs::remove_file(cm.join("..data_tmp"));
        symlink(v, cm.join("..data_tmp")).unwrap();
        fs::rename(cm.join("..data_tmp"), cm.join("..data")).unwrap();
    };
    // The file (through its symlink) for web, the mount directory for other.
    let watch = format!("HUP:web={}", cm.join("app.conf").display());
    let watch_dir = format!("USR2:other={}", cm.display());
    let web = format!("web: {}", dir.recorder("web"));
    let other = format!("other: {}", dir.recorder("other"));
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &[
            "--watch", &watch, "--watch", &watch_dir, "--run", &web, "--run", &other,
        ],
    );
    dir.wait_for("web.ready", 0, SECS(60));
    dir.wait_for("other.ready", 0, SECS(60));
    // One burst: two swaps in quick succession.
    let first = Instant::now();
    swap("..v2");
    swap("..v3");
    dir.wait_for("web.sig", 1, SECS(15));
    let took = first.elapsed();
    assert!(took >= MS(900), "signal {took:?} after the burst began");
    // Nothing more comes for this burst.
    thread::sleep(SECS(2));
    assert_eq!(dir.signals("web"), [libc::SIGHUP]);
    // A second burst: a second signal.
    swap("..v4");
    dir.wait_for("web.sig", 2, SECS(15));
    thread::sleep(SECS(2));
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(60));
    assert_eq!(
        dir.signals("web"),
        [libc::SIGHUP, libc::SIGHUP, libc::SIGTERM],
        "{}",
        o.stderr
    );
    assert_eq!(
        dir.signals("other"),
        [libc::SIGUSR2, libc::SIGUSR2, libc::SIGTERM],
        "{}",
        o.stderr
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// A watched file that does not exist yet: its creation is a change; the default target is the
/// main COMMAND.
#[test]
fn watch_a_file_created_later() {
    let dir = Scratch::new("watch-later");
    let path = dir.path.join("later/cert.pem");
    let watch = format!("USR1={}", path.display());
    let main = dir.recorder_argv("app");
    let mut args = vec!["--watch", &watch, "--"];
    args.extend(main.iter().map(String::as_str));
    let rinit = Run::start(Mode::Pid1, &dir, &args);
    dir.wait_for("app.ready", 0, SECS(60));
    fs::create_dir(dir.path.join("later")).unwrap();
    fs::write(&path, "x").unwrap();
    dir.wait_for("app.sig", 1, SECS(15));
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(60));
    assert_eq!(
        dir.signals("app"),
        [libc::SIGUSR1, libc::SIGTERM],
        "{}",
        o.stderr
    );
}

/// Idle means idle: with a watch in place and a `ready=` satisfied, rinit sleeps with no
/// timeout (its wait channel shows it blocked in poll, and it uses no CPU over a second).
#[test]
fn idle_with_watch_and_satisfied_probe_sleeps() {
    let dir = Scratch::new("idle");
    let watch = format!("HUP={}", dir.file("conf"));
    let web = format!(
        "web,ready=file:{}: {}",
        dir.file("web.ready"),
        dir.recorder("web")
    );
    let rinit = Run::start(Mode::Pid1, &dir, &["--watch", &watch, "--run", &web]);
    rinit.wait_stderr("web ready after", SECS(60));
    let ticks = || -> u64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", rinit.pid)).unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or("").to_string();
        let f: Vec<&str> = after.split_whitespace().collect();
        f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
    };
    let switches = || -> u64 {
        fs::read_to_string(format!("/proc/{}/status", rinit.pid))
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.starts_with("voluntary_ctxt_switches")
                    || l.starts_with("nonvoluntary_ctxt_switches")
            })
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    };
    thread::sleep(MS(300));
    let (c0, s0) = (ticks(), switches());
    thread::sleep(SECS(2));
    let (c1, s1) = (ticks(), switches());
    assert_eq!(s1, s0, "rinit woke up while idle");
    assert!(c1 - c0 <= 1, "CPU ticks while idle: {}", c1 - c0);
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// `ready=tcp:`: the process after it starts only once the port accepts connections.
#[test]
fn a_tcp_probe_gates_the_next_process() {
    let dir = Scratch::new("tcp-ready");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = dir.file("server.py");
    fs::write(
        &server,
        format!(
            "import socket, time\ntime.sleep(0.5)\ns = socket.socket()\n\
             s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('127.0.0.1', {port}))\ns.listen(8)\nopen('{up}', 'w').close()\n\
             while True:\n    c, _ = s.accept()\n    c.close()\n",
            up = dir.file("up")
        ),
    )
    .unwrap();
    let srv = format!("srv,ready=tcp:127.0.0.1:{port}: python3 {server}");
    let main = format!("[ -e {} ] && touch {}", dir.file("up"), dir.file("saw"));
    let o =
        Run::start(Mode::Pid1, &dir, &["--run", &srv, "--", "sh", "-c", &main]).finish(SECS(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        dir.exists("saw"),
        "main started before the port was open: {}",
        o.stderr
    );
    assert!(o.stderr.contains("rinit: srv ready after"), "{}", o.stderr);
}

/// `--log-format json` relays tasks, `--run` processes and the main COMMAND (no terminal here),
/// so that stdout carries JSON lines only.
#[test]
fn json_logs_capture_every_process() {
    let dir = Scratch::new("json");
    let o = Run::start(
        Mode::Pid1,
        &dir,
        &[
            "--log-format",
            "json",
            "--task",
            "t: echo from-task",
            "--run",
            "r,exit=ignore: echo from-run",
            "--",
            "sh",
            "-c",
            "sleep 0.2; echo from-main",
        ],
    )
    .finish(SECS(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    for (name, msg) in [("t", "from-task"), ("r", "from-run"), ("sh", "from-main")] {
        assert!(
            lines.iter().any(|l| l.starts_with('{')
                && l.contains(&format!("\"name\":\"{name}\""))
                && l.contains("\"stream\":\"stdout\"")
                && l.contains(&format!("\"msg\":\"{msg}\""))),
            "no JSON line for {name}: {}",
            o.stdout
        );
    }
    assert!(lines.iter().all(|l| l.starts_with('{')), "{}", o.stdout);
}

/// `ready='exec:...'`: the command's exit 0 is readiness; its exits are never supervised exits.
#[test]
fn an_exec_probe_gates_the_next_process() {
    let dir = Scratch::new("exec-ready");
    let up = dir.file("up");
    let srv =
        format!("srv,ready='exec:test -e {up}': sh -c 'sleep 0.5; touch {up}; exec sleep 1000'");
    let main = format!("[ -e {up} ] && touch {}", dir.file("saw"));
    let o =
        Run::start(Mode::Pid1, &dir, &["--run", &srv, "--", "sh", "-c", &main]).finish(SECS(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(dir.exists("saw"), "main started too early: {}", o.stderr);
    assert!(o.stderr.contains("rinit: srv ready after"), "{}", o.stderr);
    assert!(!o.stderr.contains("test exited"), "{}", o.stderr);
}
