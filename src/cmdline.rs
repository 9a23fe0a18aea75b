//! `--run`, `--task` and `--pre-stop` command lines: `[NAME[,KEY=VALUE...]: ]PROGRAM [ARG...]`.
//! The label is found on the raw text; the rest is split into words the way a POSIX shell splits
//! them (quotes, backslashes), with no expansion and no shell started.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::{ExitAction, ProcOptions, RestartPolicy, Role};

#[derive(Debug, Clone)]
pub struct CmdLine {
    /// Label in rinit's log and in `--prefix` output: the label's NAME, else the program's base
    /// name, safe to print.
    pub name: String,
    pub argv: Vec<OsString>,
    /// The label's options; `user` stays `None` here (see `user`).
    pub opts: ProcOptions,
    /// `user=`, unresolved: the caller resolves it once the files are read.
    pub user: Option<String>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Byte offsets of the characters of `text` that are outside quotes and not escaped, as a POSIX
/// shell reads them: `'...'` quotes everything, `"..."` everything but `\"` and `\\`, and a
/// backslash outside quotes escapes the next character.
fn unquoted_positions(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '\'' => {
                for (_, q) in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                }
            }
            '"' => {
                while let Some((_, q)) = chars.next() {
                    match q {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            _ => out.push(i),
        }
    }
    out
}

/// Splits `text` at the label: `(Some(label), rest)` when the text up to the first unquoted `:`
/// followed by whitespace starts with a NAME.
fn split_label(text: &str) -> (Option<&str>, &str) {
    let bytes = text.as_bytes();
    let colon = unquoted_positions(text).into_iter().find(|&i| {
        bytes[i] == b':'
            && text[i + 1..]
                .chars()
                .next()
                .is_some_and(char::is_whitespace)
    });
    let Some(colon) = colon else {
        return (None, text);
    };
    let label = &text[..colon];
    let name = label.split(',').next().unwrap_or("");
    if is_name(name) {
        (Some(label), &text[colon + 1..])
    } else {
        (None, text)
    }
}

/// Splits the label's options at the commas outside quotes.
fn split_commas(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for i in unquoted_positions(text) {
        if text.as_bytes()[i] == b',' {
            parts.push(&text[start..i]);
            start = i + 1;
        }
    }
    parts.push(&text[start..]);
    parts
}

fn role_word(role: Role) -> &'static str {
    match role {
        Role::Task => "--task",
        Role::PreStop => "--pre-stop",
        Role::Probe => "an exec: probe",
        Role::Run | Role::Main => "--run",
    }
}

/// Parses a restart policy, in any case.
pub fn parse_restart(text: &str) -> Result<RestartPolicy, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "never" => Ok(RestartPolicy::Never),
        "on-failure" => Ok(RestartPolicy::OnFailure),
        "always" => Ok(RestartPolicy::Always),
        _ => Err(format!(
            "unknown restart policy '{text}' (never, on-failure or always)"
        )),
    }
}

/// Applies one `KEY=VALUE` option of a label.
fn apply_option(
    option: &str,
    role: Role,
    seen: &mut Vec<String>,
    opts: &mut ProcOptions,
    user: &mut Option<String>,
) -> Result<(), String> {
    let option = option.trim();
    let Some((key, raw)) = option.split_once('=') else {
        return Err(format!(
            "'{option}' is not KEY=VALUE (keys: ready, restart, exit, stop, grace, user, dir, env)"
        ));
    };
    let key = key.trim();
    let allowed: &[Role] = match key {
        "ready" | "restart" | "exit" => &[Role::Run],
        "stop" | "grace" => &[Role::Run, Role::Task],
        "user" | "dir" | "env" => &[Role::Run, Role::Task, Role::PreStop, Role::Probe],
        _ => {
            return Err(format!(
                "unknown key '{key}' (keys: ready, restart, exit, stop, grace, user, dir, env)"
            ))
        }
    };
    if !allowed.contains(&role) {
        return Err(format!("'{key}=' is not allowed on {}", role_word(role)));
    }
    if key != "env" {
        if seen.iter().any(|k| k == key) {
            return Err(format!("'{key}=' is given twice"));
        }
        seen.push(key.to_string());
    }
    let words =
        shell_words::split(raw).map_err(|e| format!("cannot unquote '{key}={raw}': {e}"))?;
    let value = match words.len() {
        0 => String::new(),
        1 => words.into_iter().next().unwrap_or_default(),
        _ => {
            return Err(format!(
                "the value of '{key}=' has a space or comma: quote it, e.g. {key}='{}'",
                words.join(" ")
            ))
        }
    };
    let bad = |why: &str| format!("{key}={value}: {why}");
    match key {
        "ready" => opts.ready = Some(crate::probe::parse(&value).map_err(|e| bad(&e))?),
        "restart" => opts.restart = Some(parse_restart(&value).map_err(|e| bad(&e))?),
        "exit" => {
            opts.exit = match value.to_ascii_lowercase().as_str() {
                "stop" => ExitAction::Stop,
                "ignore" => ExitAction::Ignore,
                _ => return Err(bad("write exit=stop or exit=ignore")),
            }
        }
        "stop" => opts.stop = Some(crate::signals::parse(&value).map_err(|e| bad(&e))?),
        "grace" => opts.grace = Some(crate::cli::parse_duration(&value).map_err(|e| bad(&e))?),
        "user" => {
            if value.is_empty() {
                return Err(bad("names no user"));
            }
            *user = Some(value);
        }
        "dir" => {
            if value.is_empty() {
                return Err(bad("empty path"));
            }
            opts.dir = Some(PathBuf::from(value));
        }
        _ => {
            // env
            match value.split_once('=') {
                Some((k, v)) if !k.is_empty() && !k.contains('\0') && !v.contains('\0') => {
                    opts.env.push((k.into(), v.into()))
                }
                _ => return Err(bad("write env=NAME=VALUE")),
            }
        }
    }
    Ok(())
}

