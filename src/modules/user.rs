//! `user`: accounts present (with uid, groups, shell, home, password hash, expiry, lock, an
//! SSH key) or absent, through the target's useradd, usermod, userdel, chpasswd, chage and
//! ssh-keygen, deciding as ansible-core 2.19's module does on Linux (what counts as a
//! change, in which order, with which messages and result keys).
//!
//! One command reads everything the decisions need (the passwd, shadow and group entries,
//! the home and key files); one applies the account's changes and reads it back; a key is
//! generated in a third only when one is missing. The password hash travels on stdin to
//! `chpasswd -e`, never in a command line, and the result shows `NOT_LOGGING_PASSWORD`.

use super::accountdb::{
    Group, Passwd, Shadow, find_group, parse_group, parse_passwd, parse_shadow,
};
use super::sections::{Sections, section, section_lines};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::parent_dir;
use crate::connection::quote::{join, quote};
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct User;

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("state", Kind::Str)
        .default("present")
        .choices(&["absent", "present"]),
    Opt::new("name", Kind::Str).required().aliases(&["user"]),
    Opt::new("uid", Kind::Int),
    Opt::new("non_unique", Kind::Bool).default("false"),
    Opt::new("group", Kind::Str),
    Opt::new("groups", Kind::List),
    Opt::new("comment", Kind::Str),
    Opt::new("home", Kind::Path),
    Opt::new("shell", Kind::Path),
    Opt::new("password", Kind::Str),
    Opt::new("login_class", Kind::Str),
    Opt::new("password_expire_max", Kind::Int),
    Opt::new("password_expire_min", Kind::Int),
    Opt::new("password_expire_warn", Kind::Int),
    Opt::new("hidden", Kind::Bool),
    Opt::new("seuser", Kind::Str),
    Opt::new("force", Kind::Bool).default("false"),
    Opt::new("remove", Kind::Bool).default("false"),
    Opt::new("create_home", Kind::Bool)
        .default("true")
        .aliases(&["createhome"]),
    Opt::new("skeleton", Kind::Str),
    Opt::new("system", Kind::Bool).default("false"),
    Opt::new("move_home", Kind::Bool).default("false"),
    Opt::new("append", Kind::Bool).default("false"),
    Opt::new("generate_ssh_key", Kind::Bool),
    Opt::new("ssh_key_bits", Kind::Int).default("0"),
    Opt::new("ssh_key_type", Kind::Str).default("rsa"),
    Opt::new("ssh_key_file", Kind::Path),
    Opt::new("ssh_key_comment", Kind::Str),
    Opt::new("ssh_key_passphrase", Kind::Str),
    Opt::new("update_password", Kind::Str)
        .default("always")
        .choices(&["always", "on_create"]),
    Opt::new("expires", Kind::Float),
    Opt::new("password_lock", Kind::Bool),
    Opt::new("local", Kind::Bool),
    Opt::new("profile", Kind::Str),
    Opt::new("authorization", Kind::Str),
    Opt::new("role", Kind::Str),
    Opt::new("umask", Kind::Str),
    Opt::new("password_expire_account_disable", Kind::Int),
    Opt::new("uid_min", Kind::Int),
    Opt::new("uid_max", Kind::Int),
]);

/// The arguments, typed.
struct Params {
    name: String,
    present: bool,
    uid: Option<i128>,
    non_unique: bool,
    seuser: Option<String>,
    group: Option<String>,
    /// `groups` joined with commas, as Ansible keeps it (`Some("")` empties the list).
    groups: Option<String>,
    comment: Option<String>,
    home: Option<String>,
    shell: Option<String>,
    password: Option<String>,
    force: bool,
    remove: bool,
    create_home: bool,
    move_home: bool,
    skeleton: Option<String>,
    system: bool,
    append: bool,
    generate_ssh_key: bool,
    ssh_bits: i128,
    ssh_type: String,
    ssh_file: String,
    ssh_comment: Option<String>,
    ssh_passphrase: Option<String>,
    update_always: bool,
    expires: Option<f64>,
    password_lock: Option<bool>,
    umask: Option<String>,
    expire_min: Option<i128>,
    expire_max: Option<i128>,
    expire_warn: Option<i128>,
    inactive: Option<i128>,
    uid_min: Option<i128>,
    uid_max: Option<i128>,
}

fn int(args: &Args, key: &str) -> Option<i128> {
    match args.get(key) {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    }
}

