//! The core: exit codes, forwarding, rewriting, reaping, the child's starting state, the
//! terminal, and usage errors. rinit runs as PID 1 of a fresh PID namespace unless a test says
//! otherwise.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{run, Mode, Run, Scratch};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn exit_codes_pass_through(mode: fn() -> Mode) {
    for (script, code) in [
        ("exit 0", 0),
        ("exit 7", 7),
        ("exit 255", 255),
        ("kill -KILL $$", 137),
        ("kill -TERM $$", 143),
        ("kill -USR1 $$", 138),
    ] {
        let o = run(mode(), &["sh", "-c", script]);
        assert_eq!(o.code, code, "{script}: {}", o.stderr);
        assert_eq!(o.stderr, "", "{script}: rinit is silent by default");
    }
}

#[test]
fn exit_codes_pass_through_as_pid1() {
    exit_codes_pass_through(|| Mode::Pid1);
}

#[test]
fn exit_codes_pass_through_as_subreaper() {
    exit_codes_pass_through(|| Mode::Plain);
}

#[test]
fn exec_failures_are_127_and_126_with_one_line() {
    let o = run(Mode::Pid1, &["/no/such/program", "x"]);
    assert_eq!(o.code, 127);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.starts_with("rinit: "), "{}", o.stderr);
    assert!(o.stderr.contains("/no/such/program"), "{}", o.stderr);
    assert!(o.stderr.contains("No such file"), "{}", o.stderr);

    let o = run(Mode::Pid1, &["no-such-program-in-path"]);
    assert_eq!(o.code, 127);

    let dir = Scratch::new("noexec");
    let script = dir.file("script.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    for not_runnable in [script.as_str(), "/etc"] {
        let o = run(Mode::Pid1, &[not_runnable]);
        assert_eq!(o.code, 126, "{not_runnable}: {}", o.stderr);
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        assert!(o.stderr.contains("Permission denied"), "{}", o.stderr);
    }
}

#[test]
fn remap_exit() {
    assert_eq!(run(Mode::Pid1, &["-e", "7", "sh", "-c", "exit 7"]).code, 0);
    assert_eq!(
        run(
            Mode::Pid1,
            &["-e", "7", "-e", "3", "--", "sh", "-c", "exit 3"]
        )
        .code,
        0
    );
    assert_eq!(run(Mode::Pid1, &["-e", "7", "sh", "-c", "exit 5"]).code, 5);
    assert_eq!(
        run(Mode::Pid1, &["-e", "143", "sh", "-c", "kill $$"]).code,
        0,
        "128+N codes can be remapped too"
    );
}

