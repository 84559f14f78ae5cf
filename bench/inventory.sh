#!/usr/bin/env bash
# Benchmark: `kiln inventory --list` against `ansible-inventory --list` on a generated
# 10,000-host inventory (100 groups, [group:vars], group_vars/ files, a parent group).
# Prints a Markdown table with wall time, peak RSS and the ratio. Not a test: it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup
command -v /usr/bin/time >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet
work=bench/work/inventory
rm -rf "$work" && mkdir -p "$work/group_vars"
python3 - "$work" <<'PY'
import sys, os
d = sys.argv[1]
out = []
for g in range(100):
    out.append(f"[g{g:02d}]")
    for h in range(100):
        n = g * 100 + h
        out.append(f"h{n:05d}.example.com ansible_host=10.{g}.{h // 256}.{h % 256} idx={n}")
    out.append(f"[g{g:02d}:vars]\ngroup_no={g}")
    with open(os.path.join(d, "group_vars", f"g{g:02d}.yml"), "w") as f:
        f.write(f"tier: t{g % 7}\nweight: {g}\n")
out.append("[dc1:children]\n" + "\n".join(f"g{g:02d}" for g in range(50)))
out.append("[all:vars]\nenv=prod")
with open(os.path.join(d, "hosts"), "w") as f:
    f.write("\n".join(out) + "\n")
PY

# Median wall seconds and max RSS (KiB) of N runs of a command.
measure() {
  local runs=$1; shift
  local times=() rss=0
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/out.json" 2>/dev/null
    read -r t m < "$work/time"
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v rss="$rss" '{a[NR]=$1} END {printf "%s %d\n", a[int((NR+1)/2)], rss/1024}'
}

read -r kt km < <(measure 5 target/release/kiln inventory -i "$work/hosts" --list)
cp "$work/out.json" "$work/kiln.json"
read -r at am < <(measure 3 .venv-oracle/bin/ansible-inventory -i "$work/hosts" --list)
same=$(python3 -c 'import json,sys; print("yes" if json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])) else "NO")' "$work/kiln.json" "$work/out.json")

echo "### inventory --list, 10,000 hosts ($(nproc) cores, $(uname -m), ansible-core $(.venv-oracle/bin/python -c 'import ansible.release as r; print(r.__version__)'))"
echo
echo "| tool | wall s (median) | peak RSS MB |"
echo "|---|---|---|"
echo "| kiln | $kt | $km |"
echo "| ansible-inventory | $at | $am |"
echo
echo "kiln/ansible-inventory wall ratio: $(awk -v k="$kt" -v a="$at" 'BEGIN {printf "%.3f", k / a}'); identical output: $same"
