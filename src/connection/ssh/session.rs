//! One SSH session per host, opened on first use and kept for the whole run; each command is
//! a channel on it. A session that dropped between commands is opened again transparently.

use super::known_hosts::{self, Policy, Verdict};
use crate::connection::{
    BECOME_PROMPT, CHUNK, ConnError, Connection, Input, NEEDS_TTY, Output, RemoteCommand, Sink,
    TtyFrame, prepare_input, settle_become,
};
use async_trait::async_trait;
use russh::client::{self, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect, Pty};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Everything needed to reach one host, resolved from inventory variables, options and
/// ssh_config (see `resolve.rs`).
#[derive(Debug, Clone)]
pub struct SshTarget {
    /// The inventory name, for messages.
    pub alias: String,
    /// What is connected to (address or DNS name).
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Key files to offer, in order, after the agent's keys.
    pub identity_files: Vec<PathBuf>,
    /// Only offer the keys of `identity_files` (agent keys too, but only those).
    pub identities_only: bool,
    pub password: Option<String>,
    pub connect_timeout: Duration,
    pub keepalive: Option<Duration>,
    pub policy: Policy,
    /// known_hosts files read for verification; new keys are recorded in the first.
    pub known_hosts: Vec<PathBuf>,
    /// Record new keys hashed (`HashKnownHosts yes`).
    pub hash_known_hosts: bool,
    /// Hosts to go through first (`ProxyJump a,b`), outermost first.
    pub jumps: Vec<SshTarget>,
}

impl SshTarget {
    fn describe(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// Why the server's key was refused, kept by the handler for the error message.
type KeyProblem = Arc<Mutex<Option<String>>>;

/// Why a session ended, as its handler heard it: russh only tells the commands waiting on
/// the session that it is gone ("Disconnected"), not whether the host closed it, the TCP
/// connection failed or keepalives went unanswered.
type Ended = Arc<Mutex<Option<String>>>;

struct Verifier {
    host: String,
    port: u16,
    policy: Policy,
    files: Vec<PathBuf>,
    hash: bool,
    problem: KeyProblem,
    keepalive: Option<Duration>,
    ended: Ended,
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let why = match &reason {
            client::DisconnectReason::ReceivedDisconnect(info) if info.message.is_empty() => {
                "the host closed the session".to_string()
            }
            client::DisconnectReason::ReceivedDisconnect(info) => {
                format!("the host closed the session: {}", info.message)
            }
            client::DisconnectReason::Error(russh::Error::KeepaliveTimeout) => match self.keepalive
            {
                Some(d) => format!(
                    "the host answered none of {KEEPALIVE_MAX} keepalives sent {}s apart",
                    d.as_secs()
                ),
                None => "the host stopped answering keepalives".to_string(),
            },
            client::DisconnectReason::Error(e) => connect_error(e),
        };
        if let Ok(mut slot) = self.ended.lock() {
            *slot = Some(why);
        }
        match reason {
            client::DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            client::DisconnectReason::Error(e) => Err(e),
        }
    }

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if self.policy == Policy::Off {
            return Ok(true);
        }
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(_) => {
                if let Ok(mut p) = self.problem.lock() {
                    *p = Some("the host offers a certificate; host certificates (@cert-authority) are not supported yet".into());
                }
                return Ok(false);
            }
        };
        let refuse = |why: String| {
            if let Ok(mut p) = self.problem.lock() {
                *p = Some(why);
            }
            Ok(false)
        };
        let fingerprint = key.fingerprint(russh::keys::HashAlg::Sha256).to_string();
        match known_hosts::check(&self.files, &self.host, self.port, key) {
            Verdict::Known => Ok(true),
            Verdict::Revoked { file, line } => refuse(format!(
                "the host key {fingerprint} is marked @revoked in {}:{line}",
                file.display()
            )),
            Verdict::Changed {
                file,
                line,
                old_fingerprint,
                new_fingerprint,
            } => refuse(format!(
                "REMOTE HOST IDENTIFICATION HAS CHANGED: the host now offers {new_fingerprint}, \
                 but {}:{line} records {old_fingerprint} for it; if the change is expected, \
                 remove that line",
                file.display()
            )),
            Verdict::Unknown => match self.policy {
                Policy::AcceptNew => {
                    let Some(file) = self.files.first() else {
                        return refuse("no known_hosts file to record the new key in".into());
                    };
                    match known_hosts::record(file, &self.host, self.port, key, self.hash) {
                        Ok(_) => Ok(true),
                        Err(e) => refuse(format!(
                            "could not record the host key in {}: {e}",
                            file.display()
                        )),
                    }
                }
                _ => refuse(format!(
                    "the host key {fingerprint} is not in {} and host key checking is strict; \
                     add it (ssh-keyscan), or set ANSIBLE_HOST_KEY_CHECKING=accept-new",
                    self.files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            },
        }
    }
}

/// A key file's outcome: the key, or why it cannot be used.
type LoadedKey = Result<Arc<PrivateKey>, String>;

/// Private keys read once per run, shared by every host (a passphrase is asked once).
static KEYS: LazyLock<tokio::sync::Mutex<HashMap<PathBuf, LoadedKey>>> =
    LazyLock::new(Default::default);

async fn load_key(path: &PathBuf) -> LoadedKey {
    let mut cache = KEYS.lock().await;
    if let Some(k) = cache.get(path) {
        return k.clone();
    }
    let loaded = match russh::keys::load_secret_key(path, None) {
        Ok(k) => Ok(Arc::new(k)),
        Err(russh::keys::Error::KeyIsEncrypted) => ask_passphrase(path),
        Err(e) => Err(format!("{}: {e}", path.display())),
    };
    cache.insert(path.clone(), loaded.clone());
    loaded
}

/// A passphrase-protected key is only usable when someone can type its passphrase; with no
/// terminal (CI) it is skipped with a reason rather than hanging the run.
fn ask_passphrase(path: &PathBuf) -> LoadedKey {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "{} is passphrase-protected and there is no terminal to ask for it (load it into ssh-agent)",
            path.display()
        ));
    }
    let prompt = format!("Enter passphrase for key '{}': ", path.display());
    let pass = rpassword::prompt_password(prompt).map_err(|e| e.to_string())?;
    russh::keys::load_secret_key(path, Some(&pass))
        .map(Arc::new)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The key files OpenSSH tries when none is configured.
