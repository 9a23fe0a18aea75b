//! The command line and the environment: usage errors and their exit codes under each name,
//! `--help`/`--version` streams, empty and misnamed variables, CMDLINE labels, `--check`'s exit
//! codes, and name handling at scale.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Outcome, Scratch};

/// Every variable rinit reads: removed so that the caller's environment cannot leak in.
const VARIABLES: &[&str] = &[
    "RINIT_REWRITE",
    "RINIT_PDEATHSIG",
    "RINIT_REMAP_EXIT",
    "RINIT_LOG",
    "RINIT_LOG_FORMAT",
    "RINIT_STOP_SIGNALS",
    "RINIT_PRE_STOP",
    "RINIT_PRE_STOP_DELAY",
    "RINIT_GRACE_PERIOD",
    "RINIT_STOP_ORDER",
    "RINIT_RESTART",
    "RINIT_READY_TIMEOUT",
    "RINIT_USER",
    "RINIT_PREFIX",
    "TINI_SUBREAPER",
    "TINI_KILL_PROCESS_GROUP",
    "TINI_VERBOSITY",
    "DUMB_INIT_SETSID",
    "DUMB_INIT_DEBUG",
];

/// Runs rinit as a plain process, invoked as `name` (a symlink), with `env` on top of a clean
/// set of rinit's variables.
fn invoke(name: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let dir = Scratch::new("cli");
    let bin = if name == "rinit" {
        common::rinit().to_string()
    } else {
        let link = dir.file(name);
        std::os::unix::fs::symlink(common::rinit(), &link).unwrap();
        link
    };
    let mut argv = common::runner();
    argv.push(bin);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).args(args).current_dir(&dir.path);
    for v in VARIABLES {
        cmd.env_remove(v);
    }
    let started = Instant::now();
    let out = cmd
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

fn rinit(args: &[&str]) -> Outcome {
    invoke("rinit", args, &[])
}

fn rinit_env(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    invoke("rinit", args, env)
}

/// The first line of stderr, which must be the error.
fn first_line(o: &Outcome) -> &str {
    o.stderr.lines().next().unwrap_or("")
}

#[test]
fn usage_errors_exit_2_as_rinit_and_1_under_the_peers_names() {
    for (name, prefix, code) in [
        ("rinit", "rinit: ", 2),
        ("tini", "tini: ", 1),
        ("tini-static", "tini: ", 1),
        ("docker-init", "tini: ", 1),
        ("dumb-init", "dumb-init: ", 1),
    ] {
        for args in [
            &["--bogus", "x"][..],
            &[],
            &["-Z", "x"],
            &["--grace-period"],
        ] {
            let o = invoke(name, args, &[]);
            assert_eq!(o.code, code, "{name} {args:?}: {}", o.stderr);
            assert!(first_line(&o).starts_with(prefix), "{name}: {}", o.stderr);
            assert!(o.stdout.is_empty(), "{name}: {}", o.stdout);
            assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
        }
    }
    let o = rinit(&["--grace-period", "x"]);
    assert!(
        first_line(&o).contains("--grace-period: 'x'"),
        "{}",
        o.stderr
    );
    let o = rinit(&["--prefix=1", "x"]);
    assert!(
        first_line(&o).contains("--prefix takes no value"),
        "{}",
        o.stderr
    );
}

#[test]
fn version_and_help_streams_per_name() {
    let o = rinit(&["--version"]);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (0, "rinit 0.1.0\n", "")
    );
    let o = rinit(&["-V"]);
    assert_eq!(o.stdout, "rinit 0.1.0\n");
    // What `docker info` parses: `tini version X.Y.Z - git.Y`.
    for name in ["tini", "docker-init", "tini-static"] {
        let o = invoke(name, &["--version"], &[]);
        assert_eq!(o.code, 0, "{name}");
        assert_eq!(o.stdout, "tini version 0.19.0 - git.rinit\n", "{name}");
        assert_eq!(o.stderr, "", "{name}");
        let o = invoke(name, &["--help"], &[]);
        assert_eq!(o.code, 0);
        assert!(o.stdout.contains("Usage: tini "), "{}", o.stdout);
        assert_eq!(o.stderr, "");
    }
    let o = invoke("dumb-init", &["--version"], &[]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, "");
    assert_eq!(o.stderr, "dumb-init v1.2.5 (rinit 0.1.0)\n");
    let o = invoke("dumb-init", &["-h"], &[]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, "");
    assert!(o.stderr.contains("Usage: dumb-init "), "{}", o.stderr);
}

