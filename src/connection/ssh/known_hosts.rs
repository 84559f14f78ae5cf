//! known_hosts files, as OpenSSH reads and writes them.
//!
//! A line is `[@marker] hosts keytype base64key [comment]`. `hosts` is either a comma-separated
//! list of patterns (`name`, `[name]:port`, `*`/`?` wildcards, `!negated`) or one hashed name
//! `|1|salt|hmac` (HMAC-SHA1 keyed by the salt over the name as it would appear in plain form).
//! The name looked up is `host` for port 22 and `[host]:port` otherwise, lowercased, as
//! OpenSSH does.
//!
//! Lines marked `@cert-authority` describe CAs that sign host certificates. kiln does not
//! verify host certificates, so those lines never make a plain host key known; they are
//! parsed (so they are not reported as bad) and otherwise ignored.
//!
//! A line's key is decoded only when its host patterns match the host being checked: a
//! known_hosts file can hold thousands of lines, and OpenSSH likewise only complains about keys
//! it actually looks at.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{HashAlg, PublicKey};
use sha1::Sha1;

/// Length of the salt and of the digest in a hashed (`|1|`) entry: both are SHA-1 sized.
const HASH_LEN: usize = 20;
const HASH_MAGIC: &str = "|1|";

#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    #[error(
        "unknown host key checking setting `{0}`; expected `yes`, `no` or `accept-new` \
         (or an Ansible boolean)"
    )]
    Policy(String),
}

/// What to do with a host key that is not known (or has changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Only keys already in a known_hosts file are accepted.
    Strict,
    /// Unknown hosts are accepted and recorded; a changed key is still refused.
    AcceptNew,
    /// Every key is accepted and nothing is recorded.
    Off,
}

impl Policy {
    /// Reads `StrictHostKeyChecking` (OpenSSH) or `host_key_checking` (Ansible) spellings,
    /// case-insensitively.
    ///
    /// `ask` (OpenSSH's default) means strict here: kiln never prompts, and OpenSSH itself
    /// refuses an unknown key when it cannot ask.
    pub fn parse(value: &str) -> Result<Policy, KnownHostsError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "strict" | "ask" | "on" | "y" | "t" | "1" => Ok(Policy::Strict),
            "accept-new" => Ok(Policy::AcceptNew),
            "no" | "false" | "off" | "n" | "f" | "0" => Ok(Policy::Off),
            _ => Err(KnownHostsError::Policy(value.to_owned())),
        }
    }
}

/// The outcome of looking a host's key up in known_hosts files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line for this host holds this key.
    Known,
    /// No line for this host holds a key of this algorithm.
    Unknown,
    /// A line for this host holds a different key of the same algorithm: possibly an attack.
    Changed {
        file: PathBuf,
        line: usize,
        old_fingerprint: String,
        new_fingerprint: String,
    },
    /// An `@revoked` line for this host holds this key.
    Revoked { file: PathBuf, line: usize },
}

/// Something in a known_hosts file that was skipped; worth a warning, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    BadLine {
        file: PathBuf,
        line: usize,
        reason: &'static str,
    },
    Unreadable {
        file: PathBuf,
        error: String,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::BadLine { file, line, reason } => {
                write!(f, "{}:{line}: {reason}; line ignored", file.display())
            }
            Warning::Unreadable { file, error } => {
                write!(f, "cannot read `{}`: {error}", file.display())
            }
        }
    }
}

/// A verdict together with what was skipped on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    pub warnings: Vec<Warning>,
}

