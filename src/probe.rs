//! Probes: `tcp:[HOST:]PORT`, `http://HOST[:PORT]/PATH`, `file:PATH`, `exec:CMDLINE` (contract,
//! "Probes, and --check"). Parsing lives here, and one [`Attempt`]: a non-blocking connection (and
//! HTTP exchange) or a child process, driven by the caller's poll loop. No threads, no blocking.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFlags;

use crate::config::{ProcOptions, ProcSpec, Role};
use crate::reaper::Status;
use crate::spawn;
use crate::users::Identity;

/// A probe's host: a literal address, or `localhost` (127.0.0.1, then ::1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Localhost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    Tcp {
        host: Host,
        port: u16,
    },
    Http {
        host: Host,
        port: u16,
        /// The `Host` header's value, as written in the URL.
        authority: String,
        path: String,
    },
    File(PathBuf),
    /// The command's words (run with `--user`'s identity, see `Config::user`).
    Exec(Vec<OsString>),
}

/// Parses a PROBE; the error is one line naming it, suggesting `tcp:` or `exec:` where a name or
/// https was given.
pub fn parse(text: &str) -> Result<ProbeSpec, String> {
    parse_probe(text).map_err(|why| format!("bad probe '{text}': {why}"))
}

fn parse_probe(text: &str) -> Result<ProbeSpec, String> {
    if let Some(rest) = text.strip_prefix("tcp:") {
        return Ok(match split_port(rest) {
            (host, Some(p)) => ProbeSpec::Tcp {
                host: parse_host(host)?,
                port: parse_port(p)?,
            },
            (p, None) => ProbeSpec::Tcp {
                host: Host::Localhost,
                port: parse_port(p)?,
            },
        });
    }
    if let Some(rest) = text.strip_prefix("http://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("the path must not contain spaces or control characters".into());
        }
        let (host, port) = split_port(authority);
        return Ok(ProbeSpec::Http {
            host: parse_host(host)?,
            port: port.map_or(Ok(80), parse_port)?,
            authority: authority.to_string(),
            path: path.to_string(),
        });
    }
    if text.starts_with("https://") {
        return Err(
            "https is not supported (rinit has no TLS): check the port with \
                    tcp:ADDRESS:443, or run a client with exec:"
                .into(),
        );
    }
    if let Some(path) = text.strip_prefix("file:") {
        if path.is_empty() {
            return Err("no path".into());
        }
        return Ok(ProbeSpec::File(path.into()));
    }
    if let Some(cmdline) = text.strip_prefix("exec:") {
        let words = shell_words::split(cmdline).map_err(|e| e.to_string())?;
        if words.is_empty() {
            return Err("no command".into());
        }
        return Ok(ProbeSpec::Exec(
            words.into_iter().map(OsString::from).collect(),
        ));
    }
    Err("expected tcp:[HOST:]PORT, http://HOST[:PORT]/PATH, file:PATH or exec:CMDLINE".into())
}

/// `HOST:PORT` into its parts; a colon inside `[IPv6]` does not count.
fn split_port(s: &str) -> (&str, Option<&str>) {
    match s.rfind(':') {
        Some(i) if !s[i..].contains(']') => (&s[..i], Some(&s[i + 1..])),
        _ => (s, None),
    }
}

fn parse_host(h: &str) -> Result<Host, String> {
    if h.eq_ignore_ascii_case("localhost") {
        return Ok(Host::Localhost);
    }
    let mut v6 = [0u8; 16];
    if let Some(a) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return match pton(libc::AF_INET6, a, &mut v6) {
            true => Ok(Host::Ip(Ipv6Addr::from(v6).into())),
            false => Err(format!("'{a}' is not an IPv6 address")),
        };
    }
    let mut v4 = [0u8; 4];
    if pton(libc::AF_INET, h, &mut v4) {
        return Ok(Host::Ip(Ipv4Addr::from(v4).into()));
    }
    if pton(libc::AF_INET6, h, &mut v6) {
        return Err(format!("write an IPv6 address in brackets: [{h}]"));
    }
    Err(format!(
        "host '{h}' is not an IP address or localhost (a static binary cannot resolve names): \
         give the address, or use tcp:ADDRESS:PORT, or exec: with a client that resolves it"
    ))
}

