//! What `user` and `group` share: the account databases as the target's NSS answers them
//! (`getent passwd|group|shadow`), parsed the way Python's `pwd`, `grp` and `getspnam` see
//! them.

/// A `passwd` entry (`pwd.struct_passwd`).
#[derive(Debug, Clone, PartialEq)]
pub struct Passwd {
    pub name: String,
    pub passwd: String,
    pub uid: i64,
    pub gid: i64,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

pub fn parse_passwd(line: &str) -> Option<Passwd> {
    let f: Vec<&str> = line.trim_end_matches(['\r', '\n']).split(':').collect();
    if f.len() < 7 {
        return None;
    }
    Some(Passwd {
        name: f[0].to_string(),
        passwd: f[1].to_string(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        gecos: f[4].to_string(),
        home: f[5].to_string(),
        shell: f[6..].join(":"),
    })
}

/// A `group` entry (`grp.struct_group`).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub gid: i64,
    pub members: Vec<String>,
}

pub fn parse_group(line: &str) -> Option<Group> {
    let f: Vec<&str> = line.trim_end_matches(['\r', '\n']).split(':').collect();
    if f.len() < 4 {
        return None;
    }
    Some(Group {
        name: f[0].to_string(),
        gid: f[2].parse().ok()?,
        members: f[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// The fields of a `shadow` entry Ansible reads; empty numeric fields are -1, as libc's
/// `getspnam` reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct Shadow {
    pub password: String,
    pub min: i64,
    pub max: i64,
    pub warn: i64,
    pub expire: i64,
}

pub fn parse_shadow(line: &str) -> Option<Shadow> {
    let f: Vec<&str> = line.trim_end_matches(['\r', '\n']).split(':').collect();
    if f.len() < 8 {
        return None;
    }
    let num = |s: &str| s.trim().parse::<i64>().unwrap_or(-1);
    Some(Shadow {
        password: f[1].to_string(),
        min: num(f[3]),
        max: num(f[4]),
        warn: num(f[5]),
        expire: num(f[7]),
    })
}

/// Groups as `grp` finds them: by gid when the text is a number that names one, else by
/// name (Ansible's `group_exists`/`group_info`).
pub fn find_group<'a>(groups: &'a [Group], key: &str) -> Option<&'a Group> {
    if let Ok(gid) = key.trim().parse::<i64>()
        && let Some(g) = groups.iter().find(|g| g.gid == gid)
    {
        return Some(g);
    }
    groups.iter().find(|g| g.name == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        let p = parse_passwd("kiln:x:1000:1000:Kiln,,,:/home/kiln:/bin/bash\n").unwrap();
        assert_eq!((p.uid, p.gid, p.home.as_str()), (1000, 1000, "/home/kiln"));
        let g = parse_group("sudo:x:27:kiln,bob").unwrap();
        assert_eq!(g.members, vec!["kiln", "bob"]);
        assert!(parse_group("empty:x:5:").unwrap().members.is_empty());
        let s = parse_shadow("kiln:*:20788:0:99999:7:::").unwrap();
        assert_eq!((s.min, s.max, s.warn, s.expire), (0, 99999, 7, -1));
        let groups = vec![g, parse_group("100:x:5:").unwrap()];
        assert_eq!(find_group(&groups, "27").unwrap().name, "sudo");
        // A number that is no gid is tried as a name.
        assert_eq!(find_group(&groups, "100").unwrap().gid, 5);
    }
}
