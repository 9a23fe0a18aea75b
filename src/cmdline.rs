//! `--run` and `--pre-stop` command lines: `[NAME: ]PROGRAM [ARG...]`, split into words the way a
//! POSIX shell splits them (quotes, backslashes), with no expansion and no shell started.

use std::ffi::OsString;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct CmdLine {
    /// Label in rinit's log and in `--prefix` output.
    pub name: String,
    pub argv: Vec<OsString>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn parse(text: &str) -> Result<CmdLine, String> {
    let trimmed = text.trim_start();
    // `web: nginx ...` names the process; `a:b` (no space after the colon) is a program name.
    let (name, rest) = match trimmed.split_once(':') {
        Some((n, r)) if is_name(n) && r.starts_with(char::is_whitespace) => (Some(n), r),
        _ => (None, trimmed),
    };
    let words = shell_words::split(rest).map_err(|e| format!("cannot split '{text}': {e}"))?;
    let Some(program) = words.first() else {
        return Err("empty command line".to_string());
    };
    let name = match name {
        Some(n) => n.to_string(),
        None => base_name(program),
    };
    Ok(CmdLine {
        name,
        argv: words.into_iter().map(OsString::from).collect(),
    })
}

/// The program's file name, the default label of a process.
pub fn base_name(program: &str) -> String {
    Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| program.to_string())
}

/// Makes labels unique in order of appearance: `worker`, `worker-2`, `worker-3`.
pub fn uniquify(names: &mut [String]) {
    let mut seen: Vec<String> = Vec::new();
    for name in names.iter_mut() {
        let mut candidate = name.clone();
        let mut n = 2;
        while seen.contains(&candidate) {
            candidate = format!("{name}-{n}");
            n += 1;
        }
        seen.push(candidate.clone());
        *name = candidate;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn unique_names() {
        let mut n = vec![
            "a".to_string(),
            "a".to_string(),
            "b".to_string(),
            "a".into(),
        ];
        uniquify(&mut n);
        assert_eq!(n, ["a", "a-2", "b", "a-3"]);
    }
}
