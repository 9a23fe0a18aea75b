//! The command line and environment, turned into a [`Config`]. Usage errors end here: one line
//! on stderr, the usage hint, exit code 2.

use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, ValueEnum};
use log::LevelFilter;

use crate::cmdline::{self, CmdLine};
use crate::config::{
    Config, LogFormat, Personality, ProcOptions, ProcSpec, RestartPolicy, Role, StopOrder,
};
use crate::signals::{self, Rewrite, Signo};

const USAGE_HINT: &str = "usage: rinit [OPTIONS] [--] COMMAND [ARG...]   or   rinit [OPTIONS] --run CMDLINE [--run CMDLINE...] [-- COMMAND [ARG...]]\nTry 'rinit --help' for more information.";

const LICENSE: &str = include_str!("../LICENSE");

#[derive(Parser, Debug)]
#[command(
    name = "rinit",
    version,
    about = "A container init: runs your command as PID 1's child, forwards signals to it, reaps \
             zombies, stops everything gracefully and exits with the command's code.",
    override_usage = "rinit [OPTIONS] [--] COMMAND [ARG...]\n       rinit [OPTIONS] --run CMDLINE [--run CMDLINE...] [-- COMMAND [ARG...]]",
    after_help = "Exit code: the first supervised process's (128+N if signal N killed it); 127 when \
                  the program was not found, 126 when it could not be run, 2 for a usage error.\n\
                  DURATION: 250ms, 10s, 2m, 1m30s, or a number of seconds."
)]
struct Args {
    /// Forward signals to the main process only, not to its process group [env: DUMB_INIT_SETSID=0]
    #[arg(short = 'c', long = "single-child")]
    single_child: bool,

    /// Forward signals to the process group (the default; for tini users) [env: TINI_KILL_PROCESS_GROUP=1]
    #[arg(short = 'g')]
    group: bool,

    /// Rewrite signal FROM to TO before forwarding (names or numbers; TO=0 drops it); repeatable
    #[arg(short = 'r', long = "rewrite", value_name = "FROM:TO", env = "RINIT_REWRITE",
          value_delimiter = ',', value_parser = signals::parse_rule, action = ArgAction::Append)]
    rewrite: Vec<(Signo, Signo)>,

    /// Register as child subreaper (automatic whenever rinit is not PID 1) [env: TINI_SUBREAPER=1]
    #[arg(short = 's', long = "subreaper")]
    subreaper: bool,

    /// Signal rinit receives when its parent dies
    #[arg(short = 'p', long = "pdeathsig", value_name = "SIGNAL", env = "RINIT_PDEATHSIG",
          value_parser = signals::parse)]
    pdeathsig: Option<Signo>,

    /// Exit code CODE of the main process becomes 0; repeatable
    #[arg(short = 'e', long = "remap-exit", value_name = "CODE", action = ArgAction::Append)]
    remap_exit: Vec<u8>,

    /// Log a warning for every orphan reaped
    #[arg(short = 'w', long = "warn-on-reap")]
    warn_on_reap: bool,

    /// More logging on stderr; repeatable [env: RINIT_LOG, TINI_VERBOSITY, DUMB_INIT_DEBUG=1]
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    verbose: u8,

    /// On SIGTERM/SIGINT, keep everything running this long before forwarding it
    #[arg(long, value_name = "DURATION", env = "RINIT_PRE_STOP_DELAY", default_value = "0",
          value_parser = parse_duration, allow_hyphen_values = true)]
    pre_stop_delay: Duration,

    /// On SIGTERM/SIGINT, run this command first and wait for it (bounded by the grace period)
    #[arg(long, value_name = "CMDLINE", env = "RINIT_PRE_STOP", value_parser = cmdline::parse)]
    pre_stop: Option<CmdLine>,

    /// Time processes get to exit after the stop signal, before SIGKILL
    #[arg(long, value_name = "DURATION", env = "RINIT_GRACE_PERIOD", default_value = "10s",
          value_parser = parse_duration, allow_hyphen_values = true)]
    grace_period: Duration,

    /// A supervised process, `[NAME: ]PROGRAM [ARG...]`, split like a shell splits words; repeatable
    #[arg(long = "run", value_name = "CMDLINE", value_parser = cmdline::parse, action = ArgAction::Append)]
    run: Vec<CmdLine>,

    /// When to restart a --run process that exited
    #[arg(
        long,
        value_name = "POLICY",
        env = "RINIT_RESTART",
        value_enum,
        default_value = "never"
    )]
    restart: RestartArg,

    /// Prefix every line a --run process writes with `NAME | `
    #[arg(long, env = "RINIT_PREFIX", value_parser = clap::builder::BoolishValueParser::new(),
          action = ArgAction::SetTrue)]
    prefix: bool,

    /// Print the license and exit
    #[arg(short = 'l', long = "license")]
    license: bool,

    /// The main process and its arguments
    #[arg(value_name = "COMMAND", trailing_var_arg = true, num_args = 0..)]
    command: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RestartArg {
    Never,
    OnFailure,
    Always,
}

