//! The identity provider's side of the model test: SCIM requests sent straight to the SCIM
//! function's handler, retried on 5xx (and 429) as an IdP retries, with the ambiguity a
//! retry brings accepted: a create retried after it committed answers 409, and the IdP
//! finds the resource by name.

use bytes::Bytes;
use dsync_domain::ids::DirectoryId;
use serde_json::{json, Value};

/// Attempts of one SCIM request before the IdP gives up on it for now.
const IDP_ATTEMPTS: u32 = 12;

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// What the IdP saw over a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdpCounts {
    pub requests: u64,
    /// Answers of 5xx or 429 that the IdP retried.
    pub retried: u64,
    /// Requests still failing after every attempt (the IdP would try again later).
    pub given_up: u64,
    /// Creates answered 409 after a retry: the first attempt had committed.
    pub ambiguous_creates: u64,
}

pub struct Idp {
    pub app: dsync_provider_webhooks::App,
    pub directory: DirectoryId,
    pub token: String,
    pub counts: IdpCounts,
}

impl Idp {
    /// One request, retried while the service answers 5xx or 429.
    pub async fn send(&mut self, method: http::Method, path: &str, body: Option<&Value>) -> Reply {
        self.counts.requests += 1;
        let mut reply = self.once(method.clone(), path, body).await;
        for _ in 1..IDP_ATTEMPTS {
            if reply.status < 500 && reply.status != 429 {
                return reply;
            }
            self.counts.retried += 1;
            reply = self.once(method.clone(), path, body).await;
        }
        if reply.status >= 500 || reply.status == 429 {
            self.counts.given_up += 1;
        }
        reply
    }

    async fn once(&self, method: http::Method, path: &str, body: Option<&Value>) -> Reply {
        let request = http::Request::builder()
            .method(method.clone())
            .uri(format!(
                "http://localhost:8787/scim/v2/{}{path}",
                self.directory
            ))
            .header(http::header::HOST, "localhost:8787")
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(http::header::CONTENT_TYPE, "application/scim+json")
            .body(body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())))
            .expect("a request");
        let response = dsync_provider_webhooks::handle(&self.app, request).await;
        let bytes = response.body();
        let reply = Reply {
            status: response.status().as_u16(),
            body: serde_json::from_slice(bytes).unwrap_or(Value::Null),
        };
        if std::env::var_os("DSYNC_FAULT_TRACE").is_some() {
            eprintln!(
                "idp {method} {path} {} -> {} {}",
                body.map_or_else(String::new, |b| b.to_string()),
                reply.status,
                reply.body["id"]
            );
        }
        reply
    }

    /// Creates a resource (`/Users` or `/Groups`) and returns its id, or `None` when the
    /// service kept failing. A 409 means an earlier attempt committed: the IdP looks the
    /// resource up by its unique name, as Okta and Entra do.
    pub async fn create(
        &mut self,
        endpoint: &str,
        body: &Value,
        unique: (&str, &str),
    ) -> Option<String> {
        let reply = self.send(http::Method::POST, endpoint, Some(body)).await;
        match reply.status {
            201 => Some(reply.body["id"].as_str()?.to_owned()),
            409 => {
                self.counts.ambiguous_creates += 1;
                let (attribute, value) = unique;
                let filter = format!("{attribute} eq \"{value}\"");
                let query = percent_encode(&filter);
                let found = self
                    .send(
                        http::Method::GET,
                        &format!("{endpoint}?filter={query}"),
                        None,
                    )
                    .await;
                assert_eq!(found.status, 200, "lookup after 409: {:?}", found.body);
                let id = found.body["Resources"][0]["id"].as_str();
                Some(id.expect("the resource a 409 names exists").to_owned())
            }
            status if status >= 500 || status == 429 => None,
            status => panic!("create {endpoint} answered {status}: {:?}", reply.body),
        }
    }

    /// A change to an existing resource: 200 (or 204), or 404 when an earlier ambiguous
    /// delete removed it; `false` when the IdP gave up or the resource is gone.
    pub async fn change(&mut self, method: http::Method, path: &str, body: Option<&Value>) -> bool {
        let reply = self.send(method.clone(), path, body).await;
        match reply.status {
            200 | 204 => true,
            404 => false,
            status if status >= 500 || status == 429 => false,
            status => panic!("{method} {path} answered {status}: {:?}", reply.body),
        }
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn user_body(user_name: &str, active: bool, title: &str, given: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": given, "familyName": "Model"},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "title": title,
        "active": active
    })
}

pub fn group_body(name: &str, members: &[String]) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
        "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>()
    })
}

pub fn patch(operations: Value) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": operations
    })
}
