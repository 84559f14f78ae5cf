"""ansible-inventory --list on one inventory case, as normalized JSON.

Usage: inventory_oracle.py CASE_DIR [--limit PATTERN]

Runs `ansible-inventory --list` (from the virtualenv of the running Python) with cwd = CASE_DIR,
each line of CASE_DIR/sources as an `-i`, `--playbook-dir` from CASE_DIR/playbook_dir if that
file exists, ANSIBLE_INVENTORY_ENABLED unset (the default plugins), ANSIBLE_NOCOLOR=1 and
ANSIBLE_LOCALHOST_WARNING=False. Prints its JSON re-serialized with sort_keys=True (or its raw
stdout if that is not JSON), passes stderr through and exits with its exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # keep tests/oracle free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _case import case_args, case_env, tool  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    case = os.path.abspath(argv[0])
    extra = argv[1:]
    cmd = [tool("ansible-inventory"), *case_args(case), "--list", *extra]
    proc = subprocess.run(cmd, cwd=case, env=case_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
    out = proc.stdout.decode("utf-8")
    try:
        data = json.loads(out)
    except ValueError:
        sys.stdout.write(out)
    else:
        sys.stdout.write(json.dumps(data, sort_keys=True, ensure_ascii=False) + "\n")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
