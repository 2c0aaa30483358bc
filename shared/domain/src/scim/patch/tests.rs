//! PATCH tests, table-driven from request bodies real IdPs send (Okta, Entra ID, OneLogin,
//! JumpCloud), plus property tests.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::scim::resource::normalize;
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use crate::scim::ScimErrorType;

const ENTERPRISE: &str = ENTERPRISE_USER_SCHEMA;

fn document(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
}

fn patch_user(resource: &Value, operations: Value) -> Result<Value, ScimError> {
    let request = parse_patch(&document(operations))?;
    let mut resource = resource.clone();
    apply_user_patch(&mut resource, &request)?;
    Ok(resource)
}

fn patch_group(
    resource: &Value,
    operations: Value,
) -> Result<(Value, Vec<MemberChange>), ScimError> {
    let request = parse_patch(&document(operations))?;
    let mut resource = resource.clone();
    let changes = apply_group_patch(&mut resource, &request)?;
    Ok((resource, changes))
}

/// A stored user, as POST left it (normalized, so without `id`, `meta`, `groups`).
fn alice() -> Value {
    let body = json!({
        "userName": "alice@example.com",
        "externalId": "ext-alice",
        "name": {"givenName": "Alice", "familyName": "Smith", "middleName": "J"},
        "displayName": "Alice Smith",
        "active": true,
        "emails": [
            {"value": "alice@example.com", "type": "work", "primary": true},
            {"value": "alice@home.example", "type": "home"}
        ]
    });
    match normalize(ResourceKind::User, body) {
        Ok(normalized) => normalized.resource,
        Err(e) => panic!("fixture: {e}"),
    }
}

fn engineering() -> Value {
    json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering", "externalId": "grp-1"})
}

/// `alice()` with `changes` merged in at the top level (`null` removes).
fn alice_with(changes: Value) -> Value {
    let mut user = alice();
    if let (Some(user), Some(changes)) = (user.as_object_mut(), changes.as_object()) {
        for (key, value) in changes {
            if value.is_null() {
                user.remove(key);
            } else {
                user.insert(key.clone(), value.clone());
            }
        }
    }
    user
}

fn member(id: &str) -> MemberRef {
    MemberRef {
        value: id.to_owned(),
        display: None,
    }
}