/// A literal address of `family` into `out` (network order), with the C library's parser (the
/// smaller one in a static binary).
fn pton(family: libc::c_int, text: &str, out: &mut [u8]) -> bool {
    let Ok(c) = std::ffi::CString::new(text) else {
        return false;
    };
    // SAFETY: `c` is NUL-terminated; `out` has room for the family's address (4 or 16 bytes).
    unsafe { inet_pton(family, c.as_ptr(), out.as_mut_ptr().cast()) == 1 }
}

extern "C" {
    // POSIX; the libc crate does not declare it.
    fn inet_pton(af: libc::c_int, src: *const libc::c_char, dst: *mut libc::c_void) -> libc::c_int;
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("bad port '{p}' (1-65535)")),
    }
}

/// How much of an HTTP answer is read at most: its status line must fit.
const REPLY_MAX: usize = 512;

/// One run of a probe. Created by [`Attempt::start`], which never blocks; the caller polls
/// [`Attempt::interest`] and calls [`Attempt::on_ready`], reaps [`Attempt::exec_pid`] and calls
/// [`Attempt::on_exit`], and calls [`Attempt::on_deadline`] once [`Attempt::deadline`] is reached.
/// Dropping a pending attempt cancels it (closes its socket, SIGKILLs its exec: group).
pub struct Attempt {
    state: State,
    deadline: Instant,
    /// exec: the child, until the caller reports it reaped.
    child: Option<i32>,
    /// Why the attempt failed (empty until it has).
    why: String,
}

enum State {
    Done(bool),
    Net(Net),
    /// exec: waiting for the child's exit.
    Exec,
}

struct Net {
    fd: OwnedFd,
    /// The address to try when this one cannot be connected to (localhost: ::1).
    next: Option<SocketAddr>,
    connected: bool,
    /// http: the request and how much of it is sent; tcp: empty.
    request: Vec<u8>,
    sent: usize,
    reply: Vec<u8>,
}

/// What one step of a connection came to.
enum Step {
    Pending,
    Done,
    Failed(String),
}

fn errno_text(e: Errno) -> String {
    e.desc().to_ascii_lowercase()
}

impl Attempt {
    /// Starts the probe; never blocks (a file: probe is done at once, and so is a connection
    /// refused right away).
    pub fn start(spec: &ProbeSpec, timeout: Duration, exec_user: Option<&Identity>) -> Attempt {
        let now = Instant::now();
        let mut a = Attempt {
            state: State::Exec,
            deadline: now
                .checked_add(timeout)
                .unwrap_or(now + Duration::from_secs(86_400)),
            child: None,
            why: String::new(),
        };
        match spec {
            // `metadata` follows symlinks: a dangling link is a path that does not exist.
            ProbeSpec::File(path) => {
                let found = path.metadata();
                a.finish(match found {
                    Ok(_) => Step::Done,
                    Err(e) => Step::Failed(errno_text(Errno::from_raw(
                        e.raw_os_error().unwrap_or(libc::ENOENT),
                    ))),
                });
            }
            ProbeSpec::Exec(argv) => {
                let spec = ProcSpec {
                    name: "probe".to_string(),
                    argv: argv.clone(),
                    role: Role::Probe,
                    opts: ProcOptions {
                        user: exec_user.cloned(),
                        ..ProcOptions::default()
                    },
                };
                match spawn::spawn(&spec, &spawn::Options::default()) {
                    Ok(s) => a.child = Some(s.pid),
                    Err(e) => a.finish(Step::Failed(e.message)),
                }
            }
            ProbeSpec::Tcp { host, port } => a.connect(host, *port, Vec::new()),
            ProbeSpec::Http {
                host,
                port,
                authority,
                path,
            } => {
                let request = format!(
                    "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: rinit/{}\r\n\
                     Connection: close\r\n\r\n",
                    env!("CARGO_PKG_VERSION")
                );
                a.connect(host, *port, request.into_bytes());
            }
        }
        a
    }

