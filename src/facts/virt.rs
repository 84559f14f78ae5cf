//! `virtualization_*`: containers and hypervisors, guessed from the same files Ansible reads,
//! in the same order (the first find sets type and role; the tech sets collect everything).

use super::probe::Probe;
use super::{put, s, str_list};
use crate::yaml::Map;
use std::collections::BTreeSet;

#[derive(Default)]
struct Found {
    vtype: Option<String>,
    role: Option<String>,
    found: bool,
    guest: BTreeSet<String>,
    host: BTreeSet<String>,
}

impl Found {
    /// Records the first finding.
    fn first(&mut self, vtype: &str, role: Option<&str>) {
        if !self.found {
            self.vtype = Some(vtype.to_string());
            if let Some(r) = role {
                self.role = Some(r.to_string());
            }
            self.found = true;
        }
    }
}

pub(crate) fn virtual_facts(p: &Probe) -> Map {
    let mut f = Found::default();
    let guest = |f: &mut Found, tech: &str| {
        f.guest.insert(tech.to_string());
    };

    if let Some(cgroup) = p.file("/proc/1/cgroup") {
        for line in cgroup.lines() {
            if has_docker_cgroup(line) {
                guest(&mut f, "docker");
                f.first("docker", Some("guest"));
            }
            if line.contains("/lxc/") || line.contains("/machine.slice/machine-lxc") {
                guest(&mut f, "lxc");
                f.first("lxc", Some("guest"));
            }
            if line.contains("/system.slice/containerd.service") {
                guest(&mut f, "containerd");
                f.first("containerd", Some("guest"));
            }
        }
    }
    if let Some(env) = &p.pid1_env {
        for line in env {
            if line.contains("container=lxc") {
                guest(&mut f, "lxc");
                f.first("lxc", Some("guest"));
            }
            if line.contains("container=podman") {
                guest(&mut f, "podman");
                f.first("podman", Some("guest"));
            }
            if line
                .strip_prefix("container=")
                .is_some_and(|r| !r.is_empty() && !r.starts_with('\n'))
            {
                guest(&mut f, "container");
                f.first("container", Some("guest"));
            }
        }
    }
    if p.exists("/proc/vz") && !p.exists("/proc/lve") {
        f.vtype = Some("openvz".into());
        if p.exists("/proc/bc") {
            f.host.insert("openvz".into());
            if !f.found {
                f.role = Some("host".into());
            }
        } else {
            guest(&mut f, "openvz");
            if !f.found {
                f.role = Some("guest".into());
            }
        }
        f.found = true;
    }
    let systemd_container = p.content("/run/systemd/container").map(str::to_string);
    if let Some(c) = &systemd_container {
        guest(&mut f, c);
        f.first(c, Some("guest"));
    }
    if p.exists("/.dockerenv") || p.exists("/.dockerinit") {
        guest(&mut f, "docker");
        f.first("docker", Some("guest"));
    }
    if ["docker", "lxc", "podman", "openvz", "containerd"]
        .iter()
        .any(|t| f.guest.contains(*t))
        || systemd_container.is_some()
    {
        guest(&mut f, "container");
    }
    if p.exists("/proc/xen") {
        let is_host = p
            .file("/proc/xen/capabilities")
            .is_some_and(|c| c.contains("control_d"));
        if is_host {
            f.host.insert("xen".into());
        }
        if !f.found {
            f.vtype = Some("xen".into());
            f.role = Some(if is_host { "host" } else { "guest" }.into());
        }
        f.found = true;
    }
    if !f.found {
        f.role = Some("guest".into());
    }

    let dmi = |k: &str| p.content(&format!("/sys/devices/virtual/dmi/id/{k}"));
    let product_name = dmi("product_name");
    let sys_vendor = dmi("sys_vendor");
    let product_family = dmi("product_family");
    let bios_vendor = dmi("bios_vendor");
    let dmi_guest = |f: &mut Found, tech: &str, vtype: &str| {
        f.guest.insert(tech.to_string());
        f.first(vtype, None);
    };
    if matches!(
        product_name,
        Some("KVM" | "KVM Server" | "Bochs" | "AHV" | "CloudStack KVM Hypervisor")
    ) {
        dmi_guest(&mut f, "kvm", "kvm");
    }
    if sys_vendor == Some("oVirt") {
        dmi_guest(&mut f, "oVirt", "oVirt");
    }
    if sys_vendor == Some("Red Hat") {
        if product_family == Some("RHV") {
            dmi_guest(&mut f, "RHV", "RHV");
        } else if product_name == Some("RHEV Hypervisor") {
            dmi_guest(&mut f, "RHEV", "RHEV");
        }
    }
    if product_name.is_some_and(|n| n.starts_with("VMware")) {
        dmi_guest(&mut f, "VMware", "VMware");
    }
    if matches!(product_name, Some("OpenStack Compute" | "OpenStack Nova")) {
        dmi_guest(&mut f, "openstack", "openstack");
    }
    if bios_vendor == Some("Xen") {
        dmi_guest(&mut f, "xen", "xen");
    }
    if bios_vendor == Some("innotek GmbH") {
        dmi_guest(&mut f, "virtualbox", "virtualbox");
    }
    if matches!(
        bios_vendor,
        Some("Amazon EC2" | "DigitalOcean" | "Hetzner" | "Linode")
    ) {
        dmi_guest(&mut f, "kvm", "kvm");
    }
    if matches!(
        sys_vendor,
        Some("QEMU" | "Amazon EC2" | "DigitalOcean" | "Google" | "Scaleway" | "Nutanix")
    ) {
        dmi_guest(&mut f, "kvm", "kvm");
    }
    if sys_vendor == Some("KubeVirt") {
        dmi_guest(&mut f, "KubeVirt", "KubeVirt");
    }
    if sys_vendor == Some("Microsoft Corporation") {
        dmi_guest(&mut f, "VirtualPC", "VirtualPC");
    }
    if sys_vendor == Some("Parallels Software International Inc.") {
        dmi_guest(&mut f, "parallels", "parallels");
    }
    if sys_vendor == Some("OpenStack Foundation") {
        dmi_guest(&mut f, "openstack", "openstack");
    }
    if !f.found {
        f.role = None;
    }

    if let Some(status) = p.file("/proc/self/status") {
        for line in status.lines() {
            let Some(rest) = line.strip_prefix("VxID:") else {
                continue;
            };
            let id = rest.trim_start();
            if !id.starts_with(|c: char| c.is_ascii_digit()) || rest.len() == id.len() {
                continue;
            }
            if !f.found {
                f.vtype = Some("linux_vserver".into());
            }
            if id.starts_with('0') {
                f.host.insert("linux_vserver".into());
                if !f.found {
                    f.role = Some("host".into());
                }
            } else {
                f.guest.insert("linux_vserver".into());
                if !f.found {
                    f.role = Some("guest".into());
                }
            }
            f.found = true;
        }
    }

    if let Some(cpuinfo) = p.file("/proc/cpuinfo") {
        for line in cpuinfo.lines() {
            let tech = if line.starts_with("model name") && line.contains("QEMU Virtual CPU") {
                ("kvm", "kvm")
            } else if (line.starts_with("vendor_id") && line.contains("User Mode Linux"))
                || (line.starts_with("model name") && line.contains("UML"))
            {
                ("uml", "uml")
            } else if line.starts_with("machine") && has_emulated_pseries(line) {
                ("kvm", "kvm")
            } else if line.starts_with("vendor_id") && line.contains("PowerVM Lx86") {
                ("powervm_lx86", "powervm_lx86")
            } else if line.starts_with("vendor_id") && line.contains("IBM/S390") {
                // Ansible asks lscpu for the hypervisor here; kiln reports the LPAR.
                ("PR/SM", "PR/SM")
            } else {
                continue;
            };
            f.guest.insert(tech.0.to_string());
            if !f.found {
                f.vtype = Some(tech.1.to_string());
                f.role = Some(if tech.1 == "PR/SM" { "LPAR" } else { "guest" }.into());
                f.found = true;
            }
        }
    }

    if let Some(modules) = p.file("/proc/modules") {
        let names: BTreeSet<&str> = modules
            .lines()
            .filter_map(|l| l.split(' ').next())
            .collect();
        if names.contains("kvm") {
            f.host.insert("kvm".into());
            if !f.found {
                f.vtype = Some("kvm".into());
                f.role = Some("host".into());
            }
            f.found = true;
        }
        if names.contains("vboxdrv") {
            f.host.insert("virtualbox".into());
            if !f.found {
                f.vtype = Some("virtualbox".into());
                f.role = Some("host".into());
                f.found = true;
            }
        }
        if names.contains("virtio") {
            f.host.insert("kvm".into());
            if !f.found {
                f.vtype = Some("kvm".into());
                f.role = Some("guest".into());
                f.found = true;
            }
        }
    }
    if p.exists("/dev/kvm") {
        f.host.insert("kvm".into());
        if !f.found {
            f.vtype = Some("kvm".into());
            f.role = Some("host".into());
            f.found = true;
        }
    }
    if !f.found {
        f.vtype = Some("NA".into());
        f.role = Some("NA".into());
    }

    let mut m = Map::new();
    if let Some(t) = f.vtype {
        put(&mut m, "virtualization_type", s(t));
    }
    if let Some(r) = f.role {
        put(&mut m, "virtualization_role", s(r));
    }
    // Python sets: kiln reports them sorted.
    put(&mut m, "virtualization_tech_guest", str_list(f.guest));
    put(&mut m, "virtualization_tech_host", str_list(f.host));
    m
}

/// `/docker(/|-[0-9a-f]+\.scope)` in a cgroup line.
fn has_docker_cgroup(line: &str) -> bool {
    line.match_indices("/docker").any(|(i, _)| {
        let rest = &line[i + "/docker".len()..];
        if rest.starts_with('/') {
            return true;
        }
        let Some(r) = rest.strip_prefix('-') else {
            return false;
        };
        let hex = r
            .bytes()
            .take_while(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            .count();
        hex > 0 && r[hex..].starts_with(".scope")
    })
}

/// `^machine.*CHRP IBM pSeries .emulated by qemu.`
fn has_emulated_pseries(line: &str) -> bool {
    line.find("CHRP IBM pSeries ").is_some_and(|i| {
        let rest = &line[i + "CHRP IBM pSeries ".len()..];
        rest.get(1..).is_some_and(|r| {
            r.starts_with("emulated by qemu") && r.len() > "emulated by qemu".len()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_cgroup_lines() {
        assert!(has_docker_cgroup("12:pids:/docker/abc"));
        assert!(has_docker_cgroup("0::/system.slice/docker-3f2a.scope"));
        assert!(!has_docker_cgroup("0::/docker-XYZ.scope"));
        assert!(!has_docker_cgroup("0::/"));
    }
}
