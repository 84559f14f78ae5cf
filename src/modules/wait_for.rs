//! `wait_for`: wait on the target for a port to open or close, a file to appear (holding a
//! pattern) or go, or a port's connections to drain. The waiting loop is a POSIX sh script
//! on the target: ports are probed with `nc`, else bash's `/dev/tcp`, else by the listening
//! sockets in /proc/net/tcp{,6}; drained reads /proc/net/tcp{,6} as the module does. A
//! pattern is matched on the controller with Python's `re` semantics (fancy-regex), the
//! script handing over the file's (or the socket's) text once it is there.

use super::sections::{marker, section, sections};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::try_conn;
use crate::yaml::{Map, Value};
use async_trait::async_trait;
use std::time::{Duration, Instant};

pub struct WaitFor;

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("host", Kind::Str).default("127.0.0.1"),
    Opt::new("timeout", Kind::Int).default("300"),
    Opt::new("connect_timeout", Kind::Int).default("5"),
    Opt::new("delay", Kind::Int).default("0"),
    Opt::new("port", Kind::Int),
    Opt::new("active_connection_states", Kind::List)
        .default("ESTABLISHED,FIN_WAIT1,FIN_WAIT2,SYN_RECV,SYN_SENT,TIME_WAIT"),
    Opt::new("path", Kind::Path),
    Opt::new("search_regex", Kind::Str),
    Opt::new("state", Kind::Str)
        .default("started")
        .choices(&["absent", "drained", "present", "started", "stopped"]),
    Opt::new("exclude_hosts", Kind::List),
    Opt::new("sleep", Kind::Int).default("1"),
    Opt::new("msg", Kind::Str),
]);

#[async_trait]
impl Module for WaitFor {
    fn name(&self) -> &'static str {
        "wait_for"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        if cx.check_mode {
            return TaskResult::skipped("remote module (wait_for) does not support check mode");
        }
        run(cx, &args).await
    }
}

fn state_id(s: &str) -> Option<&'static str> {
    Some(match s {
        "ESTABLISHED" => "01",
        "SYN_SENT" => "02",
        "SYN_RECV" => "03",
        "FIN_WAIT1" => "04",
        "FIN_WAIT2" => "05",
        "TIME_WAIT" => "06",
        _ => return None,
    })
}

