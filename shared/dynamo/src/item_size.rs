//! What DynamoDB counts toward a transaction's 4 MB: the size of each item it writes (a put's
//! item; an update's key and values; a delete's or a condition check's key), as DynamoDB sizes
//! items: attribute names plus values, strings and binaries by their bytes, numbers by their
//! digits, nested documents with a few bytes of overhead per entry. An estimate that never
//! counts less than the engine does (numbers are counted by all their characters).

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use std::collections::HashMap;

/// DynamoDB's limit on the aggregate size of a transaction's items.
pub(crate) const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// The size DynamoDB counts for `item` in a transaction.
pub(crate) fn transaction_item_bytes(item: &TransactWriteItem) -> usize {
    if let Some(put) = &item.put {
        item_bytes(put.item())
    } else if let Some(update) = &item.update {
        let values = update
            .expression_attribute_values()
            .map_or(0, |values| values.values().map(value_bytes).sum());
        item_bytes(update.key()) + values
    } else if let Some(delete) = &item.delete {
        item_bytes(delete.key())
    } else if let Some(check) = &item.condition_check {
        item_bytes(check.key())
    } else {
        0
    }
}

pub(crate) fn item_bytes(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_bytes(value))
        .sum()
}

fn value_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) | AttributeValue::N(text) => text.len(),
        AttributeValue::B(bytes) => bytes.as_ref().len(),
        AttributeValue::Ss(texts) | AttributeValue::Ns(texts) => {
            texts.iter().map(String::len).sum()
        }
        AttributeValue::Bs(blobs) => blobs.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(name, value)| 1 + name.len() + value_bytes(value))
                .sum::<usize>()
        }
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_bytes(v)).sum::<usize>(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::Put;

    #[test]
    fn a_put_counts_its_names_and_values() {
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("USER#1".into())),
            (
                "doc".to_owned(),
                AttributeValue::B(Blob::new(vec![0; 1000])),
            ),
            ("n".to_owned(), AttributeValue::N("12345".into())),
        ]);
        let put = Put::builder()
            .table_name("t")
            .set_item(Some(item))
            .build()
            .unwrap();
        let write = TransactWriteItem::builder().put(put).build();
        assert_eq!(transaction_item_bytes(&write), 2 + 6 + 3 + 1000 + 1 + 5);
    }
}
