//! `network` (interfaces, addresses, default routes), `dns`, `iscsi`, `nvme` and
//! `fibre_channel_wwn`.
//!
//! Interface attributes come from /sys/class/net as in Ansible; addresses and routes from
//! `ip` output parsed with Ansible's rules. Where `ip` is missing (Debian container images)
//! Ansible reports no network facts; kiln rebuilds the same shapes from /proc/net instead.

use super::probe::Probe;
use super::{int, put, s, str_list};
use crate::yaml::{Map, Value};
use indexmap::IndexMap;
use std::net::{Ipv4Addr, Ipv6Addr};

const V4_TARGET: &str = "8.8.8.8";
const V6_TARGET: &str = "2404:6800:400a:800::1012";

pub(crate) fn network(p: &Probe) -> Map {
    let mut m = Map::new();
    let with_ip = p.bin("ip").is_some();
    let (mut default4, mut default6) = if with_ip {
        (
            route_get(p.cmd("ip-route4"), V4_TARGET),
            route_get(p.cmd("ip-route6"), V6_TARGET),
        )
    } else {
        (proc_default4(p), proc_default6(p))
    };
    // Per-device address lines: (primary lines, secondary lines) in `ip addr` syntax.
    let addr_lines = if with_ip {
        ip_addr_blocks(p.cmd("ip-addr").unwrap_or(""))
    } else {
        proc_addr_blocks(p)
    };

    let mut interfaces: IndexMap<String, Map> = IndexMap::new();
    let mut all4: Vec<String> = Vec::new();
    let mut all6: Vec<String> = Vec::new();
    // Python's loop variable: the last MAC read, even from an earlier device.
    let mut macaddress = String::new();
    for device in p.vars("if") {
        let mut d = Map::new();
        put(&mut d, "device", s(device));
        let attr = |name: &str| p.content(&format!("/sys/class/net/{device}/{name}"));
        if let Some(mac) = attr("address") {
            macaddress = mac.to_string();
            if mac != "00:00:00:00:00:00" {
                put(&mut d, "macaddress", s(mac));
            }
        }
        if let Some(mtu) = attr("mtu").and_then(|v| v.parse::<i64>().ok()) {
            put(&mut d, "mtu", int(mtu));
        }
        if let Some(state) = attr("operstate") {
            put(&mut d, "active", Value::Bool(state != "down"));
        }
        if let Some(module) = link_of(p, "if.module", device) {
            put(&mut d, "module", s(module));
        }
        if let Some(t) = attr("type") {
            let name = match t {
                "1" => "ether",
                "32" => "infiniband",
                "512" => "ppp",
                "772" => "loopback",
                "65534" => "tunnel",
                _ => "unknown",
            };
            put(&mut d, "type", s(name));
        }
        if p.vars("if.bridge").any(|b| b == device) {
            put(&mut d, "type", s("bridge"));
            let members: Vec<&str> = p
                .vars("if.brif")
                .filter_map(|v| v.split_once(' '))
                .filter(|(b, _)| *b == device)
                .map(|(_, m)| m)
                .collect();
            put(&mut d, "interfaces", str_list(members));
            if let Some(id) = p.file(&format!("/sys/class/net/{device}/bridge/bridge_id")) {
                put(&mut d, "id", s(id.trim()));
            }
            if let Some(stp) = attr("bridge/stp_state") {
                put(&mut d, "stp", Value::Bool(stp == "1"));
            }
        }
        if p.vars("if.bonding").any(|b| b == device) {
            put(&mut d, "type", s("bonding"));
            let first = |name: &str| {
                attr(name)
                    .and_then(|v| v.split_whitespace().next())
                    .unwrap_or("")
                    .to_string()
            };
            put(
                &mut d,
                "slaves",
                str_list(attr("bonding/slaves").unwrap_or("").split_whitespace()),
            );
            put(&mut d, "mode", s(first("bonding/mode")));
            put(&mut d, "miimon", s(first("bonding/miimon")));
            put(&mut d, "lacp_rate", s(first("bonding/lacp_rate")));
            if let Some(primary) = attr("bonding/primary") {
                put(&mut d, "primary", s(primary));
                if let Some(all) = attr("bonding/all_slaves_active") {
                    put(&mut d, "all_slaves_active", Value::Bool(all == "1"));
                }
            }
        }
        if p.vars("if.bonding_slave").any(|b| b == device) {
            put(
                &mut d,
                "perm_macaddress",
                s(attr("bonding_slave/perm_hwaddr").unwrap_or("")),
            );
        }
        if let Some(pciid) = link_of(p, "if.pciid", device) {
            put(&mut d, "pciid", s(pciid));
        }
        if let Some(speed) = attr("speed").and_then(|v| v.parse::<i64>().ok()) {
            put(&mut d, "speed", int(speed));
        }
        if let Some(flags) =
            attr("flags").and_then(|f| i64::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        {
            put(&mut d, "promisc", Value::Bool(flags & 0x0100 > 0));
        }
        interfaces.insert(device.to_string(), d);

        let Some((primary, secondary)) = addr_lines.get(device) else {
            continue;
        };
        let mut cx = AddrCx {
            device,
            interfaces: &mut interfaces,
            default4: &mut default4,
            default6: &mut default6,
            all4: &mut all4,
            all6: &mut all6,
            macaddress: &macaddress,
        };
        for line in primary {
            cx.parse_line(line, false);
        }
        for line in secondary {
            cx.parse_line(line, true);
        }
    }

    let mut names: Vec<String> = Vec::new();
    for (name, d) in interfaces {
        let name = name.replace(':', "_");
        put(&mut m, &name, Value::Map(d));
        names.push(name);
    }
    put(&mut m, "interfaces", str_list(names));
    put(&mut m, "default_ipv4", Value::Map(default4));
    put(&mut m, "default_ipv6", Value::Map(default6));
    put(&mut m, "all_ipv4_addresses", str_list(all4));
    put(&mut m, "all_ipv6_addresses", str_list(all6));
    put(
        &mut m,
        "locally_reachable_ips",
        locally_reachable(p, with_ip),
    );
    m
}

/// The basename of a link the probe resolved for a device (`if.pciid=eth0 virtio2`).
fn link_of<'a>(p: &'a Probe, key: &'a str, device: &str) -> Option<&'a str> {
    p.vars(key)
        .filter_map(|v| v.split_once(' '))
        .find(|(d, _)| *d == device)
        .map(|(_, l)| l)
}

/// Ansible's reading of `ip -4 route get 8.8.8.8` (or the v6 one): interface, source, gateway.
fn route_get(out: Option<&str>, target: &str) -> Map {
    let mut m = Map::new();
    let Some(first) = out.and_then(|o| o.lines().next()) else {
        return m;
    };
    let words: Vec<&str> = first.split_whitespace().collect();
    if words.first() != Some(&target) {
        return m;
    }
    for w in words.windows(2) {
        match w[0] {
            "dev" => put(&mut m, "interface", s(w[1])),
            "src" => put(&mut m, "address", s(w[1])),
            "via" if w[1] != target => put(&mut m, "gateway", s(w[1])),
            _ => {}
        }
    }
    m
}

/// `ip addr show` split per device into (primary, secondary) address lines. Busybox's `ip`
/// knows no `primary`/`secondary` filters, so Ansible parses all its lines as primary.
fn ip_addr_blocks(out: &str) -> IndexMap<String, (Vec<String>, Vec<String>)> {
    let busybox = !out
        .lines()
        .any(|l| !l.starts_with(' ') && l.contains(" state "));
    let mut blocks: IndexMap<String, (Vec<String>, Vec<String>)> = IndexMap::new();
    let mut current: Option<String> = None;
    for line in out.lines() {
        if !line.starts_with(' ') && !line.starts_with('\t') {
            // `2: eth0@if5: <BROADCAST,...> mtu 1500 ...`
            current = line
                .split(": ")
                .nth(1)
                .map(|n| n.split('@').next().unwrap_or(n).to_string());
            continue;
        }
        let Some(dev) = &current else { continue };
        let words: Vec<&str> = line.split_whitespace().collect();
        let is_secondary = match words.first() {
            Some(&"inet") => words.contains(&"secondary"),
            // IPv6 privacy addresses carry the same kernel flag, printed as `temporary`.
            Some(&"inet6") => words.contains(&"temporary"),
            _ => continue,
        };
        let entry = blocks.entry(dev.clone()).or_default();
        if is_secondary && !busybox {
            entry.1.push(line.trim().to_string());
        } else {
            entry.0.push(line.trim().to_string());
        }
    }
    blocks
}

/// Where one device's address lines go, following Ansible's `parse_ip_output`.
struct AddrCx<'a> {
    device: &'a str,
    interfaces: &'a mut IndexMap<String, Map>,
    default4: &'a mut Map,
    default6: &'a mut Map,
    all4: &'a mut Vec<String>,
    all6: &'a mut Vec<String>,
    macaddress: &'a str,
}

