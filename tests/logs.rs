//! `--log-format json`: rinit's own lines and every relayed line are one JSON object a line,
//! checked with Python's own JSON parser (`json.loads` on each line).

mod common;

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::{missing, Mode, Run, Scratch};

/// Parses every line of `file` as JSON and prints, one line per object,
/// `STREAM<TAB>NAME<TAB>LEVEL<TAB>LEN(MSG)<TAB>ascii(MSG[:60])`; exits non-zero on any line
/// that is not an object with exactly the contract's keys, or a bad `time`.
const CHECK: &str = r#"
import json, re, sys
ok = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
for raw in open(sys.argv[1], "rb").read().split(b"\n")[:-1]:
    o = json.loads(raw)
    keys = ["time", "name", "stream"] + (["level"] if "level" in o else []) + ["msg"]
    assert list(o) == keys, (list(o), raw[:100])
    assert ok.match(o["time"]), o["time"]
    assert isinstance(o["msg"], str), raw[:100]
    assert ("level" in o) == (o["stream"] == "rinit"), raw[:100]
    print("\t".join([o["stream"], o["name"], o.get("level", "-"), str(len(o["msg"])), ascii(o["msg"][:60])]))
"#;

fn objects(dir: &Scratch, text: &str) -> Vec<Vec<String>> {
    let file = dir.file("check.in");
    fs::write(&file, text).unwrap();
    let check = dir.file("check.py");
    fs::write(&check, CHECK).unwrap();
    let out = Command::new("python3")
        .args([&check, &file])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "not JSON lines: {}\n{text:.2000}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

const GEN: &str = r#"
import sys
out = sys.stdout.buffer
out.write(b"hello\n")
out.write(b'{"already": "json"}\n')
out.write(b"bad \xff\xfe end\n")
out.write(b"tab\there \"quoted\" back\\slash \x01\n")
out.write(b"z" * 204800 + b"\n")
out.write(b"no newline at the end")
out.flush()
sys.stderr.write("oops\n")
"#;

#[test]
#[cfg_attr(
    any(missing_unshare, missing_python3),
    ignore = "needs unshare, python3"
)]
fn json_lines_parse_for_relayed_and_own_lines() {
    json_lines(&["--prefix"]);
}

/// With `json`, `--run` output is relayed without `--prefix` too (the supervisor's capture).
#[test]
#[cfg_attr(
    any(missing_unshare, missing_python3),
    ignore = "needs unshare, python3"
)]
fn json_relays_without_prefix() {
    json_lines(&[]);
}

fn json_lines(extra: &[&str]) {
    if missing(&["unshare", "python3"]) {
        return;
    }
    let dir = Scratch::new("json");
    fs::write(dir.file("gen.py"), GEN).unwrap();
    let run = format!("app: python3 {}", dir.file("gen.py"));
    let mut args = vec!["--log-format", "json", "--run", &run];
    args.extend_from_slice(extra);
    let o = Run::start(Mode::Pid1, &dir, &args).finish(Duration::from_secs(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let out = objects(&dir, &o.stdout);
    let relayed: Vec<&Vec<String>> = out.iter().filter(|v| v[1] == "app").collect();
    assert!(relayed.iter().all(|v| v[0] == "stdout" && v[2] == "-"));
    let msgs: Vec<&str> = relayed.iter().map(|v| v[4].as_str()).collect();
    assert_eq!(msgs[0], "'hello'");
    assert_eq!(msgs[1], r#"'{"already": "json"}'"#);
    // Each invalid byte is the text \xNN.
    assert_eq!(msgs[2], r"'bad \\xff\\xfe end'");
    assert_eq!(msgs[3], r#"'tab\there "quoted" back\\slash \x01'"#);
    // 200 KiB: three 64 KiB objects and the rest.
    let lens: Vec<&str> = relayed[4..8].iter().map(|v| v[3].as_str()).collect();
    assert_eq!(lens, ["65536", "65536", "65536", "8192"]);
    assert_eq!(msgs[8], "'no newline at the end'");
    assert_eq!(relayed.len(), 9);

    let err = objects(&dir, &o.stderr);
    assert!(
        err.iter()
            .any(|v| v[0] == "stderr" && v[1] == "app" && v[4] == "'oops'"),
        "{err:?}"
    );
    let own: Vec<&Vec<String>> = err.iter().filter(|v| v[0] == "rinit").collect();
    assert!(!own.is_empty(), "{}", o.stderr);
    assert!(own.iter().all(|v| v[1] == "rinit"));
    assert!(own
        .iter()
        .any(|v| v[2] == "info" && v[4].starts_with("'started app")));
}

/// `RINIT_LOG_FORMAT=json` is the flag's variable; errors are JSON too, with level `error`.
#[test]
#[cfg_attr(missing_unshare, ignore = "needs unshare")]
fn json_from_the_environment_for_errors_too() {
    if missing(&["unshare"]) {
        return;
    }
    let dir = Scratch::new("json-env");
    let o = Run::start_with(
        Mode::Pid1,
        &dir,
        &["--run", "x: /nonexistent/program"],
        &[("RINIT_LOG_FORMAT", "json")],
    )
    .finish(Duration::from_secs(60));
    assert_eq!(o.code, 127, "{}", o.stderr);
    let err = objects(&dir, &o.stderr);
    assert!(
        err.iter()
            .any(|v| v[0] == "rinit" && v[2] == "error" && v[4].contains("/nonexistent/program")),
        "{err:?}"
    );
}

/// Plain stays as it was: `NAME | LINE`, and rinit's lines start `rinit: `.
#[test]
#[cfg_attr(missing_unshare, ignore = "needs unshare")]
fn plain_format_is_unchanged() {
    if missing(&["unshare", "sh"]) {
        return;
    }
    let o = common::run(Mode::Pid1, &["--prefix", "--run", "a: echo hi"]);
    assert_eq!(o.stdout, "a | hi\n");
    assert!(
        o.stderr.lines().all(|l| l.starts_with("rinit: ")),
        "{}",
        o.stderr
    );
}