/// Parses a CMDLINE given to `--run` (`Role::Run`), `--task` or `--pre-stop`; the options the
/// contract's key table forbids for `role` are errors.
pub fn parse_as(text: &str, role: Role) -> Result<CmdLine, String> {
    let trimmed = text.trim_start();
    let (label, rest) = split_label(trimmed);
    let mut opts = ProcOptions::default();
    let mut user = None;
    let mut name = None;
    if let Some(label) = label {
        let mut parts = split_commas(label).into_iter();
        name = parts.next().map(str::to_string);
        let mut seen = Vec::new();
        for option in parts {
            apply_option(option, role, &mut seen, &mut opts, &mut user)?;
        }
    }
    let words = shell_words::split(rest).map_err(|e| format!("cannot split '{text}': {e}"))?;
    let Some(program) = words.first() else {
        return Err("empty command line".to_string());
    };
    let name = match name {
        Some(n) => n,
        None => base_name(program),
    };
    Ok(CmdLine {
        name,
        argv: words.into_iter().map(OsString::from).collect(),
        opts,
        user,
    })
}

/// The program's file name, the default label of a process, made safe to print: control
/// characters (a newline could forge a log line) become `?`.
pub fn base_name(program: &str) -> String {
    let base = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| program.to_string());
    let safe = sanitize(&base);
    if safe.is_empty() {
        "?".to_string()
    } else {
        safe
    }
}

