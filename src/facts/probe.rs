//! The one shell script that gathers facts, and the reader for what it prints.
//!
//! The script runs as one remote command under any POSIX sh (dash, busybox ash, bash). It only
//! reads, and every piece is guarded: a missing tool or unreadable file leaves a gap in the
//! output, never a failed run. It is written to fork as little as possible — forks are the
//! cost of a probe (about 2 ms each under gVisor) — so small files are found with shell
//! builtins and dumped by ONE `grep -H ''` call, and directory links are resolved with `cd -P`.
//!
//! Output format, one section per `@@kiln:NAME` line:
//!
//! - `@@kiln:probe 1` — first line, the format version.
//! - `@@kiln:env` — `/proc/self/environ` verbatim (NUL-terminated `K=V` entries), then a
//!   newline and `@@kiln:env-end`. `@@kiln:env-lines` is the `env` fallback (one `K=V` a line).
//! - `@@kiln:vars` — `key=value` lines computed by the script (tool paths, existence of paths,
//!   uid, passwd entry, interface links ...). Keys may repeat (`e=` lists existing paths).
//! - `@@kiln:files` — `PATH:LINE` for every line of every small file the facts need.
//! - `@@kiln:cmd:NAME` — the raw stdout of one command (`ip addr show`, `date`, `stat -f` ...).
//! - `@@kiln:pid1-env` — `/proc/1/environ` like `env`, ended by `@@kiln:pid1-env-end`.
//! - `@@kiln:local-exec:PATH` — stdout of an executable local fact, plus one newline, then
//!   `@@kiln:local-rc:RC`.
//! - `@@kiln:end` — the last line; its absence means the output was cut short.
//!
//! The first positional argument, when given, is the local facts directory (`fact_path`);
//! it defaults to `/etc/ansible/facts.d`: `sh -c "$PROBE" kiln /srv/facts.d`.

use std::collections::HashMap;

/// The facts probe. See the module documentation for its output.
pub const PROBE: &str = r##"# kiln facts probe (see src/facts/probe.rs)
_fp=${1:-/etc/ansible/facts.d}
exec 2>/dev/null
echo '@@kiln:probe 1'
# The environment first, before the script sets anything a child could inherit.
if [ -r /proc/self/environ ]; then
  echo '@@kiln:env'
  cat /proc/self/environ
  printf '\n@@kiln:env-end\n'
else
  echo '@@kiln:env-lines'
  env
  echo '@@kiln:env-end'
fi
set -f
# find_bin NAME: sets _bin to NAME's path, searched like Ansible's get_bin_path (PATH + sbin).
find_bin() {
  _bin=
  _ifs=$IFS
  IFS=:
  for _d in $PATH /sbin /usr/sbin /usr/local/sbin; do
    if [ -n "$_d" ] && [ -f "$_d/$1" ] && [ -x "$_d/$1" ]; then _bin=$_d/$1; break; fi
  done
  IFS=$_ifs
}
echo '@@kiln:vars'
for _t in ip systemctl initctl lsb_release capsh findmnt lsblk udevadm vgs dmidecode getent \
  stat date uname getconf grep timeout; do
  find_bin "$_t"
  [ -n "$_bin" ] && echo "bin.$_t=$_bin"
done
for _p in /usr/bin/rpm-ostree /usr/bin/yum /usr/bin/dnf-3 /usr/bin/dnf5 /usr/bin/apt-get \
  /usr/bin/zypper /usr/sbin/urpmi /usr/bin/pacman /bin/opkg /usr/pkg/bin/pkgin \
  /opt/local/bin/pkgin /opt/tools/bin/pkgin /opt/local/bin/port /usr/local/bin/brew \
  /opt/homebrew/bin/brew /sbin/apk /usr/sbin/pkg /usr/sbin/swlist /usr/bin/emerge \
  /usr/sbin/pkgadd /usr/bin/pkg /usr/bin/xbps-install /usr/local/sbin/pkg /usr/bin/swupd \
  /usr/sbin/sorcery /usr/bin/installp /run/ostree-booted /usr/bin/dnf /usr/bin/microdnf \
  /usr/bin/rpm /run/systemd/system/ /dev/.run/systemd/ /dev/.systemd/ /etc/init/ /sbin/openrc \
  /etc/init.d/ /etc/dinit.d/ /sys/kernel/security/apparmor /proc/vz /proc/lve /proc/bc \
  /.dockerenv /.dockerinit /proc/xen /rhev/ /dev/kvm /sys/devices/virtual/dmi/id/product_name \
  /sys/fs/selinux/enforce /etc/mtab /dev/disk/by-uuid "$_fp"; do
  [ -e "$_p" ] && echo "e=$_p"