pub fn default_identity_files(home: &std::path::Path) -> Vec<PathBuf> {
    ["id_rsa", "id_ecdsa", "id_ed25519"]
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .collect()
}

type Session = Handle<Verifier>;

/// Unanswered keepalives after which a session counts as dead.
const KEEPALIVE_MAX: usize = 3;

fn client_config(t: &SshTarget) -> Arc<client::Config> {
    Arc::new(client::Config {
        // Without keepalives a dead host is only noticed by TCP, minutes later.
        keepalive_interval: t.keepalive,
        keepalive_max: KEEPALIVE_MAX,
        nodelay: true,
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(cipher_order(aes_accelerated())),
            ..Default::default()
        },
        ..Default::default()
    })
}

/// The ciphers offered, most wanted first. Where the CPU has AES and carry-less multiply
/// instructions, AES-GCM goes first: both ends then encrypt several times faster than with
/// ChaCha20-Poly1305 (in a profile of a 100 MB copy, ChaCha20 and Poly1305 were a fifth of
/// kiln's CPU). Both are AEAD ciphers OpenSSH offers by default; without the instructions,
/// ChaCha20-Poly1305 is the faster and keeps its place.
fn cipher_order(aes_fast: bool) -> &'static [russh::cipher::Name] {
    use russh::cipher::{AES_128_CTR, AES_192_CTR, AES_256_CTR, AES_256_GCM, CHACHA20_POLY1305};
    if aes_fast {
        &[
            AES_256_GCM,
            CHACHA20_POLY1305,
            AES_256_CTR,
            AES_192_CTR,
            AES_128_CTR,
        ]
    } else {
        &[
            CHACHA20_POLY1305,
            AES_256_GCM,
            AES_256_CTR,
            AES_192_CTR,
            AES_128_CTR,
        ]
    }
}

fn aes_accelerated() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

fn verifier(t: &SshTarget, problem: &KeyProblem, ended: &Ended) -> Verifier {
    Verifier {
        host: t.host.clone(),
        port: t.port,
        policy: t.policy,
        files: t.known_hosts.clone(),
        hash: t.hash_known_hosts,
        problem: problem.clone(),
        keepalive: t.keepalive,
        ended: ended.clone(),
    }
}

/// A session and the jump-host sessions its tunnel runs through: those must live as long.
struct Opened {
    session: Session,
    via: Vec<Session>,
}