/// The name a host is stored under: `host` on port 22, `[host]:port` otherwise, lowercased.
pub fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// Looks `key` up for `host:port` in `files`, in order. Missing files count as empty.
pub fn check(files: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> Verdict {
    check_report(files, host, port, key).verdict
}

/// [`check`], also returning the bad lines and unreadable files met, for warnings.
pub fn check_report(files: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> Report {
    let name = lookup_name(host, port);
    let mut warnings = Vec::new();
    let mut revoked = None;
    let mut known = false;
    let mut changed = None;
    for file in files {
        let text = match fs::read(file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                warnings.push(Warning::Unreadable {
                    file: file.clone(),
                    error: e.to_string(),
                });
                continue;
            }
        };
        let scan = scan(&text, &name, key);
        warnings.extend(scan.bad.iter().map(|&(line, reason)| Warning::BadLine {
            file: file.clone(),
            line,
            reason,
        }));
        if revoked.is_none() {
            revoked = scan.revoked.map(|line| (file.clone(), line));
        }
        known |= scan.known.is_some();
        if changed.is_none() {
            changed = scan
                .changed
                .map(|(line, old_fingerprint)| (file.clone(), line, old_fingerprint));
        }
    }
    // A revocation wins over everything: the key must not be trusted even if another line
    // lists it as good.
    let verdict = if let Some((file, line)) = revoked {
        Verdict::Revoked { file, line }
    } else if known {
        Verdict::Known
    } else if let Some((file, line, old_fingerprint)) = changed {
        Verdict::Changed {
            file,
            line,
            old_fingerprint,
            new_fingerprint: fingerprint(key),
        }
    } else {
        Verdict::Unknown
    };
    Report { verdict, warnings }
}

/// Appends `key` for `host:port` to `file` unless that file already knows it (or revokes it);
/// returns whether a line was written.
///
/// The file (and its directory, mode 0700) is created if missing. The check and the append
/// happen under an exclusive lock on the file, so concurrent first connections to one host,
/// from threads or from separate kiln processes, write its line once.
pub fn record(file: &Path, host: &str, port: u16, key: &PublicKey, hash: bool) -> io::Result<bool> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut handle = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(file)?;
    // Released when `handle` is dropped, after the write.
    handle.lock()?;
    // Opened in append mode, the read position still starts at 0.
    let mut existing = Vec::new();
    handle.read_to_end(&mut existing)?;
    let scan = scan(
        &String::from_utf8_lossy(&existing),
        &lookup_name(host, port),
        key,
    );
    if scan.known.is_some() || scan.revoked.is_some() {
        return Ok(false);
    }
    let mut text = String::new();
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        text.push('\n');
    }
    text.push_str(&format_entry(host, port, key, hash)?);
    text.push('\n');
    handle.write_all(text.as_bytes())?;
    Ok(true)
}

/// One known_hosts line (without newline) for `key` at `host:port`, hashed or plain.
pub fn format_entry(host: &str, port: u16, key: &PublicKey, hash: bool) -> io::Result<String> {
    let openssh = key.to_openssh().map_err(io::Error::other)?;
    // `to_openssh` appends the key's comment; a known_hosts line wants type and key only.
    let mut fields = openssh.split_whitespace();
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        return Err(io::Error::other("public key has no OpenSSH encoding"));
    };
    let name = lookup_name(host, port);
    let hosts = if hash {
        let salt = random_salt()?;
        let digest = hash_name(&salt, &name).ok_or_else(|| io::Error::other("bad salt"))?;
        format!(
            "{HASH_MAGIC}{}|{}",
            BASE64.encode(salt),
            BASE64.encode(digest)
        )
    } else {
        name
    };
    Ok(format!("{hosts} {kind} {blob}"))
}

/// `SHA256:...`, as OpenSSH prints fingerprints.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

fn random_salt() -> io::Result<[u8; HASH_LEN]> {
    let mut salt = [0u8; HASH_LEN];
    fs::File::open("/dev/urandom")?.read_exact(&mut salt)?;
    Ok(salt)
}

fn hash_name(salt: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut mac = Hmac::<Sha1>::new_from_slice(salt).ok()?;
    mac.update(name.as_bytes());
    Some(mac.finalize().into_bytes().to_vec())
}

