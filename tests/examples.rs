//! Every file in examples/ works as written: the Kubernetes manifests validate against the
//! Kubernetes schemas (offline, `kubernetes-validate` from PyPI, pinned) and their commands run
//! in the example image; the shell scripts run; `Dockerfile.example`'s runtime stage builds
//! (from a `FROM scratch` + busybox-static base instead of `busybox:stable`: no registry here,
//! and with the rinit under test instead of its builder stage's) and its container stops
//! gracefully; `docker-daemon.json` is the configuration of the tests' own Docker daemon.

mod common;
mod dockerd;

use dockerd::{daemon, repo, Container, BUSYBOX_IMAGE};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Every file in examples/, each exercised by a test below.
const EXAMPLES: &[&str] = &[
    "app.sh",
    "demo.sh",
    "docker-daemon.json",
    "entrypoint.sh",
    "kubernetes-pod.yaml",
    "multi-process.yaml",
];

/// The Kubernetes version the manifests are validated against (kubernetes-validate 1.34.1).
const KUBERNETES: &str = "1.34.0";

const EXAMPLE_IMAGE: &str = "rinit-test/example";

#[test]
fn every_example_is_tested() {
    let mut files: Vec<String> = fs::read_dir(repo().join("examples"))
        .expect("read examples/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files, EXAMPLES,
        "a file in examples/ has no test in tests/examples.rs (or one is gone)"
    );
}

#[test]
fn shell_examples_are_executable() {
    for f in EXAMPLES.iter().filter(|f| f.ends_with(".sh")) {
        let mode = fs::metadata(repo().join("examples").join(f))
            .expect("stat")
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "examples/{f} is not executable");
    }
    // What a fresh clone gets is the mode in git.
    if repo().join(".git").exists() {
        let out = Command::new("git")
            .args(["ls-files", "-s", "examples"])
            .current_dir(repo())
            .output()
            .expect("git ls-files");
        let index = String::from_utf8_lossy(&out.stdout);
        for line in index.lines().filter(|l| l.ends_with(".sh")) {
            assert!(
                line.starts_with("100755"),
                "committed without its execute bit: {line}"
            );
        }
    }
}

#[test]
#[cfg_attr(
    missing_kubernetes_validate,
    ignore = "needs kubernetes-validate (.ci/run installs it with pip)"
)]
fn manifests_validate_against_the_kubernetes_schemas() {
    let files = [
        "examples/kubernetes-pod.yaml",
        "examples/multi-process.yaml",
    ];
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", KUBERNETES])
        .args(files)
        .current_dir(repo())
        .output()
        .expect("run kubernetes-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubernetes-validate failed:\n{text}");
    for f in files {
        assert!(
            text.lines().any(|l| l.contains(f) && l.contains("passed")),
            "{f} was not validated:\n{text}"
        );
    }
}

/// A manifest's first container's `command` + `args`, read with the YAML parser that
/// kubernetes-validate brings (its own Python).
fn manifest_argv(file: &str) -> Vec<String> {
    let kv = std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("kubernetes-validate"))
                .find(|p| p.is_file())
        })
        .expect("kubernetes-validate on PATH");
    let script = fs::read_to_string(&kv).expect("read kubernetes-validate");
    let python = script
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("#!"))
        .expect("kubernetes-validate's interpreter")
        .trim()
        .to_string();
    let out = Command::new(&python)
        .args([
            "-c",
            "import sys, yaml\n\
             c = yaml.safe_load(open(sys.argv[1]))['spec']['containers'][0]\n\
             sys.stdout.write('\\0'.join(c.get('command', []) + c.get('args', [])))",
            file,
        ])
        .current_dir(repo())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{python}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .map(str::to_string)
        .collect()
}

