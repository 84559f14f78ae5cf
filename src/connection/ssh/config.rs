//! ssh_config, as OpenSSH reads it, for one target host.
//!
//! The rules followed here are OpenSSH's (readconf.c), so a `~/.ssh/config` that works with
//! `ssh` means the same to kiln:
//!
//! - `Keyword value`, `Keyword=value` or `Keyword = value`; keywords are case-insensitive;
//!   arguments may be quoted (`"..."` or `'...'`, with `\"`, `\'`, `\\` and `\ ` escapes); a word
//!   starting with `#` ends the line.
//! - The first value obtained for an option wins: command-line values, then the user's file,
//!   then the system file, top to bottom. `IdentityFile` accumulates instead;
//!   `UserKnownHostsFile` takes several files on one line, and its first active line wins as a
//!   whole.
//! - `Host` lines match the host as given (the inventory name or `ansible_host`), case
//!   sensitively; `Match host` matches the `HostName` obtained so far. `Match final` asks for a
//!   second pass over the files once `HostName` is known, in which `Host` lines match that name.
//! - `Include` is relative to `~/.ssh` (user files) or the system file's directory; globs `*` and
//!   `?` are expanded; an `Include` inside an inactive block is parsed but applies nothing, and
//!   `Host`/`Match` lines in an included file do not leak into the including one.
//!
//! Options kiln does not act on are listed in [`HostConfig::unsupported`] (only where they
//! apply to this host), so the caller can say once that they are ignored. Syntax errors, even in
//! blocks for other hosts, are errors, as in OpenSSH.
//!
//! Not done: `Match exec`, `localnetwork`, `version`, `tagged`, `command` and `sessiontype`
//! cannot be evaluated here; such a `Match` block never applies (and is listed as unsupported).
//! `${VAR}` environment expansion, `~otheruser`, `[...]` classes in `Include` globs and the
//! ownership/permission check OpenSSH makes on config files are not implemented.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

use super::known_hosts::{ListMatch, match_pattern_list, wildcard_match};

/// OpenSSH's limit on nested `Include`s.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Stands for the file name of options given with `-o` (their line is their position).
pub const COMMAND_LINE: &str = "<command line>";

/// The ssh_config options kiln uses, resolved for one host.
///
/// `hostname`, `identity_files`, `user_known_hosts_files` and `proxy_command` have their `%`
/// tokens and `~` expanded. `ProxyJump none` and `ProxyCommand none` come out as `None`;
/// `UserKnownHostsFile none` comes out as `/dev/null`, which is what it means.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_files: Vec<PathBuf>,
    pub identities_only: Option<bool>,
    pub proxy_jump: Option<String>,
    pub proxy_command: Option<String>,
    /// Seconds.
    pub connect_timeout: Option<u64>,
    /// Seconds.
    pub server_alive_interval: Option<u64>,
    /// Lowercased: `yes`, `no`, `ask`, `accept-new`, `off`, `true` or `false`.
    pub strict_host_key_checking: Option<String>,
    pub user_known_hosts_files: Vec<PathBuf>,
    pub unsupported: Vec<Unsupported>,
}

/// An option that applies to this host but that kiln ignores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Lowercased, so that the same option spelled differently is reported once; a `Match`
    /// criterion is reported as `match exec` (etc.).
    pub keyword: String,
    /// [`COMMAND_LINE`] for `-o` options.
    pub file: PathBuf,
    pub line: usize,
}

