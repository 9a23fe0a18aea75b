//! A private Docker engine for the tests: Debian's `dockerd` (docker.io), started once per test
//! binary on its own socket, data root and exec root under a temporary directory, and the
//! `docker` client that came with it (`/usr/bin/docker`: another client may be first on PATH).
//!
//! The daemon starts on first use and is stopped on every exit path:
//! - when the test binary exits (also after failed tests): an `atexit` handler removes every
//!   container, sends dockerd SIGTERM (it stops its containerd), waits, then SIGKILLs dockerd's
//!   process group and containerd, and removes the directory;
//! - when the test binary is killed: dockerd has `PR_SET_PDEATHSIG` = SIGTERM, tied to a thread
//!   that lives as long as the process (it is the one waiting for dockerd), and dockerd gives its
//!   containerd a death signal of its own.
//!
//! Images are built `FROM scratch` with the static busybox and the rinit binary under test: no
//! registry is needed. No network: the daemon has no bridge and containers run `--network none`.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

pub const DOCKERD: &str = "/usr/sbin/dockerd";
pub const DOCKER: &str = "/usr/bin/docker";
pub const BUSYBOX: &str = "/bin/busybox";

/// How long any single wait may take before the test fails (the machine is shared and slow).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The image with busybox and the helper app, no rinit.
pub const BUSYBOX_IMAGE: &str = "rinit-test/busybox";
/// BUSYBOX_IMAGE plus `/rinit` and `ENTRYPOINT ["/rinit", "--"]`.
pub const RINIT_IMAGE: &str = "rinit-test/rinit";
/// RINIT_IMAGE with `STOPSIGNAL SIGQUIT`, as the official nginx and php-fpm images have.
pub const QUIT_IMAGE: &str = "rinit-test/rinit-quit";

/// `/bin/app NAME EXIT_ON CODE`: prints `NAME ready`; for each of TERM INT QUIT HUP USR1 USR2 prints
/// `NAME got SIG at UPTIME` (seconds since boot, as /proc/uptime has it: host and container
/// share that clock); on the signals in the comma-separated EXIT_ON it then prints `NAME bye` and
/// exits CODE.
const APP: &str = r#"#!/bin/sh
name=$1 exit_on=$2 code=$3
for s in TERM INT QUIT HUP USR1 USR2; do
  case ",$exit_on," in
    *,$s,*) trap "read u r < /proc/uptime; echo \"$name got $s at \$u\"; echo \"$name bye\"; exit $code" $s ;;
    *) trap "read u r < /proc/uptime; echo \"$name got $s at \$u\"" $s ;;
  esac
done
echo "$name ready"
while :; do sleep 1000 & wait $!; done
"#;

pub struct Daemon {
    pub dir: PathBuf,
    pub sock: String,
    pub pid: i32,
    /// The `init-path` the daemon was given: a copy of rinit named `docker-init`.
    pub init_path: PathBuf,
}

static DAEMON_PID: AtomicI32 = AtomicI32::new(0);
static DAEMON_EXITED: AtomicBool = AtomicBool::new(false);
static DAEMON_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The shared daemon, started on first use.
pub fn daemon() -> &'static Daemon {
    DAEMON.get_or_init(start_daemon)
}

static DAEMON: OnceLock<Daemon> = OnceLock::new();

/// Directories of earlier runs whose test binary was killed (their daemon went with it).
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("rinit-dockerd-") else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

fn start_daemon() -> Daemon {
    remove_stale_dirs();
    let dir = std::env::temp_dir().join(format!("rinit-dockerd-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("bin")).expect("create the daemon's directory");
    fs::create_dir_all(dir.join("config")).expect("create the client's config directory");
    let _ = DAEMON_DIR.set(dir.clone());
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(stop_daemon_at_exit) };

    // `docker run --init` runs the daemon's init-path; Docker's own layout names it docker-init,
    // and rinit answers to that name as tini does.
    let init_path = dir.join("bin/docker-init");
    fs::copy(crate::common::rinit(), &init_path).expect("copy rinit as docker-init");
    // The daemon's configuration is the shipped example, with the init-path pointed at our copy.
    let example = fs::read_to_string(repo().join("examples/docker-daemon.json"))
        .expect("read examples/docker-daemon.json");
    assert!(
        example.contains("/usr/local/bin/docker-init"),
        "examples/docker-daemon.json no longer names /usr/local/bin/docker-init"
    );
    let config = example.replace("/usr/local/bin/docker-init", &init_path.to_string_lossy());
    fs::write(dir.join("daemon.json"), config).expect("write daemon.json");

    let sock = dir.join("docker.sock").to_string_lossy().into_owned();
    let d = |p: &str| dir.join(p).to_string_lossy().into_owned();
    let log = fs::File::create(dir.join("dockerd.log")).expect("dockerd log");
    let mut cmd = Command::new(DOCKERD);
    cmd.args(["--host", &format!("unix://{sock}")])
        .args(["--config-file", &d("daemon.json")])
        .args(["--data-root", &d("data")])
        .args(["--exec-root", &d("exec")])
        .args(["--pidfile", &d("dockerd.pid")])
        .args(["--storage-driver", "vfs", "--bridge", "none"])
        .args(["--iptables=false", "--ip6tables=false"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dockerd log"))
        .stderr(log)
        .process_group(0);
    // SAFETY: prctl and getppid are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
            Ok(())
        });
    }
    // The death signal follows the *thread* that forked dockerd: fork it from a thread that lives
    // as long as dockerd does (it waits for it).
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("dockerd".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(child.id() as i32));
                let _ = child.wait();
                DAEMON_EXITED.store(true, Ordering::SeqCst);
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })
        .expect("start the dockerd thread");
    let pid = rx
        .recv()
        .expect("dockerd thread")
        .unwrap_or_else(|e| panic!("cannot start {DOCKERD}: {e}"));
    DAEMON_PID.store(pid, Ordering::SeqCst);

    let daemon = Daemon {
        dir: dir.clone(),
        sock,
        pid,
        init_path,
    };
    let deadline = Instant::now() + DEADLINE;
    loop {
        let out = daemon.docker(&["version", "--format", "{{.Server.Version}}"]);
        if out.status.success() {
            break;
        }
        assert!(
            !DAEMON_EXITED.load(Ordering::SeqCst) && Instant::now() < deadline,
            "dockerd did not come up: {}\n--- dockerd.log ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(200));
    }
    daemon.build_images();
    daemon
}

