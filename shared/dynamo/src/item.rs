//! Reading and writing item attributes without repeating `AttributeValue` plumbing.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::StoreError;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn b(value: bool) -> AttributeValue {
    AttributeValue::Bool(value)
}

pub(crate) trait ItemExt {
    fn str_attr(&self, name: &str) -> Result<&str, StoreError>;
    fn opt_str_attr(&self, name: &str) -> Option<&str>;
    fn num_attr<T: std::str::FromStr>(&self, name: &str) -> Result<T, StoreError>;
    fn opt_num_attr<T: std::str::FromStr>(&self, name: &str) -> Option<T>;
    fn bool_attr(&self, name: &str) -> Result<bool, StoreError>;
    fn json_attr(&self, name: &str) -> Result<serde_json::Value, StoreError>;
}

impl ItemExt for Item {
    fn str_attr(&self, name: &str) -> Result<&str, StoreError> {
        self.opt_str_attr(name)
            .ok_or_else(|| StoreError::corrupt(format!("missing string attribute {name}")))
    }

    fn opt_str_attr(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(AttributeValue::S(v)) => Some(v),
            _ => None,
        }
    }

    fn num_attr<T: std::str::FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.opt_num_attr(name)
            .ok_or_else(|| StoreError::corrupt(format!("missing number attribute {name}")))
    }

    fn opt_num_attr<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        match self.get(name) {
            Some(AttributeValue::N(v)) => v.parse().ok(),
            _ => None,
        }
    }

    fn bool_attr(&self, name: &str) -> Result<bool, StoreError> {
        match self.get(name) {
            Some(AttributeValue::Bool(v)) => Ok(*v),
            _ => Err(StoreError::corrupt(format!(
                "missing boolean attribute {name}"
            ))),
        }
    }

    fn json_attr(&self, name: &str) -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&document_attr(self, name)?)
            .map_err(|e| StoreError::corrupt(format!("attribute {name} is not JSON: {e}")))
    }
}

/// The JSON text of a document attribute, written as text or packed
/// ([`crate::packed::document`]).
pub(crate) fn document_attr<'a>(
    item: &'a Item,
    name: &str,
) -> Result<std::borrow::Cow<'a, str>, StoreError> {
    item.get(name)
        .and_then(crate::packed::document_text)
        .ok_or_else(|| StoreError::corrupt(format!("missing document attribute {name}")))?
        .map_err(|e| StoreError::corrupt(format!("attribute {name}: {e}")))
}

/// Parses an id attribute with the domain's own parser.
pub(crate) fn id_attr<T, E>(
    item: &Item,
    name: &str,
    parse: fn(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    parse(item.str_attr(name)?)
        .map_err(|_| StoreError::corrupt(format!("attribute {name} is not a valid id")))
}
