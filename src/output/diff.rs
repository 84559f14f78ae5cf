//! Unified diffs for `--diff`, as `diff -u` lays them out (line-based, 3 lines of context).

/// A unified diff of two texts, or an empty string when they are equal.
pub fn unified(before: &str, after: &str, before_header: &str, after_header: &str) -> String {
    if before == after {
        return String::new();
    }
    let a: Vec<&str> = before.split_inclusive('\n').collect();
    let b: Vec<&str> = after.split_inclusive('\n').collect();
    let ops = lcs_ops(&a, &b);
    // Without a header (dict diffs of docker modules) Ansible prints the bare words.
    let head = |word: &str, h: &str| {
        if h.is_empty() {
            word.to_string()
        } else {
            format!("{word}: {h}")
        }
    };
    let mut out = format!(
        "--- {}\n+++ {}\n",
        head("before", before_header),
        head("after", after_header)
    );
    // Group operations into hunks with 3 lines of context.
    let ctx = 3;
    let mut i = 0;
    while i < ops.len() {
        if matches!(ops[i], Op::Same(..)) {
            i += 1;
            continue;
        }
        let start = i.saturating_sub(ctx);
        let mut end = i;
        let mut last_change = i;
        while end < ops.len() {
            if !matches!(ops[end], Op::Same(..)) {
                last_change = end;
            } else if end - last_change > 2 * ctx {
                break;
            }
            end += 1;
        }
        let end = (last_change + ctx + 1).min(ops.len());
        let (mut a0, mut b0) = (0, 0);
        for op in &ops[..start] {
            match op {
                Op::Same(..) => {
                    a0 += 1;
                    b0 += 1;
                }
                Op::Del(_) => a0 += 1,
                Op::Add(_) => b0 += 1,
            }
        }
        let (mut alen, mut blen) = (0, 0);
        let mut body = String::new();
        for op in &ops[start..end] {
            let (mark, line) = match op {
                Op::Same(l) => {
                    alen += 1;
                    blen += 1;
                    (' ', *l)
                }
                Op::Del(l) => {
                    alen += 1;
                    ('-', *l)
                }
                Op::Add(l) => {
                    blen += 1;
                    ('+', *l)
                }
            };
            body.push(mark);
            body.push_str(line);
            if !line.ends_with('\n') {
                body.push_str("\n\\ No newline at end of file\n");
            }
        }
        let range = |s: usize, n: usize| {
            if n == 1 {
                format!("{}", s + 1)
            } else {
                format!("{},{}", if n == 0 { s } else { s + 1 }, n)
            }
        };
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(a0, alen),
            range(b0, blen)
        ));
        out.push_str(&body);
        i = end;
    }
    out
}

enum Op<'a> {
    Same(&'a str),
    Del(&'a str),
    Add(&'a str),
}

fn lcs_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let (n, m) = (a.len(), b.len());
    // Large files: fall back to "all removed, all added" rather than O(n*m) memory.
    if n * m > 25_000_000 {
        return a
            .iter()
            .map(|l| Op::Del(l))
            .chain(b.iter().map(|l| Op::Add(l)))
            .collect();
    }
    let mut dp = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            dp[i][j] = if a[i] == b[j] {
                dp[i + 1][j + 1] + 1
            } else {
                dp[i + 1][j].max(dp[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::new();
    while i < n && j < m {
        if a[i] == b[j] {
            ops.push(Op::Same(a[i]));
            i += 1;
            j += 1;
        } else if dp[i + 1][j] >= dp[i][j + 1] {
            ops.push(Op::Del(a[i]));
            i += 1;
        } else {
            ops.push(Op::Add(b[j]));
            j += 1;
        }
    }
    ops.extend(a[i..].iter().map(|l| Op::Del(l)));
    ops.extend(b[j..].iter().map(|l| Op::Add(l)));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_changed() {
        let d = unified("a\nb\nc\n", "a\nB\nc\n", "f", "f");
        assert_eq!(
            d,
            "--- before: f\n+++ after: f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
    }

    #[test]
    fn new_file() {
        let d = unified("", "x\n", "f", "f");
        assert_eq!(d, "--- before: f\n+++ after: f\n@@ -0,0 +1 @@\n+x\n");
    }
}
