//! The whole SCIM filter grammar (RFC 7644 §3.4.2.2): parser (with length and depth limits),
//! printer ([`Display`](std::fmt::Display), canonical and re-parseable) and evaluator
//! ([`Filter::matches`]).
//!
//! Representation choices:
//! - `and`/`or` chains are left-associative: `a or b or c` is `Or(Or(a, b), c)`.
//! - The common non-RFC form `emails[type eq "work"].value eq "x"` ("some email has type work
//!   and value x") becomes `ValuePath(emails, And(type eq "work", value eq "x"))`, and prints
//!   as `emails[type eq "work" and value eq "x"]`.
//! - `not` is a keyword only when followed by `(`, and `and`/`or` only after a complete
//!   expression, so attributes with those names still parse.
//! - Ordering and substring operators with `true`, `false` or `null` are rejected as
//!   `invalidFilter` (RFC 7644 says so for booleans; for null they mean nothing).

mod ast;
mod eval;
mod lex;
mod parse;
mod print;

pub use ast::{is_core_schema_uri, AttrPath, CompValue, CompareOp, Filter};

use super::ScimError;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8 * 1024;
/// Deepest nesting of parentheses, `not` and value paths accepted. `and`/`or` chains do not
/// nest (they are folded in a loop), so only [`MAX_FILTER_LEN`] bounds their length.
pub const MAX_FILTER_DEPTH: usize = 64;

impl Filter {
    /// Parses a filter; every failure is a 400 `invalidFilter`.
    pub fn parse(input: &str) -> Result<Filter, ScimError> {
        parse::parse_filter(input)
    }
}

#[cfg(test)]
mod test_util;
