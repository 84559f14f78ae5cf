//! Ansible 2.19's undefined values fail as soon as an operator touches them: `nope == 1`,
//! `not nope`, `nope + 1` and `x in nope` are errors that name `nope`, while minijinja's
//! chainable undefined quietly compares unequal or counts as false. Rather than change how
//! minijinja treats undefined values everywhere (which would break `d.a.b | default(1)` and
//! `x is defined`, both fine in Ansible), the expression is rewritten so that each variable
//! reference used as an operand passes through a function that fails on an undefined
//! value. Tests (`is defined`), filters (`default`), call arguments and the bases of
//! attribute chains are left alone, and `and`/`or` keep short-circuiting, so
//! `x is defined and x > 1` stays valid when `x` is not.

use std::borrow::Cow;

use minijinja::machinery::ast::{CallArg, Expr};
use minijinja::machinery::parse_expr;

/// Wraps every variable reference that is an operand of an operator or a condition in
/// `wrapper(...)`. Text that does not parse is returned unchanged: the evaluation that
/// follows reports the syntax error with its own wording.
pub fn strict_operands<'a>(expr: &'a str, wrapper: &str) -> Cow<'a, str> {
    let Ok(ast) = parse_expr(expr) else {
        return Cow::Borrowed(expr);
    };
    let mut spans = Vec::new();
    walk(&ast, &mut spans);
    if spans.is_empty() {
        return Cow::Borrowed(expr);
    }
    // Inserts at offsets: an opening at the start and a closing at the end of each span.
    // Spans never partially overlap (they are distinct AST nodes), so sorting the inserts
    // keeps the text well nested.
    let mut inserts: Vec<(usize, u8, &str)> = Vec::with_capacity(spans.len() * 2);
    for (start, end) in spans {
        if start > end || end > expr.len() {
            return Cow::Borrowed(expr);
        }
        inserts.push((start, 1, "("));
        inserts.push((end, 0, ")"));
    }
    // At one offset, closings come before openings: `a)` then `(b`.
    inserts.sort_by_key(|&(at, order, _)| (at, order));
    let mut out = String::with_capacity(expr.len() + inserts.len() * (wrapper.len() + 2));
    let mut pos = 0;
    for (at, order, text) in inserts {
        let Some(chunk) = expr.get(pos..at) else {
            return Cow::Borrowed(expr);
        };
        out.push_str(chunk);
        if order == 1 {
            out.push_str(wrapper);
        }
        out.push_str(text);
        pos = at;
    }
    out.push_str(&expr[pos..]);
    Cow::Owned(out)
}

/// A variable reference: a name, possibly followed by attribute, item or slice lookups.
fn reference(e: &Expr) -> Option<(usize, usize)> {
    // A lookup's own span starts at its `.` or `[`; the reference starts at its base name.
    let (start, end) = match e {
        Expr::Var(s) => {
            return Some((s.span().start_offset as usize, s.span().end_offset as usize));
        }
        Expr::GetAttr(s) => (reference(&s.expr)?.0, s.span().end_offset),
        Expr::GetItem(s) => (reference(&s.expr)?.0, s.span().end_offset),
        _ => return None,
    };
    Some((start, end as usize))
}

/// Records `e` if it is a reference, and looks inside it otherwise.
fn operand(e: &Expr, out: &mut Vec<(usize, usize)>) {
    match reference(e) {
        Some(span) => {
            out.push(span);
            // Subscripts inside the reference are expressions of their own.
            subscripts(e, out);
        }
        None => walk(e, out),
    }
}

fn subscripts(e: &Expr, out: &mut Vec<(usize, usize)>) {
    match e {
        Expr::GetAttr(s) => subscripts(&s.expr, out),
        Expr::GetItem(s) => {
            subscripts(&s.expr, out);
            walk(&s.subscript_expr, out);
        }
        _ => {}
    }
}

fn walk(e: &Expr, out: &mut Vec<(usize, usize)>) {
    match e {
        Expr::Var(_) | Expr::Const(_) => {}
        Expr::UnaryOp(s) => operand(&s.expr, out),
        Expr::BinOp(s) => {
            operand(&s.left, out);
            operand(&s.right, out);
        }
        Expr::Compare(s) => {
            operand(&s.expr, out);
            for op in &s.ops {
                operand(&op.expr, out);
            }
        }
        Expr::IfExpr(s) => {
            operand(&s.test_expr, out);
            walk(&s.true_expr, out);
            if let Some(f) = &s.false_expr {
                walk(f, out);
            }
        }
        Expr::Filter(s) => {
            if let Some(inner) = &s.expr {
                walk(inner, out);
            }
            args(&s.args, out);
        }
        Expr::Test(s) => {
            walk(&s.expr, out);
            args(&s.args, out);
        }
        Expr::GetAttr(s) => walk(&s.expr, out),
        Expr::GetItem(s) => {
            walk(&s.expr, out);
            walk(&s.subscript_expr, out);
        }
        Expr::Slice(s) => {
            walk(&s.expr, out);
            for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                walk(part, out);
            }
        }
        Expr::Call(s) => {
            walk(&s.expr, out);
            args(&s.args, out);
        }
        Expr::List(s) => s.items.iter().for_each(|i| walk(i, out)),
        Expr::Tuple(s) => s.items.iter().for_each(|i| walk(i, out)),
        Expr::Map(s) => {
            s.keys.iter().for_each(|k| walk(k, out));
            s.values.iter().for_each(|v| walk(v, out));
        }
    }
}

fn args(list: &[CallArg], out: &mut Vec<(usize, usize)>) {
    for a in list {
        match a {
            CallArg::Pos(e)
            | CallArg::Kwarg(_, e)
            | CallArg::PosSplat(e)
            | CallArg::KwargSplat(e) => walk(e, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strict_operands;

    #[test]
    fn operands_are_wrapped_guards_are_not() {
        let f = |s| strict_operands(s, "f").into_owned();
        assert_eq!(f("a > 1"), "f(a) > 1");
        assert_eq!(f("not a"), "not f(a)");
        assert_eq!(f("d.x.y == 'z'"), "f(d.x.y) == 'z'");
        assert_eq!(f("a is defined and a > 1"), "a is defined and f(a) > 1");
        assert_eq!(f("a | default(0) > 1"), "a | default(0) > 1");
        assert_eq!(f("x in l"), "f(x) in f(l)");
        assert_eq!(f("h[k].v != 2"), "f(h[k].v) != 2");
        assert_eq!(f("a if b else c"), "a if f(b) else c");
        assert_eq!(f("lookup('env', 'X')"), "lookup('env', 'X')");
        assert_eq!(f("1 +"), "1 +");
    }
}