    fn connect(&mut self, host: &Host, port: u16, request: Vec<u8>) {
        let (first, next) = match host {
            Host::Ip(ip) => (SocketAddr::new(*ip, port), None),
            Host::Localhost => (
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
                Some(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port)),
            ),
        };
        self.open(first, next, request);
    }

    /// Opens a connection to `addr`, falling back to `next` if it fails.
    fn open(&mut self, addr: SocketAddr, next: Option<SocketAddr>, request: Vec<u8>) {
        match open_socket(addr) {
            Ok((fd, connected)) => {
                self.state = State::Net(Net {
                    fd,
                    next,
                    connected,
                    request,
                    sent: 0,
                    reply: Vec::new(),
                });
                if connected {
                    self.on_ready();
                }
            }
            Err(e) => match next {
                Some(n) => {
                    self.why = errno_text(e);
                    self.open(n, None, request);
                }
                None => self.finish(Step::Failed(errno_text(e))),
            },
        }
    }

    fn finish(&mut self, step: Step) {
        match step {
            Step::Pending => {}
            Step::Done => self.state = State::Done(true),
            Step::Failed(why) => {
                // With a fallback address, the first address's reason is the one to show.
                if self.why.is_empty() {
                    self.why = why;
                }
                self.state = State::Done(false);
            }
        }
    }

    /// `Some(result)` once finished.
    pub fn done(&self) -> Option<bool> {
        match self.state {
            State::Done(ok) => Some(ok),
            _ => None,
        }
    }

    /// Why a finished attempt failed (`connection refused`, `HTTP status 503`, `timed out`...).
    pub fn failure(&self) -> Option<&str> {
        (self.done() == Some(false)).then_some(self.why.as_str())
    }

    /// The descriptor and events to poll while a network attempt is pending.
    pub fn interest(&self) -> Option<(BorrowedFd<'_>, PollFlags)> {
        match &self.state {
            State::Net(n) => {
                let events = if n.connected && n.sent == n.request.len() {
                    PollFlags::POLLIN
                } else {
                    PollFlags::POLLOUT
                };
                Some((n.fd.as_fd(), events))
            }
            _ => None,
        }
    }

    /// Start + timeout.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Poll said the descriptor is ready (or on error/hang-up): make what progress there is.
    pub fn on_ready(&mut self) {
        let State::Net(net) = &mut self.state else {
            return;
        };
        let step = net.advance();
        if let (Step::Failed(why), false, Some(n)) = (&step, net.connected, net.next) {
            // localhost: 127.0.0.1 refused, try ::1.
            self.why = why.clone();
            let request = std::mem::take(&mut net.request);
            self.open(n, None, request);
            return;
        }
        self.finish(step);
    }

    /// exec: the child (the leader of its own process group), until [`Attempt::on_exit`]; the
    /// caller reaps it, also after a cancel.
    pub fn exec_pid(&self) -> Option<i32> {
        self.child
    }

    /// The caller reaped [`Attempt::exec_pid`]: exit 0 is success.
    pub fn on_exit(&mut self, status: Status) {
        self.child = None;
        if let State::Exec = self.state {
            self.finish(if status.success() {
                Step::Done
            } else {
                Step::Failed(format!("{status}"))
            });
        }
    }

    /// At or after the deadline: cancels a pending attempt (closes its socket, SIGKILLs its
    /// exec: group), which then failed.
    pub fn on_deadline(&mut self, now: Instant) {
        if now >= self.deadline && self.done().is_none() {
            self.cancel();
            self.why = "timed out".into();
            self.state = State::Done(false);
        }
    }

    fn cancel(&mut self) {
        if let (State::Exec, Some(pid)) = (&self.state, self.child) {
            // SAFETY: plain syscall; the group is the child's own and it is not reaped yet.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl Net {
    fn advance(&mut self) -> Step {
        let fd = self.fd.as_raw_fd();
        if !self.connected {
            let mut err: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: SO_ERROR writes one int into `err`.
            let rc = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut err as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            if rc < 0 {
                return Step::Failed(errno_text(Errno::last()));
            }
            if err != 0 {
                return Step::Failed(errno_text(Errno::from_raw(err)));
            }
            // No error yet: connected, or (a call with no event) still connecting.
            // SAFETY: getpeername writes at most `plen` bytes into `peer`.
            let connected = unsafe {
                let mut peer: libc::sockaddr_storage = std::mem::zeroed();
                let mut plen = size_of_sa(&peer);
                libc::getpeername(
                    fd,
                    (&mut peer as *mut libc::sockaddr_storage).cast(),
                    &mut plen,
                )
            } == 0;
            if !connected {
                return Step::Pending;
            }
            self.connected = true;
        }
        while self.sent < self.request.len() {
            let rest = &self.request[self.sent..];
            // SAFETY: sends from a live buffer; MSG_NOSIGNAL: a closed peer is EPIPE, no SIGPIPE.
            let n = unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
            if n < 0 {
                return match Errno::last() {
                    Errno::EAGAIN | Errno::EINTR => Step::Pending,
                    e => Step::Failed(errno_text(e)),
                };
            }
            self.sent += n as usize;
        }
        if self.request.is_empty() {
            return Step::Done;
        }
        loop {
            let mut buf = [0u8; REPLY_MAX];
            let room = REPLY_MAX - self.reply.len();
            // SAFETY: reads at most `room` bytes into a live buffer.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), room) };
            if n < 0 {
                return match Errno::last() {
                    Errno::EAGAIN | Errno::EINTR => Step::Pending,
                    e => Step::Failed(errno_text(e)),
                };
            }
            self.reply.extend_from_slice(&buf[..n as usize]);
            if n == 0 || self.reply.contains(&b'\n') || self.reply.len() == REPLY_MAX {
                return status(&self.reply);
            }
        }
    }
}

/// The verdict of an HTTP status line: 2xx or 3xx is success.
fn status(reply: &[u8]) -> Step {
    let line = reply.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&b| b == b' ');
    let code = match (words.next(), words.next()) {
        (Some(v), Some(c)) if v.starts_with(b"HTTP/") && c.len() == 3 => std::str::from_utf8(c)
            .ok()
            .and_then(|c| c.parse::<u16>().ok()),
        _ => None,
    };
    match code {
        Some(200..=399) => Step::Done,
        Some(c) => Step::Failed(format!("HTTP status {c}")),
        None if reply.is_empty() => Step::Failed("connection closed with no answer".into()),
        None => Step::Failed("not an HTTP answer".into()),
    }
}

