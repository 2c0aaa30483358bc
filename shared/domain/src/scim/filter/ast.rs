//! The SCIM filter syntax tree (RFC 7644 §3.4.2.2).

use serde_json::Number;

/// `[uri ":"] attrName ["." subAttr]`. Names keep the case the client sent; every comparison of
/// names is case-insensitive.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// A schema URN such as `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
    pub uri: Option<String>,
    pub name: String,
    pub sub_attr: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// `compValue = false / null / true / number / string`
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath pr`
    Present(AttrPath),
    /// `attrPath compareOp compValue`
    Compare(AttrPath, CompareOp, CompValue),
    /// `attrPath "[" valFilter "]"`, e.g. `emails[type eq "work"]`. The path has no sub-attribute;
    /// the inner filter's paths are relative to each element of the multi-valued attribute.
    ValuePath(AttrPath, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}
