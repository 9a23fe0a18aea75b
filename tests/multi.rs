//! Several supervised processes (`--run`): stopping them together, the exit code of the first to
//! exit, `--restart` and its back-off, `--prefix` output relaying, command-line quoting and
//! naming. rinit runs as PID 1 of a fresh PID namespace; nothing waits by sleeping.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Mode, Run, Scratch};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Polls `cond` until it holds; fails the test after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A shell command line that waits for `file` to exist, then exits with `code`.
fn exit_after(file: &str, code: i32) -> String {
    format!("sh -c 'while [ ! -e {file} ]; do sleep 0.01; done; exit {code}'")
}

/// SIGTERM to rinit reaches every `--run` process; once all are gone rinit exits 0 at once.
#[test]
fn sigterm_reaches_every_run_process() {
    let dir = Scratch::new("two-term");
    let (a, b) = (dir.recorder("a"), dir.recorder("b"));
    let rinit = Run::start(Mode::Pid1, &dir, &["--run", &a, "--run", &b]);
    dir.wait_for("a.ready", 0, SECS(20));
    dir.wait_for("b.ready", 0, SECS(20));
    let sent = Instant::now();
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(20));
    let took = sent.elapsed();
    assert_eq!(dir.signals("a"), [libc::SIGTERM], "{}", o.stderr);
    assert_eq!(dir.signals("b"), [libc::SIGTERM], "{}", o.stderr);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(took < SECS(3), "rinit took {took:?} to exit: {}", o.stderr);
}

/// One process exits 5: the other is stopped with SIGTERM (no SIGKILL needed) and rinit exits 5.
#[test]
fn first_exit_stops_the_rest_and_gives_the_code() {
    let dir = Scratch::new("first-exit");
    let quitter = format!("quitter: {}", exit_after(&dir.file("b.ready"), 5));
    let b = format!("b: {}", dir.recorder("b"));
    let rinit = Run::start(Mode::Pid1, &dir, &["--run", &quitter, "--run", &b]);
    let o = rinit.finish(SECS(20));
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert_eq!(
        dir.signals("b"),
        [libc::SIGTERM],
        "b was stopped gracefully: {}",
        o.stderr
    );
    assert!(
        o.stderr.contains("rinit: quitter exited with code 5"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("grace period"), "{}", o.stderr);
    assert!(o.elapsed < SECS(8), "no SIGKILL needed: {:?}", o.elapsed);
}

/// `-- COMMAND` with `--run`: the main command exits first, its code is rinit's, and the `--run`
/// process is stopped with SIGTERM.
#[test]
fn main_command_with_run_processes() {
    let dir = Scratch::new("main-and-run");
    let rec = dir.recorder("r");
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.01; done; exit 9",
        dir.file("r.ready")
    );
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &["--run", &rec, "--", "sh", "-c", &script],
    );
    let o = rinit.finish(SECS(20));
    assert_eq!(o.code, 9, "{}", o.stderr);
    assert_eq!(dir.signals("r"), [libc::SIGTERM], "{}", o.stderr);
    assert!(o.elapsed < SECS(8), "no SIGKILL needed: {:?}", o.elapsed);
}

/// `--restart on-failure`: a crashing process is restarted with doubling gaps (100 ms, 200 ms,
/// ... capped at 30 s), and after 10 restarts within 5 minutes rinit gives up with its code.
/// About 82 s by design.
#[test]
fn on_failure_backs_off_and_gives_up() {
    let dir = Scratch::new("on-failure");
    let starts = dir.file("STARTS");
    let crash = format!("crash: sh -c 'date +%s%N >> {starts}; exit 3'");
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &["--restart", "on-failure", "--run", &crash],
    );
    let o = rinit.finish(SECS(150));
    assert_eq!(o.code, 3, "{}", o.stderr);
    let times: Vec<u64> = dir
        .lines("STARTS")
        .iter()
        .map(|l| l.parse().expect("a start time"))
        .collect();
    assert_eq!(times.len(), 11, "1 start + 10 restarts: {}", o.stderr);
    let gaps: Vec<Duration> = times
        .windows(2)
        .map(|w| Duration::from_nanos(w[1].saturating_sub(w[0])))
        .collect();
    let expected_ms = [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000];
    for (i, (gap, ms)) in gaps.iter().zip(expected_ms).enumerate() {
        let want = Duration::from_millis(ms);
        // The gap holds the back-off plus a start and an exit of `sh`: never less than the
        // back-off (a few ms of clock slack), and well below the next one.
        assert!(
            *gap + Duration::from_millis(20) >= want,
            "gap {i} is {gap:?}, back-off {want:?}; gaps: {gaps:?}"
        );
        assert!(
            *gap < want * 3 / 2 + SECS(1),
            "gap {i} is {gap:?}, back-off {want:?}; gaps: {gaps:?}"
        );
    }
    for (i, w) in gaps.windows(2).enumerate() {
        assert!(w[1] > w[0], "gap {} not above gap {i}: {gaps:?}", i + 1);
    }
    assert!(o.stderr.contains("giving up"), "{}", o.stderr);
    assert_eq!(
        o.stderr.matches("restarting in").count(),
        10,
        "{}",
        o.stderr
    );
}