done
for _p in /etc/arch-release /etc/vmware-release /etc/os-release /usr/lib/os-release; do
  [ -f "$_p" ] && echo "f=$_p"
done
[ -e /usr/bin/dnf ] && [ /usr/bin/dnf -ef /usr/bin/dnf5 ] && echo 'dnf5.dnf=1'
[ -e /usr/bin/microdnf ] && [ /usr/bin/microdnf -ef /usr/bin/dnf5 ] && echo 'dnf5.microdnf=1'
if [ -e /usr/bin/rpm ] && [ -e /usr/bin/apt-get ]; then
  /usr/bin/rpm -q --whatprovides /usr/bin/apt-get >/dev/null && echo 'apt_rpm=1'
fi
# Kernel and host names: builtin reads of /proc/sys/kernel, uname only as a fallback.
_v=; [ -r /proc/sys/kernel/ostype ] && IFS= read -r _v < /proc/sys/kernel/ostype
[ -n "$_v" ] || _v=$(uname -s); echo "system=$_v"
_v=; [ -r /proc/sys/kernel/osrelease ] && IFS= read -r _v < /proc/sys/kernel/osrelease
[ -n "$_v" ] || _v=$(uname -r); echo "kernel=$_v"
_v=; [ -r /proc/sys/kernel/version ] && IFS= read -r _v < /proc/sys/kernel/version
[ -n "$_v" ] || _v=$(uname -v); echo "kernel_version=$_v"
_v=; [ -r /proc/sys/kernel/arch ] && IFS= read -r _v < /proc/sys/kernel/arch
[ -n "$_v" ] || _v=$(uname -m); echo "machine=$_v"
_h=; [ -r /proc/sys/kernel/hostname ] && IFS= read -r _h < /proc/sys/kernel/hostname
[ -n "$_h" ] || _h=$(uname -n); echo "nodename=$_h"
find_bin getconf; [ -n "$_bin" ] && echo "long_bit=$("$_bin" LONG_BIT)"
# The host name in /etc/hosts is resolved by the parser; otherwise ask the resolver.
_found=
if [ -n "$_h" ] && [ -r /etc/hosts ]; then
  while read -r _a _names; do
    case $_a in ''|\#*) continue ;; esac
    for _n in ${_names%%#*}; do [ "$_n" = "$_h" ] && { _found=1; break; }; done
    [ -n "$_found" ] && break
  done < /etc/hosts
fi
if [ -n "$_h" ] && [ -z "$_found" ]; then
  find_bin getent
  if [ -n "$_bin" ]; then
    _a=$("$_bin" ahosts "$_h")
    _a=${_a%%[[:space:]]*}
    if [ -n "$_a" ]; then
      echo "ahost=$_a"
      _r=$("$_bin" hosts "$_a")
      echo "rhost=$_r"
    fi
  fi
fi
# Ids from /proc/self/status (the shell's own), the user the way Python's getpass finds it.
_uid=; _euid=; _gid=
if [ -r /proc/self/status ]; then
  while read -r _k _a _b _r; do
    case $_k in Uid:) _uid=$_a; _euid=$_b ;; Gid:) _gid=$_a ;; esac
  done < /proc/self/status
fi
[ -n "$_uid" ] || { _uid=$(id -ru); _euid=$(id -u); _gid=$(id -rg); }
echo "uid=$_uid"; echo "euid=$_euid"; echo "gid=$_gid"
_user=${LOGNAME:-${USER:-${LNAME:-${USERNAME:-}}}}
echo "user=$_user"
_pw=
if [ -n "$_user" ] && [ -r /etc/passwd ]; then
  while IFS= read -r _l; do case $_l in "$_user:"*) _pw=$_l; break ;; esac; done < /etc/passwd
