//! Providers that do not speak SCIM: their records mapped to the provider records the SCIM
//! endpoint writes, so the projection, the events and the fan-out treat them alike.

pub mod google;
