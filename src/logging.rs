//! rinit's own log, and the shape of every line rinit writes (its own and relayed ones).
//!
//! Plain: `rinit: MESSAGE` on stderr (the name rinit was invoked under), no colour, no
//! timestamps; a relayed line is `NAME | LINE`. JSON (`--log-format json`): one object a line,
//! `{"time":…,"name":…,"stream":…,["level":…,]"msg":…}`.
//!
//! The logger is rinit's own (a few lines of `log::Log`): no dependency prints, nothing here
//! panics, and every line goes through the relay's non-blocking stderr sink, so a stalled
//! stderr holds rinit's log (bounded, then dropped with a count), never PID 1.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use log::{Level, LevelFilter, Metadata, Record};

use crate::config::{self, Config, LogFormat};
use crate::relay::{self, Stream};

static JSON: AtomicBool = AtomicBool::new(false);

/// `--log-format json` is on.
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

struct Logger {
    prog: &'static str,
    json: bool,
    /// Level for targets no filter names.
    default: LevelFilter,
    /// `RINIT_LOG` module filters; the longest matching prefix wins.
    filters: Vec<(String, LevelFilter)>,
}

impl Logger {
    fn level_for(&self, target: &str) -> LevelFilter {
        self.filters
            .iter()
            .filter(|(m, _)| target.starts_with(m.as_str()))
            .max_by_key(|(m, _)| m.len())
            .map_or(self.default, |(_, l)| *l)
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level_for(metadata.target())
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut msg = String::new();
        let _ = write!(msg, "{}", record.args());
        let mut line = Vec::with_capacity(msg.len() + 64);
        if self.json {
            json_object(
                &mut line,
                "rinit",
                "rinit",
                Some(level_name(record.level())),
                msg.as_bytes(),
            );
        } else {
            line.extend_from_slice(self.prog.as_bytes());
            line.extend_from_slice(b": ");
            line.extend_from_slice(sanitize(&msg).as_bytes());
            line.push(b'\n');
        }
        relay::emit_own(&line);
    }

