//! A crash of the local runner mid-batch: the `dsync-local` process is killed (SIGKILL, no
//! shutdown) while the provider-records stream is still being projected, and restarted on the
//! same data directory. Nothing written before the crash may be lost, and nothing projected
//! twice: every user created over SCIM gets exactly one `dsync.user.created`, the log's
//! sequence numbers stay gap-free, and the directory holds each user once.
//!
//! The restarted runner resumes the stream after its checkpoint (saved at most once a second
//! while records flow), so up to a second of batches before the crash is delivered again; the
//! projection re-reads state, so the redelivery finds its work done and writes nothing.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const USERS: usize = 120;
const CLIENTS: usize = 8;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A runner process, killed when dropped (a failing test leaves nothing behind).
struct Runner {
    child: Child,
    port: u16,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

fn start(data_dir: &Path) -> Runner {
    let port = free_port();
    let log = std::fs::File::create(data_dir.join(format!("run-{port}.log"))).expect("a log");
    let child = Command::new(env!("CARGO_BIN_EXE_dsync-local"))
        .env("DSYNC_DATA_DIR", data_dir)
        .env("DSYNC_PORT", port.to_string())
        .env("DSYNC_RECONCILE_EVERY", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("dsync-local starts");
    let runner = Runner { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    // It listens before it writes the bootstrap file; both mean it is up.
    let bootstrap = data_dir.join("bootstrap.json");
    let ready = || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
            && std::fs::read_to_string(&bootstrap)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .is_some()
    };
    while !ready() {
        assert!(Instant::now() < deadline, "dsync-local did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    runner
}

/// One HTTP/1.1 request (`Connection: close`): status and JSON body.
fn request(port: u16, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body.as_bytes()).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    body
}

struct Bootstrap {
    api_key: String,
    scim_token: String,
    directory_id: String,
}

fn bootstrap(data_dir: &Path) -> Bootstrap {
    let text = std::fs::read_to_string(data_dir.join("bootstrap.json")).expect("bootstrap");
    let value: Value = serde_json::from_str(&text).expect("bootstrap JSON");
    let field = |name: &str| value[name].as_str().expect(name).to_owned();
    Bootstrap {
        api_key: field("api_key"),
        scim_token: field("scim_token"),
        directory_id: field("directory_id"),
    }
}

/// Every event in the log, oldest first (`GET /events`, all pages).
fn events(port: u16, api_key: &str) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    loop {
        let mut path = "/events?limit=100&order=asc".to_owned();
        if let Some(last) = all.last() {
            path.push_str(&format!("&after={}", last["id"].as_str().expect("an id")));
        }
        let (status, body) = request(port, "GET", &path, api_key, None);
        assert_eq!(status, 200, "{body}");
        let page = body["data"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

fn created_users(events: &[Value]) -> usize {
    events
        .iter()
        .filter(|e| e["event"] == "dsync.user.created")
        .count()
}

#[test]
fn a_runner_killed_mid_batch_loses_and_repeats_nothing_after_restart() {
    let unique = format!(
        "dsync-crash-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let dir = TempDir(std::env::temp_dir().join(unique));
    std::fs::create_dir_all(&dir.0).expect("data dir");

    let runner = start(&dir.0);
    let secrets = bootstrap(&dir.0);
    let users_path = format!("/scim/v2/{}/Users", secrets.directory_id);
    // What the bootstrap itself logged (the directory's activation).
    let bootstrap_events = events(runner.port, &secrets.api_key).len();
    // Eight clients at once, as an IdP's initial push: creates outrun the projection.
    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let (port, token, path) = (runner.port, &secrets.scim_token, &users_path);
            scope.spawn(move || {
                for n in (client..USERS).step_by(CLIENTS) {
                    let user = json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": format!("crash{n}@example.com"),
                        "emails": [{"value": format!("crash{n}@example.com"), "primary": true}],
                        "active": true
                    });
                    let (status, body) = request(port, "POST", path, token, Some(&user));
                    assert_eq!(status, 201, "{body}");
                }
            });
        }
    });
    // Killed while the stream is still being projected: the creates outrun the projection.
    let before_crash = created_users(&events(runner.port, &secrets.api_key));
    drop(runner);
    eprintln!("killed with {before_crash} of {USERS} users projected");
    assert!(
        before_crash < USERS,
        "the projection finished before the crash ({before_crash} of {USERS}): nothing was in flight"
    );

    let runner = start(&dir.0);
    let deadline = Instant::now() + Duration::from_secs(120);
    let log = loop {
        let log = events(runner.port, &secrets.api_key);
        if created_users(&log) >= USERS || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(200));
    };

    // Every user announced exactly once: none lost, none created twice.
    let created: Vec<&Value> = log
        .iter()
        .filter(|e| e["event"] == "dsync.user.created")
        .collect();
    let names: BTreeSet<&str> = created
        .iter()
        .filter_map(|e| e["data"]["username"].as_str())
        .collect();
    let ids: BTreeSet<&str> = created
        .iter()
        .filter_map(|e| e["data"]["id"].as_str())
        .collect();
    assert_eq!(created.len(), USERS, "{before_crash} before the crash");
    assert_eq!((names.len(), ids.len()), (USERS, USERS));
    // Nothing else happened to them, and the log has no gap.
    assert_eq!(
        log.len(),
        bootstrap_events + USERS,
        "unexpected events besides the creations"
    );
    let sequences: Vec<u64> = log
        .iter()
        .map(|e| {
            let id = e["id"].as_str().expect("an id");
            dsync_domain::ids::EventId::parse(id)
                .expect("an event id")
                .sequence()
        })
        .collect();
    let expected: Vec<u64> = (1..=log.len() as u64).collect();
    assert_eq!(sequences, expected, "sequence numbers with a gap");
    // The directory holds each user once.
    let mut listed = 0;
    let mut after: Option<String> = None;
    loop {
        let mut path = format!(
            "/directory_users?directory={}&limit=100",
            secrets.directory_id
        );
        if let Some(cursor) = &after {
            path.push_str(&format!("&after={cursor}"));
        }
        let (status, body) = request(runner.port, "GET", &path, &secrets.api_key, None);
        assert_eq!(status, 200, "{body}");
        listed += body["data"].as_array().map_or(0, Vec::len);
        match body["list_metadata"]["after"].as_str() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => break,
        }
    }
    assert_eq!(listed, USERS);
}
