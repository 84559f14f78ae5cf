//! `gather_subset` and `filter`, resolved the way the setup module resolves them.
//!
//! A subset names a collector (`hardware`, `network`, `distribution` ...) or one of the fact
//! ids a collector declares (`mounts`, `interfaces`, `kernel` ...), which selects that whole
//! collector. `!x` excludes, `all`/`min` are the usual groups, and the collectors the chosen
//! ones depend on are always added (their facts appear too, as in Ansible).

use super::FactsError;
use std::collections::BTreeSet;

/// One collector: its name, the fact ids that select it, and the collectors it needs first.
pub(crate) struct Collector {
    pub name: &'static str,
    pub ids: &'static [&'static str],
    pub requires: &'static [&'static str],
}

/// Ansible's Linux collectors in kiln's running order (dependencies first).
pub(crate) const COLLECTORS: &[Collector] = &[
    c(
        "platform",
        &[
            "architecture",
            "kernel",
            "kernel_version",
            "machine",
            "machine_id",
            "python_version",
            "system",
        ],
        &[],
    ),
    c(
        "distribution",
        &[
            "distribution_major_version",
            "distribution_release",
            "distribution_version",
            "os_family",
        ],
        &[],
    ),
    c("lsb", &[], &[]),
    c("selinux", &[], &[]),
    c("apparmor", &[], &[]),
    c("chroot", &["is_chroot"], &[]),
    c("fips", &[], &[]),
    c("python", &[], &[]),
    c(
        "caps",
        &["system_capabilities", "system_capabilities_enforced"],
        &[],
    ),
    c("pkg_mgr", &[], &["distribution"]),
    c("service_mgr", &[], &["distribution", "platform"]),
    c("cmdline", &[], &[]),
    c("date_time", &[], &[]),
    c("env", &[], &[]),
    c("loadavg", &[], &[]),
    c(
        "ssh_pub_keys",
        &[
            "ssh_host_key_dsa_public",
            "ssh_host_key_ecdsa_public",
            "ssh_host_key_ed25519_public",
            "ssh_host_key_rsa_public",
            "ssh_host_pub_keys",
        ],
        &[],
    ),
    c(
        "user",
        &[
            "effective_group_ids",
            "effective_user_id",
            "real_user_id",
            "user_dir",
            "user_gecos",
            "user_gid",
            "user_id",
            "user_shell",
            "user_uid",
        ],
        &[],
    ),
    c("systemd", &[], &[]),
    c(
        "virtual",
        &[
            "virtualization_role",
            "virtualization_tech_guest",
            "virtualization_tech_host",
            "virtualization_type",
        ],
        &[],
    ),
    c(
        "hardware",
        &[
            "devices",
            "mounts",
            "processor",
            "processor_cores",
            "processor_count",
        ],
        &["platform"],
    ),
    c("dns", &[], &[]),
    c("fibre_channel_wwn", &[], &[]),
    c(
        "network",
        &[
            "all_ipv4_addresses",
            "all_ipv6_addresses",
            "default_ipv4",
            "default_ipv6",
            "interfaces",
        ],
        &["distribution", "platform"],
    ),
    c("iscsi", &[], &[]),
    c("nvme", &[], &[]),
    c("local", &[], &[]),
    c("facter", &["facter"], &[]),
    c("ohai", &[], &[]),
];

const fn c(
    name: &'static str,
    ids: &'static [&'static str],
    requires: &'static [&'static str],
) -> Collector {
    Collector {
        name,
        ids,
        requires,
    }
}

/// What the setup module always gathers, even under `!all`.
const MINIMAL: &[&str] = &[
    "apparmor",
    "caps",
    "cmdline",
    "date_time",
    "distribution",
    "dns",
    "env",
    "fips",
    "local",
    "lsb",
    "pkg_mgr",
    "platform",
    "python",
    "selinux",
    "service_mgr",
    "ssh_pub_keys",
    "user",
];