impl Params {
    fn from(args: &Args) -> Params {
        let ssh_type = args.str("ssh_key_type").unwrap_or_else(|| "rsa".into());
        Params {
            name: args.str("name").unwrap_or_default(),
            present: args.str("state").as_deref() != Some("absent"),
            uid: int(args, "uid"),
            non_unique: args.bool("non_unique"),
            seuser: args.str("seuser"),
            group: args.str("group"),
            groups: args.get("groups").map(|_| {
                args.list("groups")
                    .iter()
                    .map(crate::yaml::python_str)
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            comment: args.str("comment"),
            home: args.str("home"),
            shell: args.str("shell"),
            password: args.str("password"),
            force: args.bool("force"),
            remove: args.bool("remove"),
            create_home: args.bool("create_home"),
            move_home: args.bool("move_home"),
            skeleton: args.str("skeleton"),
            system: args.bool("system"),
            append: args.bool("append"),
            generate_ssh_key: args.bool("generate_ssh_key"),
            ssh_bits: int(args, "ssh_key_bits").unwrap_or(0),
            ssh_file: args
                .str("ssh_key_file")
                .unwrap_or_else(|| format!(".ssh/id_{ssh_type}")),
            ssh_type,
            ssh_comment: args.str("ssh_key_comment"),
            ssh_passphrase: args.str("ssh_key_passphrase"),
            update_always: args.str("update_password").as_deref() != Some("on_create"),
            expires: match args.get("expires") {
                Some(Value::Float(f)) => Some(*f),
                _ => None,
            },
            password_lock: match args.get("password_lock") {
                Some(Value::Bool(b)) => Some(*b),
                _ => None,
            },
            umask: args.str("umask"),
            expire_min: int(args, "password_expire_min"),
            expire_max: int(args, "password_expire_max"),
            expire_warn: int(args, "password_expire_warn"),
            inactive: int(args, "password_expire_account_disable"),
            uid_min: int(args, "uid_min"),
            uid_max: int(args, "uid_max"),
        }
    }

    /// The requested supplementary groups, as `get_groups_set` splits them.
    fn group_list(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for g in self.groups.as_deref().unwrap_or("").split(',') {
            let g = g.trim();
            if !g.is_empty() && !out.iter().any(|o| o == g) {
                out.push(g.to_string());
            }
        }
        out
    }
}

/// Ansible's warning for a `password` that does not look like a crypt hash.
fn looks_unhashed(pw: &str) -> bool {
    if pw.is_empty() || ["*", "!", "*************"].contains(&pw) {
        return false;
    }
    if pw.contains([':', '*', '!']) || !pw.contains('$') {
        return true;
    }
    let fields: Vec<&str> = pw.split('$').collect();
    if fields.len() < 3 {
        return true;
    }
    let last = fields[fields.len() - 1];
    let bad_char = last
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || "./=".contains(c)));
    let want_len = match fields[1] {
        "1" => Some(22),
        "5" | "y" => Some(43),
        "6" => Some(86),
        _ => None,
    };
    bad_char || want_len.is_some_and(|n| last.chars().count() != n)
}