#[test]
fn options_stop_at_the_command() {
    let o = run(Mode::Plain, &["echo", "-v", "--run", "x", "--"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, "-v --run x --\n");
    let o = run(Mode::Plain, &["--", "echo", "-c"]);
    assert_eq!(o.stdout, "-c\n");
}

/// Every catchable signal (standard and real-time) sent to rinit reaches the child.
#[test]
fn forwards_every_signal() {
    let dir = Scratch::new("fwd");
    let mut args = vec!["--"];
    let argv = dir.recorder_argv("child");
    args.extend(argv.iter().map(String::as_str));
    let rinit = Run::start(Mode::Pid1, &dir, &args);
    dir.wait_for("child.ready", 0, SECS(20));
    let rtmin = libc::SIGRTMIN();
    let rtmax = libc::SIGRTMAX();
    let sent = [
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGPIPE,
        libc::SIGALRM,
        libc::SIGCONT,
        libc::SIGTSTP,
        libc::SIGURG,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGWINCH,
        libc::SIGIO,
        libc::SIGPWR,
        libc::SIGSTKFLT,
        rtmin,
        rtmin + 5,
        rtmax,
        libc::SIGTERM,
    ];
    for (i, &s) in sent.iter().enumerate() {
        rinit.kill(s);
        dir.wait_for("child.sig", i + 1, SECS(10));
    }
    let o = rinit.finish(SECS(10));
    assert_eq!(dir.signals("child"), sent);
    assert_eq!(o.code, 0, "the child exits 0 on SIGTERM: {}", o.stderr);
}

#[test]
fn rewrites_by_name_and_number() {
    let dir = Scratch::new("rewrite");
    let argv = dir.recorder_argv("child");
    let rtmin = libc::SIGRTMIN();
    let mut args = vec![
        "-r",
        "USR1:usr2",
        "-r",
        "SIGHUP:0",
        "--rewrite",
        "3:10",
        "-r",
        "RTMIN+1:RTMAX",
        "--",
    ];
    args.extend(argv.iter().map(String::as_str));
    let rinit = Run::start(Mode::Pid1, &dir, &args);
    dir.wait_for("child.ready", 0, SECS(20));
    // HUP is dropped: nothing arrives for it, so the next signal's line is the first.
    for (i, s) in [
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGQUIT,
        rtmin + 1,
        libc::SIGTERM,
    ]
    .into_iter()
    .enumerate()
    {
        rinit.kill(s);
        if s != libc::SIGHUP {
            dir.wait_for("child.sig", i, SECS(10));
        }
    }
    let o = rinit.finish(SECS(10));
    assert_eq!(
        dir.signals("child"),
        [
            libc::SIGUSR2,
            libc::SIGUSR1,
            libc::SIGRTMAX(),
            libc::SIGTERM
        ]
    );
    assert_eq!(o.code, 0);
}

#[test]
fn rewrite_from_the_environment() {
    let dir = Scratch::new("rewrite-env");
    let argv = dir.recorder_argv("child");
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    let rinit = Run::start_with(
        Mode::Pid1,
        &dir,
        &args,
        &[("RINIT_REWRITE", "USR1:USR2,WINCH:0")],
    );
    dir.wait_for("child.ready", 0, SECS(20));
    rinit.kill(libc::SIGWINCH);
    rinit.kill(libc::SIGUSR1);
    dir.wait_for("child.sig", 1, SECS(10));
    rinit.kill(libc::SIGTERM);
    rinit.finish(SECS(10));
    assert_eq!(dir.signals("child"), [libc::SIGUSR2, libc::SIGTERM]);
}

/// The classic shell entrypoint: `sh -c 'app1 & app2 & wait'`. Signals reach the background
/// jobs through the process group; with `-c` only the shell gets them, and the jobs are
/// stopped as leftovers once the shell is gone.
#[test]
fn group_forwarding_reaches_background_jobs_and_single_child_does_not() {
    for single in [false, true] {
        let dir = Scratch::new("group");
        let script = format!("{} & {} & wait", dir.recorder("app1"), dir.recorder("app2"));
        let mut args = vec![];
        if single {
            args.push("-c");
        }
        args.extend(["sh", "-c", script.as_str()]);
        let rinit = Run::start(Mode::Pid1, &dir, &args);
        dir.wait_for("app1.ready", 0, SECS(20));
        dir.wait_for("app2.ready", 0, SECS(20));
        // WINCH: the shell ignores it, the apps record it.
        rinit.kill(libc::SIGWINCH);
        if !single {
            dir.wait_for("app1.sig", 1, SECS(10));
            dir.wait_for("app2.sig", 1, SECS(10));
        }
        rinit.kill(libc::SIGTERM);
        let o = rinit.finish(SECS(10));
        let expected = if single {
            vec![libc::SIGTERM]
        } else {
            vec![libc::SIGWINCH, libc::SIGTERM]
        };
        assert_eq!(dir.signals("app1"), expected, "single={single}");
        assert_eq!(dir.signals("app2"), expected, "single={single}");
        // The shell itself was killed by SIGTERM.
        assert_eq!(o.code, 143, "single={single}: {}", o.stderr);
        assert!(
            o.elapsed < SECS(8),
            "no process needed SIGKILL: {:?}",
            o.elapsed
        );
    }
}

/// A SIGTERM sent the moment rinit is able to receive it (before or while it forks the child)
/// still ends the run. tini and dumb-init lose this one now and then.
#[test]
fn sigterm_at_startup_is_not_lost() {
    for _ in 0..20 {
        let dir = Scratch::new("early");
        let rinit = Run::start(Mode::Pid1, &dir, &["sleep", "100"]);
        rinit.wait_signals_blocked();
        rinit.kill(libc::SIGTERM);
        let o = rinit.finish(SECS(10));
        assert_eq!(o.code, 143, "{}", o.stderr);
    }
}

const ZOMBIE_STORM: &str = r#"
import os, sys, time
n = int(sys.argv[1])
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
def zombies():
    z = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                s = open(f"/proc/{p}/stat").read()
            except OSError:
                continue
            if s[s.rindex(")") + 2] == "Z":
                z += 1
    return z
deadline = time.time() + 20
while zombies() and time.time() < deadline:
    time.sleep(0.01)
print(zombies())
"#;

#[test]
fn orphan_storm_leaves_no_zombie() {
    let dir = Scratch::new("storm");
    let prog = dir.file("storm.py");
    std::fs::write(&prog, ZOMBIE_STORM).unwrap();
    let rinit = Run::start(Mode::Pid1, &dir, &["python3", &prog, "5000"]);
    let o = rinit.finish(SECS(120));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.trim(), "0", "zombies left in the namespace");
}

