//! The request line: which resource a path names, and which methods it takes.

use bytes::Bytes;
use dsync_domain::ids::EnvironmentId;
use http::{Method, Request};

use crate::query::Query;
use crate::App;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Settings,
    SettingsPreview,
    Reconciliations,
    Reconciliation(String),
    ApiKeys,
    ApiKey(String),
    Directories,
    Directory(String),
    DirectoryToken(String),
    /// `POST /directories/{id}/credentials` (HR directories), `PUT` or `POST` (Google
    /// Workspace: the service-account key and admin).
    DirectoryCredentials(String),
    /// `GET /directories/{id}/sync` (HR and Google Workspace directories); `POST` re-syncs a
    /// BambooHR directory, or pulls a Google Workspace one now.
    DirectorySync(String),
    /// `GET /directories/{id}/sync_failures`.
    DirectorySyncFailures(String),
    DirectoryUsers,
    DirectoryUser(String),
    DirectoryGroups,
    DirectoryGroup(String),
    Events,
    WebhookEndpoints,
    WebhookEndpoint(String),
    /// `POST /webhook_endpoints/{id}/rotate_secret`.
    WebhookEndpointSecret(String),
    WebhookEndpointDeliveries(String),
    /// `POST /deliveries/{id}/retry`.
    DeliveryRetry(String),
    /// `GET|PUT /authorization/roles`: the environment's role catalog.
    AuthorizationRoles,
    AuthorizationRolesPreview,
    /// `GET|PUT /directories/{id}/role_mappings`.
    DirectoryRoleMappings(String),
    DirectoryRoleMappingsPreview(String),
    /// `GET|PUT /directories/{id}/attribute_mappings`.
    DirectoryAttributeMappings(String),
    DirectoryAttributeMappingsPreview(String),
}

impl Route {
    /// Path segments are percent-decoded; ids among them are validated by the handlers.
    pub fn parse(path: &str) -> Option<Self> {
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
        Some(match parts.as_slice() {
            ["environment", "settings"] => Self::Settings,
            ["environment", "settings", "preview"] => Self::SettingsPreview,
            ["reconciliations"] => Self::Reconciliations,
            ["reconciliations", id] => Self::Reconciliation(id.to_string()),
            ["api_keys"] => Self::ApiKeys,
            ["api_keys", id] => Self::ApiKey(id.to_string()),
            ["directories"] => Self::Directories,
            ["directories", id] => Self::Directory(id.to_string()),
            ["directories", id, "token"] => Self::DirectoryToken(id.to_string()),
            ["directories", id, "credentials"] => Self::DirectoryCredentials(id.to_string()),
            ["directories", id, "sync"] => Self::DirectorySync(id.to_string()),
            ["directories", id, "sync_failures"] => Self::DirectorySyncFailures(id.to_string()),
            ["directory_users"] => Self::DirectoryUsers,
            ["directory_users", id] => Self::DirectoryUser(id.to_string()),
            ["directory_groups"] => Self::DirectoryGroups,
            ["directory_groups", id] => Self::DirectoryGroup(id.to_string()),
            ["events"] => Self::Events,
            ["webhook_endpoints"] => Self::WebhookEndpoints,
            ["webhook_endpoints", id] => Self::WebhookEndpoint(id.to_string()),
            ["webhook_endpoints", id, "rotate_secret"] => {
                Self::WebhookEndpointSecret(id.to_string())
            }
            ["webhook_endpoints", id, "deliveries"] => {
                Self::WebhookEndpointDeliveries(id.to_string())
            }
            ["deliveries", id, "retry"] => Self::DeliveryRetry(id.to_string()),
            ["authorization", "roles"] => Self::AuthorizationRoles,
            ["authorization", "roles", "preview"] => Self::AuthorizationRolesPreview,
            ["directories", id, "role_mappings"] => Self::DirectoryRoleMappings(id.to_string()),
            ["directories", id, "role_mappings", "preview"] => {
                Self::DirectoryRoleMappingsPreview(id.to_string())
            }
            ["directories", id, "attribute_mappings"] => {
                Self::DirectoryAttributeMappings(id.to_string())
            }
            ["directories", id, "attribute_mappings", "preview"] => {
                Self::DirectoryAttributeMappingsPreview(id.to_string())
            }
            _ => return None,
        })
    }

