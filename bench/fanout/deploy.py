# The fan-out workload (docs: /work/shared/design/benchmark.md) as a pyinfra 3 deploy,
# equivalent to bench/fanout/site.yml.
import io

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server

d = f"/tmp/bench/out/{host.name}"
files.directory(name="directory", path=d, mode="755")
# Like the copy's `force: false` in site.yml: upload only when the file is missing (the fact is
# read before any operation runs), else every rerun would rewrite it and append the line again.
if not host.get_fact(File, path=f"{d}/app.conf"):
    files.put(name="config", src=io.StringIO(f"port=8080\nname={host.name}\n"),
              dest=f"{d}/app.conf", mode="644")
files.line(name="debug line", path=f"{d}/app.conf", line="debug=false")
server.shell(name="command", commands=["true"])