#[test]
fn help_names_every_option_and_variable() {
    let o = rinit(&["--help"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stderr, "");
    for word in [
        "-c, --single-child",
        "-g ",
        "-r, --rewrite",
        "-s, --subreaper",
        "-p, --pdeathsig",
        "-e, --remap-exit",
        "-w, --warn-on-reap",
        "-v, --verbose",
        "--log-format",
        "--stop-signals",
        "--pre-stop ",
        "--pre-stop-delay",
        "--grace-period",
        "--stop-order",
        "--task",
        "--run",
        "--restart",
        "--ready-timeout",
        "--user",
        "--watch",
        "--prefix",
        "--check ",
        "--check-timeout",
        "-h, --help",
        "-V, --version",
        "-l, --license",
        "DUMB_INIT_SETSID=0",
        "TINI_KILL_PROCESS_GROUP",
        "RINIT_REWRITE",
        "TINI_SUBREAPER",
        "RINIT_PDEATHSIG",
        "RINIT_REMAP_EXIT",
        "RINIT_LOG",
        "TINI_VERBOSITY",
        "DUMB_INIT_DEBUG",
        "RINIT_LOG_FORMAT",
        "RINIT_STOP_SIGNALS",
        "RINIT_PRE_STOP",
        "RINIT_PRE_STOP_DELAY",
        "RINIT_GRACE_PERIOD",
        "RINIT_STOP_ORDER",
        "RINIT_RESTART",
        "RINIT_READY_TIMEOUT",
        "RINIT_USER",
        "RINIT_PREFIX",
        "127",
        "126",
    ] {
        assert!(o.stdout.contains(word), "help lacks {word:?}");
    }
    // -e applies to rinit's exit code, whichever process it came from.
    assert!(o.stdout.contains("whichever process"), "{}", o.stdout);
    assert!(!o.stdout.contains("main process only\n"), "{}", o.stdout);
    assert!(o.stdout.contains("]PROGRAM [ARG...]"), "{}", o.stdout);
    assert!(
        o.stdout.starts_with("rinit: a container init"),
        "{}",
        o.stdout
    );
}

#[test]
fn empty_variables_count_as_unset() {
    let env: Vec<(&str, &str)> = VARIABLES
        .iter()
        .filter(|v| v.starts_with("RINIT_"))
        .map(|v| (*v, ""))
        .collect();
    let o = rinit_env(&["sh", "-c", "exit 3"], &env);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(o.stderr, "");
}

#[test]
fn errors_about_a_variable_name_the_variable() {
    for (var, value) in [
        ("RINIT_GRACE_PERIOD", "soon"),
        ("RINIT_PRE_STOP_DELAY", "-5"),
        ("RINIT_READY_TIMEOUT", "forever"),
        ("RINIT_RESTART", "maybe"),
        ("RINIT_STOP_ORDER", "random"),
        ("RINIT_STOP_SIGNALS", "TERM,BOGUS"),
        ("RINIT_REWRITE", "TERM:BOGUS"),
        ("RINIT_REMAP_EXIT", "3,300"),
        ("RINIT_PDEATHSIG", "NOPE"),
        ("RINIT_LOG_FORMAT", "xml"),
        ("RINIT_PREFIX", "maybe"),
        ("RINIT_USER", "no-such-user-here"),
        ("RINIT_PRE_STOP", "h,color=red: drain"),
    ] {
        let o = rinit_env(&["true"], &[(var, value)]);
        assert_eq!(o.code, 2, "{var}={value}: {}", o.stderr);
        let line = first_line(&o);
        assert!(line.starts_with(&format!("rinit: {var}")), "{var}: {line}");
        assert!(!line.contains(" --"), "names the flag: {line}");
    }
    // The flag, when given, is named instead (and beats the variable).
    let o = rinit_env(
        &["--grace-period", "soon", "true"],
        &[("RINIT_GRACE_PERIOD", "1s")],
    );
    assert!(
        first_line(&o).starts_with("rinit: --grace-period"),
        "{}",
        o.stderr
    );
    let o = rinit_env(
        &["--grace-period", "1s", "true"],
        &[("RINIT_GRACE_PERIOD", "soon")],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn policies_and_names_in_any_case() {
    let o = rinit_env(&["--run", "sh -c 'exit 3'"], &[("RINIT_RESTART", "Never")]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    let o = rinit(&["--restart", "ON-FAILURE", "--run", "sh -c 'exit 0'"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = rinit_env(
        &["--log-format", "Plain", "--stop-order", "REVERSE", "true"],
        &[("RINIT_STOP_SIGNALS", "sigterm,Int,quit")],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn remap_exit_from_the_variable() {
    let o = rinit_env(&["sh", "-c", "exit 5"], &[("RINIT_REMAP_EXIT", "3,5")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = rinit_env(&["sh", "-c", "exit 4"], &[("RINIT_REMAP_EXIT", "3,5")]);
    assert_eq!(o.code, 4, "{}", o.stderr);
    // A flag beats the variable.
    let o = rinit_env(
        &["-e", "4", "sh", "-c", "exit 5"],
        &[("RINIT_REMAP_EXIT", "5")],
    );
    assert_eq!(o.code, 5, "{}", o.stderr);
}

#[test]
fn label_errors_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["--run", "a,color=red: x"], "unknown key 'color'"),
        (&["--run", "a,restart=sometimes: x"], "sometimes"),
        (&["--run", "a,stop=TERM,stop=INT: x"], "twice"),
        (&["--run", "a,grace=soon: x"], "grace=soon"),
        (&["--run", "a,dir=a b: x"], "quote"),
        (
            &["--run", "a,user=no-such-user-here: x"],
            "no-such-user-here",
        ),
        (
            &["--task", "t,restart=always: x", "y"],
            "not allowed on --task",
        ),
        (
            &["--task", "t,ready=tcp:1: x", "y"],
            "not allowed on --task",
        ),
        (
            &["--pre-stop", "h,ready=tcp:1: drain", "y"],
            "not allowed on --pre-stop",
        ),
        (
            &["--pre-stop", "h,stop=INT: drain", "y"],
            "not allowed on --pre-stop",
        ),
        (&["--task", "t: x"], "no command"),
    ];
    for (args, needle) in cases {
        let o = rinit(args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        let line = first_line(&o);
        assert!(line.starts_with("rinit: "), "{line}");
        assert!(line.contains(needle), "{args:?}: {line}");
        let o = invoke("dumb-init", args, &[]);
        assert_eq!(o.code, 1, "{args:?} as dumb-init: {}", o.stderr);
    }
}

/// A label names the process; its options do not reach the program's words.
#[test]
fn a_label_names_the_process() {
    let o = rinit(&[
        "-v",
        "--run",
        "web,stop=QUIT,grace=2s,env=A=1,exit=stop: sh -c 'exit 4'",
    ]);
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("started web "), "{}", o.stderr);
}

#[test]
fn users_watches_and_orders_are_checked_before_anything_starts() {
    let dir = Scratch::new("nostart");
    let marker = dir.file("started");
    let touch = format!("touch {marker}");
    for (args, needle) in [
        (
            &["--user", "no-such-user-here"][..],
            "unknown user 'no-such-user-here'",
        ),
        (&["--user", "0:no-such-group-here"], "unknown group"),
        (&["--watch", "HUP:nope=/etc"], "'nope'"),
        (&["--watch", "BOGUS=/etc"], "unknown signal"),
        (&["--watch", "HUP"], "SIGNAL[:NAME]=PATH"),
        (&["--stop-order", "random"], "random"),
        (&["--log-format", "xml"], "xml"),
        (&["--ready-timeout", "-1"], "negative"),
        (&["--stop-signals", "TERM,NOPE"], "NOPE"),
    ] {
        let mut all = args.to_vec();
        all.extend(["--run", "sh -c \"$0\"", "--", "sh", "-c", &touch]);
        let o = rinit(&all);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(first_line(&o).contains(needle), "{args:?}: {}", o.stderr);
        assert!(!dir.exists("started"), "{args:?} started a process");
    }
}

/// `--check` reads nothing else and never exits 2 (Docker reserves it): every usage error in
/// check mode is one line and exit 1.
#[test]
fn check_mode_usage_errors_exit_1() {
    for args in [
        &["--check", "tcp:1", "sh", "-c", "exit 0"][..],
        &["--check", "tcp:1", "--", "true"],
        &["--run", "true", "--check", "tcp:1"],
        &["--check", "tcp:1", "--task", "true"],
        &["--check", "tcp:1", "--bogus"],
        &["--bogus", "--check", "tcp:1"],
        &["--check", "tcp:1", "--check-timeout", "soon"],
        &["--check", "tcp:1", "--check-timeout", "-1s"],
        &["--check", "tcp:1", "--check-timeout"],
        &["--check"],
        &["--check-timeout", "1s", "--check"],
        &["--grace-period", "5s", "--check", "tcp:1"],
    ] {
        for name in ["rinit", "tini", "dumb-init"] {
            let o = invoke(name, args, &[("RINIT_GRACE_PERIOD", "soon")]);
            assert_eq!(o.code, 1, "{name} {args:?}: {}", o.stderr);
            assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {}", o.stderr);
            assert!(o.stderr.contains("--check"), "{args:?}: {}", o.stderr);
        }
    }
    // Variables are not read in check mode: a bad one is no error (the probe's result decides).
    let o = rinit_env(&["--check", "tcp:1"], &[("RINIT_GRACE_PERIOD", "soon")]);
    assert!(!o.stderr.contains("RINIT_GRACE_PERIOD"), "{}", o.stderr);
    assert_ne!(o.code, 2);
}

#[test]
fn tini_verbosity_as_tini_reads_it() {
    let dir = Scratch::new("verbosity");
    let script = "sleep 100 & exit 0";
    // -w warns for every orphan reaped: a warning.
    let o = rinit(&["-w", "sh", "-c", script]);
    assert!(o.stderr.contains("reaped orphan"), "{}", o.stderr);
    let o = rinit_env(&["-w", "sh", "-c", script], &[("TINI_VERBOSITY", "0")]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stderr, "", "TINI_VERBOSITY=0: errors only");
    // Huge does not wrap around to silence.
    let o = rinit_env(&["true"], &[("TINI_VERBOSITY", "99999999999999999999999")]);
    assert!(o.stderr.contains("started true"), "{}", o.stderr);
    drop(dir);
}

#[test]
fn dumb_init_variables_as_dumb_init_reads_them() {
    let o = invoke("dumb-init", &["true"], &[("DUMB_INIT_DEBUG", "1")]);
    assert!(o.stderr.contains("started true"), "{}", o.stderr);
    for other in ["yes", "true", "0", ""] {
        let o = invoke("dumb-init", &["true"], &[("DUMB_INIT_DEBUG", other)]);
        assert_eq!(o.stderr, "", "DUMB_INIT_DEBUG={other}");
    }
}

/// A default name from a program whose base name holds a newline cannot forge a log line.
#[test]
fn names_are_sanitised_in_logs() {
    let dir = Scratch::new("sanitise");
    let evil = dir.file("a\nrinit: forged\x1b[31m");
    std::os::unix::fs::symlink("/bin/true", &evil).unwrap();
    let quoted = format!("'{evil}'");
    for args in [&["-vv", "--run", &quoted][..], &["-vv", "--", &evil]] {
        let o = rinit(args);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(
            o.stderr.contains("started a?rinit: forged?[31m"),
            "{}",
            o.stderr
        );
        assert!(
            !o.stderr.lines().any(|l| l.starts_with("rinit: forged")),
            "{}",
            o.stderr
        );
        assert!(!o.stderr.contains('\x1b'), "{}", o.stderr);
    }
}

/// 8,000 duplicate names are made unique in linear time (quadratic took minutes). The bound is
/// a hang guard, not a measurement.
#[test]
fn thousands_of_duplicate_names() {
    let mut args: Vec<&str> = Vec::new();
    for _ in 0..8000 {
        args.extend(["--run", "true"]);
    }
    // The last one is `true-8000`: a watch naming `true-8001` is refused after the names are made.
    args.extend(["--watch", "HUP:true-8001=/etc"]);
    let o = rinit(&args);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(first_line(&o).contains("'true-8001'"), "{}", o.stderr);
    assert!(o.elapsed < Duration::from_secs(20), "{:?}", o.elapsed);
    // And it runs: every `true` starts (or is stopped), rinit exits 0.
    let n = args.len();
    args[n - 1] = "HUP:true-8000=/etc";
    let o = rinit(&args);
    assert_eq!(o.code, 0, "{}", &o.stderr[..o.stderr.len().min(2000)]);
    assert!(o.stderr.contains("true-8000"), "the last name is true-8000");
    assert!(o.elapsed < Duration::from_secs(120), "{:?}", o.elapsed);
}

/// tini's variables count when set at all, even empty (tini tests for presence); dumb-init's
/// `DUMB_INIT_SETSID` only when exactly `0`. Seen in where a signal goes: with group
/// forwarding, a background job of the main shell gets it too.
#[test]
fn peer_variables_decide_the_forwarding_target() {
    // (name, environment, whether the group gets signals)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);
    let cases: &[Case] = &[
        ("tini", &[("TINI_KILL_PROCESS_GROUP", "")], true),
        ("tini", &[("TINI_KILL_PROCESS_GROUP", "0")], true),
        ("tini", &[("TINI_SUBREAPER", "")], false),
        ("dumb-init", &[("DUMB_INIT_SETSID", "false")], true),
        ("dumb-init", &[("DUMB_INIT_SETSID", "")], true),
        ("dumb-init", &[("DUMB_INIT_SETSID", "0")], false),
    ];
    for (name, env, group) in cases {
        let dir = Scratch::new("peervars");
        let link = dir.file(name);
        std::os::unix::fs::symlink(common::rinit(), &link).unwrap();
        let script = format!("{} & wait", dir.recorder("app"));
        // As PID 1, where the stop signal reaches everyone at once (kill(-1)).
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc"])
            .args(common::runner())
            .arg(&link)
            .args(["--", "sh", "-c", &script]);
        for v in VARIABLES {
            cmd.env_remove(v);
        }
        let child = cmd
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        dir.wait_for("app.ready", 0, Duration::from_secs(20));
        let unshare = child.id() as i32;
        let pid: i32 = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        unsafe { libc::kill(pid, libc::SIGWINCH) };
        if *group {
            dir.wait_for("app.sig", 1, Duration::from_secs(10));
        }
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = child.wait_with_output().unwrap().status;
        let expected = if *group {
            vec![libc::SIGWINCH, libc::SIGTERM]
        } else {
            vec![libc::SIGTERM]
        };
        assert_eq!(dir.signals("app"), expected, "{name} {env:?}");
        assert_eq!(status.code(), Some(143), "{name} {env:?}");
    }
}