/// Opens and authenticates a session to `t`, through its jump hosts when it has any; why
/// the session ends goes to `ended`.
fn open<'a>(
    t: &'a SshTarget,
    ended: &'a Ended,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Opened, ConnError>> + Send + 'a>> {
    Box::pin(async move {
        let problem: KeyProblem = Arc::default();
        let config = client_config(t);
        let mut via = Vec::new();
        let connecting = async {
            match t.jumps.split_last() {
                None => client::connect(
                    config,
                    (t.host.as_str(), t.port),
                    verifier(t, &problem, ended),
                )
                .await
                .map_err(|e| connect_error(&e)),
                Some((last, before)) => {
                    let mut hop = last.clone();
                    hop.jumps = before.to_vec();
                    let opened = open(&hop, &Ended::default())
                        .await
                        .map_err(|e| format!("through {}: {e}", hop.alias))?;
                    let channel = opened
                        .session
                        .channel_open_direct_tcpip(
                            t.host.clone(),
                            u32::from(t.port),
                            "127.0.0.1",
                            0,
                        )
                        .await
                        .map_err(|e| {
                            format!("{} cannot open a tunnel: {}", hop.alias, connect_error(&e))
                        })?;
                    via.extend(opened.via);
                    via.push(opened.session);
                    client::connect_stream(
                        config,
                        channel.into_stream(),
                        verifier(t, &problem, ended),
                    )
                    .await
                    .map_err(|e| connect_error(&e))
                }
            }
        };
        let mut session = match tokio::time::timeout(t.connect_timeout, connecting).await {
            Err(_) => {
                return Err(ConnError::Unreachable(format!(
                    "connecting to {} timed out after {:?}",
                    t.describe(),
                    t.connect_timeout
                )));
            }
            Ok(Err(why)) => {
                let key = problem.lock().ok().and_then(|p| p.clone());
                return Err(ConnError::Unreachable(match key {
                    Some(k) => format!("host key verification failed for {}: {k}", t.describe()),
                    None => format!("cannot connect to {}: {why}", t.describe()),
                }));
            }
            Ok(Ok(s)) => s,
        };
        authenticate(&mut session, t).await?;
        Ok(Opened { session, via })
    })
}

fn connect_error(e: &russh::Error) -> String {
    match e {
        russh::Error::IO(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
            std::io::ErrorKind::TimedOut => "timed out".into(),
            std::io::ErrorKind::ConnectionReset => "the connection was reset".into(),
            std::io::ErrorKind::UnexpectedEof => "the host closed the connection".into(),
            _ => io.to_string(),
        },
        russh::Error::Disconnect => "the host closed the connection".into(),
        other => other.to_string(),
    }
}

/// Tries what OpenSSH tries, in its order: the agent's keys, the key files, then the password.
/// A failure names every method tried and why each did not work.
async fn authenticate(session: &mut Session, t: &SshTarget) -> Result<(), ConnError> {
    let mut tried: Vec<String> = Vec::new();
    let rsa_hash = session
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    let mut wanted_public: Vec<PublicKey> = Vec::new();
    let mut files: Vec<(PathBuf, Result<Arc<PrivateKey>, String>)> = Vec::new();
    for f in &t.identity_files {
        if !f.exists() {
            continue;
        }
        let k = load_key(f).await;
        if let Ok(k) = &k {
            wanted_public.push(k.public_key().clone());
        } else if let Ok(text) = std::fs::read_to_string(f.with_extension("pub"))
            && let Ok(p) = PublicKey::from_openssh(text.trim())
        {
            // The agent may hold an encrypted key whose public half sits beside it.
            wanted_public.push(p);
        }
        files.push((f.clone(), k));
    }
    if let Ok(mut agent) = AgentClient::connect_env().await {
        match agent.request_identities().await {
            Ok(ids) => {
                for id in ids {
                    let AgentIdentity::PublicKey { key, comment } = id else {
                        continue;
                    };
                    if t.identities_only
                        && !wanted_public.iter().any(|w| w.key_data() == key.key_data())
                    {
                        continue;
                    }
                    let hash = if key.algorithm().is_rsa() {
                        rsa_hash
                    } else {
                        None
                    };
                    match session
                        .authenticate_publickey_with(t.user.clone(), key.clone(), hash, &mut agent)
                        .await
                    {
                        Ok(r) if r.success() => return Ok(()),
                        Ok(_) => tried.push(format!("publickey (agent: {comment}): refused")),
                        Err(e) => tried.push(format!("publickey (agent: {comment}): {e}")),
                    }
                }
            }
            Err(e) => tried.push(format!("ssh-agent: {e}")),
        }
    }
    for (path, key) in files {
        match key {
            Ok(k) => {
                let hash = if k.algorithm().is_rsa() {
                    rsa_hash
                } else {
                    None
                };
                match session
                    .authenticate_publickey(t.user.clone(), PrivateKeyWithHashAlg::new(k, hash))
                    .await
                {
                    Ok(r) if r.success() => return Ok(()),
                    Ok(_) => tried.push(format!("publickey ({}): refused", path.display())),
                    Err(e) => tried.push(format!("publickey ({}): {e}", path.display())),
                }
            }
            Err(why) => tried.push(format!("publickey: {why}")),
        }
    }
    if let Some(pw) = &t.password {
        match session
            .authenticate_password(t.user.clone(), pw.clone())
            .await
        {
            Ok(r) if r.success() => return Ok(()),
            Ok(_) => tried.push("password: refused".into()),
            Err(e) => tried.push(format!("password: {e}")),
        }
    }
    if tried.is_empty() {
        tried.push("none: no agent, no key file and no password to offer".into());
    }
    Err(ConnError::Unreachable(format!(
        "authentication failed for {}; tried: {}",
        t.describe(),
        tried.join("; ")
    )))
}