/// Not PID 1: rinit registers as subreaper by itself, adopts orphans, stops the ones still
/// running when the main process exits, and reaps them.
#[test]
fn subreaper_adopts_and_reaps_orphans() {
    let dir = Scratch::new("subreaper");
    let pidfile = dir.file("orphan.pid");
    let script = format!("sleep 100 & echo $! > {pidfile}; exit 4");
    let rinit = Run::start(Mode::Plain, &dir, &["-w", "sh", "-c", &script]);
    let o = rinit.finish(SECS(10));
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.elapsed < SECS(8), "the orphan needed no SIGKILL");
    let orphan: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{orphan}")).exists(),
        "orphan {orphan} still exists (zombie or running)"
    );
    assert!(
        o.stderr.contains(&format!("reaped orphan {orphan}")),
        "-w names the orphan: {}",
        o.stderr
    );
    assert!(!o.stderr.contains("subreaper"), "silent: {}", o.stderr);
}

/// The child starts as if rinit were not there: nothing blocked, nothing ignored, only fds 0-2.
#[test]
fn child_starts_with_clean_signal_state_and_no_extra_fds() {
    for mode in [Mode::Pid1, Mode::Plain] {
        let o = run(mode, &["cat", "/proc/self/status"]);
        let field = |name: &str| {
            o.stdout
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        assert_eq!(field("SigBlk:"), "0000000000000000");
        assert_eq!(field("SigIgn:"), "0000000000000000");
    }
    let o = run(Mode::Pid1, &["sh", "-c", "ls /proc/$$/fd; true"]);
    assert_eq!(
        o.stdout.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
}

/// `rinit -- COMMAND` as PID 1 on a pseudo-terminal made by `script`; the test types into the
/// child's stdin.
fn in_pty(dir: &Scratch, command: &str) -> std::process::Child {
    let cmdline = format!(
        "unshare --pid --fork --mount-proc {} -- {command}",
        common::rinit()
    );
    Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .current_dir(&dir.path)
        .env("PS1", "$ ")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// On a terminal, the child's process group is the terminal's foreground group, so Ctrl-C
/// reaches it (and `bash` gets job control). `script` gives the test a pseudo-terminal.
#[test]
#[cfg_attr(missing_script, ignore = "needs script")]
fn terminal_foreground_and_ctrl_c() {
    if common::missing(&["script"]) {
        return;
    }
    let dir = Scratch::new("tty");
    let report = dir.file("pgrp");
    let inner =
        format!("read a b c d e f g h rest < /proc/$$/stat; echo $e $h > {report}; exec sleep 100");
    let mut child = in_pty(&dir, &format!("sh -c '{inner}'"));
    dir.wait_for("pgrp", 1, SECS(20));
    let fields: Vec<i32> = dir.lines("pgrp")[0]
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(
        fields[0], fields[1],
        "child's group is the foreground group"
    );
    // Give `exec sleep` a moment is unnecessary: the group is the same after exec.
    use std::io::Write;
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "Ctrl-C killed the child with SIGINT"
    );
}

#[test]
fn usage_errors_exit_2_with_one_clear_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus", "x"], "--bogus"),
        (&[], "no command"),
        (&["-r", "FOO:1", "x"], "unknown signal 'FOO'"),
        (&["-r", "15", "x"], "FROM:TO"),
        (&["-r", "TERM:RTMIN+99", "x"], "unknown signal"),
        (&["-p", "NOPE", "x"], "unknown signal"),
        (&["-e", "300", "x"], "300"),
        (&["--grace-period", "ten", "x"], "--grace-period"),
        (&["--pre-stop-delay", "-1s", "x"], "negative"),
        (&["--grace-period", "999999999999", "x"], "too long"),
        (&["-r", "RTMIN+2147483647:TERM", "x"], "unknown signal"),
        (&["--restart", "sometimes", "--run", "x"], "sometimes"),
        (&["--run", "", "x"], "empty"),
        (&["--run", "echo 'unbalanced"], "--run"),
    ];
    for (args, needle) in cases {
        let o = run(Mode::Plain, args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        let first = o.stderr.lines().next().unwrap_or("");
        assert!(first.starts_with("rinit: "), "{args:?}: {}", o.stderr);
        assert!(first.contains(needle), "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains("--help"), "usage hint: {}", o.stderr);
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    }
}

#[test]
fn help_version_license_exit_0() {
    for flag in ["-h", "--help", "-V", "--version", "-l", "--license"] {
        let o = run(Mode::Plain, &[flag]);
        assert_eq!(o.code, 0, "{flag}");
        assert!(!o.stdout.is_empty(), "{flag}");
    }
}

#[test]
fn env_bad_values_are_usage_errors() {
    let dir = Scratch::new("envbad");
    for (k, v) in [
        ("RINIT_GRACE_PERIOD", "soon"),
        ("RINIT_PRE_STOP_DELAY", "-5"),
        ("RINIT_REWRITE", "TERM:BOGUS"),
        ("RINIT_RESTART", "maybe"),
    ] {
        let o = Run::start_with(Mode::Plain, &dir, &["true"], &[(k, v)]).finish(SECS(10));
        assert_eq!(o.code, 2, "{k}={v}: {}", o.stderr);
        assert!(o.stderr.starts_with("rinit: "), "{}", o.stderr);
    }
}

/// -v shows rinit's own lifecycle lines, each prefixed `rinit:`.
#[test]
fn verbose_logging() {
    let o = run(Mode::Pid1, &["-vv", "sh", "-c", "exit 3"]);
    assert_eq!(o.code, 3);
    assert!(o.stderr.contains("rinit: started sh"), "{}", o.stderr);
    assert!(o.stderr.contains("exited with code 3"), "{}", o.stderr);
    assert!(
        o.stderr.lines().all(|l| l.starts_with("rinit: ")),
        "{}",
        o.stderr
    );
}

/// Invoked as `tini` or `docker-init`, rinit forwards to the child only unless `-g` (or
/// TINI_KILL_PROCESS_GROUP); as `dumb-init`, to the group unless `-c` (or DUMB_INIT_SETSID=0).
#[test]
fn names_keep_their_tools_forwarding_target() {
    // (name, flags, environment, whether the group gets signals)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], bool);
    let cases: &[Case] = &[
        ("tini", &[], &[], false),
        ("tini", &["-g"], &[], true),
        ("tini", &[], &[("TINI_KILL_PROCESS_GROUP", "1")], true),
        ("docker-init", &[], &[], false),
        ("dumb-init", &[], &[], true),
        ("dumb-init", &["-c"], &[], false),
        ("dumb-init", &[], &[("DUMB_INIT_SETSID", "0")], false),
        ("rinit", &[], &[("DUMB_INIT_SETSID", "0")], false),
    ];
    for (name, flags, env, group) in cases {
        let dir = Scratch::new("names");
        let link = dir.file(name);
        std::os::unix::fs::symlink(common::rinit(), &link).unwrap();
        let script = format!("{} & wait", dir.recorder("app"));
        let mut args: Vec<&str> = vec!["--pid", "--fork", "--mount-proc", &link];
        args.extend(flags.iter());
        args.extend(["--", "sh", "-c", &script]);
        let child = Command::new("unshare")
            .args(&args)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        dir.wait_for("app.ready", 0, SECS(20));
        let unshare = child.id() as i32;
        let init: i32 = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        // WINCH: ignored by the shell, recorded by the app only if the group gets it. Then TERM
        // (the stop: the shell, and in every case the app once the shell is gone).
        unsafe { libc::kill(init, libc::SIGWINCH) };
        if *group {
            dir.wait_for("app.sig", 1, SECS(10));
        }
        unsafe { libc::kill(init, libc::SIGTERM) };
        let status = child.wait_with_output().unwrap().status;
        let expected = if *group {
            vec![libc::SIGWINCH, libc::SIGTERM]
        } else {
            vec![libc::SIGTERM]
        };
        assert_eq!(dir.signals("app"), expected, "{name} {flags:?} {env:?}");
        assert_eq!(status.code(), Some(143), "{name} {flags:?} {env:?}");
    }
}

/// A runtime that starts rinit with stdin or stderr closed: rinit fills the gaps with
/// /dev/null before opening anything of its own, so its signalfd is never the child's stdin.
#[test]
fn closed_standard_descriptors_become_dev_null() {
    use std::os::unix::process::CommandExt;
    let dir = Scratch::new("closed-fds");
    let out = dir.file("fds");
    let script = format!("readlink /proc/$$/fd/0 /proc/$$/fd/2 > {out}; true");
    let mut cmd = Command::new(common::rinit());
    cmd.args(["sh", "-c", &script]);
    // SAFETY: close and close_range are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            libc::close(0);
            libc::close(2);
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(dir.lines("fds"), ["/dev/null", "/dev/null"]);
}

/// `rinit -- bash -i` on a terminal has job control: Ctrl-Z stops the foreground job and bash
/// gets the terminal back (nothing is wedged), `jobs` lists it, and bash's exit code comes out.
#[test]
#[cfg_attr(any(missing_script, missing_bash), ignore = "needs script, bash")]
fn interactive_bash_has_job_control() {
    if common::missing(&["script", "bash"]) {
        return;
    }
    use std::io::Write;
    let dir = Scratch::new("bash");
    let jobs = dir.file("jobs");
    let mut child = in_pty(&dir, "bash --norc --noprofile -i");
    let mut input = child.stdin.take().unwrap();
    // A unique duration, to find this sleep among the other tests' processes.
    let marker = "sleep 4242.25";
    input.write_all(format!("{marker}\n").as_bytes()).unwrap();
    let find = || {
        std::fs::read_dir("/proc").ok()?.find_map(|e| {
            let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            (cmd == b"sleep\x004242.25\x00").then_some(pid)
        })
    };
    let state = |pid: i32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit(") ").next().and_then(|r| r.chars().next())
    };
    let deadline = std::time::Instant::now() + SECS(20);
    let sleep = loop {
        if let Some(p) = find() {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "sleep never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    input.write_all(b"\x1a").unwrap(); // Ctrl-Z
    while state(sleep) != Some('T') {
        assert!(
            std::time::Instant::now() < deadline,
            "Ctrl-Z did not stop the job"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    input
        // bash refuses the first exit while a job is stopped; the second one exits, and rinit
        // stops the stopped job it leaves behind.
        .write_all(format!("jobs > {jobs}; exit 7\nexit 7\n").as_bytes())
        .unwrap();
    // End of input ends bash in any case: the test fails rather than hangs.
    drop(input);
    let status = child.wait().unwrap();
    assert!(find().is_none(), "the stopped job was left behind");
    let listed = dir.lines("jobs").join("\n");
    assert!(listed.contains("Stopped"), "jobs said: {listed}");
    assert!(listed.contains(marker), "jobs said: {listed}");
    assert_eq!(status.code(), Some(7));
}

/// `-p TERM`: when rinit's parent dies, rinit gets SIGTERM and stops its command.
#[test]
fn parent_death_signal_stops_the_run() {
    let dir = Scratch::new("pdeathsig");
    let app_pid = dir.file("app.pid");
    let ready = dir.file("ready");
    let parent = format!(
        "{} -p TERM -- sh -c 'echo $$ > {app_pid}; touch {ready}; exec sleep 100' & \
         while [ ! -e {ready} ]; do sleep 0.01; done; exit 0",
        common::rinit()
    );
    let status = Command::new("sh")
        .args(["-c", &parent])
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let pid: i32 = dir.lines("app.pid")[0].parse().unwrap();
    let deadline = std::time::Instant::now() + SECS(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the app outlived rinit's parent"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