/// What `ansible_ssh_common_args` / `ansible_ssh_extra_args` ask of ssh.
///
/// [`load_with_args`] applies `-p`, `-l`, `-i` and `-J` first, then the `-o` lines, then the
/// files. ssh applies flags in command-line order instead; the two differ only for a string
/// that sets the same option both ways (say `-o User=a -l b`), where kiln takes the flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommonArgs {
    /// `-F`: read this file instead of the user and system files (`none`: no file at all).
    pub config_file: Option<PathBuf>,
    /// `-o` options, as config lines (`Key=Value`), in order. They come before every file, so
    /// they win.
    pub options: Vec<String>,
    /// `-i`, in order; they come before the config's `IdentityFile`s.
    pub identity_files: Vec<PathBuf>,
    /// `-p` (the first one, as ssh).
    pub port: Option<u16>,
    /// `-l` (the first one, as ssh).
    pub user: Option<String>,
    /// `-J`.
    pub proxy_jump: Option<String>,
    /// Every other flag or word, with its argument if it takes one (`-v`, `-L 8080:h:80`),
    /// once each.
    pub unsupported: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read ssh config `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}:{line}: {problem}", file.display())]
    Line {
        file: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("ssh arguments: {0}")]
    Args(String),
}

/// Reads one user config file (`~/.ssh/config`, or one given by `-F`) for `host`. A missing
/// file is an empty config.
pub fn load(
    path: &Path,
    host: &str,
    home: &Path,
    local_user: &str,
) -> Result<HostConfig, ConfigError> {
    load_with_args(path, None, host, home, local_user, &CommonArgs::default())
}

/// Reads the user config, then the system config (if given), with command-line arguments first,
/// as `ssh` does. If `args` has `-F`, only that file is read and it must exist.
pub fn load_with_args(
    user_config: &Path,
    system_config: Option<&Path>,
    host: &str,
    home: &Path,
    local_user: &str,
    args: &CommonArgs,
) -> Result<HostConfig, ConfigError> {
    let mut files = Vec::new();
    match &args.config_file {
        Some(file) if file.as_os_str() == "none" => {}
        Some(file) => files.push(Source {
            path: file.clone(),
            scope: Scope::User,
            required: true,
        }),
        None => {
            files.push(Source {
                path: user_config.to_path_buf(),
                scope: Scope::User,
                required: false,
            });
            if let Some(system) = system_config {
                files.push(Source {
                    path: system.to_path_buf(),
                    scope: Scope::System(system.parent().unwrap_or(Path::new("/")).to_path_buf()),
                    required: false,
                });
            }
        }
    }

    let mut parser = Parser {
        ctx: Ctx {
            host_arg: host,
            home,
            local_user,
            final_host: None,
        },
        state: State::default(),
    };
    parser.seed(args)?;
    for source in &files {
        parser.read_source(source)?;
    }
    if parser.state.want_final {
        // As ssh: once the host name is settled, read the files again; blocks that match only
        // now (`Match final`, `Host` patterns for the real name) add what is still unset.
        let host = parser.target_host()?;
        parser.ctx.final_host = Some(host);
        for source in &files {
            parser.read_source(source)?;
        }
    }
    parser.finish()
}

/// Splits Ansible's `ansible_ssh_common_args`/`ansible_ssh_extra_args` as a POSIX shell would
/// (Python's `shlex.split`, which Ansible uses) and reads the ssh flags kiln understands.
pub fn parse_common_args(args: &str) -> Result<CommonArgs, ConfigError> {
    // ssh's getopt string: these letters take an argument.
    const TAKES_ARG: &str = "BbcDEeFIiJLlmOoPpQRSWw";
    let words = shell_split(args).map_err(ConfigError::Args)?;
    let mut out = CommonArgs::default();
    let mut unsupported = Vec::new();
    let mut i = 0;
    while let Some(word) = words.get(i) {
        i += 1;
        if word == "--" {
            unsupported.extend(words[i..].iter().cloned());
            break;
        }
        let Some(flags) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
            unsupported.push(word.clone());
            continue;
        };
        for (pos, flag) in flags.char_indices() {
            if !TAKES_ARG.contains(flag) {
                unsupported.push(format!("-{flag}"));
                continue;
            }
            // getopt: the rest of the word is the argument, or else the next word is.
            let attached = &flags[pos + flag.len_utf8()..];
            let value = if attached.is_empty() {
                let next = words
                    .get(i)
                    .ok_or_else(|| ConfigError::Args(format!("`-{flag}` needs an argument")))?;
                i += 1;
                next.clone()
            } else {
                attached.to_owned()
            };
            match flag {
                'F' => out.config_file = Some(PathBuf::from(value)),
                'o' => {
                    check_option_line(&value, out.options.len() + 1)?;
                    out.options.push(value);
                }
                'i' => out.identity_files.push(PathBuf::from(value)),
                'p' => {
                    let port = parse_port(&value)
                        .ok_or_else(|| ConfigError::Args(format!("bad port `{value}`")))?;
                    out.port.get_or_insert(port);
                }
                'l' => {
                    out.user.get_or_insert(value);
                }
                'J' => {
                    if out.proxy_jump.is_some() {
                        return Err(ConfigError::Args(
                            "only one `-J` is allowed (separate jump hosts with commas)".into(),
                        ));
                    }
                    check_jump(&value).map_err(ConfigError::Args)?;
                    out.proxy_jump = Some(value);
                }
                _ => unsupported.push(format!("-{flag} {value}")),
            }
            break;
        }
    }
    if out.proxy_jump.is_some() {
        let proxied = out.options.iter().any(|line| match split_line(line) {
            Ok(Some(l)) => l.keyword == "proxycommand" || l.keyword == "proxyjump",
            _ => false,
        });
        if proxied {
            return Err(ConfigError::Args(
                "`-J` cannot be combined with `-o ProxyCommand` or `-o ProxyJump`".into(),
            ));
        }
    }
    for item in unsupported {
        if !out.unsupported.contains(&item) {
            out.unsupported.push(item);
        }
    }
    Ok(out)
}

/// Validates one `-o` line fully, so a bad one fails when the arguments are read.
fn check_option_line(line: &str, index: usize) -> Result<(), ConfigError> {
    let mut scratch = Parser {
        ctx: Ctx {
            host_arg: "",
            home: Path::new(""),
            local_user: "",
            final_host: None,
        },
        state: State::default(),
    };
    scratch.command_line_option(line, index)
}

/// Where a file's options come from; decides what `Include` may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// `-o`: `Host`, `Match` and `Include` are refused.
    CommandLine,
    /// Relative `Include`s are under `~/.ssh`.
    User,
    /// Relative `Include`s are under this directory, and `~` is refused.
    System(PathBuf),
}

struct Source {
    path: PathBuf,
    scope: Scope,
    required: bool,
}

/// What is fixed for the whole lookup.
struct Ctx<'a> {
    /// The host as given, before `HostName`.
    host_arg: &'a str,
    home: &'a Path,
    local_user: &'a str,
    /// Set during the final pass: the settled, lowercased target host.
    final_host: Option<String>,
}

/// A value with the line it came from, for errors found when it is expanded.
#[derive(Debug, Clone)]
struct At {
    value: String,
    file: PathBuf,
    line: usize,
}

impl At {
    fn err(&self, problem: impl Into<String>) -> ConfigError {
        ConfigError::Line {
            file: self.file.clone(),
            line: self.line,
            problem: problem.into(),
        }
    }
}

/// Options obtained so far. `None` means not yet set, so the next value wins.
#[derive(Debug, Default)]
struct State {
    hostname: Option<At>,
    port: Option<u16>,
    user: Option<String>,
    identity_files: Vec<At>,
    identities_only: Option<bool>,
    /// May be `none`.
    proxy_jump: Option<String>,
    /// May be `none`, also when set on behalf of `ProxyJump`.
    proxy_command: Option<At>,
    connect_timeout: Option<u64>,
    server_alive_interval: Option<u64>,
    strict_host_key_checking: Option<String>,
    user_known_hosts_files: Option<Vec<At>>,
    unsupported: Vec<Unsupported>,
    want_final: bool,
}

/// Where a line is, and what applies while reading it.
struct Place<'p> {
    file: &'p Path,
    line: usize,
    scope: &'p Scope,
    depth: usize,
    /// Inside an `Include` from an inactive block: check syntax, apply nothing.
    never_match: bool,
}

impl Place<'_> {
    fn err(&self, problem: impl Into<String>) -> ConfigError {
        ConfigError::Line {
            file: self.file.to_path_buf(),
            line: self.line,
            problem: problem.into(),
        }
    }

    fn at(&self, value: impl Into<String>) -> At {
        At {
            value: value.into(),
            file: self.file.to_path_buf(),
            line: self.line,
        }
    }
}

struct Parser<'a> {
    ctx: Ctx<'a>,
    state: State,
}

impl Parser<'_> {
    /// Command-line values come first, so they win.
    fn seed(&mut self, args: &CommonArgs) -> Result<(), ConfigError> {
        let file = PathBuf::from(COMMAND_LINE);
        self.state.port = args.port;
        self.state.user = args.user.clone();
        for path in &args.identity_files {
            self.state.identity_files.push(At {
                value: path.to_string_lossy().into_owned(),
                file: file.clone(),
                line: 0,
            });
        }
        if let Some(jump) = &args.proxy_jump {
            let place = Place {
                file: &file,
                line: 0,
                scope: &Scope::CommandLine,
                depth: 0,
                never_match: false,
            };
            self.apply_jump(jump, &place);
        }
        for (index, line) in args.options.iter().enumerate() {
            self.command_line_option(line, index + 1)?;
        }
        Ok(())
    }

    fn command_line_option(&mut self, text: &str, index: usize) -> Result<(), ConfigError> {
        let file = PathBuf::from(COMMAND_LINE);
        let place = Place {
            file: &file,
            line: index,
            scope: &Scope::CommandLine,
            depth: 0,
            never_match: false,
        };
        let mut active = true;
        self.process_line(text, &place, &mut active)
    }

    fn read_source(&mut self, source: &Source) -> Result<(), ConfigError> {
        let mut active = true;
        self.read_file(
            &source.path,
            &source.scope,
            source.required,
            0,
            &mut active,
            false,
        )
    }

    fn read_file(
        &mut self,
        path: &Path,
        scope: &Scope,
        required: bool,
        depth: usize,
        active: &mut bool,
        never_match: bool,
    ) -> Result<(), ConfigError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if !required && e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        // Comments may be in any encoding; only values need to be text.
        let text = String::from_utf8_lossy(&bytes);
        for (index, line) in text.lines().enumerate() {
            let place = Place {
                file: path,
                line: index + 1,
                scope,
                depth,
                never_match,
            };
            self.process_line(line, &place, active)?;
        }
        Ok(())
    }

    fn process_line(
        &mut self,
        text: &str,
        place: &Place,
        active: &mut bool,
    ) -> Result<(), ConfigError> {
        let Some(line) = split_line(text).map_err(|p| place.err(p))? else {
            return Ok(());
        };
        let on_command_line = *place.scope == Scope::CommandLine;
        match line.keyword.as_str() {
            "host" | "match" | "include" if on_command_line => Err(place.err(format!(
                "`{}` cannot be given as a command-line option",
                line.name
            ))),
            "host" => {
                *active = self.host_line(&line, place)?;
                Ok(())
            }
            "match" => {
                let matched = self.match_line(&line, place)?;
                *active = matched && !place.never_match;
                Ok(())
            }
            "include" => self.include_line(&line, place, *active),
            _ => self.option_line(&line, place, *active),
        }
    }

    /// `Host a b* !c`: some pattern matches and no negated one does.
    fn host_line(&self, line: &Line, place: &Place) -> Result<bool, ConfigError> {
        let subject = self.ctx.final_host.as_deref().unwrap_or(self.ctx.host_arg);
        if line.args.is_empty() {
            return Err(place.err("`Host` needs at least one pattern"));
        }
        let mut matched = false;
        for arg in &line.args {
            if arg.is_empty() {
                return Err(place.err("empty pattern for `Host`"));
            }
            if place.never_match {
                return Ok(false);
            }
            let (negated, pattern) = match arg.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, arg.as_str()),
            };
            if wildcard_match(subject, pattern) {
                if negated {
                    return Ok(false);
                }
                matched = true;
            }
        }
        Ok(matched)
    }

    /// `Match` criteria, all of which must hold.
    fn match_line(&mut self, line: &Line, place: &Place) -> Result<bool, ConfigError> {
        const WITH_EQUALS: [&str; 9] = [
            "host",
            "originalhost",
            "user",
            "localuser",
            "localnetwork",
            "version",
            "tagged",
            "command",
            "exec",
        ];
        let final_pass = self.ctx.final_host.is_some();
        let host = match &self.ctx.final_host {
            Some(host) => host.clone(),
            None => self
                .expanded_hostname()?
                .unwrap_or_else(|| self.ctx.host_arg.to_owned()),
        };
        let remote_user = self
            .state
            .user
            .clone()
            .unwrap_or_else(|| self.ctx.local_user.to_owned());
        let mut result = true;
        let mut attributes = 0;
        let mut unevaluable = false;
        let mut args = line.args.iter();
        while let Some(raw) = args.next() {
            let (negate, attrib) = match raw.strip_prefix('!') {
                Some(a) => (true, a),
                None => (false, raw.as_str()),
            };
            let lower = attrib.to_ascii_lowercase();
            if lower == "all" {
                if attributes > 1 || args.next().is_some() {
                    return Err(place.err("`all` cannot be combined with other `Match` criteria"));
                }
                if result {
                    result = !negate;
                }
                break;
            }
            attributes += 1;
            if lower == "canonical" || lower == "final" {
                if lower == "final" && !negate {
                    self.state.want_final = true;
                }
                // Host name canonicalisation is not done, so `canonical` holds exactly when
                // `final` does, as in an ssh run without canonicalisation.
                if final_pass == negate {
                    result = false;
                }
                continue;
            }
            let (name, arg) = match attrib.split_once('=') {
                Some((name, arg)) if WITH_EQUALS.contains(&name.to_ascii_lowercase().as_str()) => {
                    (name.to_ascii_lowercase(), arg.to_owned())
                }
                _ => {
                    let arg = args.next().ok_or_else(|| {
                        place.err(format!("missing argument for `Match {attrib}`"))
                    })?;
                    (lower, arg.clone())
                }
            };
            if arg.is_empty() && name != "tagged" && name != "command" {
                return Err(place.err(format!("missing argument for `Match {attrib}`")));
            }
            let hit = match name.as_str() {
                // Host names compare case-insensitively; user names do not.
                "host" => match_pattern_list(&host, &arg, true) == ListMatch::Matched,
                "originalhost" => {
                    match_pattern_list(self.ctx.host_arg, &arg, true) == ListMatch::Matched
                }
                "user" => match_pattern_list(&remote_user, &arg, false) == ListMatch::Matched,
                "localuser" => {
                    match_pattern_list(self.ctx.local_user, &arg, false) == ListMatch::Matched
                }
                "exec" | "localnetwork" | "version" | "tagged" | "command" | "sessiontype" => {
                    // ssh would evaluate this only if the criteria before it held.
                    if result && !place.never_match {
                        self.note_unsupported(format!("match {name}"), place);
                    }
                    unevaluable = true;
                    continue;
                }
                _ => {
                    return Err(place.err(format!("unsupported `Match` criterion `{attrib}`")));
                }
            };
            if hit == negate {
                result = false;
            }
        }
        // A block that depends on something kiln cannot evaluate is not applied: applying it
        // could pick options meant for other circumstances.
        Ok(result && !unevaluable)
    }

    fn include_line(
        &mut self,
        line: &Line,
        place: &Place,
        active: bool,
    ) -> Result<(), ConfigError> {
        if line.args.is_empty() {
            return Err(place.err("`Include` needs at least one file"));
        }
        for arg in &line.args {
            if arg.is_empty() {
                return Err(place.err("empty argument for `Include`"));
            }
            let tokens = self.tokens(self.expanded_hostname()?.as_deref());
            let expanded =
                expand_tokens(arg, FILE_TOKENS, &tokens, "Include").map_err(|p| place.err(p))?;
            let anchored = if expanded.starts_with('~') {
                if matches!(place.scope, Scope::System(_)) {
                    return Err(place.err(format!(
                        "bad include path `{expanded}`: `~` is not allowed in a system file"
                    )));
                }
                expanded
            } else if Path::new(&expanded).is_absolute() {
                expanded
            } else {
                match place.scope {
                    Scope::System(dir) => dir.join(&expanded).to_string_lossy().into_owned(),
                    _ => format!("~/.ssh/{expanded}"),
                }
            };
            let pattern = expand_tilde(&anchored, self.ctx.home, self.ctx.local_user)
                .map_err(|p| place.err(p))?;
            for path in glob_files(&pattern) {
                if place.depth + 1 > MAX_INCLUDE_DEPTH {
                    return Err(place.err(format!(
                        "`Include` nested more than {MAX_INCLUDE_DEPTH} levels deep"
                    )));
                }
                // `Host` and `Match` in the included file change only its own state.
                let mut inner_active = active;
                self.read_file(
                    &path,
                    place.scope,
                    false,
                    place.depth + 1,
                    &mut inner_active,
                    place.never_match || !active,
                )?;
            }
        }
        Ok(())
    }

    /// Every other keyword. Values are checked even when the block does not apply, as ssh
    /// does, so a typo is found whichever host is being connected to.
    fn option_line(&mut self, line: &Line, place: &Place, active: bool) -> Result<(), ConfigError> {
        let state = &mut self.state;
        match line.keyword.as_str() {
            "hostname" => {
                let value = one_arg(line).map_err(|p| place.err(p))?;
                // In the final pass the host name is settled already.
                if active && state.hostname.is_none() && self.ctx.final_host.is_none() {
                    state.hostname = Some(place.at(value));
                }
            }
            "port" => {
                let value = one_arg(line).map_err(|p| place.err(p))?;
                let port =
                    parse_port(value).ok_or_else(|| place.err(format!("bad port `{value}`")))?;
                if active {
                    state.port.get_or_insert(port);
                }
            }
            "user" => {
                let value = one_arg(line).map_err(|p| place.err(p))?;
                if active {
                    state.user.get_or_insert_with(|| value.to_owned());
                }
            }
            "identityfile" => {
                let value = one_arg(line).map_err(|p| place.err(p))?;
                if active && !state.identity_files.iter().any(|f| f.value == value) {
                    state.identity_files.push(place.at(value));
                }
            }
            "identitiesonly" => {
                let value = one_arg(line).map_err(|p| place.err(p))?;
                let flag = parse_flag(value).ok_or_else(|| {
                    place.err(format!(
                        "`{}` must be `yes` or `no`, not `{value}`",
                        line.name
                    ))
                })?;
                if active {
                    state.identities_only.get_or_insert(flag);
                }
            }
            "proxyjump" => {
                // ssh reads the raw rest of the line, up to a comment.
                let raw = line.rest.trim_start_matches([' ', '\t', '=']);
                let value = raw.split('#').next().unwrap_or("").trim_end();
                check_jump(value).map_err(|p| place.err(p))?;
                if active {
                    self.apply_jump(value, place);
                }
            }
            "proxycommand" => {
                // The raw rest of the line: it is shell text, quotes and `#` included.
                let value = line.rest.trim_start_matches([' ', '\t', '=']);
                if value.is_empty() {
                    return Err(place.err("missing argument for `ProxyCommand`"));
                }
                if active && state.proxy_command.is_none() {
                    state.proxy_command = Some(place.at(value));
                }
            }
            "connecttimeout" | "serveraliveinterval" => {
                let value = one_arg(line).map_err(|p| place.err(p))?;
                let seconds = parse_time(value)
                    .ok_or_else(|| place.err(format!("bad time `{value}` for `{}`", line.name)))?;
                let slot = if line.keyword == "connecttimeout" {
                    &mut state.connect_timeout
                } else {
                    &mut state.server_alive_interval
                };
                // `none` leaves the option unset, so a later line may still set it.
                if let (true, Some(seconds)) = (active, seconds) {
                    slot.get_or_insert(seconds);
                }
            }
            "stricthostkeychecking" => {
                let value = one_arg(line)
                    .map_err(|p| place.err(p))?
                    .to_ascii_lowercase();
                const VALUES: [&str; 7] =
                    ["yes", "no", "ask", "accept-new", "off", "true", "false"];
                if !VALUES.contains(&value.as_str()) {
                    return Err(place.err(format!(
                        "bad `StrictHostKeyChecking` value `{value}`; expected yes, no, ask, \
                         accept-new or off"
                    )));
                }
                if active {
                    state.strict_host_key_checking.get_or_insert(value);
                }
            }
            "userknownhostsfile" => {
                if line.args.is_empty() {
                    return Err(place.err("missing argument for `UserKnownHostsFile`"));
                }
                if line.args.iter().any(|a| a.is_empty()) {
                    return Err(place.err("empty argument for `UserKnownHostsFile`"));
                }
                if line.args.len() > 1 && line.args.iter().any(|a| a.eq_ignore_ascii_case("none")) {
                    return Err(place.err("`none` must appear alone in `UserKnownHostsFile`"));
                }
                if active && state.user_known_hosts_files.is_none() {
                    state.user_known_hosts_files =
                        Some(line.args.iter().map(|a| place.at(a.as_str())).collect());
                }
            }
            keyword => {
                if active {
                    let keyword = keyword.to_owned();
                    self.note_unsupported(keyword, place);
                }
            }
        }
        Ok(())
    }

    /// `ProxyJump` and `ProxyCommand` exclude each other: whichever is met first wins, and
    /// `ProxyJump none` only settles `ProxyJump`.
    fn apply_jump(&mut self, value: &str, place: &Place) {
        let state = &mut self.state;
        if value.eq_ignore_ascii_case("none") {
            state.proxy_jump.get_or_insert_with(|| "none".to_owned());
        } else if state.proxy_jump.is_none() && state.proxy_command.is_none() {
            state.proxy_jump = Some(value.to_owned());
            state.proxy_command = Some(place.at("none"));
        }
    }

    fn note_unsupported(&mut self, keyword: String, place: &Place) {
        let item = Unsupported {
            keyword,
            file: place.file.to_path_buf(),
            line: place.line,
        };
        // The final pass reads the same lines again.
        if !self.state.unsupported.contains(&item) {
            self.state.unsupported.push(item);
        }
    }

    /// `HostName` with `%h` replaced by the host as given.
    fn expanded_hostname(&self) -> Result<Option<String>, ConfigError> {
        let Some(at) = &self.state.hostname else {
            return Ok(None);
        };
        let mut value = String::new();
        let mut chars = at.value.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                value.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => value.push('%'),
                Some('h') => value.push_str(self.ctx.host_arg),
                Some(other) => {
                    return Err(at.err(format!("`%{other}` is not supported in `HostName`")));
                }
                None => return Err(at.err("`HostName` ends with a lone `%`")),
            }
        }
        Ok(Some(value))
    }

    /// The host ssh connects to: `HostName` (expanded) or the host as given, lowercased
    /// unless it is an address.
    fn target_host(&self) -> Result<String, ConfigError> {
        let host = self
            .expanded_hostname()?
            .unwrap_or_else(|| self.ctx.host_arg.to_owned());
        Ok(if host.parse::<IpAddr>().is_ok() {
            host
        } else {
            host.to_lowercase()
        })
    }

    fn tokens(&self, hostname: Option<&str>) -> Tokens {
        let host = hostname.unwrap_or(self.ctx.host_arg);
        Tokens {
            host: if host.parse::<IpAddr>().is_ok() {
                host.to_owned()
            } else {
                host.to_lowercase()
            },
            original: self.ctx.host_arg.to_owned(),
            port: self.state.port.unwrap_or(22),
            remote_user: self
                .state
                .user
                .clone()
                .unwrap_or_else(|| self.ctx.local_user.to_owned()),
            local_user: self.ctx.local_user.to_owned(),
            home: self.ctx.home.to_string_lossy().into_owned(),
            jump: self
                .state
                .proxy_jump
                .clone()
                .filter(|j| !j.eq_ignore_ascii_case("none"))
                .unwrap_or_default(),
        }
    }

    fn finish(self) -> Result<HostConfig, ConfigError> {
        let hostname = self.expanded_hostname()?;
        let tokens = self.tokens(hostname.as_deref());
        let (home, local_user) = (self.ctx.home, self.ctx.local_user);
        let expand_file = |at: &At, keyword: &str| -> Result<PathBuf, ConfigError> {
            // ssh expands `~` first, then tokens.
            let path = expand_tilde(&at.value, home, local_user).map_err(|p| at.err(p))?;
            let path =
                expand_tokens(&path, FILE_TOKENS, &tokens, keyword).map_err(|p| at.err(p))?;
            Ok(PathBuf::from(path))
        };
        let mut identity_files: Vec<PathBuf> = Vec::new();
        for at in &self.state.identity_files {
            let path = expand_file(at, "IdentityFile")?;
            if !identity_files.contains(&path) {
                identity_files.push(path);
            }
        }
        let mut user_known_hosts_files = Vec::new();
        for at in self.state.user_known_hosts_files.iter().flatten() {
            if at.value.eq_ignore_ascii_case("none") {
                user_known_hosts_files.push(PathBuf::from("/dev/null"));
            } else {
                user_known_hosts_files.push(expand_file(at, "UserKnownHostsFile")?);
            }
        }
        let proxy_command = match &self.state.proxy_command {
            Some(at) if !at.value.eq_ignore_ascii_case("none") => Some(
                expand_tokens(&at.value, PROXY_TOKENS, &tokens, "ProxyCommand")
                    .map_err(|p| at.err(p))?,
            ),
            _ => None,
        };
        let state = self.state;
        Ok(HostConfig {
            hostname,
            port: state.port,
            user: state.user,
            identity_files,
            identities_only: state.identities_only,
            proxy_jump: state.proxy_jump.filter(|j| !j.eq_ignore_ascii_case("none")),
            proxy_command,
            connect_timeout: state.connect_timeout,
            server_alive_interval: state.server_alive_interval,
            strict_host_key_checking: state.strict_host_key_checking,
            user_known_hosts_files,
            unsupported: state.unsupported,
        })
    }
}