/// A day count since the epoch as `YYYY-MM-DD` (proleptic Gregorian, as `time.gmtime`).
fn date_of_days(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `expires` (seconds since the epoch) as useradd's date, or `None` for "never" (negative).
fn expiry_date(expires: f64) -> Option<String> {
    let secs = expires.floor();
    (secs >= 0.0).then(|| date_of_days((secs / 86_400.0).floor() as i64))
}

/// What the host told about the account and its surroundings.
#[derive(Default)]
struct State {
    passwd: Option<Passwd>,
    shadow: Option<Shadow>,
    groups: Vec<Group>,
    /// `name=1` flags from the paths section.
    flags: Vec<String>,
    nodename: String,
    has_append: bool,
    login_defs: Option<String>,
    fingerprint: (i32, String, String),
    public_key: Option<String>,
}

impl State {
    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// The shadow password when passwd only holds a placeholder, as `user_info` reads it.
    fn password(&self) -> String {
        let p = self
            .passwd
            .as_ref()
            .map(|p| p.passwd.clone())
            .unwrap_or_default();
        if p.chars().count() <= 1 {
            self.shadow
                .as_ref()
                .map(|s| s.password.clone())
                .unwrap_or_default()
        } else {
            p
        }
    }
}

/// The key file's path as Ansible computes it: absolute, or below the user's home.
fn key_path(p: &Params, home: &str) -> String {
    if p.ssh_file.starts_with('/') {
        p.ssh_file.clone()
    } else if home.ends_with('/') {
        format!("{home}{}", p.ssh_file)
    } else {
        format!("{home}/{}", p.ssh_file)
    }
}

/// Shell text printing the account as it is now: its passwd entry, whether its homes exist,
/// and the state of its key files (sections `passwd`, `paths`, `fp`, `pub`).
fn post_script(s: &Sections, p: &Params) -> String {
    let n = quote(&p.name);
    let mut t = String::new();
    t.push_str(&s.start("passwd"));
    t.push_str(&format!("; getent passwd {n}; "));
    t.push_str(&format!(
        "h=$(getent passwd {n} | cut -d: -f6); {}; [ -n \"$h\" ] && [ -e \"$h\" ] && echo home; ",
        s.start("paths")
    ));
    if let Some(h) = &p.home {
        let q = quote(h);
        t.push_str(&format!(
            "[ -e {q} ] && echo param_home; [ -d {} ] && echo param_parent; ",
            quote(&parent_dir(h))
        ));
    }
    if p.generate_ssh_key {
        let k = if p.ssh_file.starts_with('/') {
            quote(&p.ssh_file)
        } else {
            format!("\"$h\"/{}", quote(&p.ssh_file))
        };
        t.push_str(&format!(
            "k={k}; [ -e \"${{k%/*}}/\" ] && echo ssh_dir; [ -e \"$k\" ] && echo key; \
             [ -e \"$k.pub\" ] && echo pub; "
        ));
        t.push_str(&fingerprint_script(s));
    }
    t.trim_end_matches([';', ' ']).to_string()
}

/// Sections `fprc` (ssh-keygen -l's exit status), `fp` (its stdout), `fperr` (its stderr,
/// read only when it failed) and `pub` for the key file in `$k`; a missing key file is a
/// failure with no output, as in Ansible.
fn fingerprint_script(s: &Sections) -> String {
    format!(
        "if [ -e \"$k\" ]; then {fp}; ssh-keygen -l -f \"$k\" 2>/dev/null; rc=$?; {fprc}; echo $rc; \
         if [ $rc != 0 ]; then {fperr}; ssh-keygen -l -f \"$k\" 2>&1 >/dev/null; fi; \
         else {fprc}; echo 1; fi; {pub}; [ -e \"$k.pub\" ] && cat \"$k.pub\"; :",
        fp = s.start("fp"),
        fprc = s.start("fprc"),
        fperr = s.start("fperr"),
        pub = s.start("pub"),
    )
}

fn read_post(state: &mut State, parts: &[(String, String)]) {
    state.passwd = section_lines(parts, "passwd")
        .first()
        .and_then(|l| parse_passwd(l));
    state.flags = section_lines(parts, "paths")
        .into_iter()
        .map(str::to_string)
        .collect();
    if let Some(rc) = section(parts, "fprc") {
        state.fingerprint = (
            rc.trim().parse().unwrap_or(1),
            section(parts, "fp").unwrap_or("").to_string(),
            section(parts, "fperr").unwrap_or("").to_string(),
        );
    }
    state.public_key = section(parts, "pub")
        .filter(|_| state.flag("pub"))
        .map(|t| t.trim().to_string());
}

/// The rc and stdout of the step whose output went to section `out` and rc to `rc`.
fn step(parts: &[(String, String)], out_name: &str, rc_name: &str) -> Option<(i32, String)> {
    let rc = section(parts, rc_name)?.trim().parse().ok()?;
    Some((rc, section(parts, out_name).unwrap_or("").to_string()))
}

/// Creates the home `q` (shell text: a quoted path or a variable) the way Ansible's
/// `create_homedir` does: a copy of the skeleton (or an empty directory), with the mode
/// /etc/login.defs asks for (HOME_MODE, else from UMASK).
fn homedir_script(q: &str, p: &Params, st: &State) -> String {
    let skel = p.skeleton.clone().unwrap_or_else(|| "/etc/skel".into());
    let mut t = format!(
        // `mkdir -p` then `rmdir` makes the parents, so `cp -a` can make the home itself.
        "if [ ! -e {q} ]; then if [ -e {sk} ] && [ {sk} != /dev/null ]; then mkdir -p {q} && rmdir {q} && cp -a {sk} {q}; \
         else mkdir -p {q}; fi",
        sk = quote(&skel),
    );
    if let Some(defs) = &st.login_defs {
        t.push_str(&format!("; chmod {:o} {q}", home_mode(defs)));
    }
    t.push_str("; fi");
    t
}

/// The home's mode from /etc/login.defs: HOME_MODE wins, else 0777 less UMASK, else 0755.
fn home_mode(defs: &str) -> u32 {
    let mut mode = 0o755;
    for line in defs.lines() {
        let mut words = line.split_whitespace();
        let (Some(key), Some(val), None) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        if !line.starts_with(key) || !val.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(v) = u32::from_str_radix(val, 8) else {
            continue;
        };
        match key {
            "HOME_MODE" => return v,
            "UMASK" => mode = 0o777 & !v,
            _ => {}
        }
    }
    mode
}

/// `chown -R` of the home `q` (shell text) to the account's uid and gid, read from its
/// passwd entry.
fn chown_home_script(q: &str, name: &str) -> String {
    format!(
        "chown -R \"$(getent passwd {n} | cut -d: -f3):$(getent passwd {n} | cut -d: -f4)\" {q}",
        n = quote(name),
    )
}

fn warn(r: &mut TaskResult, warnings: &[String]) {
    if !warnings.is_empty() {
        *r = std::mem::take(r).with(
            "warnings",
            Value::Seq(warnings.iter().map(Value::str).collect()),
        );
    }
}

#[async_trait]
impl Module for User {
    fn name(&self) -> &'static str {
        "user"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let p = Params::from(&args);
        if args.bool("local") {
            for key in ["umask", "uid_min", "uid_max"] {
                if args.get(key).is_some() {
                    return TaskResult::failed(format!("'{key}' can not be used with 'local'"));
                }
            }
            return TaskResult::failed(
                "kiln's user module does not support `local: true` yet (libuser's luseradd)",
            );
        }
        let mut warnings: Vec<String> = Vec::new();
        if p.groups.is_none() && p.append {
            warnings.push("'append' is set, but no 'groups' are specified. Use 'groups' for appending new groups.This will change to an error in Ansible 2.14.".into());
        }
        if p.password.as_deref().is_some_and(looks_unhashed) {
            warnings.push("The input password appears not to have been hashed. The 'password' argument must be encrypted for this module to work properly.".into());
        }

        // Everything the decisions need, in one command.
        let s = Sections::new();
        let n = quote(&p.name);
        let mut lookups: Vec<String> = p.group_list();
        lookups.extend(p.group.clone());
        lookups.push(p.name.clone());
        let query = format!(
            "{}; getent shadow {n}; {}; getent group; {}; for g in {}; do getent group \"$g\"; done; \
             {}; uname -n; {}; usermod --help 2>&1 | grep -E -- '^[[:space:]]*-a, --append'; \
             {}; if [ -e /etc/login.defs ]; then echo yes; {}; grep -E '^(HOME_MODE|UMASK)' /etc/login.defs; fi; {}",
            s.start("shadow"),
            s.start("groups"),
            s.start("lookups"),
            join(&lookups),
            s.start("uname"),
            s.start("append"),
            s.start("defs_exist"),
            s.start("defs"),
            post_script(&s, &p),
        );
        let out = try_conn!(cx.sh(query).await);
        let parts = s.split(&out);
        let mut st = State {
            shadow: section_lines(&parts, "shadow")
                .first()
                .and_then(|l| parse_shadow(l)),
            nodename: section(&parts, "uname").unwrap_or("").trim().to_string(),
            has_append: !section(&parts, "append").unwrap_or("").trim().is_empty(),
            ..State::default()
        };
        let mut groups: Vec<Group> = section_lines(&parts, "groups")
            .into_iter()
            .filter_map(parse_group)
            .collect();
        for g in section_lines(&parts, "lookups")
            .into_iter()
            .filter_map(parse_group)
        {
            if !groups.iter().any(|e| e.name == g.name) {
                groups.push(g);
            }
        }
        st.groups = groups;
        if section(&parts, "defs_exist").is_some_and(|t| t.trim() == "yes") {
            st.login_defs = Some(section(&parts, "defs").unwrap_or("").to_string());
        }
        read_post(&mut st, &parts);
        if st.passwd.is_none() {
            st.shadow = None;
        }

        if !p.present {
            return absent(cx, &p, &st, warnings).await;
        }
        present(cx, &p, st, warnings, &s).await
    }
}

