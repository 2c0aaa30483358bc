//! Attribute definitions of the schemas the service speaks (RFC 7643 §3.1, §4, §8.7.1).
//!
//! The definitions drive name canonicalization and type coercion of incoming resources and
//! PATCH values, and they are what `/Schemas` publishes, so the two can never disagree.

use AttributeDef as A;
use Mutability::{Immutable, ReadOnly, WriteOnly};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    /// The resource type name: `User`, `Group`.
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    /// The endpoint relative to the SCIM base URL: `/Users`, `/Groups`.
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "/Users",
            Self::Group => "/Groups",
        }
    }

    pub fn core_schema(self) -> &'static SchemaDef {
        match self {
            Self::User => &USER,
            Self::Group => &GROUP,
        }
    }

    /// The schema extensions this resource type supports.
    pub fn extensions(self) -> &'static [&'static SchemaDef] {
        match self {
            Self::User => &USER_EXTENSIONS,
            Self::Group => &[],
        }
    }

    /// The extension schema named by `urn` (case-insensitive), if this resource type has it.
    pub fn extension(self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions()
            .iter()
            .copied()
            .find(|schema| schema.id.eq_ignore_ascii_case(urn))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttributeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::DateTime => "dateTime",
            Self::Binary => "binary",
            Self::Reference => "reference",
            Self::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
            Self::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// One attribute (or sub-attribute) definition, RFC 7643 §7.
#[derive(Debug)]
pub struct AttributeDef {
    /// The canonical spelling; clients may send any case.
    pub name: &'static str,
    pub attr_type: AttributeType,
    pub multi_valued: bool,
    pub description: &'static str,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttributeDef],
}

impl AttributeDef {
    const fn new(name: &'static str, attr_type: AttributeType, description: &'static str) -> Self {
        Self {
            name,
            attr_type,
            multi_valued: false,
            description,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
        }
    }

    const fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttributeType::String, description)
    }

    const fn boolean(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttributeType::Boolean, description)
    }

    const fn date_time(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttributeType::DateTime, description)
    }

    const fn binary(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttributeType::Binary, description)
    }

    const fn reference(
        name: &'static str,
        reference_types: &'static [&'static str],
        description: &'static str,
    ) -> Self {
        let mut def = Self::new(name, AttributeType::Reference, description);
        def.reference_types = reference_types;
        def
    }

    const fn complex(
        name: &'static str,
        sub_attributes: &'static [AttributeDef],
        description: &'static str,
    ) -> Self {
        let mut def = Self::new(name, AttributeType::Complex, description);
        def.sub_attributes = sub_attributes;
        def
    }

    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    const fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }

    const fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }

    const fn uniqueness(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }

    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    pub fn is_complex(&self) -> bool {
        self.attr_type == AttributeType::Complex
    }

    /// The sub-attribute called `name`, case-insensitively.
    pub fn sub_attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        find(self.sub_attributes, name)
    }
}

/// One schema, RFC 7643 §7.
#[derive(Debug)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttributeDef],
}

impl SchemaDef {
    /// The attribute called `name`, case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        find(self.attributes, name)
    }
}

/// The attribute `name` of resource type `kind`, case-insensitively.
///
/// `uri` is the schema prefix of a full attribute path (`urn:…:enterprise:2.0:User` for
/// `urn:…:enterprise:2.0:User:manager`). Without it the common attributes (`id`, `externalId`,
/// `meta`), the core schema and, named by their URN, whole extension objects are searched:
/// a resource stores an extension as a top-level attribute whose name is the URN.
pub fn attribute(
    kind: ResourceKind,
    uri: Option<&str>,
    name: &str,
) -> Option<&'static AttributeDef> {
    let core = kind.core_schema();
    match uri {
        None => find(COMMON_ATTRIBUTES, name)
            .or_else(|| core.attribute(name))
            .or_else(|| extension_object(kind, name)),
        Some(uri) if uri.eq_ignore_ascii_case(core.id) => {
            find(COMMON_ATTRIBUTES, name).or_else(|| core.attribute(name))
        }
        Some(uri) => kind
            .extension(uri)
            .and_then(|schema| schema.attribute(name)),
    }
}

