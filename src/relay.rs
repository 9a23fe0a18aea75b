//! `--prefix`: relays each `--run` process's stdout and stderr to rinit's own, every line
//! prefixed with `NAME | `. Lines are kept whole, order is kept per stream, a last line without
//! a newline is still delivered, and a writer faster than rinit's reader is slowed down: rinit
//! stops reading its pipe while the output queue is full (back-pressure), never buffering
//! without bound. All of it runs in rinit's one event loop, driven by poll.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

/// Bytes queued for one output before rinit stops reading the pipes that feed it.
const QUEUE_LIMIT: usize = 64 * 1024;
/// A line longer than this is passed on in pieces: the only case where a line is split.
const LINE_LIMIT: usize = 64 * 1024;
/// Writes to a pipe of at most this size are atomic and do not block once poll said POLLOUT.
/// A line longer than this is written whole with blocking writes.
const PIPE_BUF: usize = libc::PIPE_BUF;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

struct Input {
    fd: OwnedFd,
    prefix: Vec<u8>,
    stream: Stream,
    partial: Vec<u8>,
}

#[derive(Default)]
struct Output {
    queue: Vec<u8>,
    /// The reader went away (EPIPE) or the descriptor failed: discard from now on.
    broken: bool,
}

impl Output {
    fn has_room(&self) -> bool {
        self.broken || self.queue.len() < QUEUE_LIMIT
    }
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
    outputs: [Output; 2],
}

fn raw_out(stream: Stream) -> BorrowedFd<'static> {
    // SAFETY: rinit's stdout and stderr stay open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(stream as i32 + 1) }
}

impl Relay {
    pub fn add(&mut self, name: &str, stream: Stream, fd: OwnedFd) {
        let input = Input {
            fd,
            prefix: format!("{name} | ").into_bytes(),
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
        for (i, input) in self.inputs.iter().enumerate() {
            if let Some(input) = input {
                if self.outputs[input.stream as usize].has_room() {
                    v.push((input.fd.as_fd(), true, Slot::Input(i)));
                }
            }
        }
        for stream in [Stream::Stdout, Stream::Stderr] {
            if !self.outputs[stream as usize].queue.is_empty() {
                v.push((raw_out(stream), false, Slot::Output(stream)));
            }
        }
        v
    }

    pub fn ready(&mut self, slot: Slot) {
        match slot {
            Slot::Input(i) => self.read(i, false),
            Slot::Output(s) => self.write_some(s),
        }
    }

    /// Reads what the pipe holds (one buffer's worth); at end of file, delivers the last
    /// partial line and closes the pipe.
    /// `give_up` closes the pipe as if at its end (a writer that will not let go).
    fn read(&mut self, index: usize, give_up: bool) {
        let Some(Some(input)) = self.inputs.get_mut(index) else {
            return;
        };
        let mut buf = [0u8; 16 * 1024];
        let eof = give_up
            || match nix::unistd::read(&input.fd, &mut buf) {
                Ok(0) => true,
                Ok(n) => {
                    input.partial.extend_from_slice(&buf[..n]);
                    false
                }
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => return,
                Err(_) => true,
            };
        let out = &mut self.outputs[input.stream as usize];
        let complete = match input.partial.iter().rposition(|&b| b == b'\n') {
            Some(last) => last + 1,
            None if input.partial.len() >= LINE_LIMIT || (eof && !input.partial.is_empty()) => {
                input.partial.push(b'\n');
                input.partial.len()
            }
            None => 0,
        };
        if complete > 0 && !out.broken {
            for line in input.partial[..complete].split_inclusive(|&b| b == b'\n') {
                out.queue.extend_from_slice(&input.prefix);
                out.queue.extend_from_slice(line);
            }
        }
        input.partial.drain(..complete);
        if eof {
            if !input.partial.is_empty() && !out.broken {
                out.queue.extend_from_slice(&input.prefix);
                out.queue.extend_from_slice(&input.partial);
                out.queue.push(b'\n');
            }
            self.inputs[index] = None;
        }
    }

    /// Writes whole lines only, so that nothing else written to the same stream (rinit's own
    /// log) can land inside a relayed line: as many lines as fit in PIPE_BUF bytes (one write,
    /// which cannot block once poll said POLLOUT), or else the one long line at the head.
    fn write_some(&mut self, stream: Stream) {
        let out = &mut self.outputs[stream as usize];
        let limit = out.queue.len().min(PIPE_BUF);
        let end = match out.queue[..limit].iter().rposition(|&b| b == b'\n') {
            Some(nl) => nl + 1,
            None => out
                .queue
                .iter()
                .position(|&b| b == b'\n')
                .map_or(out.queue.len(), |nl| nl + 1),
        };
        let mut written = 0;
        while written < end {
            match nix::unistd::write(raw_out(stream), &out.queue[written..end]) {
                Ok(n) => written += n,
                Err(Errno::EINTR) => {}
                Err(_) => {
                    out.broken = true;
                    out.queue.clear();
                    return;
                }
            }
        }
        out.queue.drain(..end);
    }

    /// At exit, once every process is gone: read every pipe to its end and write everything.
    pub fn finish(&mut self) {
        for i in 0..self.inputs.len() {
            while let Some(Some(input)) = self.inputs.get(i) {
                let readable = wait_readable(input.fd.as_raw_fd());
                self.read(i, !readable);
                for s in [Stream::Stdout, Stream::Stderr] {
                    self.flush(s);
                }
            }
        }
        for s in [Stream::Stdout, Stream::Stderr] {
            self.flush(s);
        }
    }

    fn flush(&mut self, stream: Stream) {
        while !self.outputs[stream as usize].queue.is_empty() {
            self.write_some(stream);
        }
    }
}

/// Waits for `fd` to be readable or hung up. Used only once every process is gone, so the
/// bound is a safety net for a writer outside rinit's tree that still holds the pipe.
fn wait_readable(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, 1000) > 0 }
}