impl AddrCx<'_> {
    fn parse_line(&mut self, line: &str, secondary: bool) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            Some(&"inet") if words.len() > 1 => self.inet(&words, secondary),
            Some(&"inet6") if words.len() > 3 => self.inet6(&words),
            _ => {}
        }
    }

    fn inet(&mut self, words: &[&str], secondary: bool) {
        let (address, prefix) = match words[1].split_once('/') {
            Some((a, p)) => (a, p),
            // Point-to-point addresses have no prefix.
            None => (words[1], "32"),
        };
        let broadcast = if words.len() > 3 && words[2] == "brd" {
            words[3]
        } else {
            ""
        };
        let (Ok(addr), Ok(len)) = (address.parse::<Ipv4Addr>(), prefix.parse::<u32>()) else {
            return;
        };
        let mask: u32 = if len == 0 {
            0
        } else {
            u32::MAX.checked_shl(32 - len.min(32)).unwrap_or(0)
        };
        let netmask = Ipv4Addr::from(mask).to_string();
        let network = Ipv4Addr::from(u32::from(addr) & mask).to_string();
        let entry = || {
            let mut e = Map::new();
            put(&mut e, "address", s(address));
            put(&mut e, "broadcast", s(broadcast));
            put(&mut e, "netmask", s(netmask.clone()));
            put(&mut e, "network", s(network.clone()));
            put(&mut e, "prefix", s(prefix));
            Value::Map(e)
        };
        let iface = words.last().copied().unwrap_or(self.device);
        if iface != self.device {
            self.interfaces.insert(iface.to_string(), Map::new());
        }
        let target = self.interfaces.entry(iface.to_string()).or_default();
        if !secondary && !target.contains_key(&s("ipv4")) {
            put(target, "ipv4", entry());
        } else {
            push(target, "ipv4_secondaries", entry());
        }
        if secondary {
            let dev = self.interfaces.entry(self.device.to_string()).or_default();
            if !dev.contains_key(&s("ipv4_secondaries")) {
                put(dev, "ipv4_secondaries", Value::Seq(Vec::new()));
            }
            if self.device != iface {
                push(dev, "ipv4_secondaries", entry());
            }
        }
        if self.default4.get(&s("address")).and_then(Value::as_str) == Some(address) {
            let dev = self.interfaces.get(self.device);
            let mtu = dev
                .and_then(|d| d.get(&s("mtu")))
                .cloned()
                .unwrap_or(Value::Null);
            let typ = dev
                .and_then(|d| d.get(&s("type")))
                .cloned()
                .unwrap_or_else(|| s("unknown"));
            put(self.default4, "broadcast", s(broadcast));
            put(self.default4, "netmask", s(netmask.clone()));
            put(self.default4, "network", s(network.clone()));
            put(self.default4, "prefix", s(prefix));
            put(self.default4, "macaddress", s(self.macaddress));
            put(self.default4, "mtu", mtu);
            put(self.default4, "type", typ);
            put(self.default4, "alias", s(iface));
        }
        if !address.starts_with("127.") {
            self.all4.push(address.to_string());
        }
    }

    fn inet6(&mut self, words: &[&str]) {
        let (address, prefix, scope) = if words[2] == "peer" {
            let prefix = words[3].split_once('/').map(|(_, p)| p).unwrap_or("");
            (words[1], prefix, words.get(5).copied().unwrap_or(""))
        } else {
            let (a, p) = words[1].split_once('/').unwrap_or((words[1], ""));
            (a, p, words[3])
        };
        let dev = self.interfaces.entry(self.device.to_string()).or_default();
        let mut e = Map::new();
        put(&mut e, "address", s(address));
        put(&mut e, "prefix", s(prefix));
        put(&mut e, "scope", s(scope));
        push(dev, "ipv6", Value::Map(e));
        if self.default6.get(&s("address")).and_then(Value::as_str) == Some(address) {
            let mtu = dev.get(&s("mtu")).cloned().unwrap_or(Value::Null);
            let typ = dev.get(&s("type")).cloned().unwrap_or_else(|| s("unknown"));
            put(self.default6, "prefix", s(prefix));
            put(self.default6, "scope", s(scope));
            put(self.default6, "macaddress", s(self.macaddress));
            put(self.default6, "mtu", mtu);
            put(self.default6, "type", typ);
        }
        if address != "::1" {
            self.all6.push(address.to_string());
        }
    }
}

