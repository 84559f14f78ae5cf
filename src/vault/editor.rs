//! The file side of `kiln vault`: reading inputs (`-` is stdin), writing outputs safely, and
//! editing plaintext in a private temporary file.
//!
//! What ansible-vault does, and what kiln does:
//! - Outputs: Ansible removes the old file (overwriting it first when it held plaintext)
//!   and creates the new one `0600` with `O_EXCL`. kiln writes the new content to a `0600`
//!   file created with `O_EXCL` beside the destination and renames it over the old one, so
//!   the destination is never missing or half written; an old plaintext file is
//!   overwritten with zeros before it is replaced, as Ansible's `shred` fallback does.
//! - `edit`/`create`: Ansible decrypts into `mkstemp()` (`0600`) under its local temp
//!   directory in `~/.ansible/tmp` (on disk), runs `$EDITOR`, shreds the file afterwards, and
//!   leaves it behind when interrupted. kiln makes a private `0700` directory holding a
//!   `0600` file, on a memory file system when there is one (`$XDG_RUNTIME_DIR`, then
//!   `/dev/shm`, then the temp directory), ignores Ctrl-C while the editor runs (the
//!   editor gets it), and overwrites and removes the file and the directory on every way
//!   out, errors included.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Reads a command's input: a file, or standard input for `-`.
pub fn read_input(name: &str) -> Result<Vec<u8>, String> {
    let result = if name == "-" {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data).map(|_| data)
    } else {
        std::fs::read(name)
    };
    result.map_err(|e| format!("Unable to read source file ({name}): {e}"))
}

/// Overwrites a file's content with zeros, in place (best effort: the file is about to be
/// replaced or removed either way).
fn wipe(path: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_file() || meta.len() == 0 {
        return;
    }
    if let Ok(mut f) = OpenOptions::new().write(true).open(path) {
        let zeros = vec![0u8; 64 * 1024];
        let mut left = meta.len();
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            if f.write_all(&zeros[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = f.sync_all();
    }
}

/// A unique name for a new file or directory.
fn unique(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    let mut r = [0u8; 8];
    let tag = match getrandom::fill(&mut r) {
        Ok(()) => r.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        Err(_) => format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ),
    };
    dir.join(format!("{stem}{tag}{ext}"))
}

/// Creates a new `0600` file that did not exist before (`O_EXCL`).
fn create_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Writes a command's output: standard output for `-`, else a `0600` file that replaces
/// `target` in one rename. `wipe_old` overwrites the old file first (it held plaintext).
pub fn write_output(data: &[u8], target: &str, wipe_old: bool) -> Result<(), String> {
    if target == "-" {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(data)
            .and_then(|_| out.flush())
            .map_err(|e| format!("could not write to standard output: {e}"));
    }
    let path = Path::new(target);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = unique(&dir, ".kiln-vault-", ".tmp");
    let mut f = create_private(&tmp).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            format!("Destination '{}' not writable", dir.display())
        } else {
            format!("Problem creating temporary vault file: {e}")
        }
    })?;
    let written = f.write_all(data).and_then(|_| f.sync_all());
    drop(f);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("Unable to write to temporary vault file: {e}"));
    }
    if wipe_old {
        wipe(path);
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("could not replace `{target}`: {e}")
    })
}

/// Where private temporary files go: memory-backed when possible.
fn private_base() -> PathBuf {
    let candidates = [
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        Some(PathBuf::from("/dev/shm")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.is_dir() && tempfile_works(d))
        .unwrap_or_else(std::env::temp_dir)
}

fn tempfile_works(dir: &Path) -> bool {
    let probe = unique(dir, ".kiln-probe-", "");
    let ok = std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&probe)
        .is_ok();
    let _ = std::fs::remove_dir(&probe);
    ok
}

/// A private directory with one plaintext file in it; both are wiped and removed when
/// this is dropped.
struct PrivateFile {
    dir: PathBuf,
    file: PathBuf,
}

