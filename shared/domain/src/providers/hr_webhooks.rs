//! The generic HR format: employee upserts, terminations and deletions any HR system or
//! integration platform can post, signed with Standard Webhooks (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>` over `id.timestamp.body`
//! with the `whsec_` secret the directory was given). `docs/hr-webhooks.md` is its reference.
//!
//! ```json
//! {"type": "employee.upserted",
//!  "data": {"employee_id": "E-1001", "email": "jane@acme.test", "first_name": "Jane",
//!           "last_name": "Doe", "employee_number": "1001", "department": "R&D",
//!           "job_title": "Engineer", "status": "active"}}
//! ```
//!
//! An upsert is the employee's whole state (a field left out is cleared); a termination only
//! marks the employee inactive; a deletion removes it.

use http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};

use super::employee::{checked_employee_id, checked_field, EmployeeChange, EmployeeFields};

pub use crate::webhooks::signing::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};

pub const UPSERTED: &str = "employee.upserted";
pub const TERMINATED: &str = "employee.terminated";
pub const DELETED: &str = "employee.deleted";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("a webhook-id, webhook-timestamp or webhook-signature header is missing or malformed")]
    Malformed,
    #[error("the timestamp is outside the accepted window")]
    Stale,
    #[error("the signature does not match")]
    Forged,
}

/// The Standard Webhooks headers of one delivery, as received.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Verifies a delivery with the `standardwebhooks` crate: the signature (constant-time, any
/// of several `v1,` signatures may match) and the timestamp (five minutes either way of the
/// clock). Returns the message id, the delivery's replay key.
pub fn verify<'a>(secret: &str, body: &[u8], signed: Signed<'a>) -> Result<&'a str, Rejection> {
    let webhook = standardwebhooks::Webhook::new(secret).map_err(|_| Rejection::Forged)?;
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (WEBHOOK_ID, signed.id),
        (WEBHOOK_TIMESTAMP, signed.timestamp),
        (WEBHOOK_SIGNATURE, signed.signature),
    ] {
        let value = value
            .and_then(|v| HeaderValue::from_str(v).ok())
            .ok_or(Rejection::Malformed)?;
        headers.insert(name, value);
    }
    let id = signed
        .id
        .filter(|id| !id.trim().is_empty() && id.len() <= 256);
    let id = id.ok_or(Rejection::Malformed)?;
    use standardwebhooks::WebhookError as E;
    match webhook.verify(body, &headers) {
        Ok(()) => Ok(id),
        Err(E::TimestampTooOldError | E::FutureTimestampError) => Err(Rejection::Stale),
        Err(E::InvalidTimestamp | E::MissingHeader(_) | E::InvalidHeader(_)) => {
            Err(Rejection::Malformed)
        }
        Err(_) => Err(Rejection::Forged),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

fn error(message: impl Into<String>) -> FormatError {
    FormatError(message.into())
}

const TEXT_FIELDS: [&str; 6] = [
    "email",
    "first_name",
    "last_name",
    "employee_number",
    "department",
    "job_title",
];

/// The change a body carries.
pub fn parse(body: &[u8]) -> Result<EmployeeChange, FormatError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| error(format!("the body is not JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| error("the body must be a JSON object"))?;
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| error("type is required"))?;
    let data = object
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| error("data must be an object"))?;
    let employee_id = match data.get("employee_id") {
        Some(Value::String(id)) => checked_employee_id(id).map_err(|e| error(e.to_string()))?,
        _ => return Err(error("data.employee_id must be a non-empty string")),
    };
    match kind {
        UPSERTED => Ok(EmployeeChange::Upsert {
            fields: whole_employee(data)?,
            employee_id,
        }),
        TERMINATED => Ok(EmployeeChange::Upsert {
            employee_id,
            fields: EmployeeFields {
                active: Some(false),
                ..EmployeeFields::default()
            },
        }),
        DELETED => Ok(EmployeeChange::Remove { employee_id }),
        other => Err(error(format!(
            "type must be {UPSERTED}, {TERMINATED} or {DELETED}, not {other:?}"
        ))),
    }
}

