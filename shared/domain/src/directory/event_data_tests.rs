//! Event payloads are written as text straight from the records; what subscribers receive
//! must stay byte for byte what serializing the `Value` payloads gave. The references here
//! build those payloads the way they were built before, field by field.

use serde_json::{json, Value};

use crate::ids::{DirectoryId, DirectoryUserId, ProviderUserId};
use crate::time::format_millis;

use super::events::{EventDraft, GROUP_USER_ADDED, GROUP_USER_REMOVED};
use super::limits::{cap_raw_attributes, MAX_EVENT_RAW_BYTES, TRUNCATED_MARKER};
use super::model::{DirectoryGroup, DirectoryUser, Email, UserAttributes, UserState};
use super::test_support::{directory_group, ORG};

fn user(directory_id: DirectoryId) -> DirectoryUser {
    DirectoryUser {
        id: DirectoryUserId::generate(),
        directory_id,
        provider_user_id: ProviderUserId::generate(),
        state: UserState::Active,
        attributes: UserAttributes {
            idp_id: "00u-zoë".into(),
            username: "zoe@acme.test".into(),
            email: Some("zoe@acme.test".into()),
            emails: vec![
                Email {
                    primary: true,
                    r#type: Some("work".into()),
                    value: "zoe@acme.test".into(),
                },
                Email {
                    primary: false,
                    r#type: None,
                    value: "z\"o\\e@home.test".into(),
                },
            ],
            first_name: Some("Zoë \"Q\" </script>\n".into()),
            // DEL is not escaped, by `serde_json` or here.
            last_name: Some("Dœ\u{7f}".into()),
            job_title: Some("Engineer\u{1F600}\u{7f}\u{1}".into()),
            custom_attributes: json!({"department": "R&D", "cost_center": 12.5, "z": [1, null]})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            raw_attributes: json!({
                "userName": "zoe@acme.test",
                "name": {"givenName": "Zoë", "familyName": null},
                "n": [1, -2, 3.25, 1e300, true],
            }),
            role: Some(json!({"slug": "admin"})),
            roles: vec![json!({"slug": "admin"}), json!({"slug": "member"})],
            name: Some("Zoë Q".into()),
        },
        inactive_since: None,
        created_at: 1_700_000_000_123,
        updated_at: 1_700_000_000_000,
    }
}

/// The Directory User object as it was built before payloads were written as text.
fn reference_user(user: &DirectoryUser, organization_id: Option<&str>) -> Value {
    let a = &user.attributes;
    let mut raw = a.raw_attributes.clone();
    cap_raw_attributes(&mut raw);
    json!({
        "object": "directory_user",
        "id": user.id.to_string(),
        "directory_id": user.directory_id.to_string(),
        "organization_id": organization_id,
        "idp_id": a.idp_id,
        "email": a.email,
        "first_name": a.first_name,
        "last_name": a.last_name,
        "name": a.name,
        "username": a.username,
        "state": user.state.as_str(),
        "emails": a.emails.iter().map(|e| json!({
            "primary": e.primary, "type": e.r#type, "value": e.value
        })).collect::<Vec<_>>(),
        "job_title": a.job_title,
        "custom_attributes": a.custom_attributes,
        "raw_attributes": raw,
        "role": a.role.clone().unwrap_or(Value::Null),
        "roles": a.roles,
        "created_at": format_millis(user.created_at),
        "updated_at": format_millis(user.updated_at),
    })
}

fn reference_group(group: &DirectoryGroup, organization_id: Option<&str>) -> Value {
    let mut raw = group.raw_attributes.clone();
    cap_raw_attributes(&mut raw);
    json!({
        "object": "directory_group",
        "id": group.id.to_string(),
        "idp_id": group.idp_id,
        "directory_id": group.directory_id.to_string(),
        "organization_id": organization_id,
        "name": group.name,
        "raw_attributes": raw,
        "created_at": format_millis(group.created_at),
        "updated_at": format_millis(group.updated_at),
    })
}

#[test]
fn user_events_are_the_objects_text() {
    let user = user(DirectoryId::generate());
    for org in [Some(ORG), None] {
        let expected = reference_user(&user, org).to_string();
        assert_eq!(EventDraft::user_created(&user, org).data.as_str(), expected);
        assert_eq!(EventDraft::user_deleted(&user, org).data.as_str(), expected);
    }
}

#[test]
fn an_update_is_the_new_object_with_its_previous_values() {
    let old = user(DirectoryId::generate());
    let mut new = old.clone();
    new.attributes.job_title = Some("Principal".into());
    new.attributes.custom_attributes.remove("z");
    new.updated_at += 1;
    let mut expected = reference_user(&new, Some(ORG));
    expected["previous_attributes"] = json!({
        "job_title": old.attributes.job_title,
        "custom_attributes": {"z": [1, null]},
    });
    let event = EventDraft::user_updated(&old, &new, Some(ORG)).expect("an update");
    assert_eq!(event.data.as_str(), expected.to_string());
}

#[test]
fn membership_events_splice_the_same_user_object_into_each() {
    let directory_id = DirectoryId::generate();
    let user = user(directory_id);
    let groups = [
        directory_group(directory_id, "Eng \"core\""),
        directory_group(directory_id, "Ops"),
    ];
    let added = EventDraft::users_added(&user, &groups, Some(ORG));
    let removed = EventDraft::users_removed(&user, &groups, None);
    for (events, name, org) in [
        (added, GROUP_USER_ADDED, Some(ORG)),
        (removed, GROUP_USER_REMOVED, None),
    ] {
        assert_eq!(events.len(), groups.len());
        for (event, group) in events.iter().zip(&groups) {
            let expected = json!({
                "directory_id": directory_id.to_string(),
                "user": reference_user(&user, org),
                "group": reference_group(group, org),
            });
            assert_eq!(event.name, name);
            assert_eq!(event.data.as_str(), expected.to_string());
        }
    }
    let one = EventDraft::user_added(&user, &groups[1], Some(ORG));
    assert_eq!(
        one.data,
        EventDraft::users_added(&user, &groups[1..], Some(ORG))[0].data
    );
}

#[test]
fn group_events_are_the_objects_text() {
    let group = directory_group(DirectoryId::generate(), "Eng");
    let expected = reference_group(&group, Some(ORG)).to_string();
    assert_eq!(
        EventDraft::group_created(&group, Some(ORG)).data.as_str(),
        expected
    );
    assert_eq!(
        EventDraft::group_deleted(&group, Some(ORG)).data.as_str(),
        expected
    );
}

#[test]
fn large_raw_attributes_are_capped_in_every_event() {
    let directory_id = DirectoryId::generate();
    let mut user = user(directory_id);
    user.attributes.raw_attributes["photo"] = json!("p".repeat(MAX_EVENT_RAW_BYTES));
    let mut group = directory_group(directory_id, "Eng");
    group.raw_attributes["blob"] = json!("b".repeat(2 * MAX_EVENT_RAW_BYTES));
    let created = EventDraft::user_created(&user, None).data;
    assert_eq!(created.as_str(), reference_user(&user, None).to_string());
    assert!(created.to_value()["raw_attributes"]["photo"][TRUNCATED_MARKER].is_object());
    let added = &EventDraft::users_added(&user, [&group], None)[0].data;
    let data = added.to_value();
    assert!(data["user"]["raw_attributes"]["photo"][TRUNCATED_MARKER].is_object());
    assert!(data["group"]["raw_attributes"]["blob"][TRUNCATED_MARKER].is_object());
    assert!(added.as_str().len() < 4 * MAX_EVENT_RAW_BYTES);
}
