//! What rinit was asked to do, once the command line and the environment are parsed and checked
//! (`cli`). Everything here is plain data: the supervisor, the relay and the logger read it.

#![allow(dead_code)] // Until the second round uses every field.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use crate::probe::ProbeSpec;
use crate::signals::{Rewrite, Signo};
use crate::users::Identity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Never,
    OnFailure,
    Always,
}

/// The tool rinit was invoked as (argv[0]): it keeps that tool's defaults and reads its variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    Rinit,
    /// `tini`, `tini-static`, `docker-init`.
    Tini,
    DumbInit,
}

/// The name rinit speaks as in its error and log lines: `rinit`, `tini` (also for `tini-static`
/// and `docker-init`) or `dumb-init`.
pub fn prog_name(p: Personality) -> &'static str {
    match p {
        Personality::Rinit => "rinit",
        Personality::Tini => "tini",
        Personality::DumbInit => "dumb-init",
    }
}

/// `exit=`: what happens when a `--run` process exits for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExitAction {
    /// Stop everything (the default).
    #[default]
    Stop,
    /// Nothing else is stopped; rinit ends when nothing supervised is left.
    Ignore,
}

/// `--stop-order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopOrder {
    #[default]
    Parallel,
    Reverse,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Plain,
    Json,
}

/// Per-process options from a CMDLINE label (`NAME,KEY=VALUE...: PROGRAM ...`), with `--user`
/// already applied as the default `user`.
#[derive(Debug, Clone, Default)]
pub struct ProcOptions {
    /// `ready=PROBE` (`--run` only).
    pub ready: Option<ProbeSpec>,
    /// `restart=` (`--run` only); `None`: `--restart`.
    pub restart: Option<RestartPolicy>,
    /// `exit=` (`--run` only).
    pub exit: ExitAction,
    /// `stop=SIGNAL`: sent in every stop instead of the stop signal.
    pub stop: Option<Signo>,
    /// `grace=DURATION`: this process's share under `--stop-order reverse`.
    pub grace: Option<Duration>,
    /// `user=` (or `--user`), resolved at start-up.
    pub user: Option<Identity>,
    /// `dir=PATH`.
    pub dir: Option<PathBuf>,
    /// `env=K=V`, in order.
    pub env: Vec<(OsString, OsString)>,
}

/// What kind of process a [`ProcSpec`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `--task`: one-shot, before everything else.
    Task,
    /// `--run`: supervised.
    Run,
    /// `-- COMMAND`: supervised, never restarted, owns the terminal, no label.
    Main,
    /// `--pre-stop`.
    PreStop,
    /// An `exec:` probe.
    Probe,
}

/// One process rinit starts.
#[derive(Debug, Clone)]
pub struct ProcSpec {
    /// Unique among `--task`, `--run` and the main COMMAND; safe to print (no control characters).
    pub name: String,
    pub argv: Vec<OsString>,
    pub role: Role,
    pub opts: ProcOptions,
}

impl ProcSpec {
    /// The `-- COMMAND` process.
    pub fn is_main(&self) -> bool {
        self.role == Role::Main
    }
}

/// `--watch SIGNAL[:NAME]=PATH`.
#[derive(Debug, Clone)]
pub struct Watch {
    pub signal: Signo,
    /// The process to signal; `None`: the main COMMAND if there is one, else every `--run` process.
    pub target: Option<String>,
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Invoked as.
    pub personality: Personality,
    /// `--task` steps, in order.
    pub tasks: Vec<ProcSpec>,
    /// Supervised processes in start order: the `--run` processes, then the main COMMAND.
    pub procs: Vec<ProcSpec>,
    pub single_child: bool,
    pub rewrite: Rewrite,
    /// Received signals that begin a stop (matched before `--rewrite`); default TERM, INT.
    pub stop_signals: Vec<Signo>,
    pub subreaper: bool,
    pub pdeathsig: Option<Signo>,
    pub remap_exit: Vec<i32>,
    pub warn_on_reap: bool,
    pub pre_stop_delay: Duration,
    pub pre_stop: Option<ProcSpec>,
    pub grace_period: Duration,
    pub restart: RestartPolicy,
    pub prefix: bool,
    /// `--ready-timeout`; `None` = no limit (`0`).
    pub ready_timeout: Option<Duration>,
    pub stop_order: StopOrder,
    /// `--user`: also the identity of `exec:` probes (every ProcSpec already has it applied).
    pub user: Option<Identity>,
    pub watches: Vec<Watch>,
    pub log_format: LogFormat,
    /// `--run` or `--task` was used: log every start, exit and restart.
    pub multi: bool,
    pub log_level: LevelFilter,
    /// `RINIT_LOG`, already checked: `(module prefix or None for all, level)` pairs.
    pub log_filters: Vec<(Option<String>, LevelFilter)>,
}
