//! What the SCIM endpoint refuses before anything is stored, so that every accepted record
//! fits DynamoDB's item and transaction limits (see `dsync_domain::directory::limits`).

use dsync_domain::directory::limits::{self, TooLarge};
use dsync_domain::ids::ProviderUserId;
use dsync_domain::scim::ScimError;
use serde_json::Value;

/// Values that become part of a DynamoDB key (at most 1,024 bytes for a sort key, with room
/// for the key's prefix) are capped well below it.
pub const MAX_KEY_VALUE_BYTES: usize = 512;

/// A member's `display` is informational; longer ones are cut (at a character boundary) so a
/// membership item and a rendered member stay small.
pub const MAX_MEMBER_DISPLAY_BYTES: usize = 256;

pub fn check_key_value(attribute: &str, value: &str) -> Result<(), ScimError> {
    if value.len() > MAX_KEY_VALUE_BYTES {
        return Err(ScimError::invalid_value(format!(
            "{attribute} is longer than {MAX_KEY_VALUE_BYTES} bytes"
        )));
    }
    Ok(())
}

pub fn check_user(resource: &Value, id: &ProviderUserId) -> Result<(), ScimError> {
    limits::check_user_resource(resource, id).map_err(too_large)
}

pub fn check_group(resource: &Value) -> Result<(), ScimError> {
    limits::check_group_resource(resource).map_err(too_large)
}

/// 413: the client can fix it (send less), and retrying the same body never helps.
fn too_large(error: TooLarge) -> ScimError {
    ScimError::new(413, None, error.to_string())
}

pub fn short_display(display: Option<String>) -> Option<String> {
    display.map(|mut text| {
        if text.len() > MAX_MEMBER_DISPLAY_BYTES {
            let mut end = MAX_MEMBER_DISPLAY_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_displays_are_cut_at_a_character_boundary() {
        let long = "é".repeat(200);
        let short = short_display(Some(long)).unwrap();
        assert!(short.len() <= MAX_MEMBER_DISPLAY_BYTES);
        assert_eq!(short, "é".repeat(128));
        assert_eq!(short_display(Some("Ann".into())).as_deref(), Some("Ann"));
    }
}
