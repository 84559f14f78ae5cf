//! `mount` (ansible.posix.mount): mount points in fstab and in the running system, through
//! the target's `mount`/`umount` and /proc/self/mountinfo. fstab lines are matched, rewritten
//! and removed as the module does (escaped fields, the swap special case, 4 to 6 fields), and
//! each state decides as the module's does on Linux.

use super::sections::{marker, missing_bin, need_bin, section, sections};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{BACKUP_MARKER, Input, PutOptions, quote};
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;
use std::collections::HashMap;

pub struct Mount;

const NEEDS_SRC: &[(&str, &[&str])] = &[
    ("mounted", &["src", "fstype"]),
    ("present", &["src", "fstype"]),
    ("ephemeral", &["src", "fstype"]),
];

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("path", Kind::Path).required().aliases(&["name"]),
    Opt::new("src", Kind::Path),
    Opt::new("fstype", Kind::Str),
    Opt::new("opts", Kind::Str),
    Opt::new("opts_no_log", Kind::Bool).default("false"),
    Opt::new("dump", Kind::Str).default("0"),
    Opt::new("passno", Kind::Str).default("0"),
    Opt::new("state", Kind::Str)
        .required()
        .choices(&[
            "absent",
            "absent_from_fstab",
            "mounted",
            "present",
            "unmounted",
            "remounted",
            "ephemeral",
        ])
        .required_if(NEEDS_SRC),
    Opt::new("fstab", Kind::Str),
    Opt::new("boot", Kind::Bool).default("true"),
    Opt::new("backup", Kind::Bool).default("false"),
]);

#[async_trait]
impl Module for Mount {
    fn name(&self) -> &'static str {
        "mount"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        &["ansible.posix"]
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        run(cx, &args).await
    }
}

/// The entry kiln manages, with fstab's escapes for space, `&` and backslash applied.
struct Entry {
    name: String,
    src: Option<String>,
    fstype: Option<String>,
    opts: String,
    dump: String,
    passno: String,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('&', "\\046")
}

impl Entry {
    fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {}\n",
            escape(self.src.as_deref().unwrap_or("")),
            escape(&self.name),
            escape(self.fstype.as_deref().unwrap_or("")),
            escape(&self.opts),
            escape(&self.dump),
            escape(&self.passno)
        )
    }

    /// Whether an fstab line's fields are this entry's mount point (for swap, its device).
    fn is_mine(&self, name: &str, fstype: &str, src: &str) -> bool {
        name == escape(&self.name)
            && !(self
                .src
                .as_ref()
                .is_some_and(|s| name == "none" && fstype == "swap" && src != s.as_str()))
    }
}

/// fstab with the entry set: `(new text, changed)`.
fn set_mount(fstab: &str, e: &Entry) -> (String, bool) {
    let mut out = String::new();
    let mut exists = false;
    let mut changed = false;
    for raw in fstab.split_inclusive('\n') {
        let line = if raw.ends_with('\n') {
            raw.to_string()
        } else {
            format!("{raw}\n")
        };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            out.push_str(&line);
            continue;
        }
        let fields: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if !(4..=6).contains(&fields.len()) || !e.is_mine(fields[1], fields[2], fields[0]) {
            out.push_str(&line);
            continue;
        }
        exists = true;
        // Missing dump and passno are the number 0 to the module, never equal to a string.
        let want = [
            escape(e.src.as_deref().unwrap_or("")),
            escape(e.fstype.as_deref().unwrap_or("")),
            escape(&e.opts),
            escape(&e.dump),
            escape(&e.passno),
        ];
        let have = [0, 2, 3, 4, 5].map(|i| fields.get(i).copied());
        let mut line_changed = false;
        for (h, w) in have.iter().zip(&want) {
            if *h != Some(w.as_str()) {
                line_changed = true;
            }
        }
        if line_changed {
            changed = true;
            out.push_str(&format!(
                "{} {} {} {} {} {}\n",
                want[0], fields[1], want[1], want[2], want[3], want[4]
            ));
        } else {
            out.push_str(&line);
        }
    }
    if !exists {
        out.push_str(&e.line());
        changed = true;
    }
    (out, changed)
}

