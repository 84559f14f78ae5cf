//! `apt_key`: OpenPGP keys apt trusts. Keys are read on the controller from the host's
//! keyring files (armored or binary, OpenPGP v4 key ids), so listing needs no gpg on the
//! host. With `keyring`, kiln writes that keyring itself (binary key packets, mode 0644 so
//! apt's `_apt` user can read it); without it, keys go through the host's `apt-key`, which
//! needs `gpg` there, as in Ansible. Key ids, messages and results are ansible-core 2.19's.

use super::pkgutil::{HostFile, download_script, read_files, write_file};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{Input, quote};
use crate::yaml::Value;
use async_trait::async_trait;
use base64::Engine;
use sha1::{Digest, Sha1};

pub struct AptKey;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("id", Kind::Str),
        Opt::new("url", Kind::Str),
        Opt::new("data", Kind::Str),
        Opt::new("file", Kind::Path),
        Opt::new("keyring", Kind::Path),
        Opt::new("validate_certs", Kind::Bool).default("true"),
        Opt::new("keyserver", Kind::Str),
        Opt::new("state", Kind::Str)
            .default("present")
            .choices(&["absent", "present"]),
    ],
    mutually_exclusive: &[&["data", "file", "keyserver", "url"]],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

const ERROR_NO_ERROR: &str =
    "apt-key did not return an error, but {} (check that the id is correct and *not* a subkey)";

#[async_trait]
impl Module for AptKey {
    fn name(&self) -> &'static str {
        "apt_key"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        match run(cx, &args).await {
            Ok(r) | Err(r) => r,
        }
    }
}

/// One OpenPGP packet: its tag and body.
struct Packet<'a> {
    tag: u8,
    raw: &'a [u8],
    body: &'a [u8],
}

/// The binary packets of `data`, dearmored first when it is ASCII-armored.
fn binary(data: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    if !text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        return data.to_vec();
    }
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if !l.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
            continue;
        }
        // Armor headers, then an empty line, then base64 up to the checksum or the end.
        let mut b64 = String::new();
        let mut in_headers = true;
        for l in lines.by_ref() {
            let l = l.trim();
            if l.starts_with("-----END") {
                break;
            }
            if in_headers {
                if l.is_empty() {
                    in_headers = false;
                } else if !l.contains(": ") {
                    in_headers = false;
                    b64.push_str(l);
                }
                continue;
            }
            if l.starts_with('=') {
                continue;
            }
            b64.push_str(l);
        }
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
            out.extend(bytes);
        }
    }
    out
}

fn packets(data: &[u8]) -> Vec<Packet<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let start = i;
        let h = data[i];
        if h & 0x80 == 0 {
            break;
        }
        i += 1;
        let (tag, len) = if h & 0x40 != 0 {
            let tag = h & 0x3f;
            let Some(&o1) = data.get(i) else { break };
            i += 1;
            let len = match o1 {
                0..=191 => o1 as usize,
                192..=223 => {
                    let Some(&o2) = data.get(i) else { break };
                    i += 1;
                    ((o1 as usize - 192) << 8) + o2 as usize + 192
                }
                255 => {
                    let Some(b) = data.get(i..i + 4) else { break };
                    i += 4;
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
                }
                // Partial lengths are for data packets, never in keys.
                _ => break,
            };
            (tag, len)
        } else {
            let tag = (h >> 2) & 0x0f;
            let n = match h & 3 {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => 0,
            };
            let len = if n == 0 {
                data.len() - i
            } else {
                let Some(b) = data.get(i..i + n) else { break };
                i += n;
                b.iter().fold(0usize, |a, x| (a << 8) | *x as usize)
            };
            (tag, len)
        };
        let Some(body) = data.get(i..i + len) else {
            break;
        };
        i += len;
        out.push(Packet {
            tag,
            raw: &data[start..i],
            body,
        });
    }
    out
}

/// A key packet's long key id (16 hex digits): the end of its v4 fingerprint.
fn key_id(body: &[u8]) -> Option<String> {
    if body.first() != Some(&4) {
        return None;
    }
    let mut h = Sha1::new();
    h.update([0x99, (body.len() >> 8) as u8, body.len() as u8]);
    h.update(body);
    let fp = h.finalize();
    Some(fp[12..].iter().map(|b| format!("{b:02X}")).collect())
}