#[test]
fn user_patches_from_real_idps() {
    let work_and_home = |work: &str| {
        json!([
            {"value": work, "type": "work", "primary": true},
            {"value": "alice@home.example", "type": "home"}
        ])
    };
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "okta: deactivate with a path-less replace",
            json!([{"op": "replace", "value": {"active": false}}]),
            alice_with(json!({"active": false})),
        ),
        (
            "entra: capitalized op, boolean as the string False",
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
            alice_with(json!({"active": false})),
        ),
        (
            "entra: one op per attribute",
            json!([
                {"op": "Replace", "path": "displayName", "value": "Alice Jones"},
                {"op": "Replace", "path": "name.familyName", "value": "Jones"},
                {"op": "Add", "path": "title", "value": "Engineer"},
                {"op": "Replace", "path": "externalId", "value": "ext-2"}
            ]),
            alice_with(json!({
                "displayName": "Alice Jones",
                "name": {"givenName": "Alice", "familyName": "Jones", "middleName": "J"},
                "title": "Engineer",
                "externalId": "ext-2"
            })),
        ),
        (
            "entra: name.givenName",
            json!([{"op": "Replace", "path": "name.givenName", "value": "Alicia"}]),
            alice_with(json!({"name": {"givenName": "Alicia", "familyName": "Smith", "middleName": "J"}})),
        ),
        (
            "entra: work email value through a value path",
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice@new.example"}]),
            alice_with(json!({"emails": work_and_home("alice@new.example")})),
        ),
        (
            "entra: enterprise attributes, bare-string manager",
            json!([
                {"op": "Add", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "1001"},
                {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "R&D"},
                {"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": "mgr-1"}
            ]),
            alice_with(json!({
                "schemas": [USER_SCHEMA, ENTERPRISE],
                ENTERPRISE: {"employeeNumber": "1001", "department": "R&D", "manager": {"value": "mgr-1"}}
            })),
        ),
        (
            "entra: manager.value path, extension URN in any case",
            json!([{"op": "Add", "path": format!("{}:manager.value", ENTERPRISE.to_ascii_lowercase()), "value": "mgr-2"}]),
            alice_with(json!({"schemas": [USER_SCHEMA, ENTERPRISE], ENTERPRISE: {"manager": {"value": "mgr-2"}}})),
        ),
        (
            "entra: work address created from its value path",
            json!([
                {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
                {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Springfield"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"}
            ]),
            alice_with(json!({
                "addresses": [{"type": "work", "streetAddress": "1 Main St", "locality": "Springfield"}],
                "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}]
            })),
        ),
        (
            "entra: roles with primary as a string",
            json!([{"op": "Add", "path": "roles", "value": [{"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]}]),
            alice_with(json!({"roles": [{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]})),
        ),
        (
            "onelogin: path-less replace of several attributes, some as paths",
            json!([{"op": "replace", "value": {
                "name.givenName": "Ally",
                "title": "CTO",
                format!("{ENTERPRISE}:department"): "Exec",
                "nickName": "Al"
            }}]),
            alice_with(json!({
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "name": {"givenName": "Ally", "familyName": "Smith", "middleName": "J"},
                "title": "CTO",
                "nickName": "Al",
                ENTERPRISE: {"department": "Exec"}
            })),
        ),
        (
            "path-less replace with a whole extension object merges into it",
            json!([
                {"op": "add", "value": {ENTERPRISE: {"department": "Ops", "costCenter": "7"}}},
                {"op": "replace", "value": {ENTERPRISE: {"department": "Sales"}}}
            ]),
            alice_with(json!({"schemas": [USER_SCHEMA, ENTERPRISE], ENTERPRISE: {"department": "Sales", "costCenter": "7"}})),
        ),
        (
            "custom extensions are kept: whole object and attribute path",
            json!([
                {"op": "add", "value": {"urn:example:params:scim:schemas:extension:acme:2.0:User": {"badge": "7"}}},
                {"op": "Add", "path": "urn:example:params:scim:schemas:extension:acme:2.0:User:floor", "value": "3"}
            ]),
            alice_with(json!({
                "schemas": [USER_SCHEMA, "urn:example:params:scim:schemas:extension:acme:2.0:User"],
                "urn:example:params:scim:schemas:extension:acme:2.0:User": {"badge": "7", "floor": "3"}
            })),
        ),
        (
            "names are case-insensitive and written in the schema's case",
            json!([{"op": "REPLACE", "path": "DISPLAYNAME", "value": "A"}, {"op": "add", "path": "Name.GIVENNAME", "value": "B"}]),
            alice_with(json!({"displayName": "A", "name": {"givenName": "B", "familyName": "Smith", "middleName": "J"}})),
        ),
        (
            "add to a multi-valued attribute appends, skipping values already there",
            json!([{"op": "add", "path": "emails", "value": [
                {"value": "alice@home.example", "type": "home"},
                {"value": "a@other.example", "type": "other"}
            ]}]),
            alice_with(json!({"emails": [
                {"value": "alice@example.com", "type": "work", "primary": true},
                {"value": "alice@home.example", "type": "home"},
                {"value": "a@other.example", "type": "other"}
            ]})),
        ),
        (
            "an added primary value takes primary from the others",
            json!([{"op": "add", "path": "emails", "value": {"value": "alice@home.example", "type": "home", "primary": "true"}}]),
            alice_with(json!({"emails": [
                {"value": "alice@example.com", "type": "work", "primary": false},
                {"value": "alice@home.example", "type": "home", "primary": true}
            ]})),
        ),
        (
            "replace without a filter swaps the whole multi-valued attribute",
            json!([{"op": "replace", "path": "emails", "value": [{"value": "only@example.com"}]}]),
            alice_with(json!({"emails": [{"value": "only@example.com"}]})),
        ),
        (
            "remove through a value path",
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
            alice_with(json!({"emails": [{"value": "alice@example.com", "type": "work", "primary": true}]})),
        ),
        (
            "remove with a value list removes just those values",
            json!([{"op": "remove", "path": "emails", "value": [{"value": "alice@example.com"}]}]),
            alice_with(json!({"emails": [{"value": "alice@home.example", "type": "home"}]})),
        ),
        (
            "remove a sub-attribute, and of something absent (a no-op)",
            json!([
                {"op": "remove", "path": "name.middleName"},
                {"op": "remove", "path": "nickName"},
                {"op": "remove", "path": "emails[type eq \"fax\"]"},
                {"op": "remove", "path": format!("{ENTERPRISE}:manager")}
            ]),
            alice_with(json!({"name": {"givenName": "Alice", "familyName": "Smith"}})),
        ),
        (
            "remove of a value sub-attribute keeps the element",
            json!([{"op": "remove", "path": "emails[type eq \"home\"].value"}]),
            alice_with(json!({"emails": [{"value": "alice@example.com", "type": "work", "primary": true}, {"type": "home"}]})),
        ),
        (
            "replace with null unassigns",
            json!([{"op": "replace", "path": "displayName", "value": null}]),
            alice_with(json!({"displayName": null})),
        ),
        (
            "a password is accepted and never stored; read-only values echoed path-less are ignored",
            json!([{"op": "replace", "value": {
                "password": "hunter2",
                "id": "2819c223",
                "meta": {"resourceType": "User"},
                "groups": [{"value": "g1"}],
                "schemas": [USER_SCHEMA]
            }}]),
            alice(),
        ),
    ];
    for (label, operations, expected) in cases {
        assert_eq!(patch_user(&alice(), operations), Ok(expected), "{label}");
    }
}

#[test]
fn removing_the_last_enterprise_attribute_drops_the_extension() {
    let with_manager = patch_user(
        &alice(),
        json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": "m"}]),
    );
    let Ok(with_manager) = with_manager else {
        panic!("setup: {with_manager:?}");
    };
    let removed = patch_user(
        &with_manager,
        json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}]),
    );
    assert_eq!(removed, Ok(alice()));
}

#[test]
fn invalid_patches_fail_with_the_right_scim_type() {
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"op": "add", "path": "nickName", "value": format!("n{i}")}))
        .collect();
    let cases: Vec<(&str, Value, ScimErrorType)> = vec![
        (
            "unknown op",
            json!([{"op": "merge", "path": "title", "value": "x"}]),
            ScimErrorType::InvalidSyntax,
        ),
        (
            "op missing",
            json!([{"path": "title", "value": "x"}]),
            ScimErrorType::InvalidSyntax,
        ),
        (
            "add without value",
            json!([{"op": "add", "path": "title"}]),
            ScimErrorType::InvalidSyntax,
        ),
        (
            "operation not an object",
            json!(["add"]),
            ScimErrorType::InvalidSyntax,
        ),
        ("empty operations", json!([]), ScimErrorType::InvalidSyntax),
        (
            "1,001 operations",
            Value::Array(too_many),
            ScimErrorType::TooMany,
        ),
        (
            "remove without path",
            json!([{"op": "Remove", "value": {"title": "x"}}]),
            ScimErrorType::NoTarget,
        ),
        (
            "unclosed value path",
            json!([{"op": "add", "path": "emails[type eq \"work\"", "value": "x"}]),
            ScimErrorType::InvalidPath,
        ),
        (
            "bad filter in a path",
            json!([{"op": "add", "path": "emails[type zz \"work\"].value", "value": "x"}]),
            ScimErrorType::InvalidPath,
        ),
        (
            "junk after a value path",
            json!([{"op": "add", "path": "emails[type eq \"work\"]value", "value": "x"}]),
            ScimErrorType::InvalidPath,
        ),
        (
            "empty name segment",
            json!([{"op": "add", "path": "name..givenName", "value": "x"}]),
            ScimErrorType::InvalidPath,
        ),
        (
            "two sub-attributes",
            json!([{"op": "add", "path": "name.givenName.x", "value": "x"}]),
            ScimErrorType::InvalidPath,
        ),
        (
            "name starting with a digit",
            json!([{"op": "add", "path": "1title", "value": "x"}]),
            ScimErrorType::InvalidPath,
        ),
        (
            "path not a string",
            json!([{"op": "add", "path": 7, "value": "x"}]),
            ScimErrorType::InvalidPath,
        ),
        (
            "filter on a single-valued attribute",
            json!([{"op": "replace", "path": "userName[value eq \"a\"]", "value": "x"}]),
            ScimErrorType::InvalidPath,
        ),
        (
            "sub-attribute of a simple attribute",
            json!([{"op": "replace", "path": "userName.first", "value": "x"}]),
            ScimErrorType::InvalidPath,
        ),
        (
            "group schema on a user",
            json!([{"op": "replace", "path": format!("{GROUP_SCHEMA}:displayName"), "value": "x"}]),
            ScimErrorType::InvalidPath,
        ),
        (
            "replace id",
            json!([{"op": "replace", "path": "id", "value": "other"}]),
            ScimErrorType::Mutability,
        ),
        (
            "remove meta",
            json!([{"op": "remove", "path": "meta"}]),
            ScimErrorType::Mutability,
        ),
        (
            "add groups",
            json!([{"op": "add", "path": "groups", "value": [{"value": "g1"}]}]),
            ScimErrorType::Mutability,
        ),
        (
            "replace schemas",
            json!([{"op": "replace", "path": "schemas", "value": [USER_SCHEMA]}]),
            ScimErrorType::Mutability,
        ),
        (
            "active maybe",
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            ScimErrorType::InvalidValue,
        ),
        (
            "userName a number",
            json!([{"op": "replace", "value": {"userName": 5}}]),
            ScimErrorType::InvalidValue,
        ),
        (
            "remove the required userName",
            json!([{"op": "remove", "path": "userName"}]),
            ScimErrorType::InvalidValue,
        ),
        (
            "path-less value not an object",
            json!([{"op": "replace", "value": "x"}]),
            ScimErrorType::InvalidValue,
        ),
        (
            "name replaced by a string",
            json!([{"op": "replace", "path": "name", "value": "Alice"}]),
            ScimErrorType::InvalidValue,
        ),
        (
            "no match for a non-equality filter",
            json!([{"op": "replace", "path": "emails[value co \"nowhere\"].value", "value": "x"}]),
            ScimErrorType::NoTarget,
        ),
    ];
    for (label, operations, expected) in cases {
        let error = patch_user(&alice(), operations)
            .err()
            .and_then(|e| e.scim_type);
        assert_eq!(error, Some(expected), "{label}");
    }
}