/// The image `Dockerfile.example` builds, from its runtime stage: the stage's base becomes the
/// tests' busybox image and the builder's binary the one under test; every other line is as
/// written.
fn example_image() -> &'static str {
    static IMAGE: OnceLock<()> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let text = fs::read_to_string(repo().join("Dockerfile.example")).expect("read it");
        let lines: Vec<&str> = text.lines().collect();
        let last_from = lines
            .iter()
            .rposition(|l| l.starts_with("FROM "))
            .expect("a FROM line");
        assert_eq!(
            lines[last_from], "FROM busybox:stable",
            "the runtime stage's base"
        );
        let mut stage: Vec<String> = vec![format!("FROM {BUSYBOX_IMAGE}")];
        let mut copied = false;
        for l in &lines[last_from + 1..] {
            if *l == "COPY --from=build /rinit /rinit" {
                stage.push("COPY rinit /rinit".into());
                copied = true;
            } else {
                stage.push(l.to_string());
            }
        }
        assert!(
            copied,
            "the runtime stage no longer copies /rinit from the build stage"
        );
        let examples = repo().join("examples");
        let files: Vec<(String, std::path::PathBuf)> = EXAMPLES
            .iter()
            .map(|f| (format!("examples/{f}"), examples.join(f)))
            .chain([(
                "rinit".to_string(),
                Path::new(common::rinit()).to_path_buf(),
            )])
            .collect();
        let files: Vec<(&str, &Path)> = files
            .iter()
            .map(|(n, p)| (n.as_str(), p.as_path()))
            .collect();
        daemon().build(EXAMPLE_IMAGE, &(stage.join("\n") + "\n"), &files);
    });
    EXAMPLE_IMAGE
}

/// Waits until the app in `c` answers GET /healthz on 127.0.0.1:8080 (its readiness probe).
fn wait_ready(c: &Container) {
    let deadline = Instant::now() + dockerd::DEADLINE;
    loop {
        let out = daemon().docker(&[
            "exec",
            &c.name,
            "wget",
            "-qO-",
            "http://127.0.0.1:8080/healthz",
        ]);
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the readiness probe never passed\n{}",
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
fn dockerfile_example_runs_its_app_and_stops_it_gracefully() {
    let c = Container::start("dockerfile", &["--stop-timeout", "30", example_image()]);
    c.wait_log("web: working");
    wait_ready(&c);
    let (took, code) = c.stop(&[]);
    let logs = c.all_logs();
    assert!(
        logs.contains("web: got SIGTERM") && logs.contains("web: bye"),
        "the app did not finish gracefully\n{logs}"
    );
    assert_eq!(code, 0, "{logs}");
    // The image's ENTRYPOINT holds SIGTERM 5 s; Docker would kill at 30 s.
    assert!(
        took >= Duration::from_millis(4800) && took < Duration::from_secs(29),
        "docker stop took {took:?}\n{logs}"
    );
}

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn dockerfile_example_healthcheck_reports_healthy() {
    // The image's HEALTHCHECK as written, only run sooner than its 10 s interval.
    let c = Container::start(
        "healthy",
        &[
            "--health-interval",
            "1s",
            "--health-start-period",
            "0s",
            example_image(),
        ],
    );
    let deadline = Instant::now() + dockerd::DEADLINE;
    loop {
        let status = c.inspect("{{.State.Health.Status}}");
        if status == "healthy" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "health is {status}; checks: {}\n{}",
            c.inspect("{{json .State.Health.Log}}"),
            c.all_logs()
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        c.inspect("{{json .Config.Healthcheck.Test}}"),
        r#"["CMD","/rinit","--check","http://127.0.0.1:8080/healthz"]"#
    );
}

#[test]
#[cfg_attr(
    any(missing_docker, missing_busybox, missing_root),
    ignore = "needs root, docker.io and busybox-static (.ci/run installs them)"
)]
fn entrypoint_sh_gets_sigterm_to_both_apps() {
    let c = Container::start(
        "entrypoint",
        &[
            "--entrypoint",
            "/rinit",
            example_image(),
            "--",
            "/app/entrypoint.sh",
        ],
    );
    c.wait_log("web: working");
    c.wait_log("worker: working");
    let (took, code) = c.stop(&[]);
    let logs = c.all_logs();
    for app in ["web", "worker"] {
        assert!(
            logs.contains(&format!("{app}: got SIGTERM")) && logs.contains(&format!("{app}: bye")),
            "{app} did not get SIGTERM and finish\n{logs}"
        );
    }
    assert_eq!(code, 128 + libc::SIGTERM, "the shell's code\n{logs}");
    assert!(
        took < Duration::from_secs(10),
        "docker stop took {took:?}\n{logs}"
    );
}

