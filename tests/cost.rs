//! What one SCIM user creation and one deactivation cost in DynamoDB, counted (not
//! estimated) by a metering client: requests by operation, read and write capacity units.
//!
//! No background pipeline runs here: the engine, the tables, one environment and one
//! directory are set up by hand, and the SCIM handler and the policy function's projection
//! are called directly, each with a store whose client reports to a [`Meter`]. The projection
//! measured is what the provider-records stream record of the write triggers.
//!
//! `cargo test -p dsync-tests --test cost -- --nocapture` prints the table in docs/COST.md.

use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use dsync_domain::directory::UserState;
use dsync_domain::ids::{DirectoryId, ProviderGroupId, ProviderUserId};
use dsync_domain::model::{Environment, EnvironmentSettings, InactiveUserPolicy, ProviderKind};
use dsync_dynamo::metering::{metered_client, Meter, MeterReport};
use dsync_dynamo::{connect, tables, ConnectOptions, Store, StoredEvent, TableNames};
use dsync_policy::project::{
    project_group, project_user, project_users, Contexts, DirectoryContext,
};
use serde_json::{json, Value};

/// The two steps of a stream batch for one record, each metered on its own: the directory
/// context (read once per batch, or taken from the process's copy) and the projection.
const CONTEXT_STEP: &str = "stream batch: directory context";
const PROJECTION_STEP: &str = "projection (project_user)";

/// The service's functions over one engine, twice: plainly (setup) and metered.
struct Bench {
    _engine: dsync_local::Engine,
    environment: Environment,
    directory: DirectoryId,
    token: String,
    meter: Meter,
    plain_scim: dsync_provider_webhooks::App,
    plain_policy: dsync_policy::App,
    /// Another process (its own caches) over the same tables.
    other_policy: dsync_policy::App,
    scim: dsync_provider_webhooks::App,
    policy: dsync_policy::App,
}

/// The SCIM function as a busy instance runs: its directory copy (refreshed with one GetItem
/// every `DIRECTORY_CACHE`, 5 s, per process) stays fresh for the whole test, so a slow machine
/// does not add the refresh to whichever step it happens to fall in. What the refresh costs
/// per million requests is in docs/COST.md.
fn steady_scim_config() -> dsync_provider_webhooks::Config {
    dsync_provider_webhooks::Config {
        directory_cache: std::time::Duration::from_secs(3600),
        ..Default::default()
    }
}

async fn bench() -> Bench {
    let engine = dsync_local::Engine::start(None)
        .await
        .expect("the engine starts");
    let endpoint = engine.endpoint();
    let client = connect(ConnectOptions {
        endpoint: Some(endpoint.clone()),
        region: None,
    })
    .await;
    let names = TableNames::with_prefix("cost");
    tables::create_tables(&client, &names)
        .await
        .expect("tables");
    let plain = Store::new(client, names);

    // As infra/local's bootstrap does it.
    let now = dsync_domain::time::now_millis();
    let (environment, directory, token) = dsync_tests::environment_with_directory(
        &plain,
        ("default", "Okta"),
        ProviderKind::OktaScimV2,
        now,
    )
    .await;

    // As the Lambda function is configured.
    let plain_policy =
        dsync_policy::App::new(plain.clone()).with_context_cache(dsync_policy::CONTEXT_CACHE);
    let meter = Meter::new();
    // One process: the metered store shares the plain one's caches (the SCIM directory
    // cache, the event-log heads), as one Lambda instance's single store would.
    let metered = plain.with_client(metered_client(&endpoint, &meter));
    Bench {
        _engine: engine,
        environment,
        directory: directory.id,
        token,
        meter,
        plain_scim: dsync_provider_webhooks::App::new(plain.clone(), steady_scim_config()),
        scim: dsync_provider_webhooks::App::new(metered.clone(), steady_scim_config()),
        policy: dsync_policy::App {
            store: metered,
            ..plain_policy.clone()
        },
        other_policy: dsync_policy::App::new(Store::new(
            plain.client().clone(),
            plain.tables().clone(),
        )),
        plain_policy,
    }
}

/// A SCIM reply: status and JSON body.
struct Reply {
    status: u16,
    body: Value,
}

