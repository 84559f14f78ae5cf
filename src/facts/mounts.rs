//! `mounts`: the real filesystems of /etc/mtab, with statvfs sizes and UUIDs.

use super::probe::Probe;
use super::{int, put, s};
use crate::yaml::{Map, Value};
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};

pub(crate) fn mounts(p: &Probe) -> Vec<Value> {
    let Some(mtab) = p.var("mtab").and_then(|path| p.file(path)) else {
        return Vec::new();
    };
    let sizes = statvfs(p);
    let uuids = uuids(p);
    let find_uuids = p.bin("lsblk").is_some() || p.bin("udevadm").is_some();
    let binds = bind_mounts(p);
    // One entry per mount point: the first occurrence's place, the last occurrence's data.
    let mut out: IndexMap<String, Map> = IndexMap::new();
    for line in mtab.lines() {
        let fields: Vec<String> = line.split_whitespace().map(unescape_octal).collect();
        if fields.len() < 4 {
            continue;
        }
        let (device, mount, fstype, options) = (&fields[0], &fields[1], &fields[2], &fields[3]);
        let dump = fields
            .get(4)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let passno = fields
            .get(5)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        if !(device.starts_with('/') || device.starts_with('\\') || device.contains(":/"))
            || fstype == "none"
        {
            continue;
        }
        let mut options = options.clone();
        // Ansible's "already marked" check looks for `bind` followed by a `"`, which options
        // never contain, so a bind mount always gets `,bind` appended.
        if binds.contains(mount.as_str()) {
            options.push_str(",bind");
        }
        let mut info = Map::new();
        put(&mut info, "mount", s(mount.clone()));
        put(&mut info, "device", s(device.clone()));
        put(&mut info, "fstype", s(fstype.clone()));
        put(&mut info, "options", s(options));
        put(&mut info, "dump", int(dump));
        put(&mut info, "passno", int(passno));
        if let Some(size) = sizes.get(mount.as_str()) {
            for (k, v) in size {
                put(&mut info, k, int(*v));
            }
        }
        let uuid = if find_uuids {
            uuids.get(device.as_str()).cloned()
        } else {
            None
        };
        put(&mut info, "uuid", s(uuid.unwrap_or_else(|| "N/A".into())));
        out.insert(mount.clone(), info);
    }
    out.into_values().map(Value::Map).collect()
}

/// `\040` and friends in /proc/mounts fields.
fn unescape_octal(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| c.is_ascii_digit()) {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Some(c) = char::from_u32(v) {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `stat -f -c '%S %s %b %a %f %c %d %n'` lines, keyed by mount point, in Ansible's terms.
fn statvfs(p: &Probe) -> HashMap<String, Vec<(&'static str, i64)>> {
    let mut out = HashMap::new();
    let Some(text) = p.cmd("stat-f") else {
        return out;
    };
    for line in text.lines() {
        let mut parts = line.splitn(8, ' ');
        let nums: Vec<i64> = parts
            .by_ref()
            .take(7)
            .filter_map(|v| v.parse().ok())
            .collect();
        let Some(name) = parts.next() else { continue };
        let [frsize, bsize, blocks, bavail, _bfree, files, ffree] = nums.as_slice() else {
            continue;
        };
        out.insert(
            name.to_string(),
            vec![
                ("size_total", frsize * blocks),
                ("size_available", frsize * bavail),
                ("block_size", *bsize),
                ("block_total", *blocks),
                ("block_available", *bavail),
                ("block_used", blocks - bavail),
                ("inode_total", *files),
                ("inode_available", *ffree),
                ("inode_used", files - ffree),
            ],
        );
    }
    out
}

/// Device path → filesystem UUID, from /dev/disk/by-uuid links the probe matched.
fn uuids(p: &Probe) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in p.cmd("uuids").unwrap_or("").lines() {
        if let Some((uuid, dev)) = line.split_once(' ') {
            out.entry(dev.to_string())
                .or_insert_with(|| uuid.to_string());
        }
    }
    out
}

/// Mount points findmnt would show as `SOURCE[/path]` (a filesystem root other than `/`);
/// Ansible tags their options with `,bind`. Only where findmnt exists, as for Ansible.
fn bind_mounts(p: &Probe) -> HashSet<String> {
    let mut out = HashSet::new();
    if p.bin("findmnt").is_none() {
        return out;
    }
    for line in p.file("/proc/self/mountinfo").unwrap_or("").lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() > 4 && f[3] != "/" {
            out.insert(unescape_octal(f[4]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_escapes() {
        assert_eq!(unescape_octal("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape_octal("/x\\"), "/x\\");
    }
}