/// Tokens for file names (`IdentityFile`, `UserKnownHostsFile`, `Include`). ssh also knows
/// `%C`, `%i`, `%L` and `%l`, which need facts kiln does not gather here; they are errors.
const FILE_TOKENS: &str = "dhjknpru";
/// Tokens for `ProxyCommand`, as ssh.
const PROXY_TOKENS: &str = "hnpr";

struct Tokens {
    host: String,
    original: String,
    port: u16,
    remote_user: String,
    local_user: String,
    home: String,
    jump: String,
}

fn expand_tokens(
    value: &str,
    allowed: &str,
    tokens: &Tokens,
    keyword: &str,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(token) = chars.next() else {
            return Err(format!("`{keyword}` ends with a lone `%`"));
        };
        if token == '%' {
            out.push('%');
            continue;
        }
        if !allowed.contains(token) {
            return Err(format!("`%{token}` is not supported in `{keyword}`"));
        }
        match token {
            'd' => out.push_str(&tokens.home),
            'h' => out.push_str(&tokens.host),
            'j' => out.push_str(&tokens.jump),
            // `%k` is HostKeyAlias if set; kiln does not support that option.
            'k' | 'n' => out.push_str(&tokens.original),
            'p' => out.push_str(&tokens.port.to_string()),
            'r' => out.push_str(&tokens.remote_user),
            'u' => out.push_str(&tokens.local_user),
            _ => return Err(format!("`%{token}` is not supported in `{keyword}`")),
        }
    }
    Ok(out)
}

