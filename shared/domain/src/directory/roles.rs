//! Roles from groups: the environment's role catalog (in priority order, with a default), a
//! directory's mapping of its groups (and of role values its provider sends) to roles, and the
//! rule that gives a directory user its `roles[]` and `role`.
//!
//! Priority is the catalog's order: the first role ranks highest, as in WorkOS's priority list.
//! A mapping naming a role the catalog no longer has is ignored (the role was deleted; its users
//! fall back to the default role at the next projection).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::ids::DirectoryGroupId;

use super::model::DirectoryGroup;

/// Most roles an environment can define, and most entries a directory mapping can hold: enough
/// for any real catalog, small enough that every projection can scan them.
pub const MAX_ROLES: usize = 100;
pub const MAX_ROLE_MAPPINGS: usize = 500;

/// One role of the environment's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Unique and immutable: what applications check and what mappings name.
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// The environment's roles, highest priority first, and the role a user gets when no mapping
/// gives it one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoleCatalog {
    pub roles: Vec<Role>,
    #[serde(default)]
    pub default_role: Option<String>,
}

impl RoleCatalog {
    /// Checks slugs (lowercase letters, digits, `-` and `_`, 1 to 64 characters), that they are
    /// unique, and that the default role is one of them. The message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.roles.len() > MAX_ROLES {
            return Err(format!("at most {MAX_ROLES} roles"));
        }
        for (index, role) in self.roles.iter().enumerate() {
            if !is_slug(&role.slug) {
                return Err(format!(
                    "roles[{index}].slug must be 1 to 64 lowercase letters, digits, '-' or '_'"
                ));
            }
            if role.name.trim().is_empty() || role.name.len() > 256 {
                return Err(format!("roles[{index}].name must be 1 to 256 characters"));
            }
            if self.roles[..index].iter().any(|r| r.slug == role.slug) {
                return Err(format!("role slug \"{}\" is defined twice", role.slug));
            }
        }
        if let Some(default) = &self.default_role {
            if self.position(default).is_none() {
                return Err(format!("default_role \"{default}\" is not a defined role"));
            }
        }
        Ok(())
    }

    /// The role's rank: 0 is the highest priority.
    pub fn position(&self, slug: &str) -> Option<usize> {
        self.roles.iter().position(|role| role.slug == slug)
    }
}

/// Which role a directory group gives its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRole {
    pub group_id: DirectoryGroupId,
    pub role: String,
}

/// Which role a value of the provider's own `roles` attribute gives (SCIM `roles[].value`, e.g.
/// an Entra app role).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpRole {
    pub value: String,
    pub role: String,
}

/// A directory's role mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoleMappings {
    #[serde(default)]
    pub groups: Vec<GroupRole>,
    #[serde(default)]
    pub idp_roles: Vec<IdpRole>,
}

impl RoleMappings {
    /// Checks sizes, that every mapped role exists in `catalog`, and that no group or value is
    /// mapped twice (one group, one role: the catalog's order settles users in several groups).
    pub fn validate(&self, catalog: &RoleCatalog) -> Result<(), String> {
        if self.groups.len() + self.idp_roles.len() > MAX_ROLE_MAPPINGS {
            return Err(format!("at most {MAX_ROLE_MAPPINGS} mappings"));
        }
        for (index, mapping) in self.groups.iter().enumerate() {
            if catalog.position(&mapping.role).is_none() {
                return Err(format!(
                    "groups[{index}].role \"{}\" is not a defined role",
                    mapping.role
                ));
            }
            if self.groups[..index]
                .iter()
                .any(|m| m.group_id == mapping.group_id)
            {
                return Err(format!("group {} is mapped twice", mapping.group_id));
            }
        }
        for (index, mapping) in self.idp_roles.iter().enumerate() {
            if catalog.position(&mapping.role).is_none() {
                return Err(format!(
                    "idp_roles[{index}].role \"{}\" is not a defined role",
                    mapping.role
                ));
            }
            if mapping.value.is_empty() || mapping.value.len() > 256 {
                return Err(format!(
                    "idp_roles[{index}].value must be 1 to 256 characters"
                ));
            }
            if self.idp_roles[..index]
                .iter()
                .any(|m| m.value == mapping.value)
            {
                return Err(format!(
                    "idp role value \"{}\" is mapped twice",
                    mapping.value
                ));
            }
        }
        Ok(())
    }
}

/// A user's roles: every catalog role its groups and its provider role values map to, highest
/// priority first, each once; and its primary role, the first of those or else the default.
/// Both in WorkOS's shape, `{"slug": …}`.
pub fn user_roles(
    catalog: &RoleCatalog,
    mappings: &RoleMappings,
    groups: &[&DirectoryGroup],
    resource: &Value,
) -> (Vec<Value>, Option<Value>) {
    let from_groups = mappings
        .groups
        .iter()
        .filter(|m| groups.iter().any(|g| g.id == m.group_id))
        .map(|m| m.role.as_str());
    let sent = provider_role_values(resource);
    let from_idp = mappings
        .idp_roles
        .iter()
        .filter(|m| sent.iter().any(|value| *value == m.value))
        .map(|m| m.role.as_str());
    let mut ranked: Vec<usize> = from_groups
        .chain(from_idp)
        .filter_map(|slug| catalog.position(slug))
        .collect();
    ranked.sort_unstable();
    ranked.dedup();
    let slugs: Vec<&str> = ranked
        .iter()
        .filter_map(|&rank| catalog.roles.get(rank))
        .map(|role| role.slug.as_str())
        .collect();
    let primary = slugs.first().copied().or_else(|| {
        catalog
            .default_role
            .as_deref()
            .filter(|slug| catalog.position(slug).is_some())
    });
    let roles = slugs.into_iter().map(slug_object).collect();
    (roles, primary.map(slug_object))
}

