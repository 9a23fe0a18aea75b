#!/usr/bin/env python3
"""rinit's benchmark: rinit against tini, tini-static, dumb-init and catatonit, measured in one run.

usage (as root, from the repository root):

    python3 bench/bench.py [--quick] [--only tini,dumb-init,...] [--rinit PATH] [--build] [--json FILE]

Every workload runs the init as PID 1 of a fresh PID namespace
(`unshare --pid --fork --mount-proc INIT COMMAND`), the way a container runtime starts it.
The inits are invoked as `tini --`, `tini-static --`, `dumb-init`, `catatonit --` and `rinit --`.
Missing peers are installed with `apt-get install -y tini dumb-init catatonit` (only when one is
missing, and the script says so); rinit is the shipped build, target/x86_64-unknown-linux-musl/
release/rinit, built with `cargo build --release --target x86_64-unknown-linux-musl` when that
file does not exist (or always, with --build). `--also NAME=PATH` adds another rinit build as a
column (e.g. `--also rinit-glibc=target/x86_64-unknown-linux-gnu/release/rinit`).
An init that is missing, cannot be installed or built, or fails to run `/bin/true`, loses its
column and the output says why.

The figures (lower is better for all of them):

binary size, KiB
    Size of the executable file. "static"/"dynamic" is shown beside it: a dynamic binary
    also maps libc, so compare rinit (static) with the static peers.
startup overhead, ms
    Wall time of `unshare ... INIT /bin/true` minus that of `unshare ... /bin/true`, medians over
    many rounds. Each round runs every init and the bare command once, in a shuffled order, so
    drift in the machine's speed hits all of them alike.
idle RSS, KiB
    VmRSS of the init process while its child (`sleep`) runs and nothing happens.
idle wake-ups per second
    Context switches (voluntary + involuntary, all threads) of the idle init during 5 s, divided by
    5. An init that blocks in the kernel with no timer scores 0; tini wakes once a second.
    All inits idle side by side in the same 5 s window.
SIGTERM -> child's handler, µs
    SIGTERM is sent to the init (from outside the namespace) while its child, a small C program,
    waits in sigsuspend(); the child's handler takes a CLOCK_MONOTONIC timestamp. The figure is that
    timestamp minus the one taken just before kill(), median over the runs. It is the cost of the
    init's signal forwarding plus two wake-ups. (The team's earlier notes used a Python child, whose
    own signal handling adds ~0.4 ms; numbers here are lower for every init.)
SIGTERM -> init exit, ms
    Same runs: time from kill() until the init process itself has exited (seen through a pidfd):
    forwarding, the child's exit, reaping, and the init's own shutdown.
lost SIGTERMs
    Runs in which the child never saw the signal or the init did not exit within the timeouts
    (the run is then killed); tini and dumb-init are known to lose a SIGTERM sent right after they
    forked, which this benchmark avoids by waiting for the child to be ready, so any count here is
    a fault.
orphan storm: init CPU, ms
    bench/storm.c, as the init's child, makes 10,000 orphans (fork, fork, exit) that PID 1 must
    reap; the figure is the CPU time PID 1 spent meanwhile (from /proc/1/schedstat inside the
    namespace), median over the repetitions.
orphan storm: drain, ms
    Time from storm's last fork until no zombie was left in the namespace.
orphan storm: zombies left
    Zombies still there 10 s after the storm (worst repetition). Anything but 0 is a bug.

How to read the output: progress goes to stderr; stdout gets two markdown tables. The first has
one column per init. The second gives, for each figure, rinit's value divided by the best peer's
value in the same run ("< 1" means rinit wins, "1.30" means 30 % worse). The machine is shared and
noisy: absolute times move by a factor of 2 between runs, so only ratios within one run mean
anything; never compare absolute figures across runs or machines.

--quick shrinks the repetitions (the run takes well under a minute); a normal run takes about
two minutes on 2 cores.
"""

import argparse
import json
import math
import os
import platform
import random
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MUSL = "x86_64-unknown-linux-musl"
RINIT_DEFAULT = os.path.join(REPO, "target", MUSL, "release", "rinit")
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]

# name, words before the command (argv[0] resolved later), Debian package providing it
PEERS = [
    ("tini", ["tini", "--"], "tini"),
    ("tini-static", ["tini-static", "--"], "tini"),
    ("dumb-init", ["dumb-init"], "dumb-init"),
    ("catatonit", ["catatonit", "--"], "catatonit"),
]
ALL_NAMES = [p[0] for p in PEERS] + ["rinit"]

