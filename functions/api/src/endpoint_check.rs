//! The network half of an endpoint URL's check when it is saved: every address its host name
//! resolves to must be allowed (the fan-out's resolver checks again at each connection).

use std::net::IpAddr;

use dsync_domain::webhooks::{AddressPolicy, EndpointUrl, UrlError};

/// Checks a URL as an endpoint may have it: shape, scheme, and every resolved address.
/// A name that does not resolve is refused too: a typo is better caught now.
pub async fn check_endpoint_url(
    text: &str,
    policy: &AddressPolicy,
) -> Result<EndpointUrl, UrlError> {
    let url = EndpointUrl::parse(text, policy)?;
    if let Some(domain) = url.domain() {
        let resolved: Vec<IpAddr> = tokio::net::lookup_host((domain, url.port()))
            .await
            .map_err(|_| UrlError::Unresolvable)?
            .map(|address| address.ip())
            .collect();
        policy.permits_all(&resolved)?;
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_that_resolve_to_loopback_are_refused_unless_allowed() {
        let strict = AddressPolicy {
            allow_http: true,
            ..AddressPolicy::strict()
        };
        // `localhost` is refused by name; an IP literal by its address.
        assert_eq!(
            check_endpoint_url("http://127.0.0.1:9/", &strict).await,
            Err(UrlError::ForbiddenAddress)
        );
        let local = AddressPolicy::local();
        assert!(check_endpoint_url("http://127.0.0.1:9/hook", &local)
            .await
            .is_ok());
        assert!(check_endpoint_url("http://localhost:9/hook", &local)
            .await
            .is_ok());
    }
}