fn whole_employee(data: &Map<String, Value>) -> Result<EmployeeFields, FormatError> {
    let mut texts = TEXT_FIELDS.map(|_| String::new());
    for (slot, name) in texts.iter_mut().zip(TEXT_FIELDS) {
        match data.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => {
                *slot = checked_field(name, text).map_err(|e| error(e.to_string()))?
            }
            Some(_) => return Err(error(format!("data.{name} must be a string or null"))),
        }
    }
    let active = match data.get("status") {
        None | Some(Value::Null) => true,
        Some(Value::String(status)) => match status.as_str() {
            "active" => true,
            "inactive" | "terminated" => false,
            _ => return Err(error("data.status must be active, inactive or terminated")),
        },
        Some(_) => return Err(error("data.status must be a string")),
    };
    let [email, first_name, last_name, employee_number, department, job_title] = texts;
    Ok(EmployeeFields {
        first_name: Some(first_name),
        last_name: Some(last_name),
        work_email: Some(email),
        employee_number: Some(employee_number),
        department: Some(department),
        job_title: Some(job_title),
        active: Some(active),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::endpoint::generate_secret;

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn signed_by(secret: &str, id: &str, ts: i64, body: &[u8]) -> String {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .sign(id, ts, body)
            .unwrap()
    }

    #[test]
    fn a_signed_delivery_verifies_once_its_headers_agree() {
        let secret = generate_secret();
        let body = br#"{"type":"employee.deleted","data":{"employee_id":"1"}}"#;
        let ts = now().to_string();
        let signature = signed_by(&secret, "msg_1", now(), body);
        let signed = Signed {
            id: Some("msg_1"),
            timestamp: Some(&ts),
            signature: Some(&signature),
        };
        assert_eq!(verify(&secret, body, signed), Ok("msg_1"));
        assert_eq!(
            verify(&generate_secret(), body, signed),
            Err(Rejection::Forged)
        );
        assert_eq!(verify(&secret, b"{}", signed), Err(Rejection::Forged));
        let other_id = Signed {
            id: Some("msg_2"),
            ..signed
        };
        assert_eq!(verify(&secret, body, other_id), Err(Rejection::Forged));
        let missing = Signed {
            signature: None,
            ..signed
        };
        assert_eq!(verify(&secret, body, missing), Err(Rejection::Malformed));
        let old = (now() - 301).to_string();
        let old_signature = signed_by(&secret, "msg_1", now() - 301, body);
        let stale = Signed {
            id: Some("msg_1"),
            timestamp: Some(&old),
            signature: Some(&old_signature),
        };
        assert_eq!(verify(&secret, body, stale), Err(Rejection::Stale));
    }

    #[test]
    fn an_upsert_is_the_whole_employee() {
        let body = br#"{"type":"employee.upserted","data":{"employee_id":"E-1","email":"jane@acme.test","first_name":"Jane","department":null,"status":"terminated"}}"#;
        let EmployeeChange::Upsert {
            employee_id,
            fields,
        } = parse(body).unwrap()
        else {
            panic!("an upsert")
        };
        assert_eq!(employee_id, "E-1");
        assert_eq!(fields.work_email.as_deref(), Some("jane@acme.test"));
        assert_eq!(fields.last_name.as_deref(), Some(""));
        assert_eq!(fields.department.as_deref(), Some(""));
        assert_eq!(fields.active, Some(false));
    }

    #[test]
    fn a_termination_only_deactivates() {
        let body = br#"{"type":"employee.terminated","data":{"employee_id":"E-1"}}"#;
        assert_eq!(
            parse(body).unwrap(),
            EmployeeChange::Upsert {
                employee_id: "E-1".into(),
                fields: EmployeeFields {
                    active: Some(false),
                    ..EmployeeFields::default()
                }
            }
        );
    }

    #[test]
    fn bad_bodies_name_their_fault() {
        let cases: [&[u8]; 6] = [
            b"nope",
            br#"{"data":{"employee_id":"1"}}"#,
            br#"{"type":"employee.hired","data":{"employee_id":"1"}}"#,
            br#"{"type":"employee.upserted","data":{"employee_id":7}}"#,
            br#"{"type":"employee.upserted","data":{"employee_id":"1","email":5}}"#,
            br#"{"type":"employee.upserted","data":{"employee_id":"1","status":"gone"}}"#,
        ];
        for body in cases {
            assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }
}