async fn absent(cx: &TaskCx<'_>, p: &Params, st: &State, warnings: Vec<String>) -> TaskResult {
    let mut r = TaskResult::changed(false)
        .with("name", Value::str(&p.name))
        .with("state", Value::str("absent"));
    if st.passwd.is_some() {
        if cx.check_mode {
            let mut r = TaskResult::changed(true);
            warn(&mut r, &warnings);
            return r;
        }
        let mut cmd = vec!["userdel".to_string()];
        if p.force {
            cmd.push("-f".into());
        }
        if p.remove {
            cmd.push("-r".into());
        }
        cmd.push(p.name.clone());
        let out = try_conn!(cx.sh(join(&cmd)).await);
        if out.rc != 0 {
            let mut f = TaskResult::failed(out.stderr_text()).with("name", Value::str(&p.name));
            f.rc = Some(out.rc);
            return f;
        }
        r.changed = true;
        r = r
            .with("force", Value::Bool(p.force))
            .with("remove", Value::Bool(p.remove));
        let (o, e) = (out.stdout_text(), out.stderr_text());
        if !o.is_empty() {
            r.stdout = Some(o);
        }
        if !e.is_empty() {
            r.stderr = Some(e);
        }
    }
    warn(&mut r, &warnings);
    r
}

/// What `usermod` (or `useradd`) and its companions must run: the command, the password
/// to set through chpasswd, the chage arguments.
struct Plan {
    cmd: Vec<String>,
    password: Option<String>,
    chage: Vec<String>,
}

