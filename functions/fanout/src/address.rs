//! The network half of the endpoint address rules at delivery: the delivery client's own
//! resolver checks every address at each connection (so a DNS answer that changes after the
//! API's check when the endpoint was saved does not let a delivery reach a forbidden address).

use std::net::SocketAddr;
use std::sync::Arc;

use dsync_domain::webhooks::AddressPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((host, port)).await?.collect())
}

/// A resolver for the delivery client that only returns allowed addresses, and fails when
/// none is left.
#[derive(Debug, Clone)]
pub struct CheckedResolver {
    pub policy: AddressPolicy,
}

#[derive(Debug)]
pub struct ForbiddenAddress;

impl std::fmt::Display for ForbiddenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the endpoint's host resolves to an address that is not allowed")
    }
}

impl std::error::Error for ForbiddenAddress {}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let found = resolve(name.as_str(), 0).await?;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(ForbiddenAddress) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The delivery client: no redirects (a 3xx is a failed attempt), the attempt timeout,
/// pooled connections, and the checked resolver. Proxy environment variables are ignored:
/// through a proxy the proxy resolves the endpoint's host, and the resolver's check would
/// never see the address actually reached.
pub fn http_client(policy: AddressPolicy, timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(10)))
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("dsync-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(CheckedResolver { policy }))
        .build()
        // Only TLS back-end initialisation can fail here, which is a broken build.
        .expect("the HTTP client builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_resolver_drops_forbidden_addresses() {
        let resolver = CheckedResolver {
            policy: AddressPolicy::strict(),
        };
        let result = resolver.resolve("localhost".parse().unwrap()).await;
        assert!(result.is_err());
        let resolver = CheckedResolver {
            policy: AddressPolicy::local(),
        };
        let addresses: Vec<_> = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addresses.iter().all(|a| a.ip().is_loopback()));
    }
}
