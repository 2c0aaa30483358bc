//! Turns at an environment's log head: a process that has lost a race for the head asks for
//! the turn (one small conditional write) before it sends a transaction, so it sends none
//! while another holds the turn; a holder's commit ends the turn; a turn that lapsed, or
//! was set further ahead than any holder could set it, holds nobody up.

use aws_sdk_dynamodb::types::AttributeValue;
use dsync_domain::ids::ProviderUserId;
use dsync_domain::time::now_millis;
use dsync_dynamo::metering::{metered_client, Meter, MeterReport};
use dsync_policy::project::{plan_user, project_user, DirectoryContext};
use dsync_tests::{spawn_app_without_stream_processing, TestApp};

use super::group_commit::{commit_all, create_users_named, plan_all, project_until_done, scope};

/// Two processes over one app: `plain` and a metered one, each with its own caches.
struct Processes {
    app: TestApp,
    context: DirectoryContext,
    plain: dsync_policy::App,
    metered: dsync_policy::App,
    meter: Meter,
    users: Vec<ProviderUserId>,
}

async fn processes(users: usize) -> Processes {
    let app = spawn_app_without_stream_processing().await;
    let plain = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&plain).await;
    let meter = Meter::new();
    let metered = dsync_policy::App::new(dsync_dynamo::Store::new(
        metered_client(&app.running.endpoint, &meter),
        app.store().tables().clone(),
    ));
    let ids = create_users_named(&app, "turn", users).await;
    Processes {
        app,
        context,
        plain,
        metered,
        meter,
        users: ids,
    }
}

impl Processes {
    /// The metered process commits, the plain one commits after it, and the metered one,
    /// numbering its next commit after the head it remembers, loses that race: from then on
    /// it contends for the environment. Uses the first three users.
    async fn contend(&self) {
        project_user(&self.metered, &self.context, &self.users[0])
            .await
            .unwrap();
        project_user(&self.plain, &self.context, &self.users[1])
            .await
            .unwrap();
        self.meter.reset();
        project_user(&self.metered, &self.context, &self.users[2])
            .await
            .unwrap();
        let report = self.meter.take();
        assert_eq!(
            report.requests_by_operation.get("TransactWriteItems"),
            Some(&2),
            "the remembered head lost, then the commit went through: {report:?}"
        );
    }

    /// `users` committed at once by the metered process, as a stream batch's projections.
    async fn commit_at_once(&self, users: &[ProviderUserId]) -> MeterReport {
        let plans = plan_all(&self.metered, &self.context, users).await;
        self.meter.reset();
        for events in commit_all(&self.metered, &self.context, users, &plans).await {
            assert_eq!(
                events.expect("committed").len(),
                1,
                "its dsync.user.created"
            );
        }
        self.meter.take()
    }

    fn head_key(&self) -> [(String, AttributeValue); 2] {
        let environment = self.context.directory().environment_id;
        [
            (
                "pk".to_owned(),
                AttributeValue::S(format!("ENV#{environment}")),
            ),
            ("sk".to_owned(), AttributeValue::S("EVENT_HEAD".to_owned())),
        ]
    }

    /// Another process's turn, ending `until` (milliseconds since the epoch).
    async fn hold_turn_elsewhere(&self, until: i64) {
        let store = self.app.store();
        store
            .client()
            .update_item()
            .table_name(&store.tables().directory)
            .set_key(Some(self.head_key().into_iter().collect()))
            .update_expression("SET turn_owner = :other, turn_until = :until")
            .expression_attribute_values(":other", AttributeValue::S("elsewhere".into()))
            .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
            .send()
            .await
            .expect("the turn taken");
    }

