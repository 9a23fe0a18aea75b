//! Regression tests for the faults an adversarial pass found (issue 11, A-L): stalled and
//! non-blocking output, a /proc that is not rinit's, no /proc at all, a TERM-ignoring forker,
//! a lowered RLIMIT_NOFILE, a broken stderr, and names that try to forge log lines.
//! Each waits on state (files, a pipe's fill level, /proc), never on sleeps.

mod common;

use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{children_of, missing, rinit_argv, Scratch};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn descendants(pid: i32) -> Vec<i32> {
    let mut all = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        all.push(p);
        todo.extend(children_of(p));
    }
    all
}

fn sig_mask(pid: i32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| u64::from_str_radix(l.strip_prefix(field)?.trim(), 16).ok())
        .unwrap_or(0)
}

/// rinit started by any command line (unshare and sh wrappers), as a host pid.
struct Started {
    child: Child,
    pid: i32,
    started: Instant,
    err: String,
}

impl Started {
    /// Starts `cmd` and waits until one of its descendants is rinit (its argv holds rinit's
    /// path as a word) with SIGTERM blocked or caught: from then on no signal to it is lost.
    fn new(mut cmd: Command, err: String) -> Started {
        let started = Instant::now();
        let child = cmd.spawn().expect("start");
        let bin = rinit_argv().last().cloned().unwrap();
        let term = 1u64 << (libc::SIGTERM - 1);
        let deadline = Instant::now() + SECS(60);
        let pid = loop {
            let found = descendants(child.id() as i32).into_iter().find(|&p| {
                let argv = fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                // unshare and sh name rinit too, but are not it.
                let exe = fs::read_link(format!("/proc/{p}/exe")).unwrap_or_default();
                let wrapper = exe.file_name().is_some_and(|n| {
                    ["unshare", "sh", "dash", "bash"].contains(&&*n.to_string_lossy())
                });
                !wrapper
                    && argv.split(|&b| b == 0).any(|w| w == bin.as_bytes())
                    && (sig_mask(p, "SigBlk:") | sig_mask(p, "SigCgt:")) & term != 0
            });
            if let Some(p) = found {
                break p;
            }
            assert!(Instant::now() < deadline, "rinit did not start");
            thread::sleep(Duration::from_millis(2));
        };
        Started {
            child,
            pid,
            started,
            err,
        }
    }

    fn kill(&self, signo: i32) {
        // SAFETY: plain kill(2).
        unsafe { libc::kill(self.pid, signo) };
    }

