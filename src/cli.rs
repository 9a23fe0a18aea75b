//! The command line and environment, turned into a [`Config`]. Usage errors end here: one line
//! on stderr prefixed with the name rinit was invoked as, the usage hint, exit code 2 (1 under
//! tini's and dumb-init's names). `--check` is routed before anything else ([`check_request`]).

use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

use log::LevelFilter;

use crate::cmdline::{self, CmdLine};
use crate::config::{
    prog_name, Config, LogFormat, Personality, ProcOptions, ProcSpec, RestartPolicy, Role,
    StopOrder, Watch,
};
use crate::jobcontrol;
use crate::signals::{self, Rewrite, Signo};
use crate::users::{Identity, Users};

const LICENSE: &str = include_str!("../LICENSE");
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The tini version rinit reports under tini's names (`docker info` parses it).
const TINI_VERSION: &str = "0.19.0";
/// The dumb-init version rinit reports under dumb-init's name.
const DUMB_INIT_VERSION: &str = "1.2.5";

const HELP: &str = "\
{prog}: a container init. Runs COMMAND (and --run processes) as children, forwards signals to
them, reaps zombies, stops everything gracefully and exits with the first exit code.

Usage: {prog} [OPTIONS] [--] COMMAND [ARG...]
       {prog} [OPTIONS] --run CMDLINE [--run CMDLINE...] [-- COMMAND [ARG...]]
       {prog} --check PROBE [--check PROBE...] [--check-timeout DURATION]

Options, [with their variable]. A flag beats its variable; an empty RINIT_* variable is unset.
  -c, --single-child        forward signals to the main process only [DUMB_INIT_SETSID=0]
  -g                        forward to the process group (rinit's default)
                            [TINI_KILL_PROCESS_GROUP]
  -r, --rewrite FROM:TO     rewrite a received signal before forwarding (names or numbers,
                            TO=0 drops it); repeatable [RINIT_REWRITE=FROM:TO,...]
  -s, --subreaper           be a child subreaper (automatic when not PID 1) [TINI_SUBREAPER]
  -p, --pdeathsig SIGNAL    signal rinit receives when its parent dies [RINIT_PDEATHSIG]
  -e, --remap-exit CODE     rinit's exit code CODE becomes 0, whichever process it came
                            from; repeatable [RINIT_REMAP_EXIT=CODE,...]
  -w, --warn-on-reap        log a warning for every orphan reaped
  -v, --verbose             more of rinit's logging on stderr; repeatable
                            [RINIT_LOG, TINI_VERBOSITY, DUMB_INIT_DEBUG=1]
      --log-format FORMAT   plain (default) or json [RINIT_LOG_FORMAT]
      --stop-signals LIST   received signals that begin a stop (default TERM,INT)
                            [RINIT_STOP_SIGNALS]
      --pre-stop CMDLINE    on a stop signal, run this first and wait for it [RINIT_PRE_STOP]
      --pre-stop-delay DURATION
                            on a stop signal, wait this long first (default 0)
                            [RINIT_PRE_STOP_DELAY]
      --grace-period DURATION
                            time to exit after the stop signal, then SIGKILL (default 10s)
                            [RINIT_GRACE_PERIOD]
      --stop-order ORDER    parallel (default) or reverse [RINIT_STOP_ORDER]
      --task CMDLINE        a one-shot step, run to completion before the rest; repeatable
      --run CMDLINE         a supervised process; repeatable
      --restart POLICY      never (default), on-failure or always [RINIT_RESTART]
      --ready-timeout DURATION
                            how long a ready= probe may fail (default 60s, 0: no limit)
                            [RINIT_READY_TIMEOUT]
      --user USER[:GROUP]   default user of every process (or UID[:GID]) [RINIT_USER]
      --watch SIGNAL[:NAME]=PATH
                            when PATH changes, send SIGNAL to NAME (default: the main
                            COMMAND, else every --run process); repeatable
      --prefix              prefix each output line of a --run process with 'NAME | '
                            [RINIT_PREFIX=1]
      --check PROBE         run PROBE once, start nothing, exit 0 or 1; repeatable
      --check-timeout DURATION
                            time allowed to all --check probes (default 5s)
  -h, --help  -V, --version  -l, --license

CMDLINE: [NAME[,KEY=VALUE...]: ]PROGRAM [ARG...], split into words like a shell does.
  keys: ready=PROBE restart=POLICY exit=stop|ignore (--run); stop=SIGNAL grace=DURATION
  (--run, --task); user=USER[:GROUP] dir=PATH env=K=V (any; env repeatable)
PROBE: tcp:[HOST:]PORT, http://HOST[:PORT]/PATH, file:PATH, exec:CMDLINE
DURATION: 250ms, 10s, 2m, 1m30s, 100y, or a number of seconds (0.5)

Exit code: the first supervised process's (128+N if signal N killed it), after -e; 127 when
the program was not found, 126 when it could not be run; a usage error 2 (1 as tini or
dumb-init); --check 0 when every probe succeeds, else 1.
";

/// Every option, by the name used in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    SingleChild,
    Group,
    Rewrite,
    Subreaper,
    Pdeathsig,
    RemapExit,
    WarnOnReap,
    Verbose,
    LogFormat,
    StopSignals,
    PreStop,
    PreStopDelay,
    GracePeriod,
    StopOrder,
    Task,
    Run,
    Restart,
    ReadyTimeout,
    User,
    Watch,
    Prefix,
    Check,
    CheckTimeout,
    Help,
    Version,
    License,
}

