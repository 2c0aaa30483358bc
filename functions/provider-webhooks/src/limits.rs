use dsync_domain::scim::ScimError;

/// Values that become part of a DynamoDB key (at most 1,024 bytes for a sort key, with room
/// for the key's prefix) are capped well below it.
pub const MAX_KEY_VALUE_BYTES: usize = 512;

pub fn check_key_value(attribute: &str, value: &str) -> Result<(), ScimError> {
    if value.len() > MAX_KEY_VALUE_BYTES {
        return Err(ScimError::invalid_value(format!(
            "{attribute} is longer than {MAX_KEY_VALUE_BYTES} bytes"
        )));
    }
    Ok(())
}