    /// Waits for the whole command to end; kills it all and fails after `timeout`.
    fn finish(mut self, timeout: Duration) -> (i32, Duration, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let code = common::shell_code(status);
                let err = fs::read_to_string(&self.err).unwrap_or_default();
                return (code, self.started.elapsed(), err);
            }
            if Instant::now() > deadline {
                for p in descendants(self.child.id() as i32).into_iter().rev() {
                    // SAFETY: plain kill(2) on the test's own processes.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
                let _ = self.child.wait();
                panic!(
                    "did not end within {timeout:?}; stderr:\n{}",
                    fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Started {
    /// A test that failed half-way leaves nothing running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            for p in descendants(self.child.id() as i32).into_iter().rev() {
                // SAFETY: plain kill(2) on the test's own processes.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            let _ = self.child.wait();
        }
    }
}

fn pid1_command(extra: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc"])
        .args(rinit_argv())
        .args(extra);
    c
}

fn in_dir(mut c: Command, dir: &Scratch, stdout: Stdio) -> (Command, String) {
    let err = dir.file("rinit.err");
    c.current_dir(&dir.path)
        .env_remove("RINIT_LOG")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(fs::File::create(&err).unwrap());
    // Whatever the test runner left open must not reach rinit.
    // SAFETY: close_range is async-signal-safe.
    unsafe {
        c.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    (c, err)
}

/// Waits until a process under rinit is blocked writing to its pipe: rinit has stopped reading
/// it, which it does only once its output queue is full, so rinit's stdout (or stderr) is
/// stalled and rinit holds all it can.
fn wait_writer_blocked(rinit: &Started) {
    let deadline = Instant::now() + SECS(60);
    loop {
        let blocked = descendants(rinit.pid).into_iter().skip(1).any(|p| {
            fs::read_to_string(format!("/proc/{p}/wchan")).is_ok_and(|w| w.contains("pipe_write"))
        });
        if blocked {
            return;
        }
        assert!(Instant::now() < deadline, "no writer ever blocked");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A: a stdout reader that stalls while long lines are relayed. The SIGTERM is acted on, the
/// TERM-ignoring process is SIGKILLed after the 2 s grace period, and rinit exits, dropping
/// what it could not write, with a count.
#[test]
#[cfg_attr(
    any(missing_unshare, missing_python3),
    ignore = "needs unshare, python3"
)]
fn a_stalled_stdout_with_long_lines_holds_no_stop() {
    if missing(&["unshare", "python3"]) {
        return;
    }
    let dir = Scratch::new("fault-a");
    let script = dir.file("long.py");
    fs::write(
        &script,
        "import signal, sys, time\n\
         signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
         for i in range(30):\n    print('x' * 20000, flush=True)\n\
         time.sleep(3600)\n",
    )
    .unwrap();
    let (r, w) = std::io::pipe().unwrap();
    let run = format!("w: python3 {script}");
    let (cmd, err) = in_dir(
        pid1_command(&["--grace-period", "2s", "--prefix", "--run", &run]),
        &dir,
        Stdio::from(OwnedFd::from(w)),
    );
    let rinit = Started::new(cmd, err);
    wait_writer_blocked(&rinit);
    let sent = Instant::now();
    rinit.kill(libc::SIGTERM);
    let (code, _, stderr) = rinit.finish(SECS(60));
    let took = sent.elapsed();
    assert_eq!(code, 128 + libc::SIGKILL, "{stderr}");
    assert!(took < SECS(15), "stop took {took:?}; stderr:\n{stderr}");
    assert!(
        stderr.contains("grace period of 2s is over: killing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bytes of output: stdout not writable"),
        "{stderr}"
    );
    drop(r);
}

/// B: short lines and a stalled reader: the stop completes and so does the exit (the final
/// flush is bounded).
#[test]
#[cfg_attr(missing_unshare, ignore = "needs unshare")]
fn b_final_flush_to_a_stalled_reader_ends() {
    if missing(&["unshare", "yes"]) {
        return;
    }
    let dir = Scratch::new("fault-b");
    let (r, w) = std::io::pipe().unwrap();
    let (cmd, err) = in_dir(
        pid1_command(&["--prefix", "--run", "w: yes"]),
        &dir,
        Stdio::from(OwnedFd::from(w)),
    );
    let rinit = Started::new(cmd, err);
    wait_writer_blocked(&rinit);
    rinit.kill(libc::SIGTERM);
    let (code, _, stderr) = rinit.finish(SECS(60));
    assert_eq!(code, 128 + libc::SIGTERM, "{stderr}");
    assert!(
        stderr.contains("bytes of output: stdout not writable"),
        "{stderr}"
    );
    drop(r);
}

/// B on stderr: rinit's own log shares the stalled stderr with relayed lines; neither holds
/// PID 1 (each log line is queued or dropped, never written with a blocking write).
#[test]
#[cfg_attr(missing_unshare, ignore = "needs unshare")]
fn b_stalled_stderr_holds_neither_log_nor_stop() {
    if missing(&["unshare", "sh", "yes"]) {
        return;
    }
    let dir = Scratch::new("fault-b2");
    let (r, w) = std::io::pipe().unwrap();
    let mut c = pid1_command(&["-v", "-v", "--prefix", "--run", "w: sh -c 'yes >&2'"]);
    c.current_dir(&dir.path)
        .env_remove("RINIT_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(OwnedFd::from(w)));
    let rinit = Started::new(c, dir.file("none"));
    wait_writer_blocked(&rinit);
    rinit.kill(libc::SIGTERM);
    let (code, took, _) = rinit.finish(SECS(60));
    assert_eq!(code, 128 + libc::SIGTERM);
    assert!(took < SECS(20), "{took:?}");
    drop(r);
}

/// C: the main process makes the stdout it shares with rinit non-blocking (Node, asyncio do).
/// EAGAIN means "wait": all 300 relayed lines arrive.
#[test]
#[cfg_attr(
    any(missing_unshare, missing_python3),
    ignore = "needs unshare, python3"
)]
fn c_nonblocking_shared_stdout_loses_nothing() {
    if missing(&["unshare", "python3"]) {
        return;
    }
    let dir = Scratch::new("fault-c");
    let nb = dir.file("nb");
    let main = dir.file("main.py");
    fs::write(
        &main,
        format!(
            "import os, time\n\
             os.set_blocking(1, False)\n\
             open('{nb}', 'w').close()\n\
             time.sleep(3600)\n"
        ),
    )
    .unwrap();
    let writer = dir.file("w.py");
    fs::write(
        &writer,
        format!(
            "import os, time\n\
             while not os.path.exists('{nb}'):\n    time.sleep(0.01)\n\
             for i in range(300):\n    print('%03d ' % i + 'y' * 5000, flush=True)\n"
        ),
    )
    .unwrap();
    let (mut r, w) = std::io::pipe().unwrap();
    let run = format!("w: python3 {writer}");
    let (cmd, err) = in_dir(
        pid1_command(&["--prefix", "--run", &run, "--", "python3", &main]),
        &dir,
        Stdio::from(OwnedFd::from(w)),
    );
    let rinit = Started::new(cmd, err);
    dir.wait_for("nb", 0, SECS(60));
    // Nobody reads: the pipe fills, then rinit's queue, then its writer blocks.
    wait_writer_blocked(&rinit);
    let reader = thread::spawn(move || {
        let mut all = Vec::new();
        let _ = r.read_to_end(&mut all);
        all
    });
    let (code, _, stderr) = rinit.finish(SECS(60));
    let out = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("w | ")).collect();
    assert_eq!(lines.len(), 300, "stderr:\n{stderr}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("w | {i:03} ")), "line {i}: {l:.20}");
    }
    assert_eq!(code, 0, "{stderr}");
}

/// A recorder that sleeps and records signals, `count` of them started by `sh` in the background.
fn decoys(dir: &Scratch, count: usize) -> String {
    (0..count)
        .map(|i| format!("{} & ", dir.recorder(&format!("decoy{i}"))))
        .collect()
}

/// D, E: not PID 1 (sh is) and /proc is the host's (`unshare --pid --fork` without
/// `--mount-proc`). rinit is pid 2 there, and its siblings 3-10, whose numbers the host's
/// kernel threads also have: none of them gets a signal, and the stop reaches rinit's own child.
#[test]
#[cfg_attr(
    any(missing_unshare, missing_python3),
    ignore = "needs unshare, python3"
)]
fn d_e_foreign_proc_signals_only_own_descendants() {
    if missing(&["unshare", "python3", "sh"]) {
        return;
    }
    let dir = Scratch::new("fault-de");
    let rinit = rinit_argv().join(" ");
    let script = format!(
        "{rinit} --grace-period 5s -- {} & {} wait",
        dir.recorder("app"),
        decoys(&dir, 8)
    );
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "sh", "-c", &script]);
    let (cmd, err) = in_dir(c, &dir, Stdio::null());
    let started = Started::new(cmd, err);
    for i in 0..8 {
        dir.wait_for(&format!("decoy{i}.ready"), 0, SECS(60));
    }
    dir.wait_for("app.ready", 0, SECS(60));
    started.kill(libc::SIGTERM);
    dir.wait_for("app.sig", 1, SECS(60));
    assert_eq!(dir.signals("app"), [libc::SIGTERM]);
    // rinit exits once its child did: then only the decoys are left in the namespace.
    let deadline = Instant::now() + SECS(60);
    while fs::metadata(format!("/proc/{}", started.pid)).is_ok_and(|_| {
        fs::read_to_string(format!("/proc/{}/stat", started.pid)).is_ok_and(|s| !s.contains(") Z"))
    }) {
        assert!(Instant::now() < deadline, "rinit did not exit");
        thread::sleep(Duration::from_millis(5));
    }
    for i in 0..8 {
        assert_eq!(
            dir.signals(&format!("decoy{i}")),
            [],
            "decoy {i} was signalled"
        );
    }
    // SIGKILL to the namespace's init ends the decoys too.
    // SAFETY: plain kill(2) on the test's own unshare child.
    let sh = children_of(started.child.id() as i32);
    for p in sh {
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    let _ = started.finish(SECS(60));
}