fn personality_from_argv0(argv0: &str) -> Personality {
    match cmdline::base_name(argv0).as_str() {
        "tini" | "tini-static" | "docker-init" => Personality::Tini,
        "dumb-init" => Personality::DumbInit,
        _ => Personality::Rinit,
    }
}

/// DURATION: `250ms`, `10s`, `2m`, `1m30s`; a bare number is seconds. At most 100 years, so that
/// every deadline rinit computes from it stays representable.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let t = text.trim();
    if t.starts_with('-') {
        return Err("a duration cannot be negative".to_string());
    }
    let d = match t.parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("'{text}' is not a usable number of seconds"))?,
        Err(_) => humantime::parse_duration(t).map_err(|e| {
            format!("{e} (write e.g. 250ms, 10s, 2m, 1m30s, or a number of seconds)")
        })?,
    };
    if d > LONGEST {
        return Err(format!("'{text}' is too long (at most 100 years)"));
    }
    Ok(d)
}

fn env_set(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// tini's variables count when set to anything; `0` is taken as "off" too.
fn env_flag(name: &str) -> bool {
    env_set(name).is_some_and(|v| v != "0")
}

/// Prints a usage error the rinit way and exits 2.
pub fn usage_error(message: &str) -> ! {
    // A closed or broken stderr must not turn a usage error into a panic.
    let _ = writeln!(std::io::stderr(), "rinit: {message}\n{USAGE_HINT}");
    std::process::exit(2)
}

/// Parses the process's arguments (`main`'s argv: with `no_main`, std's own copy is empty on
/// musl) and environment; exits on `--help`, `--version`,
/// `--license` and on any usage error.
pub fn parse(raw: Vec<OsString>) -> Config {
    let argv0 = raw
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let personality = personality_from_argv0(&argv0);
    let matches = Args::command().try_get_matches_from(raw);
    let args = match matches.and_then(|m| Args::from_arg_matches(&m)) {
        Ok(a) => a,
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                let _ = e.print();
                std::process::exit(0)
            }
            _ => {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or("invalid arguments");
                usage_error(first.strip_prefix("error: ").unwrap_or(first))
            }
        },
    };
    if args.license {
        let _ = std::io::stdout().write_all(LICENSE.as_bytes());
        std::process::exit(0);
    }
    match build(args, personality) {
        Ok(cfg) => cfg,
        Err(message) => usage_error(&message),
    }
}

