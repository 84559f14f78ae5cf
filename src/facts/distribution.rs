//! `distribution*`, `os_family` and `lsb`.
//!
//! Ansible combines two sources: a guess from the `distro` library (os-release, `lsb_release`,
//! `/etc/*-release` first lines, Debian's `/etc/debian_version` for the "best" version) and a
//! walk over known release files, the first one that parses deciding the name. Both are
//! reproduced here from the files the probe dumps; `lsb_release -a` is emulated from
//! os-release or /etc/lsb-release (what the Debian shell script and Ubuntu's Python script
//! print) instead of being run, because it is slow where it is Python.

use super::probe::Probe;
use super::{put, s};
use crate::yaml::{Map, Value};
use indexmap::IndexMap;
use regex::Regex;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

type Props = IndexMap<String, String>;

/// What the probe's files say, in the shapes `distro` uses.
struct Sources {
    os_release: Props,
    lsb: Props,
    distro_release: Props,
    debian_version: String,
}

impl Sources {
    fn read(p: &Probe) -> Sources {
        let path = if p.is_file("/etc/os-release") || !p.is_file("/usr/lib/os-release") {
            "/etc/os-release"
        } else {
            "/usr/lib/os-release"
        };
        let os_release = p.file(path).map(parse_os_release).unwrap_or_default();
        let lsb = lsb_release_output(p, &os_release)
            .map(|out| {
                out.lines()
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.replace(' ', "_").to_lowercase(), v.trim().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let debian_version = p
            .file("/etc/debian_version")
            .and_then(|t| t.lines().next())
            .unwrap_or("")
            .trim_end()
            .to_string();
        Sources {
            os_release,
            lsb,
            distro_release: distro_release_info(p),
            debian_version,
        }
    }

    fn os(&self, k: &str) -> &str {
        self.os_release.get(k).map(String::as_str).unwrap_or("")
    }

    fn lsb(&self, k: &str) -> &str {
        self.lsb.get(k).map(String::as_str).unwrap_or("")
    }

    fn dr(&self, k: &str) -> &str {
        self.distro_release.get(k).map(String::as_str).unwrap_or("")
    }

    /// `distro.id()`.
    fn id(&self) -> String {
        let norm = |id: &str, table: &[(&str, &str)]| {
            let id = id.to_lowercase().replace(' ', "_");
            table
                .iter()
                .find(|(k, _)| *k == id)
                .map(|(_, v)| v.to_string())
                .unwrap_or(id)
        };
        if !self.os("id").is_empty() {
            return norm(
                self.os("id"),
                &[("ol", "oracle"), ("opensuse-leap", "opensuse")],
            );
        }
        if !self.lsb("distributor_id").is_empty() {
            return norm(
                self.lsb("distributor_id"),
                &[
                    ("enterpriseenterpriseas", "oracle"),
                    ("enterpriseenterpriseserver", "oracle"),
                    ("redhatenterpriseworkstation", "rhel"),
                    ("redhatenterpriseserver", "rhel"),
                    ("redhatenterprisecomputenode", "rhel"),
                ],
            );
        }
        if !self.dr("id").is_empty() {
            return norm(self.dr("id"), &[("redhat", "rhel")]);
        }
        String::new()
    }

    /// `distro.version(best=...)`.
    fn version(&self, best: bool) -> String {
        let mut versions = vec![
            self.os("version_id").to_string(),
            self.lsb("release").to_string(),
            self.dr("version_id").to_string(),
            parse_release_line(self.os("pretty_name"))
                .get("version_id")
                .cloned()
                .unwrap_or_default(),
            parse_release_line(self.lsb("description"))
                .get("version_id")
                .cloned()
                .unwrap_or_default(),
        ];
        if self.id() == "debian" || self.os("id_like").split_whitespace().any(|l| l == "debian") {
            versions.push(self.debian_version.clone());
        }
        let mut version = String::new();
        for v in versions {
            if best {
                if v.matches('.').count() > version.matches('.').count() || version.is_empty() {
                    version = v;
                }
            } else if !v.is_empty() {
                return v;
            }
        }
        version
    }

    /// `distro.codename()`.
    fn codename(&self) -> String {
        if let Some(c) = self.os_release.get("codename") {
            return c.clone();
        }
        [self.lsb("codename"), self.dr("codename")]
            .into_iter()
            .find(|c| !c.is_empty())
            .unwrap_or("")
            .to_string()
    }

    /// Ansible's `get_distribution()`: `distro.id()` capitalized, with a few renames.
    fn distribution(&self) -> String {
        match capitalize(&self.id()).as_str() {
            "Amzn" => "Amazon".into(),
            "Rhel" => "Redhat".into(),
            "" => "OtherLinux".into(),
            d => d.to_string(),
        }
    }

    /// Ansible's `get_distribution_version()`.
    fn distribution_version(&self) -> String {
        match self.id().as_str() {
            "centos" => self
                .version(true)
                .split('.')
                .take(2)
                .collect::<Vec<_>>()
                .join("."),
            "debian" => self.version(true),
            _ => self.version(false),
        }
    }

    /// Ansible's `get_distribution_codename()`; `None` when there is none.
    fn distribution_codename(&self) -> Option<String> {
        if let Some(c) = self
            .os_release
            .get("version_codename")
            .or_else(|| self.os_release.get("ubuntu_codename"))
        {
            return Some(c.clone());
        }
        if self.id() == "ubuntu" && self.lsb.contains_key("codename") {
            return Some(self.lsb("codename").to_string());
        }
        let c = self.codename();
        (!c.is_empty()).then_some(c)
    }
}

/// Python's `str.capitalize()`.
fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// The output `lsb_release -a` gives on the target: run by the probe when it is neither the
/// Debian shell script nor the Python one, emulated otherwise.
fn lsb_release_output(p: &Probe, os_release: &Props) -> Option<String> {
    p.bin("lsb_release")?;
    if let Some(out) = p.cmd("lsb_release") {
        return Some(out.to_string());
    }
    let head = p.var("lsb_release.head").unwrap_or("");
    if head.contains("python") {
        // Ubuntu's lsb_release reads /etc/lsb-release; elsewhere it agrees with os-release.
        if let Some(text) = p.file("/etc/lsb-release") {
            let props = parse_os_release(text);
            let mut out = String::new();
            for (label, key) in [
                ("Distributor ID", "DISTRIB_ID"),
                ("Description", "DISTRIB_DESCRIPTION"),
                ("Release", "DISTRIB_RELEASE"),
                ("Codename", "DISTRIB_CODENAME"),
            ] {
                if let Some(v) = props.get(&key.to_lowercase()) {
                    out.push_str(&format!("{label}:\t{v}\n"));
                }
            }
            if !out.is_empty() {
                return Some(out);
            }
        }
    }
    // Debian's lsb-release-minimal: sources os-release and prints four lines.
    let get = |k: &str| os_release.get(k).cloned();
    let mut id = get("id").unwrap_or_default();
    let mut chars = id.chars();
    if let Some(first) = chars.next() {
        id = first.to_uppercase().chain(chars).collect();
    }
    if let Some(name) = get("name")
        && id.to_lowercase() == name.to_lowercase()
    {
        id = name;
    }
    let or_na = |v: Option<String>| v.filter(|v| !v.is_empty()).unwrap_or_else(|| "n/a".into());
    Some(format!(
        "Distributor ID:\t{}\nDescription:\t{}\nRelease:\t{}\nCodename:\t{}\n",
        or_na(Some(id)),
        or_na(get("pretty_name")),
        or_na(get("version_id")),
        or_na(get("version_codename")),
    ))
}

/// os-release as `distro` reads it: POSIX shell words, `KEY=value` tokens, lowercased keys,
/// plus the `codename` derived from VERSION / VERSION_CODENAME / UBUNTU_CODENAME.
fn parse_os_release(text: &str) -> Props {
    static CODENAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\((\D+)\)|,\s*(\D+)").expect("codename regex"));
    let mut props = Props::new();
    for token in shell_words(text) {
        if let Some((k, v)) = token.split_once('=') {
            props.insert(k.to_lowercase(), v.to_string());
        }
    }
    if let Some(version) = props.get("version").cloned()
        && let Some(c) = CODENAME.captures(&version)
        && let Some(name) = c.get(1).or_else(|| c.get(2))
    {
        props.insert("codename".into(), name.as_str().to_string());
        props.insert("release_codename".into(), name.as_str().to_string());
    }
    if let Some(c) = props
        .get("version_codename")
        .or_else(|| props.get("ubuntu_codename"))
        .cloned()
    {
        props.insert("codename".into(), c);
    }
    props
}

/// Python's `shlex` in POSIX mode with `whitespace_split`: quotes, backslashes, `#` comments.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' => {
                // A comment runs to the end of the line and ends the current word.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some(&n @ ('"' | '\\')) => {
                                word.push(n);
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        _ => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    // An escaped newline is a line continuation.
                    if n != '\n' {
                        word.push(n);
                    }
                }
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// `distro`'s parse of one release-file line ("CentOS Linux release 7.9.2009 (Core)").
fn parse_release_line(line: &str) -> Props {
    static PAT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:[^)]*\)(.*)\()? *(?:STL )?([\d.+\-a-z]*\d) *(?:esaeler *)?(.+)")
            .expect("release regex")
    });
    let mut info = Props::new();
    let reversed: String = line.trim().chars().rev().collect();
    if let Some(c) = PAT.captures(&reversed) {
        let rev = |m: regex::Match<'_>| m.as_str().chars().rev().collect::<String>();
        if let Some(name) = c.get(3) {
            info.insert("name".into(), rev(name));
        }
        if let Some(v) = c.get(2).filter(|m| !m.as_str().is_empty()) {
            info.insert("version_id".into(), rev(v));
        }
        if let Some(code) = c.get(1).filter(|m| !m.as_str().is_empty()) {
            info.insert("codename".into(), rev(code));
        }
    } else if !line.is_empty() {
        info.insert("name".into(), line.trim().to_string());
    }
    info
}

