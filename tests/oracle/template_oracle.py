"""Renders every case of a template cases file with ansible-core's own templating engine.

Usage: template_oracle.py CASES_FILE

Prints one JSON object: {case name: {"ok": TYPED} | {"error": "message"}}, where TYPED is the
typed encoding of tests/fixtures/README.md (None -> {"null": null}, bool -> {"bool": b},
int -> {"int": "digits"}, float -> {"float": repr}, str -> {"str": s}, list -> {"list": [...]},
dict -> {"map": [[k, v], ...]}).

Case kinds:
  string  Templar.template(template)                    (task argument templating)
  expr    Templar.evaluate_expression(template)         (loop:, until:, bare expressions)
  when    Task-style conditional: each list item through Templar.evaluate_conditional, and-ed
  file    the template module: trim_blocks, no escaping of backslashes, trailing newlines kept
  data    Templar.template(structure) on a whole YAML value (omit drops out of containers)

The literal text @FIXTURES@ in templates and variables is replaced with the absolute path of
the directory holding the cases file, so file lookups find tests/fixtures/templates/...
"""

from __future__ import annotations

import json
import os
import sys
import warnings

warnings.simplefilter("ignore")

from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.plugins.loader import init_plugin_loader  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402
from ansible.utils.display import Display  # noqa: E402

# Deprecation and other warnings go to stderr anyway; keep them quiet.
Display().verbosity = 0


def typed(v):
    if v is None:
        return {"null": None}
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": str(int(v))}
    if isinstance(v, float):
        return {"float": repr(float(v))}
    if isinstance(v, str):
        return {"str": str(v)}
    if isinstance(v, bytes):
        return {"str": v.decode("utf-8", "replace")}
    if isinstance(v, dict):
        return {"map": [[typed(k), typed(x)] for k, x in v.items()]}
    if isinstance(v, (list, tuple)):
        return {"list": [typed(x) for x in v]}
    return {"other": f"{type(v).__name__}: {v!r}"}


def substitute(v, root):
    """Replaces @FIXTURES@ in every string, keeping the loader's trust tags."""
    if isinstance(v, str):
        if "@FIXTURES@" in v:
            return trust_as_template(v.replace("@FIXTURES@", root))
        return v
    if isinstance(v, dict):
        return {substitute(k, root): substitute(x, root) for k, x in v.items()}
    if isinstance(v, list):
        return [substitute(x, root) for x in v]
    return v


def run_case(loader, case, root):
    kind = case.get("kind", "string")
    variables = dict(substitute(case.get("vars") or {}, root))
    template = substitute(case.get("template"), root)
    templar = Templar(loader=loader, variables=variables)
    if kind == "string" or kind == "data":
        return templar.template(template)
    if kind == "expr":
        return templar.evaluate_expression(template)
    if kind == "when":
        items = template if isinstance(template, list) else [template]
        for item in items:
            if not templar.evaluate_conditional(item):
                return False
        return True
    if kind == "file":
        overrides = dict(trim_blocks=True, lstrip_blocks=False, newline_sequence="\n")
        text = trust_as_template(str(template))
        # The action's include search path: each ansible_search_path entry's templates/
        # subdirectory, then the entry.
        searchpath = []
        for p in variables.get("ansible_search_path", []):
            searchpath += [os.path.join(p, "templates"), p]
        templar = templar.copy_with_new_env(searchpath=searchpath)
        result = templar.template(text, escape_backslashes=False, overrides=overrides)
        # The action plugin writes `to_bytes(result)`: str() of a non-string result.
        return "" if result is None else result if isinstance(result, str) else str(result)
    raise ValueError(f"unknown kind {kind!r}")


def main():
    init_plugin_loader()  # as the CLI does: makes FQCN plugin names resolve
    path = os.path.abspath(sys.argv[1])
    root = os.path.dirname(path)
    loader = DataLoader()
    loader.set_basedir(root)
    cases = loader.load_from_file(path, trusted_as_template=True)
    out = {}
    for case in cases:
        name = str(case["name"])
        try:
            out[name] = {"ok": typed(run_case(loader, case, root))}
        except Exception as e:  # every failure is a result to compare, not a crash
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            cause = e.__cause__
            if cause is not None and str(cause):
                msg += " <- " + str(cause).splitlines()[0]
            out[name] = {"error": f"{type(e).__name__}: {msg}"}
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