    async fn turn_holder(&self) -> Option<String> {
        let store = self.app.store();
        let head = store
            .client()
            .get_item()
            .table_name(&store.tables().directory)
            .set_key(Some(self.head_key().into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .expect("the head")
            .item
            .expect("a head");
        head.get("turn_owner")
            .and_then(|owner| owner.as_s().ok())
            .cloned()
    }

    /// The log's sequence numbers, in order.
    async fn sequences(&self) -> Vec<u64> {
        self.app
            .events_after(None)
            .await
            .iter()
            .map(|e| dsync_domain::ids::EventId::parse(e["id"].as_str().unwrap()).unwrap())
            .map(|id| id.sequence())
            .collect()
    }
}

/// While another process holds the turn, a contending process sends no transaction: it asks
/// again (each ask a refused conditional write) until the turn ends, then commits its
/// waiting commits together in one transaction, which ends its own turn.
#[tokio::test]
async fn a_contending_process_sends_no_transaction_while_another_holds_the_turn() {
    let processes = processes(5).await;
    processes.contend().await;
    processes.hold_turn_elsewhere(now_millis() + 400).await;

    let report = processes.commit_at_once(&processes.users[3..]).await;

    assert_eq!(
        report.requests_by_operation.get("TransactWriteItems"),
        Some(&1),
        "one transaction, sent on its turn: {report:?}"
    );
    let asks = report.requests_by_operation["UpdateItem"];
    assert!(asks >= 2, "asked, was refused, asked again: {report:?}");
    assert_eq!(
        report.failed_requests,
        asks - 1,
        "only the asks were refused"
    );
    assert_eq!(
        processes.turn_holder().await,
        None,
        "the commit ended its turn"
    );
    let sequences = processes.sequences().await;
    assert_eq!(sequences, (1..=sequences.len() as u64).collect::<Vec<_>>());
    assert_eq!(sequences.len(), 5, "each user's dsync.user.created, once");
}

/// A holder whose commits all fail on their own conditions (planned from a state that changed
/// since) ends its turn at once instead of holding the environment's other writers up until
/// it lapses.
#[tokio::test]
async fn a_turn_on_which_nothing_committed_is_ended() {
    let processes = processes(4).await;
    processes.contend().await;
    let stale = plan_user(&processes.metered, &processes.context, &processes.users[3])
        .await
        .unwrap();
    project_user(&processes.plain, &processes.context, &processes.users[3])
        .await
        .unwrap();
    processes.meter.reset();
    let outcome = processes
        .metered
        .store
        .commit_user_plan(
            &scope(&processes.context),
            &processes.users[3],
            &stale.before,
            &stale.outcome,
            stale.now,
            dsync_dynamo::PlannedFrom::default(),
        )
        .await;
    assert!(
        matches!(outcome, Err(dsync_dynamo::StoreError::Conflict)),
        "{outcome:?}"
    );
    // The turn is ended after the commit was answered, by the process's drain. A lapsed
    // turn keeps its attributes, so finding none proves it was ended.
    for _ in 0..300 {
        if processes.turn_holder().await.is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(processes.turn_holder().await, None, "the turn ended");
    let report = processes.meter.take();
    assert_eq!(
        report.requests_summary(),
        "TransactWriteItems×1 UpdateItem×2",
        "the turn taken, the stale commit refused, the turn ended"
    );
}

/// A turn ending further ahead than any holder could set it (a clock far ahead) holds up
/// nobody: the contending process takes it at once.
#[tokio::test]
async fn a_turn_set_too_far_ahead_counts_as_lapsed() {
    let processes = processes(4).await;
    processes.contend().await;
    processes
        .hold_turn_elsewhere(now_millis() + 10 * 60_000)
        .await;

    let report = processes.commit_at_once(&processes.users[3..]).await;

    assert_eq!(report.failed_requests, 0, "{report:?}");
    assert_eq!(
        report.requests_summary(),
        "TransactWriteItems×1 UpdateItem×1",
        "the turn taken, then the commit"
    );
    assert_eq!(processes.turn_holder().await, None);
}

/// A process that never lost a race asks for no turn: it commits after the head it
/// remembers, as before.
#[tokio::test]
async fn a_process_nobody_raced_asks_for_no_turn() {
    let processes = processes(2).await;
    project_user(&processes.metered, &processes.context, &processes.users[0])
        .await
        .unwrap();
    let report = processes.commit_at_once(&processes.users[1..]).await;
    assert_eq!(report.requests_summary(), "TransactWriteItems×1");
}

/// Four processes projecting users of one environment at once, with about 30 % of their
/// DynamoDB calls failing (throttles, conflicts, server errors, answers lost after the engine
/// committed, the turn's asks included): they race, lose, take turns, and each user is
/// projected again until it succeeds, as a retried stream batch is. Each user is created
/// exactly once, the log has no gap, and the directory counts each user once.
#[tokio::test]
async fn racing_processes_under_faults_commit_each_user_once() {
    use dsync_dynamo::faults::{faulty_client, Faults};

    const PROCESSES: u64 = 4;
    let app = spawn_app_without_stream_processing().await;
    let plain = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&plain).await;
    let users = create_users_named(&app, "racer", 48).await;
    let faults: Vec<Faults> = (0..PROCESSES).map(|seed| Faults::new(seed, 0.3)).collect();

    let runs = faults.iter().enumerate().map(|(index, faults)| {
        let process = dsync_policy::App::new(dsync_dynamo::Store::new(
            faulty_client(&app.running.endpoint, faults, 1),
            app.store().tables().clone(),
        ));
        let mine: Vec<ProviderUserId> = users
            .iter()
            .skip(index)
            .step_by(PROCESSES as usize)
            .copied()
            .collect();
        let context = &context;
        async move { project_until_done(&process, context, mine, 100).await }
    });
    let never: Vec<ProviderUserId> = futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(never.is_empty(), "{} users never projected", never.len());
    let lost_answers: u64 = faults.iter().map(|f| f.counts().ambiguous_commits).sum();
    assert!(lost_answers > 0, "no committed write was reported failed");

    super::group_commit::assert_only_creates_logged(&app, &context, 48).await;
}
