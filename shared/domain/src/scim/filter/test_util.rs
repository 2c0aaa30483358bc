//! Short constructors for filter ASTs in tests.

use super::{AttrPath, CompValue, CompareOp, Filter};

pub fn path(text: &str) -> AttrPath {
    AttrPath::parse(text).expect("test path is valid")
}

pub fn s(text: &str) -> CompValue {
    CompValue::String(text.to_string())
}

pub fn n(value: i64) -> CompValue {
    CompValue::Number(value.into())
}

pub fn cmp(p: &str, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare(path(p), op, value)
}

pub fn eq(p: &str, value: &str) -> Filter {
    cmp(p, CompareOp::Eq, s(value))
}

pub fn pr(p: &str) -> Filter {
    Filter::Present(path(p))
}

pub fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

pub fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

pub fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}

pub fn vp(p: &str, inner: Filter) -> Filter {
    Filter::ValuePath(path(p), Box::new(inner))
}
