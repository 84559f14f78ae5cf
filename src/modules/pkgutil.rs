//! What the package modules share: the environment apt runs in, Debian's version order,
//! downloads with the target's own curl or wget, and refreshing apt's lists with retries.

use super::{TaskCx, TaskResult};
use crate::connection::{Input, PutOptions, quote};
use crate::yaml::Value;
use base64::Engine;
use std::cmp::Ordering;

/// apt's output is parsed, so it must not be translated; nothing may prompt.
pub const APT_ENV: &str = "export DEBIAN_FRONTEND=noninteractive DEBIAN_PRIORITY=critical \
     LANG=C.UTF-8 LC_ALL=C.UTF-8 LC_MESSAGES=C.UTF-8 LC_CTYPE=C.UTF-8 LANGUAGE=C.UTF-8; ";

/// Prints the time of the last update of apt's lists as Ansible reads it: the success stamp
/// some systems keep, else the lists directory's mtime, else 0.
pub const CACHE_MTIME: &str = "if [ -e /var/lib/apt/periodic/update-success-stamp ]; then \
     stat -c %Y /var/lib/apt/periodic/update-success-stamp; \
     elif [ -e /var/lib/apt/lists ]; then stat -c %Y /var/lib/apt/lists; else echo 0; fi";

/// Debian's version order (`dpkg --compare-versions`): epoch, then upstream version, then
/// revision, each compared as alternating non-digit and digit runs, where `~` sorts before
/// everything, even the end of the string, and letters before other characters.
pub fn deb_version_cmp(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((up, rev)) => (epoch, up, rev),
            None => (epoch, rest, ""),
        }
    }
    fn order(c: Option<u8>) -> i32 {
        match c {
            None => 0,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => c as i32,
            Some(b'~') => -1,
            Some(c) => c as i32 + 256,
        }
    }
    fn verrev(a: &str, b: &str) -> Ordering {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit())
            {
                let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
                if ac != bc {
                    return ac.cmp(&bc);
                }
                i += 1;
                j += 1;
            }
            while i < a.len() && a[i] == b'0' {
                i += 1;
            }
            while j < b.len() && b[j] == b'0' {
                j += 1;
            }
            let mut first_diff = Ordering::Equal;
            while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
                if first_diff == Ordering::Equal {
                    first_diff = a[i].cmp(&b[j]);
                }
                i += 1;
                j += 1;
            }
            if i < a.len() && a[i].is_ascii_digit() {
                return Ordering::Greater;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                return Ordering::Less;
            }
            if first_diff != Ordering::Equal {
                return first_diff;
            }
        }
        Ordering::Equal
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrev(ua, ub))
        .then_with(|| verrev(ra, rb))
}

/// A script that downloads `url` into the host file named by the shell word `dest` (e.g.
/// `"$f"`) with the host's curl, else its wget; exit 127 and a message when it has neither.
pub fn download_script(url: &str, dest: &str, validate_certs: bool) -> String {
    let q = quote::quote(url);
    let (ck, wk) = if validate_certs {
        ("", "")
    } else {
        (" -k", " --no-check-certificate")
    };
    format!(
        "if command -v curl >/dev/null 2>&1; then curl -fsSL{ck} -o {dest} {q}; \
         elif command -v wget >/dev/null 2>&1; then wget -q{wk} -O {dest} {q}; \
         else echo 'neither curl nor wget is installed on the host to download' {q} >&2; exit 127; fi"
    )
}

/// Runs `apt-get update` until it succeeds, `retries` times at most, waiting 2^n seconds
/// (at most `max_delay`) between tries as Ansible does; the failure says why.
pub async fn apt_update(
    cx: &TaskCx<'_>,
    retries: i128,
    max_delay: i128,
    lock_timeout: i128,
) -> Result<Vec<String>, TaskResult> {
    let mut warnings = Vec::new();
    let mut err = String::new();
    let tries = retries.max(1);
    for retry in 0..tries {
        let out = cx
            .sh(format!(
                "{APT_ENV}apt-get -q -o DPkg::Lock::Timeout={lock_timeout} update"
            ))
            .await
            .map_err(super::conn_failure)?;
        if out.rc == 0 {
            return Ok(warnings);
        }
        err = out.stderr_text().trim().to_string();
        if retry + 1 == tries {
            break;
        }
        warnings.push(format!(
            "Failed to update cache after {} retries due to {err}, retrying",
            retry + 1
        ));
        let delay = (1i128 << retry.min(16)).min(max_delay.max(0));
        tokio::time::sleep(std::time::Duration::from_secs(delay as u64)).await;
        warnings.push(format!(
            "Sleeping for {delay} seconds, before attempting to refresh the cache again"
        ));
    }
    let why = if err.is_empty() {
        "unknown reason".to_string()
    } else {
        err
    };
    Err(TaskResult::failed(format!(
        "Failed to update apt cache after {retries} retries: {why}"
    )))
}

