//! The local runner's files: a throwaway run and a rotated demo token leave the persistent
//! run's secrets usable.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use dsync_local::{Bootstrap, Options, Running};
use reqwest::StatusCode;

fn options(data_dir: &Path, in_memory: bool) -> Options {
    Options {
        data_dir: data_dir.to_owned(),
        in_memory,
        dynamodb_endpoint: None,
        dynamodb_latency: std::time::Duration::ZERO,
        table_prefix: "dsync".into(),
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        reconcile_every: None,
        clock: None,
        process_streams: false,
        fanout: dsync_tests::fanout_config(),
        sweep_every: std::time::Duration::from_secs(60),
        google: Default::default(),
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let unique = dsync_domain::ids::EventId::generate()
            .to_string()
            .to_lowercase();
        Self(std::env::temp_dir().join(format!("dsync-runner-{unique}")))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read_bootstrap(path: &Path) -> Bootstrap {
    serde_json::from_str(&std::fs::read_to_string(path).expect("bootstrap file")).unwrap()
}

/// Whether the bootstrap's API key and SCIM token are accepted by `running`.
async fn secrets_work(running: &Running, bootstrap: &Bootstrap) -> (bool, bool) {
    let http = reqwest::Client::new();
    let base = format!("http://{}", running.addr);
    let api = http
        .get(format!("{base}/environment/settings"))
        .bearer_auth(&bootstrap.api_key)
        .send()
        .await
        .unwrap();
    let scim = http
        .get(format!("{base}/scim/v2/{}/Users", bootstrap.directory_id))
        .bearer_auth(&bootstrap.scim_token)
        .send()
        .await
        .unwrap();
    (
        api.status() == StatusCode::OK,
        scim.status() == StatusCode::OK,
    )
}

#[tokio::test]
async fn a_throwaway_run_leaves_the_persistent_secrets_alone() {
    let dir = TempDir::new();
    let first = dsync_local::start(options(&dir.0, false)).await.unwrap();
    let persistent_file = dir.0.join("bootstrap.json");
    assert_eq!(first.bootstrap_path, persistent_file);
    let persistent = read_bootstrap(&persistent_file);
    drop(first);

    let throwaway = dsync_local::start(options(&dir.0, true)).await.unwrap();
    assert_ne!(throwaway.bootstrap_path, persistent_file);
    assert_ne!(throwaway.bootstrap.api_key, persistent.api_key);
    drop(throwaway);
    assert_eq!(
        read_bootstrap(&persistent_file),
        persistent,
        "bootstrap.json was rewritten"
    );

    // The next normal start finds its own secrets, and they work.
    let again = dsync_local::start(options(&dir.0, false)).await.unwrap();
    assert_eq!(again.bootstrap.api_key, persistent.api_key);
    assert_eq!(again.bootstrap.scim_token, persistent.scim_token);
    assert_eq!(secrets_work(&again, &again.bootstrap).await, (true, true));
}

#[tokio::test]
async fn rotating_the_demo_token_keeps_the_environment_and_its_api_key() {
    let dir = TempDir::new();
    let first = dsync_local::start(options(&dir.0, false)).await.unwrap();
    let before = first.bootstrap.clone();
    let rotated = reqwest::Client::new()
        .post(format!(
            "http://{}/directories/{}/token",
            first.addr, before.directory_id
        ))
        .bearer_auth(&before.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let new_token: serde_json::Value = rotated.json().await.unwrap();
    let new_token = new_token["scim_token"].as_str().unwrap().to_owned();
    drop(first);

    let again = dsync_local::start(options(&dir.0, false)).await.unwrap();
    let after = &again.bootstrap;
    assert_eq!(after.environment_id, before.environment_id);
    assert_eq!(after.api_key, before.api_key);
    assert_eq!(secrets_work(&again, after).await, (true, true));
    // The rotated directory keeps working with the token the rotation returned.
    let rotated_directory = Bootstrap {
        directory_id: before.directory_id.clone(),
        scim_token: new_token,
        ..after.clone()
    };
    assert_eq!(secrets_work(&again, &rotated_directory).await, (true, true));
    assert_eq!(read_bootstrap(&again.bootstrap_path), *after);
}

#[tokio::test]
async fn a_taken_port_is_named_with_the_way_out() {
    let dir = TempDir::new();
    let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap();
    let error = match dsync_local::start(Options {
        listen: port,
        ..options(&dir.0, false)
    })
    .await
    {
        Ok(_) => panic!("a second listener on {port} started"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&port.to_string()), "{error}");
    assert!(error.contains("--port"), "{error}");
    assert!(
        !dir.0.exists(),
        "the data directory was touched before the port was known to be free"
    );
}