/// The long ids of every primary key and subkey in `data`.
fn key_ids(data: &[u8]) -> Vec<String> {
    let bin = binary(data);
    packets(&bin)
        .iter()
        .filter(|p| p.tag == 6 || p.tag == 14)
        .filter_map(|p| key_id(p.body))
        .collect()
}

/// `data` without the keys (primary key and what follows it) one of whose ids is `id`.
fn without_key(data: &[u8], id: &str) -> Vec<u8> {
    let bin = binary(data);
    let pk = packets(&bin);
    let mut out = Vec::new();
    let mut i = 0;
    while i < pk.len() {
        let mut j = i + 1;
        while j < pk.len() && pk[j].tag != 6 {
            j += 1;
        }
        let ids: Vec<String> = pk[i..j]
            .iter()
            .filter(|p| p.tag == 6 || p.tag == 14)
            .filter_map(|p| key_id(p.body))
            .collect();
        if !ids.iter().any(|k| k.ends_with(id)) {
            for p in &pk[i..j] {
                out.extend_from_slice(p.raw);
            }
        }
        i = j;
    }
    out
}

/// Ansible's `parse_key_id`: (short id, the id compared with listings, the whole id).
fn parse_key_id(id: &str) -> Option<(String, String, String)> {
    let mut k = id.to_uppercase();
    if let Some(rest) = k.strip_prefix("0X") {
        k = rest.to_string();
    }
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    if k.len() != 8 && k.len() != 16 && k.len() <= 16 {
        return None;
    }
    let short = k[k.len() - 8..].to_string();
    let fp = if k.len() > 16 {
        k[k.len() - 16..].to_string()
    } else {
        k.clone()
    };
    Some((short, fp, k))
}

/// The files apt-key reads, or the one keyring given.
async fn keyring_files(cx: &TaskCx<'_>, keyring: Option<&str>) -> Result<Vec<String>, TaskResult> {
    if let Some(k) = keyring {
        return Ok(vec![k.to_string()]);
    }
    let out = cx
        .sh("for f in /etc/apt/trusted.gpg /etc/apt/trusted.gpg.d/*.gpg /etc/apt/trusted.gpg.d/*.asc; do [ -f \"$f\" ] && echo \"$f\"; done; true")
        .await
        .map_err(super::conn_failure)?;
    Ok(out.stdout_text().lines().map(str::to_string).collect())
}

async fn all_keys(
    cx: &TaskCx<'_>,
    keyring: Option<&str>,
    short: bool,
) -> Result<(Vec<String>, Option<HostFile>), TaskResult> {
    let files = keyring_files(cx, keyring).await?;
    let contents = read_files(cx, &files).await?;
    let mut keys = Vec::new();
    for f in contents.iter().flatten() {
        keys.extend(key_ids(&f.content));
    }
    if short {
        keys = keys
            .into_iter()
            .map(|k| k[k.len() - 8..].to_string())
            .collect();
    }
    let own = if keyring.is_some() {
        contents.into_iter().next().flatten()
    } else {
        None
    };
    Ok((keys, own))
}

fn strs(v: &[String]) -> Value {
    Value::Seq(v.iter().cloned().map(Value::str).collect())
}