/// Python's `str.title()` for ASCII words: a letter after a non-letter is upper case, the
/// others lower case.
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if c.is_alphabetic() {
            if prev_letter {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            prev_letter = true;
        } else {
            out.push(c);
            prev_letter = false;
        }
    }
    out
}

/// A host file's content and permission bits.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFile {
    pub content: Vec<u8>,
    pub mode: u32,
}

/// Reads regular files on the host in one command; `None` for paths that are not files.
pub async fn read_files(
    cx: &TaskCx<'_>,
    paths: &[String],
) -> Result<Vec<Option<HostFile>>, TaskResult> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let mut script = String::new();
    for p in paths {
        let q = quote::quote(p);
        script.push_str(&format!(
            "if [ -f {q} ]; then echo \"@@file $(stat -L -c %a {q})\"; base64 < {q} || exit 1; else echo @@none; fi; "
        ));
    }
    let out = cx.sh(script).await.map_err(super::conn_failure)?;
    if out.rc != 0 {
        return Err(TaskResult::failed(format!(
            "could not read {}: {}",
            paths.join(", "),
            out.stderr_text().trim()
        )));
    }
    let text = out.stdout_text();
    let mut files = Vec::new();
    let mut cur: Option<(u32, String)> = None;
    let flush = |cur: &mut Option<(u32, String)>, files: &mut Vec<Option<HostFile>>| {
        if let Some((mode, b64)) = cur.take() {
            let content = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .unwrap_or_default();
            files.push(Some(HostFile { content, mode }));
        }
    };
    for line in text.lines() {
        if let Some(mode) = line.strip_prefix("@@file ") {
            flush(&mut cur, &mut files);
            cur = Some((
                u32::from_str_radix(mode.trim(), 8).unwrap_or(0o644),
                String::new(),
            ));
        } else if line == "@@none" {
            flush(&mut cur, &mut files);
            files.push(None);
        } else if let Some((_, b64)) = cur.as_mut() {
            b64.push_str(line.trim());
        }
    }
    flush(&mut cur, &mut files);
    Ok(files)
}

/// Makes the host file `path` hold `content` (atomically) with `mode` when given, unless it
/// already does; whether anything changed (or would, in check mode).
pub async fn write_file(
    cx: &TaskCx<'_>,
    path: &str,
    content: &[u8],
    current: Option<&HostFile>,
    mode: Option<&Value>,
) -> Result<bool, TaskResult> {
    let base = current.map_or(0o644, |f| f.mode);
    let want = match mode {
        Some(m) => {
            Some(super::fileattrs::resolve_mode(m, base, false).map_err(TaskResult::failed)?)
        }
        None => None,
    };
    let same_content = current.is_some_and(|f| f.content == content);
    let mode_differs = want.is_some_and(|m| current.is_none_or(|f| f.mode != m));
    if same_content && !mode_differs {
        return Ok(false);
    }
    if cx.check_mode {
        return Ok(true);
    }
    let out = if same_content {
        cx.sh(format!(
            "chmod {:04o} {}",
            want.unwrap_or(base),
            quote::quote(path)
        ))
        .await
    } else {
        let opts = PutOptions {
            validate: None,
            on_temp: want
                .map(|m| vec![format!("chmod {m:04o} \"$t\"")])
                .unwrap_or_default(),
            backup: false,
        };
        cx.put(Input::Bytes(content.to_vec()), path, &opts).await
    }
    .map_err(super::conn_failure)?;
    if out.rc != 0 {
        return Err(TaskResult::failed(format!(
            "could not write `{path}`: {}",
            out.stderr_text().trim()
        )));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_version_order() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1:0.1", "2.0", Greater),
            ("2.10-3", "2.10-2", Greater),
            ("2.10-3", "2.9-9", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1.00", "1.0", Equal),
            ("1.2.3-1~deb12u1", "1.2.3-1", Less),
            ("0.9", "0.10", Less),
        ] {
            assert_eq!(deb_version_cmp(a, b), want, "{a} vs {b}");
            assert_eq!(deb_version_cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn python_title() {
        assert_eq!(
            title("allow-downgrade-to-insecure"),
            "Allow-Downgrade-To-Insecure"
        );
        assert_eq!(title("signed-by"), "Signed-By");
        assert_eq!(title("inrelease-path"), "Inrelease-Path");
    }
}
