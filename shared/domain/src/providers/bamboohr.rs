//! BambooHR: its webhook signature, its webhook bodies and its employee directory.
//!
//! BambooHR signs each webhook with the webhook's private key: `X-BambooHR-Signature` is the
//! lowercase hex HMAC-SHA256 of the raw body followed immediately by the `X-BambooHR-Timestamp`
//! value (Unix seconds). Bodies come in two JSON shapes:
//! - field-based ("global") webhooks: `{"employees": [{"id", "action": "Created" | "Updated" |
//!   "Deleted", "changedFields": [...], "fields": {<field name>: <value>}}]}`, the field names
//!   being BambooHR's English labels (`First Name`) unless aliased (often to the API names,
//!   `firstName`); both are understood;
//! - event-based webhooks: `{"type": "employee.created" | "employee.updated" |
//!   "employee.deleted", "data": {"employeeId", ...}}`, which carry no field values.
//!
//! The employee directory (`GET /api/gateway.php/{company}/v1/employees/directory`) lists
//! current employees with the API field names; it is the full state a re-sync compares with.

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::employee::{checked_employee_id, checked_field, EmployeeChange, EmployeeFields};
use super::replay::{freshness, Freshness};

pub const SIGNATURE_HEADER: &str = "x-bamboohr-signature";
pub const TIMESTAMP_HEADER: &str = "x-bamboohr-timestamp";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the signature or timestamp header is missing")]
    Missing,
    #[error("the signature or timestamp header is malformed")]
    Malformed,
    #[error("the timestamp is outside the accepted window")]
    Stale,
    #[error("the signature does not match")]
    Forged,
}

/// The signature BambooHR sends for `body` at `timestamp`.
pub fn sign(private_key: &str, body: &[u8], timestamp: &str) -> String {
    hex::encode(mac(private_key, body, timestamp).finalize().into_bytes())
}

/// Checks a delivery: a timestamp within the window around `now_secs`, and a signature that
/// matches, compared in constant time.
pub fn verify(
    private_key: &str,
    body: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    now_secs: i64,
) -> Result<(), Rejection> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(Rejection::Missing);
    };
    let seconds: i64 = timestamp.trim().parse().map_err(|_| Rejection::Malformed)?;
    let presented = hex::decode(signature.trim()).map_err(|_| Rejection::Malformed)?;
    if freshness(seconds, now_secs) != Freshness::Fresh {
        return Err(Rejection::Stale);
    }
    mac(private_key, body, timestamp)
        .verify_slice(&presented)
        .map_err(|_| Rejection::Forged)
}

fn mac(private_key: &str, body: &[u8], timestamp: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length; the error arm cannot happen.
    let mut mac = Hmac::<Sha256>::new_from_slice(private_key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("{0}")]
    Shape(String),
}

fn shape(message: impl Into<String>) -> BodyError {
    BodyError::Shape(message.into())
}

/// The changes a webhook body carries, in order.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<EmployeeChange>, BodyError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| shape("the body must be a JSON object"))?;
    if let Some(employees) = object.get("employees") {
        let employees = employees
            .as_array()
            .ok_or_else(|| shape("employees must be an array"))?;
        return employees.iter().map(field_based_change).collect();
    }
    if let Some(kind) = object.get("type") {
        return event_based_change(kind, object.get("data")).map(|c| vec![c]);
    }
    Err(shape(
        "expected a field-based body (employees) or an event-based body (type, data)",
    ))
}

fn field_based_change(entry: &Value) -> Result<EmployeeChange, BodyError> {
    let entry = entry
        .as_object()
        .ok_or_else(|| shape("each employees entry must be an object"))?;
    let employee_id = entry
        .get("id")
        .and_then(scalar_text)
        .ok_or_else(|| shape("each employees entry needs an id"))?;
    let employee_id = checked_employee_id(&employee_id).map_err(|e| shape(e.to_string()))?;
    let action = entry.get("action").and_then(Value::as_str).unwrap_or("");
    match action {
        "Deleted" => Ok(EmployeeChange::Remove { employee_id }),
        "Created" | "Updated" => {
            let fields = match entry.get("fields") {
                None | Some(Value::Null) => EmployeeFields::default(),
                Some(Value::Object(fields)) => employee_fields(fields, false)?,
                // Form-style empty bodies arrive as `[]` in JSON.
                Some(Value::Array(empty)) if empty.is_empty() => EmployeeFields::default(),
                Some(_) => return Err(shape("fields must be an object")),
            };
            Ok(EmployeeChange::Upsert {
                employee_id,
                fields,
            })
        }
        other => Err(shape(format!(
            "action must be Created, Updated or Deleted, not {other:?}"
        ))),
    }
}

fn event_based_change(kind: &Value, data: Option<&Value>) -> Result<EmployeeChange, BodyError> {
    let employee_id = data
        .and_then(|d| d.get("employeeId"))
        .and_then(scalar_text)
        .ok_or_else(|| shape("data.employeeId is required"))?;
    let employee_id = checked_employee_id(&employee_id).map_err(|e| shape(e.to_string()))?;
    match kind.as_str() {
        Some("employee.deleted") => Ok(EmployeeChange::Remove { employee_id }),
        // No values to apply: the change is known only by name (a re-sync brings the values).
        Some("employee.created" | "employee.updated") => Ok(EmployeeChange::Upsert {
            employee_id,
            fields: EmployeeFields::default(),
        }),
        _ => Err(shape(
            "type must be employee.created, employee.updated or employee.deleted",
        )),
    }
}

