//! Under the peers' names (tini, dumb-init), rinit behaves as they do where scripts and users can
//! see it: fault signals sent with kill(), `-r` from any catchable signal, job control, leftovers
//! when the main process exits, the working directory (contract, "Names it answers to, exactly").

mod common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{children_of, Scratch};

#[allow(non_snake_case)]
fn SECS(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// PID 1 of a new PID namespace.
    Pid1,
    /// A plain process (a subreaper).
    Plain,
}

/// rinit started under a name (a symlink `NAME` to the binary under test).
struct Named {
    /// rinit's host pid.
    pid: i32,
    /// What to kill when the test ends (unshare's pid for a PID namespace, else rinit's).
    top: i32,
    err: std::path::PathBuf,
    exited: mpsc::Receiver<i32>,
}

/// Whatever the outcome, a test leaves no process behind: rinit, its processes and the
/// leftovers it was meant to leave alone are killed (and continued, if stopped).
impl Drop for Named {
    fn drop(&mut self) {
        if self.top == 0 {
            return;
        }
        let mut all = descendants(self.top);
        all.push(self.top);
        for p in all {
            kill(p, libc::SIGKILL);
        }
    }
}

/// Kills the processes it holds when dropped (leftovers a test expects to outlive rinit).
struct Leftover(i32);

impl Drop for Leftover {
    fn drop(&mut self) {
        kill(self.0, libc::SIGKILL);
    }
}

