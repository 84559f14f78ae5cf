//! One play: select and order hosts, ask `vars_prompt`, split the hosts into `serial`
//! batches; for each batch load `vars_files`, connect, gather facts, run pre_tasks, roles and
//! tasks, post_tasks (each followed by its handlers). A batch whose hosts all failed ends the
//! playbook, as in ansible-playbook.

use super::Executor;
use super::host::HostState;
use super::step::HostFlags;
use super::vars::PlayCx;
use super::walk::Scope;
use crate::connection::Connection;
use crate::modules::TaskResult;
use crate::output::HostEvent;
use crate::playbook::{Item, Play, Playbook};
use crate::yaml::{Map, Value};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

fn contains_word(v: &Value, word: &str) -> bool {
    match v {
        Value::Str(s) => s.contains(word),
        Value::Seq(items) => items.iter().any(|i| contains_word(i, word)),
        Value::Map(m) => map_mentions(m, word),
        _ => false,
    }
}

fn map_mentions(m: &Map, word: &str) -> bool {
    m.iter()
        .any(|(k, v)| contains_word(k, word) || contains_word(v, word))
}

fn items_mention(items: &[Item], word: &str) -> bool {
    items.iter().any(|i| match i {
        Item::Task(t) => {
            map_mentions(&t.args, word)
                || t.common.when.iter().any(|w| contains_word(w, word))
                || map_mentions(&t.common.vars, word)
                || t.loop_
                    .as_ref()
                    .is_some_and(|l| contains_word(&l.terms, word))
                || t.changed_when
                    .as_ref()
                    .is_some_and(|l| contains_word(l, word))
                || t.failed_when
                    .as_ref()
                    .is_some_and(|l| contains_word(l, word))
                || t.common
                    .delegate_to
                    .as_ref()
                    .is_some_and(|l| contains_word(l, word))
                || t.common.name.as_ref().is_some_and(|n| n.contains(word))
                || (t.action == "template" && template_may_mention(t, word))
        }
        Item::Block(b) => {
            items_mention(&b.block, word)
                || items_mention(&b.rescue, word)
                || items_mention(&b.always, word)
                || b.common.when.iter().any(|w| contains_word(w, word))
                || map_mentions(&b.common.vars, word)
                || b.role.as_ref().is_some_and(|r| {
                    map_mentions(&r.defaults, word)
                        || map_mentions(&r.vars, word)
                        || dir_mentions(&r.path.join("templates"), word)
                })
        }
    })
}

/// A role's template is read ahead from the role's templates; any other template (from
/// the playbook's side, or whose source is itself templated) cannot be, so it counts as
/// mentioning the word.
fn template_may_mention(t: &crate::playbook::Task, word: &str) -> bool {
    let templated_src = t
        .args
        .get(&Value::str("src"))
        .is_none_or(|v| contains_word(v, "{{") || contains_word(v, "{%"));
    match &t.role {
        Some(r) if !templated_src => dir_mentions(&r.path.join("templates"), word),
        _ => true,
    }
}

fn dir_mentions(dir: &std::path::Path, word: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(|e| e.ok()).any(|e| {
        let p = e.path();
        if p.is_dir() {
            dir_mentions(&p, word)
        } else {
            // Read as the template module reads it: an encrypted template is decrypted.
            crate::yaml::read_file(&p).is_ok_and(|t| t.contains(word))
        }
    })
}

/// `pct_to_int`: a `serial` entry as a number of hosts (`"30%"` of `total`, at least 1).
fn batch_size(v: &Value, total: usize) -> i128 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i128,
        Value::Str(s) => {
            let s = s.trim();
            match s.strip_suffix('%') {
                Some(p) => {
                    let n = (p.trim().parse::<f64>().unwrap_or(0.0) / 100.0 * total as f64) as i128;
                    n.max(1)
                }
                None => s.parse().unwrap_or(0),
            }
        }
        _ => 0,
    }
}

/// The play's hosts split as `serial` says: a size, a percentage, or a list of them (the
/// last repeating); none (or 0) is one batch of all.
fn batches(hosts: &[String], serial: Option<&Value>) -> Vec<Vec<String>> {
    let list: Vec<Value> = match serial {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Seq(items)) => items.clone(),
        Some(v) => vec![v.clone()],
    };
    if list.is_empty() {
        return vec![hosts.to_vec()];
    }
    let mut rest: Vec<String> = hosts.to_vec();
    let mut out = Vec::new();
    let mut i = 0;
    while !rest.is_empty() {
        let n = batch_size(&list[i], hosts.len());
        if n <= 0 {
            out.push(std::mem::take(&mut rest));
            break;
        }
        let take = (n as usize).min(rest.len());
        out.push(rest.drain(..take).collect());
        i = (i + 1).min(list.len() - 1);
    }
    out
}

