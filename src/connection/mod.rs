//! Connections to hosts. A connection runs shell text on its host; everything else (file
//! transfer, become) is built on that, so the `local` and `ssh` connections differ only in how
//! they carry one command.

mod local;
pub mod quote;
pub mod ssh;

pub use local::Local;

use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Privilege escalation for one command.
#[derive(Debug, Clone, PartialEq)]
pub struct Become {
    pub method: String,
    pub user: String,
    pub password: Option<String>,
    pub flags: Option<String>,
}

/// One command for a host: a POSIX sh script, and how to run it.
#[derive(Debug, Clone)]
pub struct RemoteCommand {
    pub script: String,
    pub become_: Option<Become>,
    pub timeout: Option<Duration>,
}

impl RemoteCommand {
    pub fn new(script: impl Into<String>) -> RemoteCommand {
        RemoteCommand {
            script: script.into(),
            become_: None,
            timeout: None,
        }
    }

    pub fn with_become(mut self, b: Option<Become>) -> RemoteCommand {
        self.become_ = b;
        self
    }

    /// The full text handed to the host's shell: the script, wrapped for become when asked.
    /// The become password is never part of the text; it goes to stdin.
    pub fn shell_text(&self) -> Result<String, ConnError> {
        let Some(b) = &self.become_ else {
            return Ok(self.script.clone());
        };
        let inner = quote::quote(&self.script);
        let user = quote::quote(&b.user);
        let flags = b.flags.clone().unwrap_or_default();
        match b.method.as_str() {
            "sudo" => {
                let run =
                    |auth: &str| format!("sudo -H {auth} {flags} -u {user} -- /bin/sh -c {inner}");
                if b.password.is_none() {
                    return Ok(run("-n"));
                }
                // The password is the first line of stdin and sudo reads it only when it
                // asks. When it will not ask (NOPASSWD, root, a cached timestamp) the line
                // must not reach the command's stdin (a `copy` would write it into the
                // file): ask sudo first, and drop the line when no password is needed.
                Ok(format!(
                    "if sudo -n {flags} -u {user} -- /bin/sh -c : >/dev/null 2>&1; \
                     then IFS= read -r kiln_pw; unset kiln_pw; exec {}; else exec {}; fi",
                    run("-n"),
                    run(&format!("-S -p {}", quote::quote(BECOME_PROMPT)))
                ))
            }
            "su" => Ok(format!(
                "su {flags} {user} -c {}",
                quote::quote(&format!("/bin/sh -c {inner}"))
            )),
            other => Err(ConnError::Unsupported(format!(
                "become method `{other}` is not supported"
            ))),
        }
    }
}

/// Markers framing a command that runs on a terminal (become that needs one). Everything
/// before `start` is the become conversation; the command's stderr, kept apart in a file,
/// follows its stdout after `stderr`. Random per command, so output cannot fake them.
#[derive(Debug, Clone)]
pub struct TtyFrame {
    pub start: String,
    pub stderr: String,
}

/// The directory holding a remote path, computed here so the host runs no `dirname`:
/// `.` for a bare name, `/` for the root.
pub fn parent_dir(path: &str) -> String {
    match Path::new(path).parent() {
        Some(p) if p.as_os_str().is_empty() => ".".to_string(),
        Some(p) => p.display().to_string(),
        None => "/".to_string(),
    }
}

/// 16 random hex digits, for markers and temp file names nobody can guess.
pub fn random_tag() -> String {
    use std::hash::BuildHasher;
    // RandomState is seeded randomly per process and per call.
    let tag = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    format!("{tag:016x}")
}

impl TtyFrame {
    pub fn new() -> TtyFrame {
        let tag = random_tag();
        TtyFrame {
            start: format!("__kiln_start_{tag}__"),
            stderr: format!("__kiln_stderr_{tag}__"),
        }
    }
}

impl Default for TtyFrame {
    fn default() -> TtyFrame {
        TtyFrame::new()
    }
}