/// The state letter of /proc/PID/stat (`T`: stopped, `S`: sleeping, `R`: running).
fn state(pid: i32) -> char {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    text.rfind(')')
        .and_then(|i| text[i + 1..].split_whitespace().next())
        .and_then(|s| s.chars().next())
        .unwrap_or('?')
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn kill(pid: i32, signo: i32) {
    // SAFETY: plain kill(2).
    unsafe { libc::kill(pid, signo) };
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    exists && state(pid) != 'Z'
}

/// Every descendant of `pid` (through /proc/PID/task/*/children), deepest last.
fn descendants(pid: i32) -> Vec<i32> {
    let mut all = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let tasks = fs::read_dir(format!("/proc/{p}/task"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            .unwrap_or_default();
        for t in tasks {
            let t = t.to_string_lossy();
            for c in fs::read_to_string(format!("/proc/{p}/task/{t}/children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
            {
                all.push(c);
                todo.push(c);
            }
        }
    }
    all
}

impl Named {
    fn start(name: &str, mode: Mode, dir: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Named {
        let bin = dir.path.join("bin");
        fs::create_dir_all(&bin).expect("bin dir");
        let link = bin.join(name);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(common::rinit(), &link).expect("symlink");
        let mut argv = common::runner();
        argv.push(link.to_string_lossy().into_owned());
        let mut cmd = match mode {
            Mode::Pid1 => {
                let mut c = Command::new("unshare");
                c.args(["--pid", "--fork", "--mount-proc"]).args(&argv);
                c
            }
            Mode::Plain => {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
        };
        let err = dir.path.join(format!("{name}.err"));
        cmd.args(args)
            .envs(env.iter().copied())
            .env_remove("RINIT_LOG")
            .env_remove("DUMB_INIT_SETSID")
            .env_remove("TINI_KILL_PROCESS_GROUP")
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.path.join(format!("{name}.out"))).expect("out"))
            .stderr(fs::File::create(&err).expect("err"));
        // SAFETY: close_range is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start rinit");
        let pid = match mode {
            Mode::Plain => child.id() as i32,
            Mode::Pid1 => {
                let outer = child.id() as i32;
                let mut p = 0;
                wait_until("unshare forked", SECS(10), || {
                    p = children_of(outer).first().copied().unwrap_or(0);
                    p != 0
                });
                p
            }
        };
        let top = child.id() as i32;
        let rx = common::wait_in_thread(child);
        Named {
            pid,
            top,
            err,
            exited: rx,
        }
    }

    /// The main process (rinit's first child).
    fn main_pid(&self) -> i32 {
        let mut p = 0;
        wait_until("rinit started its process", SECS(10), || {
            p = children_of(self.pid).first().copied().unwrap_or(0);
            p != 0
        });
        p
    }

    fn finish(mut self, timeout: Duration) -> (i32, String) {
        let code = match self.exited.recv_timeout(timeout) {
            Ok(c) => {
                // Reaped: its pid is no longer ours to kill.
                self.top = 0;
                c
            }
            Err(_) => {
                panic!(
                    "rinit did not exit within {timeout:?}: {}",
                    fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
        };
        (code, fs::read_to_string(&self.err).unwrap_or_default())
    }
}

const FAULTS: [i32; 7] = [
    libc::SIGSEGV,
    libc::SIGILL,
    libc::SIGABRT,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGSYS,
    libc::SIGTRAP,
];

/// Fault signals sent with kill() are forwarded like any other, under every name, as PID 1 and
/// not; rinit survives them and ends normally.
#[test]
fn fault_signals_sent_with_kill_are_forwarded() {
    for name in ["rinit", "tini", "dumb-init"] {
        for mode in [Mode::Plain, Mode::Pid1] {
            let dir = Scratch::new("faults");
            let argv = dir.recorder_argv("app");
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            let rinit = Named::start(name, mode, &dir, &args, &[]);
            dir.wait_for("app.ready", 0, SECS(20));
            for (n, &signo) in FAULTS.iter().enumerate() {
                kill(rinit.pid, signo);
                // One at a time: standard signals coalesce.
                dir.wait_for("app.sig", n + 1, SECS(10));
                assert!(alive(rinit.pid), "{name} {mode:?}: rinit died of {signo}");
            }
            assert_eq!(dir.signals("app"), FAULTS, "{name} {mode:?}");
            kill(rinit.pid, libc::SIGTERM);
            let (code, err) = rinit.finish(SECS(20));
            assert_eq!(code, 0, "{name} {mode:?}: {err}");
        }
    }
}

/// `-r` rules start from fault signals and from SIGTTIN/SIGTTOU too. Under dumb-init's name a
/// terminal signal suspends rinit after it was forwarded, rewritten or not (as dumb-init does):
/// SIGCONT resumes it and is forwarded too.
#[test]
fn rewrite_from_fault_and_terminal_signals() {
    for name in ["rinit", "tini", "dumb-init"] {
        let dir = Scratch::new("rewrite");
        let mut args = vec!["-r", "SEGV:USR1", "-r", "TTIN:USR2", "-r", "TTOU:HUP", "--"];
        let argv = dir.recorder_argv("app");
        args.extend(argv.iter().map(String::as_str));
        let rinit = Named::start(name, Mode::Plain, &dir, &args, &[]);
        dir.wait_for("app.ready", 0, SECS(20));
        let mut expected = Vec::new();
        for (signo, to) in [
            (libc::SIGSEGV, libc::SIGUSR1),
            (libc::SIGTTIN, libc::SIGUSR2),
            (libc::SIGTTOU, libc::SIGHUP),
        ] {
            kill(rinit.pid, signo);
            expected.push(to);
            dir.wait_for("app.sig", expected.len(), SECS(10));
            if name == "dumb-init" && signo != libc::SIGSEGV {
                wait_until("rinit stopped", SECS(10), || state(rinit.pid) == 'T');
                kill(rinit.pid, libc::SIGCONT);
                expected.push(libc::SIGCONT);
                dir.wait_for("app.sig", expected.len(), SECS(10));
            }
        }
        assert_eq!(dir.signals("app"), expected, "{name}");
        assert_ne!(state(rinit.pid), 'T', "{name}");
        kill(rinit.pid, libc::SIGTERM);
        let (code, err) = rinit.finish(SECS(20));
        assert_eq!(code, 0, "{name}: {err}");
    }
}

/// Under tini's name (and rinit's), SIGTTIN and SIGTTOU are ignored and SIGTSTP is forwarded;
/// rinit itself never stops.
#[test]
fn tini_ignores_ttin_ttou_and_forwards_tstp() {
    for name in ["tini", "rinit"] {
        let dir = Scratch::new("tini-tty");
        let argv = dir.recorder_argv("app");
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let rinit = Named::start(name, Mode::Plain, &dir, &args, &[]);
        dir.wait_for("app.ready", 0, SECS(20));
        kill(rinit.pid, libc::SIGTTIN);
        kill(rinit.pid, libc::SIGTTOU);
        kill(rinit.pid, libc::SIGUSR1);
        dir.wait_for("app.sig", 1, SECS(10));
        kill(rinit.pid, libc::SIGTSTP);
        dir.wait_for("app.sig", 2, SECS(10));
        kill(rinit.pid, libc::SIGUSR2);
        dir.wait_for("app.sig", 3, SECS(10));
        assert_eq!(
            dir.signals("app"),
            [libc::SIGUSR1, libc::SIGTSTP, libc::SIGUSR2],
            "{name}"
        );
        assert_ne!(state(rinit.pid), 'T', "{name}: rinit stopped itself");
        kill(rinit.pid, libc::SIGTERM);
        let (code, err) = rinit.finish(SECS(20));
        assert_eq!(code, 0, "{name}: {err}");
    }
}

/// dumb-init's job control in setsid mode (the default): SIGTSTP, SIGTTIN and SIGTTOU stop the
/// child's group and rinit itself; SIGCONT resumes both and is forwarded.
#[test]
fn dumb_init_suspends_and_resumes_the_group() {
    let dir = Scratch::new("dumb-jobs");
    let argv = dir.recorder_argv("app");
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    let rinit = Named::start("dumb-init", Mode::Plain, &dir, &args, &[]);
    dir.wait_for("app.ready", 0, SECS(20));
    let child = rinit.main_pid();
    for (n, signo) in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU]
        .into_iter()
        .enumerate()
    {
        kill(rinit.pid, signo);
        wait_until("both stopped", SECS(10), || {
            state(rinit.pid) == 'T' && state(child) == 'T'
        });
        kill(rinit.pid, libc::SIGCONT);
        dir.wait_for("app.sig", n + 1, SECS(10));
        wait_until("both running", SECS(10), || {
            state(rinit.pid) != 'T' && state(child) != 'T'
        });
    }
    // The child saw SIGSTOP (not recordable) and then each SIGCONT.
    assert_eq!(dir.signals("app"), [libc::SIGCONT; 3]);
    kill(rinit.pid, libc::SIGTERM);
    let (code, err) = rinit.finish(SECS(20));
    assert_eq!(code, 0, "{err}");
}

/// With `-c`, dumb-init forwards the terminal signal itself to the child, then stops.
#[test]
fn dumb_init_single_child_forwards_then_suspends() {
    let dir = Scratch::new("dumb-jobs-c");
    let mut args = vec!["-c"];
    let argv = dir.recorder_argv("app");
    args.extend(argv.iter().map(String::as_str));
    let rinit = Named::start("dumb-init", Mode::Plain, &dir, &args, &[]);
    dir.wait_for("app.ready", 0, SECS(20));
    kill(rinit.pid, libc::SIGTSTP);
    dir.wait_for("app.sig", 1, SECS(10));
    wait_until("rinit stopped", SECS(10), || state(rinit.pid) == 'T');
    kill(rinit.pid, libc::SIGCONT);
    dir.wait_for("app.sig", 2, SECS(10));
    wait_until("rinit running", SECS(10), || state(rinit.pid) != 'T');
    assert_eq!(dir.signals("app"), [libc::SIGTSTP, libc::SIGCONT]);
    kill(rinit.pid, libc::SIGTERM);
    let (code, err) = rinit.finish(SECS(20));
    assert_eq!(code, 0, "{err}");
}

/// Ctrl-Z at a terminal reaches the foreground group, which is the child's: the child stops, and
/// under dumb-init's name rinit stops too, so the shell that started it sees the job stop
/// instead of waiting forever. `fg` (SIGCONT to rinit) resumes both.
#[test]
fn dumb_init_follows_its_child_into_a_terminal_stop() {
    let dir = Scratch::new("ctrl-z");
    let rinit = Named::start("dumb-init", Mode::Plain, &dir, &["sleep", "100"], &[]);
    let child = rinit.main_pid();
    wait_until("sleep runs", SECS(10), || {
        fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default() == "sleep\n"
    });
    // What the terminal does on Ctrl-Z: SIGTSTP to the foreground process group.
    kill(-child, libc::SIGTSTP);
    wait_until("both stopped", SECS(10), || {
        state(child) == 'T' && state(rinit.pid) == 'T'
    });
    kill(rinit.pid, libc::SIGCONT);
    wait_until("both running", SECS(10), || {
        state(child) != 'T' && state(rinit.pid) != 'T'
    });
    kill(rinit.pid, libc::SIGTERM);
    let (code, err) = rinit.finish(SECS(20));
    assert_eq!(code, 128 + libc::SIGTERM, "{err}");
}

/// A script for the main process: a recorder in the background (its pid in `bg.pid`), then exit
/// 3 once it is ready.
fn leaves_a_recorder(dir: &Scratch, cleanup: &str) -> String {
    format!(
        "{} 15 {cleanup} & echo $! > {}; while [ ! -e {} ]; do sleep 0.05; done; exit 3",
        dir.recorder("bg"),
        dir.file("bg.pid"),
        dir.file("bg.ready")
    )
}

fn bg_pid(dir: &Scratch) -> i32 {
    dir.lines("bg.pid")[0].trim().parse().expect("bg pid")
}

/// dumb-init, not PID 1, with `-c`: when the main process exits rinit exits at once with its
/// code and leaves the leftovers alone.
#[test]
fn dumb_init_single_child_leaves_leftovers_alone() {
    let dir = Scratch::new("dumb-left-c");
    let script = leaves_a_recorder(&dir, "0");
    let rinit = Named::start(
        "dumb-init",
        Mode::Plain,
        &dir,
        &["-c", "sh", "-c", &script],
        &[],
    );
    let (code, err) = rinit.finish(SECS(20));
    assert_eq!(code, 3, "{err}");
    let bg = Leftover(bg_pid(&dir));
    assert!(alive(bg.0), "the leftover was stopped");
    assert_eq!(dir.signals("bg"), Vec::<i32>::new());
}

/// dumb-init, not PID 1, setsid mode: the main process's group gets one SIGTERM and rinit exits
/// at once, without waiting for the leftover's cleanup.
#[test]
fn dumb_init_setsid_terms_the_group_and_does_not_wait() {
    let dir = Scratch::new("dumb-left");
    // The leftover takes 30 s to clean up after SIGTERM: rinit must not wait for it.
    let script = leaves_a_recorder(&dir, "30");
    let rinit = Named::start("dumb-init", Mode::Plain, &dir, &["sh", "-c", &script], &[]);
    let (code, err) = rinit.finish(SECS(20));
    assert_eq!(code, 3, "{err}");
    let bg = Leftover(bg_pid(&dir));
    dir.wait_for("bg.sig", 1, SECS(10));
    assert_eq!(dir.signals("bg"), [libc::SIGTERM]);
    assert!(alive(bg.0), "rinit waited for the leftover (or killed it)");
    assert!(!dir.lines("bg.sig").iter().any(|l| l == "cleanup"));
}

/// The one SIGTERM to the leftovers goes through `-r`, as every forwarded signal does.
#[test]
fn dumb_init_leftover_signal_is_rewritten() {
    let dir = Scratch::new("dumb-left-r");
    let script = leaves_a_recorder(&dir, "0");
    let rinit = Named::start(
        "dumb-init",
        Mode::Plain,
        &dir,
        &["-r", "TERM:USR1", "sh", "-c", &script],
        &[],
    );
    let (code, err) = rinit.finish(SECS(20));
    assert_eq!(code, 3, "{err}");
    let bg = Leftover(bg_pid(&dir));
    dir.wait_for("bg.sig", 1, SECS(10));
    assert_eq!(dir.signals("bg"), [libc::SIGUSR1]);
    assert!(alive(bg.0));
}

/// As PID 1, dumb-init's name keeps rinit's graceful stop: leftovers get SIGTERM and finish
/// their cleanup (they would die with PID 1 anyway).
#[test]
fn dumb_init_as_pid1_stops_leftovers_gracefully() {
    let dir = Scratch::new("dumb-left-pid1");
    let script = leaves_a_recorder(&dir, "0.3");
    let rinit = Named::start(
        "dumb-init",
        Mode::Pid1,
        &dir,
        &["-c", "sh", "-c", &script],
        &[],
    );
    let (code, err) = rinit.finish(SECS(20));
    assert_eq!(code, 3, "{err}");
    let lines = dir.lines("bg.sig");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("15 "), "{lines:?}");
    assert_eq!(lines[1], "cleanup");
}

/// Under dumb-init's name (and rinit's) rinit itself works in `/` (it keeps no mount busy) and
/// its process starts where rinit was started; under tini's name rinit stays where it was started.
#[test]
fn working_directory_by_name() {
    for (name, rinit_dir) in [
        ("dumb-init", Some("/")),
        ("rinit", Some("/")),
        ("tini", None),
    ] {
        let dir = Scratch::new("cwd");
        let here = fs::canonicalize(&dir.path).expect("scratch");
        let here = here.to_string_lossy();
        let script = format!(
            "readlink /proc/$PPID/cwd > {0}/rinit.cwd; pwd -P > {0}/child.cwd",
            here
        );
        let rinit = Named::start(name, Mode::Plain, &dir, &["sh", "-c", &script], &[]);
        let (code, err) = rinit.finish(SECS(20));
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(dir.lines("child.cwd"), [here.to_string()], "{name}");
        assert_eq!(
            dir.lines("rinit.cwd"),
            [rinit_dir.map_or(here.to_string(), str::to_string)],
            "{name}"
        );
    }
}

/// Under rinit's own name, a process with a user and no `dir=` keeps rinit where it was
/// started (the process enters its directory with its own rights: rinit must not move it).
#[test]
fn rinit_stays_for_a_process_with_a_user() {
    let dir = Scratch::new("cwd-user");
    let here = fs::canonicalize(&dir.path).expect("scratch");
    let here = here.to_string_lossy();
    let script = format!(
        "readlink /proc/$PPID/cwd > {0}/rinit.cwd; pwd -P > {0}/child.cwd",
        here
    );
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() }.to_string();
    let rinit = Named::start(
        "rinit",
        Mode::Plain,
        &dir,
        &["--user", &me, "sh", "-c", &script],
        &[],
    );
    let (code, err) = rinit.finish(SECS(20));
    assert_eq!(code, 0, "{err}");
    assert_eq!(dir.lines("child.cwd"), [here.to_string()]);
    assert_eq!(dir.lines("rinit.cwd"), [here.to_string()]);
}

/// Drives an interactive bash on a pseudo-terminal: runs `LINK sh -c 'touch READY; exec sleep
/// 100'`, presses Ctrl-Z once the sleep runs, then `fg` and Ctrl-C. Prints what it saw as
/// `stopped`, `resumed`, `rc=N`; kills the whole session at the end, whatever happened.
const CTRL_Z: &str = r#"
import os, pty, select, signal, sys, time
link, ready = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.environ["PS1"] = "PROMPT> "
    os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
seen = b""
def until(text, timeout=20):
    global seen
    end = time.time() + timeout
    while text not in seen and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    found = text in seen
    before = seen[:seen.find(text)] if found else b""
    seen = seen[seen.find(text) + len(text):] if found else b""
    return before if found else None
try:
    until(b"PROMPT> ")
    os.write(fd, ("%s sh -c 'touch %s; exec sleep 100'\n" % (link, ready)).encode())
    end = time.time() + 20
    while not os.path.exists(ready) and time.time() < end:
        time.sleep(0.01)
    time.sleep(0.2)
    os.write(fd, b"\x1a")
    if until(b"Stopped") is not None and until(b"PROMPT> ") is not None:
        print("stopped", flush=True)
        os.write(fd, b"fg\n")
        if until(b"sleep 100") is not None:
            time.sleep(0.3)
            print("resumed", flush=True)
            os.write(fd, b"\x03")
            if until(b"PROMPT> ") is not None:
                # Quoted so that the terminal's echo of the command does not match.
                os.write(fd, b"echo r''c=$?\n")
                if until(b"rc=") is not None:
                    code = until(b"\n", 5) or b""
                    print("rc=" + code.decode(errors="replace").strip(), flush=True)
finally:
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.getsid(int(p)) == pid:
                    os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass
"#;

/// Ctrl-Z at an interactive shell, with rinit named dumb-init running a program in the
/// foreground: the shell gets its prompt back (rinit follows its child into the stop), `fg`
/// resumes both, and Ctrl-C then ends the program (rinit exits 130 as the child died of SIGINT).
#[test]
#[cfg_attr(any(missing_bash, missing_python3), ignore = "needs bash, python3")]
fn dumb_init_ctrl_z_at_an_interactive_shell() {
    if common::missing(&["bash", "python3"]) {
        return;
    }
    let dir = Scratch::new("ctrl-z-pty");
    let bin = dir.path.join("bin");
    fs::create_dir_all(&bin).expect("bin dir");
    let link = bin.join("dumb-init");
    std::os::unix::fs::symlink(common::rinit(), &link).expect("symlink");
    let mut words = common::runner();
    words.push(link.to_string_lossy().into_owned());
    fs::write(dir.path.join("ctrl_z.py"), CTRL_Z).expect("driver");
    let out = Command::new("timeout")
        .args(["60", "python3", &dir.file("ctrl_z.py"), &words.join(" ")])
        .arg(dir.file("READY"))
        .current_dir(&dir.path)
        .output()
        .expect("run the pty driver");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["stopped", "resumed", "rc=130"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
