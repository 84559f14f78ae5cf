//! `platform` (kernel, machine, names), `service_mgr` and `pkg_mgr`.

use super::probe::Probe;
use super::{get_str, put, s};
use crate::yaml::Map;
use std::net::IpAddr;

pub(crate) fn platform(p: &Probe) -> Map {
    let mut m = Map::new();
    let system = p.var("system").unwrap_or("Linux");
    let machine = p.var("machine").unwrap_or("");
    put(&mut m, "system", s(system));
    put(&mut m, "kernel", s(p.var("kernel").unwrap_or("")));
    put(
        &mut m,
        "kernel_version",
        s(p.var("kernel_version").unwrap_or("")),
    );
    put(&mut m, "machine", s(machine));

    let nodename = p.var("nodename").unwrap_or("");
    let fqdn = fqdn(p, nodename);
    put(&mut m, "fqdn", s(fqdn.clone()));
    put(
        &mut m,
        "hostname",
        s(nodename.split('.').next().unwrap_or("")),
    );
    put(&mut m, "nodename", s(nodename));
    let domain = fqdn.split_once('.').map(|(_, d)| d).unwrap_or("");
    put(&mut m, "domain", s(domain));

    // Python reports the bitness of its own binary; the userland's `getconf LONG_BIT` is the
    // same thing without Python.
    let bits = match p.var("long_bit").map(str::trim) {
        Some(b) if !b.is_empty() => b.to_string(),
        _ => guess_bits(machine).to_string(),
    };
    put(&mut m, "userspace_bits", s(bits.clone()));
    let i86 = is_i86(machine);
    if machine == "x86_64" || i86 {
        put(
            &mut m,
            "architecture",
            s(if i86 { "i386" } else { machine }),
        );
        match bits.as_str() {
            "64" => put(&mut m, "userspace_architecture", s("x86_64")),
            "32" => put(&mut m, "userspace_architecture", s("i386")),
            _ => {}
        }
    } else {
        put(&mut m, "architecture", s(machine));
    }

    let machine_id = p
        .content("/var/lib/dbus/machine-id")
        .or_else(|| p.content("/etc/machine-id"));
    if let Some(id) = machine_id.and_then(|t| t.lines().next()) {
        put(&mut m, "machine_id", s(id));
    }
    m
}

/// Solaris' `i86pc` and the `i[3-6]86` family, which Ansible reports as `i386`.
fn is_i86(machine: &str) -> bool {
    let b = machine.as_bytes();
    b.windows(4)
        .any(|w| w[0] == b'i' && (b'3'..=b'6').contains(&w[1]) && &w[2..] == b"86")
        || machine.contains("i86pc")
}

fn guess_bits(machine: &str) -> &'static str {
    if machine.contains("64") || machine == "s390x" {
        "64"
    } else {
        "32"
    }
}

/// Python's `socket.getfqdn()`: the host name resolved to an address, that address resolved
/// back, and the first of its names that has a dot (else the primary name).
fn fqdn(p: &Probe, nodename: &str) -> String {
    if nodename.is_empty() {
        return String::new();
    }
    let names = match p
        .file("/etc/hosts")
        .and_then(|hosts| hosts_lookup(hosts, nodename))
    {
        Some(names) => names,
        None => {
            // The probe asked the resolver (`getent ahosts` then `getent hosts ADDR`).
            let Some(rhost) = p.var("rhost") else {
                return nodename.to_string();
            };
            let fields: Vec<String> = rhost
                .split_whitespace()
                .skip(1)
                .map(str::to_string)
                .collect();
            if fields.is_empty() {
                return nodename.to_string();
            }
            fields
        }
    };
    names
        .iter()
        .find(|n| n.contains('.'))
        .or_else(|| names.first())
        .cloned()
        .unwrap_or_else(|| nodename.to_string())
}