/// (short, long, option, takes a value)
const OPTIONS: &[(Option<char>, &str, Opt, bool)] = &[
    (Some('c'), "single-child", Opt::SingleChild, false),
    (Some('g'), "", Opt::Group, false),
    (Some('r'), "rewrite", Opt::Rewrite, true),
    (Some('s'), "subreaper", Opt::Subreaper, false),
    (Some('p'), "pdeathsig", Opt::Pdeathsig, true),
    (Some('e'), "remap-exit", Opt::RemapExit, true),
    (Some('w'), "warn-on-reap", Opt::WarnOnReap, false),
    (Some('v'), "verbose", Opt::Verbose, false),
    (None, "log-format", Opt::LogFormat, true),
    (None, "stop-signals", Opt::StopSignals, true),
    (None, "pre-stop", Opt::PreStop, true),
    (None, "pre-stop-delay", Opt::PreStopDelay, true),
    (None, "grace-period", Opt::GracePeriod, true),
    (None, "stop-order", Opt::StopOrder, true),
    (None, "task", Opt::Task, true),
    (None, "run", Opt::Run, true),
    (None, "restart", Opt::Restart, true),
    (None, "ready-timeout", Opt::ReadyTimeout, true),
    (None, "user", Opt::User, true),
    (None, "watch", Opt::Watch, true),
    (None, "prefix", Opt::Prefix, false),
    (None, "check", Opt::Check, true),
    (None, "check-timeout", Opt::CheckTimeout, true),
    (Some('h'), "help", Opt::Help, false),
    (Some('V'), "version", Opt::Version, false),
    (Some('l'), "license", Opt::License, false),
];

/// The name of an option in messages: its long form, else its short one.
fn flag(opt: Opt) -> String {
    match OPTIONS.iter().find(|o| o.2 == opt) {
        Some((_, long, _, _)) if !long.is_empty() => format!("--{long}"),
        Some((Some(short), _, _, _)) => format!("-{short}"),
        _ => "?".to_string(),
    }
}

enum Item {
    Opt(Opt, Option<OsString>),
    /// A usage error found while reading the words, in its place; with the option it concerns
    /// when known (`--check` with no value still asks for check mode).
    Error(String, Option<Opt>),
}

/// The command line, read but not interpreted.
struct Lexed {
    items: Vec<Item>,
    /// The main COMMAND: from the first word that is not an option, or after `--`.
    command: Vec<OsString>,
}

fn lex(raw: &[OsString]) -> Lexed {
    let mut parser = lexopt::Parser::from_args(raw.iter().skip(1).cloned());
    let mut items = Vec::new();
    let mut command = Vec::new();
    loop {
        let arg = match parser.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(e) => {
                items.push(Item::Error(lex_error(e), None));
                continue;
            }
        };
        let found = match arg {
            lexopt::Arg::Value(v) => {
                command.push(v);
                if let Ok(rest) = parser.raw_args() {
                    command.extend(rest);
                }
                break;
            }
            lexopt::Arg::Short(c) => OPTIONS
                .iter()
                .find(|o| o.0 == Some(c))
                .ok_or_else(|| format!("unknown option '-{c}'")),
            lexopt::Arg::Long(l) => OPTIONS
                .iter()
                .find(|o| !o.1.is_empty() && o.1 == l)
                .ok_or_else(|| format!("unknown option '--{l}'")),
        };
        match found {
            Ok(&(_, _, opt, true)) => match parser.value() {
                Ok(v) => items.push(Item::Opt(opt, Some(v))),
                Err(_) => items.push(Item::Error(
                    format!("{} needs a value", flag(opt)),
                    Some(opt),
                )),
            },
            Ok(&(_, _, opt, false)) => items.push(Item::Opt(opt, None)),
            Err(e) => items.push(Item::Error(e, None)),
        }
    }
    Lexed { items, command }
}

fn lex_error(e: lexopt::Error) -> String {
    match e {
        lexopt::Error::UnexpectedValue { option, .. } => format!("{option} takes no value"),
        other => other.to_string(),
    }
}

/// Text of an option's value (always present for options that take one).
fn text(opt: Opt, value: &Option<OsString>) -> Result<String, String> {
    let v = value.clone().unwrap_or_default();
    v.into_string().map_err(|v| {
        format!(
            "{}: '{}' is not valid UTF-8",
            flag(opt),
            v.to_string_lossy()
        )
    })
}