/// `~` and `~/...` are the home directory; `~user` works only for the local user.
fn expand_tilde(value: &str, home: &Path, local_user: &str) -> Result<String, String> {
    let Some(rest) = value.strip_prefix('~') else {
        return Ok(value.to_owned());
    };
    let (user, tail) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    if !user.is_empty() && user != local_user {
        return Err(format!(
            "cannot expand `~{user}`: only the local user's home directory is known"
        ));
    }
    Ok(format!(
        "{}{tail}",
        home.to_string_lossy().trim_end_matches('/')
    ))
}

/// The files a glob names, sorted, directories left out. Only `*` and `?` are special.
fn glob_files(pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for component in Path::new(pattern).components() {
        let Component::Normal(name) = component else {
            for path in &mut found {
                path.push(component.as_os_str());
            }
            continue;
        };
        let name = name.to_string_lossy();
        if !name.contains(['*', '?']) {
            for path in &mut found {
                path.push(name.as_ref());
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let listing = if dir.as_os_str().is_empty() {
                fs::read_dir(".")
            } else {
                fs::read_dir(dir)
            };
            let Ok(entries) = listing else { continue };
            for entry in entries.flatten() {
                let file_name = entry.file_name();
                let candidate = file_name.to_string_lossy();
                // As glob(3): `*` does not match a leading dot.
                if candidate.starts_with('.') && !name.starts_with('.') {
                    continue;
                }
                if wildcard_match(&candidate, &name) {
                    next.push(dir.join(&file_name));
                }
            }
        }
        found = next;
    }
    found.retain(|p| p.is_file());
    found.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    found
}

/// One config line, split as ssh splits it.
#[derive(Debug)]
struct Line {
    /// As written, for messages.
    name: String,
    /// Lowercased.
    keyword: String,
    /// Everything after the keyword and its separator, unsplit.
    rest: String,
    /// `rest` split into words, quotes removed, stopping at a word that starts with `#`.
    args: Vec<String>,
}

fn split_line(text: &str) -> Result<Option<Line>, String> {
    let text = text.trim_matches([' ', '\t', '\r', '\n', '\x0c']);
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let end = text.find([' ', '\t', '=']).unwrap_or(text.len());
    let name = &text[..end];
    if name.is_empty() {
        return Err("missing keyword".into());
    }
    // The keyword ends at whitespace or one `=`, either with whitespace around it.
    let rest = text[end..].trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return Err(format!("no argument after keyword `{name}`"));
    }
    let args = split_args(rest).ok_or("unterminated quote")?;
    Ok(Some(Line {
        name: name.to_owned(),
        keyword: name.to_ascii_lowercase(),
        rest: rest.to_owned(),
        args,
    }))
}

