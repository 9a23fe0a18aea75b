//! Relaying: each captured process's stdout and stderr to rinit's own, line by line
//! (`NAME | LINE`, or one JSON object a line), and rinit's own log lines to its stderr.
//!
//! Nothing here ever blocks PID 1. rinit never sets O_NONBLOCK on the stdout/stderr it
//! inherited (the main process shares that open file description). Instead each output is a
//! *sink* that writes only what cannot block:
//! - a pipe, FIFO or terminal is reopened through `/proc/self/fd/N`: a descriptor of rinit's
//!   own (a new open file description, checked to be the same file) that rinit may make
//!   non-blocking; EAGAIN then means "wait for POLLOUT";
//! - a socket is written with `send(MSG_DONTWAIT)`, which is non-blocking per call;
//! - anything else (a file, /dev/null, or a pipe when /proc is unusable) gets one piece of at
//!   most PIPE_BUF bytes at a time, only while poll says POLLOUT: a pipe with a free slot
//!   takes such a write without blocking.
//!
//! Each sink has one bounded queue, shared by relayed lines and rinit's own log lines, written
//! in order from its head in pieces of at most PIPE_BUF bytes cut after a newline where one
//! is: rinit's lines and relayed lines never land inside each other, and a piece of at most
//! PIPE_BUF bytes is atomic against other writers of the same pipe. While a queue is full,
//! rinit stops reading the pipes that feed it (back-pressure on the writers). A stalled reader
//! holds output, never a stop: at exit what cannot be written within [`FINAL_FLUSH`] is
//! dropped and counted in rinit's log.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use crate::logging;

/// Bytes queued for one output before rinit stops reading the pipes that feed it.
const QUEUE_LIMIT: usize = 64 * 1024;
/// rinit's own log lines may queue a little further; past this they are dropped and counted.
const LOG_LIMIT: usize = QUEUE_LIMIT + 16 * 1024;
/// A line longer than this is passed on in pieces of this size: the only case where a line
/// is split.
const LINE_LIMIT: usize = 64 * 1024;
/// A write of at most this size to a pipe is atomic, and does not block once poll said POLLOUT.
const PIPE_BUF: usize = libc::PIPE_BUF;
/// At exit, once every process is gone: how long rinit keeps writing what is left.
const FINAL_FLUSH: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Not looked at yet.
    Unopened,
    /// rinit's own non-blocking descriptor, reopened from /proc/self/fd/N.
    Own,
    /// A socket: `send(MSG_DONTWAIT)`.
    Socket,
    /// The inherited descriptor itself: one PIPE_BUF piece while POLLOUT.
    Shared,
}

struct Sink {
    fd: RawFd,
    kind: Kind,
    /// Bytes to write are `queue[head..]`; written ones are dropped from the front in bulk.
    queue: Vec<u8>,
    head: usize,
    /// The reader went away (EPIPE) or the descriptor failed: discard from now on.
    broken: bool,
    /// Bytes discarded (broken, full, or left at exit).
    dropped: u64,
}

impl Sink {
    const fn new(fd: RawFd) -> Sink {
        Sink {
            fd,
            kind: Kind::Unopened,
            queue: Vec::new(),
            head: 0,
            broken: false,
            dropped: 0,
        }
    }

    fn open(&mut self) {
        if self.kind != Kind::Unopened {
            return;
        }
        self.kind = Kind::Shared;
        let Some(st) = fstat(self.fd) else { return };
        let kind = st.st_mode & libc::S_IFMT;
        if kind == libc::S_IFSOCK {
            self.kind = Kind::Socket;
        } else if kind == libc::S_IFIFO
            // SAFETY: isatty on a descriptor number.
            || (kind == libc::S_IFCHR && unsafe { libc::isatty(self.fd) } == 1)
        {
            if let Some(fd) = reopen(self.fd, &st) {
                self.fd = fd;
                self.kind = Kind::Own;
            }
        }
    }

    fn pending(&self) -> bool {
        !self.broken && self.queued() > 0
    }

    fn has_room(&self) -> bool {
        self.broken || self.queued() < QUEUE_LIMIT
    }

    /// Queues whole lines, or counts them as dropped when the sink is broken or, with
    /// `limit`, too full.
    fn put(&mut self, lines: &[u8], limit: Option<usize>) {
        self.open();
        if self.broken || limit.is_some_and(|l| self.queued() + lines.len() > l) {
            self.dropped += lines.len() as u64;
        } else {
            self.queue.extend_from_slice(lines);
            self.push();
        }
    }