# Repetitions: startup rounds, SIGTERM rounds, storm repetitions, orphans per storm, idle seconds
NORMAL = dict(startup=400, rss=21, sigterm=50, storm=7, orphans=10000, idle=5.0)
QUICK = dict(startup=100, rss=15, sigterm=15, storm=1, orphans=10000, idle=5.0)

# The SIGTERM child: prints "ready", waits in sigsuspend(), its handler records CLOCK_MONOTONIC,
# then it prints "got NS" and exits 0. SIGTERM stays blocked except inside sigsuspend(), so the
# handler runs exactly there and the timestamp is the moment of delivery.
TERM_CHILD_C = r"""
#include <signal.h>
#include <stdio.h>
#include <time.h>
static volatile sig_atomic_t got;
static struct timespec ts;
static void on_term(int s) { (void)s; clock_gettime(CLOCK_MONOTONIC, &ts); got = 1; }
int main(void)
{
    sigset_t term, wait_mask;
    struct sigaction sa = {0};
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    printf("ready\n");
    fflush(stdout);
    while (!got)
        sigsuspend(&wait_mask);
    printf("got %lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    fflush(stdout);
    return 0;
}
"""

NAN = float("nan")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Finding, installing and building the inits


class Init:
    def __init__(self, name, argv, package=None):
        self.name = name
        self.argv = argv  # words before the command, argv[0] an absolute path
        self.package = package

    @property
    def path(self):
        return self.argv[0]


def apt_install(packages):
    """Install Debian packages; True on success. Runs apt-get update only if the first try fails."""
    if not shutil.which("apt-get"):
        log("  apt-get not found: cannot install " + " ".join(packages))
        return False
    cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + packages
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log("  running: " + " ".join(cmd))
    if subprocess.run(cmd, stdout=sys.stderr, env=env).returncode == 0:
        return True
    log("  apt-get install failed; running apt-get update and trying again")
    subprocess.run(["apt-get", "update"], stdout=sys.stderr, env=env)
    return subprocess.run(cmd, stdout=sys.stderr, env=env).returncode == 0


def find_peers(wanted, notes):
    wanted_peers = [p for p in PEERS if p[0] in wanted]
    missing = sorted({pkg for name, _, pkg in wanted_peers if not shutil.which(name)})
    if missing:
        log("missing peer package(s): %s; installing them with apt-get" % ", ".join(missing))
        if not apt_install(missing):
            log("  could not install " + ", ".join(missing))
    inits = []
    for name, argv, pkg in wanted_peers:
        path = shutil.which(argv[0])
        if path:
            inits.append(Init(name, [path] + argv[1:], pkg))
        else:
            notes.append(f"{name}: not found and could not be installed (package {pkg}); skipped")
    return inits


def find_rinit(path, build, notes):
    if build or not os.path.exists(path):
        if path != RINIT_DEFAULT:
            if not os.path.exists(path):
                notes.append(f"rinit: {path} does not exist; skipped")
                return None
        else:
            why = "--build given" if build else f"{os.path.relpath(path, REPO)} not found"
            log(f"rinit: {why}; running cargo build --release --target {MUSL}")
            r = subprocess.run(["cargo", "build", "--release", "--target", MUSL], cwd=REPO,
                               stdout=sys.stderr)
            if r.returncode != 0 or not os.path.exists(path):
                notes.append("rinit: cargo build --release failed; skipped")
                return None
    return Init("rinit", [os.path.abspath(path), "--"])


def sanity_check(inits, notes):
    """Keep the inits that run `/bin/true` as PID 1 and exit 0."""
    ok = []
    for init in inits:
        try:
            r = subprocess.run(UNSHARE + init.argv + ["/bin/true"], capture_output=True, text=True,
                               timeout=10)
            if r.returncode == 0:
                ok.append(init)
                continue
            why = f"exit code {r.returncode}"
            if r.stderr.strip():
                why += ": " + r.stderr.strip().splitlines()[-1]
        except subprocess.TimeoutExpired:
            why = "did not exit within 10 s"
        notes.append(f"{init.name}: `{' '.join(init.argv)} /bin/true` failed ({why}); skipped")
    return ok