/// Appends to a list entry, creating it.
fn push(m: &mut Map, key: &str, v: Value) {
    match m.get_mut(&s(key)) {
        Some(Value::Seq(items)) => items.push(v),
        _ => put(m, key, Value::Seq(vec![v])),
    }
}

/// `locally_reachable_ips`: the `local` routes of the local table.
fn locally_reachable(p: &Probe, with_ip: bool) -> Value {
    let mut v4: Vec<String> = Vec::new();
    let mut v6: Vec<String> = Vec::new();
    let mut add = |addr: String| {
        let list = if addr.contains(':') { &mut v6 } else { &mut v4 };
        if !list.contains(&addr) {
            list.push(addr);
        }
    };
    if with_ip {
        for name in ["ip-local4", "ip-local6"] {
            for line in p.cmd(name).unwrap_or("").lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                if words.len() > 1 && words[0] == "local" {
                    add(words[1].to_string());
                }
            }
        }
    } else {
        for (addr, len) in fib_trie_local(p) {
            add(if len == 32 {
                addr.to_string()
            } else {
                format!("{addr}/{len}")
            });
        }
        for r in ipv6_routes(p) {
            if r.flags & 0x8000_0000 != 0 {
                add(if r.plen == 128 {
                    r.dest.to_string()
                } else {
                    format!("{}/{}", r.dest, r.plen)
                });
            }
        }
    }
    let mut m = Map::new();
    put(&mut m, "ipv4", str_list(v4));
    put(&mut m, "ipv6", str_list(v6));
    Value::Map(m)
}

