#!/bin/sh
# Regenerates the known vectors in tests/fixtures/vault/vectors with ansible-core's
# ansible-vault (the oracle): each `NAME.plain` is encrypted into `NAME.vault` (suffix `_dev`:
# vault id dev, `_prod`: vault id prod through the client script, else the default password
# file), plus fixed-salt texts kiln must reproduce byte for byte and an encrypt_string output.
# The unit tests in src/vault decrypt them. Run from the repository root:
# tests/oracle/vault_vectors.sh (salts are random, so the .vault files change each run).
set -eu
V="${KILN_ORACLE_VAULT:-$PWD/.venv-oracle/bin/ansible-vault}"
F=tests/fixtures/vault
export ANSIBLE_HOME="${TMPDIR:-/tmp}/kiln-oracle-home" ANSIBLE_NOCOLOR=1
enc() { # enc OUT PLAINTEXT-FILE VAULT-OPTIONS...
    out=$1 plain=$2
    shift 2
    cp "$plain" "$out"
    "$V" encrypt "$@" "$out" 2>/dev/null
}
mkdir -p "$F/vectors"
cd "$F/vectors"
for f in *.plain; do
    base=${f%.plain}
    case $base in
        *_dev) enc "$base.vault" "$f" --vault-id "dev@../passwords/dev.txt" ;;
        *_prod) enc "$base.vault" "$f" --vault-id "prod@../passwords/prod-client.sh" ;;
        *) enc "$base.vault" "$f" --vault-password-file ../passwords/default.txt ;;
    esac
done
# Fixed salts: kiln must write these byte for byte.
ANSIBLE_VAULT_ENCRYPT_SALT=kiln-fixed-salt-for-vectors \
    enc fixed_salt.vault fixed_salt.txt --vault-password-file ../passwords/default.txt
ANSIBLE_VAULT_ENCRYPT_SALT=kiln-fixed-salt-for-vectors \
    enc fixed_salt_dev.vault fixed_salt.txt --vault-id "dev@../passwords/dev.txt"
"$V" encrypt_string --vault-id "dev@../passwords/dev.txt" --name token 'Str1ng-t0ken' > encrypt_string_dev.txt 2>/dev/null