/// M: PID 1 with the host's /proc (no `--mount-proc`): the grace message lists rinit's own
/// process only, and the SIGKILL still comes.
#[test]
#[cfg_attr(
    any(missing_unshare, missing_python3),
    ignore = "needs unshare, python3"
)]
fn m_grace_message_lists_only_own_processes() {
    if missing(&["unshare", "python3"]) {
        return;
    }
    let dir = Scratch::new("fault-m");
    let app = dir.recorder_argv("app");
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork"])
        .args(rinit_argv())
        .args(["--grace-period", "1s", "--"])
        .args(&app)
        .arg("10");
    let (cmd, err) = in_dir(c, &dir, Stdio::null());
    let rinit = Started::new(cmd, err);
    dir.wait_for("app.ready", 0, SECS(60));
    rinit.kill(libc::SIGTERM);
    let (code, _, stderr) = rinit.finish(SECS(60));
    assert_eq!(code, 128 + libc::SIGKILL, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("grace period of 1s is over"))
        .unwrap_or_else(|| panic!("no grace line:\n{stderr}"));
    // One process, the recorder (pid 2, or 3 under qemu, whose thread took 2).
    let listed = line.split("killing ").nth(1).unwrap_or_default();
    assert!(
        !listed.contains(", ") && listed.ends_with(" (python3)"),
        "lists other processes: {line}"
    );
}