/// `--restart always` brings back a process that exited 0; SIGTERM during the back-off ends the
/// run at once, with nothing started again.
#[test]
fn always_restarts_a_clean_exit() {
    let dir = Scratch::new("always");
    let starts = dir.file("STARTS");
    let job = format!("job: sh -c 'echo x >> {starts}'");
    let rinit = Run::start(Mode::Pid1, &dir, &["--restart", "always", "--run", &job]);
    dir.wait_for("STARTS", 3, SECS(20));
    // The third exit was handled: the next start is 400 ms away.
    wait_until("the third restart line", SECS(20), || {
        rinit.stderr_now().matches("restarting in").count() >= 3
    });
    let sent = Instant::now();
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(10));
    let took = sent.elapsed();
    assert!(took < SECS(2), "rinit took {took:?} to exit: {}", o.stderr);
    assert!(
        o.stderr
            .contains("rinit: job exited with code 0; restarting in 100ms"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("rinit: job exited with code 0; restarting in 200ms"),
        "{}",
        o.stderr
    );
    let n = dir.lines("STARTS").len();
    assert!(n >= 3, "{n} starts");
    if n == 3 {
        // Stopped during the back-off: no process was running, nothing failed.
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
    assert_eq!(
        o.stderr.matches("rinit: started job").count(),
        n,
        "one start line per start: {}",
        o.stderr
    );
}

/// Once a stop began, a process that exits (even with 0, under `--restart always`) stays down.
#[test]
fn no_restart_once_a_stop_began() {
    let dir = Scratch::new("no-restart");
    let starts = dir.file("STARTS");
    let app = format!(
        "app: sh -c 'echo x >> {starts}; exec {}'",
        dir.recorder("app")
    );
    let rinit = Run::start(Mode::Pid1, &dir, &["--restart", "always", "--run", &app]);
    dir.wait_for("app.ready", 0, SECS(20));
    let sent = Instant::now();
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(20));
    let took = sent.elapsed();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(dir.signals("app"), [libc::SIGTERM]);
    assert_eq!(dir.lines("STARTS").len(), 1, "started again: {}", o.stderr);
    assert!(!o.stderr.contains("restarting"), "{}", o.stderr);
    assert!(took < SECS(3), "rinit took {took:?} to exit: {}", o.stderr);
}

/// A chatty writer for `--prefix`: NAME COUNT MODE DONE_DIR. It writes COUNT numbered lines of
/// varying length (empty ones, short ones, and some longer than a pipe's atomic 4096 bytes but
/// below 64 KiB), most to stdout and some to stderr, each stream ending with a line that has no
/// newline, in chunks of random size that split lines anywhere and interleave the two streams.
/// It first saves the exact bytes of each stream to NAME.stdout / NAME.stderr in DONE_DIR, and
/// touches NAME.done when it has written everything. MODE `wait`: then waits to be stopped;
/// MODE `kill`: waits for a.done and b.done, then kills itself with SIGKILL.
const CHATTY: &str = r#"
import os, random, signal, string, sys, time
name, count, mode, d = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = random.Random(name)
alpha = string.ascii_letters * 1300
out, err = [], []
for i in range(count):
    if i % 400 == 200 or i >= count - 3:
        n = rng.randrange(4097, 60000)
    elif i % 97 == 0:
        n = 0
    else:
        n = rng.randrange(1, 300)
    to_err = i % 7 == 3 or i == count - 2
    tag = "err" if to_err else "out"
    k = i % 52
    line = f"{name}-{tag}-{i:05}:" + alpha[k:k + n] + "\n"
    (err if to_err else out).append(line.encode())
ob = b"".join(out) + f"{name}-out-last-without-newline".encode()
eb = b"".join(err) + f"{name}-err-last-without-newline".encode()
with open(f"{d}/{name}.stdout", "wb") as f:
    f.write(ob)
with open(f"{d}/{name}.stderr", "wb") as f:
    f.write(eb)