fn personality_from_argv0(argv0: &str) -> Personality {
    match cmdline::base_name(argv0).as_str() {
        "tini" | "tini-static" | "docker-init" => Personality::Tini,
        "dumb-init" => Personality::DumbInit,
        _ => Personality::Rinit,
    }
}

fn personality_of(raw: &[OsString]) -> Personality {
    personality_from_argv0(&raw.first().map(|a| a.to_string_lossy()).unwrap_or_default())
}

/// DURATION: `250ms`, `10s`, `2m`, `1m30s`, `100y`; a bare number is seconds, with decimals
/// (`0.5`). At most 100 years (of 365.25 days, as humantime counts them), so that every deadline
/// rinit computes from it stays representable.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const LONGEST: Duration = Duration::from_secs(100 * 31_557_600);
    let t = text.trim();
    if t.starts_with('-') {
        return Err("a duration cannot be negative".to_string());
    }
    let too_long = || format!("'{text}' is too long (at most 100 years)");
    let d = match decimal_seconds(t) {
        Some(d) => d.ok_or_else(too_long)?,
        None => humantime::parse_duration(t).map_err(|e| {
            format!("'{text}': {e} (write e.g. 250ms, 10s, 2m, 1m30s, or a number of seconds)")
        })?,
    };
    if d > LONGEST {
        return Err(too_long());
    }
    Ok(d)
}

/// `12` or `0.25`: `None` when `t` is not such a number, `Some(None)` when it overflows.
fn decimal_seconds(t: &str) -> Option<Option<Duration>> {
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    let Ok(secs) = whole.parse::<u64>() else {
        return Some(None);
    };
    let mut nanos: u32 = 0;
    let mut scale: u32 = 100_000_000;
    for b in frac.unwrap_or("").bytes().take(9) {
        nanos += u32::from(b - b'0') * scale;
        scale /= 10;
    }
    Some(Some(Duration::new(secs, nanos)))
}

/// An `RINIT_*` variable: `None` when unset or empty.
fn var(name: &str) -> Result<Option<String>, String> {
    match std::env::var_os(name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .into_string()
            .map(Some)
            .map_err(|_| format!("{name}: not valid UTF-8")),
    }
}

/// A variable as a C program reads it with getenv: present (even empty) or not.
fn present(name: &str) -> bool {
    std::env::var_os(name).is_some()
}

/// A variable compared as a C program compares it (`strcmp(getenv(name), want) == 0`).
fn equals(name: &str, want: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == want)
}

/// `atoi` without its undefined overflow: leading blanks, a sign, digits; a huge value is the
/// largest, a negative one 0, anything else 0.
fn atoi_saturating(text: &str) -> usize {
    let t = text.trim_start();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: usize = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(usize::from(b - b'0'));
    }
    if negative {
        0
    } else {
        n
    }
}

fn write_out(to_stderr: bool, text: &str) {
    // A closed stdout or stderr must not turn help into a panic.
    let _ = if to_stderr {
        std::io::stderr().write_all(text.as_bytes())
    } else {
        std::io::stdout().write_all(text.as_bytes())
    };
}

/// Prints a usage error and exits: 2 as rinit, 1 under tini's and dumb-init's names.
pub fn usage_error(p: Personality, message: &str) -> ! {
    let prog = prog_name(p);
    write_out(
        true,
        &format!(
            "{prog}: {message}\nusage: {prog} [OPTIONS] [--] COMMAND [ARG...]   or   {prog} \
             [OPTIONS] --run CMDLINE [--run CMDLINE...] [-- COMMAND [ARG...]]\nTry '{prog} \
             --help' for more information.\n"
        ),
    );
    std::process::exit(if p == Personality::Rinit { 2 } else { 1 })
}

/// `--check`: when the command line asks for it, the probes and the timeout. Reads no variable
/// and no other option. Any usage error in check mode is one line on stderr and exit 1 (never 2:
/// Docker reserves it).
pub fn check_request(raw: &[OsString]) -> Option<(Vec<String>, Duration)> {
    let lexed = lex(raw);
    if !lexed.items.iter().any(|i| {
        matches!(
            i,
            Item::Opt(Opt::Check, _) | Item::Error(_, Some(Opt::Check))
        )
    }) {
        return None;
    }
    let p = personality_of(raw);
    match check_args(&lexed) {
        Ok(r) => Some(r),
        Err(message) => {
            write_out(true, &format!("{}: --check: {message}\n", prog_name(p)));
            std::process::exit(1)
        }
    }
}

fn check_args(lexed: &Lexed) -> Result<(Vec<String>, Duration), String> {
    let mut probes = Vec::new();
    let mut timeout = Duration::from_secs(5);
    for item in &lexed.items {
        match item {
            Item::Error(e, _) => return Err(e.clone()),
            Item::Opt(Opt::Check, v) => probes.push(text(Opt::Check, v)?),
            Item::Opt(Opt::CheckTimeout, v) => {
                timeout = parse_duration(&text(Opt::CheckTimeout, v)?)
                    .map_err(|e| format!("--check-timeout: {e}"))?;
                if timeout.is_zero() {
                    return Err("--check-timeout: 0 leaves no time for the probes".to_string());
                }
            }
            Item::Opt(opt, _) => {
                return Err(format!(
                    "{} cannot be combined with --check (only --check-timeout can)",
                    flag(*opt)
                ))
            }
        }
    }
    if let Some(first) = lexed.command.first() {
        return Err(format!(
            "cannot be combined with a command ('{}')",
            cmdline::sanitize(&first.to_string_lossy())
        ));
    }
    Ok((probes, timeout))
}

