//! The SAM template (`infra/template.yaml`) declares the tables `dsync_dynamo::tables::TABLES`
//! defines: same logical ids, key schemas, indexes, streams and TTL attributes. Either side
//! drifting fails this test.

use std::collections::BTreeSet;

use dsync_dynamo::tables::{KeySpec, StreamView, TableSpec, TABLES};
use serde_yaml::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_mapping()?.get(key)
}

fn str_of(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value:?}"))
}

fn seq_of(value: &Value) -> &[Value] {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("expected a list, got {value:?}"))
}

/// `KeySchema` as (hash, range); exactly one HASH and one RANGE element.
fn key_schema(owner: &str, schema: &Value) -> KeySpec {
    let elements = seq_of(schema);
    assert_eq!(
        elements.len(),
        2,
        "{owner}: KeySchema must have a HASH and a RANGE key"
    );
    let find = |kind: &str| -> &'static str {
        let element = elements
            .iter()
            .find(|e| get(e, "KeyType").map(str_of) == Some(kind))
            .unwrap_or_else(|| panic!("{owner}: no {kind} key"));
        // Leak to compare against the specs' 'static strs; a handful of short strings.
        Box::leak(
            str_of(&element["AttributeName"])
                .to_owned()
                .into_boxed_str(),
        )
    };
    KeySpec {
        hash: find("HASH"),
        range: find("RANGE"),
    }
}

/// `!Sub "…"` (a tagged string) or `Fn::Sub: "…"`, or a plain string.
fn table_name(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Tagged(tagged) if tagged.tag == "Sub" => str_of(&tagged.value).to_owned(),
        Value::Mapping(m) if m.contains_key("Fn::Sub") => str_of(&m["Fn::Sub"]).to_owned(),
        other => panic!("TableName must be a string or a Sub, got {other:?}"),
    }
}

fn check_table(resources: &Value, spec: &TableSpec) {
    let id = spec.logical_id;
    let resource = get(resources, id).unwrap_or_else(|| panic!("template has no resource {id}"));
    assert_eq!(
        get(resource, "Type").map(str_of),
        Some("AWS::DynamoDB::Table"),
        "{id}: wrong Type"
    );
    let props = get(resource, "Properties").unwrap_or_else(|| panic!("{id}: no Properties"));

    let name = table_name(&props["TableName"]);
    assert!(
        name.ends_with(&format!("-{}", spec.suffix)),
        "{id}: TableName {name:?} does not end with -{}",
        spec.suffix
    );
    assert_eq!(
        get(props, "BillingMode").map(str_of),
        Some("PAY_PER_REQUEST"),
        "{id}: tables are on-demand"
    );

    assert_eq!(
        key_schema(id, &props["KeySchema"]),
        spec.key,
        "{id}: KeySchema"
    );

    // Indexes: same names, same keys, all attributes projected.
    let template_gsis: Vec<&Value> = get(props, "GlobalSecondaryIndexes")
        .map(|g| seq_of(g).iter().collect())
        .unwrap_or_default();
    let template_names: BTreeSet<&str> = template_gsis
        .iter()
        .map(|g| str_of(&g["IndexName"]))
        .collect();
    let spec_names: BTreeSet<&str> = spec.gsis.iter().map(|g| g.name).collect();
    assert_eq!(template_names, spec_names, "{id}: GSI names");
    assert_eq!(template_gsis.len(), spec.gsis.len(), "{id}: duplicate GSIs");
    for gsi in spec.gsis {
        let declared = template_gsis
            .iter()
            .find(|g| str_of(&g["IndexName"]) == gsi.name)
            .expect("names compared above");
        let owner = format!("{id}.{}", gsi.name);
        assert_eq!(
            key_schema(&owner, &declared["KeySchema"]),
            gsi.key,
            "{owner}: KeySchema"
        );
        assert_eq!(
            str_of(&declared["Projection"]["ProjectionType"]),
            "ALL",
            "{owner}: projection"
        );
    }

    // Every key attribute is declared, as a string, and nothing else is (CloudFormation
    // rejects unused attribute definitions).
    let mut expected: BTreeSet<&str> = BTreeSet::from([spec.key.hash, spec.key.range]);
    for gsi in spec.gsis {
        expected.extend([gsi.key.hash, gsi.key.range]);
    }
    let definitions = seq_of(&props["AttributeDefinitions"]);
    let declared: BTreeSet<&str> = definitions
        .iter()
        .map(|d| str_of(&d["AttributeName"]))
        .collect();
    assert_eq!(declared, expected, "{id}: AttributeDefinitions");
    for definition in definitions {
        assert_eq!(
            str_of(&definition["AttributeType"]),
            "S",
            "{id}: keys are strings"
        );
    }

    let stream = get(props, "StreamSpecification").map(|s| str_of(&s["StreamViewType"]));
    let expected_stream = spec.stream.map(|view| match view {
        StreamView::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        StreamView::NewImage => "NEW_IMAGE",
    });
    assert_eq!(stream, expected_stream, "{id}: StreamViewType");

    let ttl = get(props, "TimeToLiveSpecification").map(|t| {
        assert_eq!(
            t["Enabled"].as_bool(),
            Some(true),
            "{id}: TTL declared but disabled"
        );
        str_of(&t["AttributeName"])
    });
    assert_eq!(ttl, spec.ttl_attribute, "{id}: TTL attribute");
}