/// The sub-attribute `sub` of the attribute `name` (see [`attribute`]), case-insensitively.
pub fn sub_attribute(
    kind: ResourceKind,
    uri: Option<&str>,
    name: &str,
    sub: &str,
) -> Option<&'static AttributeDef> {
    attribute(kind, uri, name).and_then(|def| def.sub_attribute(sub))
}

/// An extension of `kind` seen as one complex attribute whose sub-attributes are the
/// extension's attributes: the shape it has inside a resource.
pub fn extension_object(kind: ResourceKind, urn: &str) -> Option<&'static AttributeDef> {
    match kind.extension(urn)?.id {
        ENTERPRISE_USER_SCHEMA => Some(&ENTERPRISE_USER_OBJECT),
        _ => None,
    }
}

/// Every schema `/Schemas` publishes.
pub fn all_schemas() -> &'static [&'static SchemaDef] {
    &ALL_SCHEMAS
}

static ALL_SCHEMAS: [&SchemaDef; 3] = [&USER, &ENTERPRISE_USER, &GROUP];
static USER_EXTENSIONS: [&SchemaDef; 1] = [&ENTERPRISE_USER];

/// The schema with this URN, case-insensitively.
pub fn schema_by_urn(urn: &str) -> Option<&'static SchemaDef> {
    all_schemas()
        .iter()
        .copied()
        .find(|schema| schema.id.eq_ignore_ascii_case(urn))
}