impl RemoteCommand {
    /// The text for a run on a terminal: become reads its password from the terminal; the
    /// command's stdin is the first `stdin_len` bytes sent after `frame.start` (a terminal
    /// has no end of input), and its stderr comes after its stdout and `frame.stderr`.
    pub fn tty_text(&self, frame: &TtyFrame, stdin_len: u64) -> Result<String, ConnError> {
        let Some(b) = &self.become_ else {
            return Err(ConnError::Unsupported(
                "a terminal is only used for become".into(),
            ));
        };
        let feed = if stdin_len > 0 {
            format!("head -c {stdin_len} | ( {} )", self.script)
        } else {
            format!("( {} ) </dev/null", self.script)
        };
        let inner = quote::quote(&format!(
            "e=$(mktemp) || exit 125; printf '%s\\n' {start}; {feed} 2>\"$e\"; rc=$?; \
             printf '%s\\n' {err}; cat \"$e\"; rm -f \"$e\"; exit $rc",
            start = frame.start,
            err = frame.stderr,
        ));
        let user = quote::quote(&b.user);
        let flags = b.flags.clone().unwrap_or_default();
        match b.method.as_str() {
            "sudo" => {
                let auth = if b.password.is_some() {
                    format!("-p {}", quote::quote(BECOME_PROMPT))
                } else {
                    "-n".to_string()
                };
                Ok(format!(
                    "sudo -H {auth} {flags} -u {user} -- /bin/sh -c {inner}"
                ))
            }
            "su" => Ok(format!(
                "su {flags} {user} -c {}",
                quote::quote(&format!("/bin/sh -c {inner}"))
            )),
            other => Err(ConnError::Unsupported(format!(
                "become method `{other}` is not supported"
            ))),
        }
    }

    /// Whether become must talk to a terminal: `su` reads a password from nowhere else.
    pub fn become_needs_tty(&self) -> bool {
        self.become_
            .as_ref()
            .is_some_and(|b| b.method == "su" && b.password.is_some())
    }
}

/// sudo's refusal when sudoers has `requiretty`.
pub const NEEDS_TTY: &str = "you must have a tty to run sudo";

/// The prompt sudo is told to print, so kiln can tell a password request from output.
pub const BECOME_PROMPT: &str = "[kiln-become-password]";

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("failed to run the command: {0}")]
    Io(#[from] std::io::Error),
    #[error("the command timed out after {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Unsupported(String),
    #[error("host unreachable: {0}")]
    Unreachable(String),
    /// Privilege escalation refused (wrong or missing password): the task fails.
    #[error("{0}")]
    Become(String),
}

/// Removes sudo's prompt from a command's stderr and turns a refused escalation into an
/// error with Ansible's wording; shared by every connection.
pub fn settle_become(cmd: &RemoteCommand, out: &mut Output) -> Result<(), ConnError> {
    let Some(b) = &cmd.become_ else {
        return Ok(());
    };
    while let Some(pos) = out
        .stderr
        .windows(BECOME_PROMPT.len())
        .position(|w| w == BECOME_PROMPT.as_bytes())
    {
        out.stderr.drain(pos..pos + BECOME_PROMPT.len());
    }
    if out.rc == 0 {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let method = b.method.as_str();
    let wrong = [
        "Sorry, try again",
        "incorrect password attempt",
        "Authentication failure",
    ];
    if wrong.iter().any(|w| err.contains(w)) {
        return Err(ConnError::Become(format!("Incorrect {method} password")));
    }
    if err.contains("a password is required") || err.contains("no password was provided") {
        return Err(ConnError::Become(format!("Missing {method} password")));
    }
    Ok(())
}

/// What a command reads on its standard input.
#[derive(Debug, Clone, Default)]
pub enum Input {
    #[default]
    Empty,
    Bytes(Vec<u8>),
    /// A controller file, streamed in chunks: a large upload is never held in memory whole.
    File(PathBuf),
}

/// Where a command's standard output goes.
#[derive(Debug, Clone, Copy, Default)]
pub enum Sink<'a> {
    /// Collected into `Output::stdout`.
    #[default]
    Memory,
    /// Written to a controller file as it arrives (downloads); `Output::stdout` stays empty.
    File(&'a Path),
}

/// A command's stdin made ready before it starts: the bytes to send first (the become
/// password, in-memory input) and a file to stream after them. A source file that cannot be
/// opened is an error here, never an empty upload.
pub(crate) async fn prepare_input(
    cmd: &RemoteCommand,
    input: Input,
) -> Result<(Vec<u8>, Option<tokio::fs::File>), ConnError> {
    let mut head = Vec::new();
    if let Some(pw) = cmd.become_.as_ref().and_then(|b| b.password.as_ref()) {
        head.extend_from_slice(pw.as_bytes());
        head.push(b'\n');
    }
    let file = match input {
        Input::Empty => None,
        Input::Bytes(b) => {
            head.extend(b);
            None
        }
        Input::File(path) => Some(tokio::fs::File::open(&path).await.map_err(|e| {
            ConnError::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ))
        })?),
    };
    Ok((head, file))
}

/// Chunk size for streamed input: large enough to keep the channel's window full.
pub const CHUNK: usize = 64 * 1024;

/// A live link to one host.
#[async_trait]
pub trait Connection: Send + Sync {
    /// Runs one command: the become password (when there is one) and then `input` on its
    /// stdin, its stdout into `sink`.
    async fn run(
        &self,
        cmd: &RemoteCommand,
        input: Input,
        sink: Sink<'_>,
    ) -> Result<Output, ConnError>;