/// Stops the daemon: containers first, then dockerd (which stops its containerd), then
/// whatever is left, and removes its directory. Runs at exit, also after failed tests.
extern "C" fn stop_daemon_at_exit() {
    let pid = DAEMON_PID.load(Ordering::SeqCst);
    let Some(dir) = DAEMON_DIR.get() else { return };
    if pid > 0 && !DAEMON_EXITED.load(Ordering::SeqCst) {
        let docker = |args: &[&str]| {
            Command::new(DOCKER)
                .args(args)
                .env(
                    "DOCKER_HOST",
                    format!("unix://{}", dir.join("docker.sock").display()),
                )
                .env("DOCKER_CONFIG", dir.join("config"))
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
        };
        if let Ok(out) = docker(&["ps", "-aq"]) {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids.iter().map(String::as_str));
                let _ = docker(&args);
            }
        }
        // SAFETY: plain kill(2).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !DAEMON_EXITED.load(Ordering::SeqCst) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: plain kill(2) on dockerd's own process group.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    // dockerd runs containerd in a session of its own; it normally stops it.
    if let Ok(p) = fs::read_to_string(dir.join("exec/containerd/containerd.pid")) {
        if let Ok(p) = p.trim().parse::<i32>() {
            if p > 0 && fs::metadata(format!("/proc/{p}")).is_ok() {
                // SAFETY: plain kill(2).
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
    }
    // Mounts the daemon left under its directory (network namespaces), innermost first.
    let prefix = dir.to_string_lossy().into_owned();
    let mut mounts: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        if let Ok(c) = std::ffi::CString::new(m) {
            // SAFETY: umount2 on a path we own.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let _ = fs::remove_dir_all(dir);
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory for one test, removed when dropped. Bind-mount it into a container to
/// exchange files.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir::new_in(&daemon().dir, tag)
    }
    fn new_in(base: &Path, tag: &str) -> TempDir {
        let p = base.join("tmp").join(tag);
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create a test directory");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).expect("chmod");
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_default()
    }
    /// `-v DIR:/out`.
    pub fn volume(&self) -> String {
        format!("{}:/out", self.0.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Daemon {
    /// A `docker` client command talking to this daemon.
    pub fn command(&self) -> Command {
        let mut c = Command::new(DOCKER);
        c.env("DOCKER_HOST", format!("unix://{}", self.sock))
            .env("DOCKER_CONFIG", self.dir.join("config"))
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::null());
        c
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("run the docker client")
    }

    /// Runs `docker ARGS`, asserts it succeeded, returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker build -t TAG` of a context directory holding `files` and this Dockerfile.
    pub fn build(&self, tag: &str, dockerfile: &str, files: &[(&str, &Path)]) {
        let ctx = TempDir::new_in(&self.dir, &format!("build-{}", tag.replace('/', "-")));
        for (name, src) in files {
            let dst = ctx.path(name);
            fs::create_dir_all(dst.parent().expect("parent")).expect("context dir");
            fs::copy(src, &dst)
                .unwrap_or_else(|e| panic!("copy {} into the context: {e}", src.display()));
        }
        fs::write(ctx.path("Dockerfile"), dockerfile).expect("write Dockerfile");
        self.ok(&["build", "-q", "-t", tag, &ctx.0.to_string_lossy()]);
    }

    fn build_images(&self) {
        let app = self.dir.join("app");
        fs::write(&app, APP).expect("write the app script");
        fs::set_permissions(&app, fs::Permissions::from_mode(0o755)).expect("chmod app");
        self.build(
            BUSYBOX_IMAGE,
            "FROM scratch\n\
             COPY busybox /bin/busybox\n\
             RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox --install -s /bin && mkdir -p /tmp /usr/bin /sbin /out && chmod 1777 /tmp\"]\n\
             COPY app /bin/app\n\
             ENV PATH=/usr/local/bin:/usr/bin:/bin:/sbin\n",
            &[("busybox", Path::new(BUSYBOX)), ("app", &app)],
        );
        self.build(
            RINIT_IMAGE,
            &format!("FROM {BUSYBOX_IMAGE}\nCOPY rinit /rinit\nENTRYPOINT [\"/rinit\", \"--\"]\n"),
            &[("rinit", Path::new(crate::common::rinit()))],
        );
        self.build(
            QUIT_IMAGE,
            &format!("FROM {RINIT_IMAGE}\nSTOPSIGNAL SIGQUIT\n"),
            &[],
        );
    }
}

/// A container, removed (`docker rm -f`) when dropped, also when the test fails.
pub struct Container {
    pub name: String,
}

static NAMES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Container {
    /// `docker run -d --network none --name NAME ARGS...` (ARGS: options, image, command).
    pub fn start(tag: &str, args: &[&str]) -> Container {
        let c = Container::named(tag);
        let mut all = vec!["run", "-d", "--network", "none", "--name", &c.name];
        all.extend_from_slice(args);
        daemon().ok(&all);
        c
    }

    /// A name for a container the caller creates itself.
    pub fn named(tag: &str) -> Container {
        let n = NAMES.fetch_add(1, Ordering::SeqCst);
        Container {
            name: format!("rinit-{tag}-{n}"),
        }
    }

    /// stdout and stderr of the container so far, each as `docker logs` gives it.
    pub fn logs(&self) -> (String, String) {
        let out = daemon().docker(&["logs", &self.name]);
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Both streams, for failure messages and searches.
    pub fn all_logs(&self) -> String {
        let (o, e) = self.logs();
        format!("--- {} stdout ---\n{o}--- stderr ---\n{e}---", self.name)
    }

    /// Waits until the logs contain `text`.
    pub fn wait_log(&self, text: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let logs = self.all_logs();
            if logs.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "'{text}' never showed up in the logs\n{logs}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn inspect(&self, format: &str) -> String {
        daemon()
            .ok(&["inspect", "-f", format, &self.name])
            .trim()
            .to_string()
    }

    pub fn running(&self) -> bool {
        self.inspect("{{.State.Running}}") == "true"
    }

    pub fn exit_code(&self) -> i32 {
        self.inspect("{{.State.ExitCode}}")
            .parse()
            .expect("exit code")
    }

    /// Waits until the container has exited; its exit code.
    pub fn wait_exit(&self) -> i32 {
        let deadline = Instant::now() + DEADLINE;
        while self.running() {
            assert!(
                Instant::now() < deadline,
                "still running after {DEADLINE:?}\n{}",
                self.all_logs()
            );
            thread::sleep(Duration::from_millis(100));
        }
        self.exit_code()
    }

    /// `docker stop [ARGS] NAME`: how long it took, and the container's exit code.
    pub fn stop(&self, args: &[&str]) -> (Duration, i32) {
        let t0 = Instant::now();
        let mut all = vec!["stop"];
        all.extend_from_slice(args);
        all.push(&self.name);
        daemon().ok(&all);
        let took = t0.elapsed();
        (took, self.exit_code())
    }

    /// `docker exec NAME ARGS...`; its stdout.
    pub fn exec(&self, args: &[&str]) -> String {
        self.exec_with(&[], args)
    }

    /// `docker exec OPTIONS NAME ARGS...`; its stdout.
    pub fn exec_with(&self, options: &[&str], args: &[&str]) -> String {
        let mut all = vec!["exec"];
        all.extend_from_slice(options);
        all.push(&self.name);
        all.extend_from_slice(args);
        daemon().ok(&all)
    }

    pub fn kill(&self, signal: &str) {
        daemon().ok(&["kill", "--signal", signal, &self.name]);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // Never start a daemon here (this may run while a failed start unwinds).
        let Some(d) = DAEMON.get() else { return };
        let _ = d
            .command()
            .args(["rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Seconds since boot (CLOCK_BOOTTIME), as /proc/uptime has it; containers see the same clock.
pub fn uptime() -> f64 {
    fs::read_to_string("/proc/uptime")
        .expect("read /proc/uptime")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("parse /proc/uptime")
}

/// When the app named `name` logged `got SIG`, as uptime seconds.
pub fn got_at(logs: &str, name: &str, sig: &str) -> Option<f64> {
    let prefix = format!("{name} got {sig} at ");
    logs.lines()
        .find_map(|l| l.split_once(&prefix).map(|(_, t)| t.trim().parse().ok()))?
}

/// Writes to a child's stdin, ignoring a closed pipe.
pub fn feed(w: &mut impl Write, bytes: &[u8]) {
    let _ = w.write_all(bytes);
    let _ = w.flush();
}