/// The options as given on the command line, before the environment fills the gaps.
#[derive(Default)]
struct Flags {
    single_child: bool,
    group: bool,
    rewrite: Vec<(Signo, Signo)>,
    subreaper: bool,
    pdeathsig: Option<Signo>,
    remap_exit: Vec<i32>,
    warn_on_reap: bool,
    verbose: usize,
    log_format: Option<LogFormat>,
    stop_signals: Vec<Signo>,
    pre_stop: Option<String>,
    pre_stop_delay: Option<Duration>,
    grace_period: Option<Duration>,
    stop_order: Option<StopOrder>,
    tasks: Vec<String>,
    runs: Vec<String>,
    restart: Option<RestartPolicy>,
    ready_timeout: Option<Duration>,
    user: Option<String>,
    watches: Vec<String>,
    prefix: bool,
}

/// What the command line asks for besides running: help, version, licence.
enum Action {
    Help,
    Version,
    License,
}

fn parse_remap(text: &str) -> Result<i32, String> {
    text.trim()
        .parse::<u8>()
        .map(i32::from)
        .map_err(|_| format!("'{text}' is not an exit code (0-255)"))
}

fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "plain" => Ok(LogFormat::Plain),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("unknown log format '{text}' (plain or json)")),
    }
}

fn parse_stop_order(text: &str) -> Result<StopOrder, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "parallel" => Ok(StopOrder::Parallel),
        "reverse" => Ok(StopOrder::Reverse),
        _ => Err(format!("unknown stop order '{text}' (parallel or reverse)")),
    }
}

fn parse_signal_list(text: &str) -> Result<Vec<Signo>, String> {
    let list: Vec<Signo> = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(signals::parse)
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err("no signal given".to_string());
    }
    Ok(list)
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "y" => Ok(true),
        "0" | "false" | "no" | "off" | "n" => Ok(false),
        _ => Err(format!(
            "'{text}' is not 1 or 0 (true, false, yes, no, on, off)"
        )),
    }
}

/// An option's error, naming the option.
fn named<T>(opt: Opt, r: Result<T, String>) -> Result<T, String> {
    r.map_err(|e| format!("{}: {e}", flag(opt)))
}

/// Reads the options in order; the first error, help, version or licence ends the reading.
fn read_flags(lexed: &Lexed) -> Result<Result<Flags, Action>, String> {
    let mut f = Flags::default();
    for item in &lexed.items {
        let (opt, value) = match item {
            Item::Error(e, _) => return Err(e.clone()),
            Item::Opt(opt, value) => (*opt, value),
        };
        let v = || text(opt, value);
        match opt {
            Opt::SingleChild => f.single_child = true,
            Opt::Group => f.group = true,
            Opt::Rewrite => f.rewrite.push(named(opt, signals::parse_rule(&v()?))?),
            Opt::Subreaper => f.subreaper = true,
            Opt::Pdeathsig => f.pdeathsig = Some(named(opt, signals::parse(&v()?))?),
            Opt::RemapExit => f.remap_exit.push(named(opt, parse_remap(&v()?))?),
            Opt::WarnOnReap => f.warn_on_reap = true,
            Opt::Verbose => f.verbose = f.verbose.saturating_add(1),
            Opt::LogFormat => f.log_format = Some(named(opt, parse_log_format(&v()?))?),
            Opt::StopSignals => f.stop_signals.extend(named(opt, parse_signal_list(&v()?))?),
            Opt::PreStop => f.pre_stop = Some(v()?),
            Opt::PreStopDelay => f.pre_stop_delay = Some(named(opt, parse_duration(&v()?))?),
            Opt::GracePeriod => f.grace_period = Some(named(opt, parse_duration(&v()?))?),
            Opt::StopOrder => f.stop_order = Some(named(opt, parse_stop_order(&v()?))?),
            Opt::Task => f.tasks.push(v()?),
            Opt::Run => f.runs.push(v()?),
            Opt::Restart => f.restart = Some(named(opt, cmdline::parse_restart(&v()?))?),
            Opt::ReadyTimeout => f.ready_timeout = Some(named(opt, parse_duration(&v()?))?),
            Opt::User => f.user = Some(v()?),
            Opt::Watch => f.watches.push(v()?),
            Opt::Prefix => f.prefix = true,
            Opt::Check | Opt::CheckTimeout => {
                return Err(format!("{} is only for check mode", flag(opt)))
            }
            Opt::Help => return Ok(Err(Action::Help)),
            Opt::Version => return Ok(Err(Action::Version)),
            Opt::License => return Ok(Err(Action::License)),
        }
    }
    Ok(Ok(f))
}