    fn flush(&self) {}
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warn",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

pub fn init(cfg: &Config) {
    let json = cfg.log_format == LogFormat::Json;
    JSON.store(json, Ordering::Relaxed);
    let mut default = cfg.log_level;
    let mut filters = Vec::new();
    for (module, level) in &cfg.log_filters {
        match module {
            None => default = *level,
            // `rinit` and `rinit::relay` name rinit's own modules, as in env_logger.
            Some(m) => filters.push((m.clone(), *level)),
        }
    }
    let max = filters.iter().map(|f| f.1).fold(default, Ord::max);
    let logger = Box::leak(Box::new(Logger {
        prog: config::prog_name(cfg.personality),
        json,
        default,
        filters,
    }));
    // Only fails when a logger is already set, which cannot happen here.
    if log::set_logger(logger).is_ok() {
        log::set_max_level(max);
    }
}

/// `text` with every control character (a newline, an escape sequence) shown as `\n`, `\t` or
/// `\xNN` / `\u{NN}`, so that a process name cannot forge a log line or drive a terminal.
pub fn sanitize(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// One relayed line (without its newline) as rinit writes it, newline included: `NAME | LINE`,
/// or a JSON object.
pub fn relayed_line(out: &mut Vec<u8>, name: &str, stream: Stream, line: &[u8]) {
    if json() {
        json_object(out, name, stream.name(), None, line);
    } else {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b" | ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

/// `{"time":"…","name":"…","stream":"…",["level":"…",]"msg":"…"}` and a newline.
pub fn json_object(out: &mut Vec<u8>, name: &str, stream: &str, level: Option<&str>, msg: &[u8]) {
    out.extend_from_slice(b"{\"time\":\"");
    timestamp(out, now());
    out.extend_from_slice(b"\",\"name\":");
    json_string(out, name.as_bytes());
    out.extend_from_slice(b",\"stream\":\"");
    out.extend_from_slice(stream.as_bytes());
    if let Some(level) = level {
        out.extend_from_slice(b"\",\"level\":\"");
        out.extend_from_slice(level.as_bytes());
    }
    out.extend_from_slice(b"\",\"msg\":");
    json_string(out, msg);
    out.extend_from_slice(b"}\n");
}

/// A JSON string of `bytes`: UTF-8 kept, `"` `\` and control characters escaped, and each byte
/// that is not valid UTF-8 written as the text `\xNN` (so `\\xNN` inside the JSON string).
pub fn json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let n = c as usize;
                    out.extend_from_slice(b"\\u00");
                    out.extend_from_slice(&[HEX[n >> 4], HEX[n & 15]]);
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for &b in chunk.invalid() {
            out.extend_from_slice(b"\\\\x");
            out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    out.push(b'"');
}

/// Seconds and milliseconds since the epoch (CLOCK_REALTIME).
fn now() -> (i64, u32) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec, (ts.tv_nsec / 1_000_000).clamp(0, 999) as u32)
}

/// `2026-05-01T12:00:00.123Z`: UTC, milliseconds.
fn timestamp(out: &mut Vec<u8>, (secs, millis): (i64, u32)) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = String::with_capacity(24);
    let _ = write!(
        s,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    out.extend_from_slice(s.as_bytes());
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64, millis: u32) -> String {
        let mut v = Vec::new();
        timestamp(&mut v, (secs, millis));
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn timestamps() {
        assert_eq!(ts(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(ts(1_777_636_800, 123), "2026-05-01T12:00:00.123Z");
        assert_eq!(ts(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(ts(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
        assert_eq!(ts(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
        assert_eq!(ts(-1, 0), "1969-12-31T23:59:59.000Z");
        assert_eq!(ts(1_703_980_800 + 86_399, 0), "2023-12-31T23:59:59.000Z");
    }

    fn js(bytes: &[u8]) -> String {
        let mut v = Vec::new();
        json_string(&mut v, bytes);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn json_strings() {
        assert_eq!(js(b"plain"), r#""plain""#);
        assert_eq!(js(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            js(b"t\tn\nr\r\x01\x1b\x7f"),
            r#""t\tn\nr\r\u0001\u001b\u007f""#
        );
        assert_eq!(js("é€😀".as_bytes()), "\"é€😀\"");
        assert_eq!(js(b"bad \xff\xfe end"), r#""bad \\xff\\xfe end""#);
        // A truncated sequence: each byte on its own.
        assert_eq!(js(b"\xe2\x82"), r#""\\xe2\\x82""#);
        assert_eq!(js(br#"{"a":1}"#), r#""{\"a\":1}""#);
    }

    #[test]
    fn json_objects() {
        let mut v = Vec::new();
        json_object(&mut v, "web", "stdout", None, b"hi");
        let s = String::from_utf8(v).unwrap();
        assert!(s.starts_with("{\"time\":\"20"), "{s}");
        assert!(s.ends_with("Z\",\"name\":\"web\",\"stream\":\"stdout\",\"msg\":\"hi\"}\n"));
        let mut v = Vec::new();
        json_object(&mut v, "rinit", "rinit", Some("warn"), b"x");
        let s = String::from_utf8(v).unwrap();
        assert!(
            s.contains(r#""stream":"rinit","level":"warn","msg":"x"}"#),
            "{s}"
        );
    }

    #[test]
    fn sanitized() {
        assert_eq!(sanitize("web-1"), "web-1");
        assert_eq!(sanitize("a\nrinit: forged"), "a\\nrinit: forged");
        assert_eq!(sanitize("\x1b[31mred\t"), "\\x1b[31mred\\t");
        assert_eq!(sanitize("c1\u{9b}"), "c1\\u{9b}");
    }

    #[test]
    fn filters() {
        let l = Logger {
            prog: "rinit",
            json: false,
            default: LevelFilter::Warn,
            filters: vec![
                ("rinit".into(), LevelFilter::Info),
                ("rinit::relay".into(), LevelFilter::Trace),
            ],
        };
        assert_eq!(l.level_for("rinit::relay"), LevelFilter::Trace);
        assert_eq!(l.level_for("rinit::supervisor"), LevelFilter::Info);
        assert_eq!(l.level_for("other"), LevelFilter::Warn);
    }
}