/// `distro`'s distro release file: the first `/etc/NAME[-_](release|version)` (sorted, some
/// ignored) whose first line gives a name.
fn distro_release_info(p: &Probe) -> Props {
    static BASENAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(\w+)[-_](release|version)$").expect("basename regex"));
    const IGNORE: &[&str] = &[
        "debian_version",
        "lsb-release",
        "oem-release",
        "os-release",
        "system-release",
        "plesk-release",
        "iredmail-release",
        "board-release",
        "ec2_version",
    ];
    let mut candidates: Vec<(&str, &str)> = p
        .files_under("/etc/")
        .filter_map(|(path, text)| {
            let base = path.strip_prefix("/etc/")?;
            (!base.contains('/') && !IGNORE.contains(&base)).then_some((base, text))
        })
        .collect();
    candidates.sort();
    for (base, text) in candidates {
        let Some(c) = BASENAME.captures(base) else {
            continue;
        };
        let mut info = parse_release_line(text.lines().next().unwrap_or(""));
        if !info.contains_key("name") {
            continue;
        }
        if let Some(id) = c.get(1) {
            info.insert("id".into(), id.as_str().to_string());
        }
        if info
            .get("name")
            .is_some_and(|n| n.to_lowercase().contains("cloudlinux"))
        {
            info.insert("id".into(), "cloudlinux".into());
        }
        return info;
    }
    Props::new()
}

