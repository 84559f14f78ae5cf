//! `hardware`: CPUs, memory, DMI, uptime, lvm and mounts.

use super::probe::Probe;
use super::{get_str, int, put, s, str_list};
use crate::yaml::{Map, Value};
use indexmap::IndexMap;

pub(crate) fn hardware(p: &Probe, seen: &Map) -> Map {
    let mut m = Map::new();
    cpu(p, seen, &mut m);
    memory(p, &mut m);
    dmi(p, &mut m);
    if let Some(up) = p
        .content("/proc/uptime")
        .and_then(|t| t.split(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
    {
        put(&mut m, "uptime_seconds", int(up as i64));
    }
    // Ansible reads volume groups only as root with LVM tools; kiln does not run them, and so
    // reports `N/A` only where Ansible would too.
    let root = p.var("uid").map(str::trim) == Some("0");
    if p.bin("vgs").is_none() || !root {
        put(&mut m, "lvm", s("N/A"));
    }
    put(&mut m, "mounts", Value::Seq(super::mounts::mounts(p)));
    m
}

fn cpu(p: &Probe, seen: &Map, m: &mut Map) {
    let Some(cpuinfo) = p.file("/proc/cpuinfo") else {
        return;
    };
    let arch = get_str(seen, "ansible_architecture").unwrap_or("");
    let xen = p.exists("/proc/xen")
        || p.content("/sys/hypervisor/type")
            .and_then(|t| t.lines().next())
            .map(str::trim)
            == Some("xen");
    let mut xen_paravirt = false;
    let mut processor: Vec<String> = Vec::new();
    let mut flags: Option<Vec<String>> = None;
    let (mut i, mut vendor_ids, mut model_names, mut processors) = (0i64, 0i64, 0i64, 0i64);
    // Python starts both at the int 0, a key no cpuinfo string equals.
    let mut physid = String::from("\0int");
    let mut coreid = String::from("\0int");
    // Python dicts keyed by physical id / core id, insertion-ordered.
    let mut sockets: IndexMap<String, i64> = IndexMap::new();
    let mut cores: IndexMap<String, i64> = IndexMap::new();
    let (mut zp, mut zmt) = (0i64, 0i64);
    for line in cpuinfo.lines() {
        let (key, val) = match line.split_once(':') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line.trim(), ""),
        };
        if xen && key == "flags" && !val.contains("vme") {
            xen_paravirt = true;
        }
        if key == "flags" {
            flags = Some(val.split_whitespace().map(str::to_string).collect());
        }
        match key {
            "model name" | "Processor" | "vendor_id" | "cpu" | "Vendor" | "processor" => {
                processor.push(val.to_string());
                match key {
                    "vendor_id" => vendor_ids += 1,
                    "model name" => model_names += 1,
                    "processor" => processors += 1,
                    _ => {}
                }
                i += 1;
            }
            "physical id" => {
                physid = val.to_string();
                sockets.entry(physid.clone()).or_insert(1);
            }
            "core id" => {
                coreid = val.to_string();
                // Ansible checks the core id against `sockets` here (sic).
                if !sockets.contains_key(&coreid) {
                    cores.insert(coreid.clone(), 1);
                }
            }
            "cpu cores" => {
                if let Ok(n) = val.parse() {
                    sockets.insert(physid.clone(), n);
                }
            }
            "siblings" => {
                if let Ok(n) = val.parse() {
                    cores.insert(coreid.clone(), n);
                }
            }
            "# processors" => zp = val.parse().unwrap_or(zp),
            "max thread id" => zmt = val.parse::<i64>().map(|v| v + 1).unwrap_or(zmt),
            "ncpus active" => i = val.parse().unwrap_or(i),
            _ => {}
        }
    }
    if vendor_ids > 0 && vendor_ids == model_names {
        i = vendor_ids;
    }
    if arch.starts_with("armv") || arch.starts_with("aarch") || arch.starts_with("ppc") {
        i = processors;
    }
    put(m, "processor", str_list(processor));
    if let Some(flags) = flags {
        put(m, "flags", str_list(flags));
    }
    let mut nproc = processors;
    if arch == "s390x" {
        put(m, "processor_count", int(1));
        put(
            m,
            "processor_cores",
            int(if zmt > 0 {
                py_round(zp as f64 / zmt as f64)
            } else {
                0
            }),
        );
        put(m, "processor_threads_per_core", int(zmt));
        put(m, "processor_vcpus", int(zp));
        nproc = zp;
    } else if xen_paravirt {
        for k in ["processor_count", "processor_cores", "processor_vcpus"] {
            put(m, k, int(i));
        }
        put(m, "processor_threads_per_core", int(1));
        nproc = i;
    } else {
        let count = if sockets.is_empty() {
            i
        } else {
            sockets.len() as i64
        };
        let cores_per = sockets
            .values()
            .next()
            .copied()
            .filter(|c| *c != 0)
            .unwrap_or(1);
        let threads = match cores.values().next() {
            Some(siblings) => py_round(*siblings as f64 / cores_per as f64),
            None => py_round(1.0 / cores_per as f64),
        };
        put(m, "processor_count", int(count));
        put(m, "processor_cores", int(cores_per));
        put(m, "processor_threads_per_core", int(threads));
        put(m, "processor_vcpus", int(threads * count * cores_per));
    }
    // The CPUs this process may run on (sched_getaffinity), as Ansible reports.
    if let Some(n) = affinity_count(p) {
        nproc = n;
    }
    put(m, "processor_nproc", int(nproc));
}

/// Python's round(): half to even.
fn py_round(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r as i64 % 2 != 0 {
        (r - x.signum()) as i64
    } else {
        r as i64
    }
}

