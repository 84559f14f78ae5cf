//! Filters on lists and dicts: `map`, `select`, `reject`, `selectattr`, `rejectattr`,
//! `sort`, `unique`, the set filters, `flatten`, `zip`, `zip_longest`, `product`,
//! `permutations`, `combinations`, `combine`, `dict2items`, `items2dict`, `dictsort`,
//! `extract`, `batch`, `slice`, `groupby`, `items`, `subelements`, `rekey_on_member`.

use super::core::{iterate, type_name};
use super::pyset::PySet;
use super::{
    Call, add, attr_path, get_path, getitem, ignore_case, int_arg, kiln, mj, py_cmp, text, truthy,
};
use crate::template::value::{map_pairs, undefined_error};
use crate::yaml::{Map, Value};
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value as Mj};

pub fn register(env: &mut Environment<'static>) {
    add(env, "map", map, false);
    add(env, "select", |s, c| select(s, c, false, true), false);
    add(env, "reject", |s, c| select(s, c, false, false), false);
    add(env, "selectattr", |s, c| select(s, c, true, true), false);
    add(env, "rejectattr", |s, c| select(s, c, true, false), false);
    add(env, "sort", sort, false);
    add(env, "unique", unique, false);
    add(env, "union", |_, c| set_op(c, SetOp::Union), false);
    add(env, "intersect", |_, c| set_op(c, SetOp::Intersect), false);
    add(
        env,
        "difference",
        |_, c| set_op(c, SetOp::Difference),
        false,
    );
    add(
        env,
        "symmetric_difference",
        |_, c| set_op(c, SetOp::Symmetric),
        false,
    );
    add(env, "flatten", flatten, false);
    add(env, "zip", zip, false);
    add(env, "zip_longest", zip_longest, false);
    add(env, "product", product, false);
    add(env, "permutations", permutations, false);
    add(env, "combinations", combinations, false);
    add(env, "combine", combine, false);
    add(env, "dict2items", dict2items, false);
    add(env, "items2dict", items2dict, false);
    add(env, "dictsort", dictsort, false);
    add(env, "extract", extract, false);
    add(env, "batch", batch, false);
    add(env, "slice", slice, false);
    add(env, "groupby", groupby, false);
    add(env, "items", items_filter, false);
    add(env, "subelements", subelements, false);
    add(env, "rekey_on_member", rekey_on_member, false);
}

fn input(c: &Call) -> Mj {
    c.pos.first().cloned().unwrap_or(Mj::from(()))
}

fn kwargs_value(kw: &[(String, Mj)]) -> Option<Mj> {
    if kw.is_empty() {
        None
    } else {
        Some(Mj::from(Kwargs::from_iter(
            kw.iter().map(|(k, v)| (k.as_str(), v.clone())),
        )))
    }
}

fn call_filter(
    state: &mut State,
    name: &str,
    value: Mj,
    args: &[Mj],
    kw: &[(String, Mj)],
) -> Result<Mj, Error> {
    let mut all = vec![value];
    all.extend(args.iter().cloned());
    all.extend(kwargs_value(kw));
    state.apply_filter(name, &all)
}

fn call_test(
    state: &mut State,
    name: &str,
    value: Mj,
    args: &[Mj],
    kw: &[(String, Mj)],
) -> Result<bool, Error> {
    let mut all = vec![value];
    all.extend(args.iter().cloned());
    all.extend(kwargs_value(kw));
    state.perform_test(name, &all).map_err(|e| {
        if e.kind() == ErrorKind::UnknownTest {
            Error::new(ErrorKind::UnknownTest, format!("no test named '{name}'"))
        } else {
            e
        }
    })
}

