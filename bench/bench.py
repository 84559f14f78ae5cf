"""The benchmark's driver, started by bench/run once the tools are in place (see bench/run for
the usage). It makes the target side (a user with an empty shell rc file, a key, sshd processes
on 127.0.10.1.. under a subreaper), runs every workload with every tool, checks that each run
did the workload right, and prints the environment, a Markdown table of medians and the
acceptance figures. Everything it starts is stopped when it ends, however it ends.

Only loopback addresses in 127.0.10.0/24 are traffic targets (other test suites on the same
machine use 127.0.0.x to 127.0.2.x).
"""

import argparse
import hashlib
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
WORK = os.path.join(BENCH, "work")
VENV = os.path.join(WORK, "venv")
USER = "kilnbench"
PORT = 2200
OUT = "/tmp/bench/out"
NET = "127.0.10."
TOOL_TIMEOUT = 900  # seconds: a run taking longer is a hang
FANOUT_HOSTS = [1, 10, 50, 200]
ROLE_HOSTS, COPY_HOSTS, FACT_HOSTS, INVENTORY_HOSTS = 20, 5, 50, 10000
BIG_MB = 100

NAMES = {"kiln": "kiln", "pyinfra": "pyinfra", "ansible": "ansible-core tuned",
         "ansible-defaults": "ansible-core defaults"}


def log(msg):
    print(f"bench/run: {msg}", file=sys.stderr, flush=True)


class Failed(Exception):
    pass


def addr(k):
    """The address of host hK."""
    return f"{NET}{k}"


# ---- the target side ----------------------------------------------------------------------