impl Bench {
    async fn scim_call(
        &self,
        app: &dsync_provider_webhooks::App,
        method: http::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Reply {
        let request = http::Request::builder()
            .method(method)
            .uri(format!(
                "http://localhost:8787/scim/v2/{}{path_and_query}",
                self.directory
            ))
            .header(http::header::HOST, "localhost:8787")
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(http::header::CONTENT_TYPE, "application/scim+json")
            .header(http::header::USER_AGENT, "Okta SCIM Client 1.0.0")
            .body(body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())))
            .expect("a request");
        let response = dsync_provider_webhooks::handle(app, request).await;
        let bytes = response.body();
        Reply {
            status: response.status().as_u16(),
            body: if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(bytes).expect("a JSON reply")
            },
        }
    }

    /// A SCIM request through the metered function.
    async fn metered(&self, method: http::Method, path: &str, body: Option<&Value>) -> Reply {
        self.scim_call(&self.scim, method, path, body).await
    }

    /// A SCIM request through the plain function (setup, not counted).
    async fn setup(&self, method: http::Method, path: &str, body: Option<&Value>) -> Reply {
        self.scim_call(&self.plain_scim, method, path, body).await
    }

    /// `count` Okta users created over SCIM (setup, not counted), named `<prefix><i>@…`.
    async fn created_users(&self, prefix: &str, count: usize) -> Vec<ProviderUserId> {
        let mut users = Vec::with_capacity(count);
        for i in 0..count {
            let user = okta_user(&format!("{prefix}{i}@example.com"));
            let created = self.setup(http::Method::POST, "/Users", Some(&user)).await;
            assert_eq!(created.status, 201, "{:?}", created.body);
            users.push(ProviderUserId::parse(created.body["id"].as_str().unwrap()).unwrap());
        }
        users
    }

    /// A stream batch's context: read, or taken from the process's copy.
    async fn context(&self, app: &dsync_policy::App) -> DirectoryContext {
        Contexts::for_stream()
            .get(app, &self.directory)
            .await
            .expect("context read")
            .expect("the directory exists")
    }

    /// The stream batch a write of `user` triggers, through the metered policy function:
    /// one row for the context and one for the projection (the meter counts from its last
    /// take). Returns the events committed.
    async fn stream_batch(
        &self,
        scenario: &'static str,
        user: &ProviderUserId,
        rows: &mut Vec<Row>,
    ) -> Vec<StoredEvent> {
        let context = self.context(&self.policy).await;
        rows.push(Row {
            scenario,
            step: CONTEXT_STEP,
            report: self.meter.take(),
        });
        let events = project_user(&self.policy, &context, user)
            .await
            .expect("projected");
        rows.push(Row {
            scenario,
            step: PROJECTION_STEP,
            report: self.meter.take(),
        });
        events
    }

    async fn set_policy(&mut self, policy: InactiveUserPolicy) {
        self.environment.settings = EnvironmentSettings {
            inactive_user_policy: policy,
            inactive_user_retention_days: None,
            ..EnvironmentSettings::default()
        };
        self.plain_policy
            .store
            .update_environment_settings(
                &self.environment.id,
                &self.environment.settings,
                dsync_domain::time::now_millis(),
            )
            .await
            .expect("settings updated");
        // The copy the process keeps would apply the change up to 5 s late.
        self.policy.contexts.forget(&self.directory);
        let context = self.context(&self.plain_policy).await;
        assert_eq!(context.settings().inactive_user_policy, policy);
    }

    /// The environment's log head, read now (not metered).
    async fn head(&self) -> u64 {
        self.plain_policy
            .store
            .event_head(&self.environment.id)
            .await
            .expect("the head")
    }

    /// The stream batch of `users`' records on a warm instance (context and log head known,
    /// as after the batch before): their projections run concurrently, as the policy function
    /// runs a batch's users, and are metered together. Returns each user's event names and the
    /// report, whose figures per user it prints (`-- --nocapture`) for docs/COST.md.
    async fn metered_batch(
        &self,
        what: &str,
        users: &[ProviderUserId],
    ) -> (Vec<Vec<String>>, MeterReport) {
        let context = self.context(&self.policy).await;
        self.policy
            .store
            .event_head(&self.environment.id)
            .await
            .expect("the head read");
        self.meter.reset();
        let projected = project_users(&self.policy, &context, users).await;
        let report = self.meter.take();
        let per_user = |figure: f64| figure / users.len() as f64;
        println!(
            "{} {what} in one batch: {} ({:.2} requests, {:.2} RCU, {:.2} WCU per user)",
            users.len(),
            by_operation(&report),
            per_user(report.total_requests as f64),
            per_user(report.read_units),
            per_user(report.write_units),
        );
        assert_eq!(report.failed_requests, 0, "{report:?}");
        let names = projected
            .into_iter()
            .map(|events| {
                let events = events.expect("projected");
                events.into_iter().map(|e| e.name).collect()
            })
            .collect();
        (names, report)
    }

    /// A user in two groups, created and projected without metering. Returns its id.
    async fn user_in_two_groups(&self, user_name: &str) -> ProviderUserId {
        let created = self
            .setup(http::Method::POST, "/Users", Some(&okta_user(user_name)))
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let user = ProviderUserId::parse(created.body["id"].as_str().expect("id")).expect("id");
        let context = self.context(&self.plain_policy).await;
        project_user(&self.plain_policy, &context, &user)
            .await
            .expect("user projected");
        for name in ["Engineering", "All Staff"] {
            let group_name = format!("{name} ({user_name})");
            let group = self
                .setup(
                    http::Method::POST,
                    "/Groups",
                    Some(&json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": group_name,
                        "members": []
                    })),
                )
                .await;
            assert_eq!(group.status, 201, "{:?}", group.body);
            let group_id = group.body["id"].as_str().expect("id").to_owned();
            // Okta pushes members with a PATCH after creating the group.
            let added = self
                .setup(
                    http::Method::PATCH,
                    &format!("/Groups/{group_id}"),
                    Some(&json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{
                            "op": "add",
                            "path": "members",
                            "value": [{"value": user.to_string(), "display": user_name}]
                        }]
                    })),
                )
                .await;
            assert!(matches!(added.status, 200 | 204), "{:?}", added.body);
            let group_id = ProviderGroupId::parse(&group_id).expect("group id");
            project_group(&self.plain_policy, &context, &group_id)
                .await
                .expect("group projected");
        }
        project_user(&self.plain_policy, &context, &user)
            .await
            .expect("memberships projected");
        let projected = self
            .plain_policy
            .store
            .load_projected_user(&user)
            .await
            .expect("projected user");
        assert!(projected.user.is_some());
        assert_eq!(projected.groups.len(), 2, "the user is in both groups");
        user
    }
}

