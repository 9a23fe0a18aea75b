//! rinit as PID 1 of a real OCI container, run with `runc`.
//!
//! Each test builds its own bundle in a temporary directory: a rootfs made of Debian's
//! `busybox-static` (`/bin/busybox` plus symlinks for the applets the scripts use), a copy of the
//! statically linked rinit at `/rinit`, and a `config.json` written from the template below (what
//! `runc spec` produces, with `terminal` off, a writable root and the test's `process.args`).
//!
//! The rootfs is a host directory, so the tests synchronise on files the container writes under
//! `/tmp` (polled with a deadline), never on sleeps. `runc kill ID TERM` is what `docker stop`
//! does. Every container has a unique ID and is removed with `runc delete -f` by a drop guard,
//! also when the test fails.
//!
//! Needs root, `runc` and a static `/bin/busybox` (`apt-get install runc busybox-static`);
//! without them every test is reported as ignored (build.rs), and under `CI=true` they fail.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const BUSYBOX: &str = "/bin/busybox";

/// Busybox applets linked into the rootfs's /bin.
const APPLETS: &[&str] = &[
    "sh", "sleep", "echo", "cat", "kill", "true", "false", "grep", "wc", "ls", "ps", "test", "[",
    "touch", "rm", "env", "printf",
];

/// How long any single wait in these tests may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(10);

/// `runc spec` (runc 1.1) with `@ARGS@` for `process.args`, `terminal` false, `readonly` false.
const CONFIG_TEMPLATE: &str = r#"{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": false,
		"user": { "uid": 0, "gid": 0 },
		"args": [@ARGS@],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
		},
		"rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
		"noNewPrivileges": true
	},
	"root": { "path": "rootfs", "readonly": false },
	"hostname": "runc",
	"mounts": [
		{ "destination": "/proc", "type": "proc", "source": "proc" },
		{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
		  "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
		{ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
		  "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
		{ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
		  "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
		{ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
		  "options": ["nosuid", "noexec", "nodev"] },
		{ "destination": "/sys", "type": "sysfs", "source": "sysfs",
		  "options": ["nosuid", "noexec", "nodev", "ro"] }
	],
	"linux": {
		"resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
		"namespaces": [
			{ "type": "pid" }, { "type": "network" }, { "type": "ipc" },
			{ "type": "uts" }, { "type": "mount" }
		],
		"maskedPaths": [
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
			"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
		]
	}
}
"#;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// True if `path` is an ELF executable without a program interpreter (PT_INTERP), i.e. one that
/// runs in a rootfs with no dynamic loader or libraries.
fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = fs::read(path) else {
        return false;
    };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return false; // not a 64-bit little-endian ELF
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        const PT_INTERP: u32 = 3;
        o + 4 <= bytes.len() && u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) != PT_INTERP
    })
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Seconds since boot (CLOCK_BOOTTIME), in hundredths, from an `/proc/uptime` text. The container
/// has no time namespace, so host and container readings compare directly.
fn parse_uptime_cs(text: &str) -> u64 {
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("empty uptime text {text:?}"));
    let (secs, frac) = first
        .split_once('.')
        .unwrap_or_else(|| panic!("bad uptime text {text:?}"));
    let secs: u64 = secs.parse().expect("uptime seconds");
    let frac: u64 = format!("{frac:0<2}")[..2].parse().expect("uptime fraction");
    secs * 100 + frac
}

fn host_uptime_cs() -> u64 {
    parse_uptime_cs(&fs::read_to_string("/proc/uptime").expect("read /proc/uptime"))
}

/// One OCI bundle and (once started) its `runc run` process. Dropping it force-deletes the
/// container, reaps `runc run` and removes the bundle.
struct Container {
    id: String,
    dir: PathBuf,
    runc: Option<Child>,
}