fn map(state: &mut State, c: &Call) -> Result<Mj, Error> {
    let value = input(c);
    let all = iterate(c, &value)?;
    let args = &c.pos[1..];
    if args.is_empty()
        && let Some(attribute) = c.kwarg("attribute")
    {
        let default = c.kwarg("default").cloned();
        if let Some((k, _)) =
            c.kw.iter()
                .find(|(k, _)| k != "attribute" && k != "default")
        {
            return Err(c.fail(&format!("Unexpected keyword argument '{k}'")));
        }
        let path = attr_path(attribute);
        let mut out = Vec::with_capacity(all.len());
        for item in all {
            let mut v = item;
            for part in &path {
                v = getitem(&v, part);
                if v.is_undefined()
                    && let Some(d) = &default
                    && !d.is_none()
                {
                    v = d.clone();
                }
            }
            out.push(v);
        }
        return Ok(Mj::from(out));
    }
    let Some(name) = args.first() else {
        return Err(c.fail("map requires a filter argument"));
    };
    let name = text(name)?;
    let mut out = Vec::with_capacity(all.len());
    for item in all {
        out.push(call_filter(state, &name, item, &args[1..], &c.kw)?);
    }
    Ok(Mj::from(out))
}

fn select(state: &mut State, c: &Call, by_attr: bool, keep: bool) -> Result<Mj, Error> {
    let value = input(c);
    if !value.is_true() {
        return Ok(Mj::from(Vec::<Mj>::new()));
    }
    let all = iterate(c, &value)?;
    let mut args = &c.pos[1..];
    let path = if by_attr {
        let Some(attr) = args.first() else {
            return Err(c.fail("Missing parameter for attribute name"));
        };
        args = &args[1..];
        Some(attr_path(attr))
    } else {
        None
    };
    let test = args.first().map(text).transpose()?;
    let test_args = if args.is_empty() { args } else { &args[1..] };
    let mut out = Vec::new();
    for item in all {
        let subject = match &path {
            Some(p) => get_path(&item, p),
            None => item.clone(),
        };
        let ok = match &test {
            Some(t) => call_test(state, t, subject, test_args, &c.kw)?,
            None => {
                if subject.is_undefined() {
                    return Err(undefined_error(&subject));
                }
                subject.is_true()
            }
        };
        if ok == keep {
            out.push(item);
        }
    }
    Ok(Mj::from(out))
}

/// A sort key per item (Jinja's `make_multi_attrgetter` with `ignore_case`).
fn sort_keys(item: &Mj, attribute: &Option<Mj>, case_sensitive: bool) -> Result<Vec<Value>, Error> {
    let attrs: Vec<Vec<Mj>> = match attribute {
        Some(a) if !a.is_none() => match a.as_str() {
            Some(s) => s.split(',').map(|p| attr_path(&Mj::from(p))).collect(),
            None => vec![attr_path(a)],
        },
        _ => vec![vec![]],
    };
    let mut keys = Vec::new();
    for path in attrs {
        let v = get_path(item, &path);
        if v.is_undefined() {
            return Err(undefined_error(&v));
        }
        let k = kiln(&v)?;
        keys.push(if case_sensitive { k } else { ignore_case(k) });
    }
    Ok(keys)
}

/// A stable sort with Python's ordering; mixed types are an error.
fn py_sort(c: &Call, items: &mut [(Vec<Value>, Mj)], reverse: bool) -> Result<(), Error> {
    let mut err = None;
    let cmp = |a: &Vec<Value>, b: &Vec<Value>| -> std::cmp::Ordering {
        match py_cmp(&Value::Seq(a.clone()), &Value::Seq(b.clone())) {
            Ok(o) => o,
            Err(e) => {
                err = Some(e);
                std::cmp::Ordering::Equal
            }
        }
    };
    let mut cmp = cmp;
    if reverse {
        // A stable sort with the comparison reversed, as Python's `reverse=True` is.
        items.sort_by(|a, b| cmp(&b.0, &a.0));
    } else {
        items.sort_by(|a, b| cmp(&a.0, &b.0));
    }
    match err {
        Some(e) => Err(c.fail(&e)),
        None => Ok(()),
    }
}

fn sort(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "reverse", "case_sensitive", "attribute"])?;
    let all = iterate(c, &input(c))?;
    let mut keyed = Vec::with_capacity(all.len());
    for item in all {
        keyed.push((sort_keys(&item, &a[3], truthy(&a[2]))?, item));
    }
    py_sort(c, &mut keyed, truthy(&a[1]))?;
    Ok(Mj::from(
        keyed.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    ))
}