/// Ansible's OS_FAMILY_MAP.
fn os_family(distribution: &str) -> String {
    const FAMILIES: &[(&str, &[&str])] = &[
        (
            "RedHat",
            &[
                "RedHat",
                "RHEL",
                "Fedora",
                "CentOS",
                "Scientific",
                "SLC",
                "Ascendos",
                "CloudLinux",
                "PSBM",
                "OracleLinux",
                "OVS",
                "OEL",
                "Amazon",
                "Amzn",
                "Virtuozzo",
                "XenServer",
                "Alibaba",
                "EulerOS",
                "openEuler",
                "AlmaLinux",
                "Rocky",
                "TencentOS",
                "EuroLinux",
                "Kylin Linux Advanced Server",
                "MIRACLE",
            ],
        ),
        (
            "Debian",
            &[
                "Debian",
                "Ubuntu",
                "Raspbian",
                "Neon",
                "KDE neon",
                "Linux Mint",
                "SteamOS",
                "Devuan",
                "Kali",
                "Cumulus Linux",
                "Pop!_OS",
                "Parrot",
                "Pardus GNU/Linux",
                "Uos",
                "Deepin",
                "OSMC",
                "Linux Mint Debian Edition",
            ],
        ),
        (
            "Suse",
            &[
                "SuSE",
                "SLES",
                "SLED",
                "openSUSE",
                "openSUSE Tumbleweed",
                "SLES_SAP",
                "SUSE_LINUX",
                "openSUSE Leap",
                "ALP-Dolomite",
                "SL-Micro",
                "openSUSE MicroOS",
            ],
        ),
        ("Archlinux", &["Archlinux", "Antergos", "Manjaro"]),
        ("Mandrake", &["Mandrake", "Mandriva"]),
        (
            "Solaris",
            &["Solaris", "Nexenta", "OmniOS", "OpenIndiana", "SmartOS"],
        ),
        ("Slackware", &["Slackware"]),
        ("Altlinux", &["Altlinux"]),
        ("SMGL", &["SMGL"]),
        ("Gentoo", &["Gentoo", "Funtoo"]),
        ("Alpine", &["Alpine"]),
        ("AIX", &["AIX"]),
        ("HP-UX", &["HPUX"]),
        ("Darwin", &["MacOSX"]),
        ("FreeBSD", &["FreeBSD", "TrueOS"]),
        ("ClearLinux", &["Clear Linux OS", "Clear Linux Mix"]),
        (
            "DragonFly",
            &[
                "DragonflyBSD",
                "DragonFlyBSD",
                "Gentoo/DragonflyBSD",
                "Gentoo/DragonFlyBSD",
            ],
        ),
        ("NetBSD", &["NetBSD"]),
    ];
    FAMILIES
        .iter()
        .find(|(_, names)| names.contains(&distribution))
        .map(|(f, _)| f.to_string())
        .unwrap_or_else(|| distribution.to_string())
}