impl Container {
    /// A bundle with busybox, the applets and `/rinit` in its rootfs. `name` must be unique among
    /// the tests of this file.
    fn new(name: &str) -> Container {
        let id = format!("rinit-test-{}-{}", std::process::id(), name);
        let dir = std::env::temp_dir().join(&id);
        // Leftovers of an earlier run that died without cleaning up (same pid, unlikely).
        let _ = Command::new("runc")
            .args(["delete", "-f", &id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = fs::remove_dir_all(&dir);

        let c = Container {
            id,
            dir,
            runc: None,
        };
        let rootfs = c.rootfs();
        for d in ["bin", "sbin", "usr/bin", "proc", "dev", "sys", "tmp", "etc"] {
            fs::create_dir_all(rootfs.join(d)).expect("create rootfs dirs");
        }
        fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
            .expect("chmod /tmp");
        fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copy busybox into the rootfs");
        for applet in APPLETS {
            symlink("busybox", rootfs.join("bin").join(applet)).expect("applet symlink");
        }
        assert!(
            is_static_elf(Path::new(common::rinit())),
            "{} is not statically linked, so it cannot run in a busybox rootfs \
             (build the musl target, or set RINIT_BIN to a static build)",
            common::rinit()
        );
        fs::copy(common::rinit(), rootfs.join("rinit")).expect("copy rinit into the rootfs");
        c
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Host path of an absolute path inside the container.
    fn path(&self, in_container: &str) -> PathBuf {
        self.rootfs().join(
            in_container
                .strip_prefix('/')
                .expect("absolute container path"),
        )
    }

    fn write_file(&self, in_container: &str, contents: &str, mode: u32) {
        let p = self.path(in_container);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, contents).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn symlink(&self, target: &str, in_container: &str) {
        let p = self.path(in_container);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).expect("symlink in rootfs");
    }

    /// Contents of a file the container wrote, or None if it does not exist.
    fn read(&self, in_container: &str) -> Option<String> {
        fs::read_to_string(self.path(in_container)).ok()
    }

    /// Write config.json with these `process.args` and start `runc run` (stdin null, stdout and
    /// stderr to files in the bundle).
    fn start(&mut self, args: &[&str]) {
        assert!(self.runc.is_none(), "container started twice");
        let args: Vec<String> = args.iter().map(|a| json_string(a)).collect();
        let config = CONFIG_TEMPLATE.replace("@ARGS@", &args.join(", "));
        fs::write(self.dir.join("config.json"), config).expect("write config.json");
        let stdout = fs::File::create(self.dir.join("stdout.log")).unwrap();
        let stderr = fs::File::create(self.dir.join("stderr.log")).unwrap();
        let child = Command::new("runc")
            .arg("run")
            .arg(&self.id)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn runc run");
        self.runc = Some(child);
    }

    /// What the container (and runc) printed so far, for failure messages.
    fn logs(&self) -> String {
        let read = |f: &str| fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!(
            "\n--- container {} stdout ---\n{}--- stderr ---\n{}---",
            self.id,
            read("stdout.log"),
            read("stderr.log")
        )
    }

    /// Poll until the container has created `in_container`. Fails the test if the container exits
    /// first or the deadline passes.
    fn wait_for_file(&mut self, in_container: &str) {
        let p = self.path(in_container);
        let deadline = Instant::now() + DEADLINE;
        loop {
            if p.exists() {
                return;
            }
            if let Some(status) = self.runc.as_mut().unwrap().try_wait().unwrap() {
                if p.exists() {
                    return;
                }
                panic!(
                    "container exited ({status}) before creating {in_container}{}",
                    self.logs()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "{in_container} did not appear within {DEADLINE:?}{}",
                    self.logs()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// `runc kill ID SIGNAL` (signals the container's PID 1, like `docker stop`/`docker kill`).
    fn kill(&self, signal: &str) {
        let out = Command::new("runc")
            .args(["kill", &self.id, signal])
            .output()
            .expect("spawn runc kill");
        assert!(
            out.status.success(),
            "runc kill {} {signal} failed: {}{}",
            self.id,
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
    }

    /// Wait (up to `timeout`) for `runc run` to exit and return its exit code, which is the
    /// container's PID 1's.
    /// Asserts what a file in the container holds; `why` says what a mismatch means, and the
    /// container's logs follow it.
    fn assert_file(&self, in_container: &str, expected: &str, why: &str) {
        let got = self.read(in_container);
        assert_eq!(got.as_deref(), Some(expected), "{why}{}", self.logs());
    }

    /// `runc kill ID TERM` (what `docker stop` does): the exit code and how long it took.
    fn stop(&mut self) -> (i32, Duration) {
        let t0 = Instant::now();
        self.kill("TERM");
        let code = self.wait_exit(DEADLINE);
        let elapsed = t0.elapsed();
        eprintln!("container stopped {elapsed:?} after runc kill, exit code {code}");
        (code, elapsed)
    }

    fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.runc.as_mut().unwrap().try_wait().unwrap() {
                return status
                    .code()
                    .unwrap_or_else(|| panic!("runc run itself died: {status}{}", self.logs()));
            }
            if Instant::now() >= deadline {
                panic!("container still running after {timeout:?}{}", self.logs());
            }
            thread::sleep(POLL);
        }
    }

    /// Start with these args and wait for the exit code.
    fn run(&mut self, args: &[&str]) -> i32 {
        self.start(args);
        self.wait_exit(DEADLINE)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .args(["delete", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut child) = self.runc.take() {
            // `delete -f` killed the container, so `runc run` ends by itself; make sure anyway.
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(POLL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// Harness self-check: busybox alone as PID 1. If this fails, the environment or the harness is
// broken, not rinit.
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    any(missing_runc, missing_busybox, missing_root),
    ignore = "needs root, runc and busybox-static (.ci/run installs them)"
)]
fn harness_busybox_as_pid1_passes_exit_code() {
    let mut c = Container::new("harness");
    let code = c.run(&["/bin/sh", "-c", "echo $$ > /tmp/pid; exit 7"]);
    assert_eq!(code, 7, "{}", c.logs());
    c.assert_file("/tmp/pid", "1\n", "busybox is not PID 1 of the container");
}

// ---------------------------------------------------------------------------------------------
// 1. Exit code
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    any(missing_runc, missing_busybox, missing_root),
    ignore = "needs root, runc and busybox-static (.ci/run installs them)"
)]
fn container_exit_code_is_the_commands() {
    let mut c = Container::new("exit-code");
    let code = c.run(&["/rinit", "--", "sh", "-c", "exit 7"]);
    assert_eq!(
        code,
        7,
        "runc run should exit with the command's code{}",
        c.logs()
    );
}

#[test]
#[cfg_attr(
    any(missing_runc, missing_busybox, missing_root),
    ignore = "needs root, runc and busybox-static (.ci/run installs them)"
)]
fn container_exit_code_of_a_signal_death_is_128_plus_n() {
    let mut c = Container::new("exit-signal");
    // The shell kills itself with SIGUSR1 (10): 128 + 10.
    let code = c.run(&["/rinit", "--", "sh", "-c", "kill -USR1 $$; sleep 5"]);
    assert_eq!(code, 138, "{}", c.logs());
}

// ---------------------------------------------------------------------------------------------
// 2. docker stop of a shell entrypoint with two background apps
// ---------------------------------------------------------------------------------------------

fn app_script(name: &str) -> String {
    format!(
        "#!/bin/sh\n\
         trap 'echo {name} > /tmp/{name}.done; exit 0' TERM\n\
         echo ready > /tmp/{name}.ready\n\
         while :; do sleep 1 & wait $!; done\n"
    )
}

#[test]
#[cfg_attr(
    any(missing_runc, missing_busybox, missing_root),
    ignore = "needs root, runc and busybox-static (.ci/run installs them)"
)]
fn runc_kill_term_stops_shell_entrypoint_and_its_background_apps() {
    let mut c = Container::new("stop-apps");
    c.write_file("/bin/app1", &app_script("app1"), 0o755);
    c.write_file("/bin/app2", &app_script("app2"), 0o755);
    c.start(&["/rinit", "--", "sh", "-c", "app1 & app2 & wait"]);
    c.wait_for_file("/tmp/app1.ready");
    c.wait_for_file("/tmp/app2.ready");

    let (code, elapsed) = c.stop();

    c.assert_file("/tmp/app1.done", "app1\n", "app1 did not run its TERM trap");
    c.assert_file("/tmp/app2.done", "app2\n", "app2 did not run its TERM trap");
    assert!(
        elapsed < Duration::from_secs(5),
        "container took {elapsed:?} to stop (default grace period is 10 s){}",
        c.logs()
    );
    // The entrypoint shell does not trap TERM: it dies of it, 128 + 15.
    assert_eq!(code, 143, "{}", c.logs());
}

// ---------------------------------------------------------------------------------------------
// 3. Orphans are reaped
// ---------------------------------------------------------------------------------------------

/// Makes 10 orphans (each `( X & )` subshell exits at once, so X is re-parented to PID 1), waits
/// until every one of them has registered its pid and its /proc entry is gone (exited AND reaped;
/// a zombie keeps its /proc entry), at most ~6 s, then counts zombies in the whole PID namespace.
const ORPHAN_SCRIPT: &str = r#"
for i in 1 2 3 4 5 6 7 8 9 10; do
  (sh -c 'echo $$ >> /tmp/orphans; exec sleep 0.1' &)
done
tries=0
while :; do
  registered=0; present=0
  if [ -f /tmp/orphans ]; then
    for p in $(cat /tmp/orphans); do
      registered=$((registered + 1))
      [ -e /proc/$p ] && present=$((present + 1))
    done
  fi
  [ $registered -eq 10 ] && [ $present -eq 0 ] && break
  tries=$((tries + 1))
  [ $tries -ge 300 ] && break
  sleep 0.02
done
echo $registered > /tmp/registered
zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z ')
echo $zombies > /tmp/zombies
"#;

#[test]
#[cfg_attr(
    any(missing_runc, missing_busybox, missing_root),
    ignore = "needs root, runc and busybox-static (.ci/run installs them)"
)]
fn orphans_in_the_container_are_reaped() {
    let mut c = Container::new("orphans");
    let code = c.run(&["/rinit", "--", "sh", "-c", ORPHAN_SCRIPT]);
    assert_eq!(code, 0, "{}", c.logs());
    c.assert_file("/tmp/registered", "10\n", "the orphans did not all start");
    c.assert_file(
        "/tmp/zombies",
        "0\n",
        "zombies left in the container: rinit did not reap orphans",
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Stop sequence: pre-stop delay, grace period, SIGKILL
// ---------------------------------------------------------------------------------------------

/// `/rinit --pre-stop-delay 1s --grace-period 1s -- sh -c SCRIPT`, once SCRIPT wrote
/// /tmp/ready.
fn start_with_delay_and_grace(c: &mut Container, script: &str) {
    c.start(&[
        "/rinit",
        "--pre-stop-delay",
        "1s",
        "--grace-period",
        "1s",
        "--",
        "sh",
        "-c",
        script,
    ]);
    c.wait_for_file("/tmp/ready");
}

#[test]
#[cfg_attr(
    any(missing_runc, missing_busybox, missing_root),
    ignore = "needs root, runc and busybox-static (.ci/run installs them)"
)]
fn stop_sequence_kills_after_pre_stop_delay_plus_grace_period() {
    let mut c = Container::new("stop-kill");
    start_with_delay_and_grace(
        &mut c,
        "trap '' TERM; echo ready > /tmp/ready; while :; do sleep 1; done",
    );

    let (code, elapsed) = c.stop();

    assert_eq!(
        code,
        137,
        "the child ignores TERM, so it must end by SIGKILL{}",
        c.logs()
    );
    assert!(
        elapsed >= Duration::from_secs(2),
        "SIGKILL came {elapsed:?} after the stop signal, before pre-stop delay + grace (2 s){}",
        c.logs()
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "container took {elapsed:?} to stop with delay 1 s + grace 1 s{}",
        c.logs()
    );
}

