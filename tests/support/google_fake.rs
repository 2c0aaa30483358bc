//! A local fake of Google's OAuth token endpoint and Admin SDK Directory API, built from
//! Google's documented shapes: the JWT-bearer grant (the assertion's RS256 signature checked
//! with the test key's public half, its `iss`, `sub`, `aud` and scopes), `users.list`,
//! `groups.list` and `members.list` with page tokens, Google's error bodies for rate limits,
//! and page tokens that expire; `users.watch` and `channels.stop`, and push notifications
//! delivered to a channel's address with Google's `X-Goog-*` headers.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use ring::signature::{KeyPair, RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{json, Value};

/// The throwaway RSA key the tests' service account signs with.
pub use dsync_google::TEST_KEY_PEM;
pub const CLIENT_EMAIL: &str = "dsync-sync@acme-project.iam.gserviceaccount.com";
pub const ADMIN_EMAIL: &str = "it-admin@acme.test";

/// The service account key file as Google's console downloads it.
pub fn service_account_key() -> Value {
    json!({
        "type": "service_account",
        "project_id": "acme-project",
        "private_key_id": "0123456789abcdef",
        "private_key": TEST_KEY_PEM,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
}

/// A Google user in `users.list`'s shape.
pub fn google_user(id: &str, email: &str, given: &str, family: &str) -> Value {
    json!({
        "kind": "admin#directory#user",
        "id": id,
        "etag": format!("\"etag-{id}\""),
        "primaryEmail": email,
        "name": {"givenName": given, "familyName": family, "fullName": format!("{given} {family}")},
        "isAdmin": false,
        "suspended": false,
        "archived": false,
        "orgUnitPath": "/",
        "lastLoginTime": "2026-01-01T00:00:00.000Z",
        "emails": [{"address": email, "primary": true}],
    })
}

pub fn google_group(id: &str, email: &str, name: &str) -> Value {
    json!({"kind": "admin#directory#group", "id": id, "email": email, "name": name,
        "description": "", "directMembersCount": "0"})
}

pub fn google_member(id: &str, kind: &str) -> Value {
    json!({"kind": "admin#directory#member", "id": id, "type": kind, "role": "MEMBER",
        "status": "ACTIVE"})
}

/// An error body in Google's shape.
fn google_error(status: u16, reason: &str, message: &str) -> Value {
    json!({"error": {"code": status, "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}]}})
}

#[derive(Default)]
struct State {
    users: Vec<Value>,
    groups: Vec<Value>,
    members: HashMap<String, Vec<Value>>,
    /// Records per page at most (Google's `maxResults` caps it too).
    page_size: usize,
    /// Page tokens carry this; bumping it makes every earlier token invalid.
    generation: u32,
    /// After this many more listing pages, every page token expires (once).
    expire_after_pages: Option<u32>,
    /// Statuses to answer the next listing requests with, before answering normally.
    failures: VecDeque<(u16, &'static str)>,
    /// Listing requests answered normally before `failures` apply.
    fail_after: usize,
    access_tokens: Vec<String>,
    log: Vec<Logged>,
    channels: Vec<Channel>,
}

/// A channel `users.watch` opened, as the fake remembers it.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: String,
    pub resource_id: String,
    pub event: String,
    pub address: String,
    pub token: String,
    pub expiration: i64,
    pub stopped: bool,
    /// Notifications sent on it so far (`X-Goog-Message-Number` counts them from 1).
    pub messages: u64,
}

/// Holds `users.list` requests until released, so a test can act while a pull is inside one.
struct Gate {
    open: tokio::sync::watch::Sender<bool>,
    held: std::sync::atomic::AtomicUsize,
}

/// One request the fake answered.
#[derive(Debug, Clone)]
pub struct Logged {
    pub path: String,
    pub query: HashMap<String, String>,
    pub status: u16,
}

#[derive(Clone)]
pub struct GoogleFake {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    gate: Arc<Gate>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for GoogleFake {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl GoogleFake {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            page_size: 500,
            ..Default::default()
        }));
        let gate = Arc::new(Gate {
            open: tokio::sync::watch::channel(true).0,
            held: Default::default(),
        });
        let task = tokio::spawn(serve(listener, state.clone(), gate.clone(), addr));
        Self {
            addr,
            state,
            gate,
            task: Arc::new(task),
        }
    }

    pub fn endpoints(&self) -> dsync_google::Endpoints {
        dsync_google::Endpoints {
            directory_api: format!("http://{}", self.addr),
            token_url: format!("http://{}/token", self.addr),
        }
    }

    pub fn set_users(&self, users: Vec<Value>) {
        self.state.lock().unwrap().users = users;
    }

    /// Changes the listed user with this id.
    pub fn edit_user(&self, id: &str, edit: impl FnOnce(&mut Value)) {
        let mut state = self.state.lock().unwrap();
        let user = state
            .users
            .iter_mut()
            .find(|u| u["id"] == id)
            .expect("a user");
        edit(user);
    }

    pub fn remove_user(&self, id: &str) {
        self.state.lock().unwrap().users.retain(|u| u["id"] != id);
    }

    pub fn set_groups(&self, groups: Vec<Value>) {
        self.state.lock().unwrap().groups = groups;
    }

    pub fn set_members(&self, group: &str, members: Vec<Value>) {
        self.state
            .lock()
            .unwrap()
            .members
            .insert(group.into(), members);
    }

    pub fn set_page_size(&self, size: usize) {
        self.state.lock().unwrap().page_size = size;
    }

    /// Every page token expires once `pages` more listing pages have been served.
    pub fn expire_page_tokens_after(&self, pages: u32) {
        self.state.lock().unwrap().expire_after_pages = Some(pages);
    }

    /// The next listing requests are answered with these statuses (Google's error bodies).
    pub fn fail_next(&self, failures: impl IntoIterator<Item = (u16, &'static str)>) {
        self.state.lock().unwrap().failures.extend(failures);
    }

    /// As [`Self::fail_next`], once `ok` more listing requests have been answered normally.
    pub fn fail_after(&self, ok: usize, failures: impl IntoIterator<Item = (u16, &'static str)>) {
        let mut state = self.state.lock().unwrap();
        state.fail_after = ok;
        state.failures.extend(failures);
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    /// From now on `users.list` requests wait until [`Self::release`].
    pub fn hold_user_listings(&self) {
        self.gate.open.send_replace(false);
    }

    pub fn release(&self) {
        self.gate.open.send_replace(true);
    }

    /// Waits until `count` `users.list` requests are held (10 s at most).
    pub async fn wait_for_held(&self, count: usize) {
        for _ in 0..1000 {
            if self.gate.held.load(std::sync::atomic::Ordering::SeqCst) >= count {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no {count} users.list requests arrived");
    }

    /// `users.list` requests held so far.
    pub fn held(&self) -> usize {
        self.gate.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn channels(&self) -> Vec<Channel> {
        self.state.lock().unwrap().channels.clone()
    }

    /// Sends a notification on every live channel watching `event`, as Google does after a
    /// change (`X-Goog-Resource-State` is the event), and returns the answers' statuses.
    pub async fn notify(&self, event: &str) -> Vec<u16> {
        let channels: Vec<Channel> = {
            let mut state = self.state.lock().unwrap();
            state
                .channels
                .iter_mut()
                .filter(|c| !c.stopped && c.event == event)
                .map(|c| {
                    c.messages += 1;
                    c.clone()
                })
                .collect()
        };
        let mut statuses = Vec::new();
        for channel in channels {
            statuses.push(deliver(&channel, event, &channel.token).await);
        }
        statuses
    }
}

/// POSTs one notification to a channel's address with Google's headers (and `token` as the
/// channel token, so a test can forge one).
pub async fn deliver(channel: &Channel, state: &str, token: &str) -> u16 {
    let user = json!({"kind": "admin#directory#user", "id": "0", "primaryEmail": "x@acme.test"});
    reqwest::Client::new()
        .post(&channel.address)
        .header("X-Goog-Channel-ID", &channel.id)
        .header("X-Goog-Channel-Token", token)
        .header("X-Goog-Channel-Expiration", "Tue, 01 Dec 2026 00:00:00 GMT")
        .header("X-Goog-Resource-ID", &channel.resource_id)
        .header(
            "X-Goog-Resource-URI",
            "https://admin.googleapis.com/admin/directory/v1/users?customer=my_customer&alt=json",
        )
        .header("X-Goog-Resource-State", state)
        .header("X-Goog-Message-Number", channel.messages.max(1).to_string())
        .json(&user)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<Mutex<State>>,
    gate: Arc<Gate>,
    addr: SocketAddr,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let gate = gate.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                let gate = gate.clone();
                async move {
                    if request.uri().path() == "/admin/directory/v1/users" {
                        let mut open = gate.open.subscribe();
                        if !*open.borrow() {
                            gate.held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let _ = open.wait_for(|open| *open).await;
                        }
                    }
                    Ok::<_, Infallible>(answer(request, &state, addr).await)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: u16, body: &Value, headers: &[(&str, &str)]) -> Response<Full<Bytes>> {
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8");
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn answer(
    request: Request<Incoming>,
    state: &Mutex<State>,
    addr: SocketAddr,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let query: HashMap<String, String> =
        form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let mut state = state.lock().unwrap();
    let response = if path == "/token" {
        token(&mut state, &body, &format!("http://{addr}/token"))
    } else if bearer.is_none_or(|t| !state.access_tokens.contains(&t)) {
        reply(
            401,
            &google_error(401, "authError", "Invalid Credentials"),
            &[],
        )
    } else if path == "/admin/directory/v1/users/watch" {
        watch(&mut state, &query, &body)
    } else if path == "/admin/directory_v1/channels/stop" {
        stop(&mut state, &body)
    } else if state.fail_after > 0 {
        state.fail_after -= 1;
        listing(&mut state, &path, &query)
    } else if let Some((status, reason)) = state.failures.pop_front() {
        let retry_after: &[(&str, &str)] = if status == 403 {
            &[]
        } else {
            &[("retry-after", "0")]
        };
        reply(
            status,
            &google_error(status, reason, "Rate Limit Exceeded"),
            retry_after,
        )
    } else {
        listing(&mut state, &path, &query)
    };
    state.log.push(Logged {
        path,
        query,
        status: response.status().as_u16(),
    });
    response
}

/// The JWT-bearer grant: the assertion must be signed by the test key and name the service
/// account, the admin, this endpoint and the read-only directory scopes.
fn token(state: &mut State, body: &[u8], audience: &str) -> Response<Full<Bytes>> {
    let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let refuse = |what: &str| {
        reply(
            400,
            &json!({"error": "invalid_grant", "error_description": what}),
            &[],
        )
    };
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return refuse("unsupported grant_type");
    }
    let Some(assertion) = form.get("assertion") else {
        return refuse("no assertion");
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return refuse("not a JWT");
    };
    let der = pem_der(TEST_KEY_PEM);
    let public = RsaKeyPair::from_pkcs8(&der)
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    let signed = format!("{header}.{claims}");
    if UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
        .verify(signed.as_bytes(), &signature)
        .is_err()
    {
        return refuse("Invalid JWT Signature.");
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    let scope = claims["scope"].as_str().unwrap_or_default();
    let valid = header["alg"] == "RS256"
        && claims["iss"] == CLIENT_EMAIL
        && claims["sub"] == ADMIN_EMAIL
        && claims["aud"] == audience
        && scope.contains("admin.directory.user.readonly")
        && scope.contains("admin.directory.group.member.readonly")
        && claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0) <= 3600;
    if !valid {
        return refuse("Invalid email or User ID");
    }
    let access = format!("ya29.fake-{}", state.access_tokens.len());
    state.access_tokens.push(access.clone());
    reply(
        200,
        &json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer"}),
        &[],
    )
}

/// `users.watch`: the channel body (`id`, `type: web_hook`, `address`, `token`,
/// `expiration`, `params.ttl`) for `customer=my_customer` and one `event`. Answers the
/// channel with its `resourceId` and granted expiration, then sends the `sync` message.
fn watch(state: &mut State, query: &HashMap<String, String>, body: &[u8]) -> Response<Full<Bytes>> {
    let invalid = || reply(400, &google_error(400, "invalid", "Invalid Input"), &[]);
    let Ok(channel) = serde_json::from_slice::<Value>(body) else {
        return invalid();
    };
    let event = query.get("event").cloned().unwrap_or_default();
    let known = ["add", "delete", "makeAdmin", "undelete", "update"];
    if query.get("customer").map(String::as_str) != Some("my_customer")
        || !known.contains(&event.as_str())
        || channel["type"] != "web_hook"
    {
        return invalid();
    }
    let (Some(id), Some(address), Some(token)) = (
        channel["id"].as_str(),
        channel["address"].as_str(),
        channel["token"].as_str(),
    ) else {
        return invalid();
    };
    if state.channels.iter().any(|c| c.id == id) {
        return reply(
            400,
            &google_error(400, "channelIdNotUnique", "Channel id not unique"),
            &[],
        );
    }
    let expiration = channel["expiration"]
        .as_str()
        .and_then(|e| e.parse::<i64>().ok())
        .unwrap_or(0);
    let opened = Channel {
        id: id.to_owned(),
        resource_id: format!("resource-{}", state.channels.len() + 1),
        event,
        address: address.to_owned(),
        token: token.to_owned(),
        expiration,
        stopped: false,
        messages: 1,
    };
    state.channels.push(opened.clone());
    let answer = json!({"kind": "api#channel", "id": opened.id, "resourceId": opened.resource_id,
        "resourceUri": "https://admin.googleapis.com/admin/directory/v1/users?customer=my_customer&alt=json",
        "expiration": expiration.to_string()});
    tokio::spawn(async move {
        deliver(&opened, "sync", &opened.token).await;
    });
    reply(200, &answer, &[])
}

/// `channels.stop` with `{id, resourceId}`: 204, or 404 for a channel it does not know.
fn stop(state: &mut State, body: &[u8]) -> Response<Full<Bytes>> {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    let channel = state.channels.iter_mut().find(|c| {
        !c.stopped
            && request["id"] == c.id.as_str()
            && request["resourceId"] == c.resource_id.as_str()
    });
    match channel {
        Some(channel) => {
            channel.stopped = true;
            Response::builder()
                .status(204)
                .body(Full::new(Bytes::new()))
                .unwrap()
        }
        None => reply(
            404,
            &google_error(404, "notFound", "Channel not found"),
            &[],
        ),
    }
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn listing(
    state: &mut State,
    path: &str,
    query: &HashMap<String, String>,
) -> Response<Full<Bytes>> {
    let max: usize = query
        .get("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100);
    let (field, kind, records) = match path {
        "/admin/directory/v1/users"
            if query.get("customer").map(String::as_str) == Some("my_customer") =>
        {
            ("users", "admin#directory#users", state.users.clone())
        }
        "/admin/directory/v1/groups"
            if query.get("customer").map(String::as_str) == Some("my_customer") =>
        {
            ("groups", "admin#directory#groups", state.groups.clone())
        }
        _ => match path
            .strip_prefix("/admin/directory/v1/groups/")
            .and_then(|rest| rest.strip_suffix("/members"))
        {
            Some(group) => {
                let group = percent_encoding::percent_decode_str(group)
                    .decode_utf8_lossy()
                    .into_owned();
                match state.members.get(&group) {
                    Some(members) => ("members", "admin#directory#members", members.clone()),
                    None => {
                        return reply(
                            404,
                            &google_error(404, "notFound", "Resource Not Found: groupKey"),
                            &[],
                        )
                    }
                }
            }
            None => return reply(400, &google_error(400, "invalid", "Invalid Input"), &[]),
        },
    };
    let start = match query.get("pageToken") {
        None => 0,
        Some(token) => match parse_token(token, state.generation) {
            Some(start) => start,
            None => return reply(400, &google_error(400, "invalid", "Invalid Input"), &[]),
        },
    };
    let size = max.min(state.page_size).max(1);
    let end = (start + size).min(records.len());
    let mut page = json!({"kind": kind, "etag": "\"list\""});
    page[field] = Value::Array(records[start.min(end)..end].to_vec());
    if end < records.len() {
        page["nextPageToken"] = json!(format!("g{}-{end}", state.generation));
    }
    if let Some(left) = state.expire_after_pages.as_mut() {
        *left = left.saturating_sub(1);
        if *left == 0 {
            state.expire_after_pages = None;
            state.generation += 1;
        }
    }
    reply(200, &page, &[])
}

fn parse_token(token: &str, generation: u32) -> Option<usize> {
    let (token_generation, offset) = token.strip_prefix('g')?.split_once('-')?;
    (token_generation.parse::<u32>().ok()? == generation).then_some(())?;
    offset.parse().ok()
}
