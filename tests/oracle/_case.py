"""Shared by the inventory oracles: the command-line arguments and environment of a case dir.

A case directory holds `sources` (one `-i` argument a line, relative to the case dir or a
literal comma host list) and optionally `playbook_dir` (one line, passed as --playbook-dir).
"""

from __future__ import annotations

import os
import sys


def tool(name: str) -> str:
    """An ansible CLI installed beside the running Python (the oracle virtualenv's bin/)."""
    return os.path.join(os.path.dirname(sys.executable), name)


def case_args(case_dir: str) -> list[str]:
    args: list[str] = []
    with open(os.path.join(case_dir, "sources"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                args += ["-i", line]
    pb = os.path.join(case_dir, "playbook_dir")
    if os.path.exists(pb):
        with open(pb, encoding="utf-8") as f:
            args += ["--playbook-dir", f.read().strip()]
    return args


def case_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ANSIBLE_INVENTORY_ENABLED", None)  # the default plugin list
    env.pop("ANSIBLE_CONFIG", None)
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_LOCALHOST_WARNING"] = "False"
    env.setdefault("PYTHONHASHSEED", "0")
    return env