#[test]
#[cfg_attr(
    any(missing_runc, missing_busybox, missing_root),
    ignore = "needs root, runc and busybox-static (.ci/run installs them)"
)]
fn stop_sequence_forwards_term_only_after_pre_stop_delay() {
    let mut c = Container::new("stop-delay");
    start_with_delay_and_grace(
        &mut c,
        "trap 'cat /proc/uptime > /tmp/got_term; exit 0' TERM; \
         echo ready > /tmp/ready; while :; do sleep 1 & wait $!; done",
    );

    let before_kill = host_uptime_cs();
    let (code, elapsed) = c.stop();

    let got = c
        .read("/tmp/got_term")
        .unwrap_or_else(|| panic!("the child never got TERM{}", c.logs()));
    let got_cs = parse_uptime_cs(&got);
    assert!(
        got_cs >= before_kill + 100,
        "child got TERM {} ms after the kill, before the 1 s pre-stop delay{}",
        (got_cs.saturating_sub(before_kill)) * 10,
        c.logs()
    );
    assert_eq!(code, 0, "the child's trap exits 0{}", c.logs());
    assert!(
        elapsed < Duration::from_secs(2),
        "container took {elapsed:?}: rinit should exit as soon as the child did, not wait out \
         the grace period{}",
        c.logs()
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Drop-in by name: tini, docker-init, dumb-init
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    any(missing_runc, missing_busybox, missing_root),
    ignore = "needs root, runc and busybox-static (.ci/run installs them)"
)]
fn tini_symlink_passes_exit_code() {
    let mut c = Container::new("tini-exit");
    c.symlink("/rinit", "/sbin/tini");
    let code = c.run(&["/sbin/tini", "--", "sh", "-c", "exit 5"]);
    assert_eq!(code, 5, "{}", c.logs());
}

