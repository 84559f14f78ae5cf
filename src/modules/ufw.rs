//! `ufw` (community.general.ufw): the target's Uncomplicated Firewall: enabled, disabled,
//! reloaded or reset, default policies, logging, and rules, through its `ufw` command line as
//! the module builds it. Changes are found as the module finds them: `ufw status verbose` and
//! the rule tuples in the user rules files, before and after; check mode asks `--dry-run`.

use super::sections::{marker, missing_bin, need_bin, section, sections};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

pub struct Ufw;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("state", Kind::Str).choices(&["enabled", "disabled", "reloaded", "reset"]),
        Opt::new("default", Kind::Str)
            .aliases(&["policy"])
            .choices(&["allow", "deny", "reject"]),
        Opt::new("logging", Kind::Str).choices(&["full", "high", "low", "medium", "off", "on"]),
        Opt::new("direction", Kind::Str).choices(&["in", "incoming", "out", "outgoing", "routed"]),
        Opt::new("delete", Kind::Bool).default("false"),
        Opt::new("route", Kind::Bool).default("false"),
        Opt::new("insert", Kind::Int),
        Opt::new("insert_relative_to", Kind::Str)
            .default("zero")
            .choices(&["zero", "first-ipv4", "last-ipv4", "first-ipv6", "last-ipv6"]),
        Opt::new("rule", Kind::Str).choices(&["allow", "deny", "limit", "reject"]),
        Opt::new("interface", Kind::Str)
            .aliases(&["if"])
            .requires(&["direction"]),
        Opt::new("interface_in", Kind::Str).aliases(&["if_in"]),
        Opt::new("interface_out", Kind::Str).aliases(&["if_out"]),
        Opt::new("log", Kind::Bool).default("false"),
        Opt::new("from_ip", Kind::Str)
            .default("any")
            .aliases(&["from", "src"]),
        Opt::new("from_port", Kind::Str),
        Opt::new("to_ip", Kind::Str)
            .default("any")
            .aliases(&["dest", "to"]),
        Opt::new("to_port", Kind::Str).aliases(&["port"]),
        Opt::new("proto", Kind::Str)
            .aliases(&["protocol"])
            .choices(&[
                "ah", "any", "esp", "ipv6", "tcp", "udp", "gre", "igmp", "vrrp",
            ]),
        Opt::new("name", Kind::Str).aliases(&["app"]),
        Opt::new("comment", Kind::Str),
    ],
    mutually_exclusive: &[
        &["name", "proto", "logging"],
        &["direction", "interface_in"],
        &["direction", "interface_out"],
    ],
    required_one_of: &[&["state", "default", "rule", "logging"]],
    required_together: &[],
    free_form: false,
    open: false,
};

#[async_trait]
impl Module for Ufw {
    fn name(&self) -> &'static str {
        "ufw"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        &["community.general"]
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        run(cx, &args).await
    }
}

const RULE_FILES: &[&str] = &[
    "/lib/ufw/user.rules",
    "/lib/ufw/user6.rules",
    "/etc/ufw/user.rules",
    "/etc/ufw/user6.rules",
    "/var/lib/ufw/user.rules",
    "/var/lib/ufw/user6.rules",
];

const IPV4: &str =
    r"((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])";
const IPV6: &str = concat!(
    r"(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:",
    r"|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}",
    r"(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4})",
    r"{1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]",
    r"{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]",
    r"{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)|fe80:(:[0-9a-fA-F]{0,4})",
    r"{0,4}%[0-9a-zA-Z]{1,}|::(ffff(:0{1,4}){0,1}:){0,1}((25[0-5]|(2[0-4]",
    r"|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}",
    r"[0-9])|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}",
    r"[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9]))"
);

fn re(p: &str) -> Regex {
    Regex::new(p).unwrap_or_else(|e| panic!("built-in pattern: {e}"))
}

static V4: LazyLock<Regex> = LazyLock::new(|| re(IPV4));
static V6: LazyLock<Regex> = LazyLock::new(|| re(IPV6));
static V4_START: LazyLock<Regex> = LazyLock::new(|| re(&format!("^(?:{IPV4})")));
static V6_START: LazyLock<Regex> = LazyLock::new(|| re(&format!("^(?:{IPV6})")));

/// The lines of `text` (ends kept) that `keep` accepts, joined.
fn filter_lines(text: &str, keep: impl Fn(&str) -> bool) -> String {
    text.split_inclusive('\n').filter(|l| keep(l)).collect()
}

/// One ufw invocation: its words, shown as the module shows commands (words joined by
/// spaces) and run with each word quoted.
struct Cmd(Vec<String>);

impl Cmd {
    fn shown(&self) -> String {
        self.0.join(" ")
    }
    fn script(&self) -> String {
        quote::join(&self.0)
    }
}

