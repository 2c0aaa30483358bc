//! CPU cost of the domain's hot paths, with their targets: a SCIM PATCH parsed (from the
//! request bytes) and applied ≤ 20 µs, a filter parsed ≤ 5 µs, a user in 10 groups projected
//! ≤ 10 µs.
//!
//! `cargo bench -p dsync-domain --bench domain_cpu` (or `bash benches/run-all.sh`). A small
//! harness of its own rather than criterion, so the benchmark builds from the crates the
//! workspace already has: each case is warmed up, then timed in 15 samples of enough
//! iterations to last ~40 ms each; the table gives the median sample's time per iteration.
//!
//! Wall time on a shared machine is noisy, so each case can also be run a fixed number of
//! times for an instruction count under callgrind, which load does not change:
//! `DOMAIN_CPU_ITERATIONS=1000 valgrind --tool=callgrind <bench binary> projection` runs every
//! case whose label contains `projection` 1000 times, untimed (subtract a run with
//! `DOMAIN_CPU_ITERATIONS=0` for the set-up's share, then divide by 1000).

use std::hint::black_box;
use std::time::{Duration, Instant};

use dsync_domain::directory::{project_user, DirectoryGroup, UserInput};
use dsync_domain::ids::{DirectoryGroupId, DirectoryId, ProviderGroupId, ProviderUserId};
use dsync_domain::model::{
    DirectoryMappings, EnvironmentSettings, InactiveUserPolicy, ProviderUser,
};
use dsync_domain::scim::filter::Filter;
use dsync_domain::scim::patch::{parse_patch, patched_user};
use serde_json::{json, Value};

const SAMPLES: usize = 15;
const SAMPLE_TIME: Duration = Duration::from_millis(40);

fn main() {
    let mode = Mode::from_env();
    if matches!(mode, Mode::Timed { .. }) {
        println!("| domain CPU | median per op | target | within |");
        println!("| --- | ---: | ---: | --- |");
    }
    let user = provider_resource();
    let patch = br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}},{"op":"replace","path":"name.givenName","value":"Janet"},{"op":"add","path":"emails[type eq \"work\"].value","value":"janet@acme.test"}]}"#;
    mode.report("SCIM PATCH parse + apply (3 operations)", 20.0, || {
        let body: Value = serde_json::from_slice(black_box(patch)).expect("json");
        let request = parse_patch(&body).expect("a patch");
        // As the SCIM handler does: a copy of the stored record, patched.
        patched_user(user.clone(), &request).expect("applies")
    });
    let filter = r#"userName eq "jane@acme.test" and (emails[type eq "work" and value co "@acme"] or not (title pr))"#;
    mode.report("SCIM filter parse (compound, 5 comparisons)", 5.0, || {
        Filter::parse(black_box(filter)).expect("a filter")
    });

    let directory_id = DirectoryId::generate();
    let settings = EnvironmentSettings {
        inactive_user_policy: InactiveUserPolicy::Delete,
        inactive_user_retention_days: None,
        ..EnvironmentSettings::default()
    };
    let mappings = DirectoryMappings::default();
    let groups: Vec<DirectoryGroup> = (0..10).map(|i| group(directory_id, i)).collect();
    let provider = ProviderUser {
        id: ProviderUserId::generate(),
        directory_id,
        version: 1,
        user_name: "jane@acme.test".into(),
        external_id: Some("00u-jane".into()),
        active: true,
        resource: user.clone(),
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_000,
        inactive_since: None,
    };
    let input = |current| UserInput {
        provider: Some(&provider),
        settings: &settings,
        mappings: &mappings,
        current,
        provider_groups: &groups,
        current_groups: if current.is_some() { &groups } else { &[] },
        organization_id: Some("org_acme"),
        now: 1_700_000_000_000,
    };
    mode.report(
        "projection: new user joining 10 groups (11 events)",
        10.0,
        || project_user(black_box(&input(None))),
    );
    let created = project_user(&input(None))
        .user
        .apply(None)
        .expect("a created user");
    let mut changed = provider.clone();
    changed.resource["title"] = json!("Principal Engineer");
    mode.report(
        "projection: user in 10 groups, title changed (1 event)",
        10.0,
        || {
            project_user(black_box(&UserInput {
                provider: Some(&changed),
                ..input(Some(&created))
            }))
        },
    );
}

fn provider_resource() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "userName": "jane@acme.test",
        "externalId": "00u-jane",
        "name": {"givenName": "Jane", "familyName": "Doe", "formatted": "Jane Doe"},
        "displayName": "Jane Doe",
        "emails": [
            {"value": "jane@acme.test", "type": "work", "primary": true},
            {"value": "jane@home.test", "type": "home"}
        ],
        "title": "Engineer",
        "active": true,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "R&D", "employeeNumber": "1042"
        }
    })
}

fn group(directory_id: DirectoryId, i: usize) -> DirectoryGroup {
    let provider_group_id = ProviderGroupId::generate();
    DirectoryGroup {
        id: DirectoryGroupId::generate(),
        directory_id,
        provider_group_id,
        name: format!("Group {i}"),
        idp_id: provider_group_id.to_string(),
        raw_attributes: json!({ "displayName": format!("Group {i}") }),
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_000,
    }
}

/// How the cases run: timed against their targets, or a fixed number of times for callgrind.
enum Mode {
    Timed {
        filter: Option<String>,
    },
    Counted {
        filter: Option<String>,
        iterations: u64,
    },
}

impl Mode {
    /// The first argument that is not a flag (cargo passes `--bench`) selects the cases whose
    /// label contains it; `DOMAIN_CPU_ITERATIONS` switches to counted runs.
    fn from_env() -> Self {
        let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
        match std::env::var("DOMAIN_CPU_ITERATIONS") {
            Ok(n) => Self::Counted {
                filter,
                iterations: n.parse().expect("DOMAIN_CPU_ITERATIONS is a count"),
            },
            Err(_) => Self::Timed { filter },
        }
    }

    fn report<T>(&self, label: &str, target_us: f64, mut op: impl FnMut() -> T) {
        let (Self::Timed { filter } | Self::Counted { filter, .. }) = self;
        if filter.as_deref().is_some_and(|f| !label.contains(f)) {
            return;
        }
        match self {
            Self::Timed { .. } => timed(label, target_us, op),
            Self::Counted { iterations, .. } => {
                for _ in 0..*iterations {
                    black_box(op());
                }
            }
        }
    }
}

/// Times `op` and prints a row: median µs per call against `target_us`.
fn timed<T>(label: &str, target_us: f64, mut op: impl FnMut() -> T) {
    let warm = Instant::now();
    let mut per_sample = 0u64;
    while warm.elapsed() < SAMPLE_TIME {
        black_box(op());
        per_sample += 1;
    }
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..per_sample {
                black_box(op());
            }
            started.elapsed().as_secs_f64() * 1e6 / per_sample as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let median = samples[SAMPLES / 2];
    let within = if median <= target_us { "yes" } else { "NO" };
    println!("| {label} | {median:.2} µs | ≤ {target_us} µs | {within} |");
}