/// Forward then reverse lookup of `name` in /etc/hosts, as glibc's files backend answers
/// getaddrinfo (all matches, sorted by RFC 6724 precedence) and gethostbyaddr (first line).
fn hosts_lookup(hosts: &str, name: &str) -> Option<Vec<String>> {
    let entries: Vec<(IpAddr, Vec<&str>)> = hosts
        .lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_whitespace();
            let addr: IpAddr = fields.next()?.parse().ok()?;
            let names: Vec<&str> = fields.collect();
            (!names.is_empty()).then_some((addr, names))
        })
        .collect();
    let mut matches: Vec<IpAddr> = entries
        .iter()
        .filter(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
        .map(|(a, _)| *a)
        .collect();
    // Stable sort: higher precedence first, file order otherwise.
    matches.sort_by_key(|a| std::cmp::Reverse(precedence(a)));
    let addr = matches.first()?;
    let (_, names) = entries.iter().find(|(a, _)| a == addr)?;
    Some(names.iter().map(|n| n.to_string()).collect())
}

/// RFC 6724's default policy table precedence.
fn precedence(a: &IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => 35,
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            if v6.is_loopback() {
                50
            } else if seg[0] == 0x2002 {
                30
            } else if seg[0] == 0x2001 && seg[1] == 0 {
                5
            } else if seg[0] & 0xfe00 == 0xfc00 {
                3
            } else if seg[0] & 0xffc0 == 0xfec0 || seg[0] == 0x3ffe || seg[..6] == [0; 6] {
                1
            } else {
                40
            }
        }
    }
}

/// The init system, from pid 1's name first (Ansible's order of guesses).
pub(crate) fn service_mgr(p: &Probe, seen: &Map) -> Map {
    let mut m = Map::new();
    let mut proc_1: Option<String> = p.file("/proc/1/comm").map(|t| t.to_string());
    if proc_1.is_none() {
        proc_1 = p.var("sbin_init").map(str::to_string);
    }
    let mut proc_1 = proc_1.map(|c| {
        let c = c.trim_end_matches('\n');
        c.rsplit('/').next().unwrap_or(c).trim().to_string()
    });
    if proc_1
        .as_deref()
        .is_some_and(|c| c == "init" || c.ends_with("sh"))
    {
        proc_1 = None;
    }
    let name = if let Some(c) = proc_1 {
        match c.as_str() {
            "procd" => "openwrt_init".to_string(),
            "runit-init" => "runit".to_string(),
            "svscan" => "svc".to_string(),
            "openrc-init" => "openrc".to_string(),
            _ => c,
        }
    } else {
        let system = get_str(seen, "ansible_system").unwrap_or("");
        let distribution = get_str(seen, "ansible_distribution").unwrap_or("");
        let systemctl = p.bin("systemctl").is_some();
        let systemd_canary = [
            "/run/systemd/system/",
            "/dev/.run/systemd/",
            "/dev/.systemd/",
        ]
        .iter()
        .any(|c| p.exists(c));
        let offline_systemd = systemctl
            && p.var("sbin_init")
                .is_some_and(|l| l.trim_end_matches('/').rsplit('/').next() == Some("systemd"));
        if system.contains("BSD") || system == "Bitrig" || system == "DragonFly" {
            "bsdinit".into()
        } else if distribution == "OpenWrt" {
            "openwrt_init".into()
        } else if distribution == "SMGL" {
            "simpleinit_msb".into()
        } else if system == "Linux" {
            if systemctl && systemd_canary {
                "systemd".into()
            } else if p.bin("initctl").is_some() && p.exists("/etc/init/") {
                "upstart".into()
            } else if p.exists("/sbin/openrc") {
                "openrc".into()
            } else if offline_systemd {
                "systemd".into()
            } else if p.exists("/etc/init.d/") {
                "sysvinit".into()
            } else if p.exists("/etc/dinit.d/") {
                "dinit".into()
            } else {
                "service".into()
            }
        } else {
            "service".into()
        }
    };
    put(&mut m, "service_mgr", s(name));
    m
}

