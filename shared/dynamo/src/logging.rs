//! The functions' log subscriber: lambda_runtime's default one, with a target filter in place
//! of its `EnvFilter`. `EnvFilter` parses its directives with regular expressions, and that
//! alone links a regex engine into every function; `Targets` takes the same `RUST_LOG` the
//! template sets (`info`, `debug`, `info,dsync_policy=debug`), which is all the functions
//! are configured with. Span and field filters (`[span{field=x}]`) are not supported.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter `env` names: Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`) win
/// over `RUST_LOG`, as in lambda_runtime; neither set, `info`. A filter that does not parse is
/// reported on stderr and `info` used: a typo in a log setting must not stop the function.
pub fn log_filter(env: impl Fn(&str) -> Option<String>) -> Targets {
    let var = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let Some(directives) = var("AWS_LAMBDA_LOG_LEVEL").or_else(|| var("RUST_LOG")) else {
        return Targets::new().with_default(LevelFilter::INFO);
    };
    // Lambda's own level names, upper-case; FATAL has no tracing counterpart.
    let directives = directives.trim().replace("FATAL", "error");
    directives.parse().unwrap_or_else(|_| {
        eprintln!(
            "the log filter {directives:?} is not `level` or `target=level,…`: logging at info"
        );
        Targets::new().with_default(LevelFilter::INFO)
    })
}

/// Installs the subscriber: plain lines, or JSON when Lambda's `AWS_LAMBDA_LOG_FORMAT` is
/// `JSON`, without time (Lambda stamps each line) or target, on stdout.
pub fn init_lambda_logging() {
    let env = |name: &str| std::env::var(name).ok();
    let json =
        env("AWS_LAMBDA_LOG_FORMAT").is_some_and(|format| format.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(log_filter(env));
    let format = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time();
    // A second subscriber (a test that set one) is not an error worth stopping for.
    let _ = if json {
        registry.with(format.json()).try_init()
    } else {
        registry.with(format).try_init()
    };
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    fn filter_of(vars: &[(&str, &str)]) -> Targets {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        log_filter(|name| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn info_unless_told_otherwise() {
        let filter = filter_of(&[]);
        assert!(filter.would_enable("dsync_policy", &Level::INFO));
        assert!(!filter.would_enable("dsync_policy", &Level::DEBUG));
    }

    #[test]
    fn rust_log_directives_set_levels_per_target() {
        let filter = filter_of(&[("RUST_LOG", "info,dsync_policy=debug")]);
        assert!(filter.would_enable("dsync_policy::reconcile", &Level::DEBUG));
        assert!(!filter.would_enable("dsync_api", &Level::DEBUG));
        assert!(filter.would_enable("dsync_api", &Level::INFO));
    }

    #[test]
    fn lambdas_log_level_wins_and_is_upper_case() {
        let filter = filter_of(&[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "debug")]);
        assert!(filter.would_enable("dsync_api", &Level::WARN));
        assert!(!filter.would_enable("dsync_api", &Level::INFO));
        let fatal = filter_of(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]);
        assert!(fatal.would_enable("dsync_api", &Level::ERROR));
        assert!(!fatal.would_enable("dsync_api", &Level::WARN));
    }

    #[test]
    fn a_filter_that_does_not_parse_logs_at_info() {
        let filter = filter_of(&[("RUST_LOG", "dsync_policy=loud")]);
        assert!(filter.would_enable("dsync_policy", &Level::INFO));
        assert!(!filter.would_enable("dsync_policy", &Level::DEBUG));
    }
}