    /// Writes from the head of the queue as long as that cannot block.
    fn push(&mut self) {
        let mut done = self.head;
        while !self.broken && done < self.queue.len() {
            let rest = &self.queue[done..];
            let head = &rest[..rest.len().min(PIPE_BUF)];
            let len = if head.len() < rest.len() {
                head.iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(head.len(), |i| i + 1)
            } else {
                head.len()
            };
            if self.kind == Kind::Shared && !writable_now(self.fd) {
                break;
            }
            let ptr = rest.as_ptr().cast();
            // SAFETY: `len` bytes of the queue are valid for reads.
            let n = unsafe {
                match self.kind {
                    Kind::Socket => {
                        libc::send(self.fd, ptr, len, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
                    }
                    _ => libc::write(self.fd, ptr, len),
                }
            };
            if n > 0 {
                done += n as usize;
                continue;
            }
            match std::io::Error::last_os_error().raw_os_error() {
                _ if n == 0 => break,
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => break,
                _ => {
                    self.broken = true;
                    self.dropped += (self.queue.len() - done) as u64;
                    self.queue = Vec::new();
                    self.head = 0;
                    return;
                }
            }
        }
        self.head = done;
        if self.head == self.queue.len() {
            self.queue.clear();
            self.head = 0;
        } else if self.head >= QUEUE_LIMIT / 2 {
            self.queue.drain(..self.head);
            self.head = 0;
        }
    }

    fn queued(&self) -> usize {
        self.queue.len() - self.head
    }

    /// Counts what is still queued as dropped.
    fn discard(&mut self) {
        self.dropped += self.queued() as u64;
        self.queue.clear();
        self.head = 0;
    }
}

static SINKS: Mutex<[Sink; 2]> = Mutex::new([Sink::new(1), Sink::new(2)]);

/// The sinks, unless they are in use further up the stack (then the caller drops its line: a
/// log line written while the relay writes, which cannot happen today).
fn sinks() -> Option<MutexGuard<'static, [Sink; 2]>> {
    match SINKS.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// One of rinit's own log lines (newline included) to its stderr.
pub fn emit_own(line: &[u8]) {
    if let Some(mut s) = sinks() {
        s[Stream::Stderr as usize].put(line, Some(LOG_LIMIT));
    }
}

fn fstat(fd: RawFd) -> Option<libc::stat> {
    // SAFETY: stat is plain data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a stat buffer.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st)
}

/// A non-blocking descriptor of rinit's own for the same pipe or terminal as `fd`.
fn reopen(fd: RawFd, st: &libc::stat) -> Option<RawFd> {
    let path = format!("/proc/self/fd/{fd}\0");
    let flags = libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: a NUL-terminated path.
    let new = unsafe { libc::open(path.as_ptr().cast(), flags) };
    if new < 0 {
        return None;
    }
    match fstat(new) {
        Some(n) if (n.st_dev, n.st_ino, n.st_rdev) == (st.st_dev, st.st_ino, st.st_rdev) => {
            Some(new)
        }
        _ => {
            // SAFETY: closing the descriptor just opened.
            unsafe { libc::close(new) };
            None
        }
    }
}

fn writable_now(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    // Any event (POLLERR too): the write then tells what it is.
    unsafe { libc::poll(&mut p, 1, 0) == 1 && p.revents != 0 }
}

struct Input {
    fd: OwnedFd,
    name: String,
    stream: Stream,
    partial: Vec<u8>,
}

/// What a poll slot watches.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    Input(usize),
    Output(Stream),
}

#[derive(Default)]
pub struct Relay {
    inputs: Vec<Option<Input>>,
}

impl Relay {
    pub fn add(&mut self, name: &str, stream: Stream, fd: OwnedFd) {
        let input = Input {
            fd,
            name: logging::sanitize(name),
            stream,
            partial: Vec::new(),
        };
        match self.inputs.iter_mut().find(|i| i.is_none()) {
            Some(free) => *free = Some(input),
            None => self.inputs.push(Some(input)),
        }
    }

    /// The descriptors to poll now: pipes whose output has room (readable), outputs with
    /// something queued (writable).
    pub fn interest(&self) -> Vec<(BorrowedFd<'_>, bool, Slot)> {
        let mut v = Vec::new();
        let Some(sinks) = sinks() else { return v };
        for (i, input) in self.inputs.iter().enumerate() {
            if let Some(input) = input {
                if sinks[input.stream as usize].has_room() {
                    v.push((input.fd.as_fd(), true, Slot::Input(i)));
                }
            }
        }
        for stream in [Stream::Stdout, Stream::Stderr] {
            let sink = &sinks[stream as usize];
            if sink.pending() {
                // SAFETY: a sink's descriptor stays open for the life of the process.
                v.push((
                    unsafe { BorrowedFd::borrow_raw(sink.fd) },
                    false,
                    Slot::Output(stream),
                ));
            }
        }
        v
    }

    pub fn ready(&mut self, slot: Slot) {
        match slot {
            Slot::Input(i) => self.read(i),
            Slot::Output(s) => {
                if let Some(mut sinks) = sinks() {
                    sinks[s as usize].push();
                }
            }
        }
    }