/// The release files Ansible tries, in order, with the name each would give.
const OSDIST_LIST: &[(&str, &str, bool)] = &[
    ("/etc/altlinux-release", "Altlinux", false),
    ("/etc/oracle-release", "OracleLinux", false),
    ("/etc/slackware-version", "Slackware", false),
    ("/etc/centos-release", "CentOS", false),
    ("/etc/redhat-release", "RedHat", false),
    ("/etc/vmware-release", "VMwareESX", true),
    ("/etc/openwrt_release", "OpenWrt", false),
    ("/etc/os-release", "Amazon", false),
    ("/etc/system-release", "Amazon", false),
    ("/etc/alpine-release", "Alpine", false),
    ("/etc/arch-release", "Archlinux", true),
    ("/etc/os-release", "Archlinux", false),
    ("/etc/os-release", "SUSE", false),
    ("/etc/SuSE-release", "SUSE", false),
    ("/etc/gentoo-release", "Gentoo", false),
    ("/etc/os-release", "Debian", false),
    ("/etc/lsb-release", "Debian", false),
    ("/etc/lsb-release", "Mandriva", false),
    ("/etc/sourcemage-release", "SMGL", false),
    ("/usr/lib/os-release", "ClearLinux", false),
    ("/etc/coreos/update.conf", "Coreos", false),
    ("/etc/os-release", "Flatcar", false),
    ("/etc/os-release", "NA", false),
];

/// A compiled regex for one of this file's literal patterns, compiled once per process.
fn re(pattern: &'static str) -> Regex {
    static CACHE: LazyLock<Mutex<HashMap<&'static str, Regex>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pattern)
        // The patterns are literals in this file; a bad one is a bug the unit tests catch.
        .or_insert_with(|| {
            Regex::new(pattern).unwrap_or_else(|e| panic!("bad regex {pattern}: {e}"))
        })
        .clone()
}