impl PrivateFile {
    fn new(ext: &str) -> Result<PrivateFile, String> {
        let dir = unique(&private_base(), "kiln-vault-", "");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("could not create a private temporary directory: {e}"))?;
        let file = dir.join(format!("edit{ext}"));
        let me = PrivateFile { dir, file };
        create_private(&me.file)
            .map_err(|e| format!("could not create a private temporary file: {e}"))?;
        Ok(me)
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        wipe(&self.file);
        let _ = std::fs::remove_file(&self.file);
        // The editor may have left swap or backup files there: wipe them too.
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                wipe(&e.path());
                let _ = std::fs::remove_file(e.path());
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The editor command: `$EDITOR`, else `$ANSIBLE_EDITOR`, else `vi` (Ansible's `EDITOR`
/// setting, where `EDITOR` wins), split as a shell would.
fn editor_command() -> Result<Vec<String>, String> {
    let text = std::env::var("EDITOR")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| std::env::var("ANSIBLE_EDITOR").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let words = crate::inventory::shlex_split(&text)
        .map_err(|e| format!("cannot parse the editor command `{text}`: {e}"))?;
    if words.is_empty() {
        return Err(format!("the editor command `{text}` is empty"));
    }
    Ok(words)
}

/// Keeps terminal signals from killing kiln while a child runs in the foreground, so the
/// cleanup above always runs (the child gets them and decides).
fn hold_signals() -> Option<(tokio::runtime::Runtime, Vec<tokio::signal::unix::Signal>)> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .ok()?;
    let held = rt.block_on(async {
        [
            SignalKind::interrupt(),
            SignalKind::quit(),
            SignalKind::hangup(),
            SignalKind::terminate(),
        ]
        .into_iter()
        .filter_map(|k| signal(k).ok())
        .collect()
    });
    Some((rt, held))
}

/// Opens `initial` in the editor in a private temporary file named with `ext` (so editors
/// pick the right syntax) and returns what the user saved.
pub fn edit(initial: &[u8], ext: &str) -> Result<Vec<u8>, String> {
    let tmp = PrivateFile::new(ext)?;
    {
        let mut f = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&tmp.file)
            .map_err(|e| format!("could not open the temporary file: {e}"))?;
        f.write_all(initial)
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("could not write the temporary file: {e}"))?;
    }
    let cmd = editor_command()?;
    let _held = hold_signals();
    let status = std::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .arg(&tmp.file)
        .status()
        .map_err(|e| {
            format!(
                "Unable to execute the command \"{} {}\": {e}",
                cmd.join(" "),
                tmp.file.display()
            )
        })?;
    if !status.success() {
        return Err(format!(
            "the editor `{}` exited with {status}; nothing was saved",
            cmd.join(" ")
        ));
    }
    std::fs::read(&tmp.file).map_err(|e| format!("could not read the edited file: {e}"))
}

/// Shows text: through `$PAGER` (else `$ANSIBLE_PAGER`, else `less`) when standard output
/// is a terminal, printed as it is otherwise.
pub fn page(text: &str) -> Result<(), String> {
    use std::io::IsTerminal;
    let mut shown = text.to_string();
    if !shown.ends_with('\n') {
        shown.push('\n');
    }
    if std::io::stdout().is_terminal() {
        let pager = std::env::var("PAGER")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| std::env::var("ANSIBLE_PAGER").ok())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "less".into());
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(&pager)
            .stdin(std::process::Stdio::piped());
        if pager.contains("less") {
            cmd.env("LESS", "FRSX");
        }
        if let Ok(mut child) = cmd.spawn() {
            let _held = hold_signals();
            if let Some(mut stdin) = child.stdin.take() {
                // A pager quit early closes the pipe: that is no error.
                let _ = stdin.write_all(shown.as_bytes());
            }
            let _ = child.wait();
            return Ok(());
        }
    }
    write_output(shown.as_bytes(), "-", false)
}

/// Keeps a file's mode and owner (rekey and edit rewrite a file in place, as Ansible
/// restores them).
pub fn restore_attributes(path: &Path, meta: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    let _ = std::fs::set_permissions(path, meta.permissions());
    let _ = std::os::unix::fs::chown(path, Some(meta.uid()), Some(meta.gid()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn outputs_are_private_and_replace_atomically() {
        let dir = std::env::temp_dir().join(format!("kiln-vault-editor-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let target = dir.join("out.yml");
        std::fs::write(&target, "old plaintext").expect("write");
        write_output(b"new", &target.display().to_string(), true).expect("write_output");
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
        let mode = std::fs::metadata(&target)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name() != "out.yml")
            .collect();
        assert!(leftovers.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn private_files_vanish() {
        let (dir, file) = {
            let p = PrivateFile::new(".yml").expect("private file");
            let mode = std::fs::metadata(&p.dir).expect("dir").permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
            let mode = std::fs::metadata(&p.file)
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            (p.dir.clone(), p.file.clone())
        };
        assert!(!file.exists() && !dir.exists());
    }
}