/// The flag's value if given, else the variable's (parsed, errors naming the variable).
fn or_var<T>(
    flag_value: Option<T>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if flag_value.is_some() {
        return Ok(flag_value);
    }
    match var(name)? {
        Some(v) => parse(&v).map(Some).map_err(|e| format!("{name}: {e}")),
        None => Ok(None),
    }
}

/// Parses the process's arguments (`main`'s argv: with `no_main`, std's own copy is empty on
/// musl) and environment; exits on `--help`, `--version`, `--license` and on any usage error.
/// `--check` is [`check_request`]'s.
pub fn parse(raw: Vec<OsString>) -> Config {
    let personality = personality_of(&raw);
    let lexed = lex(&raw);
    let result = read_flags(&lexed).and_then(|r| match r {
        Ok(flags) => build(flags, lexed.command, personality).map(Ok),
        Err(action) => Ok(Err(action)),
    });
    match result {
        Ok(Ok(cfg)) => cfg,
        Ok(Err(action)) => {
            act(action, personality);
            std::process::exit(0)
        }
        Err(message) => usage_error(personality, &message),
    }
}

fn act(action: Action, p: Personality) {
    let prog = prog_name(p);
    match action {
        Action::Help => write_out(p == Personality::DumbInit, &HELP.replace("{prog}", prog)),
        Action::Version => match p {
            Personality::Rinit => write_out(false, &format!("rinit {VERSION}\n")),
            Personality::Tini => {
                write_out(false, &format!("tini version {TINI_VERSION} - git.rinit\n"))
            }
            Personality::DumbInit => write_out(
                true,
                &format!("dumb-init v{DUMB_INIT_VERSION} (rinit {VERSION})\n"),
            ),
        },
        Action::License => write_out(false, LICENSE),
    }
}

