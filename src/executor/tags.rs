//! Tag selection as Ansible does it: `--tags`, `--skip-tags`, and the special tags
//! `always`, `never`, `tagged`, `untagged`, `all`.

#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    pub only: Vec<String>,
    pub skip: Vec<String>,
}

impl TagFilter {
    /// Whether a task with these (inherited) tags runs.
    pub fn selects(&self, tags: &[String]) -> bool {
        let has = |t: &str| tags.iter().any(|x| x == t);
        let only: Vec<&str> = if self.only.is_empty() {
            vec!["all"]
        } else {
            self.only.iter().map(String::as_str).collect()
        };
        let mut run = false;
        if has("always") && !self.skip.iter().any(|s| s == "always") {
            run = true;
        } else {
            for o in &only {
                run |= match *o {
                    "all" => !has("never"),
                    "tagged" => !tags.is_empty() && !has("never"),
                    "untagged" => tags.is_empty(),
                    t => has(t),
                };
            }
        }
        if run {
            for s in &self.skip {
                let skip = match s.as_str() {
                    "all" => true,
                    "tagged" => !tags.is_empty(),
                    "untagged" => tags.is_empty(),
                    t => has(t),
                };
                if skip {
                    return false;
                }
            }
        }
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn selection() {
        let all = TagFilter::default();
        assert!(all.selects(&[]));
        assert!(!all.selects(&t(&["never"])));
        let web = TagFilter {
            only: t(&["web"]),
            skip: vec![],
        };
        assert!(web.selects(&t(&["web", "x"])));
        assert!(!web.selects(&t(&["db"])));
        assert!(web.selects(&t(&["always"])));
        assert!(web.selects(&t(&["never", "web"])));
        let skip = TagFilter {
            only: vec![],
            skip: t(&["db"]),
        };
        assert!(!skip.selects(&t(&["db"])));
        assert!(skip.selects(&t(&["web"])));
    }
}
