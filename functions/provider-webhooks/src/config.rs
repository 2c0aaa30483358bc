use std::time::Duration;

/// Settings read once at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Larger bodies are refused with 413 before they are parsed.
    pub max_body_bytes: usize,
    /// `https://scim.example.com`; when absent the base URL comes from the request's host.
    pub public_base_url: Option<String>,
    /// How long a directory read to authenticate a request is reused for later requests of
    /// this process: a rotated token or deleted directory keeps working in other processes
    /// for at most this long. Zero reads the directory on every request.
    pub directory_cache: Duration,
}

/// The default of [`Config::directory_cache`].
pub const DIRECTORY_CACHE: Duration = Duration::from_secs(5);

impl Default for Config {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            public_base_url: None,
            directory_cache: DIRECTORY_CACHE,
        }
    }
}

impl Config {
    /// From `DSYNC_MAX_BODY_BYTES`, `DSYNC_PUBLIC_BASE_URL` and
    /// `DSYNC_SCIM_DIRECTORY_CACHE_MS`.
    pub fn from_env() -> Result<Self, String> {
        let mut config = Self::default();
        if let Ok(value) = std::env::var("DSYNC_MAX_BODY_BYTES") {
            config.max_body_bytes = value
                .parse()
                .map_err(|_| format!("DSYNC_MAX_BODY_BYTES is not a number: {value}"))?;
        }
        config.public_base_url = public_base_url(std::env::var("DSYNC_PUBLIC_BASE_URL").ok());
        if let Ok(value) = std::env::var("DSYNC_SCIM_DIRECTORY_CACHE_MS") {
            let millis: u64 = value
                .parse()
                .map_err(|_| format!("DSYNC_SCIM_DIRECTORY_CACHE_MS is not a number: {value}"))?;
            config.directory_cache = Duration::from_millis(millis);
        }
        Ok(config)
    }
}

/// The template passes `PublicBaseUrl` through even when it is left empty: empty (or blank)
/// means "not set", so URLs come from the request's host rather than becoming relative paths.
fn public_base_url(value: Option<String>) -> Option<String> {
    let url = value?.trim().trim_end_matches('/').to_owned();
    (!url.is_empty()).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::public_base_url;

    #[test]
    fn an_empty_public_base_url_is_no_public_base_url() {
        assert_eq!(public_base_url(None), None);
        assert_eq!(public_base_url(Some(String::new())), None);
        assert_eq!(public_base_url(Some("  ".into())), None);
        assert_eq!(public_base_url(Some("/".into())), None);
        assert_eq!(
            public_base_url(Some("https://scim.example.com/".into())),
            Some("https://scim.example.com".into())
        );
    }
}