/// Turns the options, the environment and the main COMMAND into the configuration.
fn build(f: Flags, command: Vec<OsString>, personality: Personality) -> Result<Config, String> {
    // Each CMDLINE with its role, and what to call it in an error.
    let pre_stop_text = match f.pre_stop {
        Some(t) => Some(("--pre-stop", t)),
        None => var("RINIT_PRE_STOP")?.map(|t| ("RINIT_PRE_STOP", t)),
    };
    let parse_cmd = |what: &str, text: &str, role: Role| -> Result<CmdLine, String> {
        cmdline::parse_as(text, role)
            .map_err(|e| format!("{what} '{}': {e}", cmdline::sanitize(text)))
    };
    let mut specs: Vec<(ProcSpec, Option<String>)> = Vec::new();
    for (texts, role, what) in [
        (&f.tasks, Role::Task, "--task"),
        (&f.runs, Role::Run, "--run"),
    ] {
        for t in texts {
            let c = parse_cmd(what, t, role)?;
            let spec = ProcSpec {
                name: c.name,
                argv: c.argv,
                role,
                opts: c.opts,
            };
            specs.push((spec, c.user));
        }
    }
    if let Some(program) = command.first() {
        specs.push((
            ProcSpec {
                name: cmdline::base_name(&program.to_string_lossy()),
                argv: command.clone(),
                role: Role::Main,
                opts: ProcOptions::default(),
            },
            None,
        ));
    }
    if !specs.iter().any(|(s, _)| s.role != Role::Task) {
        return Err(if f.tasks.is_empty() {
            "no command given".to_string()
        } else {
            "no command given: --task needs a --run process or a COMMAND after it".to_string()
        });
    }
    let mut pre_stop = match &pre_stop_text {
        Some((what, t)) => {
            let c = parse_cmd(what, t, Role::PreStop)?;
            Some((
                ProcSpec {
                    name: c.name,
                    argv: c.argv,
                    role: Role::PreStop,
                    opts: c.opts,
                },
                c.user,
            ))
        }
        None => None,
    };

    // Users: the files are read once, and only when a user is named.
    let mut users: Option<Users> = None;
    let mut resolve = |spec: &str| -> Result<Option<Identity>, String> {
        users.get_or_insert_with(Users::load).resolve(spec)
    };
    let user_spec = match f.user {
        Some(u) => Some(("--user", u)),
        None => var("RINIT_USER")?.map(|u| ("RINIT_USER", u)),
    };
    let default_user = match &user_spec {
        Some((what, u)) => resolve(u).map_err(|e| format!("{what}: {e}"))?,
        None => None,
    };
    for (spec, user) in specs.iter_mut().chain(pre_stop.iter_mut()) {
        spec.opts.user = match user {
            Some(u) => resolve(u).map_err(|e| format!("{} user={u}: {e}", spec.name))?,
            None => default_user.clone(),
        };
    }

    // Names: unique among tasks, --run processes and the main COMMAND.
    let mut names: Vec<String> = specs.iter().map(|(s, _)| s.name.clone()).collect();
    cmdline::uniquify(&mut names);
    let mut tasks = Vec::new();
    let mut procs = Vec::new();
    for ((mut spec, _), name) in specs.into_iter().zip(names) {
        spec.name = name;
        if spec.role == Role::Task {
            tasks.push(spec);
        } else {
            procs.push(spec);
        }
    }

    let mut watches = f
        .watches
        .iter()
        .map(|w| parse_watch(w, &procs).map_err(|e| format!("--watch '{w}': {e}")))
        .collect::<Result<Vec<_>, _>>()?;

    let single_child = match personality {
        Personality::Tini => !(f.group || present("TINI_KILL_PROCESS_GROUP")) || f.single_child,
        _ => f.single_child || equals("DUMB_INIT_SETSID", "0"),
    };

    let rewrite = if f.rewrite.is_empty() {
        match var("RINIT_REWRITE")? {
            Some(v) => v
                .split(',')
                .filter(|r| !r.trim().is_empty())
                .map(signals::parse_rule)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("RINIT_REWRITE: {e}"))?,
            None => Vec::new(),
        }
    } else {
        f.rewrite
    };
    let remap_exit = if f.remap_exit.is_empty() {
        match var("RINIT_REMAP_EXIT")? {
            Some(v) => v
                .split(',')
                .filter(|r| !r.trim().is_empty())
                .map(parse_remap)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("RINIT_REMAP_EXIT: {e}"))?,
            None => Vec::new(),
        }
    } else {
        f.remap_exit
    };
    let stop_signals = if f.stop_signals.is_empty() {
        or_var(None, "RINIT_STOP_SIGNALS", parse_signal_list)?
            .unwrap_or_else(|| vec![libc::SIGTERM, libc::SIGINT])
    } else {
        f.stop_signals
    };
    let pdeathsig = or_var(f.pdeathsig, "RINIT_PDEATHSIG", signals::parse)?;
    let pre_stop_delay =
        or_var(f.pre_stop_delay, "RINIT_PRE_STOP_DELAY", parse_duration)?.unwrap_or_default();
    let grace_period = or_var(f.grace_period, "RINIT_GRACE_PERIOD", parse_duration)?
        .unwrap_or(Duration::from_secs(10));
    let restart =
        or_var(f.restart, "RINIT_RESTART", cmdline::parse_restart)?.unwrap_or(RestartPolicy::Never);
    let prefix = f.prefix || or_var(None, "RINIT_PREFIX", parse_bool)?.unwrap_or(false);
    let ready_timeout = or_var(f.ready_timeout, "RINIT_READY_TIMEOUT", parse_duration)?
        .unwrap_or(Duration::from_secs(60));
    let stop_order =
        or_var(f.stop_order, "RINIT_STOP_ORDER", parse_stop_order)?.unwrap_or_default();
    let log_format =
        or_var(f.log_format, "RINIT_LOG_FORMAT", parse_log_format)?.unwrap_or_default();
    let log_filters = var("RINIT_LOG")?
        .map(|spec| parse_log_spec(&spec))
        .unwrap_or_default();

    let multi = !f.runs.is_empty() || !tasks.is_empty();
    let lifecycle = multi || pre_stop.is_some() || !pre_stop_delay.is_zero();
    // Silent by default like tini and dumb-init (warnings and errors only); one line per event
    // once the user opted into features that have a lifecycle worth seeing. TINI_VERBOSITY sets
    // the level as tini reads it (0: errors only); DUMB_INIT_DEBUG=1 is debug.
    let mut base: usize = if lifecycle { 2 } else { 1 };
    if let Some(v) = std::env::var_os("TINI_VERBOSITY") {
        base = atoi_saturating(&v.to_string_lossy());
    }
    if equals("DUMB_INIT_DEBUG", "1") {
        base = base.max(3);
    }
    const LEVELS: [LevelFilter; 5] = [
        LevelFilter::Error,
        LevelFilter::Warn,
        LevelFilter::Info,
        LevelFilter::Debug,
        LevelFilter::Trace,
    ];
    let log_level = LEVELS[base.saturating_add(f.verbose).min(LEVELS.len() - 1)];

    jobcontrol::keep_dir(
        personality,
        (tasks.iter_mut().chain(procs.iter_mut())).chain(pre_stop.iter_mut().map(|(s, _)| s)),
        &mut watches,
    );

    Ok(Config {
        personality,
        tasks,
        procs,
        single_child,
        rewrite: Rewrite::new(&jobcontrol::default_rewrites(
            personality,
            single_child,
            rewrite,
        )),
        stop_signals,
        subreaper: f.subreaper || present("TINI_SUBREAPER"),
        pdeathsig,
        remap_exit,
        warn_on_reap: f.warn_on_reap,
        pre_stop_delay,
        pre_stop: pre_stop.map(|(s, _)| s),
        grace_period,
        restart,
        prefix,
        ready_timeout: (!ready_timeout.is_zero()).then_some(ready_timeout),
        stop_order,
        user: default_user,
        watches,
        log_format,
        multi,
        log_level,
        log_filters,
    })
}