fn find(defs: &'static [AttributeDef], name: &str) -> Option<&'static AttributeDef> {
    defs.iter().find(|def| def.name.eq_ignore_ascii_case(name))
}

/// `id`, `externalId` and `meta` belong to every resource and to no schema (RFC 7643 §3.1).
pub static COMMON_ATTRIBUTES: &[AttributeDef] = &[
    A::string(
        "id",
        "Unique identifier of the resource, assigned by the service provider.",
    )
    .case_exact()
    .mutability(ReadOnly)
    .returned(Returned::Always)
    .uniqueness(Uniqueness::Server),
    A::string(
        "externalId",
        "Identifier of the resource as defined by the provisioning client.",
    )
    .case_exact(),
    A::complex("meta", META_SUB, "Resource metadata.").mutability(ReadOnly),
];

const META_SUB: &[AttributeDef] = &[
    A::string("resourceType", "The name of the resource type.")
        .case_exact()
        .mutability(ReadOnly),
    A::date_time("created", "When the resource was added.").mutability(ReadOnly),
    A::date_time("lastModified", "When the resource was last changed.").mutability(ReadOnly),
    A::reference("location", &["uri"], "The URI of the resource.").mutability(ReadOnly),
    A::string("version", "The version (ETag) of the resource.")
        .case_exact()
        .mutability(ReadOnly),
];

pub static USER: SchemaDef = SchemaDef {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRIBUTES,
};

const USER_ATTRIBUTES: &[AttributeDef] = &[
    A::string(
        "userName",
        "Unique identifier for the User, used to authenticate.",
    )
    .required()
    .uniqueness(Uniqueness::Server),
    A::complex("name", NAME_SUB, "The components of the user's real name."),
    A::string("displayName", "The name of the User, suitable for display."),
    A::string("nickName", "The casual way to address the user."),
    A::reference(
        "profileUrl",
        &["external"],
        "A URI of the user's online profile.",
    ),
    A::string("title", "The user's title, such as \"Vice President\"."),
    A::string(
        "userType",
        "The relationship between the organization and the user.",
    ),
    A::string(
        "preferredLanguage",
        "The user's preferred written or spoken language.",
    ),
    A::string(
        "locale",
        "The user's default location, for localizing items.",
    ),
    A::string(
        "timezone",
        "The user's time zone in the Olson database format.",
    ),
    A::boolean("active", "The user's administrative status."),
    A::string(
        "password",
        "The user's cleartext password; accepted and never stored.",
    )
    .mutability(WriteOnly)
    .returned(Returned::Never),
    A::complex("emails", EMAIL_SUB, "Email addresses for the user.").multi(),
    A::complex("phoneNumbers", PHONE_SUB, "Phone numbers for the user.").multi(),
    A::complex("ims", IM_SUB, "Instant messaging addresses for the user.").multi(),
    A::complex("photos", PHOTO_SUB, "URLs of photos of the user.").multi(),
    A::complex("addresses", ADDRESS_SUB, "Physical mailing addresses.").multi(),
    A::complex("groups", USER_GROUP_SUB, "The groups the user belongs to.")
        .multi()
        .mutability(ReadOnly),
    A::complex("entitlements", PLAIN_SUB, "Entitlements the user has.").multi(),
    A::complex("roles", PLAIN_SUB, "Roles the user has.").multi(),
    A::complex(
        "x509Certificates",
        CERTIFICATE_SUB,
        "Certificates of the user.",
    )
    .multi(),
];

const NAME_SUB: &[AttributeDef] = &[
    A::string("formatted", "The full name, formatted for display."),
    A::string("familyName", "The family name, or last name."),
    A::string("givenName", "The given name, or first name."),
    A::string("middleName", "The middle name(s)."),
    A::string("honorificPrefix", "The honorific prefix, such as \"Ms.\"."),
    A::string("honorificSuffix", "The honorific suffix, such as \"III\"."),
];

const EMAIL_SUB: &[AttributeDef] = &[
    A::string("value", "The email address."),
    A::string(
        "display",
        "A human-readable name, primarily used for display.",
    ),
    A::string("type", "The function of the address.").canonical(&["work", "home", "other"]),
    A::boolean("primary", "Whether this is the preferred address."),
];

const PHONE_SUB: &[AttributeDef] = &[
    A::string("value", "The phone number."),
    A::string(
        "display",
        "A human-readable name, primarily used for display.",
    ),
    A::string("type", "The function of the number.")
        .canonical(&["work", "home", "mobile", "fax", "pager", "other"]),
    A::boolean("primary", "Whether this is the preferred number."),
];

const IM_SUB: &[AttributeDef] = &[
    A::string("value", "The instant messaging address."),
    A::string(
        "display",
        "A human-readable name, primarily used for display.",
    ),
    A::string("type", "The messaging service.")
        .canonical(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    A::boolean("primary", "Whether this is the preferred address."),
];

const PHOTO_SUB: &[AttributeDef] = &[
    A::reference("value", &["external"], "The URL of the photo."),
    A::string(
        "display",
        "A human-readable name, primarily used for display.",
    ),
    A::string("type", "The kind of photo.").canonical(&["photo", "thumbnail"]),
    A::boolean("primary", "Whether this is the preferred photo."),
];

const ADDRESS_SUB: &[AttributeDef] = &[
    A::string("formatted", "The full address, formatted for display."),
    A::string("streetAddress", "The street address."),
    A::string("locality", "The city or locality."),
    A::string("region", "The state or region."),
    A::string("postalCode", "The zip code or postal code."),
    A::string("country", "The country, as an ISO 3166-1 alpha-2 code."),
    A::string("type", "The kind of address.").canonical(&["work", "home", "other"]),
    A::boolean("primary", "Whether this is the preferred address."),
];

const USER_GROUP_SUB: &[AttributeDef] = &[
    A::string("value", "The identifier of the group.").mutability(ReadOnly),
    A::reference("$ref", &["User", "Group"], "The URI of the group.").mutability(ReadOnly),
    A::string("display", "The group's display name.").mutability(ReadOnly),
    A::string("type", "How the membership was derived.")
        .canonical(&["direct", "indirect"])
        .mutability(ReadOnly),
];

/// The sub-attributes of `entitlements` and `roles`.
const PLAIN_SUB: &[AttributeDef] = &[
    A::string("value", "The value."),
    A::string(
        "display",
        "A human-readable name, primarily used for display.",
    ),
    A::string("type", "A label indicating the function."),
    A::boolean("primary", "Whether this is the preferred value."),
];

const CERTIFICATE_SUB: &[AttributeDef] = &[
    A::binary("value", "The DER-encoded certificate, base64-encoded."),
    A::string(
        "display",
        "A human-readable name, primarily used for display.",
    ),
    A::string("type", "A label indicating the function."),
    A::boolean("primary", "Whether this is the preferred certificate."),
];

pub static ENTERPRISE_USER: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRIBUTES,
};

/// See [`extension_object`].
static ENTERPRISE_USER_OBJECT: AttributeDef = A::complex(
    ENTERPRISE_USER_SCHEMA,
    ENTERPRISE_ATTRIBUTES,
    "Enterprise User",
);

const ENTERPRISE_ATTRIBUTES: &[AttributeDef] = &[
    A::string(
        "employeeNumber",
        "A numeric or alphanumeric identifier assigned to a person.",
    ),
    A::string("costCenter", "The name of a cost center."),
    A::string("organization", "The name of an organization."),
    A::string("division", "The name of a division."),
    A::string("department", "The name of a department."),
    A::complex("manager", MANAGER_SUB, "The user's manager."),
];

const MANAGER_SUB: &[AttributeDef] = &[
    A::string("value", "The id of the manager's User resource."),
    A::reference("$ref", &["User"], "The URI of the manager's User resource."),
    A::string("displayName", "The manager's display name.").mutability(ReadOnly),
];

pub static GROUP: SchemaDef = SchemaDef {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRIBUTES,
};

const GROUP_ATTRIBUTES: &[AttributeDef] = &[
    A::string("displayName", "A human-readable name for the Group.").required(),
    A::complex("members", MEMBER_SUB, "A list of members of the Group.").multi(),
];

const MEMBER_SUB: &[AttributeDef] = &[
    A::string("value", "The identifier of the member.").mutability(Immutable),
    A::reference("$ref", &["User", "Group"], "The URI of the member.").mutability(Immutable),
    A::string("display", "The member's display name, as a hint.").mutability(ReadOnly),
    A::string("type", "The type of the member.")
        .canonical(&["User", "Group"])
        .mutability(Immutable),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_case_insensitive_and_return_the_canonical_name() {
        let cases: &[(ResourceKind, Option<&str>, &str, &str)] = &[
            (ResourceKind::User, None, "USERNAME", "userName"),
            (ResourceKind::User, None, "externalid", "externalId"),
            (ResourceKind::User, Some(USER_SCHEMA), "Emails", "emails"),
            (
                ResourceKind::User,
                Some(&ENTERPRISE_USER_SCHEMA.to_ascii_lowercase()),
                "MANAGER",
                "manager",
            ),
            (
                ResourceKind::User,
                None,
                ENTERPRISE_USER_SCHEMA,
                ENTERPRISE_USER_SCHEMA,
            ),
            (ResourceKind::Group, None, "displayname", "displayName"),
            (
                ResourceKind::Group,
                Some(GROUP_SCHEMA),
                "Members",
                "members",
            ),
        ];
        for (kind, uri, name, expected) in cases {
            let def = attribute(*kind, *uri, name).map(|def| def.name);
            assert_eq!(def, Some(*expected), "{kind:?} {uri:?} {name}");
        }
    }

    #[test]
    fn lookups_respect_the_resource_kind() {
        assert!(attribute(ResourceKind::Group, None, "userName").is_none());
        assert!(attribute(ResourceKind::Group, Some(ENTERPRISE_USER_SCHEMA), "manager").is_none());
        assert!(attribute(ResourceKind::User, Some(GROUP_SCHEMA), "members").is_none());
        assert!(attribute(ResourceKind::User, None, "nope").is_none());
    }

    #[test]
    fn sub_attributes_are_found_case_insensitively() {
        let value = sub_attribute(
            ResourceKind::User,
            Some(ENTERPRISE_USER_SCHEMA),
            "manager",
            "$REF",
        );
        assert_eq!(value.map(|def| def.name), Some("$ref"));
        let primary = sub_attribute(ResourceKind::User, None, "emails", "Primary");
        assert_eq!(
            primary.map(|def| def.attr_type),
            Some(AttributeType::Boolean)
        );
    }

    #[test]
    fn key_properties_follow_rfc_7643() {
        let user_name = attribute(ResourceKind::User, None, "userName");
        assert!(user_name.is_some_and(|def| def.required && def.uniqueness == Uniqueness::Server));
        let password = attribute(ResourceKind::User, None, "password");
        assert!(password
            .is_some_and(|def| def.mutability == WriteOnly && def.returned == Returned::Never));
        let groups = attribute(ResourceKind::User, None, "groups");
        assert!(groups.is_some_and(|def| def.multi_valued && def.mutability == ReadOnly));
        let id = attribute(ResourceKind::Group, None, "id");
        assert!(id.is_some_and(|def| def.case_exact && def.returned == Returned::Always));
    }

    #[test]
    fn every_schema_is_found_by_its_urn() {
        for schema in all_schemas() {
            let found = schema_by_urn(&schema.id.to_ascii_uppercase()).map(|s| s.id);
            assert_eq!(found, Some(schema.id));
        }
        assert!(schema_by_urn("urn:example:unknown").is_none());
    }
}
