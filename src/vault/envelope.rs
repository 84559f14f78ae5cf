//! The vault envelope: the `$ANSIBLE_VAULT;1.1;AES256` (or `1.2;AES256;<vault-id>`) header
//! line followed by the hexadecimal payload in lines of 80 characters.
//!
//! The vault id of a 1.2 header is not authenticated (it is outside the HMAC): it only
//! says which secret to try first, as in Ansible.

use super::error::VaultError;

/// What every vault text starts with.
pub const HEADER: &str = "$ANSIBLE_VAULT";

/// The only cipher Ansible writes and reads today.
pub const CIPHER: &str = "AES256";

/// A parsed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub version: String,
    pub cipher: String,
    /// The vault id of a 1.2 header (`None` for 1.1).
    pub vault_id: Option<String>,
    /// The payload lines joined, still hexadecimal.
    pub payload: Vec<u8>,
}

/// Whether `data` is vault text (Ansible's `is_encrypted`: it starts with the header).
pub fn is_encrypted(data: &[u8]) -> bool {
    data.starts_with(HEADER.as_bytes())
}

/// Splits on `\n`, `\r\n` and `\r`, as Python's `bytes.splitlines()`.
fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\n' => {
                lines.push(&data[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&data[start..i]);
                if data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < data.len() {
        lines.push(&data[start..]);
    }
    lines
}

fn field(part: &[u8]) -> String {
    String::from_utf8_lossy(part.trim_ascii()).into_owned()
}

/// Parses vault text. The payload lines are joined as written: a line with stray spaces
/// makes the payload invalid, as in Ansible.
pub fn parse(data: &[u8]) -> Result<Envelope, VaultError> {
    if !is_encrypted(data) {
        return Err(VaultError::NotEncrypted);
    }
    let lines = split_lines(data);
    let (header, body) = lines.split_first().ok_or(VaultError::Envelope)?;
    let parts: Vec<&[u8]> = header.trim_ascii().split(|&b| b == b';').collect();
    if parts.len() < 3 {
        return Err(VaultError::Envelope);
    }
    Ok(Envelope {
        version: field(parts[1]),
        cipher: field(parts[2]),
        vault_id: parts.get(3).map(|p| field(p)),
        payload: body.concat(),
    })
}

/// Wraps a hexadecimal payload: version 1.2 with the vault id in the header when there is
/// an id other than `default`, else 1.1; 80-column lines, each ending in a newline.
pub fn format(payload: &[u8], vault_id: Option<&str>) -> String {
    let mut out = String::with_capacity(payload.len() + payload.len() / 80 + 64);
    out.push_str(HEADER);
    match vault_id {
        Some(id) if !id.is_empty() && id != "default" => {
            out.push_str(";1.2;");
            out.push_str(CIPHER);
            out.push(';');
            out.push_str(id);
        }
        _ => {
            out.push_str(";1.1;");
            out.push_str(CIPHER);
        }
    }
    out.push('\n');
    for chunk in payload.chunks(80) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}

/// Lowercase hexadecimal, as Python's `hexlify`.
pub fn hexlify(data: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(data.len() * 2);
    for &b in data {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
    out
}

/// Python's `unhexlify`, with its two error messages (length is checked first).
pub fn unhexlify(data: &[u8]) -> Result<Vec<u8>, VaultError> {
    if !data.len().is_multiple_of(2) {
        return Err(VaultError::Unhexlify("Odd-length string"));
    }
    let digit = |c: u8| -> Result<u8, VaultError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(VaultError::Unhexlify("Non-hexadecimal digit found")),
        }
    };
    data.chunks(2)
        .map(|pair| Ok(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_both_versions() {
        let e = parse(b"$ANSIBLE_VAULT;1.1;AES256\nabcd\nef\n").expect("1.1");
        assert_eq!(e.version, "1.1");
        assert_eq!(e.cipher, "AES256");
        assert_eq!(e.vault_id, None);
        assert_eq!(e.payload, b"abcdef");
        let e = parse(b"$ANSIBLE_VAULT;1.2;AES256;prod \r\n00\r\n11").expect("1.2");
        assert_eq!(e.vault_id.as_deref(), Some("prod"));
        assert_eq!(e.payload, b"0011");
    }

    #[test]
    fn bad_envelopes() {
        assert!(matches!(
            parse(b"secret: 1\n"),
            Err(VaultError::NotEncrypted)
        ));
        assert!(matches!(
            parse(b"$ANSIBLE_VAULT;1.1\n00\n"),
            Err(VaultError::Envelope)
        ));
    }

    #[test]
    fn format_wraps_at_80_and_picks_the_version() {
        let payload = vec![b'a'; 170];
        let text = format(&payload, None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "$ANSIBLE_VAULT;1.1;AES256");
        assert_eq!(lines[1].len(), 80);
        assert_eq!(lines[3].len(), 10);
        assert!(text.ends_with("a\n"));
        assert!(format(b"00", Some("default")).starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
        assert!(format(b"00", Some("dev")).starts_with("$ANSIBLE_VAULT;1.2;AES256;dev\n"));
    }

    #[test]
    fn hex_round_trip_and_python_errors() {
        assert_eq!(hexlify(b"\x00\xffA"), b"00ff41");
        assert_eq!(unhexlify(b"00fF41").expect("hex"), b"\x00\xffA");
        assert_eq!(
            unhexlify(b"abc").unwrap_err().to_string(),
            "Vault format unhexlify error: Odd-length string"
        );
        assert_eq!(
            unhexlify(b"zz").unwrap_err().to_string(),
            "Vault format unhexlify error: Non-hexadecimal digit found"
        );
    }
}