#[test]
fn malformed_documents_are_invalid_syntax() {
    let cases = [
        json!("not an object"),
        json!({"schemas": [PATCH_OP_SCHEMA]}),
        json!({"schemas": [PATCH_OP_SCHEMA], "Operations": {"op": "add"}}),
    ];
    for body in cases {
        let error = parse_patch(&body).err().and_then(|e| e.scim_type);
        assert_eq!(error, Some(ScimErrorType::InvalidSyntax), "{body}");
    }
}

#[test]
fn a_missing_schemas_member_is_tolerated() {
    let body = json!({"Operations": [{"op": "Replace", "path": "active", "value": false}]});
    let parsed = parse_patch(&body).map(|r| r.operations.len());
    assert_eq!(parsed, Ok(1));
}

#[test]
fn errors_name_the_operation_and_leave_the_resource_unchanged() {
    let request = parse_patch(&document(json!([
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "replace", "path": "id", "value": "x"}
    ])));
    let Ok(request) = request else {
        panic!("parse: {request:?}");
    };
    let mut resource = alice();
    let error = apply_user_patch(&mut resource, &request).err();
    assert!(error.is_some_and(|e| e.detail.starts_with("Operations[1]")));
    assert_eq!(resource, alice());
}

#[test]
fn paths_parse_into_their_parts() {
    let parsed = PatchPath::parse(&format!("{ENTERPRISE}:manager.value"));
    let expected = PatchPath {
        uri: Some(ENTERPRISE.to_owned()),
        attribute: "manager".to_owned(),
        value_filter: None,
        sub_attribute: Some("value".to_owned()),
    };
    assert_eq!(parsed, Ok(expected));
    let whole = PatchPath::parse(ENTERPRISE).map(|p| (p.uri, p.attribute));
    assert_eq!(whole, Ok((None, ENTERPRISE.to_owned())));
    let value_path = PatchPath::parse("emails[value eq \"a]b\"].display");
    let value_path = value_path.map(|p| (p.attribute, p.value_filter.is_some(), p.sub_attribute));
    assert_eq!(
        value_path,
        Ok(("emails".to_owned(), true, Some("display".to_owned())))
    );
    let core = PatchPath::parse(&format!("{USER_SCHEMA}:name.givenName")).map(|p| p.uri);
    assert_eq!(core, Ok(Some(USER_SCHEMA.to_owned())));
}

