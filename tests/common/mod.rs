//! Shared harness for the integration tests: run the real rinit binary as PID 1 of a fresh PID
//! namespace (`unshare --pid --fork --mount-proc`) or as a plain process (a subreaper), with its
//! output in files, and wait on state (files, /proc), never on sleeps.
#![allow(dead_code)]

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The rinit binary under test: `RINIT_BIN` when set (the release, glibc or arm64 build), else
/// the one cargo built for this test run.
pub fn rinit() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("RINIT_BIN")
            .ok()
            .filter(|b| !b.is_empty())
            .map(|b| {
                fs::canonicalize(&b)
                    .unwrap_or_else(|e| panic!("RINIT_BIN={b}: {e}"))
                    .to_string_lossy()
                    .into_owned()
            })
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_rinit").to_string())
    })
}

/// A program that runs rinit for a foreign architecture, from `RINIT_RUNNER`
/// (`qemu-aarch64-static`); empty when rinit runs natively.
pub fn runner() -> Vec<String> {
    std::env::var("RINIT_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The command words that start rinit: the runner, if any, then the binary.
pub fn rinit_argv() -> Vec<String> {
    let mut v = runner();
    v.push(rinit().to_string());
    v
}

/// A `Command` for rinit (through the runner, if any).
pub fn rinit_command() -> Command {
    let argv = rinit_argv();
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

/// A Python child that records every signal it receives, one `SIGNO NANOS` line each
/// (CLOCK_REALTIME), and exits 0 on the signals listed in its third argument (default: TERM),
/// after an optional cleanup pause (fourth argument, seconds) that writes `cleanup` to OUT.
const RECORDER: &str = r#"
import os, signal, sys, time
out, ready = sys.argv[1], sys.argv[2]
exit_on = {int(s) for s in (sys.argv[3] if len(sys.argv) > 3 else "15").split(",") if s}
cleanup = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
def handler(signo, frame):
    with open(out, "a") as f:
        f.write(f"{signo} {time.time_ns()}\n")
    if signo in exit_on:
        if cleanup:
            time.sleep(cleanup)
            with open(out, "a") as f:
                f.write("cleanup\n")
        os._exit(0)
for s in range(1, signal.SIGRTMAX + 1):
    if s in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD):
        continue
    try:
        signal.signal(s, handler)
    except (OSError, ValueError):
        pass
open(ready, "w").close()
while True:
    signal.pause()
"#;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory, removed when dropped.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("rinit-test-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch dir");
        fs::write(path.join("recorder.py"), RECORDER).expect("write recorder");
        Scratch { path }
    }

    pub fn file(&self, name: &str) -> String {
        self.path.join(name).to_string_lossy().into_owned()
    }

    /// `python3 RECORDER OUT READY [EXIT_ON [CLEANUP]]` as one shell-quoted command line.
    pub fn recorder(&self, name: &str) -> String {
        format!(
            "python3 {} {} {}",
            self.file("recorder.py"),
            self.file(&format!("{name}.sig")),
            self.file(&format!("{name}.ready"))
        )
    }

    /// The argv of a recorder, for use after `--`.
    pub fn recorder_argv(&self, name: &str) -> Vec<String> {
        self.recorder(name).split(' ').map(str::to_string).collect()
    }

    /// Signal numbers a recorder got, in order.
    pub fn signals(&self, name: &str) -> Vec<i32> {
        self.lines(&format!("{name}.sig"))
            .iter()
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect()
    }

    /// When a recorder got `signo` (first time), as time since the epoch.
    pub fn signal_time(&self, name: &str, signo: i32) -> Option<Duration> {
        self.lines(&format!("{name}.sig")).iter().find_map(|l| {
            let mut w = l.split(' ');
            if w.next()?.parse::<i32>().ok()? != signo {
                return None;
            }
            Some(Duration::from_nanos(w.next()?.parse().ok()?))
        })
    }

    pub fn lines(&self, name: &str) -> Vec<String> {
        fs::read_to_string(self.path.join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path.join(name).exists()
    }

    /// Waits until `name` exists (and, for `.sig` files, holds `min_lines` lines).
    pub fn wait_for(&self, name: &str, min_lines: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !(self.exists(name) && self.lines(name).len() >= min_lines) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {name} ({min_lines} lines)"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

pub fn now_since_epoch() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// A running rinit.
pub struct Run {
    /// The host pid of rinit itself (under unshare: unshare's child, PID 1 inside); 0 when the
    /// run was over before the pid could be seen.
    pub pid: i32,
    out: PathBuf,
    err: PathBuf,
    pub started: Instant,
    exited: mpsc::Receiver<i32>,
}

/// How rinit is started.
pub enum Mode {
    /// PID 1 of a new PID namespace.
    Pid1,
    /// A plain process: rinit registers as subreaper.
    Plain,
}

/// The children of `pid`, from /proc.
pub fn children_of(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn status_mask(pid: i32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| u64::from_str_radix(l.strip_prefix(field)?.trim(), 16).ok())
        .unwrap_or(0)
}

/// The signals a process blocks, from /proc/PID/status.
pub fn blocked_mask(pid: i32) -> u64 {
    status_mask(pid, "SigBlk:")
}

/// The signals a process catches, from /proc/PID/status.
pub fn caught_mask(pid: i32) -> u64 {
    status_mask(pid, "SigCgt:")
}

/// The resolved path of a program on PATH.
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.is_file())
        .and_then(|p| fs::canonicalize(p).ok())
}

impl Run {
    pub fn start(mode: Mode, dir: &Scratch, args: &[&str]) -> Run {
        Self::start_with(mode, dir, args, &[])
    }

    pub fn start_with(mode: Mode, dir: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Run {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let out = dir.path.join(format!("rinit-{n}.out"));
        let err = dir.path.join(format!("rinit-{n}.err"));
        let mut cmd = match mode {
            Mode::Pid1 => {
                let mut c = Command::new("unshare");
                c.args(["--pid", "--fork", "--mount-proc"])
                    .args(rinit_argv());
                c
            }
            Mode::Plain => rinit_command(),
        };
        cmd.args(args)
            .envs(env.iter().copied())
            .env_remove("RINIT_LOG")
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).expect("stdout file"))
            .stderr(fs::File::create(&err).expect("stderr file"));
        // Whatever the test runner left open must not be mistaken for a leak of rinit's.
        // SAFETY: close_range is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("start rinit");
        let pid = match mode {
            Mode::Plain => child.id() as i32,
            Mode::Pid1 => {
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    if let Some(&p) = children_of(child.id() as i32).first() {
                        break p;
                    }
                    if let Ok(Some(_)) = child.try_wait() {
                        // Already over (a command that ends at once): nothing to signal, and
                        // the waiter below gets the status std kept.
                        break 0;
                    }
                    assert!(Instant::now() < deadline, "unshare did not fork");
                    thread::sleep(Duration::from_millis(1));
                }
            }
        };
        let rx = wait_in_thread(child);
        Run {
            pid,
            out,
            err,
            started,
            exited: rx,
        }
    }

    /// Waits until rinit has blocked its signals: from then on no signal sent to it is lost.
    pub fn wait_signals_blocked(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let term = 1u64 << (libc::SIGTERM - 1);
        // Under a runner (qemu) the process is the runner's, which catches every signal before
        // it runs rinit: wait for that instead.
        let (exe, mask_of) = match runner().first() {
            Some(r) => (which(r), caught_mask as fn(i32) -> u64),
            None => (
                fs::canonicalize(rinit()).ok(),
                blocked_mask as fn(i32) -> u64,
            ),
        };
        let is_rinit = || fs::read_link(format!("/proc/{}/exe", self.pid)).ok() == exe;
        // Before exec the pid is still unshare's child, whose mask says nothing about rinit.
        while !is_rinit() || mask_of(self.pid) & term == 0 {
            assert!(Instant::now() < deadline, "rinit never blocked SIGTERM");
            thread::yield_now();
        }
    }

    pub fn kill(&self, signo: i32) {
        assert!(self.pid > 0, "rinit is already gone");
        // SAFETY: plain kill(2) on one pid.
        unsafe { libc::kill(self.pid, signo) };
    }

    pub fn stderr_now(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits until rinit's stderr contains `text`.
    pub fn wait_stderr(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stderr_now().contains(text) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for '{text}' on stderr; got:\n{}",
                self.stderr_now()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for rinit to exit; after `timeout` it is killed and the test fails.
    pub fn finish(self, timeout: Duration) -> Outcome {
        let code = match self.exited.recv_timeout(timeout) {
            Ok(code) => code,
            Err(_) => {
                if self.pid > 0 {
                    // SAFETY: plain kill(2); SIGKILL from the parent namespace ends it all.
                    unsafe { libc::kill(self.pid, libc::SIGKILL) };
                }
                let _ = self.exited.recv_timeout(Duration::from_secs(5));
                panic!(
                    "rinit did not exit within {timeout:?}; stderr:\n{}",
                    fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
        };
        Outcome {
            code,
            elapsed: self.started.elapsed(),
            stdout: fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: fs::read_to_string(&self.err).unwrap_or_default(),
        }
    }
}

/// A status as a shell reports it: the exit code, or 128 + the signal that killed it.
pub fn shell_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|n| 128 + n))
        .unwrap_or(-1)
}

/// Waits for `child` in a thread of its own; its code ([`shell_code`], -1 if waiting failed)
/// arrives on the channel.
pub fn wait_in_thread(mut child: std::process::Child) -> mpsc::Receiver<i32> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let code = child.wait().map(shell_code).unwrap_or(-1);
        let _ = tx.send(code);
    });
    rx
}

/// Runs rinit to completion.
pub fn run(mode: Mode, args: &[&str]) -> Outcome {
    let dir = Scratch::new("run");
    Run::start(mode, &dir, args).finish(Duration::from_secs(30))
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// True (and says why) when a tool this test needs is missing. The tests that can miss a tool
/// are also marked `#[cfg_attr(missing_TOOL, ignore = ...)]` (see build.rs), so that cargo counts
/// them as ignored; this check is the net for the rest. Under `CI=true` a missing tool is a
/// failure, never a pass.
pub fn missing(tools: &[&str]) -> bool {
    for t in tools {
        if !have(t) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{t} is not installed (.ci/run installs it)"
            );
            eprintln!("skipped: {t} is not installed (.ci/run installs it)");
            return true;
        }
    }
    false
}

pub fn path_exists(p: &str) -> bool {
    Path::new(p).exists()
}
