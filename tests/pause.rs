//! `pause` on real runs (local connection, two hosts): it runs once for the play, on the
//! first host, whose result alone is registered (as ansible-core's BYPASS_HOST_LOOP does);
//! with `seconds`/`minutes` it waits (timing is asserted as a lower bound only), without a
//! terminal a prompt does not wait and warns, and on a pseudo-terminal the answer typed is
//! `user_input`.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const PLAY: &str = r#"- hosts: all
  gather_facts: false
  tasks:
    - name: wait a little
      pause:
        seconds: 2
        prompt: waiting
      register: waited

    - name: ask
      pause:
        prompt: your answer
        echo: false
      register: asked

    - name: record
      copy:
        dest: "{{ out }}/{{ inventory_hostname }}.json"
        content: "{{ {'waited': waited | default(None), 'asked': asked | default(None)} | to_json }}"
"#;

fn setup(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("kiln-pause-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let site = dir.join("site.yml");
    std::fs::write(&site, PLAY).expect("write");
    let inv = dir.join("inventory.ini");
    std::fs::write(
        &inv,
        "h1 ansible_connection=local\nh2 ansible_connection=local\n",
    )
    .expect("write");
    (dir, site, inv)
}

fn result(dir: &Path, host: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(format!("{host}.json"))).expect("result");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn pause_waits_and_does_not_block_without_a_terminal() {
    let (dir, site, inv) = setup("noterm");
    let started = Instant::now();
    let out = kiln()
        .arg("run")
        .arg(&site)
        .arg("-i")
        .arg(&inv)
        .arg("-e")
        .arg(format!("out={}", dir.display()))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("kiln");
    let took = started.elapsed();
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{o}\n{e}");
    assert!(took >= Duration::from_secs(2), "did not wait: {took:?}");
    assert!(o.contains("Pausing for 2 seconds\n"), "{o}");
    assert!(
        o.contains("(ctrl+C then 'C' = continue early, ctrl+C then 'A' = abort)"),
        "{o}"
    );
    assert!(
        e.contains("[WARNING]: Not waiting for response to prompt as stdin is not interactive"),
        "{e}"
    );
    // Once for the play: one `ok` line per pause, for the first host; the recap counts it
    // for that host only.
    assert_eq!(o.matches("ok: [h1]\n").count(), 2, "{o}");
    assert!(!o.contains("ok: [h2]\n"), "{o}");
    assert!(o.contains("h1                         : ok=3 "), "{o}");
    assert!(o.contains("h2                         : ok=1 "), "{o}");
    let h1 = result(&dir, "h1");
    let w = &h1["waited"];
    assert!(w["delta"].as_i64().is_some_and(|d| d >= 2), "{w}");
    assert_eq!(w["echo"], true);
    assert_eq!(w["user_input"], "");
    assert_eq!(w["rc"], 0);
    assert!(
        w["stdout"]
            .as_str()
            .is_some_and(|s| s.starts_with("Paused for 2.") || s == "Paused for 2.0 seconds"),
        "{w}"
    );
    for k in ["start", "stop"] {
        assert!(w[k].as_str().is_some_and(|s| s.len() == 26), "{w}");
    }
    let a = &h1["asked"];
    assert_eq!(a["echo"], false);
    assert_eq!(a["user_input"], "");
    assert_eq!(a["stdout"], "Paused for 0.0 minutes");
    assert_eq!(
        a["warnings"][0],
        "Not waiting for response to prompt as stdin is not interactive"
    );
    // The second host ran nothing and registered nothing.
    let h2 = result(&dir, "h2");
    assert!(h2["waited"].is_null() && h2["asked"].is_null(), "{h2}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pause_reads_the_answer_on_a_terminal() {
    // A pseudo-terminal as kiln's controlling terminal; the answer is typed once the prompt
    // shows and echo is off (`echo: false`).
    let (dir, site, inv) = setup("term");
    let started = Instant::now();
    let mut c = kiln();
    c.arg("run")
        .arg(&site)
        .arg("-i")
        .arg(&inv)
        .arg("-e")
        .arg(format!("out={}", dir.display()))
        .env("NO_COLOR", "1");
    let (rc, text) =
        common::terminal::on_terminal(&c, &[("your answer (output is hidden):", "forty two")]);
    assert_eq!(rc, 0, "{text}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        !text.contains("forty two"),
        "the hidden answer was echoed: {text}"
    );
    let a = &result(&dir, "h1")["asked"];
    assert_eq!(a["user_input"], "forty two", "{a}");
    assert_eq!(a["echo"], false);
    assert!(a["warnings"].is_null(), "{a}");
    let _ = std::fs::remove_dir_all(&dir);
}