// --- Without `ip`: /proc/net ---------------------------------------------------------------

/// `host LOCAL` entries of /proc/net/fib_trie: (address, prefix length), first seen first.
fn fib_trie_local(p: &Probe) -> Vec<(Ipv4Addr, u32)> {
    let mut out: Vec<(Ipv4Addr, u32)> = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in p.file("/proc/net/fib_trie").unwrap_or("").lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(a) = t
            .split_whitespace()
            .next()
            .unwrap_or("")
            .parse::<Ipv4Addr>()
        {
            last = Some(a);
            continue;
        }
        // `/32 host LOCAL` under the address it belongs to.
        let words: Vec<&str> = t.split_whitespace().collect();
        if words.len() == 3
            && words[1] == "host"
            && words[2] == "LOCAL"
            && let (Some(a), Ok(len)) = (last, words[0].trim_start_matches('/').parse::<u32>())
            && !out.contains(&(a, len))
        {
            out.push((a, len));
        }
    }
    out
}

/// `/32 link BROADCAST` addresses of /proc/net/fib_trie.
fn fib_trie_broadcasts(p: &Probe) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in p.file("/proc/net/fib_trie").unwrap_or("").lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(a) = t
            .split_whitespace()
            .next()
            .unwrap_or("")
            .parse::<Ipv4Addr>()
        {
            last = Some(a);
        } else if t.ends_with("BROADCAST")
            && let Some(a) = last
        {
            out.push(a);
        }
    }
    out
}