fn slug_object(slug: &str) -> Value {
    json!({ "slug": slug })
}

/// The values of the SCIM `roles` attribute: `[{"value": …}]` as RFC 7643 defines it, and the
/// bare strings some providers send. Absent or odd input gives nothing, never an error.
fn provider_role_values(resource: &Value) -> Vec<&str> {
    let Some(map) = resource.as_object() else {
        return Vec::new();
    };
    let Some(Value::Array(entries)) = field(map, "roles") else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| match entry {
            Value::String(text) => Some(text.as_str()),
            Value::Object(role) => field(role, "value").and_then(Value::as_str),
            _ => None,
        })
        .collect()
}

fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

fn is_slug(slug: &str) -> bool {
    (1..=64).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DirectoryId, ProviderGroupId};

    fn role(slug: &str) -> Role {
        Role {
            slug: slug.into(),
            name: slug.to_uppercase(),
            description: None,
        }
    }

    fn catalog() -> RoleCatalog {
        RoleCatalog {
            roles: vec![role("admin"), role("manager"), role("member")],
            default_role: Some("member".into()),
        }
    }

    fn group() -> DirectoryGroup {
        DirectoryGroup {
            id: DirectoryGroupId::generate(),
            directory_id: DirectoryId::generate(),
            provider_group_id: ProviderGroupId::generate(),
            name: "g".into(),
            idp_id: "g".into(),
            raw_attributes: json!({}),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn slugs(roles: &[Value]) -> Vec<&str> {
        roles.iter().filter_map(|r| r["slug"].as_str()).collect()
    }

    #[test]
    fn the_highest_priority_role_is_primary_whatever_the_mapping_order() {
        let (managers, admins) = (group(), group());
        let mappings = RoleMappings {
            groups: vec![
                GroupRole {
                    group_id: managers.id,
                    role: "manager".into(),
                },
                GroupRole {
                    group_id: admins.id,
                    role: "admin".into(),
                },
            ],
            idp_roles: vec![],
        };
        let (roles, primary) = user_roles(&catalog(), &mappings, &[&managers, &admins], &json!({}));
        assert_eq!(slugs(&roles), ["admin", "manager"]);
        assert_eq!(primary, Some(json!({"slug": "admin"})));

        let (roles, primary) = user_roles(&catalog(), &mappings, &[&managers], &json!({}));
        assert_eq!(slugs(&roles), ["manager"]);
        assert_eq!(primary, Some(json!({"slug": "manager"})));
    }

    #[test]
    fn no_mapped_group_means_the_default_role_and_no_roles() {
        let mapped = group();
        let mappings = RoleMappings {
            groups: vec![GroupRole {
                group_id: mapped.id,
                role: "admin".into(),
            }],
            idp_roles: vec![],
        };
        let (roles, primary) = user_roles(&catalog(), &mappings, &[&group()], &json!({}));
        assert!(roles.is_empty());
        assert_eq!(primary, Some(json!({"slug": "member"})));

        let no_default = RoleCatalog {
            default_role: None,
            ..catalog()
        };
        assert_eq!(
            user_roles(&no_default, &mappings, &[], &json!({})),
            (vec![], None)
        );
    }

    #[test]
    fn provider_role_values_map_and_merge_with_group_roles() {
        let managers = group();
        let mappings = RoleMappings {
            groups: vec![GroupRole {
                group_id: managers.id,
                role: "manager".into(),
            }],
            idp_roles: vec![IdpRole {
                value: "App.Admin".into(),
                role: "admin".into(),
            }],
        };
        let entra = json!({"roles": [{"value": "App.Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": false}, 7]});
        let (roles, primary) = user_roles(&catalog(), &mappings, &[&managers], &entra);
        assert_eq!(slugs(&roles), ["admin", "manager"]);
        assert_eq!(primary, Some(json!({"slug": "admin"})));
        let bare = json!({"Roles": ["App.Admin", "App.Admin"]});
        assert_eq!(
            slugs(&user_roles(&catalog(), &mappings, &[], &bare).0),
            ["admin"]
        );
    }

    #[test]
    fn a_mapping_to_a_deleted_role_is_ignored() {
        let admins = group();
        let mappings = RoleMappings {
            groups: vec![GroupRole {
                group_id: admins.id,
                role: "gone".into(),
            }],
            idp_roles: vec![],
        };
        let (roles, primary) = user_roles(&catalog(), &mappings, &[&admins], &json!({}));
        assert!(roles.is_empty());
        assert_eq!(primary, Some(json!({"slug": "member"})));
    }

    #[test]
    fn validation_names_the_problem() {
        assert_eq!(catalog().validate(), Ok(()));
        let mut bad = catalog();
        bad.roles.push(role("admin"));
        assert!(bad.validate().unwrap_err().contains("twice"));
        let bad = RoleCatalog {
            roles: vec![role("Admin")],
            default_role: None,
        };
        assert!(bad.validate().unwrap_err().contains("slug"));
        let bad = RoleCatalog {
            default_role: Some("owner".into()),
            ..catalog()
        };
        assert!(bad.validate().unwrap_err().contains("default_role"));

        let g = group();
        let twice = RoleMappings {
            groups: vec![
                GroupRole {
                    group_id: g.id,
                    role: "admin".into(),
                },
                GroupRole {
                    group_id: g.id,
                    role: "member".into(),
                },
            ],
            idp_roles: vec![],
        };
        assert!(twice.validate(&catalog()).unwrap_err().contains("twice"));
        let unknown = RoleMappings {
            groups: vec![],
            idp_roles: vec![IdpRole {
                value: "x".into(),
                role: "owner".into(),
            }],
        };
        assert!(unknown.validate(&catalog()).unwrap_err().contains("owner"));
    }
}
