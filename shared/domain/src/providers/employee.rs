//! An HR system's employee as a provider user.
//!
//! HR systems send either a whole employee (the generic format) or only the fields that
//! changed (BambooHR's field-based webhooks), so a change is a set of [`EmployeeFields`]
//! applied to the user's current SCIM resource: a field that is absent stays as it was, an
//! empty one is cleared. The resource is the one a SCIM provider would have sent, so the
//! projection maps it to directory attributes unchanged.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use ulid::Ulid;

use crate::ids::{DirectoryId, ProviderGroupId, ProviderUserId};
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

/// Longest employee id accepted (it becomes part of storage keys).
pub const MAX_EMPLOYEE_ID_BYTES: usize = 256;
/// Longest value accepted for any other field.
pub const MAX_FIELD_BYTES: usize = 1024;

/// The employee fields a directory keeps. `None`: not in this change (keep what is stored);
/// `Some("")`: cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmployeeFields {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub work_email: Option<String>,
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    /// `Some(false)` for an inactive or terminated employee.
    pub active: Option<bool>,
}

impl EmployeeFields {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmployeeChange {
    /// Create the employee, or change the fields given.
    Upsert {
        employee_id: String,
        fields: EmployeeFields,
    },
    /// The HR system no longer has the employee (deleted, not terminated): the provider
    /// record goes, as a SCIM `DELETE` would remove it.
    Remove { employee_id: String },
}

impl EmployeeChange {
    pub fn employee_id(&self) -> &str {
        match self {
            Self::Upsert { employee_id, .. } | Self::Remove { employee_id } => employee_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmployeeError {
    #[error("an employee id is required")]
    MissingId,
    #[error("an employee id is longer than {MAX_EMPLOYEE_ID_BYTES} bytes")]
    IdTooLong,
    #[error("{0} is longer than {MAX_FIELD_BYTES} bytes")]
    FieldTooLong(&'static str),
}

/// An employee id as sent, trimmed and bounded.
pub fn checked_employee_id(id: &str) -> Result<String, EmployeeError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(EmployeeError::MissingId);
    }
    if id.len() > MAX_EMPLOYEE_ID_BYTES {
        return Err(EmployeeError::IdTooLong);
    }
    Ok(id.to_owned())
}

/// A field value as sent, trimmed and bounded.
pub fn checked_field(name: &'static str, value: &str) -> Result<String, EmployeeError> {
    let value = value.trim();
    if value.len() > MAX_FIELD_BYTES {
        return Err(EmployeeError::FieldTooLong(name));
    }
    Ok(value.to_owned())
}

/// The provider user id of an employee: derived from the directory and the HR system's id,
/// so every delivery about one employee names one record, found with a consistent key read
/// (no index lookup that could miss a record written a moment earlier).
pub fn provider_user_id(directory: &DirectoryId, employee_id: &str) -> ProviderUserId {
    let id = derived_ulid(directory, "employee", employee_id);
    ProviderUserId::parse(&format!("{}_{id}", ProviderUserId::PREFIX))
        .unwrap_or_else(|_| ProviderUserId::generate())
}

/// The provider group standing for a department, derived from its name like a user's id.
pub fn department_group_id(directory: &DirectoryId, department: &str) -> ProviderGroupId {
    let id = derived_ulid(directory, "department", &department.to_lowercase());
    ProviderGroupId::parse(&format!("{}_{id}", ProviderGroupId::PREFIX))
        .unwrap_or_else(|_| ProviderGroupId::generate())
}

fn derived_ulid(directory: &DirectoryId, kind: &str, key: &str) -> Ulid {
    let digest = Sha256::new()
        .chain_update(directory.to_string())
        .chain_update([0])
        .chain_update(kind)
        .chain_update([0])
        .chain_update(key)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Ulid::from_bytes(bytes)
}

/// The resource of an employee seen for the first time: nothing but who it is.
pub fn new_resource(employee_id: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": employee_id,
        "externalId": employee_id,
        "active": true,
    })
}

/// `current` with `fields` applied. `userName` is the work email when there is one (what
/// SCIM providers send), else the employee id.
pub fn apply_fields(current: &Value, employee_id: &str, fields: &EmployeeFields) -> Value {
    let mut resource = match current {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    resource.insert("externalId".into(), json!(employee_id));
    set_in(&mut resource, &["name", "givenName"], &fields.first_name);
    set_in(&mut resource, &["name", "familyName"], &fields.last_name);
    set_in(&mut resource, &["title"], &fields.job_title);
    set_in(
        &mut resource,
        &[ENTERPRISE_USER_SCHEMA, "employeeNumber"],
        &fields.employee_number,
    );
    set_in(
        &mut resource,
        &[ENTERPRISE_USER_SCHEMA, "department"],
        &fields.department,
    );
    match fields.work_email.as_deref() {
        None => {}
        Some("") => {
            resource.remove("emails");
            resource.insert("userName".into(), json!(employee_id));
        }
        Some(email) => {
            resource.insert(
                "emails".into(),
                json!([{"value": email, "type": "work", "primary": true}]),
            );
            resource.insert("userName".into(), json!(email));
        }
    }
    if let Some(active) = fields.active {
        resource.insert("active".into(), json!(active));
    }
    let mut schemas = vec![json!(USER_SCHEMA)];
    if resource.contains_key(ENTERPRISE_USER_SCHEMA) {
        schemas.push(json!(ENTERPRISE_USER_SCHEMA));
    }
    resource.insert("schemas".into(), Value::Array(schemas));
    Value::Object(resource)
}

/// The department a resource names, if any (its group, when departments become groups).
pub fn department_of(resource: &Value) -> Option<&str> {
    resource
        .get(ENTERPRISE_USER_SCHEMA)?
        .get("department")?
        .as_str()
        .filter(|d| !d.is_empty())
}

/// Sets `path` (an object per step but the last) to `value`; an empty value removes the
/// leaf, and an object left empty goes too.
fn set_in(map: &mut Map<String, Value>, path: &[&str], value: &Option<String>) {
    let Some(value) = value else {
        return;
    };
    let [parent, leaf] = path else {
        if let [leaf] = path {
            if value.is_empty() {
                map.remove(*leaf);
            } else {
                map.insert((*leaf).into(), json!(value));
            }
        }
        return;
    };
    let entry = map
        .entry((*parent).to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(inner) = entry {
        if value.is_empty() {
            inner.remove(*leaf);
        } else {
            inner.insert((*leaf).into(), json!(value));
        }
        if inner.is_empty() {
            map.remove(*parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_fields() -> EmployeeFields {
        EmployeeFields {
            first_name: Some("Jane".into()),
            last_name: Some("Doe".into()),
            work_email: Some("jane@acme.test".into()),
            employee_number: Some("42".into()),
            department: Some("R&D".into()),
            job_title: Some("Engineer".into()),
            active: Some(true),
        }
    }

    #[test]
    fn a_whole_employee_becomes_the_resource_a_scim_provider_would_send() {
        let resource = apply_fields(&new_resource("123"), "123", &all_fields());
        assert_eq!(resource["userName"], "jane@acme.test");
        assert_eq!(resource["externalId"], "123");
        assert_eq!(resource["name"]["givenName"], "Jane");
        assert_eq!(resource["name"]["familyName"], "Doe");
        assert_eq!(resource["title"], "Engineer");
        assert_eq!(resource["emails"][0]["value"], "jane@acme.test");
        assert_eq!(resource["emails"][0]["primary"], true);
        assert_eq!(resource[ENTERPRISE_USER_SCHEMA]["employeeNumber"], "42");
        assert_eq!(department_of(&resource), Some("R&D"));
        assert_eq!(
            resource["schemas"],
            json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA])
        );
        let attributes = crate::directory::attributes::user_attributes(
            &resource,
            &ProviderUserId::generate(),
            None,
        );
        assert_eq!(attributes.first_name.as_deref(), Some("Jane"));
        assert_eq!(attributes.job_title.as_deref(), Some("Engineer"));
        assert_eq!(attributes.email.as_deref(), Some("jane@acme.test"));
    }

    #[test]
    fn a_partial_change_keeps_what_it_does_not_name_and_clears_what_is_empty() {
        let full = apply_fields(&new_resource("123"), "123", &all_fields());
        let change = EmployeeFields {
            job_title: Some("Manager".into()),
            department: Some(String::new()),
            active: Some(false),
            ..EmployeeFields::default()
        };
        let changed = apply_fields(&full, "123", &change);
        assert_eq!(changed["title"], "Manager");
        assert_eq!(changed["name"]["givenName"], "Jane");
        assert_eq!(changed["active"], false);
        assert_eq!(department_of(&changed), None);
        assert_eq!(changed[ENTERPRISE_USER_SCHEMA]["employeeNumber"], "42");
        assert_eq!(
            apply_fields(&changed, "123", &EmployeeFields::default()),
            changed
        );
    }

    #[test]
    fn a_cleared_email_falls_back_to_the_employee_id() {
        let full = apply_fields(&new_resource("123"), "123", &all_fields());
        let cleared = EmployeeFields {
            work_email: Some(String::new()),
            ..EmployeeFields::default()
        };
        let changed = apply_fields(&full, "123", &cleared);
        assert_eq!(changed["userName"], "123");
        assert!(changed.get("emails").is_none());
    }

    #[test]
    fn ids_are_stable_per_directory_and_employee() {
        let a = DirectoryId::generate();
        let b = DirectoryId::generate();
        assert_eq!(provider_user_id(&a, "1"), provider_user_id(&a, "1"));
        assert_ne!(provider_user_id(&a, "1"), provider_user_id(&a, "2"));
        assert_ne!(provider_user_id(&a, "1"), provider_user_id(&b, "1"));
        assert_eq!(
            department_group_id(&a, "Sales"),
            department_group_id(&a, "sales")
        );
        let text = provider_user_id(&a, "1").to_string();
        assert_eq!(ProviderUserId::parse(&text), Ok(provider_user_id(&a, "1")));
    }

    #[test]
    fn ids_and_fields_are_bounded() {
        assert_eq!(checked_employee_id("  "), Err(EmployeeError::MissingId));
        assert_eq!(
            checked_employee_id(&"x".repeat(257)),
            Err(EmployeeError::IdTooLong)
        );
        assert_eq!(checked_employee_id(" 7 "), Ok("7".into()));
        assert!(checked_field("email", &"x".repeat(1025)).is_err());
    }
}