    /// A name for logs: paths can carry whatever a client typed, labels carry nothing.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Settings => "settings",
            Self::SettingsPreview => "settings_preview",
            Self::Reconciliations => "reconciliations",
            Self::Reconciliation(_) => "reconciliation",
            Self::ApiKeys => "api_keys",
            Self::ApiKey(_) => "api_key",
            Self::Directories => "directories",
            Self::Directory(_) => "directory",
            Self::DirectoryToken(_) => "directory_token",
            Self::DirectoryCredentials(_) => "directory_credentials",
            Self::DirectorySync(_) => "directory_sync",
            Self::DirectorySyncFailures(_) => "directory_sync_failures",
            Self::DirectoryUsers => "directory_users",
            Self::DirectoryUser(_) => "directory_user",
            Self::DirectoryGroups => "directory_groups",
            Self::DirectoryGroup(_) => "directory_group",
            Self::Events => "events",
            Self::WebhookEndpoints => "webhook_endpoints",
            Self::WebhookEndpoint(_) => "webhook_endpoint",
            Self::WebhookEndpointSecret(_) => "webhook_endpoint_secret",
            Self::WebhookEndpointDeliveries(_) => "webhook_endpoint_deliveries",
            Self::DeliveryRetry(_) => "delivery_retry",
            Self::AuthorizationRoles => "authorization_roles",
            Self::AuthorizationRolesPreview => "authorization_roles_preview",
            Self::DirectoryRoleMappings(_) => "directory_role_mappings",
            Self::DirectoryRoleMappingsPreview(_) => "directory_role_mappings_preview",
            Self::DirectoryAttributeMappings(_) => "directory_attribute_mappings",
            Self::DirectoryAttributeMappingsPreview(_) => "directory_attribute_mappings_preview",
        }
    }

    pub fn methods(&self) -> &'static [Method] {
        const GET: &[Method] = &[Method::GET];
        const POST: &[Method] = &[Method::POST];
        const GET_PUT: &[Method] = &[Method::GET, Method::PUT];
        const GET_POST: &[Method] = &[Method::GET, Method::POST];
        const GET_DELETE: &[Method] = &[Method::GET, Method::DELETE];
        const DELETE: &[Method] = &[Method::DELETE];
        const POST_PUT: &[Method] = &[Method::POST, Method::PUT];
        const GET_PATCH_DELETE: &[Method] = &[Method::GET, Method::PATCH, Method::DELETE];
        match self {
            Self::Settings
            | Self::AuthorizationRoles
            | Self::DirectoryRoleMappings(_)
            | Self::DirectoryAttributeMappings(_) => GET_PUT,
            Self::SettingsPreview
            | Self::AuthorizationRolesPreview
            | Self::DirectoryRoleMappingsPreview(_)
            | Self::DirectoryAttributeMappingsPreview(_)
            | Self::DirectoryToken(_)
            | Self::WebhookEndpointSecret(_)
            | Self::DeliveryRetry(_) => POST,
            Self::Reconciliations | Self::ApiKeys | Self::DirectorySync(_) => GET_POST,
            Self::ApiKey(_) => DELETE,
            Self::Directories | Self::WebhookEndpoints => GET_POST,
            Self::Directory(_) => GET_DELETE,
            Self::DirectoryCredentials(_) => POST_PUT,
            Self::WebhookEndpoint(_) => GET_PATCH_DELETE,
            Self::Reconciliation(_)
            | Self::DirectorySyncFailures(_)
            | Self::DirectoryUsers
            | Self::DirectoryUser(_)
            | Self::DirectoryGroups
            | Self::DirectoryGroup(_)
            | Self::Events
            | Self::WebhookEndpointDeliveries(_) => GET,
        }
    }
}

/// What a resource handler gets: the app, the authenticated environment and the request.
pub struct Context<'a> {
    pub app: &'a App,
    pub environment: EnvironmentId,
    pub request: &'a Request<Bytes>,
    pub query: Query,
}

impl Context<'_> {
    pub fn method(&self) -> &Method {
        self.request.method()
    }

    pub fn body(&self) -> &Bytes {
        self.request.body()
    }

    /// `https://host`, from the configured public URL or the request, for SCIM base URLs.
    pub fn origin(&self) -> String {
        if let Some(url) = &self.app.config.public_base_url {
            return url.clone();
        }
        let headers = self.request.headers();
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| self.request.uri().authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        let local = host.starts_with("127.0.0.1")
            || host.starts_with("localhost")
            || host.starts_with("[::1]");
        let scheme = headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .unwrap_or(if local { "http" } else { "https" });
        format!("{scheme}://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(
            Route::parse("/environment/settings/"),
            Some(Route::Settings)
        );
        assert_eq!(
            Route::parse("/directories/directory_1/token"),
            Some(Route::DirectoryToken("directory_1".into()))
        );
        assert_eq!(
            Route::parse("/directory_users/a%20b"),
            Some(Route::DirectoryUser("a b".into()))
        );
        assert_eq!(Route::parse("/events"), Some(Route::Events));
        assert_eq!(Route::parse("/directories/a/b/c"), None);
    }

    #[test]
    fn webhook_paths_map_to_routes_with_their_methods() {
        let cases = [
            (
                "/webhook_endpoints",
                Route::WebhookEndpoints,
                "webhook_endpoints",
            ),
            (
                "/webhook_endpoints/we_1/",
                Route::WebhookEndpoint("we_1".into()),
                "webhook_endpoint",
            ),
            (
                "/webhook_endpoints/we_1/rotate_secret",
                Route::WebhookEndpointSecret("we_1".into()),
                "webhook_endpoint_secret",
            ),
            (
                "/webhook_endpoints/we%5F1/deliveries",
                Route::WebhookEndpointDeliveries("we_1".into()),
                "webhook_endpoint_deliveries",
            ),
            (
                "/deliveries/delivery_1/retry",
                Route::DeliveryRetry("delivery_1".into()),
                "delivery_retry",
            ),
        ];
        for (path, route, label) in cases {
            assert_eq!(Route::parse(path).as_ref(), Some(&route), "{path}");
            assert_eq!(route.label(), label);
        }
        assert_eq!(
            Route::WebhookEndpoints.methods(),
            [Method::GET, Method::POST]
        );
        assert_eq!(
            Route::WebhookEndpoint("we_1".into()).methods(),
            [Method::GET, Method::PATCH, Method::DELETE]
        );
        assert_eq!(Route::DeliveryRetry("d".into()).methods(), [Method::POST]);
        assert_eq!(
            Route::WebhookEndpointDeliveries("we_1".into()).methods(),
            [Method::GET]
        );
        for unknown in [
            "/deliveries",
            "/deliveries/delivery_1",
            "/webhook_endpoints/we_1/secret",
            "/webhook_endpoints/we_1/deliveries/x",
        ] {
            assert_eq!(Route::parse(unknown), None, "{unknown}");
        }
        assert_eq!(Route::parse("/"), None);
    }
}
