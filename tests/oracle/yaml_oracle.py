"""Loads YAML/JSON files exactly as ansible-core 2.19 loads group_vars/host_vars files.

Usage: yaml_oracle.py FILE...

Prints one JSON object {basename: {"ok": TYPED} | {"error": "ExceptionClass: first line"}}; when
the exception has a cause, " <- CauseClass: first line" is appended (the innermost cause).

The call is the one ansible-core 2.19 makes for vars files (plugins/vars/host_group_vars.py and
vars/manager.py): DataLoader().load_from_file(path, unsafe=True, trusted_as_template=True), with
json_only=False. That reads the file as text (decrypting a whole-file vault, which fails here
without a password), then ansible.parsing.utils.yaml.from_yaml(): first json.loads() with
Ansible's legacy JSON decoder (so a document that happens to be valid JSON, e.g. `1e3` or
`NaN`, is loaded as JSON), then yaml.load(Loader=AnsibleLoader) (PyYAML's YAML 1.1 resolver,
libyaml parser, Ansible constructors for !unsafe and !vault). yaml.load() wants exactly one
document: a second one is an error ("expected a single document in the stream"); an empty
stream loads as None. Duplicate keys follow DUPLICATE_YAML_DICT_KEY (default `warn`: a warning
on stderr, the last value wins).

How 2.19 marks !unsafe: there is no AnsibleUnsafe type any more. When a file is loaded with
trusted_as_template=True every string the YAML constructor builds (values *and* keys) is tagged
TrustedAsTemplate (ansible._internal._datatag._tags); a string under !unsafe is built without
that tag. So a str lacking TrustedAsTemplate is reported as {"unsafe": {"str": s}}. !unsafe on a
non-string (`!unsafe 5`, `!unsafe [a, b]`) resolves the value implicitly as usual; only the
strings inside lose trust. JSON documents: string values are trusted too, and the legacy decoder
turns {"__ansible_unsafe": s} into an untrusted string and {"__ansible_vault": c} into a vault.
Mapping keys are always reported as plain {"str": k}: trust on keys is an artifact (JSON keys
are never tagged, YAML keys always are unless under !unsafe) and keys are never templated.

!vault values are EncryptedString objects; reported as {"vault": ciphertext}, the ciphertext
being the YAML string value (block scalar rules applied), never decrypted.

TYPED: None {"null": null}; bool {"bool": b}; int {"int": "decimal"}; float {"float": repr};
str {"str": s}; list/tuple {"list": [...]}; dict {"map": [[k, v], ...]} in insertion order;
datetime.datetime {"datetime": isoformat}; datetime.date {"date": isoformat};
bytes {"binary": base64}; anything else {"other": "type: repr"}.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import sys
import warnings

warnings.simplefilter("ignore")

from ansible._internal._datatag._tags import TrustedAsTemplate  # noqa: E402
from ansible.module_utils._internal._datatag import AnsibleTagHelper  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.parsing.vault import EncryptedString, VaultHelper  # noqa: E402


def typed(v, key=False):
    if type(v) is EncryptedString or VaultHelper.get_ciphertext(v, with_tags=False) is not None:
        return {"vault": VaultHelper.get_ciphertext(v, with_tags=False)}
    if v is None:
        return {"null": None}
    if isinstance(v, bool):
        return {"bool": bool(v)}
    if isinstance(v, int):
        return {"int": str(int(v))}
    if isinstance(v, float):
        return {"float": repr(float(v))}
    if isinstance(v, str):
        plain = str(AnsibleTagHelper.untag(v))
        if not key and not TrustedAsTemplate.is_tagged_on(v):
            return {"unsafe": {"str": plain}}
        return {"str": plain}
    if isinstance(v, (bytes, bytearray)):
        return {"binary": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, datetime.datetime):
        return {"datetime": v.isoformat()}
    if isinstance(v, datetime.date):
        return {"date": v.isoformat()}
    if isinstance(v, dict):
        return {"map": [[typed(k, key=True), typed(x)] for k, x in v.items()]}
    if isinstance(v, (list, tuple)):
        return {"list": [typed(x) for x in v]}
    return {"other": f"{type(v).__name__}: {v!r}"}


def first_line(ex):
    lines = str(ex).strip().splitlines()
    return f"{type(ex).__name__}: {lines[0] if lines else ''}"


def describe(ex):
    """`Class: first line of message`; Ansible rewrites many YAML errors with a guessed hint, so
    the underlying exception (PyYAML's, usually) is appended as ` <- Class: first line`."""
    text = first_line(ex)
    cause = ex.__cause__ or ex.__context__
    while cause is not None and cause.__cause__ is not None:
        cause = cause.__cause__
    if cause is not None and cause is not ex:
        problem = getattr(cause, "problem", None)  # PyYAML's MarkedYAMLError: the actual complaint
        text += " <- " + (f"{type(cause).__name__}: {problem}" if problem else first_line(cause))
    return text


def load(path):
    # A fresh loader per file: no cache shared between cases.
    loader = DataLoader()
    try:
        data = loader.load_from_file(os.path.abspath(path), cache="none", unsafe=True, trusted_as_template=True)
    except Exception as ex:  # noqa: BLE001 - every failure is a result
        return {"error": describe(ex)}
    return {"ok": typed(data)}


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    results = {}
    for path in argv:
        results[os.path.basename(path)] = load(path)
    json.dump(results, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