#[test]
fn template_tables_match_table_specs() {
    let template = template();
    let resources = get(&template, "Resources").expect("template has Resources");
    for spec in TABLES {
        check_table(resources, spec);
    }
}

#[test]
fn template_declares_no_other_tables() {
    let template = template();
    let resources = get(&template, "Resources")
        .and_then(Value::as_mapping)
        .expect("template has Resources");
    let declared: BTreeSet<&str> = resources
        .iter()
        .filter(|(_, r)| get(r, "Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"))
        .map(|(id, _)| str_of(id))
        .collect();
    let specified: BTreeSet<&str> = TABLES.iter().map(|s| s.logical_id).collect();
    assert_eq!(
        declared, specified,
        "DynamoDB tables in the template vs TABLES"
    );
}

/// `!GetAtt Resource.Attribute` (tagged) or `Fn::GetAtt: [Resource, Attribute]`, as
/// "Resource.Attribute".
fn get_att(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged.value.as_str().map(str::to_owned),
        Value::Mapping(m) => {
            let parts = m.get("Fn::GetAtt")?.as_sequence()?;
            let parts: Option<Vec<&str>> = parts.iter().map(Value::as_str).collect();
            Some(parts?.join("."))
        }
        _ => None,
    }
}

/// Every `Allow` statement's actions that name `resource` (as a `!GetAtt`), over all of a
/// function's inline policies.
fn actions_on(function: &Value, resource: &str) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for policy in get(&function["Properties"], "Policies").map_or(&[][..], seq_of) {
        for statement in get(policy, "Statement").map_or(&[][..], seq_of) {
            let names_resource = seq_of(&statement["Resource"])
                .iter()
                .any(|r| get_att(r).as_deref() == Some(resource));
            if names_resource && str_of(&statement["Effect"]) == "Allow" {
                actions.extend(
                    seq_of(&statement["Action"])
                        .iter()
                        .map(|a| str_of(a).to_owned()),
                );
            }
        }
    }
    actions
}

