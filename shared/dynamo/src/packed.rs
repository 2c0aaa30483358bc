//! JSON documents packed for storage: LZ4 with a preset dictionary.
//!
//! DynamoDB bills a write per 1 KB of item, twice inside a transaction, and again for every
//! index that projects the item. The documents the service writes most (the directory user,
//! and the events that carry it) are JSON of about 1 KB whose keys, id prefixes and schema
//! URNs repeat from item to item. LZ4 with a dictionary of those takes a `dsync.user.created`
//! event's data from about 900 bytes to about 260, under the 1 KB unit, in about 2 µs.
//!
//! A packed document is a Binary attribute: a format byte, then an LZ4 block with its size
//! prepended. The attribute's type tells the two apart, so items written as JSON text read as
//! they always did, and a document that would not shrink is written as text. Format 1's
//! dictionary is `packed_dictionary_v1.json`: it must never change, since every item packed
//! with it would become unreadable; a better dictionary is a format 2, with 1 kept for reading.

use std::borrow::Cow;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::Blob;

const FORMAT_V1: u8 = 1;
const DICTIONARY_V1: &[u8] = include_bytes!("packed_dictionary_v1.json");
/// More than any document the service writes (an item is at most 400 KB): a larger declared
/// size is a damaged item, not a reason to allocate.
const MAX_UNPACKED: usize = 1024 * 1024;

/// The attribute for a JSON document: packed when that makes it smaller, else the text.
pub(crate) fn document(text: &str) -> AttributeValue {
    let packed = pack(text);
    if packed.len() < text.len() {
        AttributeValue::B(Blob::new(packed))
    } else {
        AttributeValue::S(text.to_owned())
    }
}

/// The JSON text of a document attribute, packed or not; `None` for any other type.
pub(crate) fn document_text(value: &AttributeValue) -> Option<Result<Cow<'_, str>, String>> {
    match value {
        AttributeValue::S(text) => Some(Ok(Cow::Borrowed(text))),
        AttributeValue::B(bytes) => Some(unpack(bytes.as_ref()).map(Cow::Owned)),
        _ => None,
    }
}

/// The packed form of a document, as [`document`] writes it when it is smaller.
pub fn pack(text: &str) -> Vec<u8> {
    let block = lz4_flex::block::compress_prepend_size_with_dict(text.as_bytes(), DICTIONARY_V1);
    let mut packed = Vec::with_capacity(block.len() + 1);
    packed.push(FORMAT_V1);
    packed.extend_from_slice(&block);
    packed
}

/// The text of a packed document (a stream image's Binary attribute, for readers outside this
/// crate); an error names what is wrong with a damaged one.
pub fn unpack(packed: &[u8]) -> Result<String, String> {
    let (&format, block) = packed.split_first().ok_or("an empty packed document")?;
    if format != FORMAT_V1 {
        return Err(format!("unknown packing format {format}"));
    }
    let declared: [u8; 4] = block
        .get(..4)
        .and_then(|size| size.try_into().ok())
        .ok_or("a packed document without its size")?;
    let size = u32::from_le_bytes(declared) as usize;
    if size > MAX_UNPACKED {
        return Err(format!("a packed document declaring {size} bytes"));
    }
    let bytes = lz4_flex::block::decompress_size_prepended_with_dict(block, DICTIONARY_V1)
        .map_err(|e| format!("a damaged packed document: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "a packed document that is not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT_DATA: &str = r#"{"created_at":"2026-12-03T20:25:04.123Z","custom_attributes":{},"directory_id":"directory_01JEBX2Q0Y7R2C0W1W7D3M5NQA","email":"ann.lee@example.com","emails":[{"primary":true,"type":"work","value":"ann.lee@example.com"}],"first_name":"Ann","id":"directory_user_01JEBX2R5H6K8M9N0P1Q2R3S4T","idp_id":"00u1abcdEFGH2345ijk7","job_title":"Engineer","last_name":"Lee","name":"Ann Lee","object":"directory_user","organization_id":null,"raw_attributes":{"active":true,"displayName":"Ann Lee","emails":[{"primary":true,"type":"work","value":"ann.lee@example.com"}],"externalId":"00u1abcdEFGH2345ijk7","locale":"en-US","name":{"familyName":"Lee","givenName":"Ann"},"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"title":"Engineer","userName":"ann.lee@example.com"},"role":null,"roles":[],"state":"active","updated_at":"2026-12-03T20:25:04.123Z","username":"ann.lee@example.com"}"#;

    #[test]
    fn a_user_event_packs_under_two_fifths_and_reads_back_the_same() {
        let AttributeValue::B(packed) = document(EVENT_DATA) else {
            panic!("a user object shrinks");
        };
        let bytes = packed.as_ref().len();
        assert!(bytes * 5 < EVENT_DATA.len() * 2, "{bytes} bytes");
        let value = AttributeValue::B(packed);
        assert_eq!(document_text(&value).unwrap().unwrap(), EVENT_DATA);
    }

    #[test]
    fn a_document_that_does_not_shrink_stays_text() {
        assert_eq!(document("{}"), AttributeValue::S("{}".to_owned()));
        let text = AttributeValue::S("{\"a\":1}".to_owned());
        assert_eq!(document_text(&text).unwrap().unwrap(), "{\"a\":1}");
        assert!(document_text(&AttributeValue::N("1".to_owned())).is_none());
    }

    /// Bytes packed with format 1 when it was introduced: if the dictionary or the format
    /// changed, items already stored would no longer read, and this fails.
    #[test]
    fn format_1_still_reads_what_it_wrote() {
        let stored = include_bytes!("packed_v1_sample.bin");
        assert_eq!(unpack(stored).unwrap(), EVENT_DATA);
    }

    #[test]
    fn damaged_documents_are_errors_not_panics_or_huge_allocations() {
        let packed = pack(EVENT_DATA);
        assert!(unpack(&[]).is_err());
        assert!(unpack(&[2, 0, 0, 0, 0]).unwrap_err().contains("format 2"));
        assert!(unpack(&[1, 0xff, 0xff, 0xff, 0x7f, 0])
            .unwrap_err()
            .contains("declaring"));
        assert!(unpack(&packed[..packed.len() / 2]).is_err());
        let mut flipped = packed.clone();
        flipped[5] ^= 0xff;
        let _ = unpack(&flipped);
    }
}
