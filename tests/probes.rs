//! `rinit --check PROBE...` (contract, "Probes, and --check"), the real binary run the way a
//! Docker `HEALTHCHECK` runs it (a plain process, not PID 1), against HTTP servers in this test:
//! exit 0 when every probe succeeds, 1 otherwise, never 2, one line on stderr per failing probe.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{Mode, Outcome, Scratch};

fn check(args: &[&str]) -> Outcome {
    common::run(Mode::Plain, args)
}

/// An HTTP server on 127.0.0.1: `/ok` answers 200, `/moved` 302, `/hang` never answers, anything
/// else 404. Serves every connection in its own thread until the test process ends.
fn server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            thread::spawn(move || answer(s));
        }
    });
    port
}

fn answer(s: TcpStream) {
    let mut r = BufReader::new(&s);
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    // The rest of the request, up to the blank line.
    let mut header = String::new();
    while r.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let status = match path {
        "/ok" => "200 OK",
        "/moved" => "302 Found\r\nLocation: /ok",
        "/hang" => {
            thread::sleep(Duration::from_secs(60));
            return;
        }
        _ => "404 Not Found",
    };
    let _ = (&s).write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn failed_lines(o: &Outcome) -> Vec<&str> {
    o.stderr.lines().collect()
}

#[test]
fn http_ok_is_healthy() {
    let port = server();
    let o = check(&["--check", &format!("http://127.0.0.1:{port}/ok")]);
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    assert_eq!(o.stderr, "");
    let o = check(&["--check", &format!("http://localhost:{port}/moved")]);
    assert_eq!(
        o.code, 0,
        "a redirect counts as healthy; stderr: {}",
        o.stderr
    );
}

#[test]
fn http_404_is_unhealthy() {
    let port = server();
    let probe = format!("http://127.0.0.1:{port}/missing");
    let o = check(&["--check", &probe]);
    assert_eq!(o.code, 1);
    assert_eq!(
        failed_lines(&o),
        [format!("rinit: check failed: {probe}: HTTP status 404")]
    );
}

#[test]
fn refused_is_unhealthy() {
    let port = closed_port();
    for probe in [
        format!("http://127.0.0.1:{port}/healthz"),
        format!("tcp:127.0.0.1:{port}"),
        format!("tcp:{port}"),
    ] {
        let o = check(&["--check", &probe]);
        assert_eq!(o.code, 1, "{probe}");
        assert_eq!(
            failed_lines(&o),
            [format!("rinit: check failed: {probe}: connection refused")]
        );
    }
}

#[test]
fn malformed_probe_exits_1_never_2() {
    for probe in [
        "tcp:db:5432",
        "http://example.com/",
        "https://127.0.0.1/",
        "tcp:0",
        "gopher://127.0.0.1/",
        "exec:",
    ] {
        let o = check(&["--check", probe]);
        assert_eq!(o.code, 1, "{probe}: stderr: {}", o.stderr);
        let lines = failed_lines(&o);
        assert_eq!(lines.len(), 1, "{probe}: {lines:?}");
        assert!(lines[0].starts_with("rinit: "), "{lines:?}");
        assert!(lines[0].contains(probe), "{lines:?}");
    }
    // A name or https: the line says what to use instead.
    let o = check(&["--check", "http://web:8080/healthz"]);
    assert!(
        o.stderr.contains("tcp:") && o.stderr.contains("exec:"),
        "{}",
        o.stderr
    );
}

#[test]
fn hung_endpoint_times_out() {
    let port = server();
    let probe = format!("http://127.0.0.1:{port}/hang");
    let o = check(&["--check", &probe, "--check-timeout", "1s"]);
    assert_eq!(o.code, 1);
    assert_eq!(
        failed_lines(&o),
        [format!("rinit: check failed: {probe}: timed out")]
    );
    assert!(
        o.elapsed >= Duration::from_millis(900) && o.elapsed < Duration::from_secs(10),
        "{:?}",
        o.elapsed
    );
}

#[test]
fn every_probe_must_pass() {
    let port = server();
    let dir = Scratch::new("probes");
    let ready = dir.file("ready");
    std::fs::write(&ready, "").unwrap();
    let ok = format!("http://127.0.0.1:{port}/ok");
    let tcp = format!("tcp:127.0.0.1:{port}");
    let file = format!("file:{ready}");
    let o = check(&[
        "--check",
        &ok,
        "--check",
        &tcp,
        "--check",
        &file,
        "--check",
        "exec:true",
    ]);
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    assert_eq!(o.stderr, "");

    // One failing among them: 1, and only it is named, in the order given.
    let missing = format!("file:{}", dir.file("missing"));
    let bad = format!("http://127.0.0.1:{port}/nope");
    let o = check(&[
        "--check", &ok, "--check", &missing, "--check", &tcp, "--check", &bad,
    ]);
    assert_eq!(o.code, 1);
    assert_eq!(
        failed_lines(&o),
        [
            format!("rinit: check failed: {missing}: no such file or directory"),
            format!("rinit: check failed: {bad}: HTTP status 404"),
        ]
    );
}

#[test]
fn probes_run_concurrently_within_one_timeout() {
    let port = server();
    let hang = format!("http://127.0.0.1:{port}/hang");
    let mut args = Vec::new();
    for _ in 0..5 {
        args.extend(["--check", hang.as_str()]);
    }
    args.extend(["--check", "exec:sleep 30", "--check-timeout", "1s"]);
    let o = check(&args);
    assert_eq!(o.code, 1);
    assert_eq!(failed_lines(&o).len(), 6, "{}", o.stderr);
    assert!(
        o.stderr.lines().all(|l| l.ends_with(": timed out")),
        "{}",
        o.stderr
    );
    // Six hung probes share one timeout: one after the other they would take 6 s at least.
    assert!(o.elapsed < Duration::from_millis(5500), "{:?}", o.elapsed);
}

#[test]
fn exec_probe_exit_code() {
    let o = check(&["--check", "exec:sh -c 'exit 0'"]);
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    let o = check(&["--check", "exec:sh -c 'exit 3'"]);
    assert_eq!(o.code, 1);
    assert_eq!(
        failed_lines(&o),
        ["rinit: check failed: exec:sh -c 'exit 3': exited with code 3"]
    );
}

/// Python's own HTTP server, as a stand-in for a real application.
struct PyServer(Child);

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[cfg_attr(missing_python3, ignore = "needs python3")]
fn against_python_http_server() {
    if common::missing(&["python3"]) {
        return;
    }
    let dir = Scratch::new("pyhttp");
    std::fs::write(dir.file("healthz"), "ok\n").unwrap();
    let port = closed_port();
    let server = PyServer(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(&dir.path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait for it to listen (state, not a sleep: the connection succeeds).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "python3 http.server did not start"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let o = check(&["--check", &format!("http://127.0.0.1:{port}/healthz")]);
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    let o = check(&["--check", &format!("http://127.0.0.1:{port}/nothing-here")]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("HTTP status 404"), "{}", o.stderr);
    drop(server);
}