/// Replaces every control character with `?`.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Makes labels unique in order of appearance: `worker`, `worker-2`, `worker-3`. Linear: each
/// name remembers the next suffix to try.
pub fn uniquify(names: &mut [String]) {
    let mut taken: HashSet<String> = HashSet::with_capacity(names.len());
    let mut next: HashMap<String, usize> = HashMap::new();
    for name in names.iter_mut() {
        if taken.insert(name.clone()) {
            continue;
        }
        let n = next.entry(name.clone()).or_insert(2);
        let mut candidate = format!("{name}-{n}");
        while taken.contains(&candidate) {
            *n += 1;
            candidate = format!("{name}-{n}");
        }
        *n += 1;
        taken.insert(candidate.clone());
        *name = candidate;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals;

    fn parse(text: &str) -> Result<CmdLine, String> {
        parse_as(text, Role::Run)
    }

    fn argv(c: &CmdLine) -> Vec<&str> {
        c.argv.iter().map(|a| a.to_str().unwrap_or("?")).collect()
    }

    #[test]
    fn named_and_quoted() {
        let c = parse(r#"web: nginx -g 'daemon off;' "a b" c\ d"#).unwrap();
        assert_eq!(c.name, "web");
        assert_eq!(argv(&c), ["nginx", "-g", "daemon off;", "a b", "c d"]);
    }

    #[test]
    fn default_name_is_base_name() {
        let c = parse("/usr/bin/php-fpm -F").unwrap();
        assert_eq!(c.name, "php-fpm");
        let c = parse("a:b x").unwrap();
        assert_eq!(c.name, "a:b");
        assert_eq!(argv(&c), ["a:b", "x"]);
        // A colon inside quotes, or after a non-NAME, is no label.
        let c = parse("sh -c 'echo a: b'").unwrap();
        assert_eq!(c.name, "sh");
        assert_eq!(argv(&c), ["sh", "-c", "echo a: b"]);
        let c = parse("echo a: b").unwrap();
        assert_eq!(argv(&c), ["echo", "a:", "b"]);
        let c = parse(r"'x y': b").unwrap();
        assert_eq!(argv(&c), ["x y:", "b"]);
    }

    #[test]
    fn names_are_safe_to_print() {
        let c = parse("'/bin/a\nrinit: forged' x").unwrap();
        assert_eq!(c.name, "a?rinit: forged");
        assert_eq!(base_name("/x/\x1b[31m"), "?[31m");
        assert_eq!(base_name(""), "?");
    }

    #[test]
    fn no_expansion() {
        let c = parse("echo $HOME * `x`").unwrap();
        assert_eq!(argv(&c), ["echo", "$HOME", "*", "`x`"]);
    }

    #[test]
    fn errors() {
        assert!(parse("").is_err());
        assert!(parse("   ").is_err());
        assert!(parse("web: ").is_err());
        assert!(parse("echo 'unbalanced").is_err());
    }

    #[test]
    fn label_options() {
        let c = parse(
            "db,restart=Always,exit=ignore,stop=quit,grace=3s,user='postgres:ssl',dir=/data,\
             env=A=1,env='B=x, y': postgres -D /data",
        )
        .unwrap();
        assert_eq!(c.name, "db");
        assert_eq!(argv(&c), ["postgres", "-D", "/data"]);
        assert_eq!(c.opts.restart, Some(RestartPolicy::Always));
        assert_eq!(c.opts.exit, ExitAction::Ignore);
        assert_eq!(c.opts.stop, Some(libc::SIGQUIT));
        assert_eq!(c.opts.grace, Some(std::time::Duration::from_secs(3)));
        assert_eq!(c.user.as_deref(), Some("postgres:ssl"));
        assert_eq!(c.opts.dir, Some(PathBuf::from("/data")));
        assert_eq!(
            c.opts.env,
            [
                (OsString::from("A"), OsString::from("1")),
                (OsString::from("B"), OsString::from("x, y"))
            ]
        );
        assert!(c.opts.user.is_none() && c.opts.ready.is_none());
        // Spaces after commas, and a task's options.
        let c = parse_as("m, stop=INT, grace=1: migrate", Role::Task).unwrap();
        assert_eq!(c.opts.stop, Some(signals::parse("INT").unwrap()));
        let c = parse_as("hook,user=1000,dir=/,env=X=: drain", Role::PreStop).unwrap();
        assert_eq!(c.name, "hook");
        assert_eq!(c.user.as_deref(), Some("1000"));
        assert_eq!(c.opts.env, [(OsString::from("X"), OsString::new())]);
    }

    #[test]
    fn ready_goes_through_probe_parse() {
        let r = parse("db,ready='exec:pg_isready -q': postgres");
        match crate::probe::parse("exec:pg_isready -q") {
            Ok(p) => assert_eq!(r.unwrap().opts.ready, Some(p)),
            Err(e) => assert!(r.unwrap_err().contains(&e)),
        }
    }

    #[test]
    fn label_errors() {
        let cases: &[(&str, Role, &str)] = &[
            ("a,color=red: x", Role::Run, "unknown key 'color'"),
            ("a,restart: x", Role::Run, "KEY=VALUE"),
            ("a,restart=sometimes: x", Role::Run, "sometimes"),
            ("a,restart=always,restart=never: x", Role::Run, "twice"),
            ("a,exit=later: x", Role::Run, "exit="),
            ("a,stop=NOPE: x", Role::Run, "unknown signal"),
            ("a,grace=soon: x", Role::Run, "grace=soon"),
            ("a,grace=-1s: x", Role::Run, "negative"),
            ("a,user=: x", Role::Run, "user="),
            ("a,dir=: x", Role::Run, "dir="),
            ("a,env=NOEQUALS: x", Role::Run, "env=NAME=VALUE"),
            ("a,env==v: x", Role::Run, "env=NAME=VALUE"),
            ("a,dir=a b: x", Role::Run, "quote it"),
            ("a,dir='a: x", Role::Run, "cannot"),
            ("a,ready=tcp:1: x", Role::Task, "not allowed on --task"),
            ("a,restart=always: x", Role::Task, "not allowed on --task"),
            ("a,exit=ignore: x", Role::Task, "not allowed on --task"),
            (
                "a,ready=tcp:1: x",
                Role::PreStop,
                "not allowed on --pre-stop",
            ),
            ("a,stop=TERM: x", Role::PreStop, "not allowed on --pre-stop"),
            ("a,grace=1s: x", Role::PreStop, "not allowed on --pre-stop"),
        ];
        for (text, role, needle) in cases {
            let e = parse_as(text, *role).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn unique_names() {
        let mut n = vec![
            "a".to_string(),
            "a".to_string(),
            "b".to_string(),
            "a".into(),
            "a-2".into(),
        ];
        uniquify(&mut n);
        assert_eq!(n, ["a", "a-2", "b", "a-3", "a-2-2"]);
        let mut many = vec!["w".to_string(); 20_000];
        uniquify(&mut many);
        assert_eq!(many[19_999], "w-20000");
        let set: HashSet<&String> = many.iter().collect();
        assert_eq!(set.len(), 20_000);
    }
}
