"""The hosts a pattern selects, as `ansible PATTERN --list-hosts` prints them.

Usage: hosts_oracle.py CASE_DIR PATTERN

Runs `ansible PATTERN -i ... --list-hosts` with cwd = CASE_DIR (sources and playbook_dir as in
inventory_oracle.py) and prints the host names one per line, in ansible's order, without the
`hosts (N):` header and the indentation. A PATTERN starting with `@` (a file of patterns, which
only --limit understands) is run as `ansible all --limit @FILE --list-hosts`, the file being
resolved relative to CASE_DIR. Exit code and stderr are passed through.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # keep tests/oracle free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _case import case_args, case_env, tool  # noqa: E402

HEADER = re.compile(r"^\s*hosts \(\d+\):\s*$")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    case = os.path.abspath(argv[0])
    pattern = argv[1]
    if pattern.startswith("@"):
        selection = ["all", "--limit", pattern]
    else:
        selection = [pattern]
    cmd = [tool("ansible"), *selection, *case_args(case), "--list-hosts"]
    proc = subprocess.run(cmd, cwd=case, env=case_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
    for line in proc.stdout.decode("utf-8").splitlines():
        if not line.strip() or HEADER.match(line):
            continue
        print(line.strip())
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
