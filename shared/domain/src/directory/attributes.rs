//! Mapping provider records (SCIM resources) to directory attributes.
//!
//! Tolerant of any JSON: a provider record was validated when it was written, but the mapping
//! must never fail or panic, because a projection that fails would stall its whole stream.

use serde_json::{Map, Value};

use super::attribute_mapping::{map_custom_attributes, AttributeMapping};
use super::model::{DirectoryGroup, Email, UserAttributes};
use crate::ids::{DirectoryGroupId, ProviderUserId};
use crate::model::ProviderGroup;

/// The attributes of a directory user from its provider resource; `custom` is the directory's
/// attribute mapping (`None`: the defaults). Roles are not the resource's alone: the projection
/// fills them in from the user's groups.
pub fn user_attributes(
    resource: &Value,
    provider_user_id: &ProviderUserId,
    custom: Option<&[AttributeMapping]>,
) -> UserAttributes {
    let empty = Map::new();
    let map = resource.as_object().unwrap_or(&empty);
    let name = field(map, "name").and_then(Value::as_object);
    let emails = emails(map);
    let email = emails
        .iter()
        .find(|email| email.primary)
        .or_else(|| emails.first())
        .map(|email| email.value.clone());
    UserAttributes {
        idp_id: string(field(map, "externalId")).unwrap_or_else(|| provider_user_id.to_string()),
        username: string(field(map, "userName")).unwrap_or_default(),
        email,
        emails,
        first_name: string(name.and_then(|name| field(name, "givenName"))),
        last_name: string(name.and_then(|name| field(name, "familyName"))),
        name: full_name(name),
        job_title: string(field(map, "title")),
        custom_attributes: map_custom_attributes(resource, custom),
        raw_attributes: resource.clone(),
        role: None,
        roles: Vec::new(),
    }
}