#[test]
#[cfg_attr(
    any(missing_runc, missing_busybox, missing_root),
    ignore = "needs root, runc and busybox-static (.ci/run installs them)"
)]
fn tini_symlink_forwards_runc_kill_term_to_the_child() {
    let mut c = Container::new("tini-term");
    c.symlink("/rinit", "/sbin/tini");
    c.start(&[
        "/sbin/tini",
        "--",
        "sh",
        "-c",
        "trap 'echo term > /tmp/got_term; exit 3' TERM; \
         echo ready > /tmp/ready; while :; do sleep 1 & wait $!; done",
    ]);
    c.wait_for_file("/tmp/ready");

    let (code, elapsed) = c.stop();

    c.assert_file("/tmp/got_term", "term\n", "TERM did not reach the child");
    assert_eq!(code, 3, "{}", c.logs());
    assert!(
        elapsed < Duration::from_secs(5),
        "container took {elapsed:?} to stop{}",
        c.logs()
    );
}

#[test]
#[cfg_attr(
    any(missing_runc, missing_busybox, missing_root),
    ignore = "needs root, runc and busybox-static (.ci/run installs them)"
)]
fn docker_init_copy_passes_exit_code() {
    // Docker's --init bind-mounts its init binary at /sbin/docker-init: a file by that name.
    let mut c = Container::new("docker-init");
    fs::copy(common::rinit(), c.path("/sbin/docker-init")).expect("copy rinit as docker-init");
    let code = c.run(&["/sbin/docker-init", "--", "sh", "-c", "exit 9"]);
    assert_eq!(code, 9, "{}", c.logs());
}

#[test]
#[cfg_attr(
    any(missing_runc, missing_busybox, missing_root),
    ignore = "needs root, runc and busybox-static (.ci/run installs them)"
)]
fn dumb_init_symlink_passes_exit_code() {
    let mut c = Container::new("dumb-init");
    c.symlink("/rinit", "/usr/bin/dumb-init");
    let code = c.run(&["/usr/bin/dumb-init", "--", "sh", "-c", "exit 4"]);
    assert_eq!(code, 4, "{}", c.logs());
}