/// The module's check for a rule in check mode: does the dry run's rule set differ from the
/// current one (compared per address family when the rule names an address)?
fn dry_run_changes(pre_rules: &str, dry: &str, from_ip: &str, to_ip: &str) -> bool {
    let total = dry.split_inclusive('\n').count();
    let skipping = dry
        .split_inclusive('\n')
        .filter(|l| l.contains("Skipping"))
        .count();
    if skipping > 0 && skipping == total {
        return false;
    }
    let dry = filter_lines(dry, |l| l.starts_with("### tuple"));
    if V4_START.is_match(from_ip) || V4_START.is_match(to_ip) {
        filter_lines(pre_rules, |l| V4.is_match(l)) != filter_lines(&dry, |l| V4.is_match(l))
    } else if V6_START.is_match(from_ip) || V6_START.is_match(to_ip) {
        filter_lines(pre_rules, |l| V6.is_match(l)) != filter_lines(&dry, |l| V6.is_match(l))
    } else {
        pre_rules != dry
    }
}

/// Whether `logging VALUE` changes what `status verbose` says.
fn logging_changes(pre_state: &str, value: &str) -> bool {
    static LOGGING: LazyLock<Regex> = LazyLock::new(|| re(r"Logging: (on|off)(?: \(([a-z]+)\))?"));
    let Some(c) = LOGGING.captures(pre_state) else {
        return true;
    };
    let on_off = &c[1];
    let level = c.get(2).map(|m| m.as_str());
    if value != "off" {
        on_off == "off" || (value != "on" && Some(value) != level)
    } else {
        on_off != "off"
    }
}

fn default_changes(pre_state: &str, value: &str, direction: Option<&str>) -> bool {
    static DEFAULT: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"Default: (deny|allow|reject) \(incoming\), (deny|allow|reject) \(outgoing\), (deny|allow|reject|disabled) \(routed\)",
        )
    });
    let Some(c) = DEFAULT.captures(pre_state) else {
        return true;
    };
    let v = match direction.unwrap_or("incoming") {
        "outgoing" => &c[2],
        "routed" => &c[3],
        _ => &c[1],
    };
    v != value && v != "disabled"
}