impl Executor<'_> {
    /// Runs one play; false when the playbook must stop (a whole batch failed).
    pub(super) async fn run_play(&self, play: &Play, playbook: &Playbook) -> bool {
        let mut base = play.common.vars.clone();
        base.extend(self.opts.extra_vars.clone());
        let pattern = match self.templar.template(&play.hosts, &base) {
            Ok(Value::Seq(items)) => items
                .iter()
                .map(crate::yaml::python_str)
                .collect::<Vec<_>>()
                .join(","),
            Ok(v) => crate::yaml::python_str(&v),
            Err(e) => {
                self.cb()
                    .on_warning(&format!("could not template the play's hosts: {e}"));
                return true;
            }
        };
        let name = self
            .templar
            .template_str(&play.name, &base)
            .map(|v| crate::yaml::python_str(&v))
            .unwrap_or_else(|_| play.name.clone());
        let selected = {
            let mut loader = self.inventory();
            let sel = loader
                .inventory
                .select(&pattern, self.opts.limit.as_deref());
            let warnings = loader.take_warnings();
            let names: Result<Vec<String>, String> = sel
                .map(|s| {
                    s.iter()
                        .map(|&h| loader.inventory.hosts[h].name.clone())
                        .collect()
                })
                .map_err(|e| e.render());
            (names, warnings)
        };
        let (names, warnings) = selected;
        let mut hosts = match names {
            Ok(h) => h,
            Err(e) => {
                self.cb().on_play_start(&name);
                self.cb().on_warning(&e);
                Vec::new()
            }
        };
        for w in warnings {
            self.cb().on_warning(&w);
        }
        // Hosts that failed or were unreachable in an earlier play take no part in later ones.
        {
            let st = self.state();
            hosts.retain(|h| {
                st.hosts
                    .get(h)
                    .is_none_or(|s| !s.failed && !s.include_failed && !s.unreachable)
            });
        }
        self.order(&mut hosts, play);
        for h in &hosts {
            let known = self.state().hosts.contains_key(h);
            if !known {
                let vars = {
                    let mut loader = self.inventory();
                    match loader.inventory.hosts.get_index_of(h) {
                        Some(i) => loader.host_vars(i).map_err(|e| e.render()),
                        None => Ok(Map::new()),
                    }
                };
                let vars = match vars {
                    Ok(v) => v,
                    Err(e) => {
                        self.cb().on_warning(&e);
                        Map::new()
                    }
                };
                self.state().hosts.insert(h.clone(), HostState::new(vars));
            }
            if let Some(s) = self.state().hosts.get_mut(h) {
                s.notified.clear();
                s.ended = false;
                s.vars_files = Map::new();
            }
        }
        {
            let mut st = self.state();
            st.runtime_handlers.clear();
            st.public_roles.clear();
            st.end_play = false;
            st.max_fail_hit = false;
        }
        let prompts = match self.vars_prompt(play) {
            Ok(p) => p,
            Err(e) => {
                let mut st = self.state();
                st.abort = Some(super::Abort { message: e });
                return false;
            }
        };
        let groups = self.groups_value();
        let uses_hostvars = [
            &play.pre_tasks,
            &play.tasks,
            &play.post_tasks,
            &play.handlers,
        ]
        .iter()
        .any(|items| items_mention(items, "hostvars"))
            || map_mentions(&play.common.vars, "hostvars")
            || play.roles.iter().any(|r| {
                map_mentions(&r.defaults, "hostvars")
                    || map_mentions(&r.vars, "hostvars")
            })
            // Inventory and extra variables are templated lazily where a task reads them, so
            // one naming `hostvars` (`registry: "{{ hostvars[groups.registry[0]].ansible_host
            // }}"` in group_vars) needs it as much as a task that names it.
            || map_mentions(&self.opts.extra_vars, "hostvars")
            || {
                let st = self.state();
                hosts.iter().any(|h| {
                    st.hosts
                        .get(h)
                        .is_some_and(|s| map_mentions(&s.inventory_vars, "hostvars"))
                })
            };
        let free = play
            .strategy
            .as_deref()
            .unwrap_or(&self.opts.strategy)
            .trim_start_matches("ansible.builtin.")
            == "free";
        if hosts.is_empty() {
            self.cb().on_play_start(&name);
            self.cb().on_no_hosts();
            return true;
        }
        for batch in batches(&hosts, play.serial.as_ref()) {
            let pcx = PlayCx {
                play,
                playbook_dir: playbook.dir.clone(),
                hosts_all: hosts.clone(),
                batch: batch.clone(),
                uses_hostvars: AtomicBool::new(uses_hostvars),
                groups: groups.clone(),
                prompts: prompts.clone(),
                free,
            };
            self.cb().on_play_start(&name);
            if !self.run_batch(&pcx).await {
                return false;
            }
            if self.state().end_play || self.state().abort.is_some() || self.state().max_fail_hit {
                break;
            }
        }
        true
    }

    /// One batch; false when all its hosts failed (the playbook stops).
    async fn run_batch(&self, pcx: &PlayCx<'_>) -> bool {
        let play = pcx.play;
        let batch = &pcx.batch;
        if let Err(e) = self.load_vars_files(pcx) {
            for h in batch {
                let result = TaskResult::failed(e.clone());
                // Shown, so the reason (a missing file, a vault secret) is not silent.
                self.cb().on_host_result(&HostEvent {
                    host: h,
                    action: "vars_files",
                    span: None,
                    result: &result,
                    item: None,
                    no_log: false,
                    ignored: false,
                });
                self.record(h, &result, &HostFlags::default(), false, None);
            }
            return false;
        }
        self.connect(batch, pcx);
        let gather = match play.gather_facts {
            Some(g) => g,
            None => self.opts.gathering != "explicit",
        };
        if gather {
            let smart = self.opts.gathering == "smart";
            let to_gather: Vec<String> = {
                let st = self.state();
                batch
                    .iter()
                    .filter(|h| !smart || st.hosts.get(*h).is_some_and(|s| !s.facts_gathered))
                    .cloned()
                    .collect()
            };
            if !to_gather.is_empty() {
                self.gather_facts(&to_gather, pcx).await;
            }
        }
        let scope = Scope::default().push(&play.common);
        for section in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
            let active = self.active(batch);
            if !active.is_empty() {
                self.run_section(section, &scope, &active, pcx).await;
            }
            if self.state().abort.is_some() {
                return false;
            }
            // Handlers run for hosts still in the play (or all, when forced).
            let flush_hosts: Vec<String> = {
                let st = self.state();
                let force = self.opts.force_handlers || play.force_handlers;
                batch
                    .iter()
                    .filter(|h| {
                        st.hosts
                            .get(*h)
                            .is_some_and(|s| !s.unreachable && !s.ended && (!s.failed || force))
                    })
                    .cloned()
                    .collect()
            };
            if !flush_hosts.is_empty() {
                self.flush_handlers(pcx, &flush_hosts).await;
            }
            if self.state().abort.is_some() {
                return false;
            }
        }
        let st = self.state();
        let all_failed = batch
            .iter()
            .all(|h| st.hosts.get(h).is_some_and(|s| s.failed || s.unreachable));
        !all_failed
    }

    /// The play's `order`.
    fn order(&self, hosts: &mut [String], play: &Play) {
        match play.order.as_deref() {
            Some("reverse_inventory") => hosts.reverse(),
            Some("sorted") => hosts.sort(),
            Some("reverse_sorted") => {
                hosts.sort();
                hosts.reverse();
            }
            Some("shuffle") => {
                use std::hash::BuildHasher;
                // A random order per run, as Ansible's shuffle.
                let seed = std::collections::hash_map::RandomState::new();
                hosts.sort_by_key(|h| seed.hash_one(h));
            }
            _ => {}
        }
    }

    fn groups_value(&self) -> Value {
        let loader = self.inventory();
        let inv = &loader.inventory;
        Value::Map(
            inv.groups
                .iter()
                .enumerate()
                .map(|(i, (name, _))| {
                    let hs = inv.group_hosts(i);
                    (
                        Value::str(name.clone()),
                        Value::Seq(
                            hs.into_iter()
                                .map(|h| Value::str(inv.hosts[h].name.clone()))
                                .collect(),
                        ),
                    )
                })
                .collect(),
        )
    }

    /// `vars_prompt`: asked on the terminal once per play; a variable given as an extra var
    /// is not asked; without a terminal, the default is taken, and a prompt without one is
    /// an error before anything runs.
    fn vars_prompt(&self, play: &Play) -> Result<Map, String> {
        use std::io::IsTerminal;
        let mut out = Map::new();
        for p in &play.vars_prompt {
            if self
                .opts
                .extra_vars
                .contains_key(&Value::str(p.name.clone()))
            {
                continue;
            }
            let tty = std::io::stdin().is_terminal();
            let value = if !tty {
                match &p.default {
                    Some(d) => d.clone(),
                    None => {
                        return Err(format!(
                            "vars_prompt `{}` needs an answer, and standard input is not a terminal: give it with `-e {}=VALUE` or a `default:`",
                            p.name, p.name
                        ));
                    }
                }
            } else {
                let shown = match &p.default {
                    Some(d) => format!("{} [{}]: ", p.prompt, crate::yaml::python_str(d)),
                    None => format!("{}: ", p.prompt),
                };
                let read = |prompt: &str| -> Result<String, String> {
                    if p.private {
                        rpassword::prompt_password(prompt).map_err(|e| e.to_string())
                    } else {
                        eprint!("{prompt}");
                        let mut line = String::new();
                        std::io::stdin()
                            .read_line(&mut line)
                            .map_err(|e| e.to_string())?;
                        Ok(line.trim_end_matches(['\n', '\r']).to_string())
                    }
                };
                let mut answer = read(&shown)?;
                if p.confirm {
                    let again = read(&format!("confirm {}: ", p.prompt))?;
                    if again != answer {
                        return Err(format!(
                            "vars_prompt `{}`: the values entered do not match",
                            p.name
                        ));
                    }
                }
                if answer.is_empty()
                    && let Some(d) = &p.default
                {
                    answer = crate::yaml::python_str(d);
                }
                Value::Str(answer)
            };
            let value = match (&p.encrypt, &value) {
                (Some(scheme), Value::Str(s)) => {
                    let mut vars = Map::new();
                    vars.insert(Value::str("__kiln_prompt__"), Value::str(s.clone()));
                    vars.insert(Value::str("__kiln_scheme__"), Value::str(scheme.clone()));
                    self.templar
                        .eval_expr("__kiln_prompt__ | password_hash(__kiln_scheme__)", &vars)
                        .map_err(|e| format!("vars_prompt `{}`: {e}", p.name))?
                }
                _ => value,
            };
            let value = match value {
                Value::Str(s) if p.unsafe_ => Value::Unsafe(s),
                other => other,
            };
            out.insert(Value::str(p.name.clone()), value);
        }
        Ok(out)
    }

    /// Reads each host's `vars_files`. As ansible-core 2.19 does, an entry none of whose
    /// files exists is skipped, and so is one whose name uses an undefined variable; kiln
    /// says so on stderr, once per entry.
    fn load_vars_files(&self, pcx: &PlayCx<'_>) -> Result<(), String> {
        if pcx.play.vars_files.is_empty() {
            return Ok(());
        }
        let mut warned: std::collections::HashSet<String> = Default::default();
        for h in &pcx.batch {
            let vars = self.task_vars(h, pcx, &Scope::default(), None);
            let mut merged = Map::new();
            for (entry, span) in &pcx.play.vars_files {
                // A list entry is "the first of these that exists".
                let candidates = match entry {
                    Value::Seq(items) => items.clone(),
                    other => vec![other.clone()],
                };
                let mut names = Vec::new();
                let mut skipped = None;
                for c in &candidates {
                    match self.templar.template(c, &vars) {
                        Ok(name) => names.push(crate::yaml::python_str(&name)),
                        Err(e @ crate::template::TemplateError::Undefined { .. }) => {
                            skipped = Some(format!(
                                "skipping vars_files item due to an undefined variable: {e}"
                            ));
                            break;
                        }
                        Err(e) => return Err(format!("vars_files: {e}")),
                    }
                }
                let found = if skipped.is_some() {
                    None
                } else {
                    names.iter().find_map(|n| {
                        let path = pcx.playbook_dir.join(n);
                        let in_vars = pcx.playbook_dir.join("vars").join(n);
                        [in_vars, path].into_iter().find(|p| p.is_file())
                    })
                };
                let Some(path) = found else {
                    let why = skipped.unwrap_or_else(|| {
                        format!(
                            "vars file {} was not found: skipped, as ansible-playbook skips it",
                            names
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    });
                    if warned.insert(format!("{span}{why}")) {
                        self.cb().on_warning(&format!(
                            "{why}\n  --> {span}\nhint: paths are relative to the playbook's directory (or its vars/)"
                        ));
                    }
                    continue;
                };
                let loaded = crate::yaml::load_file(&path)
                    .map_err(|e| e.located().map_or_else(|| e.to_string(), |l| l.to_string()))?;
                match loaded.node.map(|n| n.to_value()) {
                    Some(Value::Map(m)) => merged.extend(m),
                    None | Some(Value::Null) => {}
                    Some(_) => {
                        return Err(format!(
                            "vars file `{}` must hold a mapping",
                            path.display()
                        ));
                    }
                }
            }
            if map_mentions(&merged, "hostvars") {
                pcx.set_uses_hostvars();
            }
            if let Some(s) = self.state().hosts.get_mut(h) {
                s.vars_files = merged;
            }
        }
        Ok(())
    }

    async fn gather_facts(&self, hosts: &[String], pcx: &PlayCx<'_>) {
        self.cb().on_task_start("Gathering Facts", false);
        let opts = self.gather_options(pcx);
        // Each host with its connection, or why it has none.
        type GatherJob = (String, Option<Arc<dyn Connection>>, String);
        let jobs: Vec<GatherJob> = hosts
            .iter()
            .map(|h| {
                let conn = self.state().hosts.get(h).and_then(|s| s.conn.clone());
                let why = if conn.is_none() {
                    self.conn_error(h, pcx)
                } else {
                    String::new()
                };
                (h.clone(), conn, why)
            })
            .collect();
        let forks = &self.forks;
        let opts = &opts;
        let mut stream = futures::stream::iter(jobs)
            .map(|(host, conn, why)| async move {
                let _fork = forks.acquire().await;
                let Some(conn) = conn else {
                    return (host, Err(why));
                };
                let cmd = crate::connection::RemoteCommand::new(crate::facts::PROBE);
                match conn.exec(&cmd, None).await {
                    Ok(out) => match crate::facts::parse_with(&out.stdout_text(), opts) {
                        Ok(f) => (host, Ok(f)),
                        Err(e) => (host, Err(e.to_string())),
                    },
                    Err(e) => (host, Err(e.to_string())),
                }
            })
            .buffer_unordered(hosts.len().max(1));
        let mut done = Vec::new();
        while let Some((host, res)) = stream.next().await {
            let result = match &res {
                Ok(_) => TaskResult::ok(),
                Err(e) => TaskResult::unreachable(e.clone()),
            };
            self.cb().on_host_result(&HostEvent {
                host: &host,
                action: "gather_facts",
                span: None,
                result: &result,
                item: None,
                no_log: false,
                ignored: false,
            });
            done.push((host, res, result));
        }
        drop(stream);
        for (host, res, result) in done {
            self.record(&host, &result, &HostFlags::default(), false, None);
            if let (Ok(facts), Some(s)) = (res, self.state().hosts.get_mut(&host)) {
                s.facts.extend(facts);
                s.facts_gathered = true;
            }
        }
    }

    fn gather_options(&self, pcx: &PlayCx<'_>) -> crate::facts::GatherOptions {
        let mut opts = crate::facts::GatherOptions::default();
        if let Some(v) = &pcx.play.gather_subset {
            let vars = self.opts.extra_vars.clone();
            if let Ok(t) = self.templar.template(v, &vars) {
                opts.gather_subset = match t {
                    Value::Seq(items) => items.iter().map(crate::yaml::python_str).collect(),
                    Value::Str(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
                    other => vec![crate::yaml::python_str(&other)],
                };
            }
        }
        opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    fn sizes(b: &[Vec<String>]) -> Vec<usize> {
        b.iter().map(Vec::len).collect()
    }

    #[test]
    fn serial_batches_as_ansible() {
        assert_eq!(sizes(&batches(&names(5), None)), vec![5]);
        assert_eq!(
            sizes(&batches(&names(5), Some(&Value::Int(2)))),
            vec![2, 2, 1]
        );
        assert_eq!(sizes(&batches(&names(5), Some(&Value::Int(0)))), vec![5]);
        assert_eq!(
            sizes(&batches(&names(10), Some(&Value::str("30%")))),
            vec![3, 3, 3, 1]
        );
        assert_eq!(
            sizes(&batches(&names(3), Some(&Value::str("10%")))),
            vec![1, 1, 1]
        );
        let list = Value::Seq(vec![Value::Int(1), Value::Int(2), Value::str("50%")]);
        assert_eq!(sizes(&batches(&names(10), Some(&list))), vec![1, 2, 5, 2]);
    }
}