fn missing_group(g: &str) -> String {
    format!("Group {g} does not exist")
}

fn create_plan(p: &Params, st: &State) -> Result<Plan, String> {
    let mut c = vec!["useradd".to_string()];
    if let Some(uid) = p.uid {
        c.extend(["-u".into(), uid.to_string()]);
        if p.non_unique {
            c.push("-o".into());
        }
    }
    if let Some(se) = &p.seuser {
        c.extend(["-Z".into(), se.clone()]);
    }
    if let Some(g) = &p.group {
        if find_group(&st.groups, g).is_none() {
            return Err(missing_group(g));
        }
        c.extend(["-g".into(), g.clone()]);
    } else if find_group(&st.groups, &p.name).is_some() {
        // A group named like the user exists: without -N, useradd would try to create it.
        c.push("-N".into());
    }
    let list = p.group_list();
    if !list.is_empty() {
        for g in &list {
            if find_group(&st.groups, g).is_none() {
                return Err(missing_group(g));
            }
        }
        c.extend(["-G".into(), list.join(",")]);
    }
    if let Some(cm) = &p.comment {
        c.extend(["-c".into(), cm.clone()]);
    }
    if let Some(h) = &p.home {
        c.extend(["-d".into(), h.clone()]);
    }
    if let Some(sh) = &p.shell {
        c.extend(["-s".into(), sh.clone()]);
    }
    if let Some(e) = p.expires {
        c.push("-e".into());
        c.push(expiry_date(e).unwrap_or_default());
    }
    if let Some(i) = p.inactive {
        c.extend(["-f".into(), i.to_string()]);
    }
    if p.create_home {
        c.push("-m".into());
        if let Some(k) = &p.skeleton {
            c.extend(["-k".into(), k.clone()]);
        }
        if let Some(u) = &p.umask {
            c.extend(["-K".into(), format!("UMASK={u}")]);
        }
    } else {
        c.push("-M".into());
    }
    if p.system {
        c.push("-r".into());
    }
    if let Some(v) = p.uid_min {
        c.extend(["-K".into(), format!("UID_MIN={v}")]);
    }
    if let Some(v) = p.uid_max {
        c.extend(["-K".into(), format!("UID_MAX={v}")]);
    }
    c.push(p.name.clone());
    let password = p.password.as_ref().map(|pw| {
        if p.password_lock == Some(true) {
            format!("!{pw}")
        } else {
            pw.clone()
        }
    });
    Ok(Plan {
        cmd: c,
        password,
        chage: Vec::new(),
    })
}