/// fstab without the entry (only 6-field lines are entries to this step, as in the module).
fn unset_mount(fstab: &str, e: &Entry) -> (String, bool) {
    let mut out = String::new();
    let mut changed = false;
    for line in fstab.split_inclusive('\n') {
        let t = line.trim();
        let fields: Vec<&str> = line.split_whitespace().collect();
        if t.is_empty()
            || t.starts_with('#')
            || fields.len() != 6
            || !e.is_mine(fields[1], fields[2], fields[0])
        {
            out.push_str(line);
            continue;
        }
        changed = true;
    }
    (out, changed)
}

/// Mount points from /proc/self/mountinfo: destination → (source, fstype). A bind mount's
/// source is the directory it shows, found from its root within its parent's mount.
fn linux_mounts(mountinfo: &str) -> HashMap<String, String> {
    struct Rec<'a> {
        id: i64,
        parent: i64,
        root: String,
        dst: &'a str,
        src: &'a str,
    }
    let mut recs: Vec<Rec> = Vec::new();
    for line in mountinfo.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 7 {
            continue;
        }
        let (Ok(id), Ok(parent)) = (f[0].parse(), f[1].parse()) else {
            continue;
        };
        recs.push(Rec {
            id,
            parent,
            root: f[3].to_string(),
            dst: f[4],
            src: f[f.len() - 2],
        });
    }
    let by_id: HashMap<i64, (String, &str)> = recs
        .iter()
        .map(|r| (r.id, (r.root.clone(), r.dst)))
        .collect();
    let mut out = HashMap::new();
    for r in &recs {
        let src = match by_id.get(&r.parent) {
            Some((proot, pdst)) if r.parent != 1 => {
                let mut root = r.root.clone();
                if proot.len() > 1 && root.starts_with(&format!("{proot}/")) {
                    root = root[proot.len()..].to_string();
                }
                if *pdst != "/" {
                    root = format!("{pdst}{root}");
                }
                root
            }
            _ => r.src.to_string(),
        };
        out.insert(r.dst.to_string(), src);
    }
    out
}

/// What the query learnt about the host.
struct Host {
    mounts: Option<HashMap<String, String>>,
    /// `ismount(path)`: a mount point by device and inode, as Python's check.
    ismount: bool,
    exists: bool,
    fstab: String,
    mount_v: String,
}

impl Host {
    fn bind_mounted(&self, dest: &str, src: Option<&str>) -> bool {
        match (&self.mounts, src) {
            (Some(m), None) => m.contains_key(dest),
            (Some(m), Some(s)) => m.get(dest).is_some_and(|have| have == s),
            (None, _) => false,
        }
    }

    fn mounted(&self, dest: &str) -> bool {
        self.ismount || self.bind_mounted(dest, None)
    }
}

fn parse_ismount(text: &str) -> (bool, bool) {
    let lines: Vec<&str> = text.lines().collect();
    match lines.first().copied() {
        Some("exists") => {
            let ismount = match (lines.get(1), lines.get(2)) {
                (Some(a), Some(b)) => {
                    let a: Vec<&str> = a.split_whitespace().collect();
                    let b: Vec<&str> = b.split_whitespace().collect();
                    a.len() == 2 && b.len() == 2 && (a[0] != b[0] || a[1] == b[1])
                }
                _ => false,
            };
            (true, ismount)
        }
        Some("link") => (true, false),
        _ => (false, false),
    }
}