/// ssh's argument splitting: whitespace separates, `"` and `'` group, backslash escapes a
/// quote, a backslash or (outside quotes) a space; a word starting with `#` ends the line.
/// `None` for an unterminated quote.
fn split_args(text: &str) -> Option<Vec<String>> {
    let mut args = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        match chars.peek() {
            None | Some('#') => break,
            Some(_) => {}
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let escapable =
                        |n: &char| matches!(n, '\'' | '"' | '\\') || (quote.is_none() && *n == ' ');
                    match chars.next_if(escapable) {
                        Some(n) => arg.push(n),
                        None => arg.push(c),
                    }
                }
                ' ' | '\t' if quote.is_none() => break,
                '"' | '\'' if quote.is_none() => quote = Some(c),
                c if Some(c) == quote => quote = None,
                c => arg.push(c),
            }
        }
        if quote.is_some() {
            return None;
        }
        args.push(arg);
    }
    Some(args)
}

/// Python's `shlex.split` (POSIX mode, no comments), which Ansible applies to these strings.
fn shell_split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                word.push(chars.next().ok_or("no escaped character after `\\`")?);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // Inside double quotes a backslash escapes only `"` and `\`.
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\')) => word.push(n),
                            Some(n) => {
                                word.push('\\');
                                word.push(n);
                            }
                            None => return Err("no closing quotation".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn one_arg(line: &Line) -> Result<&str, String> {
    match line.args.as_slice() {
        [value] if !value.is_empty() => Ok(value),
        [] | [_] => Err(format!("missing argument for `{}`", line.name)),
        _ => Err(format!("extra arguments at end of `{}` line", line.name)),
    }
}

fn parse_port(value: &str) -> Option<u16> {
    value.parse::<u16>().ok().filter(|p| *p != 0)
}

fn parse_flag(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

/// ssh's time format: `30`, `30s`, `5m`, `1h30m`, `2d`, `1w`; `none` is `Some(None)`.
fn parse_time(value: &str) -> Option<Option<u64>> {
    if value == "none" {
        return Some(None);
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    let mut seen_seconds = false;
    if value.is_empty() {
        return None;
    }
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(digit) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(digit.into())?,
            );
            if chars.peek().is_some() {
                continue;
            }
        }
        let amount = number.take()?;
        let unit = if c.is_ascii_digit() { 's' } else { c };
        let multiplier = match unit.to_ascii_lowercase() {
            's' => {
                if seen_seconds {
                    return None;
                }
                seen_seconds = true;
                1
            }
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(amount.checked_mul(multiplier)?)?;
    }
    // ssh keeps times in an int.
    (total <= i32::MAX as u64).then_some(Some(total))
}

/// A `ProxyJump` value: `none`, or comma-separated `[user@]host[:port]` / `ssh://` hops.
fn check_jump(value: &str) -> Result<(), String> {
    let bad = || format!("invalid `ProxyJump` `{value}`");
    if value.is_empty() {
        return Err(bad());
    }
    if value.eq_ignore_ascii_case("none") {
        return Ok(());
    }
    for hop in value.split(',') {
        let hop = hop.strip_prefix("ssh://").unwrap_or(hop);
        let host = hop.rsplit_once('@').map_or(hop, |(_, h)| h);
        if host.is_empty() || hop.contains(char::is_whitespace) {
            return Err(bad());
        }
        let port = if let Some(bracketed) = host.strip_prefix('[') {
            match bracketed.split_once(']') {
                Some((_, rest)) => rest.strip_prefix(':'),
                None => return Err(bad()),
            }
        } else {
            host.split_once(':').map(|(_, p)| p)
        };
        if let Some(port) = port {
            parse_port(port).ok_or_else(bad)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fake home directory with `.ssh/`, removed when dropped.
    struct Home(PathBuf);

    impl Home {
        fn new(tag: &str) -> Home {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("kiln-ssh-config-{}-{tag}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join(".ssh")).expect("create temp home");
            Home(dir)
        }

        /// Writes `text` at `rel` (under the home directory) and returns its path.
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let path = self.0.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("create fixture dir");
            }
            fs::write(&path, text).expect("write fixture");
            path
        }

        fn config(&self, text: &str) -> PathBuf {
            self.write(".ssh/config", text)
        }

        fn load(&self, text: &str, host: &str) -> Result<HostConfig, ConfigError> {
            let path = self.config(text);
            load(&path, host, &self.0, "alice")
        }

        fn p(&self, rel: &str) -> PathBuf {
            self.0.join(rel)
        }
    }

    impl Drop for Home {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn line_error(result: Result<HostConfig, ConfigError>) -> (PathBuf, usize, String) {
        match result {
            Err(ConfigError::Line {
                file,
                line,
                problem,
            }) => (file, line, problem),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    fn keywords(config: &HostConfig) -> Vec<(&str, usize)> {
        config
            .unsupported
            .iter()
            .map(|u| (u.keyword.as_str(), u.line))
            .collect()
    }

    #[test]
    fn missing_file_is_empty() {
        let home = Home::new("missing");
        let config = load(&home.p(".ssh/nope"), "web", &home.0, "alice").unwrap();
        assert_eq!(config, HostConfig::default());
    }

    #[test]
    fn separators_case_and_quotes() {
        let home = Home::new("syntax");
        let config = home
            .load(
                "# comment\n\
                 \n\
                 HOSTNAME web.example.com\n\
                 port=2222\n\
                 \tUser   =   deploy # trailing comment\n\
                 IdentityFile \"~/keys/my key\"\n\
                 identityfile '/abs/other key'\n\
                 IdentityFile ~/keys/escaped\\ space\n\
                 IdentitiesOnly YES\r\n\
                 ConnectTimeout 1m30s\n\
                 ServerAliveInterval=15\n\
                 StrictHostKeyChecking Accept-New\n",
                "web",
            )
            .unwrap();
        assert_eq!(config.hostname.as_deref(), Some("web.example.com"));
        assert_eq!(config.port, Some(2222));
        assert_eq!(config.user.as_deref(), Some("deploy"));
        assert_eq!(
            config.identity_files,
            [
                home.p("keys/my key"),
                PathBuf::from("/abs/other key"),
                home.p("keys/escaped space"),
            ]
        );
        assert_eq!(config.identities_only, Some(true));
        assert_eq!(config.connect_timeout, Some(90));
        assert_eq!(config.server_alive_interval, Some(15));
        assert_eq!(
            config.strict_host_key_checking.as_deref(),
            Some("accept-new")
        );
        assert!(config.unsupported.is_empty());
    }

    #[test]
    fn first_value_wins_identity_files_accumulate() {
        let home = Home::new("first");
        let config = home
            .load(
                "Host web\n  Port 2200\n  User one\n  IdentityFile /k/one\n  \
                 UserKnownHostsFile /kh/a /kh/b\n\
                 Host *\n  Port 22\n  User two\n  IdentityFile /k/two\n  IdentityFile /k/one\n  \
                 UserKnownHostsFile /kh/c\n  ConnectTimeout none\n  ConnectTimeout 5\n",
                "web",
            )
            .unwrap();
        assert_eq!(config.port, Some(2200));
        assert_eq!(config.user.as_deref(), Some("one"));
        assert_eq!(
            config.identity_files,
            [PathBuf::from("/k/one"), PathBuf::from("/k/two")]
        );
        assert_eq!(
            config.user_known_hosts_files,
            [PathBuf::from("/kh/a"), PathBuf::from("/kh/b")]
        );
        // `none` leaves the option unset for later lines.
        assert_eq!(config.connect_timeout, Some(5));
    }

    #[test]
    fn host_patterns() {
        let home = Home::new("host");
        let text = "Host db* web? !web9 other\n  User a\n\
                    Host *.example.com !bad.example.com\n  User b\n\
                    Host *\n  User c\n";
        let user = |host: &str| home.load(text, host).unwrap().user;
        assert_eq!(user("db1").as_deref(), Some("a"));
        assert_eq!(user("web1").as_deref(), Some("a"));
        assert_eq!(user("web9").as_deref(), Some("c"));
        assert_eq!(user("web10").as_deref(), Some("c"));
        assert_eq!(user("other").as_deref(), Some("a"));
        assert_eq!(user("x.example.com").as_deref(), Some("b"));
        assert_eq!(user("bad.example.com").as_deref(), Some("c"));
        // As ssh: `Host` patterns compare case-sensitively with the host as given.
        assert_eq!(user("DB1").as_deref(), Some("c"));
        // Only negated patterns never match.
        assert_eq!(home.load("Host !x\n  User n\n", "y").unwrap().user, None);
    }

    #[test]
    fn match_criteria() {
        let home = Home::new("match");
        let text = "Host alias\n  HostName real.example.com\n\
                    Match host real.example.com user root\n  Port 1\n\
                    Match host REAL.example.com\n  IdentityFile /k/host\n\
                    Match originalhost alias,!other\n  IdentityFile /k/orig\n\
                    Match !user bob localuser alice\n  IdentityFile /k/users\n\
                    Match host=real.* originalhost=ali*\n  IdentityFile /k/equals\n\
                    Match all\n  ConnectTimeout 7\n";
        let config = home.load(text, "alias").unwrap();
        assert_eq!(config.hostname.as_deref(), Some("real.example.com"));
        assert_eq!(config.port, None, "user root does not match `alice`");
        assert_eq!(
            config.identity_files,
            ["/k/host", "/k/orig", "/k/users", "/k/equals"].map(PathBuf::from)
        );
        assert_eq!(config.connect_timeout, Some(7));

        let with_user = format!("User root\n{text}");
        assert_eq!(home.load(&with_user, "alias").unwrap().port, Some(1));
        assert_eq!(
            home.load(text, "other").unwrap().identity_files,
            [PathBuf::from("/k/users")]
        );
    }

    #[test]
    fn match_exec_is_unsupported_and_never_applies() {
        let home = Home::new("exec");
        let text = "Match exec \"test -e /tmp\" host *\n  Port 1\n\
                    Match host nothere exec true\n  Port 2\n\
                    Match !exec false\n  Port 3\n\
                    Match all\n  ForwardAgent yes\n";
        let config = home.load(text, "web").unwrap();
        assert_eq!(config.port, None);
        // The second `exec` would not even run: its `host` criterion fails first.
        assert_eq!(
            keywords(&config),
            [("match exec", 1), ("match exec", 5), ("forwardagent", 8)]
        );
    }

    #[test]
    fn match_all_alone_and_bad_criteria() {
        let home = Home::new("match-bad");
        let (_, line, problem) = line_error(home.load("Host x\nMatch all host y\n", "x"));
        assert_eq!(line, 2);
        assert!(problem.contains("`all`"), "{problem}");
        let (_, line, problem) = line_error(home.load("Match colour blue\n", "x"));
        assert_eq!(line, 1);
        assert!(problem.contains("`colour`"), "{problem}");
        let (_, _, problem) = line_error(home.load("Match host\n", "x"));
        assert!(problem.contains("missing argument"), "{problem}");
        // A negated `all` matches nothing.
        let config = home.load("Match !all\n  Port 9\n", "x").unwrap();
        assert_eq!(config.port, None);
    }

    #[test]
    fn match_final_reads_the_files_again() {
        let home = Home::new("final");
        let text = "Host alias\n  HostName Real.Example.com\n\
                    Host real.example.com\n  User fromfinal\n\
                    Match final host real.example.com\n  Port 2022\n\
                    Match canonical\n  IdentityFile /k/canonical\n\
                    Match !final\n  IdentityFile /k/first\n";
        let config = home.load(text, "alias").unwrap();
        assert_eq!(config.hostname.as_deref(), Some("Real.Example.com"));
        assert_eq!(config.user.as_deref(), Some("fromfinal"));
        assert_eq!(config.port, Some(2022));
        assert_eq!(
            config.identity_files,
            ["/k/first", "/k/canonical"].map(PathBuf::from)
        );
        // Without `Match final`, there is one pass: `Host real...` never applies.
        let one_pass = "Host alias\n  HostName real.example.com\nHost real.example.com\n  User x\n";
        assert_eq!(home.load(one_pass, "alias").unwrap().user, None);
    }

    #[test]
    fn includes_globs_relative_and_nested() {
        let home = Home::new("include");
        home.write(".ssh/conf.d/10-web.conf", "Host web\n  User fromweb\n");
        home.write(".ssh/conf.d/20-all.conf", "Host *\n  Port 2020\n");
        home.write(".ssh/conf.d/.hidden.conf", "Host *\n  User hidden\n");
        home.write(".ssh/conf.d/30-nested.conf", "Include nested/*.conf\n");
        home.write(".ssh/nested/a.conf", "IdentityFile /k/nested\n");
        home.write("elsewhere/abs.conf", "ConnectTimeout 3\n");
        let abs = home.p("elsewhere/abs.conf");
        let text = format!(
            "Include conf.d/*.conf\nInclude {} ~/elsewhere/none*.conf\nHost *\n  User last\n",
            abs.display()
        );
        let config = home.load(&text, "web").unwrap();
        assert_eq!(config.user.as_deref(), Some("fromweb"));
        assert_eq!(config.port, Some(2020));
        assert_eq!(config.identity_files, [PathBuf::from("/k/nested")]);
        assert_eq!(config.connect_timeout, Some(3));
        assert_eq!(
            home.load(&text, "db").unwrap().user.as_deref(),
            Some("last")
        );
    }

    #[test]
    fn include_in_host_block_applies_only_when_it_matches() {
        let home = Home::new("include-host");
        home.write(".ssh/web.conf", "User fromweb\nHost *\n  Port 1111\n");
        let text = "Host web\n  Include web.conf\n  IdentityFile /k/after\nHost *\n  User other\n";
        let web = home.load(text, "web").unwrap();
        assert_eq!(web.user.as_deref(), Some("fromweb"));
        assert_eq!(web.port, Some(1111));
        // The included `Host *` does not leak out: the rest of the `Host web` block applies.
        assert_eq!(web.identity_files, [PathBuf::from("/k/after")]);
        let db = home.load(text, "db").unwrap();
        assert_eq!(db.user.as_deref(), Some("other"));
        // Even the included `Host *` is inert when the including block does not match.
        assert_eq!(db.port, None);
    }

    #[test]
    fn include_errors_are_found_even_when_inactive() {
        let home = Home::new("include-err");
        home.write(".ssh/bad.conf", "\nPort notaport\n");
        let (file, line, problem) =
            line_error(home.load("Host other\n  Include bad.conf\n", "web"));
        assert_eq!(file, home.p(".ssh/bad.conf"));
        assert_eq!(line, 2);
        assert!(problem.contains("`notaport`"), "{problem}");
    }

    #[test]
    fn include_depth_is_limited() {
        let home = Home::new("depth");
        let (file, _, problem) = line_error(home.load("Include config\n", "web"));
        assert_eq!(file, home.p(".ssh/config"));
        assert!(problem.contains("16"), "{problem}");

        // Sixteen levels are fine.
        for level in 1..16 {
            home.write(
                &format!(".ssh/l{level}.conf"),
                &format!("Include l{}.conf\n", level + 1),
            );
        }
        home.write(".ssh/l16.conf", "User deep\n");
        let config = home.load("Include l1.conf\n", "web").unwrap();
        assert_eq!(config.user.as_deref(), Some("deep"));
    }

    #[test]
    fn system_config_comes_after_user_config() {
        let home = Home::new("system");
        let user = home.config("Host web\n  User fromuser\n");
        home.write("etc/ssh/ssh_config.d/a.conf", "Port 2200\n");
        let system = home.write(
            "etc/ssh/ssh_config",
            "Include ssh_config.d/*.conf\nHost *\n  User fromsystem\n  Port 22\n",
        );
        let args = CommonArgs::default();
        let config = load_with_args(&user, Some(&system), "web", &home.0, "alice", &args).unwrap();
        assert_eq!(config.user.as_deref(), Some("fromuser"));
        assert_eq!(config.port, Some(2200));

        let tilde = home.write("etc/ssh/tilde", "Include ~/x\n");
        let (_, _, problem) = line_error(load_with_args(
            &user,
            Some(&tilde),
            "web",
            &home.0,
            "alice",
            &args,
        ));
        assert!(problem.contains("`~`"), "{problem}");
    }

    #[test]
    fn tokens_and_tilde() {
        let home = Home::new("tokens");
        let text = "Host alias\n  HostName %h.Example.com\n  User deploy\n  Port 2222\n\
                    IdentityFile ~/.ssh/%r@%h:%p\n\
                    IdentityFile %d/keys/%u/%n/100%%\n\
                    UserKnownHostsFile ~/.ssh/kh_%h ~alice/kh2\n\
                    ProxyCommand ssh -W %h:%p -l %r bastion # %n stays shell text\n";
        let config = home.load(text, "alias").unwrap();
        let d = home.0.display();
        assert_eq!(config.hostname.as_deref(), Some("alias.Example.com"));
        assert_eq!(
            config.identity_files,
            [
                home.p(".ssh/deploy@alias.example.com:2222"),
                PathBuf::from(format!("{d}/keys/alice/alias/100%")),
            ]
        );
        assert_eq!(
            config.user_known_hosts_files,
            [home.p(".ssh/kh_alias.example.com"), home.p("kh2")]
        );
        assert_eq!(
            config.proxy_command.as_deref(),
            Some("ssh -W alias.example.com:2222 -l deploy bastion # alias stays shell text")
        );

        // Without User and Port: the local user and 22.
        let config = home.load("IdentityFile /k/%r-%p\n", "web").unwrap();
        assert_eq!(config.identity_files, [PathBuf::from("/k/alice-22")]);
    }

    #[test]
    fn bad_tokens_name_their_line() {
        let home = Home::new("bad-tokens");
        let (_, line, problem) = line_error(home.load("\nIdentityFile ~/.ssh/%C\n", "w"));
        assert_eq!(line, 2);
        assert!(problem.contains("`%C`"), "{problem}");
        let (_, line, problem) = line_error(home.load("HostName %p.example\n", "w"));
        assert_eq!(line, 1);
        assert!(problem.contains("`%p`"), "{problem}");
        let (_, _, problem) = line_error(home.load("IdentityFile /k/%\n", "w"));
        assert!(problem.contains("lone `%`"), "{problem}");
        let (_, _, problem) = line_error(home.load("IdentityFile ~bob/k\n", "w"));
        assert!(problem.contains("`~bob`"), "{problem}");
    }

    #[test]
    fn malformed_lines_are_errors_with_place() {
        let home = Home::new("malformed");
        let cases = [
            ("Port\n", "no argument"),
            ("Port 0\n", "bad port"),
            ("Port 65536\n", "bad port"),
            ("Port 22 23\n", "extra arguments"),
            ("Port #22\n", "missing argument"),
            ("User \"unterminated\n", "unterminated quote"),
            ("HostName \"\"\n", "missing argument"),
            ("IdentitiesOnly maybe\n", "`maybe`"),
            ("ConnectTimeout 5x\n", "bad time"),
            ("ServerAliveInterval 1s1s\n", "bad time"),
            ("StrictHostKeyChecking sometimes\n", "`sometimes`"),
            ("UserKnownHostsFile none /kh\n", "alone"),
            ("Host\n", "no argument"),
            ("Host \"\"\n", "empty pattern"),
            ("ProxyJump bad host\n", "invalid `ProxyJump`"),
            ("ProxyJump h:99999\n", "invalid `ProxyJump`"),
            ("= value\n", "missing keyword"),
        ];
        for (text, expected) in cases {
            let config = format!("# line one\nHost nomatch\n  {text}");
            let (file, line, problem) = line_error(home.load(&config, "web"));
            assert_eq!(file, home.p(".ssh/config"), "{text}");
            assert_eq!(line, 3, "{text}");
            assert!(problem.contains(expected), "{text}: {problem}");
            let message = ConfigError::Line {
                file,
                line,
                problem,
            }
            .to_string();
            assert!(message.contains("/.ssh/config:3: "), "{message}");
        }
    }

    #[test]
    fn unsupported_options_are_listed_once_where_they_apply() {
        let home = Home::new("unsupported");
        let text = "ForwardAgent yes\nHost web\n  ControlMaster auto\n  LocalForward 8080 h:80\n\
                    Host db\n  Compression yes\nHost *\n  controlmaster no\n";
        let config = home.load(text, "web").unwrap();
        assert_eq!(
            keywords(&config),
            [
                ("forwardagent", 1),
                ("controlmaster", 3),
                ("localforward", 4),
                ("controlmaster", 8),
            ]
        );
        assert!(
            config
                .unsupported
                .iter()
                .all(|u| u.file == home.p(".ssh/config"))
        );
    }

    #[test]
    fn proxy_jump_and_command_exclude_each_other() {
        let home = Home::new("proxy");
        let jump_first = "ProxyJump admin@bastion:2222,second\nProxyCommand nc %h %p\n";
        let config = home.load(jump_first, "web").unwrap();
        assert_eq!(
            config.proxy_jump.as_deref(),
            Some("admin@bastion:2222,second")
        );
        assert_eq!(config.proxy_command, None);

        let command_first = "ProxyCommand nc %h %p\nProxyJump bastion\n";
        let config = home.load(command_first, "web").unwrap();
        assert_eq!(config.proxy_jump, None);
        assert_eq!(config.proxy_command.as_deref(), Some("nc web 22"));

        let none = "Host web\n  ProxyJump none\n  ProxyCommand None\nHost *\n  ProxyJump b\n";
        let config = home.load(none, "web").unwrap();
        assert_eq!((config.proxy_jump, config.proxy_command), (None, None));
        let config = home.load(none, "db").unwrap();
        assert_eq!(config.proxy_jump.as_deref(), Some("b"));

        let known = home.load("UserKnownHostsFile none\n", "web").unwrap();
        assert_eq!(known.user_known_hosts_files, [PathBuf::from("/dev/null")]);
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("30"), Some(Some(30)));
        assert_eq!(parse_time("30s"), Some(Some(30)));
        assert_eq!(parse_time("1h30m"), Some(Some(5400)));
        assert_eq!(parse_time("1W2d"), Some(Some(777_600)));
        assert_eq!(parse_time("1m5"), Some(Some(65)));
        assert_eq!(parse_time("none"), Some(None));
        for bad in [
            "",
            "m",
            "-1",
            "1x",
            "5s5",
            "1.5",
            "99999999999999999999",
            "9999999w",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn argument_splitting() {
        let split = |s: &str| split_line(s).unwrap().map(|l| (l.keyword, l.args));
        assert_eq!(split("  # c"), None);
        assert_eq!(split(""), None);
        assert_eq!(
            split("Host a \"b c\" 'd\"e' f\\ g # x"),
            Some((
                "host".to_owned(),
                vec!["a".into(), "b c".into(), "d\"e".into(), "f g".into()]
            ))
        );
        assert_eq!(
            split("A=\"x\\\"y\"  "),
            Some(("a".to_owned(), vec!["x\"y".to_owned()]))
        );
        assert_eq!(
            split("K = = v"),
            Some(("k".to_owned(), vec!["=".into(), "v".into()]))
        );
        assert_eq!(split("K a#b"), Some(("k".to_owned(), vec!["a#b".into()])));
        assert_eq!(split("K \\q"), Some(("k".to_owned(), vec!["\\q".into()])));
        assert!(split_line("K 'open").is_err());
    }

    #[test]
    fn shell_splitting_like_shlex() {
        assert_eq!(
            shell_split(r#"-o "ProxyCommand=ssh -W %h:%p bastion" -o'User=x y' a\ b "q\"\$" ''"#)
                .unwrap(),
            [
                "-o",
                "ProxyCommand=ssh -W %h:%p bastion",
                "-oUser=x y",
                "a b",
                "q\"\\$",
                ""
            ]
        );
        assert!(shell_split("'open").is_err());
        assert!(shell_split("\"open").is_err());
        assert!(shell_split("trailing\\").is_err());
        assert_eq!(shell_split("  \n ").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn common_args() {
        let args = parse_common_args(
            "-F /etc/kiln/ssh_config -o StrictHostKeyChecking=no -oUser=deploy \
             -o 'ProxyCommand ssh -W %h:%p bastion' -i ~/.ssh/k1 -i/k2 -p 2222 -p 2 \
             -l ops -l other -C -vv -L 8080:h:80 -4o Port=1 somehost",
        )
        .unwrap();
        assert_eq!(
            args.config_file,
            Some(PathBuf::from("/etc/kiln/ssh_config"))
        );
        assert_eq!(
            args.options,
            [
                "StrictHostKeyChecking=no",
                "User=deploy",
                "ProxyCommand ssh -W %h:%p bastion",
                "Port=1"
            ]
        );
        assert_eq!(
            args.identity_files,
            [PathBuf::from("~/.ssh/k1"), PathBuf::from("/k2")]
        );
        assert_eq!(args.port, Some(2222));
        assert_eq!(args.user.as_deref(), Some("ops"));
        assert_eq!(args.proxy_jump, None);
        assert_eq!(
            args.unsupported,
            ["-C", "-v", "-L 8080:h:80", "-4", "somehost"]
        );

        let jump = parse_common_args("-J admin@b1,b2:2200 -- host cmd").unwrap();
        assert_eq!(jump.proxy_jump.as_deref(), Some("admin@b1,b2:2200"));
        assert_eq!(jump.unsupported, ["host", "cmd"]);
        assert_eq!(parse_common_args("").unwrap(), CommonArgs::default());
    }

    #[test]
    fn common_args_errors() {
        let cases = [
            ("-o", "needs an argument"),
            ("-p x", "bad port"),
            ("-J a -J b", "only one"),
            ("-J a -o ProxyCommand=nc", "cannot be combined"),
            ("-o 'Host x'", "command-line"),
            ("-o Match=all", "command-line"),
            ("-o 'Include x'", "command-line"),
            ("-o Port=x", "bad port"),
            ("-o Port", "no argument"),
            ("-J 'a b'", "invalid"),
            ("-o 'User=\"x'", "unterminated"),
            ("-o 'open", "no closing quotation"),
        ];
        for (text, expected) in cases {
            let err = parse_common_args(text).expect_err(text);
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn command_line_takes_precedence() {
        let home = Home::new("args");
        let user_config = home.config(
            "Host web\n  User fromconfig\n  Port 2200\n  IdentityFile /k/config\n  \
             StrictHostKeyChecking yes\n  ProxyCommand nc %h %p\n\
             Match user ops\n  ConnectTimeout 9\n",
        );
        let args = parse_common_args(
            "-o StrictHostKeyChecking=accept-new -l ops -i ~/k/cli -J bastion -o ForwardX11=yes",
        )
        .unwrap();
        let config = load_with_args(&user_config, None, "web", &home.0, "alice", &args).unwrap();
        assert_eq!(config.user.as_deref(), Some("ops"));
        assert_eq!(config.port, Some(2200));
        assert_eq!(
            config.strict_host_key_checking.as_deref(),
            Some("accept-new")
        );
        assert_eq!(
            config.identity_files,
            [home.p("k/cli"), PathBuf::from("/k/config")]
        );
        assert_eq!(config.proxy_jump.as_deref(), Some("bastion"));
        assert_eq!(config.proxy_command, None);
        // `-l ops` is known before the files are read, so `Match user` sees it.
        assert_eq!(config.connect_timeout, Some(9));
        assert_eq!(
            config.unsupported,
            [Unsupported {
                keyword: "forwardx11".into(),
                file: PathBuf::from(COMMAND_LINE),
                line: 2,
            }]
        );
    }

    #[test]
    fn dash_f_replaces_the_config_files() {
        let home = Home::new("dash-f");
        let user_config = home.config("User fromdefault\n");
        let other = home.write("other_config", "User fromother\n");
        let args = parse_common_args(&format!("-F {}", other.display())).unwrap();
        let config = load_with_args(&user_config, None, "web", &home.0, "alice", &args).unwrap();
        assert_eq!(config.user.as_deref(), Some("fromother"));

        let none = parse_common_args("-F none").unwrap();
        let config = load_with_args(&user_config, None, "web", &home.0, "alice", &none).unwrap();
        assert_eq!(config.user, None);

        let missing = parse_common_args("-F /nonexistent/kiln/config").unwrap();
        let err = load_with_args(&user_config, None, "web", &home.0, "alice", &missing)
            .expect_err("-F names a missing file");
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }

    /// The same files through `ssh -G` (when an OpenSSH client is installed) and through
    /// [`load`] give the same user, port, host name, identity files and jump host.
    #[test]
    fn agrees_with_ssh_dash_g() {
        if std::process::Command::new("ssh")
            .arg("-V")
            .output()
            .is_err()
        {
            eprintln!("ssh not found; skipping the comparison with `ssh -G`");
            return;
        }
        let home = Home::new("dash-g");
        let h = home.0.display();
        home.write("inc/10-web.conf", "User fromweb\nHost *\n  Port 1111\n");
        home.write("inc/20-more.conf", "IdentityFile /k/included\n");
        let config = home.config(&format!(
            "Host web\n  Include {h}/inc/*.conf\n  IdentityFile /k/after\n\
             Host alias\n  HostName Real.Example.com\n\
             Host db* !db9 \"quoted\"\n  Port=2200\n  ProxyJump admin@bastion:2222\n\
             Match host real.example.com\n  IdentityFile /k/matchhost\n\
             Match originalhost alias,!nope\n  IdentityFile /k/orig\n\
             Host real.example.com\n  User fromfinal\n\
             Match final host real.example.com\n  Port 2022\n\
             Match !final\n  IdentityFile /k/first\n\
             Host *\n  User last\n  Port 22\n  IdentityFile /k/last\n  ProxyJump none\n"
        ));
        for host in [
            "web", "WEB", "db1", "db9", "quoted", "alias", "Alias", "other",
        ] {
            let ours = load(&config, host, &home.0, "alice").expect("kiln reads it");
            let output = std::process::Command::new("ssh")
                .arg("-G")
                .arg("-F")
                .arg(&config)
                .arg(host)
                .output()
                .expect("run ssh -G");
            assert!(output.status.success(), "{output:?}");
            let text = String::from_utf8_lossy(&output.stdout);
            let values = |key: &str| -> Vec<String> {
                text.lines()
                    .filter_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
                    .map(str::to_owned)
                    .collect()
            };
            let theirs_files: Vec<PathBuf> = values("identityfile")
                .into_iter()
                .map(PathBuf::from)
                .collect();
            assert_eq!(values("user"), [ours.user.clone().unwrap()], "{host}");
            assert_eq!(values("port"), [ours.port.unwrap().to_string()], "{host}");
            assert_eq!(
                values("hostname"),
                [ours.hostname.clone().unwrap_or(host.into()).to_lowercase()],
                "{host}"
            );
            assert_eq!(theirs_files, ours.identity_files, "{host}");
            assert_eq!(
                values("proxyjump"),
                ours.proxy_jump.iter().cloned().collect::<Vec<_>>(),
                "{host}"
            );
        }
    }

    #[test]
    fn garbage_never_panics() {
        let home = Home::new("garbage");
        let inputs = [
            "\u{0}\u{1}",
            "Host\t\"",
            "Match !",
            "Match host=",
            "Match final all all",
            "IdentityFile %",
            "HostName %",
            "ProxyJump ,",
            "ProxyJump [::1",
            "Include ''",
            "Include ~nobody/x",
            "Port ٣",
            "ConnectTimeout ٣",
            "é=ü",
            "=",
            "\\",
        ];
        for text in inputs {
            let _ = home.load(text, "web");
            let _ = parse_common_args(text);
        }
    }
}