/// Jinja's `unique`: first occurrences, in order.
fn unique_values(
    c: &Call,
    all: Vec<Mj>,
    case_sensitive: bool,
    attribute: &Option<Mj>,
) -> Result<Vec<Mj>, Error> {
    let path = attribute.as_ref().filter(|v| !v.is_none()).map(attr_path);
    let mut seen: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    for item in all {
        let key = match &path {
            Some(p) => get_path(&item, p),
            None => item.clone(),
        };
        let mut key = kiln(&key)?;
        if !case_sensitive {
            key = ignore_case(key);
        }
        if matches!(key, Value::Seq(_) | Value::Map(_)) {
            return Err(c.fail(&format!("unhashable type: '{}'", key.type_name())));
        }
        if !seen.contains(&key) {
            seen.push(key);
            out.push(item);
        }
    }
    Ok(out)
}

fn unique(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["a", "case_sensitive", "attribute"])?;
    let all = iterate(c, &input(c))?;
    Ok(Mj::from(unique_values(c, all, truthy(&a[1]), &a[2])?))
}

#[derive(Clone, Copy)]
enum SetOp {
    Union,
    Intersect,
    Difference,
    Symmetric,
}

fn set_op(c: &Call, op: SetOp) -> Result<Mj, Error> {
    let a = c.bind(&["a", "b"])?;
    let left = iterate(c, a[0].as_ref().unwrap_or(&Mj::from(())))?;
    let right = iterate(
        c,
        a[1].as_ref()
            .ok_or_else(|| c.fail("missing the second list"))?,
    )?;
    let lk: Vec<Value> = left.iter().map(kiln).collect::<Result<_, _>>()?;
    let rk: Vec<Value> = right.iter().map(kiln).collect::<Result<_, _>>()?;
    if let (Some(x), Some(y)) = (PySet::from_items(&lk), PySet::from_items(&rk)) {
        let s = match op {
            SetOp::Union => x.union(&y),
            SetOp::Intersect => x.intersection(&y),
            SetOp::Difference => x.difference(&y),
            SetOp::Symmetric => x.symmetric_difference(&y),
        };
        return Ok(Mj::from(s.items().iter().map(mj).collect::<Vec<_>>()));
    }
    // Unhashable items: Ansible falls back to order-preserving list logic.
    let pick = |from: &[Mj], keys: &[Value], want_in: bool, other: &[Value]| -> Vec<Mj> {
        from.iter()
            .zip(keys)
            .filter(|(_, k)| other.contains(k) == want_in)
            .map(|(v, _)| v.clone())
            .collect()
    };
    let fallback_unique = |v: Vec<Mj>| -> Result<Vec<Mj>, Error> {
        // `unique` itself fails on unhashable items; keep the first of equal values.
        let mut seen: Vec<Value> = Vec::new();
        let mut out = Vec::new();
        for item in v {
            let k = kiln(&item)?;
            if !seen.contains(&k) {
                seen.push(k);
                out.push(item);
            }
        }
        Ok(out)
    };
    let out = match op {
        SetOp::Union => {
            let mut all = left.clone();
            all.extend(right.iter().cloned());
            fallback_unique(all)?
        }
        SetOp::Intersect => fallback_unique(pick(&left, &lk, true, &rk))?,
        SetOp::Difference => fallback_unique(pick(&left, &lk, false, &rk))?,
        SetOp::Symmetric => {
            let isect = fallback_unique(pick(&left, &lk, true, &rk))?;
            let isect_k: Vec<Value> = isect.iter().map(kiln).collect::<Result<_, _>>()?;
            let mut all = left.clone();
            all.extend(right.iter().cloned());
            let union = fallback_unique(all)?;
            let mut out = Vec::new();
            for v in union {
                if !isect_k.contains(&kiln(&v)?) {
                    out.push(v);
                }
            }
            out
        }
    };
    Ok(Mj::from(out))
}

fn is_sequence(v: &Mj) -> bool {
    matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable)
}

