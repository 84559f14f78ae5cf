# The 100 MB copy as a pyinfra 3 deploy, like bench/copy/site.yml (the file's path comes in
# BENCH_FILE).
import os

from pyinfra import host
from pyinfra.operations import files

d = f"/tmp/bench/out/{host.name}"
files.directory(name="directory", path=d, mode="755")
files.put(name="big file", src=os.environ["BENCH_FILE"], dest=f"{d}/big.bin", mode="644")