/// Runs a manifest's `command` + `args` in the example image, as kubelet would: `docker run`
/// with the entrypoint and arguments replaced, stopped with its terminationGracePeriodSeconds.
fn run_manifest(tag: &str, file: &str, grace: &str) -> Container {
    let argv = manifest_argv(file);
    let mut args = vec![
        "--stop-timeout",
        grace,
        "--entrypoint",
        &argv[0],
        example_image(),
    ];
    args.extend(argv[1..].iter().map(String::as_str));
    Container::start(tag, &args)
}

#[test]
#[cfg_attr(
    any(
        missing_docker,
        missing_busybox,
        missing_root,
        missing_kubernetes_validate
    ),
    ignore = "needs root, docker.io, busybox-static and kubernetes-validate (.ci/run installs them)"
)]
fn kubernetes_pod_runs_in_the_example_image() {
    let c = run_manifest("pod", "examples/kubernetes-pod.yaml", "45");
    wait_ready(&c);
    let (took, code) = c.stop(&[]);
    let logs = c.all_logs();
    assert!(logs.contains("web: bye"), "{logs}");
    assert_eq!(code, 0, "{logs}");
    // --pre-stop-delay 10s holds SIGTERM; the pod's 45 s are far.
    assert!(
        took >= Duration::from_millis(9800) && took < Duration::from_secs(44),
        "docker stop took {took:?}\n{logs}"
    );
}

#[test]
#[cfg_attr(
    any(
        missing_docker,
        missing_busybox,
        missing_root,
        missing_kubernetes_validate
    ),
    ignore = "needs root, docker.io, busybox-static and kubernetes-validate (.ci/run installs them)"
)]
fn multi_process_manifest_runs_in_the_example_image() {
    let c = run_manifest("multi", "examples/multi-process.yaml", "30");
    c.wait_log("web | web: working");
    c.wait_log("worker | worker: working");
    wait_ready(&c);
    let (took, code) = c.stop(&[]);
    let logs = c.all_logs();
    assert!(
        logs.contains("web | web: bye") && logs.contains("worker | worker: bye"),
        "{logs}"
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
fn docker_daemon_json_sets_the_daemons_init_path() {
    // tests/dockerd starts its daemon with examples/docker-daemon.json, the path rewritten.
    let d = daemon();
    let binary = d.ok(&["info", "-f", "{{.InitBinary}}"]);
    assert_eq!(
        Path::new(binary.trim()),
        d.init_path,
        "dockerd did not take init-path from examples/docker-daemon.json"
    );
}

#[test]
#[cfg_attr(
    any(missing_root, missing_unshare, missing_bash),
    ignore = "needs root, unshare and bash"
)]
fn demo_sh_runs_two_processes_and_stops_them() {
    let out = Command::new("bash")
        .arg("examples/demo.sh")
        .env("RINIT_BIN", common::rinit())
        .current_dir(repo())
        .output()
        .expect("run examples/demo.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo.sh failed:\n{text}{err}");
    for want in [
        "web | web: started",
        "worker | worker: working",
        "web | web: bye",
        "worker | worker: bye",
        "== rinit exited with 0",
    ] {
        assert!(
            text.contains(want),
            "'{want}' missing from demo.sh's output:\n{text}{err}"
        );
    }
}