/// A non-blocking, close-on-exec TCP socket with its connection under way: `(fd, connected)`.
fn open_socket(addr: SocketAddr) -> Result<(OwnedFd, bool), Errno> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain syscall; a non-negative result is a descriptor that we own.
    let raw = unsafe { libc::socket(family, flags, 0) };
    if raw < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `raw` is a fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: the socket address structures are plain data; all-zero is a valid value, and
    // connect reads exactly the size given.
    let rc = unsafe {
        match addr {
            SocketAddr::V4(a) => {
                let mut sa: libc::sockaddr_in = std::mem::zeroed();
                sa.sin_family = libc::AF_INET as libc::sa_family_t;
                sa.sin_port = a.port().to_be();
                sa.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
                libc::connect(
                    raw,
                    (&sa as *const libc::sockaddr_in).cast(),
                    size_of_sa(&sa),
                )
            }
            SocketAddr::V6(a) => {
                let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
                sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sa.sin6_port = a.port().to_be();
                sa.sin6_addr.s6_addr = a.ip().octets();
                libc::connect(
                    raw,
                    (&sa as *const libc::sockaddr_in6).cast(),
                    size_of_sa(&sa),
                )
            }
        }
    };
    if rc == 0 {
        return Ok((fd, true));
    }
    match Errno::last() {
        Errno::EINPROGRESS | Errno::EINTR => Ok((fd, false)),
        e => Err(e),
    }
}