struct Route4 {
    iface: String,
    dest: u32,
    gateway: u32,
    mask: u32,
    metric: i64,
}

/// /proc/net/route. The kernel prints each network-order word as a host-order hex number, so
/// the byte order depends on the target; netmasks (leading ones) tell which it is.
fn ipv4_routes(p: &Probe) -> Vec<Route4> {
    let rows: Vec<Vec<&str>> = p
        .file("/proc/net/route")
        .unwrap_or("")
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<&str>>())
        .filter(|f| f.len() >= 8)
        .collect();
    let little = |x: u32| u32::from_be_bytes(x.to_le_bytes());
    let contiguous = |m: u32| m.leading_ones() + m.trailing_zeros() == 32 || m == 0;
    let little_endian = rows
        .iter()
        .filter_map(|f| u32::from_str_radix(f[7], 16).ok())
        .all(|m| contiguous(little(m)));
    let word = |v: &str| {
        u32::from_str_radix(v, 16)
            .ok()
            .map(|x| if little_endian { little(x) } else { x })
    };
    rows.iter()
        .filter_map(|f| {
            Some(Route4 {
                iface: f[0].to_string(),
                dest: word(f[1])?,
                gateway: word(f[2])?,
                mask: word(f[7])?,
                metric: f[6].parse().ok()?,
            })
        })
        .collect()
}

struct Route6 {
    dest: Ipv6Addr,
    plen: u32,
    next_hop: Ipv6Addr,
    metric: u32,
    flags: u32,
    iface: String,
}

fn ipv6_routes(p: &Probe) -> Vec<Route6> {
    p.file("/proc/net/ipv6_route")
        .unwrap_or("")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            Some(Route6 {
                dest: hex_v6(f[0])?,
                plen: u32::from_str_radix(f[1], 16).ok()?,
                next_hop: hex_v6(f[4])?,
                metric: u32::from_str_radix(f[5], 16).ok()?,
                flags: u32::from_str_radix(f[8], 16).ok()?,
                iface: f[9].to_string(),
            })
        })
        .collect()
}

fn hex_v6(h: &str) -> Option<Ipv6Addr> {
    if h.len() != 32 {
        return None;
    }
    u128::from_str_radix(h, 16).ok().map(Ipv6Addr::from)
}

/// The interface and prefix an IPv4 address belongs to: the most specific connected route
/// containing it, else loopback for 127/8.
fn owner4(
    addr: Ipv4Addr,
    routes: &[Route4],
    local_prefixes: &[(Ipv4Addr, u32)],
) -> Option<(String, u32)> {
    let a = u32::from(addr);
    let best = routes
        .iter()
        .filter(|r| r.mask != 0 && r.gateway == 0 && a & r.mask == r.dest)
        .max_by_key(|r| r.mask.count_ones());
    if let Some(r) = best {
        return Some((r.iface.clone(), r.mask.count_ones()));
    }
    // Loopback ranges live only in the local table (`127.0.0.0/8 host LOCAL`).
    local_prefixes
        .iter()
        .filter(|(net, len)| *len < 32 && a & mask_of(*len) == u32::from(*net))
        .max_by_key(|(_, len)| *len)
        .map(|(_, len)| ("lo".to_string(), *len))
}

fn mask_of(len: u32) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX.checked_shl(32 - len.min(32)).unwrap_or(0)
    }
}