/// ARCHITECTURE.md, docs/troubleshooting.md: stream batches report partial failures, and a
/// record that keeps failing ends in a dead-letter destination with an alarm, never silently
/// dropped. So every table stream in TABLES has a consumer wired that way, allowed to read the
/// stream and to send to the queue.
#[test]
fn every_table_stream_has_a_consumer_with_partial_failures_and_an_alarmed_dead_letter_queue() {
    let template = template();
    let resources = get(&template, "Resources")
        .and_then(Value::as_mapping)
        .expect("template has Resources");
    let alarmed_queues: BTreeSet<String> = resources
        .values()
        .filter(|r| get(r, "Type").and_then(Value::as_str) == Some("AWS::CloudWatch::Alarm"))
        .filter(|r| get(&r["Properties"], "Namespace").and_then(Value::as_str) == Some("AWS/SQS"))
        .flat_map(|r| seq_of(&r["Properties"]["Dimensions"]).to_vec())
        .filter_map(|d| get_att(&d["Value"]))
        .filter_map(|v| v.strip_suffix(".QueueName").map(str::to_owned))
        .collect();

    for spec in TABLES.iter().filter(|s| s.stream.is_some()) {
        let stream = format!("{}.StreamArn", spec.logical_id);
        let consumers: Vec<(&str, &Value, &Value)> = resources
            .iter()
            .filter(|(_, r)| {
                get(r, "Type").and_then(Value::as_str) == Some("AWS::Serverless::Function")
            })
            .flat_map(|(id, function)| {
                let events = get(&function["Properties"], "Events").and_then(Value::as_mapping);
                events
                    .into_iter()
                    .flat_map(|e| e.values())
                    .filter(|e| str_of(&e["Type"]) == "DynamoDB")
                    .filter(|e| get_att(&e["Properties"]["Stream"]).as_deref() == Some(&stream))
                    .map(move |e| (str_of(id), function, &e["Properties"]))
            })
            .collect();
        assert_eq!(
            consumers.len(),
            1,
            "{stream}: exactly one function consumes it"
        );
        let (function_id, function, source) = consumers[0];
        let owner = format!("{function_id} on {stream}");

        assert!(
            seq_of(&source["FunctionResponseTypes"])
                .iter()
                .any(|t| t.as_str() == Some("ReportBatchItemFailures")),
            "{owner}: reports partial batch failures"
        );
        assert_eq!(
            source["BisectBatchOnFunctionError"].as_bool(),
            Some(true),
            "{owner}: bisects a failing batch"
        );
        for bound in ["MaximumRetryAttempts", "MaximumRecordAgeInSeconds"] {
            let value = source[bound].as_i64();
            assert!(
                value.is_some_and(|v| v > 0),
                "{owner}: {bound} is bounded, got {value:?}"
            );
        }

        let on_failure = &source["DestinationConfig"]["OnFailure"];
        assert_eq!(
            str_of(&on_failure["Type"]),
            "SQS",
            "{owner}: dead letters go to SQS"
        );
        let queue = get_att(&on_failure["Destination"])
            .and_then(|d| d.strip_suffix(".Arn").map(str::to_owned))
            .unwrap_or_else(|| panic!("{owner}: OnFailure destination is a queue's !GetAtt Arn"));
        assert_eq!(
            get(&resources[queue.as_str()], "Type").and_then(Value::as_str),
            Some("AWS::SQS::Queue"),
            "{owner}: {queue} is a queue"
        );
        assert!(
            alarmed_queues.contains(&queue),
            "{owner}: an alarm watches {queue}"
        );
        assert!(
            actions_on(function, &format!("{queue}.Arn")).contains("sqs:SendMessage"),
            "{owner}: may send to {queue}"
        );

        let stream_actions = actions_on(function, &stream);
        for action in [
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        ] {
            assert!(stream_actions.contains(action), "{owner}: may {action}");
        }
    }
}

/// The environment variables the template sets on functions: from `Globals` and each
/// function's own `Environment`.
fn function_variables(template: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut add = |environment: Option<&Value>| {
        let variables = environment.and_then(|e| get(e, "Variables"));
        if let Some(map) = variables.and_then(Value::as_mapping) {
            names.extend(map.keys().map(|k| str_of(k).to_owned()));
        }
    };
    add(get(&template["Globals"]["Function"], "Environment"));
    let resources = template["Resources"].as_mapping().expect("Resources");
    for resource in resources.values() {
        add(get(&resource["Properties"], "Environment"));
    }
    names
}

