//! The whole SCIM filter grammar: parser (with length and depth limits), printer and evaluator.

mod ast;

pub use ast::{AttrPath, CompValue, CompareOp, Filter};

use super::ScimError;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8 * 1024;
/// Deepest nesting of parentheses, `not`, value paths and logical operators accepted.
pub const MAX_FILTER_DEPTH: usize = 64;

impl Filter {
    /// Parses a filter; every failure is a 400 `invalidFilter`.
    pub fn parse(_input: &str) -> Result<Filter, ScimError> {
        todo!("filter parser")
    }
}