/// Address lines per device rebuilt from /proc/net in `ip addr` syntax.
fn proc_addr_blocks(p: &Probe) -> IndexMap<String, (Vec<String>, Vec<String>)> {
    let mut blocks: IndexMap<String, (Vec<String>, Vec<String>)> = IndexMap::new();
    let routes = ipv4_routes(p);
    let local = fib_trie_local(p);
    let broadcasts = fib_trie_broadcasts(p);
    for (addr, len) in &local {
        if *len != 32 {
            continue;
        }
        let Some((iface, plen)) = owner4(*addr, &routes, &local) else {
            continue;
        };
        let bcast = u32::from(*addr) | !mask_of(plen);
        // `ip` shows `brd` where one was configured; loopback has none.
        let brd = if plen < 31 && !addr.is_loopback() && broadcasts.contains(&Ipv4Addr::from(bcast))
        {
            format!(" brd {}", Ipv4Addr::from(bcast))
        } else {
            String::new()
        };
        let scope = if addr.is_loopback() { "host" } else { "global" };
        let line = format!("inet {addr}/{plen}{brd} scope {scope} {iface}");
        // The first address of a subnet is primary, later ones secondary, as the kernel does.
        let entry = blocks.entry(iface.clone()).or_default();
        let same_subnet = entry.0.iter().any(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
                .is_some_and(|a| u32::from(a) & mask_of(plen) == u32::from(*addr) & mask_of(plen))
        });
        if same_subnet {
            entry.1.push(line)
        } else {
            entry.0.push(line)
        }
    }
    for line in p.file("/proc/net/if_inet6").unwrap_or("").lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 {
            continue;
        }
        let (Some(addr), Ok(plen), Ok(scope), Ok(flags)) = (
            hex_v6(f[0]),
            u32::from_str_radix(f[2], 16),
            u32::from_str_radix(f[3], 16),
            u32::from_str_radix(f[4], 16),
        ) else {
            continue;
        };
        let scope = match scope {
            0x00 => "global",
            0x10 => "host",
            0x20 => "link",
            0x40 => "admin",
            0x50 => "site",
            0x80 => "organization",
            _ => "global",
        };
        let entry = blocks.entry(f[5].to_string()).or_default();
        let text = format!("inet6 {addr}/{plen} scope {scope}");
        // IFA_F_TEMPORARY: privacy addresses come after the others, as with `ip`.
        if flags & 0x01 != 0 {
            entry.1.push(text)
        } else {
            entry.0.push(text)
        }
    }
    blocks
}

fn proc_default4(p: &Probe) -> Map {
    let mut m = Map::new();
    let routes = ipv4_routes(p);
    let Some(r) = routes
        .iter()
        .filter(|r| r.dest == 0 && r.mask == 0)
        .min_by_key(|r| r.metric)
    else {
        return m;
    };
    put(&mut m, "interface", s(r.iface.clone()));
    let local = fib_trie_local(p);
    let src = local
        .iter()
        .filter(|(_, len)| *len == 32)
        .find(|(a, _)| owner4(*a, &routes, &local).is_some_and(|(i, _)| i == r.iface));
    if let Some((a, _)) = src {
        put(&mut m, "address", s(a.to_string()));
    }
    if r.gateway != 0 {
        put(&mut m, "gateway", s(Ipv4Addr::from(r.gateway).to_string()));
    }
    m
}

fn proc_default6(p: &Probe) -> Map {
    let mut m = Map::new();
    let Some(r) = ipv6_routes(p)
        .into_iter()
        .filter(|r| {
            r.plen == 0 && r.dest.is_unspecified() && r.iface != "lo" && r.flags & 0x0200 == 0
        })
        .min_by_key(|r| r.metric)
    else {
        return m;
    };
    put(&mut m, "interface", s(r.iface.clone()));
    // The source the kernel would pick: the interface's first global address.
    let src = p
        .file("/proc/net/if_inet6")
        .unwrap_or("")
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6
                && f[5] == r.iface
                && f[3] == "00"
                && u32::from_str_radix(f[4], 16).is_ok_and(|x| x & 0x01 == 0))
            .then(|| hex_v6(f[0]))
            .flatten()
        });
    if let Some(a) = src {
        put(&mut m, "address", s(a.to_string()));
    }
    if !r.next_hop.is_unspecified() {
        put(&mut m, "gateway", s(r.next_hop.to_string()));
    }
    m
}

// --- dns, iscsi, nvme, fibre channel --------------------------------------------------------