/// The `ssh` connection to one host.
pub struct Ssh {
    target: SshTarget,
    /// Set once sudo has said `requiretty`: later become commands go straight to a terminal.
    needs_tty: AtomicBool,
    session: tokio::sync::Mutex<Option<(Arc<Session>, Vec<Session>)>>,
    /// Why the current session ended, for the message of the command that finds it gone.
    ended: Ended,
}

impl Ssh {
    pub fn new(target: SshTarget) -> Ssh {
        Ssh {
            target,
            needs_tty: AtomicBool::new(false),
            session: tokio::sync::Mutex::new(None),
            ended: Ended::default(),
        }
    }

    /// A command's error when the session went away under it, with why when the session's
    /// handler heard it.
    fn dropped(&self, e: Option<russh::Error>) -> ConnError {
        let why = self.ended.lock().ok().and_then(|w| w.clone());
        ConnError::Unreachable(match (why, e) {
            (Some(why), _) => format!("the connection to {} dropped: {why}", self.target.alias),
            (None, Some(e)) => format!("the connection to {} dropped: {e}", self.target.alias),
            (None, None) => format!(
                "the connection to {} dropped while a command ran",
                self.target.alias
            ),
        })
    }

    /// The live session, opening it (again) when there is none or it has dropped.
    async fn session(&self) -> Result<Arc<Session>, ConnError> {
        let mut slot = self.session.lock().await;
        if let Some((s, _)) = slot.as_ref()
            && !s.is_closed()
        {
            return Ok(s.clone());
        }
        if let Ok(mut why) = self.ended.lock() {
            *why = None;
        }
        let opened = open(&self.target, &self.ended).await?;
        let s = Arc::new(opened.session);
        *slot = Some((s.clone(), opened.via));
        Ok(s)
    }

    async fn run_on(
        &self,
        session: &Session,
        text: &str,
        head: Vec<u8>,
        file: Option<tokio::fs::File>,
        sink: Sink<'_>,
    ) -> Result<Output, ConnError> {
        let dropped = |e: russh::Error| self.dropped(Some(e));
        let mut local = match sink {
            Sink::Memory => None,
            Sink::File(path) => Some(tokio::fs::File::create(path).await?),
        };
        let channel = session.channel_open_session().await.map_err(dropped)?;
        channel.exec(true, text.as_bytes()).await.map_err(dropped)?;
        let (mut read, write) = channel.split();
        let feed = async move {
            // A command that exits without reading its input is not an error, so write
            // failures only end the feeding. `data` waits for the channel's window: a large
            // file goes out a chunk at a time.
            if write.data(&head[..]).await.is_ok()
                && let Some(mut f) = file
            {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    match f.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if write.data(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
            let _ = write.eof().await;
        };
        let collect = async {
            let mut out = Output::default();
            let mut status = None;
            let mut write_error = None;
            while let Some(msg) = read.wait().await {
                match msg {
                    ChannelMsg::Data { data } => match local.as_mut() {
                        None => out.stdout.extend_from_slice(&data),
                        Some(f) => {
                            if write_error.is_none()
                                && let Err(e) = f.write_all(&data).await
                            {
                                write_error = Some(e);
                            }
                        }
                    },
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        out.stderr.extend_from_slice(&data)
                    }
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status as i32),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        out.stderr.extend_from_slice(
                            format!("killed by signal {signal_name:?}\n").as_bytes(),
                        );
                        status = Some(-1);
                    }
                    _ => {}
                }
            }
            if let Some(f) = local.as_mut()
                && write_error.is_none()
                && let Err(e) = f.flush().await
            {
                write_error = Some(e);
            }
            (out, status, write_error)
        };
        let ((), (mut out, status, write_error)) = tokio::join!(feed, collect);
        let Some(rc) = status else {
            return Err(self.dropped(None));
        };
        if let Some(e) = write_error {
            return Err(ConnError::Io(e));
        }
        out.rc = rc;
        Ok(out)
    }
}