def compile_c(src_path, out_path):
    subprocess.run(["gcc", "-O2", "-o", out_path, src_path], check=True)


def version_of(init):
    if init.package:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", init.package],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.strip()
    try:
        r = subprocess.run([init.path, "--version"], capture_output=True, text=True, timeout=5)
        out = (r.stdout or r.stderr).strip().splitlines()
        return out[0] if r.returncode == 0 and out else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


# ---------------------------------------------------------------------------------------------
# Helpers


def is_static(path):
    """True when the ELF file has no program interpreter (PT_INTERP), i.e. is statically linked."""
    with open(path, "rb") as f:
        ident = f.read(64)
        if ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
            return None  # not a little-endian 64-bit ELF file: don't guess
        phoff = struct.unpack_from("<Q", ident, 32)[0]
        phentsize, phnum = struct.unpack_from("<HH", ident, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))


def init_pid_of(unshare_pid, timeout=5.0):
    """PID (in our namespace) of the init: `unshare --fork`'s only child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{unshare_pid}/task/{unshare_pid}/children") as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
        except FileNotFoundError:
            return None  # unshare already exited
        time.sleep(0.002)
    return None


def status_fields(pid, keys):
    """Sum the given /proc/PID/task/*/status fields over all threads (VmRSS is per process)."""
    out = dict.fromkeys(keys, 0)
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in out:
                    if k.startswith("Vm"):
                        out[k] = int(v.split()[0])
                    else:
                        out[k] += int(v.split()[0])
    return out


def kill_quietly(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, TypeError):
        pass


def median(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return statistics.median(xs) if xs else NAN


class LineReader:
    """Read lines from a pipe with a deadline."""

    def __init__(self, fd):
        self.fd, self.buf = fd, b""

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# Measurements


def spread(xs):
    """(median, 25th percentile, 75th percentile) of the values that are numbers."""
    xs = sorted(x for x in xs if not math.isnan(x))
    if not xs:
        return NAN, NAN, NAN
    if len(xs) < 4:
        return statistics.median(xs), xs[0], xs[-1]
    q = statistics.quantiles(xs, n=4)
    return statistics.median(xs), q[0], q[2]


def measure_startup(inits, rounds):
    """Wall time (ms) of `INIT /bin/true` minus the median of bare `/bin/true`, all in unshare:
    (median, p25, p75) per init over interleaved rounds."""
    argvs = [["/bin/true"]] + [i.argv + ["/bin/true"] for i in inits]
    times = [[] for _ in argvs]
    order = list(range(len(argvs)))
    rng = random.Random(1)
    for _ in range(rounds):
        rng.shuffle(order)
        for k in order:
            t = time.perf_counter()
            subprocess.run(UNSHARE + argvs[k], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[k].append(time.perf_counter() - t)
    base = statistics.median(times[0])
    return {i.name: spread([(x - base) * 1000 for x in t]) for i, t in zip(inits, times[1:])}


def wait_forked(pid, timeout=5.0):
    """Waits until the init `pid` has a child (it has started its command)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                if f.read().split():
                    return True
        except FileNotFoundError:
            return False
        time.sleep(0.002)
    return False


def measure_rss(inits, rounds):
    """Idle RSS (KiB) of each init with `sleep` as its child: (median, p25, p75) over
    interleaved rounds, each a fresh start."""
    res = {i.name: [] for i in inits}
    order = list(inits)
    rng = random.Random(4)
    for _ in range(rounds):
        rng.shuffle(order)
        for i in order:
            p = subprocess.Popen(UNSHARE + i.argv + ["sleep", "30"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            pid = init_pid_of(p.pid)
            try:
                if pid and wait_forked(pid):
                    time.sleep(0.05)  # let the init reach its wait
                    res[i.name].append(float(status_fields(pid, ("VmRSS",))["VmRSS"]))
                else:
                    res[i.name].append(NAN)
            except FileNotFoundError:
                res[i.name].append(NAN)
            finally:
                kill_quietly(pid)
                kill_quietly(p.pid)
                p.wait()
    return {n: spread(v) for n, v in res.items()}


def measure_idle(inits, seconds):
    """Wake-ups per second of every init, all idling side by side; also their RSS (KiB)."""
    procs = {}
    try:
        for i in inits:
            p = subprocess.Popen(UNSHARE + i.argv + ["sleep", str(int(seconds) + 60)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs[i.name] = (p, init_pid_of(p.pid))
        time.sleep(0.5)  # let start-up finish
        ctx = ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
        before, rss = {}, {}
        for name, (_, pid) in procs.items():
            if pid:
                st = status_fields(pid, ("VmRSS",) + ctx)
                rss[name], before[name] = st["VmRSS"], sum(st[k] for k in ctx)
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        out = {}
        for name, (_, pid) in procs.items():
            try:
                st = status_fields(pid, ctx)
                out[name] = (rss[name], (sum(st[k] for k in ctx) - before[name]) / elapsed)
            except (KeyError, FileNotFoundError, TypeError):
                out[name] = (NAN, NAN)  # the init died while idle
        return out
    finally:
        for p, pid in procs.values():
            kill_quietly(pid)
            kill_quietly(p.pid)
            p.wait()


def rinit_scenarios(rinit, tmp):
    """rinit idling in the states that could tempt an init to poll: a `--watch` in place, and
    a `ready=` probe that was satisfied at start. Both must show 0 wake-ups."""
    conf = os.path.join(tmp, "conf")
    os.makedirs(conf, exist_ok=True)
    ready = os.path.join(tmp, "ready")
    open(ready, "w").close()
    path = rinit.argv[0]
    return [
        Init("rinit --watch", [path, "--watch", f"HUP={conf}", "--"]),
        Init("rinit ready=", [path, "--run", f"app,ready=file:{ready}: sleep 100", "--"]),
    ]


def sigterm_once(init, child):
    """One run: (µs from kill() to the child's handler, ms from kill() to the init's exit)."""
    p = subprocess.Popen(UNSHARE + init.argv + [child], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    pid, pidfd = None, None
    try:
        pid = init_pid_of(p.pid)
        out = LineReader(p.stdout.fileno())
        if pid is None or out.readline(10) != "ready":
            return NAN, NAN
        time.sleep(0.02)  # let the child reach sigsuspend() and the init its wait
        pidfd = os.pidfd_open(pid)
        t0 = time.monotonic_ns()
        os.kill(pid, signal.SIGTERM)
        got = out.readline(3)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        # If the child got the signal, allow for a grace period (rinit's default is 10 s);
        # if it did not, the signal was lost: don't wait long for the init.
        exited = poller.poll(12000 if got else 1000)
        t_exit = time.monotonic_ns()
        lat = (int(got.split()[1]) - t0) / 1e3 if got and got.startswith("got ") else NAN
        return lat, ((t_exit - t0) / 1e6 if exited else NAN)
    finally:
        if pidfd is not None:
            os.close(pidfd)
        kill_quietly(pid)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        p.stdout.close()


def measure_sigterm(inits, child, rounds):
    res = {i.name: ([], []) for i in inits}
    order = list(inits)
    rng = random.Random(2)
    for _ in range(rounds):
        rng.shuffle(order)
        for i in order:
            lat, ex = sigterm_once(i, child)
            res[i.name][0].append(lat)
            res[i.name][1].append(ex)
    return {name: (median(lat), median(ex), sum(math.isnan(a) or math.isnan(b)
                                                 for a, b in zip(lat, ex)))
            for name, (lat, ex) in res.items()}


def measure_storm(inits, storm, orphans, reps):
    res = {i.name: [] for i in inits}
    order = list(inits)
    rng = random.Random(3)
    for _ in range(reps):
        rng.shuffle(order)
        for i in order:
            try:
                r = subprocess.run(UNSHARE + i.argv + [storm, str(orphans)], capture_output=True,
                                   text=True, timeout=120)
                vals = [float(x) for x in r.stdout.split()]
            except (subprocess.TimeoutExpired, ValueError):
                vals = []
            res[i.name].append(vals if len(vals) == 4 else [NAN] * 4)
    out = {}
    for name, runs in res.items():
        zombies = [r[3] for r in runs if not math.isnan(r[3])]
        out[name] = (median([r[2] for r in runs]), median([r[1] for r in runs]),
                     max(zombies) if zombies else NAN)
    return out


# ---------------------------------------------------------------------------------------------
# Output


def fmt(v, digits):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def ratio_cell(rinit, peers):
    """rinit's value over the best (lowest) peer's value, naming the peer."""
    peers = {n: v for n, v in peers.items() if not math.isnan(v)}
    if not peers:
        return "n/a", "n/a"
    b = min(peers.values())
    best = ", ".join(n for n, v in peers.items() if v == b)  # all of them on a tie
    if math.isnan(rinit):
        return best, "n/a"
    if b == 0:
        return best, ("= (all 0)" if rinit == 0 else "∞ (best peer is 0)")
    if b < 0 or rinit < 0:
        return best, f"n/a ({fmt(rinit, 2)} vs {fmt(b, 2)})"
    return best, f"{rinit / b:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (under a minute)")
    ap.add_argument("--only", metavar="NAMES",
                    help="comma-separated subset of: " + ",".join(ALL_NAMES))
    ap.add_argument("--rinit", metavar="PATH", default=RINIT_DEFAULT,
                    help="rinit binary (default: target/x86_64-unknown-linux-musl/release/rinit)")
    ap.add_argument("--also", metavar="NAME=PATH", action="append", default=[],
                    help="another rinit build to measure as its own column (repeatable)")
    ap.add_argument("--build", action="store_true",
                    help="run cargo build --release even if the rinit binary exists")
    ap.add_argument("--json", metavar="FILE", help="also write the raw figures to FILE")
    args = ap.parse_args()

    wanted = ALL_NAMES
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in ALL_NAMES]
        if unknown:
            ap.error(f"unknown init(s) {', '.join(unknown)}; choose from {', '.join(ALL_NAMES)}")
    if os.geteuid() != 0:
        sys.exit("bench.py: must run as root (it makes PID namespaces with unshare)")
    for tool in ("unshare", "gcc"):
        if not shutil.which(tool):
            sys.exit(f"bench.py: {tool} not found")
    reps = QUICK if args.quick else NORMAL
    started = time.monotonic()

    notes = []
    inits = find_peers(wanted, notes)
    if "rinit" in wanted:
        r = find_rinit(args.rinit, args.build, notes)
        if r:
            inits.append(r)
    for extra in args.also:
        name, _, path = extra.partition("=")
        if not path or not os.path.exists(path):
            ap.error(f"--also {extra}: want NAME=PATH of an existing binary")
        inits.append(Init(name, [os.path.abspath(path), "--"]))
    inits = sanity_check(inits, notes)
    for n in notes:
        log("note: " + n)
    if not inits:
        sys.exit("bench.py: no init left to measure")

    tmp = tempfile.mkdtemp(prefix="rinit-bench-")
    try:
        storm = os.path.join(tmp, "storm")
        compile_c(os.path.join(REPO, "bench", "storm.c"), storm)
        child_src = os.path.join(tmp, "term_child.c")
        with open(child_src, "w") as f:
            f.write(TERM_CHILD_C)
        child = os.path.join(tmp, "term_child")
        compile_c(child_src, child)

        names = [i.name for i in inits]
        log(f"measuring {', '.join(names)} ({'quick' if args.quick else 'normal'} run)")
        fig = {n: {} for n in names}
        for i in inits:
            fig[i.name]["size_kib"] = os.path.getsize(os.path.realpath(i.path)) / 1024
            fig[i.name]["static"] = is_static(os.path.realpath(i.path))
            fig[i.name]["version"] = version_of(i)

        log(f"  startup: {reps['startup']} interleaved rounds")
        for n, (med, lo, hi) in measure_startup(inits, reps["startup"]).items():
            fig[n]["startup_ms"], fig[n]["startup_ms_spread"] = med, (lo, hi)

        log(f"  idle RSS: {reps['rss']} interleaved rounds")
        for n, (med, lo, hi) in measure_rss(inits, reps["rss"]).items():
            fig[n]["idle_rss_kib"], fig[n]["idle_rss_kib_spread"] = med, (lo, hi)

        scenarios = []
        rinit_init = next((i for i in inits if i.name == "rinit"), None)
        if rinit_init:
            scenarios = sanity_check(rinit_scenarios(rinit_init, tmp), notes)
        log(f"  idle wake-ups: {reps['idle']:g} s, all inits side by side"
            + (f", with {', '.join(i.name for i in scenarios)}" if scenarios else ""))
        for n, (rss, wk) in measure_idle(inits + scenarios, reps["idle"]).items():
            if n not in fig:
                fig[n] = {}
            fig[n]["idle_wakeups_per_s"] = wk
            if n in [i.name for i in scenarios]:
                fig[n]["idle_rss_kib"] = rss

        log(f"  SIGTERM: {reps['sigterm']} interleaved rounds")
        for n, (lat, ex, lost) in measure_sigterm(inits, child, reps["sigterm"]).items():
            fig[n]["sigterm_to_handler_us"], fig[n]["sigterm_to_exit_ms"] = lat, ex
            fig[n]["sigterm_lost"] = lost

        log(f"  orphan storm: {reps['orphans']} orphans x {reps['storm']} repetition(s)")
        for n, (cpu, drain, zombies) in measure_storm(inits, storm, reps["orphans"],
                                                      reps["storm"]).items():
            fig[n]["storm_init_cpu_ms"], fig[n]["storm_drain_ms"] = cpu, drain
            fig[n]["storm_zombies_left"] = zombies
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # key, label, digits
    rows = [
        ("size_kib", "binary size, KiB", 0),
        ("startup_ms", f"startup overhead of `INIT /bin/true`, ms (median of {reps['startup']})", 2),
        ("idle_rss_kib", f"idle RSS, KiB (median of {reps['rss']})", 0),
        ("idle_wakeups_per_s", f"idle wake-ups per second (over {reps['idle']:g} s)", 2),
        ("sigterm_to_handler_us", f"SIGTERM → child's handler, µs (median of {reps['sigterm']})", 1),
        ("sigterm_to_exit_ms", "SIGTERM → init exit, ms (median)", 2),
        ("sigterm_lost", f"lost SIGTERMs (of {reps['sigterm']})", 0),
        ("storm_init_cpu_ms",
         f"init CPU to reap {reps['orphans']:,} orphans, ms (median of {reps['storm']})", 1),
        ("storm_drain_ms", "orphan storm: drain after last fork, ms", 1),
        ("storm_zombies_left", "orphan storm: zombies left", 0),
    ]

    print(f"\nrinit benchmark, {time.strftime('%Y-%m-%d %H:%M')}, Linux {platform.release()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
          f"{'quick' if args.quick else 'normal'} run, {time.monotonic() - started:.0f} s\n")
    def cell(n, key, digits):
        v = fmt(fig[n].get(key, NAN), digits)
        lo_hi = fig[n].get(key + "_spread")
        if lo_hi and v != "n/a":
            v += f" ({fmt(lo_hi[0], digits)}–{fmt(lo_hi[1], digits)})"
        return v

    print("Cells: median (25th–75th percentile) where a figure is repeated.\n")
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    print("| version | " + " | ".join(str(fig[n]["version"]) for n in names) + " |")
    print("| linkage | " + " | ".join({True: "static", False: "dynamic", None: "?"}[fig[n]["static"]]
                                      for n in names) + " |")
    for key, label, digits in rows:
        print(f"| {label} | " + " | ".join(cell(n, key, digits) for n in names) + " |")

    extra = [n for n in fig if n not in names]
    if extra:
        print("\n| rinit idling with | idle wake-ups per second | idle RSS, KiB |")
        print("|---|---:|---:|")
        for n in extra:
            print(f"| `{n}` | {fmt(fig[n].get('idle_wakeups_per_s', NAN), 2)} | "
                  f"{fmt(fig[n].get('idle_rss_kib', NAN), 0)} |")

    if "rinit" in fig and len(names) > 1:
        peers = [n for n in names if not n.startswith("rinit")]
        print("\n| rinit / best peer (same run; < 1: rinit better) | best peer | ratio |")
        print("|---|---|---:|")
        for key, label, _ in rows:
            pool = peers
            if key == "size_kib":
                same = [n for n in peers if fig[n]["static"] == fig["rinit"]["static"]]
                if same:
                    pool = same
                    label += " (vs " + ("static" if fig["rinit"]["static"] else "dynamic") + \
                        " peers)"
            best, cell = ratio_cell(fig["rinit"][key], {n: fig[n][key] for n in pool})
            print(f"| {label} | {best} | {cell} |")
    elif "rinit" not in fig:
        print("\n(no rinit column, so no ratio table)")

    if notes:
        print()
        for n in notes:
            print("- " + n)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"reps": reps, "figures": fig, "notes": notes}, f, indent=2)


if __name__ == "__main__":
    main()
