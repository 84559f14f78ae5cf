"""The facts ansible-core's setup module gathers on this machine.

Usage: facts_oracle.py [MODULE_ARGS]

Runs `ansible localhost -c local -m setup [-a MODULE_ARGS]` with the ansible-core of the running
Python and prints one JSON object:

  {"facts": {...},     # `ansible_facts` as playbooks see it (Ansible's namespace_facts)
   "injected": [...]}  # the legacy top-level variable names (INJECT_FACTS_AS_VARS, after
                       # Ansible's clean_facts), sorted

On failure the module's message goes to stderr and the exit code is 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _case import case_env, tool  # noqa: E402


def main(argv: list[str]) -> int:
    cmd = [tool("ansible"), "localhost", "-c", "local", "-m", "setup"]
    if argv:
        cmd += ["-a", argv[0]]
    proc = subprocess.run(cmd, env=case_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL)
    out = proc.stdout.decode("utf-8", "replace")
    # `localhost | SUCCESS => {...}`
    start = out.find("{")
    if proc.returncode != 0 or start < 0:
        sys.stderr.write(out)
        sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
        return 1
    result = json.loads(out[start:])
    raw = result["ansible_facts"]

    from ansible.vars.clean import clean_facts, namespace_facts

    facts = namespace_facts(raw)["ansible_facts"]
    injected = sorted(clean_facts(raw).keys())
    json.dump({"facts": facts, "injected": injected}, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