fn build(args: Args, personality: Personality) -> Result<Config, String> {
    let mut procs: Vec<ProcSpec> = args
        .run
        .iter()
        .map(|c| ProcSpec {
            name: c.name.clone(),
            argv: c.argv.clone(),
            role: Role::Run,
            opts: ProcOptions::default(),
        })
        .collect();
    if let Some(program) = args.command.first() {
        procs.push(ProcSpec {
            name: cmdline::base_name(&program.to_string_lossy()),
            argv: args.command.clone(),
            role: Role::Main,
            opts: ProcOptions::default(),
        });
    }
    if procs.is_empty() {
        return Err("no command given".to_string());
    }
    let mut names: Vec<String> = procs.iter().map(|p| p.name.clone()).collect();
    cmdline::uniquify(&mut names);
    for (p, n) in procs.iter_mut().zip(names) {
        p.name = n;
    }

    let single_child = match personality {
        Personality::Tini => {
            !(args.group || env_flag("TINI_KILL_PROCESS_GROUP")) || args.single_child
        }
        _ => args.single_child || env_set("DUMB_INIT_SETSID").as_deref() == Some("0"),
    };

    let multi = !args.run.is_empty();
    let lifecycle = multi || args.pre_stop.is_some() || !args.pre_stop_delay.is_zero();
    // Silent by default like tini and dumb-init; one line per event once the user opted into
    // features that have a lifecycle worth seeing.
    let mut base: usize = if lifecycle { 2 } else { 1 };
    if let Some(v) = env_set("TINI_VERBOSITY").and_then(|v| v.parse::<usize>().ok()) {
        base = base.max(v);
    }
    if env_flag("DUMB_INIT_DEBUG") {
        base = base.max(3);
    }
    const LEVELS: [LevelFilter; 5] = [
        LevelFilter::Error,
        LevelFilter::Warn,
        LevelFilter::Info,
        LevelFilter::Debug,
        LevelFilter::Trace,
    ];
    let log_level = LEVELS[(base + args.verbose as usize).min(LEVELS.len() - 1)];

    Ok(Config {
        personality,
        tasks: Vec::new(),
        procs,
        single_child,
        rewrite: Rewrite::new(&args.rewrite),
        stop_signals: vec![libc::SIGTERM, libc::SIGINT],
        subreaper: args.subreaper || env_flag("TINI_SUBREAPER"),
        pdeathsig: args.pdeathsig,
        remap_exit: args.remap_exit.iter().map(|&c| c as i32).collect(),
        warn_on_reap: args.warn_on_reap,
        pre_stop_delay: args.pre_stop_delay,
        pre_stop: args.pre_stop.map(|c| ProcSpec {
            name: c.name,
            argv: c.argv,
            role: Role::PreStop,
            opts: ProcOptions::default(),
        }),
        grace_period: args.grace_period,
        restart: match args.restart {
            RestartArg::Never => RestartPolicy::Never,
            RestartArg::OnFailure => RestartPolicy::OnFailure,
            RestartArg::Always => RestartPolicy::Always,
        },
        prefix: args.prefix,
        ready_timeout: Some(std::time::Duration::from_secs(60)),
        stop_order: StopOrder::Parallel,
        user: None,
        watches: Vec::new(),
        log_format: LogFormat::Plain,
        multi,
        log_level,
        log_filters: env_set("RINIT_LOG")
            .map(|spec| parse_log_spec(&spec))
            .unwrap_or_default(),
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
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("inf").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("999999999999").is_err());
        assert!(parse_duration("200years").is_err());
        assert_eq!(parse_duration("1y").map(|d| d.as_secs() > 0), Ok(true));
    }

    #[test]
    fn personalities() {
        assert_eq!(personality_from_argv0("/sbin/tini"), Personality::Tini);
        assert_eq!(personality_from_argv0("docker-init"), Personality::Tini);
        assert_eq!(
            personality_from_argv0("/usr/bin/dumb-init"),
            Personality::DumbInit
        );
        assert_eq!(personality_from_argv0("rinit"), Personality::Rinit);
    }

    fn args(words: &[&str]) -> Args {
        let mut v = vec!["rinit"];
        v.extend_from_slice(words);
        Args::try_parse_from(v).unwrap()
    }

    #[test]
    fn parsing_stops_at_first_command_word() {
        let a = args(&["-v", "echo", "-v", "--run", "x"]);
        assert_eq!(a.verbose, 1);
        assert_eq!(a.command, ["echo", "-v", "--run", "x"]);
        let a = args(&["--", "-c"]);
        assert!(!a.single_child);
        assert_eq!(a.command, ["-c"]);
    }

    #[test]
    fn forwarding_target_by_personality() {
        let tini = build(args(&["x"]), Personality::Tini).unwrap();
        assert!(tini.single_child);
        let tini_g = build(args(&["-g", "x"]), Personality::Tini).unwrap();
        assert!(!tini_g.single_child);
        let dumb = build(args(&["x"]), Personality::DumbInit).unwrap();
        assert!(!dumb.single_child);
        let dumb_c = build(args(&["-c", "x"]), Personality::DumbInit).unwrap();
        assert!(dumb_c.single_child);
    }

    #[test]
    fn processes_and_names() {
        let c = build(
            args(&["--run", "w: a", "--run", "a", "--run", "a", "--", "a"]),
            Personality::Rinit,
        )
        .unwrap();
        let names: Vec<&str> = c.procs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["w", "a", "a-2", "a-3"]);
        assert!(c.procs[3].is_main() && !c.procs[0].is_main());
        assert!(build(args(&[]), Personality::Rinit).is_err());
    }
}