#[test]
fn group_patches_from_real_idps() {
    let work = "urn:example:work";
    let cases: Vec<(&str, Value, Value, Vec<MemberChange>)> = vec![
        (
            "entra: add members",
            json!([{"op": "Add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}]),
            engineering(),
            vec![MemberChange::Add(vec![member("u1"), member("u2")])],
        ),
        (
            "entra: remove with a value list removes only those",
            json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}]),
            engineering(),
            vec![MemberChange::Remove(vec!["u1".into(), "u2".into()])],
        ),
        (
            "okta: remove through a value path",
            json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]),
            engineering(),
            vec![MemberChange::Remove(vec!["u1".into()])],
        ),
        (
            "remove with an or of ids",
            json!([{"op": "remove", "path": "members[value eq \"u1\" or value eq \"u2\"]"}]),
            engineering(),
            vec![MemberChange::Remove(vec!["u1".into(), "u2".into()])],
        ),
        (
            "remove with any other filter is left to storage",
            json!([{"op": "remove", "path": "members[display sw \"Al\"]"}]),
            engineering(),
            match Filter::parse("display sw \"Al\"") {
                Ok(filter) => vec![MemberChange::RemoveWhere(filter)],
                Err(e) => panic!("filter: {e}"),
            },
        ),
        (
            "remove all members",
            json!([{"op": "remove", "path": "members"}]),
            engineering(),
            vec![MemberChange::RemoveAll],
        ),
        (
            "onelogin: replace members",
            json!([{"op": "replace", "path": "members", "value": [{"value": "u3", "display": "Carol"}]}]),
            engineering(),
            vec![MemberChange::ReplaceAll(vec![MemberRef {
                value: "u3".into(),
                display: Some("Carol".into()),
            }])],
        ),
        (
            "jumpcloud: path-less rename carrying the id",
            json!([{"op": "replace", "value": {"id": "5f1a", "displayName": "Platform"}}]),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Platform", "externalId": "grp-1"}),
            vec![],
        ),
        (
            "entra: rename, then members in order",
            json!([
                {"op": "Replace", "path": "displayName", "value": "Eng"},
                {"op": "Add", "path": "members", "value": [{"value": "u1"}]},
                {"op": "Remove", "path": "members", "value": [{"value": "u2"}]},
                {"op": "Add", "path": format!("{GROUP_SCHEMA}:members"), "value": {"value": "u3"}}
            ]),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Eng", "externalId": "grp-1"}),
            vec![
                MemberChange::Add(vec![member("u1")]),
                MemberChange::Remove(vec!["u2".into()]),
                MemberChange::Add(vec![member("u3")]),
            ],
        ),
        (
            "path-less add with members and other attributes",
            json!([{"op": "add", "value": {"members": [{"value": "u1"}], "externalId": "grp-2"}}]),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering", "externalId": "grp-2"}),
            vec![MemberChange::Add(vec![member("u1")])],
        ),
        (
            "replace one member through a value path",
            json!([{"op": "replace", "path": "members[value eq \"u1\"]", "value": [{"value": "u9"}]}]),
            engineering(),
            vec![
                MemberChange::Remove(vec!["u1".into()]),
                MemberChange::Add(vec![member("u9")]),
            ],
        ),
        (
            "member display names are hints: changes to them are ignored",
            json!([{"op": "replace", "path": "members[value eq \"u1\"].display", "value": "New"}]),
            engineering(),
            vec![],
        ),
        (
            "custom group extension",
            json!([{"op": "add", "path": format!("{work}:Group:costCode"), "value": "42"}]),
            json!({"schemas": [GROUP_SCHEMA, format!("{work}:Group")], "displayName": "Engineering", "externalId": "grp-1", format!("{work}:Group"): {"costCode": "42"}}),
            vec![],
        ),
    ];
    for (label, operations, expected_group, expected_changes) in cases {
        let result = patch_group(&engineering(), operations);
        assert_eq!(result, Ok((expected_group, expected_changes)), "{label}");
    }
}