fn search<'a>(pattern: &'static str, text: &'a str) -> Option<&'a str> {
    re(pattern)
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// One release file's parse: `None` when it does not describe this system.
fn parse_dist_file(
    name: &str,
    data: &str,
    path: &str,
    guess: &Props,
    src: &Sources,
) -> Option<Props> {
    let mut f = Props::new();
    let mut set = |k: &str, v: &str| {
        f.insert(k.to_string(), v.to_string());
    };
    match name {
        "OracleLinux" | "RedHat" | "Altlinux" | "SMGL" => {
            let needle = match name {
                "OracleLinux" => "Oracle Linux",
                "RedHat" => "Red Hat",
                "Altlinux" => "ALT",
                _ => "Source Mage GNU/Linux",
            };
            if data.contains(needle) {
                set("distribution", name);
                set("distribution_file_search_string", needle);
            } else {
                set("distribution", data.split_whitespace().next().unwrap_or(""));
            }
        }
        "Archlinux" => {
            if !data.contains("Arch Linux") {
                return None;
            }
            set("distribution", name);
        }
        "Slackware" => {
            if !data.contains("Slackware") {
                return None;
            }
            set("distribution", name);
            if let Some(m) = re(r"\w+[.]\w+\+?").find(data) {
                set("distribution_version", m.as_str());
            }
        }
        "Amazon" => {
            if !data.contains("Amazon") {
                return None;
            }
            set("distribution", "Amazon");
            if path == "/etc/os-release" {
                if let Some(v) = search(r#"VERSION_ID="(.*)""#, data) {
                    set("distribution_version", v);
                    let parts: Vec<&str> = v.split('.').collect();
                    let (major, minor) = match parts.as_slice() {
                        [major] => (*major, "NA"),
                        [major, minor, ..] => (*major, *minor),
                        [] => (v, "NA"),
                    };
                    set("distribution_major_version", major);
                    set("distribution_minor_version", minor);
                }
            } else {
                let v = data
                    .split_whitespace()
                    .find(|w| w.chars().all(|c| c.is_ascii_digit()))
                    .unwrap_or("NA");
                set("distribution_version", v);
            }
        }
        "OpenWrt" => {
            if !data.contains("OpenWrt") {
                return None;
            }
            set("distribution", name);
            if let Some(v) = search(r#"DISTRIB_RELEASE="(.*)""#, data) {
                set("distribution_version", v);
            }
            if let Some(v) = search(r#"DISTRIB_CODENAME="(.*)""#, data) {
                set("distribution_release", v);
            }
        }
        "Alpine" => {
            set("distribution", "Alpine");
            set("distribution_version", data);
        }
        "SUSE" => {
            if !data.to_lowercase().contains("suse") {
                return None;
            }
            let lower = data.to_lowercase();
            if path == "/etc/os-release" {
                for line in data.lines() {
                    if let Some(d) = search(r"^NAME=(.*)", line) {
                        set("distribution", d.trim_matches('"'));
                    }
                    if let Some(v) = search(r#"^VERSION_ID="?([0-9]+\.?[0-9]*)"?"#, line) {
                        set("distribution_version", v);
                        set(
                            "distribution_major_version",
                            v.split('.').next().unwrap_or(v),
                        );
                    }
                    if lower.contains("open") {
                        if let Some(r) = search(r#"^VERSION_ID="?[0-9]+\.?([0-9]*)"?"#, line) {
                            set("distribution_release", r);
                        }
                    } else if lower.contains("enterprise") && line.contains("VERSION_ID") {
                        let r = search(r#"^VERSION_ID="?[0-9]+\.?([0-9]*)"?"#, line).unwrap_or("");
                        set("distribution_release", if r.is_empty() { "0" } else { r });
                    }
                }
            } else if lower.contains("open") {
                set("distribution", data.split_whitespace().next().unwrap_or(""));
                for line in data.lines() {
                    if let Some(r) = search(r"CODENAME *= *([^\n]+)", line) {
                        set("distribution_release", r.trim());
                    }
                }
            } else if lower.contains("enterprise") {
                if data.contains("Server") {
                    set("distribution", "SLES");
                } else if data.contains("Desktop") {
                    set("distribution", "SLED");
                }
                for line in data.lines() {
                    if let Some(r) = search(r"PATCHLEVEL = ([0-9]+)", line) {
                        set("distribution_release", r);
                        let base = guess
                            .get("distribution_version")
                            .cloned()
                            .unwrap_or_default();
                        set("distribution_version", &format!("{base}.{r}"));
                    }
                }
            }
            if let Some(v) = re(r#"(?m)^VARIANT_ID="?([^"\n]*)"?"#)
                .captures(data)
                .and_then(|c| c.get(1))
            {
                match v.as_str() {
                    "server-sap" | "sles-sap" => set("distribution", "SLES_SAP"),
                    "transactional" => set("distribution", "SL-Micro"),
                    _ => {}
                }
            }
        }
        "Debian" => {
            if data.contains("Debian") || data.contains("Raspbian") {
                set("distribution", "Debian");
                if let Some(r) = search(r"PRETTY_NAME=[^(]+ \(?([^)]+?)\)", data) {
                    set("distribution_release", r);
                }
                if let Some(minor) = re(r"(\d+)\.(\d+)")
                    .captures(src.debian_version.trim())
                    .and_then(|c| c.get(2))
                {
                    set("distribution_minor_version", minor.as_str());
                }
            } else if data.contains("Ubuntu") {
                set("distribution", "Ubuntu");
            } else if data.contains("SteamOS") {
                set("distribution", "SteamOS");
            } else if (path == "/etc/lsb-release" || path == "/etc/os-release")
                && (data.contains("Kali") || data.contains("Parrot"))
            {
                set(
                    "distribution",
                    if data.contains("Kali") {
                        "Kali"
                    } else {
                        "Parrot"
                    },
                );
                if let Some(r) = search(r"DISTRIB_RELEASE=(.*)", data) {
                    set("distribution_release", r);
                }
            } else if data.contains("Devuan") {
                set("distribution", "Devuan");
                if let Some(r) = search(r#"PRETTY_NAME="?[^("]+ \(?([^) "]+)\)?"#, data) {
                    set("distribution_release", r);
                }
                if let Some(v) = search(r#"VERSION_ID="(.*)""#, data) {
                    set("distribution_version", v);
                    set("distribution_major_version", v);
                }
            } else if data.contains("Cumulus") {
                set("distribution", "Cumulus Linux");
                if let Some(v) = search(r"VERSION_ID=(.*)", data) {
                    set("distribution_version", v);
                    set(
                        "distribution_major_version",
                        v.split('.').next().unwrap_or(v),
                    );
                }
                if let Some(r) = search(r#"VERSION="(.*)""#, data) {
                    set("distribution_release", r);
                }
            } else if data.contains("Mint") {
                set("distribution", "Linux Mint");
                if let Some(v) = search(r#"VERSION_ID="(.*)""#, data) {
                    set("distribution_version", v);
                    set(
                        "distribution_major_version",
                        v.split('.').next().unwrap_or(v),
                    );
                }
            } else if data.contains("UOS") || data.contains("Uos") || data.contains("uos") {
                set("distribution", "Uos");
                if let Some(r) = search(r#"VERSION_CODENAME="?([^"]+)"?"#, data) {
                    set("distribution_release", r);
                }
                if let Some(v) = search(r#"VERSION_ID="(.*)""#, data) {
                    set("distribution_version", v);
                    set(
                        "distribution_major_version",
                        v.split('.').next().unwrap_or(v),
                    );
                }
            } else if data.contains("Deepin") || data.contains("deepin") {
                set("distribution", "Deepin");
                if let Some(r) = search(r#"VERSION_CODENAME="?([^"]+)"?"#, data) {
                    set("distribution_release", r);
                }
                if let Some(v) = search(r#"VERSION_ID="(.*)""#, data) {
                    set("distribution_version", v);
                    set(
                        "distribution_major_version",
                        v.split('.').next().unwrap_or(v),
                    );
                }
            } else if data.contains("LMDE") {
                set("distribution", "Linux Mint Debian Edition");
            } else {
                return None;
            }
        }
        "Mandriva" => {
            if !data.contains("Mandriva") {
                return None;
            }
            if let Some(v) = search(r#"DISTRIB_RELEASE="(.*)""#, data) {
                set("distribution_version", v);
            }
            if let Some(r) = search(r#"DISTRIB_CODENAME="(.*)""#, data) {
                set("distribution_release", r);
            }
            set("distribution", name);
        }
        "NA" => {
            for line in data.lines() {
                if let Some(d) = search(r"^NAME=(.*)", line) {
                    set("distribution", d.trim_matches('"'));
                }
                if let Some(v) = search(r"^VERSION=(.*)", line)
                    && guess.get("distribution_version").map(String::as_str) == Some("NA")
                {
                    set("distribution_version", v.trim_matches('"'));
                }
            }
        }
        "Coreos" => {
            if src.distribution().to_lowercase() != "coreos" || data.is_empty() {
                return None;
            }
            if let Some(r) = search(r"^GROUP=(.*)", data) {
                set("distribution_release", r.trim_matches('"'));
            }
        }
        "Flatcar" => {
            if src.distribution().to_lowercase() != "flatcar" || data.is_empty() {
                return None;
            }
            if let Some(v) = search(r"VERSION=(.*)", data) {
                let v = v.trim_matches('"');
                set(
                    "distribution_major_version",
                    v.split('.').next().unwrap_or(v),
                );
                set("distribution_version", v);
            }
        }
        "ClearLinux" => {
            if let Some(n) = search(r#"NAME="(.*)""#, data) {
                if !n.contains("Clear Linux") {
                    return None;
                }
                set("distribution", n);
            }
            if let Some(v) = search(r"VERSION_ID=(.*)", data) {
                set("distribution_major_version", v);
                set("distribution_version", v);
            }
            if let Some(r) = search(r"ID=(.*)", data) {
                set("distribution_release", r);
            }
        }
        "CentOS" => {
            if data.contains("CentOS Stream") {
                set("distribution_release", "Stream");
            } else if data.contains("TencentOS Server") {
                set("distribution", "TencentOS");
            } else {
                return None;
            }
        }
        // Names Ansible has no parser for (Gentoo): the file does not count.
        _ => return None,
    }
    Some(f)
}

pub(crate) fn distribution(p: &Probe) -> Map {
    let src = Sources::read(p);
    let mut facts = Props::new();
    // The `platform` baseline, overwritten below on Linux.
    facts.insert(
        "distribution".into(),
        p.var("system").unwrap_or("Linux").to_string(),
    );
    facts.insert(
        "distribution_release".into(),
        p.var("kernel").unwrap_or("").to_string(),
    );
    facts.insert(
        "distribution_version".into(),
        p.var("kernel_version").unwrap_or("").to_string(),
    );

    let version = src.distribution_version();
    let version = if version.is_empty() {
        "NA".to_string()
    } else {
        version
    };
    let major = version
        .split('.')
        .next()
        .filter(|m| !m.is_empty())
        .unwrap_or("NA")
        .to_string();
    let mut guess = Props::new();
    guess.insert("distribution".into(), {
        let d = src.distribution();
        if d.is_empty() { "NA".into() } else { d }
    });
    guess.insert("distribution_version".into(), version);
    guess.insert(
        "distribution_release".into(),
        src.distribution_codename().unwrap_or_else(|| "NA".into()),
    );
    guess.insert("distribution_major_version".into(), major);
    let mut dist = guess.clone();

    for (path, name, allow_empty) in OSDIST_LIST {
        let data = p
            .content(path)
            .map(|d| d.trim_matches(['\'', '"', '\\']).to_string());
        if *allow_empty && p.is_file(path) {
            dist.insert("distribution".into(), name.to_string());
            dist.insert("distribution_file_path".into(), path.to_string());
            dist.insert("distribution_file_variety".into(), name.to_string());
            break;
        }
        let Some(data) = data else { continue };
        if let Some(parsed) = parse_dist_file(name, &data, path, &dist, &src) {
            dist.insert("distribution".into(), name.to_string());
            dist.insert("distribution_file_path".into(), path.to_string());
            dist.insert("distribution_file_variety".into(), name.to_string());
            dist.insert("distribution_file_parsed".into(), "true".into());
            dist.extend(parsed);
            break;
        }
    }
    facts.extend(dist);
    let family = os_family(facts.get("distribution").map(String::as_str).unwrap_or(""));
    facts.insert("os_family".into(), family);

    let mut m = Map::new();
    for (k, v) in facts {
        let value = if k == "distribution_file_parsed" {
            Value::Bool(true)
        } else {
            s(v)
        };
        put(&mut m, &k, value);
    }
    m
}

pub(crate) fn lsb(p: &Probe) -> Map {
    let os_release = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find(|path| p.is_file(path))
        .and_then(|path| p.file(path))
        .map(parse_os_release)
        .unwrap_or_default();
    let mut lsb: IndexMap<&str, String> = IndexMap::new();
    if let Some(out) = lsb_release_output(p, &os_release) {
        for line in out.lines() {
            let Some((_, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim().to_string();
            let key = if line.contains("LSB Version:") || line.contains("Release:") {
                "release"
            } else if line.contains("Distributor ID:") {
                "id"
            } else if line.contains("Description:") {
                "description"
            } else if line.contains("Codename:") {
                "codename"
            } else {
                continue;
            };
            lsb.insert(key, value);
        }
    }
    if lsb.is_empty()
        && let Some(text) = p.content("/etc/lsb-release")
    {
        for line in text.lines() {
            let Some((_, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim().to_string();
            let key = if line.contains("DISTRIB_ID") {
                "id"
            } else if line.contains("DISTRIB_RELEASE") {
                "release"
            } else if line.contains("DISTRIB_DESCRIPTION") {
                "description"
            } else if line.contains("DISTRIB_CODENAME") {
                "codename"
            } else {
                continue;
            };
            lsb.insert(key, value);
        }
    }
    if let Some(release) = lsb.get("release").cloned() {
        lsb.insert(
            "major_release",
            release.split('.').next().unwrap_or("").to_string(),
        );
    }
    let mut dict = Map::new();
    for (k, v) in lsb {
        let v = if v.is_empty() {
            v
        } else {
            v.trim_matches(['\'', '"', '\\']).to_string()
        };
        put(&mut dict, k, s(v));
    }
    let mut m = Map::new();
    put(&mut m, "lsb", Value::Map(dict));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_line_parse_like_distro() {
        let i = parse_release_line("CentOS Linux release 7.9.2009 (Core)");
        assert_eq!(i.get("name").map(String::as_str), Some("CentOS Linux"));
        assert_eq!(i.get("version_id").map(String::as_str), Some("7.9.2009"));
        assert_eq!(i.get("codename").map(String::as_str), Some("Core"));
        let i = parse_release_line("Debian GNU/Linux 12 (bookworm)");
        assert_eq!(i.get("version_id").map(String::as_str), Some("12"));
    }

    #[test]
    fn os_release_words() {
        let p = parse_os_release(
            "NAME=\"Debian GNU/Linux\"\nVERSION=\"12 (bookworm)\"\n# c\nID=debian # x\nX='a b'\n",
        );
        assert_eq!(p.get("name").map(String::as_str), Some("Debian GNU/Linux"));
        assert_eq!(p.get("codename").map(String::as_str), Some("bookworm"));
        assert_eq!(p.get("id").map(String::as_str), Some("debian"));
        assert_eq!(p.get("x").map(String::as_str), Some("a b"));
    }

    #[test]
    fn families() {
        assert_eq!(os_family("Rocky"), "RedHat");
        assert_eq!(os_family("Alpine"), "Alpine");
        assert_eq!(os_family("Whatever"), "Whatever");
    }

    #[test]
    fn capitalize_like_python() {
        assert_eq!(capitalize("amzn"), "Amzn");
        assert_eq!(capitalize("openSUSE"), "Opensuse");
    }
}