/// The current employees a directory listing names, each with every field it keeps (a field
/// the listing leaves out is cleared: the listing is the whole state).
pub fn parse_directory(body: &[u8]) -> Result<Vec<(String, EmployeeFields)>, BodyError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    let employees = value
        .get("employees")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("the directory has no employees array"))?;
    employees
        .iter()
        .map(|entry| {
            let entry = entry
                .as_object()
                .ok_or_else(|| shape("each employee must be an object"))?;
            let employee_id = entry
                .get("id")
                .and_then(scalar_text)
                .ok_or_else(|| shape("each employee needs an id"))?;
            let employee_id =
                checked_employee_id(&employee_id).map_err(|e| shape(e.to_string()))?;
            let mut fields = employee_fields(entry, true)?;
            // The directory lists current employees only.
            fields.active.get_or_insert(true);
            Ok((employee_id, fields))
        })
        .collect()
}

/// Which employee field a BambooHR field name (label or API name) stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    FirstName,
    LastName,
    WorkEmail,
    EmployeeNumber,
    Department,
    JobTitle,
    Status,
    EmploymentStatus,
}

fn field_named(name: &str) -> Option<Field> {
    let key: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Some(match key.as_str() {
        "firstname" => Field::FirstName,
        "lastname" => Field::LastName,
        "workemail" => Field::WorkEmail,
        // "Employee #" loses its "#".
        "employee" | "employeenumber" => Field::EmployeeNumber,
        "department" => Field::Department,
        "jobtitle" => Field::JobTitle,
        "status" => Field::Status,
        "employmentstatus" | "employmenthistorystatus" => Field::EmploymentStatus,
        _ => return None,
    })
}

/// The fields of one employee. With `whole`, a field missing from `fields` is cleared.
fn employee_fields(fields: &Map<String, Value>, whole: bool) -> Result<EmployeeFields, BodyError> {
    let mut out = EmployeeFields::default();
    if whole {
        out.first_name = Some(String::new());
        out.last_name = Some(String::new());
        out.work_email = Some(String::new());
        out.employee_number = Some(String::new());
        out.department = Some(String::new());
        out.job_title = Some(String::new());
    }
    let mut status_active = None;
    let mut employment_active = None;
    for (name, value) in fields {
        let Some(field) = field_named(name) else {
            continue;
        };
        let text = scalar_text(value).unwrap_or_default();
        let label = field_label(field);
        let text = checked_field(label, &text).map_err(|e| shape(e.to_string()))?;
        match field {
            Field::FirstName => out.first_name = Some(text),
            Field::LastName => out.last_name = Some(text),
            Field::WorkEmail => out.work_email = Some(text),
            Field::EmployeeNumber => out.employee_number = Some(text),
            Field::Department => out.department = Some(text),
            Field::JobTitle => out.job_title = Some(text),
            Field::Status if !text.is_empty() => {
                status_active = Some(!text.eq_ignore_ascii_case("inactive"))
            }
            Field::EmploymentStatus if !text.is_empty() => {
                employment_active = Some(!text.eq_ignore_ascii_case("terminated"))
            }
            Field::Status | Field::EmploymentStatus => {}
        }
    }
    // Either status saying inactive wins: an employee marked Inactive stays out whatever
    // the employment status, and a terminated one whatever the account status.
    out.active = match (status_active, employment_active) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (None, None) => None,
        _ => Some(true),
    };
    Ok(out)
}

fn field_label(field: Field) -> &'static str {
    match field {
        Field::FirstName => "firstName",
        Field::LastName => "lastName",
        Field::WorkEmail => "workEmail",
        Field::EmployeeNumber => "employeeNumber",
        Field::Department => "department",
        Field::JobTitle => "jobTitle",
        Field::Status => "status",
        Field::EmploymentStatus => "employmentStatus",
    }
}

