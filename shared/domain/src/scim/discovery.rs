//! Discovery documents (RFC 7644 §4, RFC 7643 §5–7): `/ServiceProviderConfig`,
//! `/ResourceTypes` and `/Schemas`. Schemas are generated from [`super::schema`], so what is
//! published is what is enforced.

use serde_json::{json, Value};

use super::list::{list_response, MAX_PAGE_SIZE};
use super::schema::{self, AttributeDef, AttributeType, ResourceKind, SchemaDef};

pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

const RESOURCE_KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

/// `GET /ServiceProviderConfig`. `base_url` is the SCIM base, e.g. `https://host/scim/v2/dir_…`.
pub fn service_provider_config(base_url: &str) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://www.rfc-editor.org/rfc/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_PAGE_SIZE},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with the directory's SCIM bearer token.",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", trim(base_url)),
        }
    })
}

/// `GET /ResourceTypes`, as a `ListResponse`.
pub fn resource_types(base_url: &str) -> Value {
    let types: Vec<Value> = RESOURCE_KINDS
        .iter()
        .map(|kind| resource_type_document(base_url, *kind))
        .collect();
    list_response(types.len(), 1, types)
}

/// `GET /ResourceTypes/{name}`, `name` matched case-insensitively.
pub fn resource_type(base_url: &str, name: &str) -> Option<Value> {
    RESOURCE_KINDS
        .iter()
        .find(|kind| kind.name().eq_ignore_ascii_case(name))
        .map(|kind| resource_type_document(base_url, *kind))
}

/// `GET /Schemas`, as a `ListResponse`.
pub fn schemas(base_url: &str) -> Value {
    let schemas: Vec<Value> = schema::all_schemas()
        .iter()
        .map(|schema| schema_document(base_url, schema))
        .collect();
    list_response(schemas.len(), 1, schemas)
}

/// `GET /Schemas/{urn}`, `urn` matched case-insensitively.
pub fn schema(base_url: &str, urn: &str) -> Option<Value> {
    schema::schema_by_urn(urn).map(|schema| schema_document(base_url, schema))
}

fn resource_type_document(base_url: &str, kind: ResourceKind) -> Value {
    let extensions: Vec<Value> = kind
        .extensions()
        .iter()
        .map(|extension| json!({"schema": extension.id, "required": false}))
        .collect();
    let description = match kind {
        ResourceKind::User => "User Account",
        ResourceKind::Group => "Group",
    };
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": description,
        "schema": kind.core_schema().id,
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{}/ResourceTypes/{}", trim(base_url), kind.name()),
        }
    })
}

fn schema_document(base_url: &str, schema: &SchemaDef) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attribute_document).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{}/Schemas/{}", trim(base_url), schema.id),
        }
    })
}

/// One attribute, RFC 7643 §7; `subAttributes`, `canonicalValues` and `referenceTypes` only
/// where they apply.
fn attribute_document(def: &AttributeDef) -> Value {
    let mut document = json!({
        "name": def.name,
        "type": def.attr_type.as_str(),
        "multiValued": def.multi_valued,
        "description": def.description,
        "required": def.required,
        "caseExact": def.case_exact,
        "mutability": def.mutability.as_str(),
        "returned": def.returned.as_str(),
        "uniqueness": def.uniqueness.as_str(),
    });
    if def.attr_type == AttributeType::Complex {
        let subs: Vec<Value> = def.sub_attributes.iter().map(attribute_document).collect();
        document["subAttributes"] = Value::Array(subs);
    }
    if !def.canonical_values.is_empty() {
        document["canonicalValues"] = json!(def.canonical_values);
    }
    if def.attr_type == AttributeType::Reference {
        document["referenceTypes"] = json!(def.reference_types);
    }
    document
}

fn trim(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};

    const BASE: &str = "https://scim.example.com/scim/v2/directory_01/";

    #[test]
    fn service_provider_config_advertises_what_is_supported() {
        let config = service_provider_config(BASE);
        assert_eq!(config["patch"]["supported"], true);
        assert_eq!(config["bulk"]["supported"], false);
        assert_eq!(
            config["filter"],
            json!({"supported": true, "maxResults": 100})
        );
        assert_eq!(config["changePassword"]["supported"], false);
        assert_eq!(config["sort"]["supported"], false);
        assert_eq!(config["etag"]["supported"], true);
        assert_eq!(
            config["authenticationSchemes"][0]["type"],
            "oauthbearertoken"
        );
        assert_eq!(
            config["meta"]["location"],
            "https://scim.example.com/scim/v2/directory_01/ServiceProviderConfig"
        );
    }

    #[test]
    fn resource_types_list_user_with_its_extension_and_group() {
        let types = resource_types(BASE);
        assert_eq!(types["totalResults"], 2);
        assert_eq!(types["Resources"][0]["schema"], USER_SCHEMA);
        assert_eq!(
            types["Resources"][0]["schemaExtensions"],
            json!([{"schema": ENTERPRISE_USER_SCHEMA, "required": false}])
        );
        assert_eq!(types["Resources"][1]["endpoint"], "/Groups");
        let group = resource_type(BASE, "group");
        assert_eq!(
            group.as_ref().map(|g| &g["schema"]),
            Some(&json!(GROUP_SCHEMA))
        );
        assert_eq!(
            resource_type(BASE, "User").map(|u| u["meta"]["location"].clone()),
            Some(json!(
                "https://scim.example.com/scim/v2/directory_01/ResourceTypes/User"
            ))
        );
        assert!(resource_type(BASE, "Device").is_none());
    }

    #[test]
    fn schemas_are_generated_from_the_definitions() {
        let all = schemas(BASE);
        assert_eq!(all["totalResults"], 3);
        let Some(user) = schema(BASE, USER_SCHEMA) else {
            panic!("the User schema is published");
        };
        let attributes = user["attributes"].as_array().map_or(0, Vec::len);
        assert_eq!(attributes, schema::USER.attributes.len());
        let user_name = &user["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["uniqueness"], "server");
        let emails = user["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["name"] == "emails"));
        assert_eq!(emails.map(|e| e["multiValued"].clone()), Some(json!(true)));
        assert_eq!(
            emails.map(|e| e["subAttributes"][3]["type"].clone()),
            Some(json!("boolean"))
        );
        let enterprise = schema(BASE, &ENTERPRISE_USER_SCHEMA.to_ascii_uppercase());
        assert_eq!(
            enterprise.map(|e| e["meta"]["location"].clone()),
            Some(json!(format!("{}Schemas/{ENTERPRISE_USER_SCHEMA}", BASE)))
        );
        assert!(schema(BASE, "urn:example:nope").is_none());
    }
}