#[test]
fn invalid_group_patches() {
    let cases: Vec<(&str, Value, ScimErrorType)> = vec![
        (
            "empty displayName",
            json!([{"op": "replace", "path": "displayName", "value": ""}]),
            ScimErrorType::InvalidValue,
        ),
        (
            "member without value",
            json!([{"op": "add", "path": "members", "value": [{"display": "x"}]}]),
            ScimErrorType::InvalidValue,
        ),
        (
            "changing a member's id",
            json!([{"op": "replace", "path": "members[value eq \"u1\"].value", "value": "u2"}]),
            ScimErrorType::Mutability,
        ),
        (
            "a different id when one is stored",
            json!([{"op": "replace", "value": {"id": "other"}}]),
            ScimErrorType::Mutability,
        ),
    ];
    let stored = json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering", "id": "5f1a"});
    for (label, operations, expected) in cases {
        let error = patch_group(&stored, operations)
            .err()
            .and_then(|e| e.scim_type);
        assert_eq!(error, Some(expected), "{label}");
    }
    let same_id = patch_group(
        &stored,
        json!([{"op": "replace", "value": {"id": "5f1a", "displayName": "X"}}]),
    );
    assert_eq!(
        same_id.map(|(group, _)| group["displayName"].clone()),
        Ok(json!("X"))
    );
}