/// The distribution's package manager; the last one found wins, then family defaults apply.
pub(crate) fn pkg_mgr(p: &Probe, seen: &Map) -> Map {
    const PKG_MGRS: &[(&str, &str)] = &[
        ("/usr/bin/rpm-ostree", "atomic_container"),
        ("/usr/bin/yum", "dnf"),
        ("/usr/bin/dnf-3", "dnf"),
        ("/usr/bin/dnf5", "dnf5"),
        ("/usr/bin/apt-get", "apt"),
        ("/usr/bin/zypper", "zypper"),
        ("/usr/sbin/urpmi", "urpmi"),
        ("/usr/bin/pacman", "pacman"),
        ("/bin/opkg", "opkg"),
        ("/usr/pkg/bin/pkgin", "pkgin"),
        ("/opt/local/bin/pkgin", "pkgin"),
        ("/opt/tools/bin/pkgin", "pkgin"),
        ("/opt/local/bin/port", "macports"),
        ("/usr/local/bin/brew", "homebrew"),
        ("/opt/homebrew/bin/brew", "homebrew"),
        ("/sbin/apk", "apk"),
        ("/usr/sbin/pkg", "pkgng"),
        ("/usr/sbin/swlist", "swdepot"),
        ("/usr/bin/emerge", "portage"),
        ("/usr/sbin/pkgadd", "svr4pkg"),
        ("/usr/bin/pkg", "pkg5"),
        ("/usr/bin/xbps-install", "xbps"),
        ("/usr/local/sbin/pkg", "pkgng"),
        ("/usr/bin/swupd", "swupd"),
        ("/usr/sbin/sorcery", "sorcery"),
        ("/usr/bin/installp", "installp"),
    ];
    let family = get_str(seen, "ansible_os_family").unwrap_or("");
    let mut name = "unknown";
    for (path, mgr) in PKG_MGRS {
        // On ALT Linux /usr/bin/pkg is a Perl tool, not Solaris' pkg.
        if family == "Altlinux" && *path == "/usr/bin/pkg" {
            continue;
        }
        if p.exists(path) {
            name = mgr;
        }
    }
    if family == "RedHat" {
        name = if p.exists("/run/ostree-booted") {
            "atomic_container"
        } else if p.exists("/usr/bin/dnf") {
            if p.var("dnf5.dnf").is_some() {
                "dnf5"
            } else {
                "dnf"
            }
        } else if p.exists("/usr/bin/microdnf") {
            if p.var("dnf5.microdnf").is_some() {
                "dnf5"
            } else {
                "dnf"
            }
        } else {
            "unknown"
        };
    } else if family == "Debian" && name != "apt" {
        name = "apt";
    } else if family == "Altlinux" && name == "apt" {
        name = "apt_rpm";
    }
    if name == "apt" && p.exists("/usr/bin/rpm") && p.var("apt_rpm").is_some() {
        name = "apt_rpm";
    }
    let mut m = Map::new();
    put(&mut m, "pkg_mgr", s(name));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_from_hosts_reverse_lookup() {
        let hosts = "127.0.0.1 localhost\n127.0.0.1 runsc\n127.0.0.1 vm\n";
        assert_eq!(
            hosts_lookup(hosts, "vm"),
            Some(vec!["localhost".to_string()])
        );
        let hosts = "127.0.0.1\tlocalhost\n127.0.1.1\tweb1.example.com web1 # cloud-init\n::1 ip6-localhost\n";
        assert_eq!(
            hosts_lookup(hosts, "web1"),
            Some(vec!["web1.example.com".to_string(), "web1".to_string()])
        );
        assert_eq!(hosts_lookup(hosts, "db1"), None);
    }

    #[test]
    fn i86_is_i386() {
        assert!(is_i86("i686"));
        assert!(is_i86("i86pc"));
        assert!(!is_i86("x86_64"));
    }
}