class Target:
    """A test user and sshd processes listening on hosts 1..n, all under one subreaper."""

    def __init__(self, n, work):
        self.n, self.work = n, work
        self.reaper = None
        self.listeners = []

    def start(self):
        try:
            pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(["useradd", "-m", "-s", "/bin/sh", USER], check=True)
        # A new account is locked (`!`), which sshd (without PAM) refuses even for keys.
        subprocess.run(["usermod", "-p", "*", USER], check=True)
        pw = pwd.getpwnam(USER)
        self.home = pw.pw_dir
        for rc in (".profile", ".bashrc"):
            p = os.path.join(self.home, rc)
            open(p, "w").close()
            os.chown(p, pw.pw_uid, pw.pw_gid)
        key = os.path.join(self.work, "id_ed25519")
        for p in (key, key + ".pub"):
            if os.path.exists(p):
                os.unlink(p)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kiln-bench", "-f", key],
                       check=True)
        self.key = key
        ssh = os.path.join(self.home, ".ssh")
        os.makedirs(ssh, exist_ok=True)
        shutil.copy(key + ".pub", os.path.join(ssh, "authorized_keys"))
        for p in (ssh, os.path.join(ssh, "authorized_keys")):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(ssh, 0o700)
        os.chmod(os.path.join(ssh, "authorized_keys"), 0o600)

        for k in range(1, self.n + 1):
            with socket.socket() as s:
                if s.connect_ex((addr(k), PORT)) == 0:
                    raise Failed(f"something already listens on {addr(k)}:{PORT}; stop it first")
        d = os.path.join(self.work, "sshd")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/host_ed25519"], check=True)
        # sshd listens on at most 16 sockets: 16 addresses per sshd process, options as in
        # tests/common/sshd.rs, plus Debian's sftp subsystem (pyinfra uploads files over SFTP,
        # and so does ansible-core without pipelining).
        configs = []
        for i, first in enumerate(range(1, self.n + 1, 16)):
            c = f"{d}/sshd_config.{i}"
            with open(c, "w") as f:
                for k in range(first, min(first + 16, self.n + 1)):
                    f.write(f"ListenAddress {addr(k)}:{PORT}\n")
                f.write(f"""HostKey {d}/host_ed25519
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile {d}/sshd.{i}.pid
MaxStartups 400:30:800
MaxSessions 100
AllowTcpForwarding yes
Subsystem sftp /usr/lib/openssh/sftp-server
PermitRootLogin no
LogLevel ERROR
""")
            configs.append(c)
        # The listeners run under a subreaper: sshd's privsep monitor exits without waiting for
        # the session process, whose CPU (and its shells' and commands') would otherwise go to
        # init and be lost; the reaper collects such orphans, so its children's CPU plus the
        # listeners' own is all the CPU the target side spent.
        pidfile = f"{d}/listeners"
        self.reaper = subprocess.Popen([sys.executable, os.path.join(BENCH, "reaper.py"), pidfile, *configs],
                                       stdin=subprocess.DEVNULL)
        for _ in range(500):
            if os.path.exists(pidfile):
                break
            time.sleep(0.02)
        else:
            raise Failed("the sshd reaper did not start")
        self.listeners = [int(p) for p in open(pidfile).read().split()]
        for k in range(1, self.n + 1):
            for _ in range(500):
                with socket.socket() as s:
                    if s.connect_ex((addr(k), PORT)) == 0:
                        break
                time.sleep(0.02)
            else:
                logs = "".join(open(c + ".log").read() for c in configs)
                raise Failed(f"sshd did not start on {addr(k)}:{PORT}: {logs}")
        log(f"sshd: {len(self.listeners)} process(es) on {addr(1)}..{addr(self.n)} port {PORT}")

    def stop(self):
        if self.reaper and self.reaper.poll() is None:
            self.reaper.terminate()
            try:
                self.reaper.wait(10)
            except subprocess.TimeoutExpired:
                self.reaper.kill()

    @staticmethod
    def _stat(pid):
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1].split()  # fields from the 3rd on

    def cpu(self):
        """CPU seconds (user+sys) the target side has spent: the listeners' own and their
        finished children's, and the orphans the reaper collected."""
        ticks = 0
        for pid in [self.reaper.pid, *self.listeners]:
            f = self._stat(pid)
            ticks += int(f[13]) + int(f[14])  # cutime, cstime
            if pid != self.reaper.pid:
                ticks += int(f[11]) + int(f[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def wait_idle(self):
        """Waits until every connection of the previous run has closed and been reaped."""
        mine = set(self.listeners)
        for _ in range(500):
            busy = False
            for p in os.listdir("/proc"):
                if not p.isdigit():
                    continue
                try:
                    ppid = int(self._stat(p)[1])
                except (OSError, IndexError):
                    continue
                if ppid in mine or (ppid == self.reaper.pid and int(p) not in mine):
                    busy = True
                    break
            if not busy:
                return
            time.sleep(0.02)
        log("warning: sshd connections still open after 10 s")


# ---- inventories --------------------------------------------------------------------------


def write_inventories(work, key, counts):
    d = os.path.join(work, "inv")
    os.makedirs(d, exist_ok=True)
    for n in counts:
        with open(f"{d}/{n}.ini", "w") as f:
            f.write("[bench]\n")
            for k in range(1, n + 1):
                f.write(f"h{k} ansible_host={addr(k)} ansible_port={PORT} ansible_user={USER} "
                        f"ansible_ssh_private_key_file={key}\n")
        with open(f"{d}/{n}.py", "w") as f:
            f.write(f"# pyinfra inventory: {n} hosts\n"
                    f"data = dict(ssh_port={PORT}, ssh_user='{USER}', ssh_key='{key}', ssh_allow_agent=False,\n"
                    "            ssh_look_for_keys=False, ssh_known_hosts_file='/dev/null',"
                    " ssh_strict_host_key_checking='off')\n"
                    "bench = [\n")
            for k in range(1, n + 1):
                f.write(f"    ('h{k}', dict(data, ssh_hostname='{addr(k)}')),\n")
            f.write("]\n")


def write_big_inventory(d):
    """10,000 hosts in 100 groups, [group:vars], group_vars/ files and a parent group; nothing
    connects to them (names under .example.com, addresses never used)."""
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(f"{d}/group_vars")
    out = []
    for g in range(100):
        out.append(f"[g{g:02d}]")
        for h in range(100):
            n = g * 100 + h
            out.append(f"h{n:05d}.example.com ansible_host=10.{g}.{h // 256}.{h % 256} idx={n}")
        out.append(f"[g{g:02d}:vars]\ngroup_no={g}")
        with open(f"{d}/group_vars/g{g:02d}.yml", "w") as f:
            f.write(f"tier: t{g % 7}\nweight: {g}\n")
    out.append("[dc1:children]\n" + "\n".join(f"g{g:02d}" for g in range(50)))
    out.append("[all:vars]\nenv=prod")
    with open(f"{d}/hosts", "w") as f:
        f.write("\n".join(out) + "\n")


# ---- checks: did the tool do the workload? --------------------------------------------------


def recap(text):
    """PLAY RECAP counts per host, from kiln's or ansible-core's output."""
    return {h: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", r)}
            for h, r in re.findall(r"^(h\d+)\s*:\s*(ok=.*)$", text, re.M)}


def check_recap(text, n, mode, first_changes):
    bad = []
    got = recap(text)
    for k in range(1, n + 1):
        c = got.get(f"h{k}")
        if c is None:
            bad.append(f"h{k}: no PLAY RECAP line")
        elif c.get("failed") or c.get("unreachable"):
            bad.append(f"h{k}: failed or unreachable: {c}")
        elif mode == "rerun" and c.get("changed"):
            bad.append(f"h{k}: the rerun changed {c['changed']} task(s)")
        elif mode == "first" and first_changes is not None and c.get("changed") != first_changes:
            bad.append(f"h{k}: the first run changed {c.get('changed')} task(s), not {first_changes}")
    return bad


def read(p):
    try:
        with open(p) as f:
            return f.read()
    except OSError as e:
        return e


def check_fanout(n, _):
    bad = []
    for k in range(1, n + 1):
        f = f"{OUT}/h{k}/app.conf"
        want = f"port=8080\nname=h{k}\ndebug=false\n"
        got = read(f)
        if got != want:
            bad.append(f"h{k}: {f} holds {got!r}, not {want!r}")
        elif (os.stat(f).st_mode & 0o777, os.stat(os.path.dirname(f)).st_mode & 0o777) != (0o644, 0o755):
            bad.append(f"h{k}: modes of {f} and its directory are not 644 and 755")
    return bad


def check_role(n, _):
    bad = []
    for k in range(1, n + 1):
        b = f"{OUT}/h{k}/app"
        conf = read(f"{b}/conf/app.conf")
        if not isinstance(conf, str) or "port = 8080" not in conf or "workers = 4" not in conf:
            bad.append(f"h{k}: {b}/conf/app.conf holds {conf!r}")
        extra = read(f"{b}/conf/extra.conf")
        if not isinstance(extra, str) or "timeout=30" not in extra or f"host=h{k}" not in extra:
            bad.append(f"h{k}: {b}/conf/extra.conf holds {extra!r}")
        for p in ("conf/users/erin.conf", "conf/vhosts/admin.conf", "run/restarted", "run/reloaded",
                  "run/initialized", "data/alice", "log/app.log"):
            if not os.path.exists(f"{b}/{p}"):
                bad.append(f"h{k}: no {b}/{p}")
        if not os.path.islink(f"{b}/current"):
            bad.append(f"h{k}: {b}/current is not a link")
    return bad


def check_loop(n, _):
    bad = []
    for i in range(100):
        got = read(f"{OUT}/h1/loop/{i}.conf")
        if not isinstance(got, str) or f"name = item-{i:03d}" not in got:
            bad.append(f"{OUT}/h1/loop/{i}.conf holds {got!r}")
    return bad


def check_copy(n, big_sha):
    bad = []
    for k in range(1, n + 1):
        p = f"{OUT}/h{k}/big.bin"
        try:
            with open(p, "rb") as f:
                sha = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError as e:
            bad.append(f"h{k}: {e}")
            continue
        if sha != big_sha:
            bad.append(f"h{k}: {p} differs from the source")
    return bad


def no_check(n, _):
    return []


# ---- workloads --------------------------------------------------------------------------------


class Workload:
    """One row group of the table: a name, how many hosts, which modes (first/rerun or one run),
    the command line of each tool, and a check of the result."""

    def __init__(self, key, title, hosts, modes, cmds, check, first_changes=None, notes=(), recap=True):
        self.key, self.title, self.hosts, self.modes = key, title, hosts, modes
        self.cmds, self.check, self.first_changes, self.notes = cmds, check, first_changes, list(notes)
        self.recap, self.big_sha = recap, None


def playbook_cmds(n, site, extra=None, deploy=None, kiln=None, tools=("kiln", "pyinfra", "ansible")):
    inv = os.path.join(WORK, "inv", str(n))
    ev = ["-e", extra] if extra else []
    cmds = {}
    if "kiln" in tools:
        cmds["kiln"] = [kiln, "run", site, "-i", inv + ".ini", "-f", str(n), "--host-key-checking", "off", *ev]
    if "pyinfra" in tools and deploy:
        cmds["pyinfra"] = [f"{VENV}/bin/pyinfra", "-y", "--parallel", str(n), inv + ".py", deploy]
    if "ansible" in tools:
        cmds["ansible"] = ["env", "ANSIBLE_PIPELINING=True", f"{VENV}/bin/ansible-playbook", "-f", str(n),
                           "-i", inv + ".ini", site, *ev]
    if "ansible-defaults" in tools:
        cmds["ansible-defaults"] = ["env", "ANSIBLE_PIPELINING=False", f"{VENV}/bin/ansible-playbook", "-f", "5",
                                    "-i", inv + ".ini", site, *ev]
    return cmds


def workloads(opts, kiln, big):
    wl = []
    if "fanout" in opts.workloads:
        for n in opts.hosts:
            tools = ["kiln", "pyinfra", "ansible"] + (["ansible-defaults"] if n == 50 else [])
            wl.append(Workload(f"fanout-{n}", "fan-out, 4 tasks", n, ("first", "rerun"),
                               playbook_cmds(n, f"{BENCH}/fanout/site.yml", deploy=f"{BENCH}/fanout/deploy.py",
                                             kiln=kiln, tools=tools),
                               check_fanout, first_changes=3))
    if "role" in opts.workloads:
        wl.append(Workload("role", "role, 30 tasks", ROLE_HOSTS, ("first", "rerun"),
                           playbook_cmds(ROLE_HOSTS, f"{BENCH}/role/site.yml", deploy=f"{BENCH}/role/deploy.py",
                                         kiln=kiln),
                           check_role))
    if "loop" in opts.workloads:
        wl.append(Workload("loop", "100-item template loop", 1, ("first", "rerun"),
                           playbook_cmds(1, f"{BENCH}/loop/site.yml", deploy=f"{BENCH}/loop/deploy.py", kiln=kiln),
                           check_loop, first_changes=2))
    if "copy" in opts.workloads:
        wl.append(Workload("copy", f"copy {BIG_MB} MB", COPY_HOSTS, ("first", "rerun"),
                           playbook_cmds(COPY_HOSTS, f"{BENCH}/copy/site.yml", extra=f"bench_file={big}",
                                         deploy=f"{BENCH}/copy/deploy.py", kiln=kiln),
                           check_copy, first_changes=2))
    if "facts" in opts.workloads:
        inv = os.path.join(WORK, "inv", str(FACT_HOSTS))
        cmds = playbook_cmds(FACT_HOSTS, f"{BENCH}/facts/site.yml", kiln=kiln)
        # pyinfra has no "all facts" (no setup module): the closest is asking for a set of facts.
        cmds["pyinfra"] = [f"{VENV}/bin/pyinfra", "-y", "--parallel", str(FACT_HOSTS), inv + ".py", "fact",
                           *PYINFRA_FACTS]
        wl.append(Workload("facts", "fact gathering", FACT_HOSTS, ("run",), cmds, no_check,
                           notes=[f"pyinfra has no setup module: its row asks for {len(PYINFRA_FACTS)} facts "
                                  f"({', '.join(f.split('.')[1] for f in PYINFRA_FACTS)})"]))
    if "inventory" in opts.workloads:
        d = os.path.join(WORK, "bigInventory")
        wl.append(Workload("inventory", "inventory --list", INVENTORY_HOSTS, ("run",),
                           {"kiln": [kiln, "inventory", "-i", f"{d}/hosts", "--list"],
                            "ansible": [f"{VENV}/bin/ansible-inventory", "-i", f"{d}/hosts", "--list"]},
                           no_check, recap=False, notes=["pyinfra: no equivalent (its inventories are Python, it reads no "
                                            "INI inventory and has no listing); nothing connects"]))
    return wl


PYINFRA_FACTS = ["server.Hostname", "server.Os", "server.OsVersion", "server.Arch", "server.Kernel",
                 "server.LinuxDistribution", "server.Users", "server.Groups", "server.Mounts",
                 "server.Date", "server.Home", "server.Path"]


# ---- measuring ----------------------------------------------------------------------------


def close_masters(cp):
    """ansible-core's ssh ControlMaster processes (ControlPersist=60s) outlive its runs: they are
    closed after each run so the next starts cold, like the other tools."""
    socks = [os.path.join(cp, s) for s in os.listdir(cp)]
    procs = [subprocess.Popen(["ssh", "-o", f"ControlPath={s}", "-O", "exit", "x"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for s in socks]
    for p in procs:
        p.wait()


def stop_group(p):
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(wait)
            return
        except subprocess.TimeoutExpired:
            pass


def run_once(target, w, tool, mode, logf, cp):
    """Runs one tool once; returns (wall, cpu, rss MB, sshd cpu) or raises Failed."""
    cmd = w.cmds[tool]
    if target:
        target.wait_idle()
        before = target.cpu()
    tf = os.path.join(WORK, "time")
    with open(logf, "w") as out, open(logf + ".err", "w") as err:
        # A session of its own: a timeout or an interruption stops the tool's whole tree.
        p = subprocess.Popen(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf, *cmd], stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = p.wait(TOOL_TIMEOUT)
        except BaseException as e:
            stop_group(p)
            if isinstance(e, subprocess.TimeoutExpired):
                rc = 124
            else:
                raise
    if tool.startswith("ansible"):
        close_masters(cp)
    sshd = 0.0
    if target:
        target.wait_idle()
        sshd = target.cpu() - before
    text = open(logf, errors="replace").read()
    if rc != 0:
        hang = " (timed out: a hang)" if rc == 124 else ""
        errs = open(logf + ".err", errors="replace").read()
        raise Failed(f"{tool} ({w.key}, {mode}) exited with {rc}{hang}\ncommand: {' '.join(cmd)}\n"
                     f"output ({logf}), last lines:\n" + "\n".join(text.splitlines()[-30:]) +
                     "\nstderr, last lines:\n" + "\n".join(errs.splitlines()[-15:]))
    bad = w.check(w.hosts, w.big_sha)
    if w.recap and tool != "pyinfra":
        bad += check_recap(text, w.hosts, mode, w.first_changes)
    if bad:
        msg = f"{tool} ({w.key}, {mode}) got the workload wrong: " + "; ".join(bad[:5]) + \
              (f" (and {len(bad) - 5} more)" if len(bad) > 5 else "") + f"\nsee {logf}"
        if tool == "kiln" or mode != "rerun":
            raise Failed(msg)
        log(f"warning: {msg}")
        w.notes.append(f"{NAMES[tool]}'s rerun is not a no-change run ({bad[0]})")
    wall, user, sys_, rss = open(tf).read().split()[-4:]
    return float(wall), float(user) + float(sys_), int(rss) // 1024, sshd


def measure(opts, target, wl, cp):
    """Rounds, each tool in turn within a round, so drift on the machine hits all tools alike.
    Returns {(workload key, mode, tool): [(wall, cpu, rss, sshd), ...]}."""
    res = {}
    os.makedirs(f"{WORK}/logs", exist_ok=True)
    for w in wl:
        reps = {}
        for t in w.cmds:
            if t not in opts.tools:
                continue
            if (t, w.key) in opts.skip:
                w.notes.append(f"{NAMES[t]}: not run on {w.title}, {w.hosts} hosts (--skip)")
                continue
            reps[t] = opts.runs
            if t.startswith("ansible"):
                # ansible-core takes minutes on these (5 at 200 hosts, 5 for the role): one run.
                if t == "ansible-defaults" or (w.key != "inventory" and w.hosts >= 50) or w.key == "role":
                    reps[t] = 1
                    w.notes.append(f"{NAMES[t]}: 1 run on {w.title}, {w.hosts} hosts (it takes minutes)")
                if opts.ansible_runs:
                    reps[t] = min(reps[t], opts.ansible_runs)
        if not reps:
            continue
        for r in range(1, max(reps.values()) + 1):
            for t, k in reps.items():
                if r > k:
                    continue
                if os.path.exists(OUT):
                    shutil.rmtree(OUT)
                os.makedirs(OUT)
                if target:
                    os.chown(OUT, target.uid, target.gid)
                for mode in w.modes:
                    x = run_once(target if w.key != "inventory" else None, w, t, mode,
                                 f"{WORK}/logs/{w.key}-{t}-{mode}-{r}.log", cp)
                    res.setdefault((w.key, mode, t), []).append(x)
                    log(f"{w.key}, {t}, {mode} {r}/{k}: wall {x[0]:.2f} s, cpu {x[1]:.2f} s, "
                        f"rss {x[2]} MB, sshd cpu {x[3]:.2f} s")
        if w.key == "inventory" and {"kiln", "ansible"} <= set(reps):
            same = [json.load(open(f"{WORK}/logs/inventory-{t}-run-1.log")) for t in ("kiln", "ansible")]
            if same[0] != same[1]:
                raise Failed(f"kiln's inventory --list differs from ansible-inventory's (see {WORK}/logs)")
            w.notes.append("the two inventory listings are identical JSON")
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    return res


# ---- the table ------------------------------------------------------------------------------


def med(rows, i):
    return statistics.median(r[i] for r in rows)


def table(wl, res):
    lines = ["| workload | hosts | run | tool | runs | wall s | CPU s | peak RSS MB | sshd CPU s "
             "| kiln/pyinfra wall | kiln/ansible-core wall |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for w in wl:
        for mode in w.modes:
            rows = {t: res[(w.key, mode, t)] for t in NAMES if (w.key, mode, t) in res}
            k = rows.get("kiln")
            for t, rs in rows.items():
                rp = ra = ""
                if k and t == "kiln":
                    kw = med(k, 0)
                    rp = f"{kw / med(rows['pyinfra'], 0):.2f}" if "pyinfra" in rows else "n/a"
                    ra = f"{kw / med(rows['ansible'], 0):.3f}" if "ansible" in rows else ""
                elif k and t == "ansible-defaults":
                    ra = f"{med(k, 0) / med(rs, 0):.3f}"
                name = "ansible-inventory" if (w.key, t) == ("inventory", "ansible") else NAMES[t]
                lines.append(f"| {w.title} | {w.hosts} | {mode} | {name} | {len(rs)} | {med(rs, 0):.2f} "
                             f"| {med(rs, 1):.2f} | {max(r[2] for r in rs)} | "
                             f"{'' if w.key == 'inventory' else f'{med(rs, 3):.2f}'} | {rp} | {ra} |")
    return "\n".join(lines)


def acceptance(res):
    """The issue's acceptance figures, each with its peers' from the same run."""
    def get(key, mode, tool, i=0, agg=med):
        rs = res.get((key, mode, tool))
        return agg(rs, i) if rs else None

    def ratio(a, b, fmt=".2f"):
        return f"{a / b:{fmt}}" if a is not None and b else "n/a"

    def s(x):
        return f"{x:.2f} s" if x is not None else "not measured"

    out = []
    k, p, a = (get("fanout-50", "first", t) for t in ("kiln", "pyinfra", "ansible"))
    if k is not None:
        ok = "holds" if p and k <= 0.5 * p else "FAILS" if p else "unmeasured"
        out.append(f"- fan-out at 50 hosts, first run: kiln {s(k)}, pyinfra {s(p)}, ansible-core tuned "
                   f"{s(a)}: kiln/pyinfra {ratio(k, p)} (≤ 0.5: {ok}), kiln/ansible-core {ratio(k, a, '.3f')}")
        kr, pr = get("fanout-50", "rerun", "kiln"), get("fanout-50", "rerun", "pyinfra")
        if kr is not None:
            ok = "holds" if pr and kr <= 0.5 * pr else "FAILS" if pr else "unmeasured"
            out.append(f"- fan-out at 50 hosts, rerun: kiln {s(kr)}, pyinfra {s(pr)}: "
                       f"kiln/pyinfra {ratio(kr, pr)} (≤ 0.5: {ok})")
    reruns = []
    for key in sorted({k[0] for k in res if k[1] == "rerun"}):
        f, r = get(key, "first", "kiln"), get(key, "rerun", "kiln")
        if f is not None and r is not None:
            reruns.append(f"{key} {r:.2f}/{f:.2f} s ({'holds' if r <= f else 'FAILS'})")
    if reruns:
        out.append("- kiln's rerun no slower than its first run (rerun/first): " + ", ".join(reruns))
    k, a = get("inventory", "run", "kiln"), get("inventory", "run", "ansible")
    if k is not None:
        out.append(f"- 10,000-host `inventory --list`: kiln {s(k)} (< 1 s: {'holds' if k < 1 else 'FAILS'}), "
                   f"ansible-inventory {s(a)}, kiln/ansible-inventory {ratio(k, a, '.3f')}")
    k, p, a = (get("facts", "run", t) for t in ("kiln", "pyinfra", "ansible"))
    if k is not None:
        out.append(f"- fact gathering on 50 hosts: kiln {s(k)} (< 2 s: {'holds' if k < 2 else 'FAILS'}), "
                   f"pyinfra ({len(PYINFRA_FACTS)} facts) {s(p)}, ansible-core tuned {s(a)}: kiln/pyinfra {ratio(k, p)}, "
                   f"kiln/ansible-core {ratio(k, a, '.3f')}")
    mx = lambda rs, i: max(r[i] for r in rs)  # noqa: E731
    rss = {t: max(get("fanout-200", m, t, 2, mx) or 0 for m in ("first", "rerun")) for t in NAMES}
    if rss["kiln"]:
        out.append(f"- peak RSS at 200 hosts: kiln {rss['kiln']} MB (< 100 MB: "
                   f"{'holds' if rss['kiln'] < 100 else 'FAILS'}), pyinfra {rss['pyinfra'] or '-'} MB, ansible-core "
                   f"{rss['ansible'] or '-'} MB (largest process): kiln/pyinfra {ratio(rss['kiln'], rss['pyinfra'])}, "
                   f"kiln/ansible-core {ratio(rss['kiln'], rss['ansible'])}")
    return "\n".join(out)


def cpu_busy():
    """How busy the CPUs are without us (e.g. a cargo build), over one second."""
    def sample():
        f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return f[3] + f[4], sum(f)
    i1, t1 = sample()
    time.sleep(1)
    i2, t2 = sample()
    return round(100 * (1 - (i2 - i1) / max(t2 - t1, 1)))


def version(cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()


def environment(kiln, rev, busy):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 1048576
    osname = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
                   if l.startswith("PRETTY_NAME")), "?")
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.split(",")[0]
    py = f"{VENV}/bin/python"
    pyinfra = version([py, "-c", "import importlib.metadata as m; print(m.version('pyinfra'))"])
    return "\n".join([
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.machine()}, {mem:.1f} GB RAM; load average "
        f"{os.getloadavg()[0]:.2f} and CPU {busy}% busy before the start (other load skews every figure)",
        f"- system: {osname}, kernel {platform.release()}, {ssh} (sshd on the same cores)",
        f"- kiln: {version([kiln, '--version'])} ({rev}), `-f N --host-key-checking off`",
        f"- pyinfra {pyinfra}, "
        "`--parallel N -y`, host-key checking off",
        f"- ansible-core {version([py, '-c', 'import ansible.release as r; print(r.__version__)'])}, Python "
        f"{version([py, '-c', 'import platform; print(platform.python_version())'])}, host-key checking off; "
        "tuned: `-f N`, pipelining on; defaults: forks 5, no pipelining",
    ])


def main():
    ap = argparse.ArgumentParser(prog="bench/run")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--workloads", default="fanout,role,loop,copy,facts,inventory")
    ap.add_argument("--hosts", default=",".join(map(str, FANOUT_HOSTS)))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ansible-runs", type=int)
    ap.add_argument("--tools", default="kiln,pyinfra,ansible,ansible-defaults")
    ap.add_argument("--skip", default="")
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--rev", default="?")
    ap.add_argument("--args", default="")
    opts = ap.parse_args()
    opts.workloads = opts.workloads.split(",")
    opts.tools = opts.tools.split(",")
    opts.skip = {tuple(x.split(":", 1)) for x in opts.skip.split(",") if ":" in x}
    opts.hosts = [int(x) for x in opts.hosts.split(",")]
    for x in opts.workloads:
        if x not in ("fanout", "role", "loop", "copy", "facts", "inventory"):
            ap.error(f"unknown workload {x}")
    for n in opts.hosts:
        if not 1 <= n <= 250:
            ap.error(f"--hosts takes 1..250, not {n}")
    if opts.quick:
        opts.ansible_runs = opts.ansible_runs or 1
        if "--hosts" not in opts.args:
            opts.hosts = [1, 10, 50]
    if opts.check:
        # Behaviour only: kiln once on every workload, small host counts, every result checked.
        opts.tools, opts.runs = ["kiln"], 1
        if "--hosts" not in opts.args:
            opts.hosts = [1, 10]

    work = os.path.join(WORK, "run")
    os.makedirs(work, exist_ok=True)
    cp = os.path.join(work, "cp")
    os.makedirs(cp, exist_ok=True)
    # A private copy: another build may replace target/release/kiln while this runs.
    kiln = os.path.join(work, "kiln")
    shutil.copy(opts.kiln, kiln + ".new")
    os.replace(kiln + ".new", kiln)

    need = [opts.hosts and max(opts.hosts) if "fanout" in opts.workloads else 0,
            ROLE_HOSTS if "role" in opts.workloads else 0, 1 if "loop" in opts.workloads else 0,
            COPY_HOSTS if "copy" in opts.workloads else 0, FACT_HOSTS if "facts" in opts.workloads else 0]
    n = max(need)
    big = os.path.join(work, "big.bin")
    big_sha = None
    if "copy" in opts.workloads:
        if not os.path.exists(big) or os.path.getsize(big) != BIG_MB << 20:
            with open(big + ".new", "wb") as f:
                for _ in range(BIG_MB):
                    f.write(os.urandom(1 << 20))
            os.replace(big + ".new", big)
        with open(big, "rb") as f:
            big_sha = hashlib.file_digest(f, "sha256").hexdigest()
    if "inventory" in opts.workloads:
        write_big_inventory(os.path.join(WORK, "bigInventory"))

    with open(f"{work}/ansible.cfg", "w") as f:
        f.write(f"[defaults]\nhost_key_checking = False\nretry_files_enabled = False\n"
                f"[ssh_connection]\ncontrol_path_dir = {cp}\n")
    os.environ.update(ANSIBLE_CONFIG=f"{work}/ansible.cfg", ANSIBLE_NOCOLOR="1", PYINFRA_NOCOLOR="1",
                      NO_COLOR="1", BENCH_FILE=big)
    for v in ("ANSIBLE_PIPELINING", "ANSIBLE_FORKS"):
        os.environ.pop(v, None)

    target = Target(n, work) if n else None
    made_tmp = not os.path.exists("/tmp/bench")

    def stop(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        busy = cpu_busy()
        if busy >= 25:
            log(f"warning: the CPUs are {busy}% busy before the start; the figures will be skewed")
        if target:
            target.start()
            pw = pwd.getpwnam(USER)
            target.uid, target.gid = pw.pw_uid, pw.pw_gid
            write_inventories(WORK, target.key, sorted({x for x in need if x}))
            os.makedirs("/tmp/bench", exist_ok=True)
            os.chown("/tmp/bench", target.uid, target.gid)
        env_md = environment(kiln, opts.rev, busy)
        print("### Environment\n\n" + env_md + "\n", flush=True)
        wl = workloads(opts, kiln, big)
        for w in wl:
            w.big_sha = big_sha
        res = measure(opts, target, wl, cp)
    except Failed as e:
        print(f"bench/run: FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        close_masters(cp)
        if target:
            target.stop()
            shutil.rmtree(OUT, ignore_errors=True)
            shutil.rmtree(os.path.join(target.home, ".ansible"), ignore_errors=True) \
                if hasattr(target, "home") else None
        if made_tmp:
            shutil.rmtree("/tmp/bench", ignore_errors=True)

    notes = [n for w in wl for n in w.notes]
    md = [f"### kiln against pyinfra and ansible-core ({time.strftime('%Y-%m-%d', time.gmtime())}, "
          f"bench/run{' ' + opts.args if opts.args else ''})", "", env_md, "", table(wl, res), "",
          "Wall and CPU: medians; CPU is user+sys of the tool's process tree (ansible-core's ssh ControlMaster "
          "daemons are not in it); peak RSS: the largest single process, max over the runs; sshd CPU: what "
          "the sshd processes (connections, shells, commands) spent, median. kiln/ansible-core on the "
          "ansible-core defaults row compares kiln with that row."]
    md += [f"Note: {x}." for x in dict.fromkeys(notes)]
    acc = acceptance(res)
    if acc:
        md += ["", "Acceptance (issue 8), from this run:", "", acc]
    text = "\n".join(md) + "\n"
    with open(os.path.join(WORK, "results.md"), "w") as f:
        f.write(text)
    json.dump({"|".join(k): v for k, v in res.items()}, open(os.path.join(WORK, "results.json"), "w"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