fn modify_plan(p: &Params, st: &State, info: &Passwd) -> Result<Plan, String> {
    let mut c = vec!["usermod".to_string()];
    if let Some(uid) = p.uid.filter(|u| *u != i128::from(info.uid)) {
        c.extend(["-u".into(), uid.to_string()]);
        if p.non_unique {
            c.push("-o".into());
        }
    }
    if let Some(g) = &p.group {
        let Some(ginfo) = find_group(&st.groups, g) else {
            return Err(missing_group(g));
        };
        if ginfo.gid != info.gid {
            c.extend(["-g".into(), ginfo.gid.to_string()]);
        }
    }
    if let Some(joined) = &p.groups {
        let current: Vec<&str> = st
            .groups
            .iter()
            .filter(|g| g.members.contains(&p.name))
            .map(|g| g.name.as_str())
            .collect();
        let mut wanted: Vec<String> = Vec::new();
        let mut need = false;
        if joined.is_empty() {
            need = !current.is_empty() && !p.append;
        } else {
            for g in p.group_list() {
                let Some(gi) = find_group(&st.groups, &g) else {
                    return Err(missing_group(&g));
                };
                if !wanted.contains(&gi.name) {
                    wanted.push(gi.name.clone());
                }
            }
            let missing: Vec<&String> = wanted
                .iter()
                .filter(|w| !current.contains(&w.as_str()))
                .collect();
            let extra = current.iter().any(|c| !wanted.iter().any(|w| w == c));
            if p.append {
                if !missing.is_empty() {
                    if st.has_append {
                        c.push("-a".into());
                    }
                    need = true;
                }
            } else {
                need = !missing.is_empty() || extra;
            }
            if need && p.append && !st.has_append {
                // Old usermods without --append take the groups to add with -A.
                let mut diff: Vec<String> = missing.iter().map(|s| s.to_string()).collect();
                diff.extend(
                    current
                        .iter()
                        .filter(|c| !wanted.iter().any(|w| w == *c))
                        .map(|s| s.to_string()),
                );
                c.extend(["-A".into(), diff.join(",")]);
                need = false;
            }
        }
        if need {
            c.extend(["-G".into(), wanted.join(",")]);
        }
    }
    if let Some(cm) = p.comment.as_ref().filter(|cm| **cm != info.gecos) {
        c.extend(["-c".into(), cm.clone()]);
    }
    if let Some(h) = p.home.as_ref().filter(|h| **h != info.home) {
        c.extend(["-d".into(), h.clone()]);
        if p.move_home {
            c.push("-m".into());
        }
    }
    if let Some(sh) = p.shell.as_ref().filter(|sh| **sh != info.shell) {
        c.extend(["-s".into(), sh.clone()]);
    }
    if let Some(e) = p.expires {
        let current = st.shadow.as_ref().map_or(0, |s| s.expire);
        match expiry_date(e) {
            None => {
                if current >= 0 {
                    c.extend(["-e".into(), String::new()]);
                }
            }
            Some(date) => {
                if current < 0 || date_of_days(current) != date {
                    c.extend(["-e".into(), date]);
                }
            }
        }
    }
    if let Some(i) = p.inactive {
        c.extend(["-f".into(), i.to_string()]);
    }
    let current_pw = st.password();
    match p.password_lock {
        Some(true) if !current_pw.starts_with('!') => c.push("-L".into()),
        Some(false) if current_pw.starts_with('!') => c.push("-U".into()),
        _ => {}
    }
    let mut password = None;
    if p.update_always
        && let Some(pw) = &p.password
        && current_pw.trim_start_matches('!') != pw.trim_start_matches('!')
    {
        c.retain(|a| a != "-U" && a != "-L");
        password = Some(if p.password_lock == Some(true) {
            format!("!{pw}")
        } else {
            pw.clone()
        });
    }
    let cmd = if c.len() > 1 {
        c.push(p.name.clone());
        c
    } else {
        Vec::new()
    };
    // Ansible's set_password_expire: only what differs from the shadow entry.
    let mut chage = Vec::new();
    if let Some(sh) = &st.shadow {
        for (flag, want, have) in [
            ("-m", p.expire_min, sh.min),
            ("-M", p.expire_max, sh.max),
            ("-W", p.expire_warn, sh.warn),
        ] {
            if let Some(w) = want.filter(|w| *w != i128::from(have)) {
                chage.extend([flag.to_string(), w.to_string()]);
            }
        }
        if !chage.is_empty() {
            chage.insert(0, "chage".into());
            chage.push(p.name.clone());
        }
    }
    Ok(Plan {
        cmd,
        password,
        chage,
    })
}

