//! Webhook fan-out, the pure part: endpoints and their secrets, how a delivery is signed,
//! which addresses an endpoint may point at, and what follows an attempt (the retry schedule).
//!
//! The fan-out function (`functions/fanout`) does the I/O: it records deliveries in DynamoDB,
//! sends them, and asks [`attempt::decide`] what comes next.

pub mod address;
pub mod attempt;
pub mod delivery;
pub mod endpoint;
pub mod schedule;
pub mod signing;

pub use address::{AddressPolicy, EndpointUrl, UrlError};
pub use attempt::{decide, AttemptResult, Next};
pub use delivery::{Delivery, DeliveryState};
pub use endpoint::{EndpointStatus, PreviousSecret, WebhookEndpoint};
pub use schedule::RetrySchedule;
pub use signing::{sign, SignedHeaders};