/// F: PID 1 with no usable /proc (a tmpfs over it): the SIGKILL after the grace period still
/// comes, and rinit exits.
#[test]
#[cfg_attr(
    any(missing_unshare, missing_python3),
    ignore = "needs unshare, python3"
)]
fn f_no_proc_still_kills_after_grace() {
    if missing(&["unshare", "python3", "sh", "mount"]) {
        return;
    }
    let dir = Scratch::new("fault-f");
    let script = format!(
        "mount -t tmpfs none /proc && exec {} --grace-period 1s -- {} 10",
        rinit_argv().join(" "),
        dir.recorder("app")
    );
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount", "sh", "-c", &script]);
    let (cmd, err) = in_dir(c, &dir, Stdio::null());
    let rinit = Started::new(cmd, err);
    dir.wait_for("app.ready", 0, SECS(60));
    rinit.kill(libc::SIGTERM);
    let (code, _, stderr) = rinit.finish(SECS(60));
    assert_eq!(code, 128 + libc::SIGKILL, "{stderr}");
    assert!(
        stderr.contains("grace period of 1s is over: killing every process left"),
        "{stderr}"
    );
    assert_eq!(dir.signals("app"), [libc::SIGTERM]);
}

/// E without /proc: not PID 1 and no usable /proc (a tmpfs over it, in a mount namespace of
/// its own): the stop and the SIGKILL still reach the process group rinit started.
#[test]
#[cfg_attr(
    any(missing_unshare, missing_python3),
    ignore = "needs unshare, python3"
)]
fn e_no_proc_not_pid1_reaches_own_groups() {
    if missing(&["unshare", "python3", "sh", "mount"]) {
        return;
    }
    let dir = Scratch::new("fault-e");
    let script = format!(
        "mount -t tmpfs none /proc && exec {} --grace-period 1s -- {} 10",
        rinit_argv().join(" "),
        dir.recorder("app")
    );
    let mut c = Command::new("unshare");
    c.args(["--mount", "sh", "-c", &script]);
    let (cmd, err) = in_dir(c, &dir, Stdio::null());
    let rinit = Started::new(cmd, err);
    dir.wait_for("app.ready", 0, SECS(60));
    rinit.kill(libc::SIGTERM);
    let (code, _, stderr) = rinit.finish(SECS(60));
    assert_eq!(code, 128 + libc::SIGKILL, "{stderr}");
    assert_eq!(dir.signals("app"), [libc::SIGTERM]);
    assert!(
        stderr.contains("grace period of 1s is over: killing the process groups"),
        "{stderr}"
    );
}

