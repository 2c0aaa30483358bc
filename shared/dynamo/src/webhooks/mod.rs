//! Webhook endpoints (beside their environment) and deliveries (one partition per endpoint,
//! pending ones indexed by due time for the retry sweep).

mod deliveries;
mod endpoints;

pub use deliveries::{DeliveryPage, DueScan};