fn fail_out(what: &str, name: &str, out: &crate::connection::Output) -> TaskResult {
    TaskResult::failed(format!(
        "Error {what} {name}: {}{}",
        out.stdout_text(),
        out.stderr_text()
    ))
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> TaskResult {
    let state = args.str("state").unwrap_or_default();
    let name = args.str("path").unwrap_or_default();
    let fstab = args.str("fstab").unwrap_or_else(|| "/etc/fstab".into());
    let custom_fstab = args.str("fstab").is_some_and(|f| f != "/etc/fstab");
    let boot = args.bool("boot");
    let mut opts = args.str("opts").unwrap_or_else(|| "defaults".into());
    let mut warnings = Vec::new();
    let mut opt_list: Vec<&str> = opts.split(',').collect();
    if boot && opt_list.contains(&"noauto") {
        warnings.push("Ignore the 'boot' due to 'opts' contains 'noauto'.".to_string());
    } else if !boot {
        opt_list.push("noauto");
        opts = opt_list.join(",");
    }
    let entry = Entry {
        name: name.clone(),
        src: args.str("src"),
        fstype: args.str("fstype"),
        opts: opts.clone(),
        dump: args.str("dump").unwrap_or_else(|| "0".into()),
        passno: args.str("passno").unwrap_or_else(|| "0".into()),
    };
    let (qn, qf) = (quote::quote(&name), quote::quote(&fstab));
    let mut query = format!(
        "set -f; {need}{mi}; cat /proc/self/mountinfo 2>/dev/null || {nomi}; {path}; \
         if [ -L {qn} ]; then echo link; elif [ -e {qn} ]; then echo exists; stat -c '%d %i' {qn}; stat -L -c '%d %i' {qn}/..; fi; \
         if [ -f {qf} ]; then {fs}; cat {qf}; fi",
        need = need_bin("mount"),
        mi = marker("mountinfo"),
        nomi = marker("nomountinfo"),
        path = marker("path"),
        fs = marker("fstab"),
    );
    if state == "ephemeral" {
        query.push_str(&format!("; {}; mount -v", marker("mountv")));
    }
    let out = try_conn!(cx.sh(query).await);
    let all = sections(&out.stdout_text());
    if let Some(e) = missing_bin(&all, "mount") {
        return TaskResult::failed(e);
    }
    let (exists, ismount) = parse_ismount(section(&all, "path").unwrap_or_default());
    let host = Host {
        mounts: section(&all, "nomountinfo")
            .is_none()
            .then(|| linux_mounts(section(&all, "mountinfo").unwrap_or_default())),
        ismount,
        exists,
        fstab: section(&all, "fstab").unwrap_or_default().to_string(),
        mount_v: section(&all, "mountv").unwrap_or_default().to_string(),
    };
    if host.mounts.is_none() {
        warnings.push(
            "Cannot open file /proc/self/mountinfo. Bind mounts might be misinterpreted.".into(),
        );
    }
    let fstab_arg = if custom_fstab {
        format!(" -T {qf}")
    } else {
        String::new()
    };
    let mount_cmd = if state == "ephemeral" {
        let mut c = format!(
            "mount -t {}",
            quote::quote(entry.fstype.as_deref().unwrap_or(""))
        );
        if opts != "defaults" {
            c.push_str(&format!(" -o {}", quote::quote(&opts)));
        }
        c.push_str(&format!(
            " {} {qn}",
            quote::quote(entry.src.as_deref().unwrap_or(""))
        ));
        c
    } else {
        format!("mount{fstab_arg} {qn}")
    };
    let remount_cmd = {
        let o = if state == "remounted" && opts != "defaults" {
            format!("remount,{opts}")
        } else {
            "remount".to_string()
        };
        let tail = if state == "ephemeral" {
            mount_cmd.trim_start_matches("mount").to_string()
        } else {
            format!("{fstab_arg} {qn}")
        };
        format!("mount -o {}{tail}", quote::quote(&o))
    };
    let mut backup_file = String::new();
    let mut changed = false;

    match state.as_str() {
        "absent_from_fstab" | "absent" => {
            let (text, c) = unset_mount(&host.fstab, &entry);
            changed = c;
            if changed && !cx.check_mode {
                match write_fstab(cx, &fstab, text, args.bool("backup")).await {
                    Ok(b) => backup_file = b,
                    Err(r) => return r,
                }
                if state == "absent" {
                    if host.mounted(&name) {
                        let out = try_conn!(cx.sh(format!("umount {qn}")).await);
                        if out.rc != 0 {
                            return fail_out("unmounting", &name, &out);
                        }
                    }
                    if host.exists {
                        let out = try_conn!(cx.sh(format!("rmdir {qn}")).await);
                        if out.rc != 0 {
                            return TaskResult::failed(format!(
                                "Error rmdir {name}: {}",
                                out.stderr_text().trim()
                            ));
                        }
                    }
                }
            }
        }
        "unmounted" => {
            if host.mounted(&name) {
                if !cx.check_mode {
                    let out = try_conn!(cx.sh(format!("umount {qn}")).await);
                    if out.rc != 0 {
                        return fail_out("unmounting", &name, &out);
                    }
                }
                changed = true;
            }
        }
        "mounted" | "ephemeral" => {
            let old = host.fstab.clone();
            if state == "mounted" {
                let (text, c) = set_mount(&host.fstab, &entry);
                changed = c;
                if changed && !cx.check_mode {
                    match write_fstab(cx, &fstab, text, args.bool("backup")).await {
                        Ok(b) => backup_file = b,
                        Err(r) => return r,
                    }
                }
            }
            let is_mounted = host.ismount || host.bind_mounted(&name, entry.src.as_deref());
            let mut failure: Option<crate::connection::Output> = None;
            if is_mounted {
                if changed && !cx.check_mode {
                    match try_conn!(
                        remount(cx, &state, &opts, &remount_cmd, &name, &mount_cmd).await
                    ) {
                        Remount::Done => {}
                        Remount::Failed(out) => failure = Some(out),
                        Remount::Refused => return refused(),
                    }
                }
                if state == "ephemeral" {
                    if !same_src(&host, entry.src.as_deref().unwrap_or(""), &name) {
                        return TaskResult::failed(
                            "Ephemeral mount point is already mounted with a different source than the specified one. Failing in order to prevent an unwanted unmount or override operation. Try replacing this command with a \"state: unmounted\" followed by a \"state: ephemeral\", or use a different destination path.",
                        );
                    }
                    changed = true;
                    if !cx.check_mode {
                        match try_conn!(
                            remount(cx, &state, &opts, &remount_cmd, &name, &mount_cmd).await
                        ) {
                            Remount::Done => {}
                            Remount::Failed(out) => failure = Some(out),
                            Remount::Refused => return refused(),
                        }
                    }
                }
            } else {
                changed = true;
                if !cx.check_mode {
                    // Missing directories are made, and removed again if the mount fails.
                    let script = format!(
                        "set -f; made=; p=; for d in {parts}; do p=\"$p/$d\"; [ -e \"$p\" ] || {{ mkdir \"$p\" || exit 1; made=\"$p $made\"; }}; done; \
                         if ! {mount_cmd}; then for d in $made; do rmdir \"$d\"; done; exit 1; fi",
                        parts = quote::join(
                            name.trim_matches('/').split('/').filter(|s| !s.is_empty())
                        ),
                    );
                    let out = try_conn!(cx.sh(script).await);
                    if out.rc != 0 {
                        failure = Some(out);
                    }
                }
            }
            if let Some(out) = failure {
                if state == "mounted" && changed {
                    // A broken fstab entry could stop the next boot: the old file goes back.
                    let _ = write_fstab(cx, &fstab, old, false).await;
                }
                return fail_out("mounting", &name, &out);
            }
        }
        "present" => {
            let (text, c) = set_mount(&host.fstab, &entry);
            changed = c;
            if changed && !cx.check_mode {
                match write_fstab(cx, &fstab, text, args.bool("backup")).await {
                    Ok(b) => backup_file = b,
                    Err(r) => return r,
                }
            }
        }
        _ => {
            // remounted
            if !cx.check_mode {
                match try_conn!(remount(cx, &state, &opts, &remount_cmd, &name, &mount_cmd).await) {
                    Remount::Done => {}
                    Remount::Refused => return refused(),
                    Remount::Failed(out) => return fail_out("remounting", &name, &out),
                }
            }
            changed = true;
        }
    }

    let mut r = TaskResult::changed(changed)
        .with("name", Value::str(name))
        .with("opts", Value::str(opts))
        .with("dump", Value::str(entry.dump))
        .with("passno", Value::str(entry.passno))
        .with("fstab", Value::str(fstab))
        .with("boot", Value::str(if boot { "yes" } else { "no" }))
        .with("backup_file", Value::str(backup_file));
    if let Some(s) = entry.src {
        r = r.with("src", Value::str(s));
    }
    if let Some(f) = entry.fstype {
        r = r.with("fstype", Value::str(f));
    }
    if !warnings.is_empty() {
        r = r.with(
            "warnings",
            Value::Seq(warnings.into_iter().map(Value::str).collect()),
        );
    }
    r
}

/// Whether the mount point shows `src` mounted (bind mounts by their directory, others as
/// `mount -v` lists them).
fn same_src(host: &Host, src: &str, dest: &str) -> bool {
    if !host.mounted(dest) {
        return false;
    }
    if host.bind_mounted(dest, Some(src)) {
        return true;
    }
    host.mount_v.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 2 && f[0] == src && f[2] == dest
    })
}