impl Ssh {
    /// Runs a become command on a terminal, for sudoers' `requiretty` and for `su` with a
    /// password: the password is typed when the prompt appears (never before: sudo flushes
    /// early input), the command's stdin is sent once it has started, and its stdout and
    /// stderr are told apart by the markers of [`TtyFrame`]. The terminal is raw (no echo,
    /// no line editing, no output translation), so bytes pass unchanged.
    async fn run_tty(
        &self,
        session: &Session,
        cmd: &RemoteCommand,
        input: Input,
        sink: Sink<'_>,
    ) -> Result<Output, ConnError> {
        let (stdin_len, bytes, file) = match input {
            Input::Empty => (0, Vec::new(), None),
            Input::Bytes(b) => (b.len() as u64, b, None),
            Input::File(path) => {
                let f = tokio::fs::File::open(&path).await.map_err(|e| {
                    ConnError::Io(std::io::Error::new(
                        e.kind(),
                        format!("{}: {e}", path.display()),
                    ))
                })?;
                (f.metadata().await?.len(), Vec::new(), Some(f))
            }
        };
        let frame = TtyFrame::new();
        let text = cmd.tty_text(&frame, stdin_len)?;
        let Some(b) = cmd.become_.clone() else {
            return Err(ConnError::Unsupported(
                "a terminal is only used for become".into(),
            ));
        };
        let dropped = |e: russh::Error| self.dropped(Some(e));
        let channel = session.channel_open_session().await.map_err(dropped)?;
        let raw = [
            (Pty::ECHO, 0),
            (Pty::ICANON, 0),
            (Pty::ISIG, 0),
            (Pty::IEXTEN, 0),
            (Pty::IXON, 0),
            (Pty::ICRNL, 0),
            (Pty::OPOST, 0),
        ];
        channel
            .request_pty(true, "dumb", 200, 50, 0, 0, &raw)
            .await
            .map_err(dropped)?;
        channel.exec(true, text.as_bytes()).await.map_err(dropped)?;
        let (mut read, write) = channel.split();
        let mut write = Some(write);
        let start = format!("{}\n", frame.start);
        let mut pre: Vec<u8> = Vec::new();
        let mut body: Vec<u8> = Vec::new();
        let mut started = false;
        let mut answered = 0usize;
        let mut status = None;
        let mut feeder = None;
        let mut stdin = Some((bytes, file));
        // Become must answer within the connect timeout, as Ansible's become prompt wait.
        let deadline = tokio::time::Instant::now() + self.target.connect_timeout;
        loop {
            let msg = if started {
                read.wait().await
            } else {
                match tokio::time::timeout_at(deadline, read.wait()).await {
                    Ok(m) => m,
                    Err(_) => {
                        return Err(ConnError::Become(format!(
                            "Timeout ({}s) waiting for privilege escalation prompt",
                            self.target.connect_timeout.as_secs()
                        )));
                    }
                }
            };
            let Some(msg) = msg else { break };
            match msg {
                ChannelMsg::Data { data } if started => body.extend_from_slice(&data),
                ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => {
                    pre.extend_from_slice(&data);
                    if let Some(pos) = find(&pre, start.as_bytes()) {
                        started = true;
                        body.extend_from_slice(&pre[pos + start.len()..]);
                        pre.truncate(pos);
                        if let Some(w) = write.take()
                            && let Some((bytes, file)) = stdin.take()
                        {
                            feeder = Some(tokio::spawn(async move {
                                if w.data(&bytes[..]).await.is_ok()
                                    && let Some(mut f) = file
                                {
                                    let mut buf = vec![0u8; CHUNK];
                                    while let Ok(n) = f.read(&mut buf).await {
                                        if n == 0 || w.data(&buf[..n]).await.is_err() {
                                            break;
                                        }
                                    }
                                }
                                w
                            }));
                        }
                        continue;
                    }
                    let prompts = if b.method == "sudo" {
                        count(&pre, BECOME_PROMPT.as_bytes())
                    } else {
                        // su's prompt is localised ("Password:", "Passwort:"): a line that
                        // ends in a colon, waiting for input.
                        usize::from(String::from_utf8_lossy(&pre).trim_end().ends_with(':'))
                            .max(answered.min(1))
                    };
                    if prompts > answered {
                        let Some(w) = write.as_ref() else { continue };
                        if answered > 0 {
                            // Asked again: the password was refused.
                            let _ = w.close().await;
                            return Err(ConnError::Become(format!(
                                "Incorrect {} password",
                                b.method
                            )));
                        }
                        let pw = b.password.clone().unwrap_or_default();
                        let _ = w.data(format!("{pw}\n").as_bytes()).await;
                        answered = prompts;
                    }
                }
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status as i32),
                ChannelMsg::ExitSignal { .. } => status = Some(-1),
                _ => {}
            }
        }
        if let Some(f) = feeder {
            let _ = f.await;
        }
        let Some(rc) = status else {
            return Err(self.dropped(None));
        };
        if !started {
            let said = String::from_utf8_lossy(&pre).replace(BECOME_PROMPT, "");
            let method = &b.method;
            if answered > 0
                && ["Authentication failure", "Sorry", "incorrect password"]
                    .iter()
                    .any(|w| said.contains(w))
            {
                return Err(ConnError::Become(format!("Incorrect {method} password")));
            }
            if said.contains("a password is required") {
                return Err(ConnError::Become(format!("Missing {method} password")));
            }
            return Err(ConnError::Become(format!(
                "{method} failed: {}",
                said.trim()
            )));
        }
        let marker = format!("{}\n", frame.stderr);
        let (stdout, stderr) = match rfind(&body, marker.as_bytes()) {
            Some(pos) => (body[..pos].to_vec(), body[pos + marker.len()..].to_vec()),
            None => (body, Vec::new()),
        };
        let stdout = match sink {
            Sink::Memory => stdout,
            Sink::File(path) => {
                tokio::fs::write(path, &stdout).await?;
                Vec::new()
            }
        };
        Ok(Output { rc, stdout, stderr })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

#[async_trait]
impl Connection for Ssh {
    async fn run(
        &self,
        cmd: &RemoteCommand,
        input: Input,
        sink: Sink<'_>,
    ) -> Result<Output, ConnError> {
        let session = self.session().await?;
        let tty = cmd.become_.is_some()
            && (cmd.become_needs_tty() || self.needs_tty.load(Ordering::Relaxed));
        let running = async {
            if tty {
                return self.run_tty(&session, cmd, input, sink).await;
            }
            let text = cmd.shell_text()?;
            // Kept for a second try on a terminal if sudoers turns out to say `requiretty`.
            let again = cmd.become_.is_some().then(|| input.clone());
            let (head, file) = prepare_input(cmd, input).await?;
            let mut out = self.run_on(&session, &text, head, file, sink).await?;
            if let Some(input) = again
                && out.rc != 0
                && String::from_utf8_lossy(&out.stderr).contains(NEEDS_TTY)
            {
                // Nothing ran: sudo refused before starting the command.
                self.needs_tty.store(true, Ordering::Relaxed);
                return self.run_tty(&session, cmd, input, sink).await;
            }
            settle_become(cmd, &mut out)?;
            Ok(out)
        };
        match cmd.timeout {
            Some(t) => tokio::time::timeout(t, running)
                .await
                .map_err(|_| ConnError::Timeout(t))?,
            None => running.await,
        }
    }

    async fn reset(&self) {
        let old = self.session.lock().await.take();
        if let Some((s, _via)) = old {
            let _ = s.disconnect(Disconnect::ByApplication, "", "en").await;
        }
    }
}

impl Drop for Ssh {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.session.try_lock()
            && let Some((s, _via)) = slot.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = s.disconnect(Disconnect::ByApplication, "", "en").await;
            });
        }
    }
}