fn text() -> impl Strategy<Value = String> {
    "[a-c]{1,3}"
}

fn email_type() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["work", "home", "other"])
}

fn email() -> impl Strategy<Value = Value> {
    (text(), email_type(), prop::option::of(any::<bool>())).prop_map(|(value, kind, primary)| {
        let mut email = json!({"value": format!("{value}@x.example"), "type": kind});
        if let Some(primary) = primary {
            email["primary"] = json!(primary);
        }
        email
    })
}

fn user() -> impl Strategy<Value = Value> {
    (
        text(),
        prop::option::of(text()),
        prop::option::of(any::<bool>()),
        prop::collection::vec(email(), 0..4),
        prop::option::of(text()),
    )
        .prop_filter_map(
            "normalizes",
            |(user_name, given, active, emails, department)| {
                let mut body = json!({"userName": user_name, "emails": emails});
                if let Some(given) = given {
                    body["name"] = json!({"givenName": given});
                }
                if let Some(active) = active {
                    body["active"] = json!(active);
                }
                if let Some(department) = department {
                    body[ENTERPRISE] = json!({"department": department});
                }
                normalize(ResourceKind::User, body).ok().map(|n| n.resource)
            },
        )
}

/// Add and replace operations of the shapes IdPs send. `emails` is written either whole
/// (Okta, OneLogin) or through value paths (Entra), never both in one document: a value path
/// selects what the previous application added, so mixing them is not idempotent by RFC 7644
/// semantics (`emails[type eq "home"].value` sets every home email).
fn operation(email_by_value_path: bool) -> impl Strategy<Value = Value> {
    let op = || prop::sample::select(vec!["add", "Add", "replace", "Replace"]);
    let emails = if email_by_value_path {
        prop_oneof![
            (op(), email_type(), text()).prop_map(|(op, kind, value)| {
                json!({"op": op, "path": format!("emails[type eq \"{kind}\"].value"), "value": value})
            }),
            (op(), email_type()).prop_map(|(op, kind)| {
                json!({"op": op, "path": format!("emails[type eq \"{kind}\"].primary"), "value": true})
            }),
        ]
        .boxed()
    } else {
        (op(), prop::collection::vec(email(), 0..3))
            .prop_map(|(op, emails)| json!({"op": op, "path": "emails", "value": emails}))
            .boxed()
    };
    prop_oneof![
        emails,
        (op(), any::<bool>()).prop_map(|(op, active)| json!({"op": op, "value": {"active": active}})),
        (op(), any::<bool>()).prop_map(|(op, active)| {
            json!({"op": op, "path": "active", "value": if active { "True" } else { "False" }})
        }),
        (op(), text()).prop_map(|(op, name)| json!({"op": op, "path": "displayName", "value": name})),
        (op(), text()).prop_map(|(op, name)| json!({"op": op, "path": "name.givenName", "value": name})),
        (op(), text()).prop_map(|(op, department)| {
            json!({"op": op, "path": format!("{ENTERPRISE}:department"), "value": department})
        }),
        (op(), text()).prop_map(|(op, manager)| json!({"op": op, "path": format!("{ENTERPRISE}:manager"), "value": manager})),
        (op(), text(), text()).prop_map(|(op, family, title)| {
            json!({"op": op, "value": {"name.familyName": family, "title": title}})
        }),
    ]
}