/// How a remount ended.
enum Remount {
    Done,
    /// Neither the remount nor the umount-and-mount fallback worked.
    Failed(crate::connection::Output),
    /// The module refuses the fallback when options were asked for.
    Refused,
}

fn refused() -> TaskResult {
    TaskResult::failed(
        "Options were specified with remounted, but the remount command failed. Failing in order to prevent an unexpected mount result. Try replacing this command with a \"state: unmounted\" followed by a \"state: mounted\" using the full desired mount options instead.",
    )
}

/// `mount -o remount`, falling back to umount and mount as the module does.
async fn remount(
    cx: &TaskCx<'_>,
    state: &str,
    opts: &str,
    remount_cmd: &str,
    name: &str,
    mount_cmd: &str,
) -> Result<Remount, crate::connection::ConnError> {
    let out = cx.sh(remount_cmd.to_string()).await?;
    if out.rc == 0 {
        return Ok(Remount::Done);
    }
    if state == "remounted" && opts != "defaults" {
        return Ok(Remount::Refused);
    }
    let out = cx
        .sh(format!("umount {} && {mount_cmd}", quote::quote(name)))
        .await?;
    Ok(if out.rc == 0 {
        Remount::Done
    } else {
        Remount::Failed(out)
    })
}

/// Writes fstab (made with its directory when missing); the backup's path when asked.
async fn write_fstab(
    cx: &TaskCx<'_>,
    fstab: &str,
    text: String,
    backup: bool,
) -> Result<String, TaskResult> {
    let dir = crate::connection::parent_dir(fstab);
    let opts = PutOptions {
        on_temp: Vec::new(),
        validate: None,
        backup,
    };
    let mk = cx.sh(format!("mkdir -p {}", quote::quote(&dir))).await;
    if let Err(e) = mk {
        return Err(super::conn_failure(e));
    }
    let out = cx
        .put(Input::Bytes(text.into_bytes()), fstab, &opts)
        .await
        .map_err(super::conn_failure)?;
    if out.rc != 0 {
        return Err(TaskResult::failed(format!(
            "Failed to write {fstab}: {}",
            out.stderr_text().trim()
        )));
    }
    Ok(out
        .stdout_text()
        .lines()
        .find_map(|l| l.strip_prefix(BACKUP_MARKER))
        .unwrap_or_default()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, src: &str) -> Entry {
        Entry {
            name: name.into(),
            src: Some(src.into()),
            fstype: Some("tmpfs".into()),
            opts: "size=1m".into(),
            dump: "0".into(),
            passno: "0".into(),
        }
    }

    #[test]
    fn fstab_lines_set_and_unset() {
        let fstab = "# static\nUUID=1 / ext4 defaults 0 1\ntmpfs /mnt/a\\040b tmpfs size=2m\n";
        let e = entry("/mnt/a b", "tmpfs");
        let (text, changed) = set_mount(fstab, &e);
        assert!(changed);
        assert_eq!(
            text,
            "# static\nUUID=1 / ext4 defaults 0 1\ntmpfs /mnt/a\\040b tmpfs size=1m 0 0\n"
        );
        assert_eq!(set_mount(&text, &e), (text.clone(), false));
        // A line without its last two fields is rewritten whole, as the module does.
        let short = "tmpfs /mnt/a\\040b tmpfs size=1m\n";
        assert!(set_mount(short, &e).1);
        let (gone, changed) = unset_mount(&text, &e);
        assert!(changed);
        assert_eq!(gone, "# static\nUUID=1 / ext4 defaults 0 1\n");
        // A new entry goes at the end; a file without a final newline gets one.
        let (added, _) = set_mount("a /b ext4 defaults 0 0", &entry("/c", "tmpfs"));
        assert_eq!(
            added,
            "a /b ext4 defaults 0 0\ntmpfs /c tmpfs size=1m 0 0\n"
        );
    }

    #[test]
    fn bind_mount_sources_from_mountinfo() {
        let mi = "1 0 0:1 / / rw - ext4 /dev/root rw\n\
                  42 1 0:35 / /tmp rw - tmpfs tmpfs rw\n\
                  78 42 0:35 /aaa /tmp/bbb rw - tmpfs tmpfs rw\n\
                  90 1 0:40 / /mnt/t rw shared:1 - tmpfs tmpfs rw\n";
        let m = linux_mounts(mi);
        assert_eq!(m["/tmp/bbb"], "/tmp/aaa");
        assert_eq!(m["/mnt/t"], "tmpfs");
        assert_eq!(m["/tmp"], "tmpfs");
    }

    #[test]
    fn ismount_by_device_and_inode() {
        assert_eq!(parse_ismount("exists\n2049 10\n2049 2\n"), (true, false));
        assert_eq!(parse_ismount("exists\n50 1\n2049 2\n"), (true, true));
        assert_eq!(parse_ismount("exists\n2049 2\n2049 2\n"), (true, true));
        assert_eq!(parse_ismount("link\n"), (true, false));
        assert_eq!(parse_ismount(""), (false, false));
    }
}