    /// Reads what the pipe holds (one buffer's worth) and passes on every complete line, and
    /// each LINE_LIMIT piece of a longer one; at end of file, also the last partial line, and
    /// closes the pipe.
    fn read(&mut self, index: usize) {
        let Some(Some(input)) = self.inputs.get_mut(index) else {
            return;
        };
        let mut buf = [0u8; 16 * 1024];
        let eof = match nix::unistd::read(&input.fd, &mut buf) {
            Ok(0) => true,
            Ok(n) => {
                input.partial.extend_from_slice(&buf[..n]);
                false
            }
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => return,
            Err(_) => true,
        };
        let Some(mut sinks) = sinks() else { return };
        let sink = &mut sinks[input.stream as usize];
        sink.open();
        let mut start = 0;
        loop {
            let rest = &input.partial[start..];
            let window = &rest[..rest.len().min(LINE_LIMIT + 1)];
            let (line, used) = match window.iter().position(|&b| b == b'\n') {
                Some(nl) if nl <= LINE_LIMIT => (&rest[..nl], nl + 1),
                _ if rest.len() >= LINE_LIMIT => (&rest[..LINE_LIMIT], LINE_LIMIT),
                _ if eof && !rest.is_empty() => (rest, rest.len()),
                _ => break,
            };
            if sink.broken {
                sink.dropped += used as u64;
            } else {
                // Straight into the queue: no copy, no allocation per read.
                logging::relayed_line(&mut sink.queue, &input.name, input.stream, line);
            }
            start += used;
        }
        input.partial.drain(..start);
        sink.push();
        drop(sinks);
        if eof {
            self.inputs[index] = None;
        }
    }

    /// At exit, once every process is gone: reads every pipe to its end and writes what it
    /// can within [`FINAL_FLUSH`]; the rest is dropped, and every drop is counted in the log.
    pub fn finish(&mut self) {
        let deadline = Instant::now() + FINAL_FLUSH;
        loop {
            let interest = self.interest();
            let left = deadline.saturating_duration_since(Instant::now());
            if interest.is_empty() || left.is_zero() {
                break;
            }
            let mut fds: Vec<libc::pollfd> = interest
                .iter()
                .map(|(fd, read, _)| libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: if *read { libc::POLLIN } else { libc::POLLOUT },
                    revents: 0,
                })
                .collect();
            let slots: Vec<Slot> = interest.iter().map(|i| i.2).collect();
            drop(interest);
            let ms = left.as_millis().clamp(1, 1000) as libc::c_int;
            // SAFETY: a valid array of pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            if n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
            for (p, slot) in fds.iter().zip(slots) {
                if p.revents != 0 {
                    self.ready(slot);
                }
            }
        }
        self.give_up();
    }

    /// Drops (and counts) whatever is still unread or unwritten, and says so.
    fn give_up(&mut self) {
        let Some(mut sinks) = sinks() else { return };
        for input in self.inputs.iter_mut().filter_map(Option::take) {
            let mut unread: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int.
            unsafe { libc::ioctl(input.fd.as_raw_fd(), libc::FIONREAD, &mut unread) };
            sinks[input.stream as usize].dropped +=
                (input.partial.len() + usize::try_from(unread).unwrap_or(0)) as u64;
        }
        let mut report = Vec::new();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let sink = &mut sinks[stream as usize];
            sink.discard();
            if sink.dropped > 0 {
                let why = if sink.broken {
                    "closed"
                } else {
                    "not writable"
                };
                report.push(format!(
                    "dropped {} bytes of output: {} {why}",
                    sink.dropped,
                    stream.name()
                ));
                sink.dropped = 0;
            }
        }
        drop(sinks);
        for line in report {
            log::warn!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_lines_whole() {
        let mut s = Sink::new(-1);
        s.kind = Kind::Own;
        // A bad descriptor breaks the sink: everything counts as dropped, nothing panics.
        s.put(b"one\ntwo\n", None);
        assert!(s.broken);
        assert_eq!(s.dropped, 8);
        s.put(b"three\n", Some(1));
        assert_eq!(s.dropped, 14);
    }

    #[test]
    fn writes_through_a_stalled_pipe_never_block() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut s = Sink::new(w.as_raw_fd());
        let line = vec![b'x'; 1000];
        let mut many = Vec::new();
        for _ in 0..200 {
            many.extend_from_slice(&line);
            many.push(b'\n');
        }
        // 200 KB into a 64 KiB pipe nobody reads: what fits is written, the rest stays queued.
        s.put(&many, None);
        assert!(s.pending());
        assert!(!s.broken);
        assert!(s.queued() < many.len());
        // Whole lines only reached the pipe.
        let written = many.len() - s.queued();
        assert_eq!(written % 1001, 0);
        drop(r);
        s.push();
        assert!(s.broken);
    }
}