fi
find_bin getent; _ge=$_bin
[ -z "$_pw" ] && [ -n "$_user" ] && [ -n "$_ge" ] && _pw=$("$_ge" passwd "$_user")
if [ -z "$_pw" ] && [ -r /etc/passwd ]; then
  while IFS= read -r _l; do
    _r=${_l#*:}; _r=${_r#*:}
    [ "${_r%%:*}" = "$_uid" ] && { _pw=$_l; break; }
  done < /etc/passwd
fi
[ -z "$_pw" ] && [ -n "$_ge" ] && _pw=$("$_ge" passwd "$_uid")
echo "pw=$_pw"
# The init system: pid 1's name, or what /sbin/init links to when that says nothing.
_c=; [ -r /proc/1/comm ] && IFS= read -r _c < /proc/1/comm
case $_c in ''|init|*sh) [ -L /sbin/init ] && echo "sbin_init=$(readlink /sbin/init)" ;; esac
find_bin lsb_release
if [ -n "$_bin" ]; then
  _lsbh=; IFS= read -r _lsbh < "$_bin"; echo "lsb_release.head=$_lsbh"
fi
# Chroot: compare / with pid 1's root, or fall back to the inode of / like Ansible.
if [ -e /proc/1/root/. ]; then
  if [ / -ef /proc/1/root/. ]; then echo 'chroot=0'; else echo 'chroot=1'; fi
else
  echo "root_ino=$(ls -di /)"
fi
# Network interfaces: sysfs attributes go to the file dump, links are resolved here.
set --
set +f
for _d in /sys/class/net/*; do
  [ -d "$_d" ] || continue
  _n=${_d##*/}
  echo "if=$_n"
  set -- "$@" "$_d/address" "$_d/mtu" "$_d/operstate" "$_d/type" "$_d/speed" "$_d/flags"
  if [ -e "$_d/device" ] && cd -P "$_d/device"; then
    echo "if.pciid=$_n ${PWD##*/}"
    cd -P "$_d/device/driver/module" && echo "if.module=$_n ${PWD##*/}"
  fi
  if [ -e "$_d/bridge" ]; then
    echo "if.bridge=$_n"
    set -- "$@" "$_d/bridge/bridge_id" "$_d/bridge/stp_state"
    # In directory order, as Ansible's os.listdir (a glob would sort them).
    for _b in $(find "$_d/brif/" -mindepth 1 -maxdepth 1 2>/dev/null); do echo "if.brif=$_n ${_b##*/}"; done
  fi
  if [ -e "$_d/bonding" ]; then
    echo "if.bonding=$_n"
    for _b in slaves mode miimon lacp_rate primary all_slaves_active; do
      set -- "$@" "$_d/bonding/$_b"
    done
  fi
  if [ -e "$_d/bonding_slave" ]; then
    echo "if.bonding_slave=$_n"
    set -- "$@" "$_d/bonding_slave/perm_hwaddr"
  fi
done
cd /
# Local facts: plain files are dumped, executables run further down.
for _f in "$_fp"/*.fact; do
  [ -e "$_f" ] || continue
  if [ -x "$_f" ]; then echo "local.exec=$_f"; else echo "local.file=$_f"; set -- "$@" "$_f"; fi
done
_mt=/proc/mounts; [ -e /etc/mtab ] && _mt=/etc/mtab
echo "mtab=$_mt"
find_bin ip; _ip=$_bin
[ -n "$_ip" ] || set -- "$@" /proc/net/route /proc/net/if_inet6 /proc/net/ipv6_route /proc/net/fib_trie
find_bin findmnt; [ -n "$_bin" ] && set -- "$@" /proc/self/mountinfo
echo '@@kiln:files'
set -- "$@" /etc/*-release /etc/*_release /etc/*-version /etc/*_version /usr/lib/os-release \
  /etc/coreos/update.conf /etc/resolv.conf /etc/hosts "$_mt" \
  /proc/cpuinfo /proc/meminfo /proc/uptime /proc/loadavg /proc/cmdline /proc/1/comm \
  /proc/1/cgroup /proc/self/status /proc/modules /proc/sys/crypto/fips_enabled \
  /proc/xen/capabilities /sys/hypervisor/type /run/systemd/container /var/lib/dbus/machine-id \
  /etc/machine-id /etc/iscsi/initiatorname.iscsi /etc/nvme/hostnqn /sys/class/fc_host/*/port_name \
  /sys/fs/selinux/enforce /sys/fs/selinux/policyvers /etc/selinux/config \
  /etc/ssh/ssh_host_*_key.pub /etc/openssh/ssh_host_*_key.pub /etc/ssh_host_*_key.pub