fn size_of_sa<T>(sa: &T) -> libc::socklen_t {
    std::mem::size_of_val(sa) as libc::socklen_t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread;

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            parse("tcp:5432").unwrap(),
            ProbeSpec::Tcp {
                host: Host::Localhost,
                port: 5432
            }
        );
        assert_eq!(
            parse("tcp:10.0.0.2:80").unwrap(),
            ProbeSpec::Tcp {
                host: ip("10.0.0.2"),
                port: 80
            }
        );
        assert_eq!(
            parse("tcp:[::1]:65535").unwrap(),
            ProbeSpec::Tcp {
                host: ip("::1"),
                port: 65535
            }
        );
        assert_eq!(
            parse("tcp:[::ffff:127.0.0.1]:80").unwrap(),
            ProbeSpec::Tcp {
                host: ip("::ffff:127.0.0.1"),
                port: 80
            }
        );
        assert_eq!(
            parse("tcp:LocalHost:1").unwrap(),
            ProbeSpec::Tcp {
                host: Host::Localhost,
                port: 1
            }
        );
        assert_eq!(
            parse("http://127.0.0.1:8080/healthz?full=1").unwrap(),
            ProbeSpec::Http {
                host: ip("127.0.0.1"),
                port: 8080,
                authority: "127.0.0.1:8080".into(),
                path: "/healthz?full=1".into()
            }
        );
        assert_eq!(
            parse("http://localhost").unwrap(),
            ProbeSpec::Http {
                host: Host::Localhost,
                port: 80,
                authority: "localhost".into(),
                path: "/".into()
            }
        );
        assert_eq!(
            parse("http://[::1]/").unwrap(),
            ProbeSpec::Http {
                host: ip("::1"),
                port: 80,
                authority: "[::1]".into(),
                path: "/".into()
            }
        );
        assert_eq!(
            parse("file:/run/ready").unwrap(),
            ProbeSpec::File("/run/ready".into())
        );
        assert_eq!(
            parse(r#"exec:pg_isready -q -h "a b""#).unwrap(),
            ProbeSpec::Exec(vec![
                "pg_isready".into(),
                "-q".into(),
                "-h".into(),
                "a b".into()
            ])
        );
        // No label in an exec: command line.
        assert_eq!(
            parse("exec:web: x").unwrap(),
            ProbeSpec::Exec(vec!["web:".into(), "x".into()])
        );
    }

    #[test]
    fn rejects_bad_probes_in_one_line() {
        for bad in [
            "tcp:",
            "tcp:0",
            "tcp:65536",
            "tcp:+80",
            "tcp:db:5432",
            "tcp::80",
            "tcp:[::1]",
            "tcp:::1:80",
            "tcp:[db]:80",
            "tcp:1.2.3:80",
            "tcp:256.0.0.1:80",
            "tcp:[1::2::3]:80",
            "http://example.com/",
            "http://127.0.0.1:0/",
            "http://127.0.0.1/a b",
            "https://127.0.0.1/",
            "file:",
            "exec:",
            "exec:'open",
            "ftp://127.0.0.1/",
            "",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
        let e = parse("http://db:8080/").unwrap_err();
        assert!(e.contains("tcp:") && e.contains("exec:"), "{e}");
        let e = parse("https://127.0.0.1/").unwrap_err();
        assert!(e.contains("tcp:") && e.contains("exec:"), "{e}");
        assert!(parse("tcp:::1:80").unwrap_err().contains("[::1]"));
    }

    /// Runs one attempt to its end through `--check`'s loop.
    fn run(probe: &str, timeout: Duration) -> (bool, String) {
        let spec = parse(probe).unwrap();
        let mut a = [Attempt::start(&spec, timeout, None)];
        crate::check::drive(&mut a);
        let ok = a[0].done().expect("drive leaves no attempt pending");
        (ok, a[0].failure().unwrap_or("").to_string())
    }

    fn free_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[test]
    fn tcp_success_and_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(run(&format!("tcp:127.0.0.1:{port}"), Duration::from_secs(5)).0);
        assert!(run(&format!("tcp:{port}"), Duration::from_secs(5)).0);
        let port = free_port();
        let (ok, why) = run(&format!("tcp:127.0.0.1:{port}"), Duration::from_secs(5));
        assert!(!ok);
        assert_eq!(why, "connection refused");
        // localhost: both addresses refuse; the first one's reason is shown.
        let (ok, why) = run(&format!("tcp:localhost:{port}"), Duration::from_secs(5));
        assert!(!ok);
        assert_eq!(why, "connection refused");
    }

    #[test]
    fn on_ready_without_an_event_is_harmless() {
        // 192.0.2.1 (TEST-NET-1) is never answered: the connection stays under way, or fails.
        let spec = parse("tcp:192.0.2.1:80").unwrap();
        let mut a = Attempt::start(&spec, Duration::from_secs(5), None);
        a.on_ready();
        assert_ne!(a.done(), Some(true));
    }

    #[test]
    fn localhost_falls_back_to_ipv6() {
        let Ok(l) = TcpListener::bind("[::1]:0") else {
            eprintln!("no IPv6 loopback: fallback not tested");
            return;
        };
        let port = l.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            return; // The IPv4 port is taken by someone else: nothing to learn.
        }
        // The IPv4 listener above is dropped at once: 127.0.0.1 refuses, ::1 accepts.
        assert!(run(&format!("tcp:localhost:{port}"), Duration::from_secs(5)).0);
        assert!(
            run(
                &format!("http://localhost:{port}/x"),
                Duration::from_millis(300)
            )
            .1 == "timed out"
        );
    }

    /// Serves one HTTP connection with `answer` (in pieces), and sends back the request it read.
    fn serve(answer: &'static [&'static [u8]]) -> (u16, mpsc::Receiver<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.ends_with(b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&req).into_owned());
            for piece in answer {
                let _ = s.write_all(piece);
                let _ = s.flush();
                thread::sleep(Duration::from_millis(20));
            }
        });
        (port, rx)
    }

    fn http(answer: &'static [&'static [u8]]) -> (bool, String) {
        let (port, _) = serve(answer);
        run(
            &format!("http://127.0.0.1:{port}/ok"),
            Duration::from_secs(5),
        )
    }

    #[test]
    fn http_request_and_statuses() {
        let (port, rx) = serve(&[b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]);
        let (ok, _) = run(
            &format!("http://127.0.0.1:{port}/ok?a=1"),
            Duration::from_secs(5),
        );
        assert!(ok);
        let req = rx.recv().unwrap();
        assert_eq!(
            req,
            format!(
                "GET /ok?a=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: rinit/{}\r\n\
                 Connection: close\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(http(&[b"HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\n"]).0);
        // No reason phrase.
        assert!(http(&[b"HTTP/1.1 200\r\n\r\n"]).0);
        // The status line arriving in pieces.
        assert!(http(&[b"HTTP/1.1 2", b"04 No Content\r", b"\n\r\n"]).0);
        assert_eq!(
            http(&[b"HTTP/1.1 404 Not Found\r\n\r\n"]),
            (false, "HTTP status 404".into())
        );
        assert_eq!(
            http(&[b"HTTP/1.1 500 Oops\r\n\r\n"]),
            (false, "HTTP status 500".into())
        );
        assert_eq!(
            http(&[b"SSH-2.0-OpenSSH_9.6\r\n"]),
            (false, "not an HTTP answer".into())
        );
        assert_eq!(
            http(&[b"HTTP/1.1 2000 OK\r\n"]),
            (false, "not an HTTP answer".into())
        );
        assert_eq!(
            http(&[]),
            (false, "connection closed with no answer".into())
        );
        let port = free_port();
        let (ok, why) = run(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5));
        assert!(!ok);
        assert_eq!(why, "connection refused");
    }

    #[test]
    fn http_timeout_when_nothing_answers() {
        // The kernel completes the connection from the backlog; nobody ever reads or answers.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let started = Instant::now();
        let (ok, why) = run(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_millis(300),
        );
        assert!(!ok);
        assert_eq!(why, "timed out");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(5),
            "{took:?}"
        );
        drop(l);
        // A peer that keeps the connection open and never answers.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let keep = thread::spawn(move || {
            l.accept()
                .map(|(_s, _)| thread::sleep(Duration::from_secs(1)))
        });
        let (ok, why) = run(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_millis(300),
        );
        assert_eq!((ok, why.as_str()), (false, "timed out"));
        let _ = keep.join();
    }

    #[test]
    fn file_exists() {
        let dir = std::env::temp_dir().join(format!("rinit-probe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ready");
        std::fs::write(&f, "").unwrap();
        let spec = parse(&format!("file:{}", f.display())).unwrap();
        // Done at once, with no loop.
        assert_eq!(
            Attempt::start(&spec, Duration::ZERO, None).done(),
            Some(true)
        );
        assert!(run(&format!("file:{}", dir.display()), Duration::ZERO).0);
        let (ok, why) = run(
            &format!("file:{}", dir.join("missing").display()),
            Duration::ZERO,
        );
        assert_eq!((ok, why.as_str()), (false, "no such file or directory"));
        std::os::unix::fs::symlink(dir.join("missing"), dir.join("dangling")).unwrap();
        assert!(
            !run(
                &format!("file:{}", dir.join("dangling").display()),
                Duration::ZERO
            )
            .0
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn exec_exit_codes() {
        assert_eq!(
            run("exec:true", Duration::from_secs(5)),
            (true, String::new())
        );
        assert_eq!(
            run("exec:sh -c 'exit 3'", Duration::from_secs(5)),
            (false, "exited with code 3".into())
        );
        let (ok, why) = run("exec:/nonexistent/probe", Duration::from_secs(5));
        assert!(!ok);
        assert!(why.contains("/nonexistent/probe"), "{why}");
    }

    #[test]
    fn exec_timeout_kills_the_group() {
        let spec = parse("exec:sh -c 'sleep 30 & sleep 30'").unwrap();
        let started = Instant::now();
        let mut a = [Attempt::start(&spec, Duration::from_millis(300), None)];
        let pid = a[0].exec_pid().unwrap();
        crate::check::drive(&mut a);
        assert_eq!(a[0].failure(), Some("timed out"));
        assert!(started.elapsed() < Duration::from_secs(5));
        // The caller still reaps it: killed by SIGKILL, and its whole group with it.
        assert_eq!(a[0].exec_pid(), Some(pid));
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
        let gone = Instant::now() + Duration::from_secs(5);
        while live_in_group(pid) > 0 {
            assert!(Instant::now() < gone, "the group outlived its probe");
            thread::sleep(Duration::from_millis(10));
        }
        a[0].on_exit(Status::Killed(libc::SIGKILL));
        assert_eq!(a[0].exec_pid(), None);
        assert_eq!(a[0].done(), Some(false));
    }

    /// Processes of group `pgid` that are not zombies.
    fn live_in_group(pgid: i32) -> usize {
        let mut n = 0;
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // After the command's closing parenthesis: state, ppid, pgrp.
            let rest: Vec<&str> = stat
                .rsplit_once(')')
                .unwrap()
                .1
                .split_whitespace()
                .collect();
            if rest[2] == pgid.to_string() && rest[0] != "Z" {
                n += 1;
            }
        }
        n
    }

    #[test]
    fn drop_cancels_a_pending_exec() {
        let spec = parse("exec:sleep 30").unwrap();
        let a = Attempt::start(&spec, Duration::from_secs(60), None);
        let pid = a.exec_pid().unwrap();
        assert_eq!(a.done(), None);
        drop(a);
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
    }
}