fn operations() -> impl Strategy<Value = Vec<Value>> {
    any::<bool>()
        .prop_flat_map(|by_value_path| prop::collection::vec(operation(by_value_path), 1..6))
}

proptest! {
    // Failures are shrunk and printed; no regression files are written into the source tree.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn applying_an_add_or_replace_patch_twice_equals_applying_it_once(
        user in user(),
        operations in operations(),
    ) {
        let request = parse_patch(&document(Value::Array(operations)));
        prop_assert!(request.is_ok(), "{request:?}");
        let Ok(request) = request else { return Ok(()) };
        let mut once = user.clone();
        if apply_user_patch(&mut once, &request).is_ok() {
            let mut twice = once.clone();
            prop_assert!(apply_user_patch(&mut twice, &request).is_ok());
            prop_assert_eq!(twice, once);
        }
    }

    #[test]
    fn arbitrary_patch_documents_never_panic(
        op in prop::sample::select(vec!["add", "replace", "remove", "Remove", "x"]),
        path in prop::option::of("[a-zA-Z.:\\[\\]\" $=]{0,24}"),
        value in prop::option::of(prop_oneof![
            Just(json!(null)), Just(json!("True")), Just(json!([{"value": "v"}])),
            Just(json!({"active": "False", "name.givenName": "g"})), Just(json!(3)),
        ]),
    ) {
        let mut operation = json!({"op": op});
        if let Some(path) = path {
            operation["path"] = json!(path);
        }
        if let Some(value) = value {
            operation["value"] = value;
        }
        if let Ok(request) = parse_patch(&document(json!([operation]))) {
            let mut user = alice();
            let _ = apply_user_patch(&mut user, &request);
            let mut group = engineering();
            let _ = apply_group_patch(&mut group, &request);
        }
    }
}
