# The role-shaped workload as a pyinfra 3 deploy, operation for operation like
# bench/role/roles/app/tasks/main.yml: the handlers are operations run `_if` a notifying
# operation changed, set_fact and assert are Python, stat is a fact.
import io
import os

from pyinfra import host
from pyinfra.facts.files import Directory, File
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

here = os.path.dirname(os.path.abspath(__file__))
tpl = os.path.join(here, "roles", "app", "templates")
base = f"/tmp/bench/out/{host.name}/app"
port = 8080
dirs = ["conf", "conf/users", "conf/vhosts", "data", "log", "run"]
users = ["alice", "bob", "carol", "dave", "erin"]
vhosts = ["www", "api", "admin"]
settings = {"workers": 4, "timeout": 30, "keepalive": 5}
# The Jinja variables the templates read, as Ansible names them.
tvars = dict(inventory_hostname=host.name, app_base=base, app_port=port,
             app_settings=settings, app_users=users)

files.directory(name="base directory", path=base, mode="755")
for d in dirs:
    files.directory(name="directories", path=f"{base}/{d}", mode="755")
restart = [
    files.template(name="main config", src=f"{tpl}/app.conf.j2", dest=f"{base}/conf/app.conf",
                   mode="644", **tvars),
    files.template(name="environment", src=f"{tpl}/env.j2", dest=f"{base}/conf/env",
                   mode="644", **tvars),
]
reload = [
    files.template(name="users", src=f"{tpl}/user.conf.j2", dest=f"{base}/conf/users/{u}.conf",
                   mode="644", item=u, **tvars)
    for u in users
] + [
    files.template(name="vhosts", src=f"{tpl}/vhost.conf.j2", dest=f"{base}/conf/vhosts/{v}.conf",
                   mode="644", item=v, **tvars)
    for v in vhosts
]
files.put(name="motd", src=io.StringIO(f"welcome to {host.name}\n"), dest=f"{base}/motd", mode="644")
files.put(name="version", src=io.StringIO("1.2.3\n"), dest=f"{base}/VERSION", mode="644")
if not host.get_fact(File, path=f"{base}/log/app.log"):
    files.put(name="log file", src=io.StringIO(""), dest=f"{base}/log/app.log", mode="644")
for k, v in settings.items():
    files.line(name="extra settings", path=f"{base}/conf/extra.conf", line=f"{k}={v}")
files.line(name="no obsolete lines", path=f"{base}/conf/extra.conf", line="^obsolete.*$", present=False)
files.replace(name="debug off", path=f"{base}/conf/extra.conf", text="^debug=true$", replace="debug=false")
files.block(name="managed block", path=f"{base}/conf/extra.conf",
            content=f"# managed\nhost={host.name}")
files.link(name="current link", path=f"{base}/current", target=f"{base}/data")
files.file(name="no stale pid", path=f"{base}/run/stale.pid", present=False)
url = f"http://{host.name}:{port}/"
assert url.startswith("http://")
user_list = [u.upper() for u in users]
assert host.get_fact(File, path=f"{base}/conf/app.conf") is not False
server.shell(name="read config", commands=[f"cat {base}/conf/app.conf"])
if not host.get_fact(File, path=f"{base}/run/initialized"):
    server.shell(name="initialise once", commands=[f"touch {base}/run/initialized"])
server.shell(name="check", commands=["true"])
server.shell(name="shell check", commands=[f"test -d {base}/data && echo ok"])
for u in users:
    files.directory(name="data dirs", path=f"{base}/data/{u}", mode="755")
assert host.get_fact(Directory, path=f"{base}/data") is not False
server.shell(name="restart app", commands=[f"touch {base}/run/restarted"], _if=any_changed(*restart))
server.shell(name="reload app", commands=[f"touch {base}/run/reloaded"], _if=any_changed(*reload))
server.shell(name="done", commands=[f"test -f {base}/run/initialized"])
