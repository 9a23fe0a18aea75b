//! rinit under a real Docker engine, as its users run it: each test asserts what `docker` itself
//! reports (exit codes from `docker run` and `docker inspect`, `docker logs`, how long
//! `docker stop` took). The engine is the tests' own (see tests/dockerd/mod.rs): one dockerd per
//! run of this file, shared by its tests, stopped on every exit path.
//!
//! Times: rinit's delays are short (1–3 s) and Docker's timeouts long (10–30 s), so a test tells
//! rinit's SIGKILL from Docker's by the exit code (Docker's kill gives 137) and by an upper bound
//! just below Docker's timeout; the machine may be busy, so no tighter upper bound is asserted.
//! Lower bounds (the pre-stop delay held SIGTERM) are measured on the boot clock that host and
//! container share.

mod common;
mod dockerd;

use dockerd::{daemon, got_at, uptime, Container, TempDir, BUSYBOX_IMAGE, QUIT_IMAGE, RINIT_IMAGE};
use std::io::Read;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Exit codes
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn exit_codes_as_docker_reports_them() {
    let d = daemon();
    // (command after the image's `/rinit --`, expected code, text expected on stderr)
    let cases: &[(&[&str], i32, &str)] = &[
        (&["true"], 0, ""),
        (&["sh", "-c", "exit 7"], 7, ""),
        (&["sh", "-c", "kill -USR1 $$"], 128 + libc::SIGUSR1, ""),
        (&["sh", "-c", "kill -TERM $$"], 128 + libc::SIGTERM, ""),
        // A directory cannot be executed: found, not runnable.
        (&["/tmp"], 126, "/tmp"),
        (&["/no/such/program"], 127, "/no/such/program"),
    ];
    let handles: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, (cmd, code, err))| {
            let (cmd, code, err) = (cmd.to_vec(), *code, *err);
            thread::spawn(move || {
                let c = Container::named(&format!("exit-{i}"));
                let mut args = vec!["run", "--network", "none", "--name", &c.name, RINIT_IMAGE];
                args.extend_from_slice(&cmd);
                let out = d.docker(&args);
                let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                assert_eq!(
                    out.status.code(),
                    Some(code),
                    "docker run {cmd:?}: exit status; stderr:\n{stderr}"
                );
                assert_eq!(c.exit_code(), code, "docker inspect {cmd:?}");
                if !err.is_empty() {
                    assert!(
                        stderr.contains("rinit:") && stderr.contains(err),
                        "{cmd:?}: expected one rinit: line naming {err}; got:\n{stderr}"
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("exit-code case");
    }
}

// ---------------------------------------------------------------------------------------------
// docker stop
// ---------------------------------------------------------------------------------------------

/// A shell that leaves a process ignoring `sigs` behind, then becomes `/bin/app NAME EXIT_ON CODE`.
fn with_straggler(sigs: &str, app: &str) -> String {
    format!("(trap '' {sigs}; exec sleep 1000) & exec /bin/app {app}")
}

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn docker_stop_holds_term_for_the_delay_and_rinit_kills_stragglers_before_docker_does() {
    let c = Container::start(
        "stop",
        &[
            "--stop-timeout",
            "30",
            "-e",
            "RINIT_PRE_STOP_DELAY=2s",
            "-e",
            "RINIT_GRACE_PERIOD=3s",
            RINIT_IMAGE,
            "sh",
            "-c",
            &with_straggler("TERM", "main TERM 42"),
        ],
    );
    c.wait_log("main ready");
    let t0 = uptime();
    let (took, code) = c.stop(&[]);
    let logs = c.all_logs();
    let term_at = got_at(&logs, "main", "TERM").unwrap_or_else(|| panic!("no TERM\n{logs}"));
    assert!(
        term_at - t0 >= 1.9,
        "SIGTERM reached the app {:.2}s after docker stop, before the 2s pre-stop delay\n{logs}",
        term_at - t0
    );
    assert!(logs.contains("main bye"), "the app did not finish\n{logs}");
    assert!(
        logs.contains("grace period of 3s is over: killing"),
        "rinit did not kill the straggler itself\n{logs}"
    );
    assert_eq!(code, 42, "the exit code is the app's\n{logs}");
    // Delay 2 s + grace 3 s; Docker's own SIGKILL would come at 30 s.
    assert!(
        took >= Duration::from_millis(4500) && took < Duration::from_secs(29),
        "docker stop took {took:?}\n{logs}"
    );
}

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn docker_stop_reaches_a_shell_entrypoints_background_jobs() {
    // Docker's defaults: SIGTERM, SIGKILL 10 s later.
    let c = Container::start(
        "shell",
        &[
            RINIT_IMAGE,
            "sh",
            "-c",
            "/bin/app a TERM 0 & /bin/app b TERM 0 & wait",
        ],
    );
    c.wait_log("a ready");
    c.wait_log("b ready");
    let (took, code) = c.stop(&[]);
    let logs = c.all_logs();
    for name in ["a", "b"] {
        assert!(
            logs.contains(&format!("{name} got TERM")) && logs.contains(&format!("{name} bye")),
            "background job {name} did not get SIGTERM and finish\n{logs}"
        );
    }
    // The shell itself has no trap: SIGTERM ends it, and rinit passes that on.
    assert_eq!(code, 128 + libc::SIGTERM, "{logs}");
    assert!(
        took < Duration::from_secs(10),
        "docker stop took {took:?}\n{logs}"
    );
}

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn stopsignal_quit_is_forwarded_at_once_by_default() {
    let c = Container::start(
        "quit",
        &[
            "--stop-timeout",
            "30",
            "-e",
            "RINIT_PRE_STOP_DELAY=10s",
            QUIT_IMAGE,
            "/bin/app",
            "q",
            "QUIT",
            "0",
        ],
    );
    c.wait_log("q ready");
    let t0 = uptime();
    let (took, code) = c.stop(&[]);
    let logs = c.all_logs();
    let at = got_at(&logs, "q", "QUIT").unwrap_or_else(|| panic!("no QUIT\n{logs}"));
    assert!(
        at - t0 < 8.0,
        "QUIT reached the app {:.2}s after docker stop: it was held for the pre-stop delay\n{logs}",
        at - t0
    );
    assert_eq!(code, 0, "{logs}");
    assert!(
        took < Duration::from_secs(29),
        "docker stop took {took:?}\n{logs}"
    );
}

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn stopsignal_quit_gets_the_delay_and_grace_period_with_rinit_stop_signals() {
    let c = Container::start(
        "quit-stop",
        &[
            "--stop-timeout",
            "30",
            "-e",
            "RINIT_STOP_SIGNALS=TERM,INT,QUIT",
            "-e",
            "RINIT_PRE_STOP_DELAY=2s",
            "-e",
            "RINIT_GRACE_PERIOD=2s",
            QUIT_IMAGE,
            "sh",
            "-c",
            &with_straggler("QUIT TERM", "q QUIT 0"),
        ],
    );
    c.wait_log("q ready");
    let t0 = uptime();
    let (took, code) = c.stop(&[]);
    let logs = c.all_logs();
    let at = got_at(&logs, "q", "QUIT").unwrap_or_else(|| panic!("no QUIT\n{logs}"));
    assert!(
        at - t0 >= 1.9,
        "QUIT reached the app {:.2}s after docker stop, before the 2s pre-stop delay\n{logs}",
        at - t0
    );
    assert!(
        logs.contains("grace period of 2s is over: killing"),
        "rinit did not kill the straggler itself\n{logs}"
    );
    assert_eq!(code, 0, "{logs}");
    assert!(
        took >= Duration::from_millis(3500) && took < Duration::from_secs(29),
        "docker stop took {took:?}\n{logs}"
    );
}

// ---------------------------------------------------------------------------------------------
// docker kill, docker exec
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn docker_kill_usr1_and_hup_reach_the_app() {
    let c = Container::start("kill", &[RINIT_IMAGE, "/bin/app", "k", "TERM", "3"]);
    c.wait_log("k ready");
    c.kill("USR1");
    c.wait_log("k got USR1");
    c.kill("HUP");
    c.wait_log("k got HUP");
    assert!(c.running(), "USR1/HUP are not stops\n{}", c.all_logs());
    let (_, code) = c.stop(&[]);
    assert_eq!(code, 3, "{}", c.all_logs());
}

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn docker_exec_processes_are_stopped_too() {
    let out = TempDir::new("exec");
    let c = Container::start(
        "exec",
        &[
            "-v",
            &out.volume(),
            "-e",
            "RINIT_GRACE_PERIOD=2s",
            RINIT_IMAGE,
            "sh",
            "-c",
            // A straggler of rinit's own keeps the container up for the grace period: an exec'd
            // process is not rinit's to wait for, and PID 1's exit would end it at once.
            &with_straggler("TERM", "main TERM 0"),
        ],
    );
    c.wait_log("main ready");
    c.exec_with(
        &["-d"],
        &[
            "sh",
            "-c",
            "trap 'echo got TERM > /out/exec; exit 0' TERM; : > /out/exec-ready; \
         while :; do sleep 1000 & wait $!; done",
        ],
    );
    c.exec_with(
        &["-d"],
        &[
            "sh",
            "-c",
            "trap '' TERM; : > /out/stubborn-ready; exec sleep 1000",
        ],
    );
    let deadline = Instant::now() + dockerd::DEADLINE;
    while !(out.path("exec-ready").exists() && out.path("stubborn-ready").exists()) {
        assert!(
            Instant::now() < deadline,
            "the exec'd processes never started"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let (took, code) = c.stop(&["-t", "30"]);
    assert_eq!(
        out.read("exec"),
        "got TERM\n",
        "the docker exec'd process did not get SIGTERM\n{}",
        c.all_logs()
    );
    assert_eq!(code, 0, "{}", c.all_logs());
    // The one ignoring SIGTERM ended with the container, long before Docker's 30 s.
    assert!(
        took < Duration::from_secs(29),
        "docker stop took {took:?}\n{}",
        c.all_logs()
    );
}

// ---------------------------------------------------------------------------------------------
// HEALTHCHECK with rinit --check (images without curl or wget)
// ---------------------------------------------------------------------------------------------

/// Waits until `docker inspect` reports this health status.
fn wait_health(c: &Container, want: &str) {
    let deadline = Instant::now() + dockerd::DEADLINE;
    loop {
        let status = c.inspect("{{.State.Health.Status}}");
        if status == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "health is {status}, not {want}; last checks: {}\n{}",
            c.inspect("{{json .State.Health.Log}}"),
            c.all_logs()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn healthcheck_with_rinit_check_follows_the_app() {
    let d = daemon();
    let image = "rinit-test/health";
    d.build(
        image,
        &format!(
            "FROM {RINIT_IMAGE}\n\
             HEALTHCHECK --interval=1s --timeout=5s --retries=1 \
             CMD [\"/rinit\", \"--check\", \"http://127.0.0.1:8080/healthz\"]\n"
        ),
        &[],
    );
    let c = Container::start(
        "health",
        &[
            image,
            "sh",
            "-c",
            "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www",
        ],
    );
    wait_health(&c, "healthy");
    // The app stops answering 200: the check fails (exit 1) and Docker says so.
    c.exec(&["rm", "/www/healthz"]);
    wait_health(&c, "unhealthy");
    let (_, code) = c.stop(&[]);
    assert_eq!(code, 128 + libc::SIGTERM, "{}", c.all_logs());
}

// ---------------------------------------------------------------------------------------------
// docker run --init
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn docker_info_parses_rinit_as_docker_init() {
    let d = daemon();
    let binary = d.ok(&["info", "-f", "{{.InitBinary}}"]);
    assert!(
        binary.trim().ends_with("docker-init"),
        "init binary: {binary}"
    );
    let commit = d.ok(&["info", "-f", "{{.InitCommit.ID}}"]);
    assert_eq!(
        commit.trim(),
        "rinit",
        "docker info could not parse `docker-init --version` (N/A means unparsed)"
    );
}

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn docker_run_init_runs_rinit_as_pid_1() {
    let d = daemon();
    // The image has no init of its own: Docker mounts its init-path (rinit) as /sbin/docker-init.
    let c = Container::named("init-code");
    let out = d.docker(&[
        "run",
        "--init",
        "--network",
        "none",
        "--name",
        &c.name,
        BUSYBOX_IMAGE,
        "sh",
        "-c",
        "tr '\\0' ' ' < /proc/1/cmdline; echo; exit 5",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("/sbin/docker-init -- sh -c"),
        "PID 1 is not docker-init: {stdout}"
    );

    // docker stop through it: tini's behaviour (the child gets SIGTERM), the child's code.
    let c = Container::start(
        "init-stop",
        &["--init", BUSYBOX_IMAGE, "/bin/app", "i", "TERM", "3"],
    );
    c.wait_log("i ready");
    let (took, code) = c.stop(&[]);
    assert!(c.all_logs().contains("i got TERM"), "{}", c.all_logs());
    assert_eq!(code, 3, "{}", c.all_logs());
    // Docker would have killed at 10 s: the exit code above (not 137) shows it did not.
    assert!(took < Duration::from_secs(10), "docker stop took {took:?}");
}

// ---------------------------------------------------------------------------------------------
// docker run -it
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root, missing_script),
    ignore = "needs root, docker.io, busybox-static and script (.ci/run installs them)"
)]
fn docker_run_it_makes_the_app_the_foreground_group_and_ctrl_c_reaches_it() {
    let d = daemon();
    let c = Container::named("tty");
    // `script` gives the docker client a pseudo-terminal, as a user's terminal would.
    let app =
        "read a b c d pgrp f g tpgid rest < /proc/$$/stat; echo \"pgrp=$pgrp tpgid=$tpgid\"; \
               trap 'echo got INT; exit 9' INT; echo tty-ready; \
               while :; do sleep 1000 & wait $!; done";
    let docker_cmd = format!(
        "{} run -it --network none --name {} {RINIT_IMAGE} sh -c \"{}\"",
        dockerd::DOCKER,
        c.name,
        app.replace('"', "\\\"").replace('$', "\\$")
    );
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &docker_cmd, "/dev/null"])
        .env("TERM", "dumb");
    for (k, v) in d.command().get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    let mut child = script
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start script");
    let output = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().expect("stdout");
    let sink = Arc::clone(&output);
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("output")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let deadline = Instant::now() + dockerd::DEADLINE;
    while !output.lock().expect("output").contains("tty-ready") {
        if Instant::now() >= deadline || matches!(child.try_wait(), Ok(Some(_))) {
            let _ = child.kill();
            panic!(
                "the app never became ready on the terminal:\n{}",
                output.lock().expect("output")
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
    let mut stdin = child.stdin.take().expect("stdin");
    dockerd::feed(&mut stdin, b"\x03");
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!(
                "Ctrl-C did not end the app:\n{}",
                output.lock().expect("output")
            );
        }
        thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    let _ = reader.join();
    let text = output.lock().expect("output").clone();
    let ids: Vec<&str> = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("pgrp="))
        .map(|l| l.split(" tpgid=").collect())
        .unwrap_or_default();
    assert!(
        ids.len() == 2 && ids[0].trim() == ids[1].trim(),
        "the app's group is not the terminal's foreground group:\n{text}"
    );
    assert!(
        text.contains("got INT"),
        "Ctrl-C did not reach the app:\n{text}"
    );
    assert_eq!(
        status.code(),
        Some(9),
        "docker run -it's exit code:\n{text}"
    );
    assert_eq!(c.exit_code(), 9);
}

// ---------------------------------------------------------------------------------------------
// Several processes
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn multi_process_logs_are_prefixed_and_whole() {
    const LINES: usize = 200;
    let long = "x".repeat(3000);
    let writer = |name: &str| {
        format!(
            "{name}: sh -c 'i=0; while [ $i -lt {LINES} ]; do echo {name}-$i-{long}; \
             echo {name}-err-$i >&2; i=$((i+1)); done; echo {name}-done; exec sleep 1000'"
        )
    };
    let (a, b) = (writer("a"), writer("b"));
    let c = Container::start(
        "multi",
        &[
            "--entrypoint",
            "/rinit",
            RINIT_IMAGE,
            "--prefix",
            "--run",
            &a,
            "--run",
            &b,
        ],
    );
    c.wait_log("a | a-done");
    c.wait_log("b | b-done");
    let (stdout, stderr) = c.logs();
    for name in ["a", "b"] {
        let want: Vec<String> = (0..LINES)
            .map(|i| format!("{name} | {name}-{i}-{long}"))
            .chain([format!("{name} | {name}-done")])
            .collect();
        let got: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{name} | ")))
            .collect();
        assert!(
            got == want,
            "{name}'s stdout lines are not all there, whole, prefixed and in order ({} of {})",
            got.len(),
            want.len()
        );
        let want_err: Vec<String> = (0..LINES)
            .map(|i| format!("{name} | {name}-err-{i}"))
            .collect();
        let got_err: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with(&format!("{name} | ")))
            .collect();
        assert_eq!(got_err, want_err, "{name}'s stderr lines");
    }
    let stray: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with("a | ") && !l.starts_with("b | "))
        .collect();
    assert!(
        stray.is_empty(),
        "unprefixed or broken lines on stdout: {stray:?}"
    );
    let (_, code) = c.stop(&[]);
    assert_eq!(code, 128 + libc::SIGTERM, "{}", c.all_logs());
}

// ---------------------------------------------------------------------------------------------
// Zombies
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn no_zombies_after_an_orphan_storm() {
    // Orphans from the app itself (rinit's descendants) and from a `docker exec` (not rinit's,
    // but they come to PID 1 all the same).
    let storm = "i=0; while [ $i -lt 200 ]; do (sleep 0.1 &); (true &); i=$((i+1)); done";
    let c = Container::start(
        "zombies",
        &[
            RINIT_IMAGE,
            "sh",
            "-c",
            &format!("{storm}; echo storm-done; exec /bin/app z TERM 0"),
        ],
    );
    c.wait_log("z ready");
    c.exec(&["sh", "-c", storm]);
    // `ps` lists every process with its state; wait until the orphans are gone (their sleeps
    // end), then assert none is left as a zombie.
    let deadline = Instant::now() + dockerd::DEADLINE;
    let ps = loop {
        let ps = c.exec(&["ps", "-o", "pid,ppid,stat,comm"]);
        let sleeps = ps.lines().filter(|l| l.ends_with(" sleep")).count();
        let zombies = ps.lines().filter(|l| l.contains(" Z")).count();
        if sleeps <= 1 && zombies == 0 {
            break ps;
        }
        assert!(
            Instant::now() < deadline,
            "orphans or zombies left after {:?}:\n{ps}",
            dockerd::DEADLINE
        );
        thread::sleep(Duration::from_millis(200));
    };
    assert!(ps.contains("/rinit") || ps.contains("rinit"), "{ps}");
    let (_, code) = c.stop(&[]);
    assert_eq!(code, 0, "{}", c.all_logs());
}