/// The rule number an insert goes to, relative to the IPv4 or IPv6 rules as the module
/// counts them in `ufw status numbered`; None past the last rule.
fn insert_position(numbered: &str, insert: i64, relative_to: &str) -> (Option<i64>, bool) {
    static NUM: LazyLock<Regex> = LazyLock::new(|| re(r"^\[ *([0-9]+)\] "));
    let lines: Vec<(i64, bool)> = numbered
        .lines()
        .filter_map(|l| {
            let n = NUM.captures(l)?[1].parse().ok()?;
            Some((n, l.contains("(v6)") || V6.is_match(l)))
        })
        .collect();
    let last = lines.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let last4 = lines.iter().filter(|(_, v6)| !v6).map(|(n, _)| *n).max();
    let first6 = lines.iter().filter(|(_, v6)| *v6).map(|(n, _)| *n).min();
    let last6 = lines.iter().filter(|(_, v6)| *v6).map(|(n, _)| *n).max();
    let warn = matches!((last4, first6), (Some(a), Some(b)) if a > b);
    let relative = match relative_to {
        "first-ipv4" => 1,
        "last-ipv4" => last4.unwrap_or(1),
        "first-ipv6" => first6.unwrap_or(last4.map_or(1, |l| l + 1)),
        _ => last6.unwrap_or(last + 1),
    };
    let at = insert + relative;
    ((at <= last).then_some(at), warn)
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> TaskResult {
    let s = |k: &str| args.str(k);
    let query = format!(
        "LANGUAGE=C; LC_ALL=C; export LANGUAGE LC_ALL; {ufw_need}{grep_need}{b}; command -v ufw; command -v grep; \
         {st}; ufw status verbose; {rules}; grep -h '^### tuple' {files}; {ver}; ufw --version",
        ufw_need = need_bin("ufw"),
        grep_need = need_bin("grep"),
        b = marker("bins"),
        st = marker("status"),
        rules = marker("rules"),
        files = RULE_FILES.join(" "),
        ver = marker("version"),
    );
    let out = try_conn!(cx.sh(query).await);
    let all = sections(&out.stdout_text());
    for bin in ["ufw", "grep"] {
        if let Some(e) = missing_bin(&all, bin) {
            return TaskResult::failed(e);
        }
    }
    let bins: Vec<String> = section(&all, "bins")
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let ufw = bins.first().cloned().unwrap_or_else(|| "ufw".into());
    let grep = bins.get(1).cloned().unwrap_or_else(|| "grep".into());
    let pre_state = section(&all, "status").unwrap_or_default().to_string();
    let pre_rules = section(&all, "rules").unwrap_or_default().to_string();
    let version = section(&all, "version").unwrap_or_default().to_string();
    let mut shown: Vec<String> = vec![
        format!("{ufw} status verbose"),
        format!("{grep} -h '^### tuple' {}", RULE_FILES.join(" ")),
    ];
    let env = "LANGUAGE=C; LC_ALL=C; export LANGUAGE LC_ALL; ";
    let mut warnings: Vec<Value> = Vec::new();
    let mut changed = false;
    let base = |words: &[&str]| {
        let mut w = vec![ufw.clone()];
        if cx.check_mode {
            w.push("--dry-run".into());
        }
        w.extend(words.iter().map(|s| s.to_string()));
        Cmd(w)
    };
    let fail = |msg: String, shown: &[String]| {
        TaskResult::failed(msg).with(
            "commands",
            Value::Seq(shown.iter().cloned().map(Value::str).collect()),
        )
    };
    macro_rules! exec {
        ($cmd:expr) => {{
            let cmd: Cmd = $cmd;
            shown.push(cmd.shown());
            let out = try_conn!(cx.sh(format!("{env}{}", cmd.script())).await);
            if out.rc != 0 {
                let err = out.stderr_text();
                return fail(
                    if err.is_empty() {
                        out.stdout_text()
                    } else {
                        err
                    },
                    &shown,
                );
            }
            out.stdout_text()
        }};
    }

    if let Some(value) = s("state") {
        let verb = match value.as_str() {
            "enabled" => "enable",
            "disabled" => "disable",
            "reloaded" => "reload",
            _ => "reset",
        };
        if matches!(value.as_str(), "reloaded" | "reset") {
            changed = true;
        }
        if cx.check_mode {
            // " active" and not "inactive".
            let enabled = pre_state.contains(" active");
            if (value == "disabled" && enabled) || (value == "enabled" && !enabled) {
                changed = true;
            }
        } else {
            exec!(base(&["-f", verb]));
        }
    }
    if let Some(value) = s("default") {
        let direction = s("direction");
        if !matches!(
            direction.as_deref(),
            None | Some("outgoing" | "incoming" | "routed")
        ) {
            return TaskResult::failed(
                "For default, direction must be one of \"outgoing\", \"incoming\" and \"routed\", or direction must not be specified.",
            );
        }
        if cx.check_mode {
            if default_changes(&pre_state, &value, direction.as_deref()) {
                changed = true;
            }
        } else {
            let mut w = vec!["default", value.as_str()];
            if let Some(d) = &direction {
                w.push(d);
            }
            exec!(base(&w));
        }
    }
    if let Some(value) = s("rule") {
        let direction = s("direction");
        if !matches!(direction.as_deref(), None | Some("in" | "out")) {
            return TaskResult::failed(
                "For rules, direction must be one of \"in\" and \"out\", or direction must not be specified.",
            );
        }
        if !args.bool("route") && s("interface_in").is_some() && s("interface_out").is_some() {
            return TaskResult::failed(
                "Only route rules can combine interface_in and interface_out",
            );
        }
        let mut w: Vec<String> = Vec::new();
        if args.bool("route") {
            w.push("route".into());
        }
        if args.bool("delete") {
            w.push("delete".into());
        }
        if let (Some(Value::Int(n)), false) = (args.get("insert"), args.bool("delete")) {
            let relative = s("insert_relative_to").unwrap_or_else(|| "zero".into());
            let at = if relative == "zero" {
                Some(*n as i64)
            } else {
                let out = try_conn!(
                    cx.sh(format!("{env}{} status numbered", quote::quote(&ufw)))
                        .await
                );
                let (at, warn) = insert_position(&out.stdout_text(), *n as i64, &relative);
                if warn {
                    warnings.push(Value::str(
                        "ufw output could not be parsed correctly. ipv4 follows ipv6!",
                    ));
                }
                at
            };
            if let Some(at) = at {
                w.push("insert".into());
                w.push(at.to_string());
            }
        }
        w.push(value.clone());
        if let Some(d) = &direction {
            w.push(d.clone());
        }
        for (key, words) in [
            ("interface", &["on"][..]),
            ("interface_in", &["in", "on"]),
            ("interface_out", &["out", "on"]),
        ] {
            if let Some(i) = s(key) {
                w.extend(words.iter().map(|x| x.to_string()));
                w.push(i);
            }
        }
        if args.bool("log") {
            w.push("log".into());
        }
        for (key, word) in [
            ("from_ip", "from"),
            ("from_port", "port"),
            ("to_ip", "to"),
            ("to_port", "port"),
            ("proto", "proto"),
            ("name", "app"),
        ] {
            if let Some(v) = s(key).filter(|v| !v.is_empty()) {
                w.push(word.into());
                w.push(v);
            }
        }
        // Comments exist from ufw 0.35 on.
        static VERSION: LazyLock<Regex> =
            LazyLock::new(|| re(r"^ufw.+(\d+)\.(\d+)(?:\.(\d+))?.*$"));
        shown.push(format!("{ufw} --version"));
        let Some(v) = version
            .lines()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| VERSION.captures(l))
        else {
            return TaskResult::failed("Failed to get ufw version.").with("rc", Value::Int(0));
        };
        let (major, minor): (u32, u32) = (v[1].parse().unwrap_or(0), v[2].parse().unwrap_or(0));
        if let Some(c) = s("comment")
            && (major > 0 || minor >= 35)
        {
            w.push("comment".into());
            w.push(c);
        }
        let words: Vec<&str> = w.iter().map(String::as_str).collect();
        let dry = exec!(base(&words));
        if cx.check_mode
            && dry_run_changes(
                &pre_rules,
                &dry,
                &s("from_ip").unwrap_or_default(),
                &s("to_ip").unwrap_or_default(),
            )
        {
            changed = true;
        }
    }
    if let Some(value) = s("logging") {
        if logging_changes(&pre_state, &value) {
            changed = true;
        }
        if !cx.check_mode {
            exec!(base(&["logging", &value]));
        }
    }

    let commands = |shown: &[String]| Value::Seq(shown.iter().cloned().map(Value::str).collect());
    if cx.check_mode {
        let mut r = TaskResult::changed(changed).with("commands", commands(&shown));
        if !warnings.is_empty() {
            r = r.with("warnings", Value::Seq(warnings));
        }
        return r;
    }
    let post = format!(
        "{env}{st}; ufw status verbose; {rules}; grep -h '^### tuple' {files}",
        st = marker("status"),
        rules = marker("rules"),
        files = RULE_FILES.join(" "),
    );
    shown.push(format!("{ufw} status verbose"));
    let out = try_conn!(
        cx.sh(format!(
            "PATH=\"$PATH:/sbin:/usr/sbin:/usr/local/sbin\"; {post}"
        ))
        .await
    );
    let all = sections(&out.stdout_text());
    let post_state = section(&all, "status").unwrap_or_default().to_string();
    if !changed {
        shown.push(format!("{grep} -h '^### tuple' {}", RULE_FILES.join(" ")));
        let post_rules = section(&all, "rules").unwrap_or_default();
        changed = pre_state != post_state || pre_rules != post_rules;
    }
    let mut r = TaskResult::changed(changed)
        .with("commands", commands(&shown))
        .msg(post_state.trim_end().to_string());
    if !warnings.is_empty() {
        r = r.with("warnings", Value::Seq(warnings));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\nNew profiles: skip\n";

    #[test]
    fn check_mode_predictions() {
        assert!(!logging_changes(STATUS, "on"));
        assert!(!logging_changes(STATUS, "low"));
        assert!(logging_changes(STATUS, "high"));
        assert!(logging_changes(STATUS, "off"));
        assert!(!default_changes(STATUS, "deny", None));
        assert!(default_changes(STATUS, "allow", Some("incoming")));
        assert!(!default_changes(STATUS, "allow", Some("outgoing")));
        // `disabled` routing is never a change for the module.
        assert!(!default_changes(STATUS, "allow", Some("routed")));
    }

    #[test]
    fn dry_runs_compared_per_family() {
        let pre = "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n### tuple ### allow tcp 22 ::/0 any ::/0 in\n";
        let dry_same = "*filter\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\nCOMMIT\n";
        assert!(!dry_run_changes(pre, dry_same, "10.0.0.1", "any"));
        let dry_new = "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n### tuple ### allow tcp 80 0.0.0.0/0 any 10.0.0.1 in\n";
        assert!(dry_run_changes(pre, dry_new, "10.0.0.1", "any"));
        assert!(!dry_run_changes(
            pre,
            "Skipping adding existing rule\nSkipping adding existing rule (v6)\n",
            "any",
            "any"
        ));
    }

    #[test]
    fn insert_positions() {
        let numbered = "Status: active\n\n     To                         Action      From\n     --                         ------      ----\n[ 1] 22/tcp                     ALLOW IN    Anywhere\n[ 2] 80/tcp                     ALLOW IN    Anywhere\n[ 3] 22/tcp (v6)                ALLOW IN    Anywhere (v6)\n";
        assert_eq!(insert_position(numbered, 0, "first-ipv6"), (Some(3), false));
        assert_eq!(insert_position(numbered, 1, "first-ipv4"), (Some(2), false));
        assert_eq!(insert_position(numbered, 1, "last-ipv6"), (None, false));
    }
}