    /// Runs one command, feeding `stdin` when given, collecting its output.
    async fn exec(&self, cmd: &RemoteCommand, stdin: Option<Vec<u8>>) -> Result<Output, ConnError> {
        let input = stdin.map_or(Input::Empty, Input::Bytes);
        self.run(cmd, input, Sink::Memory).await
    }

    /// Closes the connection; the next command opens a new one (`meta: reset_connection`).
    async fn reset(&self) {}

    /// Whether the host is the controller itself (affects nothing but messages today).
    fn is_local(&self) -> bool {
        false
    }
}

/// How a file is written by `put`.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// A command run on the new file before it replaces the old; `%s` is the temp file.
    pub validate: Option<String>,
    /// Commands run on the temp file before the move (`chmod 0644 "$t"`...): `"$t"` names it.
    pub on_temp: Vec<String>,
    /// Keep a timestamped copy of the old file, as Ansible's `backup: true`.
    pub backup: bool,
}

/// Printed by `put` when a backup was made, followed by its path.
pub const BACKUP_MARKER: &str = "__kiln_backup__";
/// Printed by `put` when `validate` refused the new content, followed by its exit status.
pub const VALIDATE_MARKER: &str = "__kiln_validate_failed__";

/// Writes `content` to `dest` atomically: into a temp file beside it, then `mv`. The content
/// travels on stdin, never in the command text; an existing file's mode and owner are kept
/// unless `opts` changes them.
pub async fn put(
    conn: &dyn Connection,
    content: Input,
    dest: &str,
    opts: &PutOptions,
    become_: Option<Become>,
) -> Result<Output, ConnError> {
    conn.run(
        &RemoteCommand::new(put_script(dest, opts)).with_become(become_),
        content,
        Sink::Memory,
    )
    .await
}

fn put_script(dest: &str, opts: &PutOptions) -> String {
    let q = quote::quote(dest);
    let dir = parent_dir(dest);
    // The temp file is created 0600 and exclusively (noclobber), so nobody can read the new
    // content early or slip a link in its place; its name is random per write. Each step
    // avoids extra processes: every command a script runs costs the host a fork and exec.
    let temp = quote::quote(&format!("{dir}/.kiln.{}", random_tag()));
    // A requested mode is applied by `on_temp`; otherwise the old file's mode, or for a new
    // file 0666 less the umask: `chmod =rw` without a "who" leaves the umask's bits alone.
    let mode_given = opts.on_temp.iter().any(|c| c.starts_with("chmod "));
    let (keep_mode, default_mode) = if mode_given {
        ("", "")
    } else {
        ("chmod \"${s% *}\" \"$t\"; ", "chmod =rw \"$t\"; ")
    };
    let mut s = format!(
        "set -e; t={temp}; (umask 077; set -C; : > \"$t\"); trap 'rm -f \"$t\"' EXIT; cat >> \"$t\"; \
         if [ -e {q} ]; then s=$(stat -c '%a %u:%g' {q}); {keep_mode}chown \"${{s#* }}\" \"$t\" 2>/dev/null || true; \
         else {default_mode}:; fi; "
    );
    if let Some(v) = &opts.validate {
        let cmd = v.replace("%s", "\"$t\"");
        // The marker carries the command's exit status (Ansible reports it as `rc:N`).
        s.push_str(&format!(
            "r=0; ( {cmd} ) >&2 || r=$?; if [ $r -ne 0 ]; then echo {VALIDATE_MARKER}$r; exit 1; fi; "
        ));
    }
    for c in &opts.on_temp {
        s.push_str(c);
        s.push_str("; ");
    }
    if opts.backup {
        s.push_str(&format!(
            "if [ -e {q} ]; then b={q}.$$.$(date +%Y-%m-%d@%H:%M:%S~); cp -p {q} \"$b\"; echo {BACKUP_MARKER}\"$b\"; fi; "
        ));
    }
    s.push_str(&format!("mv -f \"$t\" {q}; trap - EXIT"));
    s
}

/// Downloads a remote file into the controller file `local` as it arrives, so its size is
/// not bounded by memory. The caller picks `local` (a temp file it renames when done).
pub async fn get_to_file(
    conn: &dyn Connection,
    src: &str,
    local: &Path,
    become_: Option<Become>,
) -> Result<Output, ConnError> {
    let script = format!("cat {}", quote::quote(src));
    conn.run(
        &RemoteCommand::new(script).with_become(become_),
        Input::Empty,
        Sink::File(local),
    )
    .await
}
