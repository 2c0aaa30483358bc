//! Which URLs an endpoint may have. A webhook makes our servers send requests to a URL a
//! customer chose, so without these checks an API key would be a key to the internal network
//! (instance metadata at 169.254.169.254, say).
//!
//! The URL is checked when the endpoint is saved, and every address its host resolves to is
//! checked again at each delivery (the fan-out function's resolver), because DNS can change
//! between the two.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

const MAX_URL_BYTES: usize = 2048;

/// What besides public HTTPS endpoints is allowed. Production allows nothing else; the local
/// runner allows loopback over plain HTTP, so a receiver on the same machine works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    pub allow_loopback: bool,
    /// Private, link-local, shared (CGNAT) and other non-public ranges.
    pub allow_private: bool,
    pub allow_http: bool,
}

impl AddressPolicy {
    /// Public HTTPS only.
    pub fn strict() -> Self {
        Self::default()
    }

    /// What the local runner allows by default: loopback, over HTTP too.
    pub fn local() -> Self {
        Self {
            allow_loopback: true,
            allow_private: false,
            allow_http: true,
        }
    }

    /// `"loopback,http"`: a comma-separated list of `loopback`, `private`, `http`; empty is
    /// [`strict`](Self::strict).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut policy = Self::strict();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "loopback" => policy.allow_loopback = true,
                "private" => policy.allow_private = true,
                "http" => policy.allow_http = true,
                other => {
                    return Err(format!(
                        "unknown allowance {other:?}; expected loopback, private or http"
                    ))
                }
            }
        }
        Ok(policy)
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressClass::Public => true,
            AddressClass::Loopback => self.allow_loopback,
            AddressClass::Private => self.allow_private,
        }
    }

    /// The check of a host name's DNS answer when an endpoint is saved: every address must be
    /// permitted, and a name with no address at all is refused as unresolvable.
    pub fn permits_all(&self, resolved: &[IpAddr]) -> Result<(), UrlError> {
        if resolved.is_empty() {
            return Err(UrlError::Unresolvable);
        }
        if resolved.iter().all(|ip| self.permits(*ip)) {
            Ok(())
        } else {
            Err(UrlError::ForbiddenAddress)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    /// Anything else that is not a public unicast address.
    Private,
}

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    let non_public = ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240; // reserved
    if non_public {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    // An IPv4 address written as IPv6 (::ffff:a.b.c.d, or NAT64's 64:ff9b::a.b.c.d) reaches
    // that IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let segments = ip.segments();
    let octets = ip.octets();
    if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6] == [0, 0, 0, 0] {
        let [.., a, b, c, d] = octets;
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    // 6to4 (2002:V4ADDR::/48): a relay delivers it to the embedded IPv4 address.
    if segments[0] == 0x2002 {
        let [_, _, a, b, c, d, ..] = octets;
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    // Teredo (2001:0::/32): the server's IPv4 address in bits 32–63 and the client's,
    // inverted, in the last 32. Either one reaches IPv4; the address is only as public as
    // the less public of the two.
    if segments[0] == 0x2001 && segments[1] == 0 {
        let [.., a, b, c, d] = octets;
        let server = classify_v4(Ipv4Addr::new(octets[4], octets[5], octets[6], octets[7]));
        let client = classify_v4(Ipv4Addr::new(!a, !b, !c, !d));
        return [server, client]
            .into_iter()
            .find(|class| *class != AddressClass::Public)
            .unwrap_or(AddressClass::Public);
    }
    let non_public = ip.is_unspecified()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[..6] == [0, 0, 0, 0, 0, 0]; // IPv4-compatible (deprecated)
    if non_public {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("url is not a valid absolute URL")]
    Malformed,
    #[error("url is longer than {MAX_URL_BYTES} bytes")]
    TooLong,
    #[error("url must use https")]
    NotHttps,
    #[error("url must not contain a user name or password")]
    Credentials,
    #[error("url must not contain a fragment")]
    Fragment,
    #[error("url must name a host")]
    NoHost,
    #[error("url points at a private, loopback or link-local address, which is not allowed")]
    ForbiddenAddress,
    #[error("url's host name does not resolve")]
    Unresolvable,
}

/// A URL that passed the checks that need no DNS: scheme, shape, and the address when the
/// host is an IP literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    url: Url,
}

impl EndpointUrl {
    pub fn parse(text: &str, policy: &AddressPolicy) -> Result<Self, UrlError> {
        if text.len() > MAX_URL_BYTES {
            return Err(UrlError::TooLong);
        }
        let url = Url::parse(text.trim()).map_err(|_| UrlError::Malformed)?;
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_http => {}
            _ => return Err(UrlError::NotHttps),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        match url.host() {
            None => return Err(UrlError::NoHost),
            Some(Host::Ipv4(ip)) if !policy.permits(IpAddr::V4(ip)) => {
                return Err(UrlError::ForbiddenAddress)
            }
            Some(Host::Ipv6(ip)) if !policy.permits(IpAddr::V6(ip)) => {
                return Err(UrlError::ForbiddenAddress)
            }
            Some(Host::Domain(name)) if is_localhost_name(name) && !policy.allow_loopback => {
                return Err(UrlError::ForbiddenAddress)
            }
            Some(_) => {}
        }
        Ok(Self { url })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The host to resolve, when it is a name rather than an IP literal.
    pub fn domain(&self) -> Option<&str> {
        self.url.domain()
    }

    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }
}

/// `localhost` and its subdomains resolve to loopback by convention (RFC 6761), whatever DNS
/// says; refusing the name early gives a clearer error than refusing its address.
fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
            // Teredo: server 65.54.227.120, client 8.8.8.8 (inverted: f7f7:f7f7).
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
        ] {
            assert_eq!(classify(ip(public)), AddressClass::Public, "{public}");
        }
        for loopback in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ] {
            assert_eq!(classify(ip(loopback)), AddressClass::Loopback, "{loopback}");
        }
        for private in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "fd00::1",
            "fe80::1",
            "::",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            // 6to4 around 169.254.169.254, 10.0.0.1 and 127.0.0.1.
            "2002:a9fe:a9fe::1",
            "2002:a00:1::",
            // Teredo with client 169.254.169.254 (inverted 5601:5601), or server 10.0.0.1.
            "2001:0:4136:e378:8000:63bf:5601:5601",
            "2001:0:a00:1:8000:63bf:f7f7:f7f7",
        ] {
            assert_eq!(classify(ip(private)), AddressClass::Private, "{private}");
        }
    }

    #[test]
    fn strict_policy_takes_public_https_only() {
        let strict = AddressPolicy::strict();
        assert!(EndpointUrl::parse("https://hooks.example.com/dsync?x=1", &strict).is_ok());
        let refused = [
            ("http://hooks.example.com/", UrlError::NotHttps),
            ("ftp://hooks.example.com/", UrlError::NotHttps),
            ("https://127.0.0.1/", UrlError::ForbiddenAddress),
            ("https://[::1]:8443/", UrlError::ForbiddenAddress),
            ("https://169.254.169.254/latest", UrlError::ForbiddenAddress),
            ("https://10.1.2.3/", UrlError::ForbiddenAddress),
            ("https://localhost/", UrlError::ForbiddenAddress),
            ("https://api.localhost./", UrlError::ForbiddenAddress),
            ("https://user:pw@example.com/", UrlError::Credentials),
            ("https://example.com/#frag", UrlError::Fragment),
            ("not a url", UrlError::Malformed),
        ];
        for (url, error) in refused {
            assert_eq!(EndpointUrl::parse(url, &strict), Err(error), "{url}");
        }
        let long = format!("https://example.com/{}", "a".repeat(3000));
        assert_eq!(EndpointUrl::parse(&long, &strict), Err(UrlError::TooLong));
    }

    #[test]
    fn allowances_open_exactly_what_they_name() {
        let local = AddressPolicy::parse("loopback, http").unwrap();
        assert_eq!(local, AddressPolicy::local());
        assert!(EndpointUrl::parse("http://127.0.0.1:9000/hook", &local).is_ok());
        assert!(EndpointUrl::parse("http://localhost:9000/hook", &local).is_ok());
        assert_eq!(
            EndpointUrl::parse("http://10.0.0.1/", &local),
            Err(UrlError::ForbiddenAddress)
        );
        let private = AddressPolicy::parse("private").unwrap();
        assert!(EndpointUrl::parse("https://10.0.0.1/", &private).is_ok());
        assert_eq!(
            EndpointUrl::parse("http://10.0.0.1/", &private),
            Err(UrlError::NotHttps)
        );
        assert!(AddressPolicy::parse("everything").is_err());
        assert_eq!(AddressPolicy::parse("").unwrap(), AddressPolicy::strict());
    }

    #[test]
    fn a_name_passes_only_when_every_address_it_resolves_to_is_allowed() {
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let private: IpAddr = "10.0.0.7".parse().unwrap();
        let strict = AddressPolicy::strict();
        assert_eq!(strict.permits_all(&[public]), Ok(()));
        // One forbidden answer among public ones is enough to refuse: DNS picks any of them.
        assert_eq!(
            strict.permits_all(&[public, private]),
            Err(UrlError::ForbiddenAddress)
        );
        assert_eq!(strict.permits_all(&[]), Err(UrlError::Unresolvable));
        let private_allowed = AddressPolicy::parse("private").unwrap();
        assert_eq!(private_allowed.permits_all(&[public, private]), Ok(()));
    }
}