fn flatten_into(
    c: &Call,
    out: &mut Vec<Mj>,
    list: Vec<Mj>,
    levels: Option<i128>,
    skip_nulls: bool,
) -> Result<(), Error> {
    for element in list {
        if skip_nulls
            && (element.is_none() || matches!(element.as_str(), Some("None") | Some("null")))
        {
            continue;
        }
        if is_sequence(&element) {
            match levels {
                None => flatten_into(c, out, iterate(c, &element)?, None, skip_nulls)?,
                Some(l) if l >= 1 => {
                    flatten_into(c, out, iterate(c, &element)?, Some(l - 1), skip_nulls)?
                }
                Some(_) => out.push(element),
            }
        } else {
            out.push(element);
        }
    }
    Ok(())
}

fn flatten(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["mylist", "levels", "skip_nulls"])?;
    let levels = match &a[1] {
        Some(l) if !l.is_none() => Some(int_arg(c, l)?),
        _ => None,
    };
    let skip_nulls = a[2].as_ref().is_none_or(Mj::is_true);
    let mut out = Vec::new();
    flatten_into(c, &mut out, iterate(c, &input(c))?, levels, skip_nulls)?;
    Ok(Mj::from(out))
}

fn zip(_: &mut State, c: &Call) -> Result<Mj, Error> {
    if !c.kw.is_empty() {
        return Err(c.fail("zip() takes no keyword arguments"));
    }
    let lists: Vec<Vec<Mj>> = c
        .pos
        .iter()
        .map(|v| iterate(c, v))
        .collect::<Result<_, _>>()?;
    let n = lists.iter().map(Vec::len).min().unwrap_or(0);
    Ok(Mj::from(
        (0..n)
            .map(|i| Mj::from(lists.iter().map(|l| l[i].clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    ))
}

fn zip_longest(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let fill = c.kwarg("fillvalue").cloned().unwrap_or(Mj::from(()));
    if let Some((k, _)) = c.kw.iter().find(|(k, _)| k != "fillvalue") {
        return Err(c.fail(&format!("unexpected keyword argument `{k}`")));
    }
    let lists: Vec<Vec<Mj>> = c
        .pos
        .iter()
        .map(|v| iterate(c, v))
        .collect::<Result<_, _>>()?;
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok(Mj::from(
        (0..n)
            .map(|i| {
                Mj::from(
                    lists
                        .iter()
                        .map(|l| l.get(i).cloned().unwrap_or_else(|| fill.clone()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
    ))
}

fn product(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let repeat = match c.kwarg("repeat") {
        Some(r) => int_arg(c, r)?.max(0) as usize,
        None => 1,
    };
    let mut pools: Vec<Vec<Mj>> = Vec::new();
    let base: Vec<Vec<Mj>> = c
        .pos
        .iter()
        .map(|v| iterate(c, v))
        .collect::<Result<_, _>>()?;
    for _ in 0..repeat {
        pools.extend(base.iter().cloned());
    }
    let mut result: Vec<Vec<Mj>> = vec![vec![]];
    for pool in pools {
        let mut next = Vec::new();
        for prefix in &result {
            for item in &pool {
                let mut p = prefix.clone();
                p.push(item.clone());
                next.push(p);
            }
        }
        result = next;
    }
    Ok(Mj::from(
        result.into_iter().map(Mj::from).collect::<Vec<_>>(),
    ))
}

fn permutations(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["iterable", "r"])?;
    let pool = iterate(c, &input(c))?;
    let n = pool.len();
    let r = match &a[1] {
        Some(r) if !r.is_none() => int_arg(c, r)?.max(0) as usize,
        _ => n,
    };
    let mut out = Vec::new();
    if r <= n {
        // itertools.permutations order.
        let mut indices: Vec<usize> = (0..n).collect();
        let mut cycles: Vec<usize> = (n - r + 1..=n).rev().collect();
        out.push(Mj::from(
            indices[..r]
                .iter()
                .map(|&i| pool[i].clone())
                .collect::<Vec<_>>(),
        ));
        'outer: loop {
            for i in (0..r).rev() {
                cycles[i] -= 1;
                if cycles[i] == 0 {
                    let moved = indices.remove(i);
                    indices.push(moved);
                    cycles[i] = n - i;
                } else {
                    let j = cycles[i];
                    indices.swap(i, n - j);
                    out.push(Mj::from(
                        indices[..r]
                            .iter()
                            .map(|&i| pool[i].clone())
                            .collect::<Vec<_>>(),
                    ));
                    continue 'outer;
                }
            }
            break;
        }
    }
    Ok(Mj::from(out))
}

fn combinations(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["iterable", "r"])?;
    let pool = iterate(c, &input(c))?;
    let r = int_arg(
        c,
        a[1].as_ref()
            .ok_or_else(|| c.fail("missing argument `r`"))?,
    )?
    .max(0) as usize;
    let n = pool.len();
    let mut out = Vec::new();
    if r <= n {
        let mut idx: Vec<usize> = (0..r).collect();
        loop {
            out.push(Mj::from(
                idx.iter().map(|&i| pool[i].clone()).collect::<Vec<_>>(),
            ));
            let Some(i) = (0..r).rev().find(|&i| idx[i] != i + n - r) else {
                break;
            };
            idx[i] += 1;
            for j in i + 1..r {
                idx[j] = idx[j - 1] + 1;
            }
        }
    }
    Ok(Mj::from(out))
}

/// Ansible's `merge_hash(x, y, recursive, list_merge)`: y wins.
pub fn merge_hash(
    c: &Call,
    x: &Map,
    y: &Map,
    recursive: bool,
    list_merge: &str,
) -> Result<Map, Error> {
    if x.is_empty() || x == y {
        return Ok(y.clone());
    }
    if y.is_empty() {
        return Ok(x.clone());
    }
    let mut out = x.clone();
    if !recursive && list_merge == "replace" {
        for (k, v) in y {
            out.insert(k.clone(), v.clone());
        }
        return Ok(out);
    }
    for (k, yv) in y {
        let Some(xv) = out.get(k).cloned() else {
            out.insert(k.clone(), yv.clone());
            continue;
        };
        let merged = match (&xv, yv) {
            (Value::Map(xm), Value::Map(ym)) if recursive => {
                Value::Map(merge_hash(c, xm, ym, true, list_merge)?)
            }
            (Value::Seq(xl), Value::Seq(yl)) => Value::Seq(match list_merge {
                "replace" => yl.clone(),
                "keep" => xl.clone(),
                "append" => xl.iter().chain(yl).cloned().collect(),
                "prepend" => yl.iter().chain(xl).cloned().collect(),
                "append_rp" => {
                    let mut l: Vec<Value> =
                        xl.iter().filter(|v| !yl.contains(v)).cloned().collect();
                    l.extend(yl.iter().cloned());
                    l
                }
                "prepend_rp" => {
                    let mut l = yl.clone();
                    l.extend(xl.iter().filter(|v| !yl.contains(v)).cloned());
                    l
                }
                other => {
                    return Err(c.fail(&format!(
                        "merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp', not {other}"
                    )));
                }
            }),
            _ => yv.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Ok(out)
}

fn combine(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let mut recursive = false;
    let mut list_merge = "replace".to_string();
    for (k, v) in &c.kw {
        match k.as_str() {
            "recursive" => recursive = v.is_true(),
            "list_merge" => list_merge = text(v)?,
            _ => {
                return Err(
                    c.fail("'recursive' and 'list_merge' are the only valid keyword arguments")
                );
            }
        }
    }
    // `[dict1, dict2] | combine` is flattened one level.
    let mut dicts = Vec::new();
    for term in &c.pos {
        if is_sequence(term) {
            dicts.extend(iterate(c, term)?);
        } else {
            dicts.push(term.clone());
        }
    }
    if dicts.is_empty() {
        return Ok(Mj::from_pairs(Vec::<(Mj, Mj)>::new()));
    }
    if dicts.len() == 1 {
        return Ok(dicts.remove(0));
    }
    let mut maps = Vec::new();
    for d in &dicts {
        match kiln(d)? {
            Value::Map(m) => maps.push(m),
            other => {
                return Err(c.fail(&format!(
                    "failed to combine variables, expected dicts but got '{}'",
                    other.type_name()
                )));
            }
        }
    }
    let mut it = maps.into_iter().rev();
    let mut result = it.next().unwrap_or_default();
    for d in it {
        result = merge_hash(c, &d, &result, recursive, &list_merge)?;
    }
    Ok(mj(&Value::Map(result)))
}

fn dict2items(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["mydict", "key_name", "value_name"])?;
    let v = input(c);
    if v.kind() != ValueKind::Map {
        return Err(c.fail(&format!(
            "dict2items requires a dictionary, got <class '{}'> instead.",
            type_name(&v)
        )));
    }
    let key_name = a[1].clone().unwrap_or(Mj::from("key"));
    let value_name = a[2].clone().unwrap_or(Mj::from("value"));
    let out: Vec<Mj> = map_pairs(&v)?
        .into_iter()
        .map(|(k, item)| Mj::from_pairs([(key_name.clone(), k), (value_name.clone(), item)]))
        .collect();
    Ok(Mj::from(out))
}

fn items2dict(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["mylist", "key_name", "value_name"])?;
    let v = input(c);
    if !is_sequence(&v) {
        return Err(c.fail(&format!(
            "items2dict requires a list, got <class '{}'> instead.",
            type_name(&v)
        )));
    }
    let key_name = a[1].clone().unwrap_or(Mj::from("key"));
    let value_name = a[2].clone().unwrap_or(Mj::from("value"));
    let mut out = Map::new();
    for item in iterate(c, &v)? {
        if item.kind() != ValueKind::Map {
            return Err(c.fail("items2dict requires a list of dictionaries"));
        }
        let k = item.get_item(&key_name)?;
        let val = item.get_item(&value_name)?;
        if k.is_undefined() || val.is_undefined() {
            return Err(c.fail(&format!(
                "items2dict requires each dictionary in the list to contain the keys '{}' and '{}'",
                text(&key_name)?,
                text(&value_name)?
            )));
        }
        let key = kiln(&k)?;
        if matches!(key, Value::Seq(_) | Value::Map(_)) {
            return Err(c.fail("items2dict requires a list of dictionaries"));
        }
        out.insert(key, kiln(&val)?);
    }
    Ok(mj(&Value::Map(out)))
}

fn dictsort(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "case_sensitive", "by", "reverse"])?;
    let v = input(c);
    let pos = match a[2].as_ref().map(text).transpose()?.as_deref() {
        None | Some("key") => 0,
        Some("value") => 1,
        Some(_) => return Err(c.fail("You can only sort by either \"key\" or \"value\"")),
    };
    let case_sensitive = truthy(&a[1]);
    let mut keyed = Vec::new();
    for (k, item) in map_pairs(&v)? {
        let key = kiln(if pos == 0 { &k } else { &item })?;
        let key = if case_sensitive {
            key
        } else {
            ignore_case(key)
        };
        keyed.push((vec![key], Mj::from(vec![k, item])));
    }
    py_sort(c, &mut keyed, truthy(&a[3]))?;
    Ok(Mj::from(
        keyed.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    ))
}

fn extract(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["item", "container", "morekeys"])?;
    let item = input(c);
    let container = a[1]
        .clone()
        .ok_or_else(|| c.fail("missing the container"))?;
    let mut keys = vec![item];
    match &a[2] {
        None => {}
        Some(m) if m.is_none() => {}
        Some(m) if m.kind() == ValueKind::Seq => keys.extend(iterate(c, m)?),
        Some(m) => keys.push(m.clone()),
    }
    let mut v = container;
    for k in keys {
        v = getitem(&v, &k);
    }
    Ok(v)
}

fn batch(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "linecount", "fill_with"])?;
    let all = iterate(c, &input(c))?;
    let n = int_arg(c, a[1].as_ref().ok_or_else(|| c.fail("missing linecount"))?)?;
    let n = n.max(1) as usize;
    let fill = a[2].clone().filter(|v| !v.is_none());
    let mut out = Vec::new();
    for chunk in all.chunks(n) {
        let mut chunk = chunk.to_vec();
        if let Some(f) = &fill {
            while chunk.len() < n {
                chunk.push(f.clone());
            }
        }
        out.push(Mj::from(chunk));
    }
    Ok(Mj::from(out))
}