/// `SIGNAL[:NAME]=PATH`; NAME must be a `--run` process or the main COMMAND.
fn parse_watch(text: &str, procs: &[ProcSpec]) -> Result<Watch, String> {
    let (head, path) = text
        .split_once('=')
        .ok_or("write SIGNAL[:NAME]=PATH, e.g. HUP:nginx=/etc/nginx/conf.d")?;
    if path.is_empty() {
        return Err("no PATH after '='".to_string());
    }
    let (signal, target) = match head.split_once(':') {
        Some((s, n)) => (s, Some(n)),
        None => (head, None),
    };
    let signal = signals::parse(signal)?;
    if let Some(n) = target {
        if !procs.iter().any(|p| p.name == n) {
            let known: Vec<&str> = procs.iter().take(10).map(|p| p.name.as_str()).collect();
            return Err(format!(
                "no --run process or main COMMAND is named '{}' (names: {})",
                cmdline::sanitize(n),
                known.join(", ")
            ));
        }
    }
    Ok(Watch {
        signal,
        target: target.map(str::to_string),
        path: path.into(),
    })
}

/// `RINIT_LOG`, env_logger's syntax without regex: `LEVEL` or `MODULE=LEVEL`, comma-separated.
/// Unknown parts are left out.
fn parse_log_spec(spec: &str) -> Vec<(Option<String>, LevelFilter)> {
    spec.split(',')
        .filter_map(|part| {
            let part = part.trim();
            let (module, level) = match part.split_once('=') {
                Some((m, l)) => (Some(m.trim().to_string()), l.trim()),
                None => match part.parse::<LevelFilter>() {
                    Ok(l) => return Some((None, l)),
                    Err(_) => (Some(part.to_string()), "trace"),
                },
            };
            Some((module.filter(|m| !m.is_empty()), level.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.25"), Ok(Duration::from_millis(1250)));
        assert_eq!(parse_duration("2.000000001"), Ok(Duration::new(2, 1)));
        assert_eq!(parse_duration(" 3 "), Ok(Duration::from_secs(3)));
        assert_eq!(
            parse_duration("100y"),
            Ok(Duration::from_secs(3_155_760_000))
        );
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("inf").is_err());
        assert!(parse_duration("NaN").is_err());
        assert!(parse_duration("1e3").is_err());
        assert!(parse_duration(".5").is_err());
        assert!(parse_duration("5.").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("999999999999").is_err());
        assert!(parse_duration("99999999999999999999999").is_err());
        assert!(parse_duration("101y").is_err());
        assert!(parse_duration("200years").is_err());
    }

    #[test]
    fn tini_verbosity_like_atoi() {
        assert_eq!(atoi_saturating("0"), 0);
        assert_eq!(atoi_saturating(" 3x"), 3);
        assert_eq!(atoi_saturating("-5"), 0);
        assert_eq!(atoi_saturating("abc"), 0);
        assert_eq!(atoi_saturating("99999999999999999999999999"), usize::MAX);
    }

    #[test]
    fn personalities() {
        assert_eq!(personality_from_argv0("/sbin/tini"), Personality::Tini);
        assert_eq!(personality_from_argv0("tini-static"), Personality::Tini);
        assert_eq!(personality_from_argv0("docker-init"), Personality::Tini);
        assert_eq!(
            personality_from_argv0("/usr/bin/dumb-init"),
            Personality::DumbInit
        );
        assert_eq!(personality_from_argv0("rinit"), Personality::Rinit);
    }

    fn lexed(words: &[&str]) -> Lexed {
        let mut v = vec![OsString::from("rinit")];
        v.extend(words.iter().map(OsString::from));
        lex(&v)
    }

    fn config(words: &[&str], p: Personality) -> Result<Config, String> {
        let l = lexed(words);
        match read_flags(&l)? {
            Ok(f) => build(f, l.command, p),
            Err(_) => Err("action".to_string()),
        }
    }

    #[test]
    fn parsing_stops_at_first_command_word() {
        let l = lexed(&["-v", "echo", "-v", "--run", "x"]);
        assert_eq!(l.items.len(), 1);
        assert_eq!(l.command, ["echo", "-v", "--run", "x"]);
        let l = lexed(&["--", "-c"]);
        assert!(l.items.is_empty());
        assert_eq!(l.command, ["-c"]);
        let l = lexed(&[
            "-vvc",
            "-e7",
            "--grace-period=5s",
            "--pre-stop-delay",
            "-1s",
            "x",
        ]);
        assert_eq!(l.items.len(), 6);
        assert_eq!(l.command, ["x"]);
    }

    #[test]
    fn lex_errors_stay_in_place() {
        let l = lexed(&["--bogus", "-Z", "--prefix=1", "--grace-period"]);
        let errors: Vec<String> = l
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Error(e, _) => Some(e.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("--bogus"));
        assert!(errors[1].contains("-Z"));
        assert!(errors[2].contains("--prefix"));
        assert!(errors[3].contains("--grace-period needs a value"));
    }

    #[test]
    fn check_mode() {
        let ok = check_args(&lexed(&[
            "--check",
            "tcp:80",
            "--check-timeout",
            "2s",
            "--check",
            "file:/x",
        ]));
        assert_eq!(
            ok,
            Ok((
                vec!["tcp:80".into(), "file:/x".into()],
                Duration::from_secs(2)
            ))
        );
        assert_eq!(
            check_args(&lexed(&["--check", "tcp:80"])).map(|r| r.1),
            Ok(Duration::from_secs(5))
        );
        for bad in [
            &["--check", "tcp:80", "sh"][..],
            &["--check", "tcp:80", "--run", "x"],
            &["--task", "x", "--check", "tcp:80"],
            &["--check", "tcp:80", "--bogus"],
            &["--check", "tcp:80", "--check-timeout", "soon"],
            &["--check", "tcp:80", "--check-timeout", "0"],
            &["-v", "--check", "tcp:80"],
            &["--check"],
        ] {
            assert!(check_args(&lexed(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn forwarding_target_by_personality() {
        let tini = config(&["x"], Personality::Tini).unwrap();
        assert!(tini.single_child);
        let tini_g = config(&["-g", "x"], Personality::Tini).unwrap();
        assert!(!tini_g.single_child);
        let dumb = config(&["x"], Personality::DumbInit).unwrap();
        assert!(!dumb.single_child);
        let dumb_c = config(&["-c", "x"], Personality::DumbInit).unwrap();
        assert!(dumb_c.single_child);
    }

    #[test]
    fn processes_and_names() {
        let c = config(
            &[
                "--task", "m: a", "--run", "w: a", "--run", "a", "--run", "a", "--", "a",
            ],
            Personality::Rinit,
        )
        .unwrap();
        let names: Vec<&str> = c.procs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["w", "a", "a-2", "a-3"]);
        assert_eq!(c.tasks[0].name, "m");
        assert_eq!(c.tasks[0].role, Role::Task);
        assert!(c.procs[3].is_main() && !c.procs[0].is_main());
        assert!(c.multi);
        assert!(config(&[], Personality::Rinit).is_err());
        assert!(config(&["--task", "x"], Personality::Rinit).is_err());
    }

    #[test]
    fn second_round_options() {
        let c = config(
            &[
                "--ready-timeout",
                "0",
                "--stop-order",
                "Reverse",
                "--log-format",
                "JSON",
                "--stop-signals",
                "term,int,QUIT",
                "--watch",
                "HUP:web=/etc/x=y",
                "--watch",
                "usr1=/etc/z",
                "--run",
                "web: nginx",
                "--",
                "app",
            ],
            Personality::Rinit,
        )
        .unwrap();
        assert_eq!(c.ready_timeout, None);
        assert_eq!(c.stop_order, StopOrder::Reverse);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.stop_signals, [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT]);
        assert_eq!(c.watches[0].signal, libc::SIGHUP);
        assert_eq!(c.watches[0].target.as_deref(), Some("web"));
        assert_eq!(c.watches[0].path, std::path::PathBuf::from("/etc/x=y"));
        assert_eq!(c.watches[1].target, None);
        let c = config(&["x"], Personality::Rinit).unwrap();
        assert_eq!(c.ready_timeout, Some(Duration::from_secs(60)));
        assert_eq!(c.stop_signals, [libc::SIGTERM, libc::SIGINT]);
        for bad in [
            &["--watch", "HUP:nope=/x", "app"][..],
            &["--watch", "HUP:m=/x", "--task", "m: a", "app"],
            &["--watch", "BOGUS=/x", "app"],
            &["--watch", "HUP", "app"],
            &["--watch", "HUP=", "app"],
            &["--stop-order", "random", "app"],
            &["--log-format", "xml", "app"],
            &["--stop-signals", "", "app"],
            &["--run", "a,ready=tcp:1: x", "--task", "a,exit=ignore: y"],
        ] {
            assert!(config(bad, Personality::Rinit).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn users_apply_to_every_process() {
        // Root here, or the own identity: numeric ids need no entry.
        // SAFETY: cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let me = format!("{uid}:{gid}");
        let c = config(
            &[
                "--user",
                &me,
                "--pre-stop",
                "p: hook",
                "--task",
                "t: a",
                "--run",
                "b",
                "c",
            ],
            Personality::Rinit,
        )
        .unwrap();
        let expected = c.user.clone();
        if uid == 0 {
            assert_eq!(expected.as_ref().map(|i| (i.uid, i.gid)), Some((0, 0)));
        }
        assert!(c
            .procs
            .iter()
            .chain(&c.tasks)
            .all(|p| p.opts.user == expected));
        assert_eq!(
            c.pre_stop.as_ref().map(|p| p.opts.user.clone()),
            Some(expected)
        );
        assert!(config(&["--user", "no-such-user-here", "c"], Personality::Rinit).is_err());
        assert!(config(
            &["--run", "a,user=no-such-user-here: x"],
            Personality::Rinit
        )
        .is_err());
    }
}