/// Runs the host's apt-key, which needs gpg there.
async fn apt_key(
    cx: &TaskCx<'_>,
    words: &[String],
    stdin: Option<Vec<u8>>,
) -> Result<crate::connection::Output, TaskResult> {
    let script = format!(
        "command -v apt-key >/dev/null 2>&1 || {{ echo 'apt-key is not installed on the host; give `keyring` to have kiln write the keyring itself' >&2; exit 127; }}; \
         command -v gpg >/dev/null 2>&1 || {{ echo 'apt-key needs gpg (Debian package gpg) on the host; install it, or give `keyring` to have kiln write the keyring itself' >&2; exit 127; }}; \
         LANG=C.UTF-8 LC_ALL=C.UTF-8 {}",
        quote::join(words)
    );
    match stdin {
        Some(d) => cx.sh_with_input(script, d).await,
        None => cx.sh(script).await,
    }
    .map_err(super::conn_failure)
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> Result<TaskResult, TaskResult> {
    let keyring = args.str("keyring");
    let keyserver = args.str("keyserver");
    let state = args.str("state").unwrap_or_else(|| "present".into());
    let mut data: Option<Vec<u8>> = args.str("data").map(String::into_bytes);
    let file = args.str("file");
    let url = args.str("url");
    let validate = args.bool("validate_certs");
    let mut id = args.str("id");
    let download = |u: String| async move {
        let script = format!(
            "t=$(mktemp) || exit 1; trap 'rm -f \"$t\"' EXIT; {} && base64 < \"$t\"",
            download_script(&u, "\"$t\"", validate)
        );
        let out = cx.sh(script).await.map_err(super::conn_failure)?;
        if out.rc != 0 {
            return Err(TaskResult::failed(format!(
                "Failed to download key at {u}: {}",
                out.stderr_text().trim()
            )));
        }
        let b64: String = out.stdout_text().split_whitespace().collect();
        Ok(base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .unwrap_or_default())
    };
    let mut file_content: Option<Vec<u8>> = None;
    if id.is_none() {
        if keyserver.is_some() {
            return Err(TaskResult::failed(
                "Missing key_id, required with keyserver.",
            ));
        }
        if let Some(u) = &url {
            data = Some(download(u.clone()).await?);
        }
        let source = if let Some(f) = &file {
            let c = read_files(cx, std::slice::from_ref(f)).await?;
            match c.into_iter().next().flatten() {
                Some(hf) => {
                    file_content = Some(hf.content.clone());
                    Some(hf.content)
                }
                None => {
                    return Err(TaskResult::failed(format!(
                        "Unable to extract key from '{f}'"
                    )));
                }
            }
        } else {
            data.clone()
        };
        if let Some(d) = source {
            match key_ids(&d).into_iter().next() {
                Some(k) => id = Some(k),
                None => {
                    let what = if file.is_some() {
                        file.clone().unwrap_or_default()
                    } else {
                        "inline data".into()
                    };
                    return Err(TaskResult::failed(format!(
                        "Unable to extract key from '{what}'"
                    )));
                }
            }
        }
    }
    let mut r =
        TaskResult::changed(false).with("id", id.clone().map(Value::str).unwrap_or(Value::Null));
    let Some((short, fp, key_id)) = id.as_deref().and_then(parse_key_id) else {
        return Err(TaskResult {
            failed: true,
            msg: Some("Invalid key_id".into()),
            ..r
        });
    };
    r = r
        .with("short_id", Value::str(short.clone()))
        .with("fp", Value::str(fp.clone()))
        .with("key_id", Value::str(key_id.clone()));
    let short_format = key_id.len() == 8;
    let (keys, own) = all_keys(cx, keyring.as_deref(), short_format).await?;
    r = r.with("before", strs(&keys));
    let present = |keys: &[String]| {
        if short_format {
            keys.contains(&short)
        } else {
            keys.contains(&fp)
        }
    };
    let fail_with = |r: TaskResult, msg: String| TaskResult {
        failed: true,
        msg: Some(msg),
        ..r
    };
    if state == "present" {
        if present(&keys) {
            return Ok(r);
        }
        r.changed = true;
        if cx.check_mode {
            return Ok(r);
        }
        // The key itself, when it is given rather than fetched from a keyserver.
        let key_data = match (&file, &data, &url) {
            (Some(_), _, _) => match file_content.clone() {
                Some(c) => Some(c),
                None => {
                    let f = file.clone().unwrap_or_default();
                    read_files(cx, std::slice::from_ref(&f))
                        .await?
                        .into_iter()
                        .next()
                        .flatten()
                        .map(|h| h.content)
                }
            },
            (None, Some(d), _) => Some(d.clone()),
            (None, None, Some(u)) => Some(download(u.clone()).await?),
            _ => None,
        };
        match (&keyring, key_data) {
            (Some(k), Some(d)) => {
                let mut content = own.as_ref().map(|f| binary(&f.content)).unwrap_or_default();
                content.extend(binary(&d));
                write_file(cx, k, &content, own.as_ref(), Some(&Value::str("0644"))).await?;
            }
            (k, Some(d)) => {
                let mut w = vec!["apt-key".to_string()];
                if let Some(k) = k {
                    w.extend(["--keyring".into(), k.clone()]);
                }
                w.extend(["add".into(), "-".into()]);
                let out = apt_key(cx, &w, Some(d)).await?;
                if out.rc != 0 {
                    let msg = if file.is_some() {
                        format!(
                            "Unable to add a key from file {}",
                            file.clone().unwrap_or_default()
                        )
                    } else {
                        "Unable to add a key from binary data".to_string()
                    };
                    return Err(fail_with(r, format!("{msg}: {}", out.stderr_text().trim())));
                }
            }
            (k, None) => {
                let Some(ks) = &keyserver else {
                    return Err(fail_with(
                        r,
                        "No key to add ... how did i get here?!?!".into(),
                    ));
                };
                let mut w = vec!["apt-key".to_string()];
                if let Some(k) = k {
                    w.extend(["--keyring".into(), k.clone()]);
                }
                w.extend([
                    "adv".into(),
                    "--no-tty".into(),
                    "--keyserver".into(),
                    ks.clone(),
                    "--recv".into(),
                    key_id.clone(),
                ]);
                let mut ok = false;
                let mut last = String::new();
                for _ in 0..5 {
                    let out = apt_key(cx, &w, None).await?;
                    if out.rc == 0 {
                        ok = true;
                        break;
                    }
                    last = format!("{}{}", out.stdout_text(), out.stderr_text());
                }
                if !ok {
                    let msg = if last.contains("not found on keyserver") {
                        format!("Key {key_id} not found on keyserver {ks}")
                    } else {
                        format!("Error fetching key {key_id} from keyserver: {ks}")
                    };
                    return Err(fail_with(r, msg));
                }
            }
        }
        let (after, _) = all_keys(cx, keyring.as_deref(), short_format).await?;
        r = r.with("after", strs(&after));
        if !present(&after) {
            return Err(fail_with(
                r,
                ERROR_NO_ERROR.replace("{}", "failed to add the key"),
            ));
        }
        return Ok(r);
    }
    if !keys.contains(&fp) {
        return Ok(r);
    }
    r.changed = true;
    if cx.check_mode {
        return Ok(r);
    }
    match (&keyring, own) {
        (Some(k), Some(f)) => {
            let content = without_key(&f.content, &fp);
            let out = cx
                .put(Input::Bytes(content), k, &Default::default())
                .await
                .map_err(super::conn_failure)?;
            if out.rc != 0 {
                return Err(fail_with(
                    r,
                    format!("Unable to remove a key with id {short}"),
                ));
            }
        }
        _ => {
            let out = apt_key(cx, &["apt-key".into(), "del".into(), short.clone()], None).await?;
            if out.rc != 0 {
                return Err(fail_with(
                    r,
                    format!(
                        "Unable to remove a key with id {short}: {}",
                        out.stderr_text().trim()
                    ),
                ));
            }
        }
    }
    let (after, _) = all_keys(cx, keyring.as_deref(), short_format).await?;
    r = r.with("after", strs(&after));
    if after.contains(&fp) {
        return Err(fail_with(
            r,
            ERROR_NO_ERROR.replace("{}", "the key was not removed"),
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_as_apt_key_lists_them() {
        assert_eq!(
            parse_key_id("0x36A1D7869245C8950F966E92D8576A8BA88D21E9"),
            Some((
                "A88D21E9".into(),
                "D8576A8BA88D21E9".into(),
                "36A1D7869245C8950F966E92D8576A8BA88D21E9".into()
            ))
        );
        assert_eq!(
            parse_key_id("a88d21e9").map(|k| k.1),
            Some("A88D21E9".into())
        );
        assert!(parse_key_id("12345").is_none() && parse_key_id("xyz12345").is_none());
        // A v4 key packet: the id is the end of SHA-1 over 0x99, the length and the body.
        let body = [
            4u8, 0, 0, 0, 1, 22, 9, 43, 6, 1, 4, 1, 218, 71, 15, 1, 1, 7, 0, 8, 0xAA,
        ];
        let mut pkt = vec![0xC6, body.len() as u8];
        pkt.extend_from_slice(&body);
        let ids = key_ids(&pkt);
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].len(), 16);
        let armored = format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n{}\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n",
            base64::engine::general_purpose::STANDARD.encode(&pkt)
        );
        assert_eq!(key_ids(armored.as_bytes()), ids);
        assert!(without_key(&pkt, &ids[0]).is_empty());
        assert_eq!(without_key(&pkt, "0000000000000000"), pkt);
    }
}