/// The collector names a `gather_subset` list selects, dependencies included.
pub(crate) fn resolve(gather_subset: &[String]) -> Result<BTreeSet<&'static str>, FactsError> {
    let valid: BTreeSet<&'static str> = COLLECTORS
        .iter()
        .flat_map(|c| std::iter::once(c.name).chain(c.ids.iter().copied()))
        .collect();
    let minimal: BTreeSet<&'static str> = MINIMAL.iter().copied().collect();
    let mut add: BTreeSet<&'static str> = BTreeSet::new();
    let mut exclude: BTreeSet<String> = BTreeSet::new();
    let mut explicit: BTreeSet<&'static str> = BTreeSet::new();
    let all_subsets: Vec<&str> = if gather_subset.is_empty() {
        vec!["all"]
    } else {
        gather_subset.iter().map(String::as_str).collect()
    };
    for subset in std::iter::once("min").chain(all_subsets) {
        match subset {
            "min" => add.extend(&minimal),
            "all" => add.extend(&valid),
            _ => {
                if let Some(name) = subset.strip_prefix('!') {
                    match name {
                        "min" => exclude.extend(minimal.iter().map(|s| s.to_string())),
                        "all" => exclude.extend(valid.difference(&minimal).map(|s| s.to_string())),
                        _ => {
                            if let Some(col) = COLLECTORS.iter().find(|c| c.name == name) {
                                exclude.extend(col.ids.iter().map(|s| s.to_string()));
                            }
                            exclude.insert(name.to_string());
                        }
                    }
                } else {
                    let Some(known) = valid.get(subset) else {
                        return Err(FactsError::BadSubset {
                            subset: subset.to_string(),
                            allowed: valid.iter().copied().collect::<Vec<_>>().join(", "),
                        });
                    };
                    explicit.insert(known);
                    add.insert(known);
                }
            }
        }
    }
    if add.is_empty() {
        add.extend(&valid);
    }
    add.retain(|s| explicit.contains(s) || !exclude.contains(*s));
    // Map names and fact ids to collectors, then add what they require until nothing is missing.
    let mut names: BTreeSet<&'static str> = COLLECTORS
        .iter()
        .filter(|c| add.contains(c.name) || c.ids.iter().any(|id| add.contains(id)))
        .map(|c| c.name)
        .collect();
    loop {
        let missing: Vec<&'static str> = COLLECTORS
            .iter()
            .filter(|c| names.contains(c.name))
            .flat_map(|c| c.requires.iter().copied())
            .filter(|r| !names.contains(r))
            .collect();
        if missing.is_empty() {
            break;
        }
        names.extend(missing);
    }
    Ok(names)
}

/// Whether a module-level fact name (`ansible_mounts`, `gather_subset`) passes the `filter`
/// patterns: fnmatch on the name, or on `ansible_` + the pattern for a bare pattern.
pub(crate) fn filter_allows(filter: &[String], name: &str) -> bool {
    if filter.is_empty() || filter.iter().any(|f| f == "*") {
        return true;
    }
    filter.iter().any(|f| {
        f.is_empty()
            || fnmatch(f, name)
            || (!(f.starts_with("ansible_") || f.starts_with("facter") || f.starts_with("ohai"))
                && fnmatch(&format!("ansible_{f}"), name))
    })
}

/// Python's `fnmatch.fnmatch` on POSIX (case-sensitive): `*`, `?`, `[seq]`, `[!seq]`.
pub(crate) fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn class(p: &[char], mut i: usize, ch: char) -> Option<(bool, usize)> {
        // `i` points just after `[`; returns (matched, index after `]`), None if unclosed.
        let negate = i < p.len() && p[i] == '!';
        if negate {
            i += 1;
        }
        let start = i;
        let mut matched = false;
        while i < p.len() {
            if p[i] == ']' && i > start {
                return Some((matched != negate, i + 1));
            }
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                if p[i] <= ch && ch <= p[i + 2] {
                    matched = true;
                }
                i += 3;
            } else {
                if p[i] == ch {
                    matched = true;
                }
                i += 1;
            }
        }
        None
    }
    fn go(p: &[char], pi: usize, n: &[char], ni: usize) -> bool {
        if pi == p.len() {
            return ni == n.len();
        }
        match p[pi] {
            '*' => (ni..=n.len()).any(|k| go(p, pi + 1, n, k)),
            '?' => ni < n.len() && go(p, pi + 1, n, ni + 1),
            '[' => match (ni < n.len()).then(|| class(p, pi + 1, n[ni])).flatten() {
                Some((true, next)) => go(p, next, n, ni + 1),
                Some((false, _)) => false,
                // An unclosed `[` is a literal character.
                None => ni < n.len() && n[ni] == '[' && go(p, pi + 1, n, ni + 1),
            },
            c => ni < n.len() && n[ni] == c && go(p, pi + 1, n, ni + 1),
        }
    }
    go(&p, 0, &n, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(spec: &[&str]) -> Vec<&'static str> {
        let spec: Vec<String> = spec.iter().map(|s| s.to_string()).collect();
        resolve(&spec).expect("valid subset").into_iter().collect()
    }

    #[test]
    fn network_only_pulls_in_its_dependencies() {
        assert_eq!(
            names(&["!all", "!min", "network"]),
            ["distribution", "network", "platform"]
        );
    }

    #[test]
    fn a_fact_id_selects_its_collector() {
        assert_eq!(names(&["!all", "!min", "mounts"]), ["hardware", "platform"]);
    }

    #[test]
    fn not_all_keeps_the_minimal_set() {
        let n = names(&["!all"]);
        assert!(n.contains(&"user") && n.contains(&"distribution"));
        assert!(!n.contains(&"hardware") && !n.contains(&"chroot"));
    }

    #[test]
    fn bad_subset_is_an_error() {
        assert!(resolve(&["hardwar".to_string()]).is_err());
    }

    #[test]
    fn fnmatch_like_python() {
        assert!(fnmatch("ansible_*_mb", "ansible_memtotal_mb"));
        assert!(fnmatch("ansible_eth[0-2]", "ansible_eth1"));
        assert!(!fnmatch("ansible_eth[!0-2]", "ansible_eth1"));
        assert!(fnmatch("a?c", "abc"));
        assert!(!fnmatch("a", "ab"));
        assert!(filter_allows(&["*_mb".into()], "ansible_memfree_mb"));
        assert!(!filter_allows(&["ansible_*_mb".into()], "gather_subset"));
    }
}
