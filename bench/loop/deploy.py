# The 100-item template loop as a pyinfra 3 deploy, like bench/loop/site.yml.
import os

from pyinfra import host
from pyinfra.operations import files

here = os.path.dirname(os.path.abspath(__file__))
d = f"/tmp/bench/out/{host.name}/loop"
files.directory(name="directory", path=d, mode="755")
for i in range(100):
    files.template(name="templates", src=f"{here}/item.conf.j2", dest=f"{d}/{i}.conf", mode="644",
                   item=i, inventory_hostname=host.name)