/// What one file says about one host and key. Lines are 1-based.
#[derive(Debug, Default)]
struct Scan {
    revoked: Option<usize>,
    known: Option<usize>,
    /// First line holding a different key of the same algorithm, with that key's fingerprint.
    changed: Option<(usize, String)>,
    bad: Vec<(usize, &'static str)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Plain,
    Revoked,
    CertAuthority,
}

#[derive(Debug, PartialEq, Eq)]
enum Hosts<'a> {
    Patterns(&'a str),
    Hashed { salt: Vec<u8>, digest: Vec<u8> },
}

impl Hosts<'_> {
    fn matches(&self, name: &str) -> bool {
        match self {
            Hosts::Patterns(list) => match_pattern_list(name, list, true) == ListMatch::Matched,
            Hosts::Hashed { salt, digest } => {
                let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(digest).is_ok()
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Entry<'a> {
    marker: Marker,
    hosts: Hosts<'a>,
    key_type: &'a str,
    key_blob: &'a str,
}

impl Entry<'_> {
    fn key(&self) -> Option<PublicKey> {
        PublicKey::from_openssh(&format!("{} {}", self.key_type, self.key_blob)).ok()
    }
}

fn scan(text: &str, name: &str, key: &PublicKey) -> Scan {
    let mut scan = Scan::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let entry = match parse_line(raw) {
            Ok(Some(entry)) => entry,
            Ok(None) => continue,
            Err(reason) => {
                scan.bad.push((line, reason));
                continue;
            }
        };
        if entry.marker == Marker::CertAuthority || !entry.hosts.matches(name) {
            continue;
        }
        let Some(theirs) = entry.key() else {
            scan.bad.push((line, "cannot decode the key"));
            continue;
        };
        let same_key = theirs.key_data() == key.key_data();
        match entry.marker {
            Marker::Revoked if same_key => {
                scan.revoked.get_or_insert(line);
            }
            // Revoking one key says nothing about others.
            Marker::Revoked => {}
            _ if same_key => {
                scan.known.get_or_insert(line);
            }
            // A key of another algorithm says nothing about this one: the host may simply
            // offer several, and OpenSSH treats this key as unknown rather than changed.
            _ if theirs.algorithm() == key.algorithm() => {
                scan.changed
                    .get_or_insert_with(|| (line, fingerprint(&theirs)));
            }
            _ => {}
        }
    }
    scan
}

/// Splits one line into its fields; `Ok(None)` for blank lines and comments.
fn parse_line(raw: &str) -> Result<Option<Entry<'_>>, &'static str> {
    let line = raw.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next().ok_or("empty line")?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        m if m.starts_with('@') => return Err("unknown marker"),
        _ => Marker::Plain,
    };
    if marker != Marker::Plain {
        first = fields.next().ok_or("missing host patterns")?;
    }
    let hosts = if first.starts_with('|') {
        parse_hashed(first).ok_or("malformed hashed host name")?
    } else {
        Hosts::Patterns(first)
    };
    let key_type = fields.next().ok_or("missing key type")?;
    let key_blob = fields.next().ok_or("missing key")?;
    Ok(Some(Entry {
        marker,
        hosts,
        key_type,
        key_blob,
    }))
}

fn parse_hashed(field: &str) -> Option<Hosts<'_>> {
    let rest = field.strip_prefix(HASH_MAGIC)?;
    let (salt, digest) = rest.split_once('|')?;
    let salt = BASE64.decode(salt).ok()?;
    let digest = BASE64.decode(digest).ok()?;
    (salt.len() == HASH_LEN && digest.len() == HASH_LEN).then_some(Hosts::Hashed { salt, digest })
}

/// How a name fares against a comma-separated pattern list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListMatch {
    /// A positive pattern matched and no negated one did.
    Matched,
    /// A negated pattern matched: the list explicitly excludes the name.
    Negated,
    NoMatch,
}

/// OpenSSH's pattern lists: `a,b*,!c?`. A negated match anywhere wins over positive ones.
/// Host names compare with `ignore_case` (OpenSSH lowercases both sides); user names do not.
pub(crate) fn match_pattern_list(name: &str, list: &str, ignore_case: bool) -> ListMatch {
    let lowered;
    let name = if ignore_case {
        lowered = name.to_lowercase();
        lowered.as_str()
    } else {
        name
    };
    let mut matched = false;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        let hit = if ignore_case {
            wildcard_match(name, &pattern.to_lowercase())
        } else {
            wildcard_match(name, pattern)
        };
        if hit {
            if negated {
                return ListMatch::Negated;
            }
            matched = true;
        }
    }
    if matched {
        ListMatch::Matched
    } else {
        ListMatch::NoMatch
    }
}