/// `name.formatted`, else the given and family names joined; `None` when there is neither.
fn full_name(name: Option<&Map<String, Value>>) -> Option<String> {
    let name = name?;
    if let Some(formatted) = string(field(name, "formatted")).filter(|f| !f.trim().is_empty()) {
        return Some(formatted);
    }
    let parts: Vec<String> = ["givenName", "familyName"]
        .into_iter()
        .filter_map(|part| string(field(name, part)))
        .filter(|part| !part.trim().is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The directory group for `provider` with the given identity and timestamps.
pub fn group_from_provider(
    provider: &ProviderGroup,
    id: DirectoryGroupId,
    created_at: i64,
    updated_at: i64,
) -> DirectoryGroup {
    DirectoryGroup {
        id,
        directory_id: provider.directory_id,
        provider_group_id: provider.id,
        name: provider.display_name.clone(),
        idp_id: provider
            .external_id
            .clone()
            .unwrap_or_else(|| provider.id.to_string()),
        raw_attributes: provider.resource.clone(),
        created_at,
        updated_at,
    }
}

fn emails(map: &Map<String, Value>) -> Vec<Email> {
    let Some(entries) = field(map, "emails").and_then(Value::as_array) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|entry| {
            Some(Email {
                primary: field(entry, "primary").is_some_and(is_true),
                r#type: string(field(entry, "type")),
                value: string(field(entry, "value"))?,
            })
        })
        .collect()
}

/// `map[name]`, ignoring ASCII case: stored resources are canonicalized, but a record written
/// before canonicalization existed must still map.
fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

fn string(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

/// Entra sends booleans as the strings `"True"` and `"False"`.
fn is_true(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ids::{DirectoryId, ProviderGroupId};
    use crate::scim::schema::ENTERPRISE_USER_SCHEMA;

    #[test]
    fn maps_a_full_okta_user() {
        let id = ProviderUserId::generate();
        let resource = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_SCHEMA],
            "userName": "jane@acme.test",
            "externalId": "00u1abcd",
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "emails": [
                {"value": "jane.home@example.test", "type": "home"},
                {"value": "jane@acme.test", "type": "work", "primary": true}
            ],
            "title": "Engineer",
            "active": true,
            ENTERPRISE_USER_SCHEMA: {
                "department": "R&D",
                "employeeNumber": "42",
                "manager": {"value": "00u9boss", "displayName": "Boss"},
                "costCenter": "CC-1",
                "division": "Platform",
                "organization": "Acme"
            },
            "urn:acme:custom": {"shoeSize": 44}
        });
        let attributes = user_attributes(&resource, &id, None);
        assert_eq!(attributes.idp_id, "00u1abcd");
        assert_eq!(attributes.username, "jane@acme.test");
        assert_eq!(attributes.email.as_deref(), Some("jane@acme.test"));
        assert_eq!(attributes.emails.len(), 2);
        assert_eq!(
            attributes.emails[1],
            Email {
                primary: true,
                r#type: Some("work".into()),
                value: "jane@acme.test".into()
            }
        );
        assert_eq!(attributes.first_name.as_deref(), Some("Jane"));
        assert_eq!(attributes.last_name.as_deref(), Some("Doe"));
        assert_eq!(attributes.job_title.as_deref(), Some("Engineer"));
        assert_eq!(attributes.name.as_deref(), Some("Jane Doe"));
        assert_eq!(
            Value::Object(attributes.custom_attributes),
            json!({
                "department": "R&D",
                "employee_number": "42",
                "manager_id": "00u9boss",
                "cost_center": "CC-1",
                "division": "Platform",
                "organization": "Acme"
            })
        );
        assert_eq!(attributes.raw_attributes, resource);
        assert_eq!(attributes.role, None);
    }

    #[test]
    fn falls_back_on_sparse_and_odd_input() {
        let id = ProviderUserId::generate();
        let resource = json!({
            "username": "bob",
            "emails": [{"value": "b1@x.test"}, {"type": "work"}, "junk", {"value": "b2@x.test", "primary": "True"}],
            ENTERPRISE_USER_SCHEMA: {"manager": "mgr-7", "department": null, "division": {"x": 1}}
        });
        let attributes = user_attributes(&resource, &id, None);
        assert_eq!(attributes.idp_id, id.to_string());
        assert_eq!(attributes.username, "bob");
        assert_eq!(attributes.email.as_deref(), Some("b2@x.test"));
        assert_eq!(attributes.emails.len(), 2);
        assert_eq!(attributes.first_name, None);
        assert_eq!(attributes.name, None);
        assert_eq!(
            Value::Object(attributes.custom_attributes),
            json!({"manager_id": "mgr-7"})
        );

        let nothing = user_attributes(&json!("not an object"), &id, None);
        assert_eq!(nothing.username, "");
        assert_eq!(nothing.email, None);
        assert!(nothing.emails.is_empty());
        assert!(nothing.custom_attributes.is_empty());
    }

    #[test]
    fn the_full_name_prefers_the_formatted_one() {
        let id = ProviderUserId::generate();
        let formatted = json!({"name": {"formatted": "Dr. Ann Lee", "givenName": "Ann"}});
        assert_eq!(
            user_attributes(&formatted, &id, None).name.as_deref(),
            Some("Dr. Ann Lee")
        );
        let given_only = json!({"name": {"givenName": "Ann", "formatted": " "}});
        assert_eq!(
            user_attributes(&given_only, &id, None).name.as_deref(),
            Some("Ann")
        );
    }

    #[test]
    fn first_email_when_none_is_primary() {
        let id = ProviderUserId::generate();
        let resource = json!({"userName": "c", "emails": [{"value": "c1@x.test", "primary": false}, {"value": "c2@x.test"}]});
        assert_eq!(
            user_attributes(&resource, &id, None).email.as_deref(),
            Some("c1@x.test")
        );
    }

    #[test]
    fn maps_a_group() {
        let provider = ProviderGroup {
            id: ProviderGroupId::generate(),
            directory_id: DirectoryId::generate(),
            version: 1,
            display_name: "Engineering".into(),
            external_id: None,
            resource: json!({"displayName": "Engineering"}),
            created_at: 1,
            updated_at: 2,
        };
        let id = DirectoryGroupId::generate();
        let group = group_from_provider(&provider, id, 10, 20);
        assert_eq!(group.id, id);
        assert_eq!(group.name, "Engineering");
        assert_eq!(group.idp_id, provider.id.to_string());
        assert_eq!(group.provider_group_id, provider.id);
        assert_eq!((group.created_at, group.updated_at), (10, 20));
    }
}