/// G: not PID 1, a TERM-ignoring process that keeps forking: SIGKILL passes repeat until
/// nothing is left, and rinit exits.
#[test]
#[cfg_attr(missing_python3, ignore = "needs python3")]
fn g_forker_is_killed_to_the_last_child() {
    if missing(&["python3"]) {
        return;
    }
    if !common::runner().is_empty() {
        // qemu-user refuses PR_SET_CHILD_SUBREAPER: the forker's orphans never come to rinit.
        eprintln!("skipped: no child subreaper under {:?}", common::runner());
        return;
    }
    let dir = Scratch::new("fault-g");
    let ready = dir.file("forker.ready");
    let script = dir.file("forker.py");
    fs::write(
        &script,
        format!(
            "import os, signal, time\n\
             signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
             open('{ready}', 'w').close()\n\
             while True:\n\
             \x20   if os.fork() == 0:\n\
             \x20       time.sleep(30)\n\
             \x20       os._exit(0)\n\
             \x20   time.sleep(0.002)\n"
        ),
    )
    .unwrap();
    let mut c = common::rinit_command();
    c.args(["--grace-period", "500ms", "--", "python3", &script]);
    let (cmd, err) = in_dir(c, &dir, Stdio::null());
    let rinit = Started::new(cmd, err);
    dir.wait_for("forker.ready", 0, SECS(60));
    rinit.kill(libc::SIGTERM);
    let pid = rinit.pid;
    let (code, _, stderr) = rinit.finish(SECS(60));
    assert_eq!(code, 128 + libc::SIGKILL, "{stderr}");
    // Nothing of rinit's is left behind (its orphans would have gone to the host's init).
    let left: Vec<i32> = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&p: &i32| {
            fs::read_to_string(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.contains(&script))
        })
        .collect();
    for &p in &left {
        // SAFETY: plain kill(2) on what this test started.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    assert!(left.is_empty(), "left behind by {pid}: {left:?}");
}

/// I: RLIMIT_NOFILE lowered under a running rinit makes its poll fail (EINVAL): one log line,
/// no spin, and the SIGTERM still stops everything.
#[test]
#[cfg_attr(
    any(missing_unshare, missing_python3),
    ignore = "needs unshare, python3"
)]
fn i_lowered_nofile_limit_neither_spins_nor_hangs() {
    if missing(&["unshare", "python3", "prlimit"]) {
        return;
    }
    let dir = Scratch::new("fault-i");
    let run = format!("app: {}", dir.recorder("app"));
    let (cmd, err) = in_dir(
        pid1_command(&["--prefix", "--run", &run]),
        &dir,
        Stdio::null(),
    );
    let rinit = Started::new(cmd, err);
    dir.wait_for("app.ready", 0, SECS(60));
    let pid = rinit.pid.to_string();
    let ok = Command::new("prlimit")
        .args(["--pid", &pid, "--nofile=2:2"])
        .status()
        .unwrap();
    assert!(ok.success());
    rinit.kill(libc::SIGTERM);
    let (code, _, stderr) = rinit.finish(SECS(60));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(dir.signals("app"), [libc::SIGTERM]);
    assert!(stderr.len() < 10_000, "log flood: {} bytes", stderr.len());
    assert!(stderr.matches("poll failed").count() <= 1, "{stderr}");
}

/// H: an invalid RINIT_LOG and a broken stderr (its reader gone): no panic, no dependency
/// printing, the child's code comes back.
#[test]
fn h_invalid_rinit_log_and_broken_stderr_do_not_panic() {
    if missing(&["sh"]) {
        return;
    }
    let dir = Scratch::new("fault-h");
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    let mut c = common::rinit_command();
    c.args(["-v", "-v", "--", "sh", "-c", "exit 7"])
        .env("RINIT_LOG", "=x,foo=bogus,,rinit=nope,%%%")
        .current_dir(&dir.path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(OwnedFd::from(w)));
    let status = c.status().unwrap();
    assert_eq!(status.code(), Some(7), "{status:?}");
}

/// L: a process name holding a newline or an escape sequence is printed escaped: it cannot
/// forge a `rinit:` line or drive a terminal, in rinit's log or in `--prefix` output.
#[test]
#[cfg_attr(missing_unshare, ignore = "needs unshare")]
fn l_names_cannot_forge_log_lines() {
    if missing(&["unshare", "sh"]) {
        return;
    }
    let dir = Scratch::new("fault-l");
    let prog = dir.path.join("w\nrinit: forged\x1b[2J");
    fs::write(&prog, "#!/bin/sh\necho hello\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
    let run = format!("'{}'", prog.display());
    let out = dir.file("out");
    let (mut cmd, err) = in_dir(
        pid1_command(&["--prefix", "--run", &run]),
        &dir,
        Stdio::from(fs::File::create(&out).unwrap()),
    );
    // It ends by itself at once.
    let status = cmd.status().unwrap();
    assert_eq!(status.code(), Some(0));
    let stderr = fs::read_to_string(err).unwrap();
    let stdout = fs::read_to_string(&out).unwrap();
    for text in [&stderr, &stdout] {
        assert!(
            !text.lines().any(|l| l.starts_with("rinit: forged")),
            "forged:\n{text}"
        );
        assert!(!text.contains('\x1b'), "raw escape:\n{text:?}");
    }
    assert!(stdout.contains("hello"), "{stdout}");
}