/// Every `.rs` file's text under `dir`.
fn rust_sources(dir: &std::path::Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).expect("a source file"));
        }
    }
}

#[test]
fn every_variable_the_template_sets_is_read_by_the_code() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut code = String::new();
    for dir in ["functions", "shared"] {
        rust_sources(&root.join(dir), &mut code);
    }
    // Read by libraries, not by name in this repository: the tracing subscriber, and
    // lambda_http (which strips the stage from paths unless told not to).
    let external = ["RUST_LOG", "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH"];
    let variables = function_variables(&template());
    assert!(variables.contains("DSYNC_TABLE_PREFIX"), "{variables:?}");
    for name in variables {
        if external.contains(&name.as_str()) {
            continue;
        }
        assert!(
            code.contains(&format!("\"{name}\"")),
            "the template sets {name}, which no function reads: a parameter that does nothing"
        );
    }
}

/// docs/hr-webhooks.md: each HR directory's webhook URL is `POST /hr/{directory_id}` on the
/// provider-webhooks function, which may write the directory table only in the HR partition
/// (replay keys, sync reports) the store keys as `HRSOURCE#<directory_id>`.
#[test]
fn hr_webhooks_reach_the_provider_webhooks_function_which_writes_only_its_partition() {
    let template = template();
    let function = &template["Resources"]["ProviderWebhooksFunction"];
    let event = &function["Properties"]["Events"]["HrWebhooks"]["Properties"];
    assert_eq!(str_of(&event["Path"]), "/hr/{directory_id}");
    assert_eq!(str_of(&event["Method"]), "POST");
    let actions = actions_on(function, "DirectoryTable.Arn");
    let expected: BTreeSet<String> = [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(
        actions, expected,
        "the directory table: reads, and HR writes"
    );
    let statements = seq_of(&function["Properties"]["Policies"][0]["Statement"]);
    for statement in statements {
        let actions = seq_of(&statement["Action"]);
        let writes = actions
            .iter()
            .any(|a| matches!(str_of(a), "dynamodb:PutItem" | "dynamodb:DeleteItem"));
        let on_directory = seq_of(&statement["Resource"])
            .iter()
            .any(|r| get_att(r).as_deref() == Some("DirectoryTable.Arn"));
        if writes && on_directory {
            let keys = &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
            let keys: Vec<&str> = seq_of(keys).iter().map(str_of).collect();
            // Its own partitions only: HR state, and Google pull requests (below).
            assert!(
                keys == ["HRSOURCE#*"] || keys == ["GOOGLEPULL#*"],
                "{keys:?}"
            );
        }
    }
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let store = std::fs::read_to_string(workspace.join("shared/dynamo/src/hr_sources.rs"))
        .expect("the HR store module");
    assert!(store.contains(r#"format!("HRSOURCE#{directory}")"#));
}

/// docs/google-workspace.md, docs/hr-webhooks.md: Google Workspace credentials and HR secrets
/// are sealed with a key that only the API function (which seals them), the policy function
/// (whose schedule pulls and re-syncs) and the provider-webhooks function (which verifies HR
/// deliveries) receive, in
/// an environment encrypted with the template's own KMS key, which only their roles may
/// decrypt with; the policy function is scheduled with the action its entry point dispatches
/// and may write provider records.
#[test]
fn google_credentials_key_reaches_only_the_functions_that_seal_and_pull() {
    let template = template();
    let resources = &template["Resources"];
    assert_eq!(
        str_of(&resources["GoogleCredentialsKey"]["Type"]),
        "AWS::KMS::Key"
    );
    assert_eq!(
        resources["GoogleCredentialsKey"]["Properties"]["EnableKeyRotation"],
        Value::Bool(true)
    );
    let variable = dsync_google::SEALING_KEY_VARIABLE;
    let functions = resources.as_mapping().expect("Resources");
    for (name, function) in functions {
        if str_of(&function["Type"]) != "AWS::Serverless::Function" {
            continue;
        }
        let name = str_of(name);
        let properties = &function["Properties"];
        let has_key = get(properties, "Environment")
            .and_then(|e| get(e, "Variables"))
            .and_then(|v| get(v, variable))
            .is_some();
        let expected = matches!(
            name,
            "ApiFunction" | "PolicyFunction" | "ProviderWebhooksFunction"
        );
        assert_eq!(has_key, expected, "{name}: {variable}");
        let decrypts = actions_on(function, "GoogleCredentialsKey.Arn").contains("kms:Decrypt");
        assert_eq!(
            decrypts, expected,
            "{name}: kms:Decrypt on GoogleCredentialsKey"
        );
        if expected {
            let kms = get(properties, "KmsKeyArn").and_then(get_att);
            assert_eq!(
                kms.as_deref(),
                Some("GoogleCredentialsKey.Arn"),
                "{name}: KmsKeyArn"
            );
        }
    }
    let policy = &resources["PolicyFunction"];
    let events = get(&policy["Properties"], "Events").expect("policy events");
    let pull = get(events, "PullGoogleWorkspace").expect("a pull schedule");
    assert_eq!(str_of(&pull["Type"]), "Schedule");
    let input: serde_json::Value =
        serde_json::from_str(str_of(&pull["Properties"]["Input"])).expect("JSON input");
    let main = include_str!("../functions/policy/src/main.rs");
    let action = input["action"].as_str().expect("an action");
    assert!(
        main.contains(&format!("Some(\"{action}\")")),
        "policy main dispatches {action}"
    );
    let writes = actions_on(policy, "ProviderRecordsTable.Arn");
    for action in [
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:TransactWriteItems",
    ] {
        assert!(
            writes.contains(action),
            "the pull needs {action}: {writes:?}"
        );
    }
}

/// docs/google-workspace.md: Google delivers push notifications to
/// `POST /google/{directory_id}/notifications` on the provider-webhooks function, which may
/// write the directory table only to mark a pull requested (`GOOGLEPULL#<directory_id>`,
/// PutItem alone); the policy function runs those pulls on a one-minute schedule whose action
/// its entry point dispatches; the functions that pull know where notifications go.
#[test]
fn google_notifications_reach_the_provider_webhooks_function_which_may_only_request_pulls() {
    let template = template();
    let resources = &template["Resources"];
    let function = &resources["ProviderWebhooksFunction"];
    let event = &function["Properties"]["Events"]["GoogleNotifications"]["Properties"];
    assert_eq!(
        str_of(&event["Path"]),
        "/google/{directory_id}/notifications"
    );
    assert_eq!(str_of(&event["Method"]), "POST");
    let statements = seq_of(&function["Properties"]["Policies"][0]["Statement"]);
    let google: Vec<&Value> = statements
        .iter()
        .filter(|s| {
            let keys = &s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
            keys.as_sequence()
                .is_some_and(|keys| keys.iter().any(|k| str_of(k) == "GOOGLEPULL#*"))
        })
        .collect();
    assert_eq!(google.len(), 1, "one statement for pull requests");
    let actions: Vec<&str> = seq_of(&google[0]["Action"]).iter().map(str_of).collect();
    assert_eq!(actions, ["dynamodb:PutItem"]);
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let store = std::fs::read_to_string(workspace.join("shared/dynamo/src/google_push.rs"))
        .expect("the Google push store module");
    assert!(store.contains(r#"format!("GOOGLEPULL#{directory}")"#));
    let handler =
        std::fs::read_to_string(workspace.join("functions/provider-webhooks/src/google_push.rs"))
            .expect("the notification handler");
    assert!(handler.contains(r#"const PREFIX: &str = "/google/";"#));
    assert!(handler.contains(r#"const SUFFIX: &str = "/notifications";"#));

    let policy = &resources["PolicyFunction"];
    let schedule = get(&policy["Properties"]["Events"], "PullGoogleRequested")
        .expect("a schedule for requested pulls");
    assert_eq!(str_of(&schedule["Type"]), "Schedule");
    assert_eq!(
        str_of(&schedule["Properties"]["Schedule"]),
        "rate(1 minute)"
    );
    let input: serde_json::Value =
        serde_json::from_str(str_of(&schedule["Properties"]["Input"])).expect("JSON input");
    let action = input["action"].as_str().expect("an action");
    let main = include_str!("../functions/policy/src/main.rs");
    assert!(
        main.contains(&format!("Some(\"{action}\")")),
        "policy main dispatches {action}"
    );
    let variable = dsync_google::PUSH_BASE_URL_VARIABLE;
    for name in ["PolicyFunction", "ApiFunction"] {
        let variables = &resources[name]["Properties"]["Environment"]["Variables"];
        assert!(get(variables, variable).is_some(), "{name}: {variable}");
    }
    // A pull that finds its directory deleted purges the provider records it wrote.
    let writes = actions_on(policy, "ProviderRecordsTable.Arn");
    assert!(writes.contains("dynamodb:BatchWriteItem"), "{writes:?}");
}

/// docs/hr-webhooks.md: BambooHR directories are re-synced on the policy function's schedule,
/// with the action its entry point dispatches; the re-sync writes provider records and keeps
/// its lease and checkpoint in the directory table (conditional updates, one transaction to
/// finish).
#[test]
fn bamboohr_resync_runs_on_the_policy_functions_schedule() {
    let template = template();
    let policy = &template["Resources"]["PolicyFunction"];
    let events = get(&policy["Properties"], "Events").expect("policy events");
    let resync = get(events, "ResyncBambooHr").expect("a re-sync schedule");
    assert_eq!(str_of(&resync["Type"]), "Schedule");
    let input: serde_json::Value =
        serde_json::from_str(str_of(&resync["Properties"]["Input"])).expect("JSON input");
    let action = input["action"].as_str().expect("an action");
    assert_eq!(action, "resync_hr");
    let main = include_str!("../functions/policy/src/main.rs");
    assert!(
        main.contains(&format!("Some(\"{action}\")")),
        "policy main dispatches {action}"
    );
    let provider_writes = actions_on(policy, "ProviderRecordsTable.Arn");
    let directory_writes = actions_on(policy, "DirectoryTable.Arn");
    for action in ["dynamodb:PutItem", "dynamodb:TransactWriteItems"] {
        assert!(
            provider_writes.contains(action),
            "{action} on provider records"
        );
    }
    for action in [
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:TransactWriteItems",
    ] {
        assert!(
            directory_writes.contains(action),
            "{action} on the directory table"
        );
    }
}

/// The local runner delivers the provider-records stream in batches of the size the template's
/// mapping does, so what is measured locally is what Lambda sees.
#[test]
fn the_policy_functions_stream_batches_are_the_runners() {
    let template = template();
    let policy = &template["Resources"]["PolicyFunction"];
    let events = get(&policy["Properties"], "Events").expect("policy events");
    let stream = get(events, "ProviderRecordsStream").expect("the provider-records stream");
    let batch = stream["Properties"]["BatchSize"]
        .as_u64()
        .expect("a BatchSize");
    assert_eq!(batch as usize, dsync_policy::stream::BATCH_SIZE);
    assert!(
        get(&stream["Properties"], "ParallelizationFactor").is_none(),
        "one batch per shard at a time: the group commit is per instance"
    );
    let pipeline = include_str!("../infra/local/src/pipeline.rs");
    assert!(pipeline.contains("source.batch_size = stream::BATCH_SIZE"));
}