pos = [0, 0]
bufs = [ob, eb]
while pos[0] < len(ob) or pos[1] < len(eb):
    s = rng.randrange(2)
    if pos[s] >= len(bufs[s]):
        s = 1 - s
    size = rng.choice([1, 3, 50, 700, 4095, 4096, 4097, 9000, 30000, 70000])
    pos[s] += os.write(1 + s, bufs[s][pos[s]:pos[s] + size])
open(f"{d}/{name}.done", "w").close()
if mode == "kill":
    while not (os.path.exists(f"{d}/a.done") and os.path.exists(f"{d}/b.done")):
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)
while True:
    signal.pause()
"#;

/// Lines of rinit's output that carry `prefix`, with it removed.
fn relayed<'a>(output: &'a str, prefix: &str) -> Vec<&'a str> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .collect()
}

fn short(s: &str) -> String {
    if s.len() <= 120 {
        s.to_string()
    } else {
        format!("{}...({} bytes)", &s[..120], s.len())
    }
}

/// Every line `name` wrote to `stream` arrived, whole, in order, nothing else.
fn assert_relayed(dir: &Scratch, output: &str, name: &str, stream: &str) {
    let wrote = std::fs::read_to_string(dir.path.join(format!("{name}.{stream}")))
        .expect("the writer saved what it wrote");
    let want: Vec<&str> = wrote.lines().collect();
    let got = relayed(output, &format!("{name} | "));
    if let Some(i) = (0..want.len().max(got.len())).find(|&i| want.get(i) != got.get(i)) {
        panic!(
            "{name} {stream}: line {i} of {} (got {} lines): wrote {}, rinit relayed {}",
            want.len(),
            got.len(),
            want.get(i).map_or("nothing".into(), |l| short(l)),
            got.get(i).map_or("nothing".into(), |l| short(l)),
        );
    }
}

/// `--prefix`: every line of every process, whole and in order per stream, on the right stream,
/// prefixed `NAME | `; the last line without a newline gets one; a process killed by SIGKILL
/// loses nothing it wrote.
#[test]
fn prefix_relays_every_line_whole() {
    let dir = Scratch::new("prefix");
    let prog = dir.file("chatty.py");
    std::fs::write(&prog, CHATTY).unwrap();
    let d = dir.path.to_string_lossy().into_owned();
    let runs: Vec<String> = [
        ("a", 3000, "wait"),
        ("b", 2500, "wait"),
        ("k", 2000, "kill"),
    ]
    .iter()
    .flat_map(|(name, count, mode)| {
        [
            "--run".to_string(),
            format!("{name}: python3 {prog} {name} {count} {mode} {d}"),
        ]
    })
    .collect();
    let mut args = vec!["--prefix"];
    args.extend(strs(&runs));
    let rinit = Run::start(Mode::Pid1, &dir, &args);
    let o = rinit.finish(SECS(60));
    assert_eq!(o.code, 137, "k killed itself first: {}", short(&o.stderr));
    for name in ["a", "b", "k"] {
        assert!(
            dir.exists(&format!("{name}.done")),
            "{name} finished writing"
        );
    }
    for line in o.stdout.lines() {
        assert!(
            ["a | ", "b | ", "k | "].iter().any(|p| line.starts_with(p)),
            "stdout line without a prefix: {}",
            short(line)
        );
    }
    for line in o.stderr.lines() {
        assert!(
            ["a | ", "b | ", "k | ", "rinit: "]
                .iter()
                .any(|p| line.starts_with(p)),
            "stderr line without a prefix: {}",
            short(line)
        );
    }
    assert!(o.stdout.ends_with('\n') && o.stderr.ends_with('\n'));
    for name in ["a", "b", "k"] {
        assert_relayed(&dir, &o.stdout, name, "stdout");
        assert_relayed(&dir, &o.stderr, name, "stderr");
        let last = format!("{name} | {name}-out-last-without-newline\n");
        assert!(o.stdout.contains(&last), "{name}'s last stdout line");
        let last = format!("{name} | {name}-err-last-without-newline\n");
        assert!(o.stderr.contains(&last), "{name}'s last stderr line");
    }
}

/// A CMDLINE is split like a shell splits words, and nothing is expanded.
#[test]
fn cmdline_quoting_reaches_the_program_verbatim() {
    let dir = Scratch::new("quoting");
    let cmd = r#"printf '%s\n' 'a b' "c'd" e\ f '$HOME' '*' "$HOME" `x`"#;
    let o = Run::start(Mode::Pid1, &dir, &["--run", cmd]).finish(SECS(20));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "a b\nc'd\ne f\n$HOME\n*\n$HOME\n`x`\n");
}