/// A string or number as text; `null`, objects and arrays have none.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "bamboo-private-key";

    #[test]
    fn a_signed_delivery_verifies_and_any_change_is_refused() {
        let body = br#"{"employees":[]}"#;
        let signature = sign(KEY, body, "1700000000");
        assert_eq!(signature.len(), 64);
        let check = |key: &str, body: &[u8], ts: &str, sig: &str, now: i64| {
            verify(key, body, Some(ts), Some(sig), now)
        };
        assert_eq!(
            check(KEY, body, "1700000000", &signature, 1_700_000_010),
            Ok(())
        );
        let upper = signature.to_uppercase();
        assert_eq!(
            check(KEY, body, "1700000000", &upper, 1_700_000_010),
            Ok(())
        );
        assert_eq!(
            check("other", body, "1700000000", &signature, 1_700_000_010),
            Err(Rejection::Forged)
        );
        assert_eq!(
            check(KEY, b"{}", "1700000000", &signature, 1_700_000_010),
            Err(Rejection::Forged)
        );
        assert_eq!(
            check(KEY, body, "1700000001", &signature, 1_700_000_010),
            Err(Rejection::Forged)
        );
        assert_eq!(
            check(KEY, body, "1700000000", &signature, 1_700_000_301),
            Err(Rejection::Stale)
        );
        assert_eq!(
            check(KEY, body, "soon", &signature, 1_700_000_000),
            Err(Rejection::Malformed)
        );
        assert_eq!(
            check(KEY, body, "1700000000", "zz", 1_700_000_000),
            Err(Rejection::Malformed)
        );
        assert_eq!(
            verify(KEY, body, None, Some(&signature), 0),
            Err(Rejection::Missing)
        );
    }

    #[test]
    fn field_based_bodies_by_label_or_api_name() {
        let body = serde_json::json!({"employees": [
            {"id": "7", "action": "Updated", "changedFields": ["Job Title"],
             "fields": {"First Name": "Jane", "Work Email": "jane@acme.test",
                        "Employee #": 42, "Job Title": "CTO", "Status": "Active",
                        "SSN": "not kept"}},
            {"id": 8, "action": "Created", "changedFields": [], "fields": []},
            {"id": "9", "action": "Deleted", "changedFields": [], "fields": {}},
            {"id": "10", "action": "Updated", "fields": {"employmentHistoryStatus": "Terminated",
             "status": "Active", "department": ""}}
        ]});
        let changes = parse_webhook(body.to_string().as_bytes()).unwrap();
        let EmployeeChange::Upsert {
            employee_id,
            fields,
        } = &changes[0]
        else {
            panic!("an upsert")
        };
        assert_eq!(employee_id, "7");
        assert_eq!(fields.first_name.as_deref(), Some("Jane"));
        assert_eq!(fields.work_email.as_deref(), Some("jane@acme.test"));
        assert_eq!(fields.employee_number.as_deref(), Some("42"));
        assert_eq!(fields.job_title.as_deref(), Some("CTO"));
        assert_eq!(fields.last_name, None);
        assert_eq!(fields.active, Some(true));
        assert_eq!(
            changes[1],
            EmployeeChange::Upsert {
                employee_id: "8".into(),
                fields: EmployeeFields::default()
            }
        );
        assert_eq!(
            changes[2],
            EmployeeChange::Remove {
                employee_id: "9".into()
            }
        );
        let EmployeeChange::Upsert { fields, .. } = &changes[3] else {
            panic!("an upsert")
        };
        assert_eq!(fields.active, Some(false));
        assert_eq!(fields.department.as_deref(), Some(""));
    }

    #[test]
    fn an_inactive_status_makes_an_inactive_user() {
        let body = br#"{"employees":[{"id":"1","action":"Updated","fields":{"Status":"Inactive","Employment Status":"Full-Time"}}]}"#;
        let changes = parse_webhook(body).unwrap();
        let EmployeeChange::Upsert { fields, .. } = &changes[0] else {
            panic!("an upsert")
        };
        assert_eq!(fields.active, Some(false));
    }

    #[test]
    fn event_based_bodies() {
        let deleted = br#"{"type":"employee.deleted","timestamp":"2026-01-31T18:42:00+0000","data":{"companyId":"1","employeeId":"67890"}}"#;
        assert_eq!(
            parse_webhook(deleted).unwrap(),
            vec![EmployeeChange::Remove {
                employee_id: "67890".into()
            }]
        );
        let odd = br#"{"type":"employee.promoted","data":{"employeeId":"1"}}"#;
        assert!(parse_webhook(odd).is_err());
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_reason() {
        assert!(matches!(parse_webhook(b"nope"), Err(BodyError::NotJson(_))));
        assert!(parse_webhook(b"[]").is_err());
        assert!(parse_webhook(br#"{"employees":{}}"#).is_err());
        assert!(parse_webhook(br#"{"employees":[{"action":"Updated"}]}"#).is_err());
        assert!(parse_webhook(br#"{"employees":[{"id":"1","action":"Moved"}]}"#).is_err());
        let long = format!(
            r#"{{"employees":[{{"id":"1","action":"Updated","fields":{{"Job Title":"{}"}}}}]}}"#,
            "x".repeat(2000)
        );
        assert!(parse_webhook(long.as_bytes()).is_err());
    }

    #[test]
    fn a_directory_listing_is_the_whole_state() {
        let body = br#"{"fields":[],"employees":[{"id":"1","firstName":"Jane","lastName":"Doe","workEmail":"jane@acme.test","jobTitle":"CTO","department":"R&D"}]}"#;
        let employees = parse_directory(body).unwrap();
        assert_eq!(employees.len(), 1);
        let (id, fields) = &employees[0];
        assert_eq!(id, "1");
        assert_eq!(fields.department.as_deref(), Some("R&D"));
        assert_eq!(fields.employee_number.as_deref(), Some(""));
        assert_eq!(fields.active, Some(true));
        assert!(parse_directory(br#"{"fields":[]}"#).is_err());
    }
}