/// A user as Okta creates it.
fn okta_user(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": "Jane Doe",
        "locale": "en-US",
        "externalId": "00u1abcdEFGH",
        "groups": [],
        "password": "Secret#1",
        "active": true
    })
}

fn deactivation() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}]
    })
}

/// One measured step.
struct Row {
    scenario: &'static str,
    step: &'static str,
    report: MeterReport,
}

fn print_table(rows: &[Row]) {
    println!();
    println!("| scenario | step | requests | by operation (units) | RCU | WCU |");
    println!("| --- | --- | ---: | --- | ---: | ---: |");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.step,
            row.report.total_requests,
            by_operation(&row.report),
            row.report.read_units,
            row.report.write_units
        );
    }
    println!();
}

/// `GetItem×2 (1.5 R), TransactWriteItems×1 (14 W)`.
fn by_operation(report: &MeterReport) -> String {
    report
        .requests_by_operation
        .iter()
        .map(|(operation, count)| {
            let units = report
                .units_by_operation
                .get(operation)
                .copied()
                .unwrap_or_default();
            let mut parts = Vec::new();
            if units.read > 0.0 {
                parts.push(format!("{} R", units.read));
            }
            if units.write > 0.0 {
                parts.push(format!("{} W", units.write));
            }
            format!("{operation}×{count} ({})", parts.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(requests, read units, write units)` of the rows of one scenario whose step is in `steps`.
fn total(rows: &[Row], scenario: &str, steps: &[&str]) -> (u64, f64, f64) {
    rows.iter()
        .filter(|r| r.scenario == scenario && steps.contains(&r.step))
        .fold((0, 0.0, 0.0), |(n, r, w), row| {
            (
                n + row.report.total_requests,
                r + row.report.read_units,
                w + row.report.write_units,
            )
        })
}

/// What one event may cost the partition holding its environment's log: DynamoDB gives a
/// partition 1,000 write units a second, so at this cost one environment's log takes 2,000
/// events a second (issue 11's target rate) without throttling. Measured: 0.21 per event for a
/// batch of creations, 0.25 for a new group's members, 0.29 for deactivations.
const LOG_PARTITION_UNITS_PER_EVENT: f64 = 0.5;

/// The write units the event log's table took per event committed. One environment's events
/// share a partition key, so this is what each event costs the one partition that takes them
/// all (DynamoDB gives a partition 1,000 write units a second; docs/COST.md).
///
/// The engine's figure is checked against the pages written after `head`, sized as DynamoDB
/// sizes items (2 units per KB or part of one, inside a transaction), so an engine that
/// under-counted could not make the bound pass.
async fn log_units_per_event(bench: &Bench, report: &MeterReport, head: u64, events: usize) -> f64 {
    let table = &bench.policy.store.tables().events;
    let units = report
        .units_by_table
        .get(table)
        .map_or(0.0, |units| units.write);
    let pages = bench
        .plain_policy
        .store
        .client()
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND sk > :head")
        .expression_attribute_values(
            ":pk",
            AttributeValue::S(format!("ENV#{}", bench.environment.id)),
        )
        .expression_attribute_values(":head", AttributeValue::S(format!("{head:020}")))
        .consistent_read(true)
        .send()
        .await
        .expect("the new pages");
    assert!(pages.last_evaluated_key.is_none(), "one page of results");
    let sized: f64 = pages
        .items()
        .iter()
        .map(|page| 2.0 * (item_bytes(page) as f64 / 1024.0).ceil())
        .sum();
    println!(
        "  the event log's partition: {:.3} WCU per event ({} items; {sized} WCU by their sizes)",
        units / events as f64,
        pages.items().len(),
    );
    assert_eq!(units, sized, "the engine's units are the pages' sizes");
    units / events as f64
}

/// An item's size as DynamoDB counts it: each attribute's name and value (strings and
/// binaries by their bytes; a number by one byte per two significant digits, plus one).
fn item_bytes(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(text) => text.len(),
                    AttributeValue::N(number) => {
                        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
                        let significant = digits.trim_start_matches('0').trim_end_matches('0');
                        significant.len().div_ceil(2) + 1
                    }
                    AttributeValue::B(bytes) => bytes.as_ref().len(),
                    other => panic!("a page holds no {other:?}"),
                }
        })
        .sum()
}

/// A step's bounds: a regression that adds a request or a unit fails here.
fn assert_at_most(row: &Row, requests: u64, read: f64, write: f64) {
    let report = &row.report;
    let what = format!("{} / {}: {report:?}", row.scenario, row.step);
    assert_eq!(report.failed_requests, 0, "{what}");
    assert!(report.total_requests <= requests, "{what}");
    assert!(report.read_units <= read, "{what}");
    assert!(report.write_units <= write, "{what}");
    // Every metered request reported capacity (the interceptor asked for it).
    assert!(
        report.total_requests == 0 || report.read_units + report.write_units > 0.0,
        "no capacity reported: {what}"
    );
}

#[tokio::test]
async fn scim_create_and_deactivation_cost() {
    let mut bench = bench().await;
    let meter = bench.meter.clone();
    let mut rows = Vec::new();

    // ── Create ──────────────────────────────────────────────────────────────────────────
    // First on a cold instance (nothing read yet: the directory, its context and the
    // environment's event-log head are read), then warm, as every later change is.
    for (scenario, user_name) in [
        ("create (cold instance)", "cold.start@example.com"),
        ("create", "jane.doe@example.com"),
    ] {
        // Okta looks the user up before creating it.
        meter.reset();
        let check = bench
            .metered(
                http::Method::GET,
                &format!(
                    "/Users?filter=userName%20eq%20%22{}%22&startIndex=1&count=100",
                    user_name.replace('@', "%40")
                ),
                None,
            )
            .await;
        assert_eq!(check.status, 200, "{:?}", check.body);
        assert_eq!(check.body["totalResults"], 0);
        rows.push(Row {
            scenario,
            step: "Okta's lookup (GET ?filter=userName eq)",
            report: meter.take(),
        });

        let created = bench
            .metered(http::Method::POST, "/Users", Some(&okta_user(user_name)))
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let user = ProviderUserId::parse(created.body["id"].as_str().expect("id")).expect("id");
        rows.push(Row {
            scenario,
            step: "SCIM POST /Users",
            report: meter.take(),
        });

        let events = bench.stream_batch(scenario, &user, &mut rows).await;
        assert_eq!(
            events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["dsync.user.created"]
        );
    }

    // ── Deactivation, under each inactive-user policy ───────────────────────────────────
    for (scenario, policy, user_name) in [
        (
            "deactivate (secure: delete)",
            InactiveUserPolicy::Delete,
            "sam.secure@example.com",
        ),
        (
            "deactivate (retain)",
            InactiveUserPolicy::Retain,
            "rita.retain@example.com",
        ),
    ] {
        bench.set_policy(policy).await;
        let user = bench.user_in_two_groups(user_name).await;

        meter.reset();
        let patched = bench
            .metered(
                http::Method::PATCH,
                &format!("/Users/{user}"),
                Some(&deactivation()),
            )
            .await;
        assert_eq!(patched.status, 200, "{:?}", patched.body);
        assert_eq!(patched.body["active"], false);
        rows.push(Row {
            scenario,
            step: "SCIM PATCH /Users/{id} active=false",
            report: meter.take(),
        });

        let events = bench.stream_batch(scenario, &user, &mut rows).await;
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        let after = bench
            .plain_policy
            .store
            .load_projected_user(&user)
            .await
            .expect("projected user");
        match policy {
            InactiveUserPolicy::Delete => {
                assert!(after.user.is_none(), "the secure flow deletes the user");
                assert!(names.contains(&"dsync.user.deleted"), "{names:?}");
            }
            InactiveUserPolicy::Retain => {
                let kept = after.user.expect("retain keeps the user");
                assert_eq!(kept.state, UserState::Inactive);
                assert!(names.contains(&"dsync.user.updated"), "{names:?}");
            }
        }
        println!("{scenario}: events {names:?}");
    }

    // ── A miss: another process committed to the environment since this one's last commit ──
    let scenario = "create after another process committed";
    let mut created_elsewhere = Vec::new();
    for user_name in ["elsewhere@example.com", "here@example.com"] {
        let created = bench
            .setup(http::Method::POST, "/Users", Some(&okta_user(user_name)))
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        created_elsewhere
            .push(ProviderUserId::parse(created.body["id"].as_str().expect("id")).expect("id"));
    }
    let context = bench.context(&bench.other_policy).await;
    project_user(&bench.other_policy, &context, &created_elsewhere[0])
        .await
        .expect("projected by the other process");
    meter.reset();
    let context = bench.context(&bench.policy).await;
    let events = project_user(&bench.policy, &context, &created_elsewhere[1])
        .await
        .expect("projected");
    assert_eq!(events.len(), 1);
    let miss = meter.take();
    rows.push(Row {
        scenario,
        step: PROJECTION_STEP,
        report: miss.clone(),
    });

    print_table(&rows);
    let handler_and_projection = ["SCIM POST /Users", PROJECTION_STEP];
    let deactivation_steps = ["SCIM PATCH /Users/{id} active=false", PROJECTION_STEP];
    for (scenario, steps) in [
        ("create (cold instance)", &handler_and_projection),
        ("create", &handler_and_projection),
        ("deactivate (secure: delete)", &deactivation_steps),
        ("deactivate (retain)", &deactivation_steps),
    ] {
        let (n, r, w) = total(&rows, scenario, steps);
        println!(
            "{scenario}: write + projection = {n} requests, {r} RCU, {w} WCU \
             (+ the context read once per stream batch)"
        );
    }

    // Bounds at what is measured (see docs/COST.md): a regression that adds a request or
    // makes an item larger than its unit boundary fails here.
    let step = |scenario: &str, step: &str| {
        rows.iter()
            .find(|r| r.scenario == scenario && r.step == step)
            .expect("measured")
    };
    for (scenario, lookup, context, projection) in [
        // Cold: the directory (SCIM), the context and the event-log head are read.
        ("create (cold instance)", (2, 2.0), (2, 2.0), (4, 4.0)),
        // Warm: every later change of the environment from this instance.
        ("create", (1, 1.0), (0, 0.0), (3, 3.0)),
    ] {
        assert_at_most(
            step(scenario, "Okta's lookup (GET ?filter=userName eq)"),
            lookup.0,
            lookup.1,
            0.0,
        );
        assert_at_most(step(scenario, "SCIM POST /Users"), 1, 0.0, 7.0);
        assert_at_most(step(scenario, CONTEXT_STEP), context.0, context.1, 0.0);
        assert_at_most(
            step(scenario, PROJECTION_STEP),
            projection.0,
            projection.1,
            12.0,
        );
    }
    // The remembered head was stale: one cancelled transaction (billed by DynamoDB, not
    // reported), then the turn at the head (a write that returns the head, 1 WCU) and the
    // commit.
    assert_eq!(miss.failed_requests, 1, "{miss:?}");
    assert_eq!(
        miss.requests_summary(),
        "BatchGetItem×1 Query×1 TransactWriteItems×2 UpdateItem×1"
    );
    assert!(miss.write_units <= 13.0, "{miss:?}");
    for scenario in ["deactivate (secure: delete)", "deactivate (retain)"] {
        assert_at_most(
            step(scenario, "SCIM PATCH /Users/{id} active=false"),
            4,
            3.0,
            2.0,
        );
        assert_at_most(step(scenario, CONTEXT_STEP), 0, 0.0, 0.0);
        // Removals and the user's own write in one transaction, after the remembered head;
        // a plan that changes memberships reads the provider's again after the projection
        // (one Query: a membership change between its two reads must not be undone).
        // Its three events share one page of the log (18 WCU; 22 with an item each).
        let projection = step(scenario, PROJECTION_STEP);
        assert_at_most(projection, 6, 7.0, 18.0);
        assert_eq!(
            projection
                .report
                .requests_by_operation
                .get("TransactWriteItems"),
            Some(&1),
            "{scenario}: one transaction"
        );
    }
}

/// The creates of one stream batch commit together (group commit): what one user costs then,
/// the batch's projection metered whole and divided by its users. `-- --nocapture` prints it
/// for docs/COST.md.
#[tokio::test]
async fn creates_of_one_stream_batch_share_their_log_transactions() {
    const USERS: usize = 96;
    let bench = bench().await;
    let users = bench.created_users("batch", USERS).await;
    let head = bench.head().await;
    let (names, report) = bench.metered_batch("creates", &users).await;
    for names in &names {
        assert_eq!(names, &["dsync.user.created"]);
    }
    let per_user = |figure: f64| figure / USERS as f64;
    // One transaction holds 94 commits of one item each beside the shared head, directory
    // check, counter and their pages of events; the first commits ready may go before the
    // others queue (how they split depends on timing: 3 or 4 on a quiet machine, more on a
    // loaded one). The per-user figures below are the bound a regression would cross.
    let transactions = report.requests_by_operation["TransactWriteItems"];
    assert!(transactions <= 6, "{}", by_operation(&report));
    // Alone, a create's projection is 3 requests and 12 WCU (the test above). Here its reads
    // are batched with the others' (`project_users`): shares of one ranged Query of the
    // batch's memberships, of one BatchGetItem per 50 users and of the shared transactions,
    // 0.05 requests (2.1 when each user read alone, 1.04 with a Query each).
    assert!(per_user(report.total_requests as f64) <= 0.1, "{report:?}");
    assert!(per_user(report.read_units) <= 2.1, "{report:?}");
    // 4.5 with the batch's events packed into pages (6.2 with an item each).
    assert!(per_user(report.write_units) <= 4.8, "{report:?}");
    let log = log_units_per_event(&bench, &report, head, USERS).await;
    assert!(
        log > 0.0 && log <= LOG_PARTITION_UNITS_PER_EVENT,
        "{report:?}"
    );
}

/// Deactivations of one stream batch, each user in two groups, under the secure flow (the
/// default): the batch's projection metered whole and divided by its users.
#[tokio::test]
async fn deactivations_of_one_stream_batch_share_their_log_transactions() {
    const USERS: usize = 32;
    let bench = bench().await;
    let mut users = Vec::new();
    for i in 0..USERS {
        users.push(
            bench
                .user_in_two_groups(&format!("leaver{i}@example.com"))
                .await,
        );
    }
    for user in &users {
        let patched = bench
            .setup(
                http::Method::PATCH,
                &format!("/Users/{user}"),
                Some(&deactivation()),
            )
            .await;
        assert_eq!(patched.status, 200, "{:?}", patched.body);
    }
    let head = bench.head().await;
    let (names, report) = bench
        .metered_batch("deactivations (2 groups each)", &users)
        .await;
    for names in &names {
        let removed = names.iter().filter(|n| *n == "dsync.group.user_removed");
        assert_eq!(removed.count(), 2, "{names:?}");
        assert!(names.iter().any(|n| n == "dsync.user.deleted"), "{names:?}");
    }
    let per_user = |figure: f64| figure / USERS as f64;
    // Each user's commit is 3 items (2 membership deletes, the user's delete) and 3 events
    // paged with the others', beside the shared head, directory check and counter: about 30 fit
    // in a transaction, so 2 for 32 users, 3 when the first ready goes alone.
    assert!(
        report.requests_by_operation["TransactWriteItems"] <= 5,
        "{}",
        by_operation(&report)
    );
    // Alone: 6 requests and 18 WCU (the test above); 11.1–11.5 WCU per user here (16.6 before
    // events were paged). 1.2 requests per user: a Query of its own (its directory
    // partition), shares of the batch's two ranged Queries of memberships (before and after
    // planning), of the BatchGetItems of the users and of their groups and of the
    // transactions (5.1 when each user read alone).
    assert!(per_user(report.total_requests as f64) <= 1.3, "{report:?}");
    assert!(per_user(report.write_units) <= 12.0, "{report:?}");
    let log = log_units_per_event(&bench, &report, head, 3 * USERS).await;
    assert!(
        log > 0.0 && log <= LOG_PARTITION_UNITS_PER_EVENT,
        "{report:?}"
    );
}

/// A new group's first projection re-projects its members (the member sweep): what each
/// member costs, the group's projection metered whole. `-- --nocapture` prints it.
#[tokio::test]
async fn a_new_groups_member_sweep_reads_its_members_together() {
    const MEMBERS: usize = 64;
    let bench = bench().await;
    let users = bench.created_users("member", MEMBERS).await;
    let context = bench.context(&bench.plain_policy).await;
    for result in project_users(&bench.plain_policy, &context, &users).await {
        assert_eq!(result.expect("created").len(), 1);
    }
    let members: Vec<Value> = users
        .iter()
        .map(|u| json!({"value": u.to_string()}))
        .collect();
    let group = bench
        .setup(
            http::Method::POST,
            "/Groups",
            Some(&json!({"displayName": "Everyone", "members": members})),
        )
        .await;
    assert_eq!(group.status, 201, "{:?}", group.body);
    let group = ProviderGroupId::parse(group.body["id"].as_str().unwrap()).unwrap();

    let head = bench.head().await;
    let context = bench.context(&bench.policy).await;
    bench.meter.reset();
    let projected = project_group(&bench.policy, &context, &group)
        .await
        .expect("projected");
    let report = bench.meter.take();
    assert_eq!(projected.events.len(), 1, "dsync.group.created");
    assert_eq!(projected.member_events, MEMBERS, "a user_added each");
    let per_member = |figure: f64| figure / MEMBERS as f64;
    println!(
        "a new group of {MEMBERS} members: {} ({:.2} requests, {:.2} RCU, {:.2} WCU per member)",
        by_operation(&report),
        per_member(report.total_requests as f64),
        per_member(report.read_units),
        per_member(report.write_units),
    );
    assert_eq!(report.failed_requests, 0, "{report:?}");
    // Per member: shares of the members' batched reads (their memberships read twice, before
    // and after planning, a ranged Query each) and of the shared transactions: 0.19 requests
    // and 2.3 RCU (4.12 and 5.1 when each member read alone).
    assert!(
        per_member(report.total_requests as f64) <= 0.3,
        "{report:?}"
    );
    assert!(per_member(report.read_units) <= 2.5, "{report:?}");
    let log = log_units_per_event(&bench, &report, head, 1 + MEMBERS).await;
    assert!(
        log > 0.0 && log <= LOG_PARTITION_UNITS_PER_EVENT,
        "{report:?}"
    );
}

/// The meter's own check: a metered client asks for capacity without the caller asking, and
/// counts it, on one put and one read of a small item.
#[tokio::test]
async fn the_meter_counts_requests_and_units() {
    let bench = bench().await;
    let store = &bench.policy.store;
    let table = &store.tables().directory;
    let key = |name: &str| AttributeValue::S(format!("METER#{name}"));
    bench.meter.reset();
    let put = store
        .client()
        .put_item()
        .table_name(table)
        .item("pk", key("a"))
        .item("sk", key("a"))
        .item("payload", AttributeValue::S("x".repeat(1500)))
        .send()
        .await
        .expect("put");
    let got = store
        .client()
        .get_item()
        .table_name(table)
        .key("pk", key("a"))
        .key("sk", key("a"))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    let missing = store
        .client()
        .get_item()
        .table_name(table)
        .key("pk", key("b"))
        .key("sk", key("b"))
        .send()
        .await
        .expect("get");
    assert!(got.item.is_some() && missing.item.is_none());
    // The interceptor asked for capacity, so the SDK output carries it too.
    assert!(put.consumed_capacity.is_some());
    let report = bench.meter.take();
    assert_eq!(report.requests_summary(), "GetItem×2 PutItem×1");
    assert_eq!(report.total_requests, 3);
    // 1.5 KB written: 2 units; a consistent read (1) and an eventually consistent miss (0.5).
    assert_eq!(report.write_units, 2.0);
    assert_eq!(report.read_units, 1.5);
    assert_eq!(report.failed_requests, 0);

    // A failed conditional write is a request, with no capacity reported.
    let failed = store
        .client()
        .put_item()
        .table_name(table)
        .item("pk", key("a"))
        .item("sk", key("a"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    assert!(failed.is_err());
    let report = bench.meter.snapshot();
    assert_eq!(report.total_requests, 1);
    assert_eq!(report.failed_requests, 1);
    assert_eq!(report.write_units, 0.0);
}

/// Sequential paging, as Okta's and Entra's imports page (`startIndex` 1, 101, 201, …):
/// every page costs the same reads whatever the directory's size, and `totalResults` is exact
/// without reading the directory. Counted, so the machine's load cannot blur it (the scale
/// benchmark, `benches/scim-scale.sh`, times the same at 100,000 users).
#[tokio::test]
async fn a_list_page_costs_the_same_reads_at_any_directory_size() {
    let bench = bench().await;
    let mut created = 0;
    let mut costs = Vec::new();
    for size in [250, 1_250] {
        while created < size {
            let user = okta_user(&format!("pager{created:05}@example.com"));
            let reply = bench.setup(http::Method::POST, "/Users", Some(&user)).await;
            assert_eq!(reply.status, 201, "{:?}", reply.body);
            created += 1;
        }
        let (mut most_requests, mut most_reads, mut seen) = (0, 0.0_f64, 0);
        let mut start = 1;
        loop {
            bench.meter.reset();
            let page = bench
                .metered(
                    http::Method::GET,
                    &format!("/Users?startIndex={start}&count=100"),
                    None,
                )
                .await;
            let report = bench.meter.take();
            assert_eq!(page.status, 200, "{:?}", page.body);
            assert_eq!(page.body["totalResults"], size, "exact at every page");
            let got = page.body["Resources"].as_array().expect("Resources").len();
            seen += got;
            // The last, shorter page says where the listing ends; the full pages are the
            // figure (a partial page reads less).
            if got == 100 {
                most_requests = most_requests.max(report.total_requests);
                most_reads = most_reads.max(report.read_units);
            }
            if got < 100 {
                break;
            }
            start += 100;
        }
        assert_eq!(seen, size, "every user listed once");
        println!(
            "{size} users: a full page costs at most {most_requests} requests, {most_reads} RCU"
        );
        costs.push((most_requests, most_reads));
    }
    // A page that read the directory would cost ten times more at 1,250.
    let (small, large) = (costs[0], costs[1]);
    assert_eq!(
        small, large,
        "the cost of a page changed with the directory's size"
    );
}
