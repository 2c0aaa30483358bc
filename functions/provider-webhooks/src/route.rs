//! Parsing the request line: `…/scim/v2/{directory_id}/{Resource}[/{id}]` and its query.

use std::collections::HashMap;

use bytes::Bytes;
use dsync_domain::ids::DirectoryId;
use dsync_domain::model::{if_match_admits, Directory};
use dsync_domain::scim::{discovery, ScimError};
use http::{Request, Response, StatusCode};

use crate::{respond, App, Config};

const SCIM_PREFIX: &str = "/scim/v2/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Users(Option<String>),
    Groups(Option<String>),
    /// `POST /.search` at the server root.
    Search,
    ServiceProviderConfig,
    ResourceTypes(Option<String>),
    Schemas(Option<String>),
}

#[derive(Debug, Clone)]
pub struct Route {
    /// `None` when the path segment is not a directory id: authentication then fails.
    pub directory_id: Option<DirectoryId>,
    pub endpoint: Endpoint,
    pub query: HashMap<String, String>,
    /// `https://host[/stage]/scim/v2/directory_…`
    pub base_url: String,
}

/// What a resource handler gets.
pub struct Context<'a> {
    pub app: &'a App,
    pub directory: &'a Directory,
    pub route: &'a Route,
    pub request: &'a Request<Bytes>,
}

impl Context<'_> {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.route
            .query
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn if_match(&self) -> Option<&str> {
        self.request
            .headers()
            .get(http::header::IF_MATCH)?
            .to_str()
            .ok()
    }

    /// A stale `If-Match` is a 412; no `If-Match` admits any version.
    pub fn check_if_match(&self, version: u64) -> Result<(), ScimError> {
        match self.if_match() {
            Some(tag) if !if_match_admits(tag, version) => Err(ScimError::precondition_failed()),
            _ => Ok(()),
        }
    }
}

impl Route {
    pub fn parse(request: &Request<Bytes>, config: &Config) -> Result<Self, ScimError> {
        let path = request.uri().path();
        let not_found = || ScimError::not_found(format!("no SCIM endpoint at {path}"));
        let start = path.find(SCIM_PREFIX).ok_or_else(not_found)?;
        let mount = &path[..start];
        let segments: Vec<String> = path[start + SCIM_PREFIX.len()..]
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let (directory, rest) = segments.split_first().ok_or_else(not_found)?;
        let id = match rest.len() {
            1 => None,
            2 => Some(rest[1].clone()),
            _ => return Err(not_found()),
        };
        let endpoint = match rest[0].as_str() {
            "Users" => Endpoint::Users(id),
            "Groups" => Endpoint::Groups(id),
            ".search" if id.is_none() => Endpoint::Search,
            "ServiceProviderConfig" if id.is_none() => Endpoint::ServiceProviderConfig,
            "ResourceTypes" => Endpoint::ResourceTypes(id),
            "Schemas" => Endpoint::Schemas(id),
            _ => return Err(not_found()),
        };
        let query = request
            .uri()
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let origin = match &config.public_base_url {
            Some(url) => url.clone(),
            None => origin_of(request),
        };
        Ok(Self {
            directory_id: DirectoryId::parse(directory).ok(),
            base_url: format!("{origin}{mount}{SCIM_PREFIX}{directory}"),
            endpoint,
            query,
        })
    }
}

fn origin_of(request: &Request<Bytes>) -> String {
    let headers = request.headers();
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let local =
        host.starts_with("127.0.0.1") || host.starts_with("localhost") || host.starts_with("[::1]");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or(if local { "http" } else { "https" });
    format!("{scheme}://{host}")
}

/// `/ServiceProviderConfig`, `/ResourceTypes[/name]`, `/Schemas[/urn]`: read-only documents.
pub fn serve_discovery(ctx: &Context<'_>) -> Result<Response<Bytes>, ScimError> {
    if ctx.request.method() != http::Method::GET {
        return Err(ScimError::method_not_allowed());
    }
    let base = &ctx.route.base_url;
    let body = match &ctx.route.endpoint {
        Endpoint::ServiceProviderConfig => discovery::service_provider_config(base),
        Endpoint::ResourceTypes(None) => discovery::resource_types(base),
        Endpoint::ResourceTypes(Some(name)) => discovery::resource_type(base, name)
            .ok_or_else(|| ScimError::not_found(format!("no resource type {name}")))?,
        Endpoint::Schemas(None) => discovery::schemas(base),
        Endpoint::Schemas(Some(urn)) => discovery::schema(base, urn)
            .ok_or_else(|| ScimError::not_found(format!("no schema {urn}")))?,
        Endpoint::Users(_) | Endpoint::Groups(_) | Endpoint::Search => {
            return Err(ScimError::method_not_allowed())
        }
    };
    Ok(respond::json(StatusCode::OK, &body))
}