fn slice(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "slices", "fill_with"])?;
    let seq = iterate(c, &input(c))?;
    let slices = int_arg(c, a[1].as_ref().ok_or_else(|| c.fail("missing slices"))?)?;
    if slices <= 0 {
        return Err(c.fail("integer division or modulo by zero"));
    }
    let slices = slices as usize;
    let fill = a[2].clone().filter(|v| !v.is_none());
    let length = seq.len();
    let per = length / slices;
    let extra = length % slices;
    let mut offset = 0;
    let mut out = Vec::new();
    for n in 0..slices {
        let start = offset + n * per;
        if n < extra {
            offset += 1;
        }
        let end = offset + (n + 1) * per;
        let mut tmp = seq[start.min(length)..end.min(length)].to_vec();
        if let Some(f) = &fill
            && n >= extra
        {
            tmp.push(f.clone());
        }
        out.push(Mj::from(tmp));
    }
    Ok(Mj::from(out))
}

fn groupby(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "attribute", "default", "case_sensitive"])?;
    let all = iterate(c, &input(c))?;
    let attribute = a[1].clone().ok_or_else(|| c.fail("missing attribute"))?;
    let path = attr_path(&attribute);
    let default = a[2].clone().filter(|v| !v.is_none());
    let case_sensitive = truthy(&a[3]);
    let lookup = |item: &Mj| -> Mj {
        let mut v = item.clone();
        for part in &path {
            v = getitem(&v, part);
            if v.is_undefined()
                && let Some(d) = &default
            {
                v = d.clone();
            }
        }
        v
    };
    let mut keyed = Vec::new();
    for item in all {
        let k = lookup(&item);
        if k.is_undefined() {
            return Err(undefined_error(&k));
        }
        let k = kiln(&k)?;
        keyed.push((vec![if case_sensitive { k } else { ignore_case(k) }], item));
    }
    py_sort(c, &mut keyed, false)?;
    let mut out: Vec<Mj> = Vec::new();
    let mut current: Option<(Value, Vec<Mj>)> = None;
    for (k, item) in keyed {
        let key = k.into_iter().next().unwrap_or(Value::Null);
        match &mut current {
            Some((ck, list)) if *ck == key => list.push(item),
            _ => {
                if let Some((_, list)) = current.take() {
                    let grouper = lookup(&list[0]);
                    out.push(Mj::from(vec![grouper, Mj::from(list)]));
                }
                current = Some((key, vec![item]));
            }
        }
    }
    if let Some((_, list)) = current {
        let grouper = lookup(&list[0]);
        out.push(Mj::from(vec![grouper, Mj::from(list)]));
    }
    Ok(Mj::from(out))
}

