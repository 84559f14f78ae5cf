//! `user_*` and the ids of the probing process, and `env`.

use super::probe::Probe;
use super::{int, put, s};
use crate::yaml::{Map, Value};

pub(crate) fn user(p: &Probe) -> Map {
    let mut m = Map::new();
    let id = |k: &str| p.var(k).and_then(|v| v.trim().parse::<i64>().ok());
    let (Some(uid), Some(euid), Some(gid)) = (id("uid"), id("euid"), id("gid")) else {
        return m;
    };
    // The passwd entry: `name:pw:uid:gid:gecos:dir:shell`. Without one, Python's pwd lookup
    // raises and Ansible reports no user facts at all.
    let pw = p.var("pw").unwrap_or("");
    let fields: Vec<&str> = pw.split(':').collect();
    let [name, _, pw_uid, pw_gid, gecos, dir, shell] = fields.as_slice() else {
        return m;
    };
    let (Ok(pw_uid), Ok(pw_gid)) = (pw_uid.parse::<i64>(), pw_gid.parse::<i64>()) else {
        return m;
    };
    // getpass.getuser(): LOGNAME, USER, LNAME, USERNAME, else the passwd name of the uid.
    let user_id = p.var("user").filter(|u| !u.is_empty()).unwrap_or(name);
    put(&mut m, "user_id", s(user_id));
    put(&mut m, "user_uid", int(pw_uid));
    put(&mut m, "user_gid", int(pw_gid));
    put(&mut m, "user_gecos", s(*gecos));
    put(&mut m, "user_dir", s(*dir));
    put(&mut m, "user_shell", s(*shell));
    put(&mut m, "real_user_id", int(uid));
    put(&mut m, "effective_user_id", int(euid));
    put(&mut m, "real_group_id", int(gid));
    // Ansible reports os.getgid() here too.
    put(&mut m, "effective_group_id", int(gid));
    m
}

/// The environment the probe's shell was started with.
pub(crate) fn env(p: &Probe) -> Map {
    let mut env = Map::new();
    for (k, v) in &p.env {
        env.insert(Value::str(k.clone()), s(v.clone()));
    }
    let mut m = Map::new();
    put(&mut m, "env", Value::Map(env));
    m
}