for _k in bios_date bios_vendor bios_version board_asset_tag board_name board_serial \
  board_vendor board_version chassis_asset_tag chassis_serial chassis_vendor chassis_version \
  chassis_type product_name product_serial product_uuid product_version product_family \
  sys_vendor; do
  set -- "$@" "/sys/devices/virtual/dmi/id/$_k"
done
set -f
find_bin grep
if [ -n "$_bin" ]; then
  LC_ALL=C "$_bin" -H '' "$@"
else
  for _f; do
    [ -f "$_f" ] || continue
    while IFS= read -r _l || [ -n "$_l" ]; do printf '%s:%s\n' "$_f" "$_l"; done < "$_f"
  done
fi
if [ -n "$_ip" ]; then
  echo '@@kiln:cmd:ip-addr'; "$_ip" addr show
  echo '@@kiln:cmd:ip-route4'; "$_ip" -4 route get 8.8.8.8
  echo '@@kiln:cmd:ip-route6'; "$_ip" -6 route get 2404:6800:400a:800::1012
  echo '@@kiln:cmd:ip-local4'; "$_ip" -4 route show table local
  echo '@@kiln:cmd:ip-local6'; "$_ip" -6 route show table local
fi
# Date: now, and the zone names at the start and the middle of the year (Python's tzname).
find_bin date
if [ -n "$_bin" ]; then
  _v=$(LC_ALL=C "$_bin" '+%s %N|%Y|%m|%A|%w|%W|%d|%H|%M|%S|%Z|%z')
  echo '@@kiln:cmd:date'; echo "$_v"
  _v=${_v%% *}
  case $_v in
    ''|*[!0-9]*) ;;
    *)
      _v=$(( _v / 31557600 * 31557600 ))
      echo '@@kiln:cmd:date-jan'; LC_ALL=C "$_bin" -d "@$_v" '+%Z %z'
      echo '@@kiln:cmd:date-jul'; LC_ALL=C "$_bin" -d "@$(( _v + 15778800 ))" '+%Z %z'
      ;;
  esac
fi
# Mounts: the statvfs numbers of every real mount in one stat call.
set --
while read -r _dev _m _fs _rest; do
  case $_dev in /*|\\*|*:/*) ;; *) continue ;; esac
  [ "$_fs" = none ] && continue
  case $_m in *\\*) _m=$(printf '%b' "$_m") ;; esac
  set -- "$@" "$_m"
done < "$_mt"
find_bin stat
if [ -n "$_bin" ] && [ $# -gt 0 ]; then
  echo '@@kiln:cmd:stat-f'
  _st=$_bin
  find_bin timeout
  if [ -n "$_bin" ]; then
    "$_bin" 10 "$_st" -f -c '%S %s %b %a %f %c %d %n' "$@"
  else
    "$_st" -f -c '%S %s %b %a %f %c %d %n' "$@"
  fi
fi
# Filesystem UUIDs, as lsblk or udevadm would give them to Ansible.
find_bin lsblk; _u=$_bin; find_bin udevadm
if { [ -n "$_u" ] || [ -n "$_bin" ]; } && [ -d /dev/disk/by-uuid ]; then
  echo '@@kiln:cmd:uuids'
  set +f
  for _l in /dev/disk/by-uuid/*; do
    [ -e "$_l" ] || continue
    while read -r _dev _rest; do
      case $_dev in /dev/*) [ "$_l" -ef "$_dev" ] && echo "${_l##*/} $_dev" ;; esac
    done < "$_mt"
  done
  set -f
fi
find_bin capsh
if [ -n "$_bin" ]; then echo '@@kiln:cmd:capsh'; "$_bin" --print; fi
find_bin systemctl
if [ -n "$_bin" ] && [ -e /run/systemd/system/ ]; then
  echo '@@kiln:cmd:systemctl-version'; "$_bin" --version