/// Shell-style `*` (any run, possibly empty) and `?` (one character) over the whole name.
pub(crate) fn wildcard_match(name: &str, pattern: &str) -> bool {
    let text: Vec<char> = name.chars().collect();
    let pat: Vec<char> = pattern.chars().collect();
    let (mut t, mut p) = (0, 0);
    // Where the last `*` was, and how much text it has swallowed so far: on a mismatch, let it
    // swallow one more character and retry. Linear backtracking suffices for `*`/`?` patterns.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // Generated once with `ssh-keygen -t ed25519 -C ''` / `-t ecdsa -b 256`.
    const ED_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMReKhy/hDUuiddogWjt1O/j35hbljgIIiANK7b2c9nc";
    const ED_A_FP: &str = "SHA256:CTt/68ZgXogIJsrq5AZfCsm0pUSr4it64h7zZQ+9OAE";
    const ED_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAc36UdKheBA95f4k8qK2CIwWddOukyfPUmJaDUlIlm6";
    const ED_B_FP: &str = "SHA256:ONdaRtBRdpsMlIkbaCuxsZ0qFi+r3fWNdrQC0db3iiw";
    const EC: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBB6+I7kE6diUJnZmkAnuB3dPRY+FjjLjhAS9kyH0tUkpThLSEJUbfPgduBuzuF+1fsaR9zhYxnZolehwenoa1Bg=";

    // `ssh-keygen -H` output for `web1.example.com ED_A` and `[db.example.com]:2222 ED_A`.
    const HASHED_BY_SSH_KEYGEN: &str = "\
|1|IBGn4zfHapMdj48tMKjRiIsfAr4=|JSAyoErjqFnfs3PcQrv4/ZDw2is= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMReKhy/hDUuiddogWjt1O/j35hbljgIIiANK7b2c9nc 
|1|/n2XPAa5zYkW9zDKiAnDkOJhnKs=|60LUXkyMlDHtHsgIsmCSI9KTSoY= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMReKhy/hDUuiddogWjt1O/j35hbljgIIiANK7b2c9nc 
";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).expect("test key parses")
    }

    /// A directory removed when dropped; unique per test and process.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("kiln-known-hosts-{}-{tag}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }

        fn file(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, text).expect("write fixture");
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn check_text(text: &str, host: &str, port: u16, k: &str) -> Verdict {
        let dir = TempDir::new("check");
        let file = dir.file("known_hosts", text);
        check(&[file], host, port, &key(k))
    }

    #[test]
    fn policy_spellings() {
        for s in ["yes", "TRUE", "strict", "Ask", "on", "1"] {
            assert_eq!(Policy::parse(s).unwrap(), Policy::Strict, "{s}");
        }
        for s in ["accept-new", "Accept-New"] {
            assert_eq!(Policy::parse(s).unwrap(), Policy::AcceptNew, "{s}");
        }
        for s in ["no", "False", "OFF", "0"] {
            assert_eq!(Policy::parse(s).unwrap(), Policy::Off, "{s}");
        }
        for s in ["", "maybe", "accept_new", "accept"] {
            let err = Policy::parse(s).unwrap_err();
            assert!(err.to_string().contains(&format!("`{s}`")), "{err}");
        }
    }

    #[test]
    fn lookup_names() {
        assert_eq!(lookup_name("Web1.Example.COM", 22), "web1.example.com");
        assert_eq!(lookup_name("db", 2222), "[db]:2222");
        assert_eq!(lookup_name("::1", 22), "::1");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("web1.example.com", "*.example.com"));
        assert!(wildcard_match("web1.example.com", "web?.example.com"));
        assert!(wildcard_match("web1.example.com", "*"));
        assert!(wildcard_match("", "*"));
        assert!(wildcard_match("abcabc", "*abc"));
        assert!(wildcard_match("a.b.c", "a*b*c"));
        assert!(!wildcard_match("web10.example.com", "web?.example.com"));
        assert!(!wildcard_match("example.com", "*.example.com"));
        assert!(!wildcard_match("web1", "web1x"));
        assert!(!wildcard_match("", "?"));
        assert!(wildcard_match("[db]:2222", "[db]:2222"));
        assert!(wildcard_match("[db.lan]:2222", "[*.lan]:*"));
    }

    #[test]
    fn pattern_lists() {
        assert_eq!(
            match_pattern_list("a.lan", "x,*.lan", true),
            ListMatch::Matched
        );
        assert_eq!(
            match_pattern_list("a.lan", "*.lan,!a.lan", true),
            ListMatch::Negated
        );
        assert_eq!(
            match_pattern_list("a.lan", "!a.lan,*.lan", true),
            ListMatch::Negated
        );
        assert_eq!(
            match_pattern_list("b.lan", "!a.lan", true),
            ListMatch::NoMatch
        );
        assert_eq!(
            match_pattern_list("a.lan", "A.LAN", true),
            ListMatch::Matched
        );
        assert_eq!(
            match_pattern_list("a.lan", "A.LAN", false),
            ListMatch::NoMatch
        );
        assert_eq!(
            match_pattern_list("A.lan", "a.LAN", true),
            ListMatch::Matched
        );
    }

    #[test]
    fn plain_names_and_lists() {
        let text = format!("# comment\n\nweb1,web2.example.com {ED_A}\n");
        assert_eq!(check_text(&text, "web1", 22, ED_A), Verdict::Known);
        assert_eq!(
            check_text(&text, "WEB2.example.com", 22, ED_A),
            Verdict::Known
        );
        assert_eq!(check_text(&text, "web3", 22, ED_A), Verdict::Unknown);
        // A plain name is the port-22 entry only.
        assert_eq!(check_text(&text, "web1", 2222, ED_A), Verdict::Unknown);
    }

    #[test]
    fn bracketed_ports() {
        let text = format!("[db.example.com]:2222 {ED_A}\n[*.lan]:* {ED_B}\n");
        assert_eq!(
            check_text(&text, "db.example.com", 2222, ED_A),
            Verdict::Known
        );
        assert_eq!(
            check_text(&text, "db.example.com", 22, ED_A),
            Verdict::Unknown
        );
        assert_eq!(
            check_text(&text, "db.example.com", 2200, ED_A),
            Verdict::Unknown
        );
        assert_eq!(check_text(&text, "x.lan", 2200, ED_B), Verdict::Known);
        // `[...]:22` is never looked up: port 22 uses the bare name.
        let text22 = format!("[db]:22 {ED_A}\n");
        assert_eq!(check_text(&text22, "db", 22, ED_A), Verdict::Unknown);
    }

    #[test]
    fn wildcard_and_negation() {
        let text = format!("*.example.com,!bad.example.com {ED_A}\n");
        assert_eq!(
            check_text(&text, "web.example.com", 22, ED_A),
            Verdict::Known
        );
        assert_eq!(
            check_text(&text, "bad.example.com", 22, ED_A),
            Verdict::Unknown
        );
        assert_eq!(check_text(&text, "example.com", 22, ED_A), Verdict::Unknown);
        // A list with only negated patterns matches nothing.
        let only_neg = format!("!bad {ED_A}\n");
        assert_eq!(check_text(&only_neg, "good", 22, ED_A), Verdict::Unknown);
        let q = format!("web? {ED_A}\n");
        assert_eq!(check_text(&q, "web7", 22, ED_A), Verdict::Known);
        assert_eq!(check_text(&q, "web77", 22, ED_A), Verdict::Unknown);
    }

    #[test]
    fn changed_key_names_first_line_of_same_algorithm() {
        let dir = TempDir::new("changed");
        let first = dir.file("first", &format!("other {ED_A}\n"));
        let second = dir.file(
            "second",
            &format!("# header\nweb {EC}\nweb {ED_A}\n*.x,web {ED_A}\n"),
        );
        let verdict = check(&[first, second.clone()], "web", 22, &key(ED_B));
        assert_eq!(
            verdict,
            Verdict::Changed {
                file: second,
                line: 3,
                old_fingerprint: ED_A_FP.to_owned(),
                new_fingerprint: ED_B_FP.to_owned(),
            }
        );
    }

    #[test]
    fn known_anywhere_beats_changed() {
        let dir = TempDir::new("known-beats");
        let a = dir.file("a", &format!("web {ED_A}\n"));
        let b = dir.file("b", &format!("web {ED_B}\n"));
        assert_eq!(check(&[a, b], "web", 22, &key(ED_B)), Verdict::Known);
    }

    #[test]
    fn other_algorithm_only_is_unknown() {
        let text = format!("web {EC}\n");
        assert_eq!(check_text(&text, "web", 22, ED_A), Verdict::Unknown);
    }

    #[test]
    fn revoked_wins() {
        let dir = TempDir::new("revoked");
        let good = dir.file("good", &format!("web {ED_A}\n"));
        let revoking = dir.file("revoking", &format!("\n@revoked * {ED_A}\n"));
        assert_eq!(
            check(&[good.clone(), revoking.clone()], "web", 22, &key(ED_A)),
            Verdict::Revoked {
                file: revoking.clone(),
                line: 2,
            }
        );
        // Revoking another key does not affect this one.
        assert_eq!(
            check(std::slice::from_ref(&revoking), "web", 22, &key(ED_B)),
            Verdict::Unknown
        );
        // A revoked line never makes its key the reference for a changed-key verdict.
        assert!(matches!(
            check(&[revoking, good.clone()], "web", 22, &key(ED_B)),
            Verdict::Changed { file, line: 1, .. } if file == good
        ));
    }

    #[test]
    fn cert_authority_lines_are_ignored() {
        let text = format!("@cert-authority *.example.com {ED_A}\n");
        assert_eq!(
            check_text(&text, "w.example.com", 22, ED_A),
            Verdict::Unknown
        );
        assert_eq!(
            check_text(&text, "w.example.com", 22, ED_B),
            Verdict::Unknown
        );
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let dir = TempDir::new("bad");
        let file = dir.file(
            "kh",
            &format!(
                "web\n@bogus web {ED_A}\n|1|notbase64|x {ED_A}\n|2|a|b {ED_A}\n\
                 web ssh-ed25519 AAAAnotakey\nweb ssh-ed25519\n@revoked\n\
                 web {ED_A} trailing comment\n"
            ),
        );
        let report = check_report(std::slice::from_ref(&file), "web", 22, &key(ED_A));
        assert_eq!(report.verdict, Verdict::Known);
        let lines: Vec<usize> = report
            .warnings
            .iter()
            .map(|w| match w {
                Warning::BadLine { line, .. } => *line,
                Warning::Unreadable { .. } => 0,
            })
            .collect();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6, 7]);
        let first = report.warnings[0].to_string();
        assert!(
            first.ends_with("kh:1: missing key type; line ignored"),
            "{first}"
        );
    }

    #[test]
    fn missing_files_are_unknown() {
        let dir = TempDir::new("missing");
        let report = check_report(&[dir.0.join("nope")], "web", 22, &key(ED_A));
        assert_eq!(report.verdict, Verdict::Unknown);
        assert!(report.warnings.is_empty());
        assert_eq!(check(&[], "web", 22, &key(ED_A)), Verdict::Unknown);
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "\u{0}\u{1}|||",
            "|1|",
            "|1||",
            "@revoked",
            "@cert-authority x",
            "[x]:y z",
            "* * *",
            "\t \t",
            "é ssh-ed25519 ÿ",
        ];
        for text in inputs {
            let _ = check_text(text, "x", 22, ED_A);
        }
    }

    #[test]
    fn hashed_entries_match() {
        let salt = [7u8; HASH_LEN];
        let digest = hash_name(&salt, "web1.example.com").unwrap();
        let entry = format!(
            "|1|{}|{} {ED_A}\n",
            BASE64.encode(salt),
            BASE64.encode(&digest)
        );
        assert_eq!(
            check_text(&entry, "web1.example.com", 22, ED_A),
            Verdict::Known
        );
        assert_eq!(
            check_text(&entry, "Web1.Example.com", 22, ED_A),
            Verdict::Known
        );
        assert_eq!(
            check_text(&entry, "web2.example.com", 22, ED_A),
            Verdict::Unknown
        );
        assert_eq!(
            check_text(&entry, "web1.example.com", 2222, ED_A),
            Verdict::Unknown
        );

        let ported = hash_name(&salt, "[web1.example.com]:2222").unwrap();
        let entry = format!(
            "|1|{}|{} {ED_A}\n",
            BASE64.encode(salt),
            BASE64.encode(&ported)
        );
        assert_eq!(
            check_text(&entry, "web1.example.com", 2222, ED_A),
            Verdict::Known
        );
        assert_eq!(
            check_text(&entry, "web1.example.com", 22, ED_A),
            Verdict::Unknown
        );
    }

    #[test]
    fn hashed_entries_from_ssh_keygen() {
        let text = HASHED_BY_SSH_KEYGEN;
        assert_eq!(
            check_text(text, "web1.example.com", 22, ED_A),
            Verdict::Known
        );
        assert_eq!(
            check_text(text, "db.example.com", 2222, ED_A),
            Verdict::Known
        );
        assert_eq!(
            check_text(text, "db.example.com", 22, ED_A),
            Verdict::Unknown
        );
        let changed = check_text(text, "db.example.com", 2222, ED_B);
        assert!(
            matches!(changed, Verdict::Changed { line: 2, .. }),
            "{changed:?}"
        );
    }

    fn ssh_keygen_available() -> bool {
        std::process::Command::new("ssh-keygen")
            .arg("-?")
            .output()
            .is_ok()
    }

    #[test]
    fn hashing_agrees_with_ssh_keygen_both_ways() {
        if !ssh_keygen_available() {
            eprintln!("ssh-keygen not found; covered by the inline vectors only");
            return;
        }
        let dir = TempDir::new("keygen");
        // ssh-keygen hashes what we wrote in plain form ...
        let plain = dir.file(
            "plain",
            &format!("web1.example.com {ED_A}\n[db.lan]:2200 {EC}\n"),
        );
        let status = std::process::Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&plain)
            .output()
            .expect("run ssh-keygen -H");
        assert!(status.status.success(), "{status:?}");
        let hashed = fs::read_to_string(&plain).unwrap();
        assert!(hashed.starts_with(HASH_MAGIC), "{hashed}");
        assert_eq!(
            check(
                std::slice::from_ref(&plain),
                "web1.example.com",
                22,
                &key(ED_A)
            ),
            Verdict::Known
        );
        assert_eq!(
            check(std::slice::from_ref(&plain), "db.lan", 2200, &key(EC)),
            Verdict::Known
        );
        assert_eq!(check(&[plain], "db.lan", 22, &key(EC)), Verdict::Unknown);

        // ... and finds what we hashed.
        let ours = dir.0.join("ours");
        assert!(record(&ours, "db.lan", 2200, &key(EC), true).unwrap());
        let found = std::process::Command::new("ssh-keygen")
            .args(["-F", "[db.lan]:2200", "-f"])
            .arg(&ours)
            .output()
            .expect("run ssh-keygen -F");
        assert!(found.status.success(), "{found:?}");
        assert!(String::from_utf8_lossy(&found.stdout).contains("ecdsa-sha2-nistp256"));
    }

    #[test]
    fn record_writes_once_and_creates_private_dir() {
        let dir = TempDir::new("record");
        let file = dir.0.join("deep/.ssh/known_hosts");
        assert!(record(&file, "Web", 22, &key(ED_A), false).unwrap());
        assert!(!record(&file, "web", 22, &key(ED_A), false).unwrap());
        assert!(record(&file, "web", 2222, &key(ED_A), false).unwrap());
        assert!(record(&file, "web", 22, &key(EC), false).unwrap());
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(text, format!("web {ED_A}\n[web]:2222 {ED_A}\nweb {EC}\n"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.0.join("deep/.ssh"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn record_hashed_then_check() {
        let dir = TempDir::new("record-hashed");
        let file = dir.0.join("known_hosts");
        assert!(record(&file, "web", 2222, &key(ED_A), true).unwrap());
        assert!(!record(&file, "web", 2222, &key(ED_A), true).unwrap());
        assert!(!record(&file, "web", 2222, &key(ED_A), false).unwrap());
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(
            text.starts_with(HASH_MAGIC) && !text.contains("web"),
            "{text}"
        );
        let verdict = check(&[file], "web", 2222, &key(ED_A));
        assert_eq!(verdict, Verdict::Known);
    }

    #[test]
    fn record_appends_after_unterminated_last_line() {
        let dir = TempDir::new("record-newline");
        let file = dir.file("kh", &format!("other {ED_B}"));
        assert!(record(&file, "web", 22, &key(ED_A), false).unwrap());
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(text, format!("other {ED_B}\nweb {ED_A}\n"));
    }

    #[test]
    fn record_skips_revoked_keys() {
        let dir = TempDir::new("record-revoked");
        let file = dir.file("kh", &format!("@revoked * {ED_A}\n"));
        assert!(!record(&file, "web", 22, &key(ED_A), false).unwrap());
    }

    #[test]
    fn concurrent_recorders_write_once() {
        let dir = TempDir::new("concurrent");
        let file = dir.0.join("ssh/known_hosts");
        let k = key(ED_A);
        let written = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..100 {
                s.spawn(|| {
                    if record(&file, "web", 2222, &k, false).expect("record") {
                        written.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(written.load(Ordering::Relaxed), 1);
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(text, format!("[web]:2222 {ED_A}\n"));
    }

    #[test]
    fn format_entry_drops_comment() {
        let k = key(&format!("{ED_A} someone@laptop"));
        assert_eq!(
            format_entry("h", 22, &k, false).unwrap(),
            format!("h {ED_A}")
        );
        let hashed = format_entry("h", 22, &k, true).unwrap();
        let Some(Entry { hosts, .. }) = parse_line(&hashed).unwrap() else {
            panic!("no entry in {hashed}");
        };
        assert!(hosts.matches("h"));
        assert!(!hosts.matches("g"));
    }
}