fn items_filter(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["value"])?;
    let v = input(c);
    if v.kind() != ValueKind::Map {
        return Err(c.fail("Can only get item pairs from a mapping."));
    }
    Ok(Mj::from(
        map_pairs(&v)?
            .into_iter()
            .map(|(k, x)| Mj::from(vec![k, x]))
            .collect::<Vec<_>>(),
    ))
}

fn subelements(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["obj", "subelements", "skip_missing"])?;
    let obj = input(c);
    let elements = match obj.kind() {
        ValueKind::Map => map_pairs(&obj)?.into_iter().map(|(_, v)| v).collect(),
        ValueKind::Seq => iterate(c, &obj)?,
        _ => return Err(c.fail("obj must be a list of dicts or a nested dict")),
    };
    let spec = a[1].clone().ok_or_else(|| c.fail("missing subelements"))?;
    let keys: Vec<Mj> = match spec.kind() {
        ValueKind::Seq => iterate(c, &spec)?,
        ValueKind::String => spec
            .as_str()
            .unwrap_or_default()
            .split('.')
            .map(Mj::from)
            .collect(),
        _ => return Err(c.fail("subelements must be a list or a string")),
    };
    let skip_missing = truthy(&a[2]);
    let mut out = Vec::new();
    for element in elements {
        let mut values = element.clone();
        let mut skipped = false;
        for k in &keys {
            if values.kind() != ValueKind::Map && values.kind() != ValueKind::Seq {
                return Err(c.fail(&format!(
                    "the key {} should point to a dictionary, got '{}'",
                    text(k)?,
                    text(&values)?
                )));
            }
            let next = values.get_item(k)?;
            if next.is_undefined() {
                if skip_missing {
                    skipped = true;
                    break;
                }
                return Err(c.fail(&format!(
                    "could not find '{}' key in iterated item",
                    text(k)?
                )));
            }
            values = next;
        }
        if skipped {
            continue;
        }
        if values.kind() != ValueKind::Seq {
            return Err(c.fail("the key should point to a list"));
        }
        for v in iterate(c, &values)? {
            out.push(Mj::from(vec![element.clone(), v]));
        }
    }
    Ok(Mj::from(out))
}