/// Whether and how a key is generated, decided on the key files' state (Ansible's
/// `ssh_key_gen`): `Ok(None)` leaves the files alone.
fn ssh_decision(
    p: &Params,
    st: &State,
    home: &str,
    check: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<()>, String> {
    let key = key_path(p, home);
    if !p.ssh_file.starts_with('/') && !st.flag("home") && !check {
        return Err(format!("User {} home directory does not exist", p.name));
    }
    if !st.flag("ssh_dir") && check {
        return Ok(Some(()));
    }
    if st.flag("key") {
        if p.force {
            warnings.push(format!(
                "Overwriting existing ssh key private file \"{key}\""
            ));
        } else {
            warnings.push(format!(
                "Found existing ssh key private file \"{key}\", no force, so skipping ssh-keygen generation"
            ));
            return Ok(None);
        }
    }
    if st.flag("pub") {
        let pub_file = format!("{key}.pub");
        if p.force {
            warnings.push(format!(
                "Overwriting existing ssh key public file \"{pub_file}\""
            ));
        } else {
            warnings.push(format!(
                "Found existing ssh key public file \"{pub_file}\", no force, so skipping ssh-keygen generation"
            ));
            return Ok(None);
        }
    }
    Ok(Some(()))
}

async fn present(
    cx: &TaskCx<'_>,
    p: &Params,
    mut st: State,
    mut warnings: Vec<String>,
    s: &Sections,
) -> TaskResult {
    let existed = st.passwd.clone();
    if existed.is_none() && cx.check_mode {
        let mut r = TaskResult::changed(true);
        warn(&mut r, &warnings);
        return r;
    }
    let plan = match &existed {
        None => create_plan(p, &st),
        Some(info) => modify_plan(p, &st, info),
    };
    let plan = match plan {
        Ok(pl) => pl,
        Err(msg) => {
            let mut f = TaskResult::failed(msg);
            warn(&mut f, &warnings);
            return f;
        }
    };
    let main_runs = existed.is_none() || !plan.cmd.is_empty() || plan.password.is_some();
    let mut r = TaskResult::changed(main_runs)
        .with("name", Value::str(&p.name))
        .with("state", Value::str("present"));
    // A new home whose parents are missing: Ansible makes it (from the skeleton) before
    // useradd, which cannot, and hands it to the user afterwards.
    let needs_parents =
        existed.is_none() && p.create_home && p.home.is_some() && !st.flag("param_parent");
    let home_missing = match &p.home {
        Some(_) => !st.flag("param_home"),
        None => !st.flag("home"),
    };

    if cx.check_mode {
        if p.create_home && home_missing {
            r.changed = true;
        }
        if !plan.chage.is_empty() {
            r.changed = true;
        }
    } else if main_runs || !plan.chage.is_empty() || (p.create_home && home_missing) {
        let mut script = String::new();
        if plan.password.is_some() {
            script.push_str("IFS= read -r kiln_pw; ");
        }
        if needs_parents && let Some(h) = &p.home {
            script.push_str(&homedir_script(&quote(h), p, &st));
            script.push_str("; ");
        }
        script.push_str(&format!("{}; rc=0; ", s.start("out")));
        if !plan.cmd.is_empty() {
            script.push_str(&format!("{}; rc=$?; ", join(&plan.cmd)));
        }
        if plan.password.is_some() {
            script.push_str(&format!(
                "[ $rc = 0 ] && {{ printf '%s:%s\\n' {} \"$kiln_pw\" | chpasswd -e; rc=$?; }}; ",
                quote(&p.name)
            ));
        }
        script.push_str(&format!("{}; echo $rc; ", s.start("rc")));
        script.push_str("if [ $rc = 0 ]; then ");
        if needs_parents && let Some(h) = &p.home {
            script.push_str(&chown_home_script(&quote(h), &p.name));
            script.push_str("; ");
        }
        if p.create_home {
            let home_expr = match &p.home {
                Some(h) => quote(h),
                None => format!("\"$(getent passwd {} | cut -d: -f6)\"", quote(&p.name)),
            };
            script.push_str(&format!(
                "hh={home_expr}; if [ -n \"$hh\" ] && [ ! -e \"$hh\" ]; then {}; {}; {}; fi; ",
                homedir_script("\"$hh\"", p, &st),
                chown_home_script("\"$hh\"", &p.name),
                s.start("home_created"),
            ));
        }
        if !plan.chage.is_empty() {
            script.push_str(&format!(
                "{}; {} >&2; echo $?; ",
                s.start("chage"),
                join(&plan.chage)
            ));
        }
        script.push_str(&post_script(s, p));
        script.push_str("; fi");
        let stdin = plan
            .password
            .as_ref()
            .map(|pw| format!("{pw}\n").into_bytes());
        let out = match stdin {
            Some(input) => try_conn!(cx.sh_with_input(script, input).await),
            None => try_conn!(cx.sh(script).await),
        };
        let parts = s.split(&out);
        let (rc, stdout) = step(&parts, "out", "rc").unwrap_or((out.rc, String::new()));
        let stderr = out.stderr_text();
        if rc != 0 {
            let mut f = TaskResult::failed(stderr).with("name", Value::str(&p.name));
            f.rc = Some(rc);
            warn(&mut f, &warnings);
            return f;
        }
        if main_runs {
            if !stdout.is_empty() {
                r.stdout = Some(stdout);
            }
            if !stderr.is_empty() {
                r.stderr = Some(stderr.clone());
            }
        }
        if section(&parts, "home_created").is_some() {
            r.changed = true;
        }
        if let Some(c) = section(&parts, "chage") {
            if c.trim() != "0" {
                let mut f = TaskResult::failed(stderr).with("name", Value::str(&p.name));
                f.rc = c.trim().parse().ok();
                return f;
            }
            r.changed = true;
        }
        read_post(&mut st, &parts);
    }

    match &existed {
        None => {
            r = r
                .with("system", Value::Bool(p.system))
                .with("create_home", Value::Bool(p.create_home));
        }
        Some(_) => {
            r = r
                .with("append", Value::Bool(p.append))
                .with("move_home", Value::Bool(p.move_home));
        }
    }
    if p.password.is_some() {
        r = r.with("password", Value::str("NOT_LOGGING_PASSWORD"));
    }
    let Some(info) = st.passwd.clone() else {
        let mut f = TaskResult::failed(format!("failed to look up user name: {}", p.name));
        warn(&mut f, &warnings);
        return f;
    };
    r = r
        .with("uid", Value::Int(i128::from(info.uid)))
        .with("group", Value::Int(i128::from(info.gid)))
        .with("comment", Value::str(&info.gecos))
        .with("home", Value::str(&info.home))
        .with("shell", Value::str(&info.shell));
    if let Some(g) = &p.groups {
        r = r.with("groups", Value::str(g));
    }

    if p.generate_ssh_key {
        let decision = match ssh_decision(p, &st, &info.home, cx.check_mode, &mut warnings) {
            Ok(d) => d,
            Err(msg) => {
                let mut f = TaskResult::failed(msg).with("name", Value::str(&p.name));
                f.rc = Some(1);
                warn(&mut f, &warnings);
                return f;
            }
        };
        if decision.is_some() {
            r.changed = true;
            if !cx.check_mode {
                match generate_key(cx, p, &st, &info, s).await {
                    Ok(parts) => read_post(&mut st, &parts),
                    Err(mut f) => {
                        warn(&mut f, &warnings);
                        return f;
                    }
                }
            }
        }
        let (rc, out, err) = &st.fingerprint;
        let fp = if *rc == 0 { out.trim() } else { err.trim() };
        r = r
            .with("ssh_fingerprint", Value::str(fp))
            .with("ssh_key_file", Value::str(key_path(p, &info.home)))
            .with(
                "ssh_public_key",
                st.public_key.clone().map(Value::str).unwrap_or(Value::Null),
            );
    }
    warn(&mut r, &warnings);
    r
}

/// Runs ssh-keygen for the user (the passphrase, when there is one, on stdin) and reads the
/// key files back.
async fn generate_key(
    cx: &TaskCx<'_>,
    p: &Params,
    st: &State,
    info: &Passwd,
    s: &Sections,
) -> Result<Vec<(String, String)>, TaskResult> {
    let key = key_path(p, &info.home);
    let owner = format!("{}:{}", info.uid, info.gid);
    let mut cmd = vec!["ssh-keygen".to_string(), "-t".into(), p.ssh_type.clone()];
    if p.ssh_bits > 0 {
        cmd.extend(["-b".into(), p.ssh_bits.to_string()]);
    }
    let comment = p
        .ssh_comment
        .clone()
        .unwrap_or_else(|| format!("ansible-generated on {}", st.nodename));
    cmd.extend(["-C".into(), comment, "-f".into(), key.clone()]);
    let mut script = String::new();
    if p.ssh_passphrase.is_some() {
        script.push_str("IFS= read -r kiln_pp; ");
    }
    let dir = parent_dir(&key);
    script.push_str(&format!(
        "k={k}; if [ ! -e {d} ]; then mkdir -m 0700 {d} && chown {owner} {d} || exit 3; fi; \
         rm -f \"$k\" \"$k.pub\"; {cmd} -N {pp} </dev/null >/dev/null; rc=$?; \
         [ $rc = 0 ] && chown {owner} \"$k\" \"$k.pub\"; {rcs}; echo $rc; ",
        k = quote(&key),
        d = quote(&dir),
        cmd = join(&cmd),
        pp = if p.ssh_passphrase.is_some() {
            "\"$kiln_pp\"".to_string()
        } else {
            "''".to_string()
        },
        rcs = s.start("keygen"),
    ));
    script.push_str(&post_script(s, p));
    let out = match &p.ssh_passphrase {
        Some(pp) => {
            cx.sh_with_input(script, format!("{pp}\n").into_bytes())
                .await
        }
        None => cx.sh(script).await,
    };
    let out = match out {
        Ok(o) => o,
        Err(e) => return Err(super::conn_failure(e)),
    };
    if out.rc == 3 {
        return Err(fail_rc(
            p,
            format!("Failed to create {dir}: {}", out.stderr_text().trim()),
            1,
        ));
    }
    let parts = s.split(&out);
    let rc: i32 = section(&parts, "keygen")
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(out.rc);
    if rc != 0 {
        return Err(fail_rc(p, out.stderr_text(), rc));
    }
    Ok(parts)
}

fn fail_rc(p: &Params, msg: String, rc: i32) -> TaskResult {
    let mut f = TaskResult::failed(msg).with("name", Value::str(&p.name));
    f.rc = Some(rc);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_gmtime() {
        assert_eq!(date_of_days(0), "1970-01-01");
        assert_eq!(expiry_date(1_422_403_387.0).as_deref(), Some("2015-01-28"));
        assert_eq!(expiry_date(-1.0), None);
        assert_eq!(expiry_date(0.5).as_deref(), Some("1970-01-01"));
        assert_eq!(date_of_days(20_788), "2026-12-01");
    }

    #[test]
    fn unhashed_passwords_are_noticed() {
        assert!(looks_unhashed("secret"));
        assert!(!looks_unhashed("!"));
        assert!(!looks_unhashed(
            "$6$saltsalt$uFgC9g2ic/.Uc5ZdsYmWtkWk2/fYz6XK1bvUS7U8pmW/b3pCX5wdnpdYEqGmgasHClIU9qyG4SyRP0l/wb7oX."
        ));
        assert!(looks_unhashed("$6$salt$short"));
    }

    #[test]
    fn home_modes_from_login_defs() {
        assert_eq!(home_mode("UMASK\t\t022\n"), 0o755);
        assert_eq!(home_mode("UMASK 027\nHOME_MODE 0700\n"), 0o700);
        assert_eq!(home_mode(""), 0o755);
    }
}