/// With `--run`, lifecycle lines are logged by default, under the process's name.
#[test]
fn run_processes_are_logged_by_name() {
    let dir = Scratch::new("naming");
    let o = Run::start(Mode::Pid1, &dir, &["--run", r#"web: sh -c "exit 0""#]).finish(SECS(20));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("rinit: started web"), "{}", o.stderr);
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with("rinit: web ") && l.contains("exited with code 0")),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.lines().all(|l| l.starts_with("rinit: ")),
        "{}",
        o.stderr
    );
}

/// Writes COUNT numbered stderr lines of 20000 bytes as fast as it can, touches DONE, waits.
const STREAMER: &str = r#"
import os, signal, sys
count, done = int(sys.argv[1]), sys.argv[2]
body = b"S" * 19993 + b"\n"
for i in range(count):
    line = b"%06d:" % i + body
    n = 0
    while n < len(line):
        n += os.write(2, line[n:])
open(done, "w").close()
while True:
    signal.pause()
"#;

/// A broken line, shortened to where rinit's own line was spliced in.
fn around_rinit(line: &str) -> String {
    match line.find("rinit: ") {
        Some(at) if at > 0 => format!(
            "({} bytes) ...{}",
            line.len(),
            short(&line[at.saturating_sub(20)..])
        ),
        _ => short(line),
    }
}

/// `--prefix` keeps relayed lines whole even while rinit logs its own lines (starts, exits,
/// restarts) on the same stderr: a line longer than one atomic pipe write must not have a
/// `rinit:` line spliced into it.
#[test]
fn prefix_lines_are_not_cut_by_rinit_log_lines() {
    let dir = Scratch::new("prefix-log");
    let prog = dir.file("streamer.py");
    std::fs::write(&prog, STREAMER).unwrap();
    let count = 1500;
    let mut runs = vec![
        "--prefix".to_string(),
        "--restart".to_string(),
        "always".to_string(),
        "--run".to_string(),
        format!("s: python3 {prog} {count} {}", dir.file("s.done")),
    ];
    // Jobs that exit at once and come back: a stream of lifecycle lines on rinit's stderr.
    for j in 0..20 {
        runs.push("--run".to_string());
        runs.push(format!("j{j}: sh -c 'exit 0'"));
    }
    let rinit = Run::start(Mode::Pid1, &dir, &strs(&runs));
    dir.wait_for("s.done", 0, SECS(60));
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(20));
    let mut next = 0;
    let mut spliced = Vec::new();
    for line in o.stderr.lines() {
        if let Some(rest) = line.strip_prefix("s | ") {
            let want = format!("{next:06}:{}", "S".repeat(19993));
            if rest != want {
                spliced.push(around_rinit(line));
            }
            next += 1;
        } else if !line.starts_with("rinit: ") || line.contains("SSSS") {
            spliced.push(around_rinit(line));
        }
    }
    assert!(
        spliced.is_empty(),
        "{} broken lines, e.g. {:?}",
        spliced.len(),
        &spliced[..spliced.len().min(4)]
    );
    assert_eq!(next, count, "every line of s arrived");
}

/// Stopped while a crashing process waits for its restart: the run ends with that process's
/// last failure, not with 0.
#[test]
fn stop_during_back_off_keeps_the_failure_code() {
    let dir = Scratch::new("backoff-stop");
    let starts = dir.file("STARTS");
    let job = format!("crash: sh -c 'echo x >> {starts}; exit 3'");
    let rinit = Run::start(
        Mode::Pid1,
        &dir,
        &["--restart", "on-failure", "--run", &job],
    );
    wait_until("the third restart line", SECS(20), || {
        rinit.stderr_now().matches("restarting in").count() >= 3
    });
    rinit.kill(libc::SIGTERM);
    let o = rinit.finish(SECS(10));
    assert_eq!(o.code, 3, "{}", o.stderr);
}

/// With `--prefix` and nobody reading rinit's stdout any more, rinit's writes fail with EPIPE:
/// the SIGPIPE it raises itself is not forwarded to anyone, and the run goes on.
#[test]
fn a_closed_stdout_sends_no_sigpipe_to_the_processes() {
    let dir = Scratch::new("epipe");
    let rec = format!("rec: {}", dir.recorder("rec"));
    let writer = format!(
        "w: sh -c 'while [ ! -e {} ]; do sleep 0.05; done; i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done; exit 4'",
        dir.file("rec.ready")
    );
    let mut child = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", common::rinit()])
        .args(["--prefix", "--run", &rec, "--run", &writer])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(4), "the writer's code");
    assert_eq!(dir.signals("rec"), [libc::SIGTERM], "no SIGPIPE forwarded");
}