pub(crate) fn dns(p: &Probe) -> Map {
    let mut d = Map::new();
    for line in p.file("/etc/resolv.conf").unwrap_or("").lines() {
        if line.starts_with('#') || line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        match tokens[0] {
            "nameserver" => {
                for ns in &tokens[1..] {
                    push(&mut d, "nameservers", s(*ns));
                }
                if tokens.len() == 1 && !d.contains_key(&s("nameservers")) {
                    put(&mut d, "nameservers", Value::Seq(Vec::new()));
                }
            }
            "domain" => {
                if let Some(domain) = tokens.get(1) {
                    put(&mut d, "domain", s(*domain));
                }
            }
            "search" => put(&mut d, "search", str_list(tokens[1..].iter().copied())),
            "sortlist" => put(&mut d, "sortlist", str_list(tokens[1..].iter().copied())),
            "options" => {
                let mut o = Map::new();
                for opt in &tokens[1..] {
                    match opt.split_once(':') {
                        Some((k, v)) if !v.is_empty() => put(&mut o, k, s(v)),
                        Some((k, _)) => put(&mut o, k, Value::Bool(true)),
                        None => put(&mut o, opt, Value::Bool(true)),
                    }
                }
                put(&mut d, "options", Value::Map(o));
            }
            _ => {}
        }
    }
    let mut m = Map::new();
    put(&mut m, "dns", Value::Map(d));
    m
}

pub(crate) fn iscsi(p: &Probe) -> Map {
    let mut iqn = String::new();
    for line in p
        .content("/etc/iscsi/initiatorname.iscsi")
        .unwrap_or("")
        .lines()
    {
        if line.starts_with('#') || line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        if let Some(v) = line.strip_prefix("InitiatorName=") {
            iqn = v.to_string();
            break;
        }
    }
    let mut m = Map::new();
    put(&mut m, "iscsi_iqn", s(iqn));
    m
}

pub(crate) fn nvme(p: &Probe) -> Map {
    let nqn = p
        .content("/etc/nvme/hostnqn")
        .unwrap_or("")
        .lines()
        .filter(|l| !(l.starts_with('#') || l.starts_with(';') || l.trim().is_empty()))
        .find(|l| l.starts_with("nqn."))
        .unwrap_or("");
    let mut m = Map::new();
    put(&mut m, "hostnqn", s(nqn));
    m
}

pub(crate) fn fibre_channel_wwn(p: &Probe) -> Map {
    let mut wwns = Vec::new();
    for (path, text) in p.files_under("/sys/class/fc_host/") {
        if !path.ends_with("/port_name") {
            continue;
        }
        for line in text.lines() {
            wwns.push(line.trim_end().get(2..).unwrap_or("").to_string());
        }
    }
    let mut m = Map::new();
    put(&mut m, "fibre_channel_wwn", str_list(wwns));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_get_v4_and_v6() {
        let m = route_get(
            Some("8.8.8.8 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0 \n    cache \n"),
            V4_TARGET,
        );
        assert_eq!(m.get(&s("gateway")), Some(&s("192.0.2.1")));
        assert_eq!(m.get(&s("interface")), Some(&s("eth0")));
        assert_eq!(m.get(&s("address")), Some(&s("192.0.2.2")));
        let m = route_get(
            Some("RTNETLINK answers: Network is unreachable\n"),
            V6_TARGET,
        );
        assert!(m.is_empty());
    }

    #[test]
    fn addr_blocks_split_secondaries() {
        let out = "2: eth0@if7: <UP> mtu 1500 qdisc noqueue state UP group default\n    link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff\n    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0\n       valid_lft forever preferred_lft forever\n    inet 10.0.0.3/24 scope global secondary eth0:1\n";
        let b = ip_addr_blocks(out);
        let (primary, secondary) = b.get("eth0").expect("eth0 block");
        assert_eq!(primary.len(), 1);
        assert_eq!(
            secondary,
            &vec!["inet 10.0.0.3/24 scope global secondary eth0:1".to_string()]
        );
    }
}
