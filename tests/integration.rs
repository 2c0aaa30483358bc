//! The end-to-end tests, compiled into one binary (every extra test binary is another slow
//! link of the AWS SDK). Add a module here rather than a `[[test]]` target.

mod api_auth_settings;
mod api_directories;
mod api_events;
mod api_keys;
mod api_reconciliations;
mod api_support;
mod api_users_groups;
mod api_webhooks;
mod cost;
mod docs_links;
mod events_ordering;
mod local_runner;
mod policy_flows;
mod policy_reconcile;
mod policy_stream;
mod reliability;
mod scim_bad_input;
mod scim_entra;
mod scim_large_groups;
mod scim_limits;
mod scim_many_groups;
mod scim_okta;
mod scim_onelogin_jumpcloud;
mod scim_paging_concurrency;
mod scim_search;
mod storage;
mod template_agreement;
mod webhooks_cost;
mod webhooks_delivery;
mod webhooks_sweep;
mod workos_2026_shapes;
mod workos_node_sdk;
mod workos_sdk;
mod workos_webhook_endpoints;
