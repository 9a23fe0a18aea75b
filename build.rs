//! Gates the integration tests on the tools they need, so that a missing tool never counts as a
//! pass: each tool that cannot be found sets a `missing_TOOL` cfg, and a test that needs it is
//! marked `#[cfg_attr(missing_TOOL, ignore = "...")]`, which cargo's summary counts as ignored.
//! Under `CI=true` nothing is ever reported missing: the tests run and a missing tool fails them.
//! Nothing here touches the rinit binary's code; see docs/testing.md.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// (cfg suffix, how to find it). `Path` is an absolute path, `Prog` a program on PATH.
enum Probe {
    Path(&'static str),
    Prog(&'static str),
    StaticElf(&'static str),
    Root,
}

const TOOLS: &[(&str, &[Probe])] = &[
    ("root", &[Probe::Root]),
    ("runc", &[Probe::Prog("runc")]),
    ("busybox", &[Probe::StaticElf("/bin/busybox")]),
    // Debian's docker.io: the daemon and the client that came with it (another client may come
    // first on PATH).
    (
        "docker",
        &[
            Probe::Path("/usr/sbin/dockerd"),
            Probe::Path("/usr/bin/docker"),
        ],
    ),
    ("unshare", &[Probe::Prog("unshare")]),
    ("setsid", &[Probe::Prog("setsid")]),
    ("script", &[Probe::Prog("script")]),
    ("bash", &[Probe::Prog("bash")]),
    ("python3", &[Probe::Prog("python3")]),
    ("kubernetes_validate", &[Probe::Prog("kubernetes-validate")]),
    ("qemu_aarch64", &[Probe::Prog("qemu-aarch64-static")]),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CI");
    for (name, _) in TOOLS {
        println!("cargo::rustc-check-cfg=cfg(missing_{name})");
    }
    if env::var("CI").is_ok_and(|v| v == "true") {
        return;
    }
    for (name, probes) in TOOLS {
        if !probes.iter().all(found) {
            println!("cargo:rustc-cfg=missing_{name}");
        }
    }
}

/// Whether the tool is there. Every path looked at (found or not) reruns this script when it
/// changes, so installing a tool un-ignores its tests at the next build.
fn found(probe: &Probe) -> bool {
    match probe {
        Probe::Root => fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let uid = s.lines().find_map(|l| l.strip_prefix("Uid:"))?;
                Some(uid.split_whitespace().nth(1)? == "0")
            })
            .unwrap_or(false),
        Probe::Path(p) => watch(Path::new(p)) && is_executable(Path::new(p)),
        Probe::StaticElf(p) => watch(Path::new(p)) && is_static_elf(Path::new(p)),
        Probe::Prog(prog) => {
            let dirs: Vec<PathBuf> = env::var_os("PATH")
                .map(|p| env::split_paths(&p).collect())
                .unwrap_or_default();
            match dirs.iter().map(|d| d.join(prog)).find(|p| is_executable(p)) {
                Some(p) => watch(&p),
                None => {
                    for d in dirs.iter().filter(|d| d.is_dir()) {
                        watch(d);
                    }
                    false
                }
            }
        }
    }
}

/// Reruns the build script when `p` changes (for a directory: a file in it); true if it exists.
fn watch(p: &Path) -> bool {
    let target = if p.exists() {
        p
    } else {
        p.parent().unwrap_or(p)
    };
    println!("cargo:rerun-if-changed={}", target.display());
    p.exists()
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A 64-bit little-endian ELF executable with no program interpreter: it runs in an image with
/// no dynamic loader (Debian's `busybox` package is dynamic, `busybox-static` is not).
fn is_static_elf(p: &Path) -> bool {
    let Ok(b) = fs::read(p) else { return false };
    let u16_at = |o: usize| {
        b.get(o..o + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap_or_default()) as usize)
    };
    if b.get(..5) != Some(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    const PT_INTERP: u32 = 3;
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        b.get(o..o + 4)
            .is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != PT_INTERP)
    })
}