/// An address as /proc/net/tcp{,6} prints it: each 4-byte word in host (little-endian)
/// order, as `family:HEX`. `localhost` is both loopback addresses; other names are not
/// resolved (the target would have to).
fn proc_hex(host: &str) -> Result<Vec<String>, String> {
    let addrs: Vec<std::net::IpAddr> = match host {
        "localhost" => vec![
            std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::Ipv6Addr::LOCALHOST.into(),
        ],
        h => vec![h.trim_matches(['[', ']']).parse().map_err(|_| {
            format!("kiln's wait_for reads /proc/net/tcp for IP addresses and localhost only, not the name `{h}`")
        })?],
    };
    Ok(addrs
        .into_iter()
        .map(|a| {
            let (fam, bytes) = match a {
                std::net::IpAddr::V4(v) => ("4", v.octets().to_vec()),
                std::net::IpAddr::V6(v) => ("6", v.octets().to_vec()),
            };
            let hex: String = bytes
                .chunks(4)
                .map(|w| format!("{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
                .collect();
            format!("{fam}:{hex}")
        })
        .collect())
}

/// Shell functions the loops use. `probe` connects to `$host $port` within `$ct` seconds;
/// `grab` prints, once connected, the `met` and `data` markers and what the server sends
/// in that time; `listening` is the last resort.
const FUNCS: &str = r#"listening() {
  awk -v p="$phex" 'FNR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == p) f = 1 } END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
probe() {
  if command -v nc >/dev/null 2>&1; then nc -z -w "$ct" "$host" "$port" </dev/null >/dev/null 2>&1; return; fi
  if command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then
    timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" </dev/null >/dev/null 2>&1; return
  fi
  listening
}
grab() {
  if command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then
    timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1; printf "@@kiln:met\n@@kiln:data\n"; exec cat <&3' "$host" "$port" 2>/dev/null
    return 0
  fi
  probe && { printf '@@kiln:met\n@@kiln:data\n'; nc -w "$ct" "$host" "$port" </dev/null 2>/dev/null; }
  return 0
}
drained() {
  awk -v p="$phex" -v states=" $states " -v ips=" $ips " -v excl=" $excl " '
    FNR == 1 { fam = (FILENAME ~ /6$/) ? 6 : 4; next }
    { split($2, l, ":"); split($3, r, ":")
      if (l[2] != p || index(states, " " $4 " ") == 0) next
      if (index(excl, " " fam ":" r[1] " ")) next
      all = (fam == 6) ? "00000000000000000000000000000000" : "00000000"
      if (index(ips, " " fam ":" l[1] " ") || index(ips, " " fam ":" all " ") ||
          (fam == 6 && substr(l[1], 1, 24) == "0000000000000000FFFF0000" && index(ips, " 6:0000000000000000FFFF000000000000 ")))
        n++ }
    END { exit n > 0 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
"#;

/// The loop: runs `check` every `$sleep` seconds until it holds (printing `met`, and for
/// checks that hand data over, the data) or `$left` seconds have passed (`timeout`).
fn loop_script(vars: &[(&str, String)], check: &str) -> String {
    let mut s = String::from("set -f; ");
    for (k, v) in vars {
        s.push_str(&format!("{k}={}; ", quote::quote(v)));
    }
    s.push_str(FUNCS);
    s.push_str(&format!(
        "end=$(( $(date +%s) + left )); while :; do {check} \
         [ \"$(date +%s)\" -lt \"$end\" ] || break; sleep \"$sleep\"; \
         [ \"$(date +%s)\" -lt \"$end\" ] || break; done; {}",
        marker("timeout")
    ));
    s
}

/// Runs the loop until its check holds (the output, with its `met` section) or `deadline`
/// passes (None). The script counts whole seconds, so it is run again while time is left.
async fn wait(
    cx: &TaskCx<'_>,
    vars: &[(&str, String)],
    check: &str,
    deadline: Instant,
) -> Result<Option<Vec<(String, String)>>, crate::connection::ConnError> {
    loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_secs_f64()
            .ceil() as u64;
        let mut v = vars.to_vec();
        v.push(("left", left.to_string()));
        let out = cx.sh(loop_script(&v, check)).await?;
        let all = sections(&out.stdout_text());
        if section(&all, "met").is_some() {
            return Ok(Some(all));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
    }
}

fn value_groups(caps: &fancy_regex::Captures<'_>, re: &fancy_regex::Regex) -> (Value, Value) {
    let groups: Vec<Value> = (1..caps.len())
        .map(|i| {
            caps.get(i)
                .map_or(Value::Null, |m| Value::str(m.as_str().to_string()))
        })
        .collect();
    let mut dict = Map::new();
    for name in re.capture_names().flatten() {
        dict.insert(
            Value::str(name),
            caps.name(name)
                .map_or(Value::Null, |m| Value::str(m.as_str().to_string())),
        );
    }
    (Value::Seq(groups), Value::Map(dict))
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> TaskResult {
    let int = |k: &str| match args.get(k) {
        Some(Value::Int(i)) => *i as i64,
        _ => 0,
    };
    let host = args.str("host").unwrap_or_else(|| "127.0.0.1".into());
    let (timeout, ct, delay, sleep) = (
        int("timeout"),
        int("connect_timeout"),
        int("delay"),
        int("sleep"),
    );
    let port = args.get("port").map(|_| int("port"));
    let path = args.str("path");
    let state = args.str("state").unwrap_or_else(|| "started".into());
    let regex_text = args.str("search_regex");
    let msg = args.str("msg");
    let fail = |m: String, elapsed: u64| {
        TaskResult::failed(msg.clone().unwrap_or(m)).with("elapsed", Value::Int(elapsed as i128))
    };
    let re = match &regex_text {
        Some(r) => match fancy_regex::Regex::new(&format!("(?m){r}")) {
            Ok(re) => Some(re),
            Err(e) => return TaskResult::failed(format!("Invalid regular expression: {e}")),
        },
        None => None,
    };
    if port.is_some() && path.is_some() {
        return fail(
            "port and path parameter can not both be passed to wait_for".into(),
            0,
        );
    }
    if path.is_some() && state == "stopped" {
        return fail(
            "state=stopped should only be used for checking a port in the wait_for module".into(),
            0,
        );
    }
    if path.is_some() && state == "drained" {
        return fail(
            "state=drained should only be used for checking a port in the wait_for module".into(),
            0,
        );
    }
    if args.get("exclude_hosts").is_some() && state != "drained" {
        return fail("exclude_hosts should only be with state=drained".into(), 0);
    }
    let mut states = Vec::new();
    for s in args.list("active_connection_states") {
        let s = crate::yaml::python_str(&s);
        match state_id(&s) {
            Some(id) => states.push(id),
            None => return fail(format!("unknown active_connection_state ({s}) defined"), 0),
        }
    }

    let start = Instant::now();
    let elapsed = || start.elapsed().as_secs();
    if delay > 0 {
        tokio::time::sleep(Duration::from_secs(delay as u64)).await;
    }
    let deadline = start + Duration::from_secs(timeout.max(0) as u64);
    let mut groups = (Value::Seq(Vec::new()), Value::Map(Map::new()));
    let port_s = port.map(|p| p.to_string()).unwrap_or_default();
    let phex = port.map(|p| format!("{:04X}", p)).unwrap_or_default();
    let mut vars: Vec<(&str, String)> = vec![
        ("host", host.clone()),
        ("port", port_s),
        ("phex", phex),
        ("ct", ct.max(1).to_string()),
        ("sleep", sleep.max(0).to_string()),
        ("p", path.clone().unwrap_or_default()),
    ];

    if port.is_none() && path.is_none() && state != "drained" {
        tokio::time::sleep(Duration::from_secs(timeout.max(0) as u64)).await;
    } else if state == "drained" {
        if port.is_none() {
            return fail(
                "kiln's wait_for needs a port for state=drained".into(),
                elapsed(),
            );
        }
        let mut excl = Vec::new();
        for h in args.list("exclude_hosts") {
            match proc_hex(&crate::yaml::python_str(&h)) {
                Ok(mut v) => excl.append(&mut v),
                Err(e) => return TaskResult::failed(e),
            }
        }
        let ips = match proc_hex(&host) {
            Ok(v) => v,
            Err(e) => return TaskResult::failed(e),
        };
        vars.push(("states", states.join(" ")));
        vars.push(("ips", ips.join(" ")));
        vars.push(("excl", excl.join(" ")));
        let check = format!("if drained; then {}; exit 0; fi;", marker("met"));
        if try_conn!(wait(cx, &vars, &check, deadline).await).is_none() {
            return fail(
                format!(
                    "Timeout when waiting for {host}:{} to drain",
                    port.unwrap_or(0)
                ),
                elapsed(),
            );
        }
    } else if state == "absent" || state == "stopped" {
        let check = if path.is_some() {
            format!("if [ ! -e \"$p\" ]; then {}; exit 0; fi;", marker("met"))
        } else {
            format!("if ! probe; then {}; exit 0; fi;", marker("met"))
        };
        if try_conn!(wait(cx, &vars, &check, deadline).await).is_none() {
            let m = match (&path, port) {
                (Some(p), _) => format!("Timeout when waiting for {p} to be absent."),
                (None, Some(po)) => format!("Timeout when waiting for {host}:{po} to stop."),
                _ => String::new(),
            };
            return fail(m, elapsed());
        }
    } else {
        // started / present: wait for the thing; with a pattern, hand its text over and
        // match here, trying again while time is left.
        let check = match (&path, &re) {
            (Some(_), None) => format!("if [ -e \"$p\" ]; then {}; exit 0; fi;", marker("met")),
            (Some(_), Some(_)) => format!(
                "if [ -e \"$p\" ] && [ -r \"$p\" ]; then {}; {}; cat \"$p\"; exit 0; fi;",
                marker("met"),
                marker("data")
            ),
            (None, None) => format!("if probe; then {}; exit 0; fi;", marker("met")),
            (None, Some(_)) => {
                "d=$(grab); case $d in @@kiln:met*) printf '%s\\n' \"$d\"; exit 0;; esac;".into()
            }
        };
        let mut matched = false;
        loop {
            let Some(all) = try_conn!(wait(cx, &vars, &check, deadline).await) else {
                break;
            };
            let Some(re) = &re else {
                matched = true;
                break;
            };
            let data = section(&all, "data").unwrap_or_default();
            if let Ok(Some(caps)) = re.captures(data) {
                groups = value_groups(&caps, re);
                matched = true;
                break;
            }
            if Instant::now() + Duration::from_secs(sleep.max(0) as u64) >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_secs(sleep.max(0) as u64)).await;
        }
        if !matched {
            let m = match (&path, port, &regex_text) {
                (None, Some(po), Some(r)) => {
                    format!("Timeout when waiting for search string {r} in {host}:{po}")
                }
                (None, Some(po), None) => format!("Timeout when waiting for {host}:{po}"),
                (Some(p), _, Some(r)) => {
                    format!("Timeout when waiting for search string {r} in {p}")
                }
                (Some(p), _, None) => format!("Timeout when waiting for file {p}"),
                _ => String::new(),
            };
            return fail(m, elapsed());
        }
    }
    let opt = |v: Option<String>| v.map_or(Value::Null, Value::str);
    TaskResult::ok()
        .with("state", Value::str(state))
        .with("port", port.map_or(Value::Null, |p| Value::Int(p as i128)))
        .with("search_regex", opt(regex_text))
        .with("match_groups", groups.0)
        .with("match_groupdict", groups.1)
        .with("path", opt(path))
        .with("elapsed", Value::Int(elapsed() as i128))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_proc_net_tcp_prints_them() {
        assert_eq!(proc_hex("127.0.0.1").unwrap(), vec!["4:0100007F"]);
        assert_eq!(proc_hex("0.0.0.0").unwrap(), vec!["4:00000000"]);
        assert_eq!(
            proc_hex("::1").unwrap(),
            vec!["6:00000000000000000000000001000000"]
        );
        assert_eq!(proc_hex("localhost").unwrap().len(), 2);
        assert!(proc_hex("example").is_err());
    }

    #[test]
    fn groups_as_python_reports_them() {
        let re = fancy_regex::Regex::new("(?m)^v(?P<major>\\d+)(x)?$").unwrap();
        let caps = re.captures("a\nv12\n").unwrap().unwrap();
        let (g, d) = value_groups(&caps, &re);
        assert_eq!(g, Value::Seq(vec![Value::str("12"), Value::Null]));
        let Value::Map(d) = d else { panic!() };
        assert_eq!(d.get(&Value::str("major")), Some(&Value::str("12")));
    }
}