fi
find_bin lsb_release
if [ -n "$_bin" ]; then
  case $_lsbh in '#!/bin/sh'*|*python*) ;; *) echo '@@kiln:cmd:lsb_release'; "$_bin" -a ;; esac
fi
if [ -r /proc/1/environ ]; then
  echo '@@kiln:pid1-env'
  cat /proc/1/environ
  printf '\n@@kiln:pid1-env-end\n'
fi
set +f
for _f in "$_fp"/*.fact; do
  [ -e "$_f" ] && [ -x "$_f" ] || continue
  echo "@@kiln:local-exec:$_f"
  "$_f"
  _rc=$?
  echo
  echo "@@kiln:local-rc:$_rc"
done
echo '@@kiln:end'
exit 0
"##;

/// What the probe printed, split into its sections.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    /// `@@kiln:end` was seen.
    pub complete: bool,
    pub env: Vec<(String, String)>,
    pub pid1_env: Option<Vec<String>>,
    vars: Vec<(String, String)>,
    files: HashMap<String, String>,
    file_order: Vec<String>,
    cmds: HashMap<String, String>,
    /// Executable local facts: path, stdout, exit code.
    pub local_exec: Vec<(String, String, i32)>,
}

const MARK: &str = "@@kiln:";

impl Probe {
    pub fn read(output: &str) -> Probe {
        let mut p = Probe::default();
        let mut rest = output;
        // Sections are introduced by a marker at the start of a line.
        while let Some(pos) = find_marker(rest) {
            let after = &rest[pos + MARK.len()..];
            let (head, body) = after.split_once('\n').unwrap_or((after, ""));
            let head = head.trim_end_matches('\r');
            rest = body;
            match head {
                "env" => {
                    let (entries, tail) = nul_entries(rest, "\n@@kiln:env-end\n");
                    p.env = entries.into_iter().filter_map(split_env).collect();
                    rest = tail;
                }
                "pid1-env" => {
                    let (entries, tail) = nul_entries(rest, "\n@@kiln:pid1-env-end\n");
                    p.pid1_env = Some(entries);
                    rest = tail;
                }
                "env-lines" => {
                    let (body, tail) = until_marker(rest);
                    p.env = body
                        .lines()
                        .filter(|l| *l != "@@kiln:env-end")
                        .filter_map(|l| split_env(l.to_string()))
                        .collect();
                    rest = tail;
                }
                "vars" => {
                    let (body, tail) = until_marker(rest);
                    for line in body.lines() {
                        if let Some((k, v)) = line.split_once('=') {
                            p.vars.push((k.to_string(), v.to_string()));
                        }
                    }
                    rest = tail;
                }
                "files" => {
                    let (body, tail) = until_marker(rest);
                    for line in body.lines() {
                        let Some((path, text)) = split_file_line(line) else {
                            continue;
                        };
                        let entry = p.files.entry(path.to_string()).or_insert_with(|| {
                            p.file_order.push(path.to_string());
                            String::new()
                        });
                        entry.push_str(text);
                        entry.push('\n');
                    }
                    rest = tail;
                }
                "end" => {
                    p.complete = true;
                    let (_, tail) = until_marker(rest);
                    rest = tail;
                }
                _ => {
                    let (body, tail) = until_marker(rest);
                    if let Some(path) = head.strip_prefix("local-exec:") {
                        // The script adds one newline after the fact's own output.
                        let out = body.strip_suffix('\n').unwrap_or(body);
                        p.local_exec.push((path.to_string(), out.to_string(), -1));
                    } else if let Some(rc) = head.strip_prefix("local-rc:") {
                        if let Some(last) = p.local_exec.last_mut() {
                            last.2 = rc.trim().parse().unwrap_or(-1);
                        }
                    } else if let Some(name) = head.strip_prefix("cmd:") {
                        p.cmds.insert(name.to_string(), body.to_string());
                    }
                    rest = tail;
                }
            }
        }
        p
    }

    /// The first value of a `key=value` line.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key, in order.
    pub fn vars<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.vars
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the path was found to exist (`e=` or `f=` lines).
    pub fn exists(&self, path: &str) -> bool {
        self.vars("e").chain(self.vars("f")).any(|p| p == path)
    }

    /// Whether the path is a regular file.
    pub fn is_file(&self, path: &str) -> bool {
        self.vars("f").any(|p| p == path)
    }

    /// The absolute path of a tool found on the target.
    pub fn bin(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k.strip_prefix("bin.") == Some(name))
            .map(|(_, v)| v.as_str())
    }

    /// A dumped file's text (each line ended by `\n`), when it was readable and not empty.
    pub fn file(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// Like Ansible's `get_file_content`: the stripped text, `None` when missing or empty.
    pub fn content(&self, path: &str) -> Option<&str> {
        self.file(path).map(str::trim).filter(|s| !s.is_empty())
    }

    /// Dumped files whose path starts with `prefix`, in dump order.
    pub fn files_under<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.file_order
            .iter()
            .filter(move |p| p.starts_with(prefix))
            .filter_map(|p| self.files.get(p).map(|t| (p.as_str(), t.as_str())))
    }

    /// The stdout of a command section.
    pub fn cmd(&self, name: &str) -> Option<&str> {
        self.cmds.get(name).map(String::as_str)
    }
}

/// The byte offset of the next marker that starts a line.
fn find_marker(s: &str) -> Option<usize> {
    if s.starts_with(MARK) {
        return Some(0);
    }
    s.find("\n@@kiln:").map(|i| i + 1)
}

/// The text up to the next marker line, and the rest from that marker on.
fn until_marker(s: &str) -> (&str, &str) {
    match find_marker(s) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// NUL-terminated entries up to `end` (which only counts at an entry boundary).
fn nul_entries<'a>(mut s: &'a str, end: &str) -> (Vec<String>, &'a str) {
    let mut out = Vec::new();
    loop {
        if let Some(tail) = s.strip_prefix(end) {
            return (out, tail);
        }
        if s.is_empty() {
            return (out, s);
        }
        match s.find('\0') {
            Some(i) => {
                out.push(s[..i].to_string());
                s = &s[i + 1..];
            }
            None => {
                // No terminator: the rest up to the end marker (if any) is one last entry.
                let (body, tail) = match s.find(end) {
                    Some(i) => (&s[..i], &s[i + end.len()..]),
                    None => (s, ""),
                };
                if !body.is_empty() {
                    out.push(body.to_string());
                }
                return (out, tail);
            }
        }
    }
}

fn split_env(entry: String) -> Option<(String, String)> {
    let (k, v) = entry.split_once('=')?;
    if k.is_empty() {
        return None;
    }
    Some((k.to_string(), v.to_string()))
}

/// `grep -H` lines are `PATH:TEXT`; paths the probe dumps are absolute and have no colon.
fn split_file_line(line: &str) -> Option<(&str, &str)> {
    if !line.starts_with('/') {
        return None;
    }
    line.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections() {
        let out = "@@kiln:probe 1\n@@kiln:env\nA=1\0B=x=y\0\n@@kiln:env-end\n@@kiln:vars\nbin.ip=/sbin/ip\ne=/a\ne=/b\n@@kiln:files\n/etc/x:one\n/etc/x:\n/etc/y:two:three\n@@kiln:cmd:date\n1 2\n@@kiln:local-exec:/f/a.fact\n{}\n\n@@kiln:local-rc:3\n@@kiln:end\n";
        let p = Probe::read(out);
        assert!(p.complete);
        assert_eq!(
            p.env,
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert_eq!(p.bin("ip"), Some("/sbin/ip"));
        assert!(p.exists("/b"));
        assert_eq!(p.file("/etc/x"), Some("one\n\n"));
        assert_eq!(p.file("/etc/y"), Some("two:three\n"));
        assert_eq!(p.cmd("date"), Some("1 2\n"));
        assert_eq!(p.local_exec, vec![("/f/a.fact".into(), "{}\n".into(), 3)]);
    }

    #[test]
    fn env_value_with_marker_text_stays_in_env() {
        let out = "@@kiln:env\nA=x\n@@kiln:end\n\0B=2\0\n@@kiln:env-end\n@@kiln:end\n";
        let p = Probe::read(out);
        assert_eq!(p.env.len(), 2);
        assert_eq!(p.env[0].1, "x\n@@kiln:end\n");
        assert!(p.complete);
    }
}