fn rekey_on_member(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["data", "key", "duplicates"])?;
    let data = input(c);
    let key = a[1].clone().ok_or_else(|| c.fail("missing key"))?;
    let duplicates = match &a[2] {
        Some(d) => text(d)?,
        None => "error".into(),
    };
    if duplicates != "error" && duplicates != "overwrite" {
        return Err(c.fail(&format!(
            "duplicates parameter to rekey_on_member has unknown value '{duplicates}'"
        )));
    }
    let elements = match data.kind() {
        ValueKind::Map => map_pairs(&data)?.into_iter().map(|(_, v)| v).collect(),
        ValueKind::Seq | ValueKind::Iterable => iterate(c, &data)?,
        _ => return Err(c.fail("Type is not a valid list, set, or dict")),
    };
    let mut out = Map::new();
    for item in elements {
        if item.kind() != ValueKind::Map {
            return Err(c.fail("List item is not a valid dict"));
        }
        let k = item.get_item(&key)?;
        if k.is_undefined() {
            return Err(c.fail(&format!("Key '{}' was not found.", text(&key)?)));
        }
        let k = kiln(&k)?;
        if out.contains_key(&k) && duplicates == "error" {
            return Err(c.fail(&format!(
                "Key '{}' is not unique, cannot convert to dict.",
                crate::yaml::python_str(&k)
            )));
        }
        out.insert(k, kiln(&item)?);
    }
    Ok(mj(&Value::Map(out)))
}

