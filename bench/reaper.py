"""Starts sshd listeners (one per config file given) as a child subreaper and reaps every
orphan under them until they exit; it writes the listeners' pids to a file. bench/bench.py
reads this process's children's CPU time as the CPU the target side spent."""

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
pidfile, configs = sys.argv[1], sys.argv[2:]
listeners = [subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", c], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=open(c + ".log", "w")).pid
             for c in configs]
with open(pidfile + ".tmp", "w") as f:
    f.write(" ".join(map(str, listeners)) + "\n")
os.rename(pidfile + ".tmp", pidfile)


def stop(*_):
    for p in listeners:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
alive = set(listeners)
while alive:
    try:
        pid, _ = os.wait()
    except ChildProcessError:
        break
    alive.discard(pid)