/// The size of `Cpus_allowed_list` (`0-3,8`) in the probe's own /proc/self/status.
fn affinity_count(p: &Probe) -> Option<i64> {
    let status = p.file("/proc/self/status")?;
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim();
    let mut n = 0;
    for part in list.split(',').filter(|x| !x.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => n += b.trim().parse::<i64>().ok()? - a.trim().parse::<i64>().ok()? + 1,
            None => {
                part.trim().parse::<i64>().ok()?;
                n += 1;
            }
        }
    }
    (n > 0).then_some(n)
}

fn memory(p: &Probe, m: &mut Map) {
    let Some(meminfo) = p.file("/proc/meminfo") else {
        return;
    };
    let mut stats: IndexMap<&str, i64> = IndexMap::new();
    for line in meminfo.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let Some(val) = rest
            .trim()
            .split(' ')
            .next()
            .and_then(|v| v.parse::<i64>().ok())
        else {
            continue;
        };
        let mb = val.div_euclid(1024);
        match key {
            "MemTotal" | "SwapTotal" | "MemFree" | "SwapFree" => {
                put(m, &format!("{}_mb", key.to_lowercase()), int(mb));
                stats.insert(key, mb);
            }
            "Buffers" | "Cached" | "SwapCached" => {
                stats.insert(key, mb);
            }
            _ => {}
        }
    }
    let get = |k: &str| stats.get(k).copied();
    let opt = |v: Option<i64>| v.map(int).unwrap_or(Value::Null);
    let real_used = get("MemTotal").zip(get("MemFree")).map(|(t, f)| t - f);
    let nocache_free = match (get("Cached"), get("MemFree"), get("Buffers")) {
        (Some(c), Some(f), Some(b)) => Some(c + f + b),
        _ => None,
    };
    let nocache_used = get("MemTotal").zip(nocache_free).map(|(t, f)| t - f);
    let swap_used = get("SwapTotal").zip(get("SwapFree")).map(|(t, f)| t - f);
    let mut real = Map::new();
    put(&mut real, "total", opt(get("MemTotal")));
    put(&mut real, "used", opt(real_used));
    put(&mut real, "free", opt(get("MemFree")));
    let mut nocache = Map::new();
    put(&mut nocache, "free", opt(nocache_free));
    put(&mut nocache, "used", opt(nocache_used));
    let mut swap = Map::new();
    put(&mut swap, "total", opt(get("SwapTotal")));
    put(&mut swap, "free", opt(get("SwapFree")));
    put(&mut swap, "used", opt(swap_used));
    put(&mut swap, "cached", opt(get("SwapCached")));
    let mut mem = Map::new();
    put(&mut mem, "real", Value::Map(real));
    put(&mut mem, "nocache", Value::Map(nocache));
    put(&mut mem, "swap", Value::Map(swap));
    put(m, "memory_mb", Value::Map(mem));
}

fn dmi(p: &Probe, m: &mut Map) {
    const KEYS: &[(&str, &str)] = &[
        ("bios_date", "bios_date"),
        ("bios_vendor", "bios_vendor"),
        ("bios_version", "bios_version"),
        ("board_asset_tag", "board_asset_tag"),
        ("board_name", "board_name"),
        ("board_serial", "board_serial"),
        ("board_vendor", "board_vendor"),
        ("board_version", "board_version"),
        ("chassis_asset_tag", "chassis_asset_tag"),
        ("chassis_serial", "chassis_serial"),
        ("chassis_vendor", "chassis_vendor"),
        ("chassis_version", "chassis_version"),
        ("form_factor", "chassis_type"),
        ("product_name", "product_name"),
        ("product_serial", "product_serial"),
        ("product_uuid", "product_uuid"),
        ("product_version", "product_version"),
        ("system_vendor", "sys_vendor"),
    ];
    const FORM_FACTOR: &[&str] = &[
        "Unknown",
        "Other",
        "Unknown",
        "Desktop",
        "Low Profile Desktop",
        "Pizza Box",
        "Mini Tower",
        "Tower",
        "Portable",
        "Laptop",
        "Notebook",
        "Hand Held",
        "Docking Station",
        "All In One",
        "Sub Notebook",
        "Space-saving",
        "Lunch Box",
        "Main Server Chassis",
        "Expansion Chassis",
        "Sub Chassis",
        "Bus Expansion Chassis",
        "Peripheral Chassis",
        "RAID Chassis",
        "Rack Mount Chassis",
        "Sealed-case PC",
        "Multi-system",
        "CompactPCI",
        "AdvancedTCA",
        "Blade",
        "Blade Enclosure",
        "Tablet",
        "Convertible",
        "Detachable",
        "IoT Gateway",
        "Embedded PC",
        "Mini PC",
        "Stick PC",
    ];
    let sysfs = p.exists("/sys/devices/virtual/dmi/id/product_name");
    for (key, file) in KEYS {
        // Without sysfs DMI Ansible falls back to dmidecode, which needs root; kiln says NA.
        let data = if sysfs {
            p.content(&format!("/sys/devices/virtual/dmi/id/{file}"))
        } else {
            None
        };
        let value = match (data, *key) {
            (None, _) => "NA".to_string(),
            (Some(d), "form_factor") => match d.parse::<usize>() {
                Ok(n) => FORM_FACTOR
                    .get(n)
                    .map(|f| f.to_string())
                    .unwrap_or_else(|| format!("unknown ({d})")),
                Err(_) => format!("unknown ({d})"),
            },
            (Some(d), _) => d.to_string(),
        };
        put(m, key, s(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_even() {
        assert_eq!(py_round(0.5), 0);
        assert_eq!(py_round(1.5), 2);
        assert_eq!(py_round(2.5), 2);
        assert_eq!(py_round(1.0), 1);
        assert_eq!(py_round(0.25), 0);
    }
}