/// Python's `dict(iterable_or_mapping, **kwargs)` as a template global.
pub fn dict_global(
    _: &mut State,
    args: minijinja::value::Rest<minijinja::value::ValueOrKwargs>,
) -> Result<Mj, Error> {
    let c = Call::new("dict", crate::template::Plugin::Filter, args.into_values())?;
    if c.pos.len() > 1 {
        return Err(c.fail(&format!(
            "dict expected at most 1 argument, got {}",
            c.pos.len()
        )));
    }
    let mut out: Vec<(Mj, Mj)> = Vec::new();
    let mut put = |k: Mj, v: Mj| {
        if let Some(slot) = out.iter_mut().find(|(x, _)| *x == k) {
            slot.1 = v;
        } else {
            out.push((k, v));
        }
    };
    if let Some(src) = c.pos.first() {
        if src.kind() == ValueKind::Map {
            for (k, v) in map_pairs(src)? {
                put(k, v);
            }
        } else {
            for pair in iterate(&c, src)? {
                let kv = iterate(&c, &pair)?;
                if kv.len() != 2 {
                    return Err(c.fail(&format!(
                        "dictionary update sequence element has length {}; 2 is required",
                        kv.len()
                    )));
                }
                put(kv[0].clone(), kv[1].clone());
            }
        }
    }
    for (k, v) in &c.kw {
        put(Mj::from(k.as_str()), v.clone());
    }
    Ok(Mj::from_pairs(out))
}
