//! Prefixed, time-sortable identifiers: `directory_user_01H…`.
//!
//! The suffix is a ULID, so ids sort by creation time and an id names its kind. An id from
//! outside (a URL path, a query parameter) is only ever accepted through [`parse`], which
//! checks the prefix and the ULID, so a malformed id never reaches storage keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct InvalidId {
    pub kind: &'static str,
}

/// Room for any prefixed id's text: the longest prefix, `_` and the 26 ULID characters.
pub const ID_TEXT_MAX: usize = 48;

/// A buffer for [`ID_TEXT_MAX`] bytes of id text.
pub type IdText = [u8; ID_TEXT_MAX];

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id, ordered after every id made earlier by this process.
            pub fn generate() -> Self {
                Self(crate::ids::next_ulid())
            }

            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                s.strip_prefix(Self::PREFIX)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .and_then(|ulid| Ulid::from_string(ulid).ok())
                    .map(Self)
                    .ok_or(InvalidId { kind: Self::PREFIX })
            }

            pub fn ulid(&self) -> Ulid {
                self.0
            }

            /// The id's text (as `to_string` writes it) in the caller's buffer: event
            /// payloads copy several ids each straight into their text.
            pub fn text<'b>(&self, buffer: &'b mut IdText) -> &'b str {
                let (prefix, rest) = buffer.split_at_mut(Self::PREFIX.len());
                prefix.copy_from_slice(Self::PREFIX.as_bytes());
                rest[0] = b'_';
                let mut ulid = [0; ulid::ULID_LEN];
                let ulid = self.0.array_to_str(&mut ulid);
                let end = Self::PREFIX.len() + 1 + ulid.len();
                buffer[Self::PREFIX.len() + 1..end].copy_from_slice(ulid.as_bytes());
                // ASCII throughout: the prefix, '_' and the ULID's base 32 digits.
                std::str::from_utf8(&buffer[..end]).unwrap_or_default()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", Self::PREFIX, self.0)
            }
        }

        /// The same text as `to_string`, written into a string of the exact size: events
        /// carry several ids each, and formatting grows a string two or three times.
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.text(&mut [0; ID_TEXT_MAX]).to_owned()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// A tenant of the service.
    EnvironmentId, "environment"
);
prefixed_id!(
    /// One connection to one provider.
    DirectoryId, "directory"
);
prefixed_id!(
    /// A user as the provider describes it; the SCIM resource id the provider sees.
    ProviderUserId, "provider_user"
);
prefixed_id!(
    /// A group as the provider describes it; the SCIM resource id the provider sees.
    ProviderGroupId, "provider_group"
);
prefixed_id!(
    /// A user as the developer sees it (the projection).
    DirectoryUserId, "directory_user"
);
prefixed_id!(
    /// A group as the developer sees it (the projection).
    DirectoryGroupId, "directory_group"
);
prefixed_id!(
    /// An entry of an environment's event log.
    EventId, "event"
);
prefixed_id!(
    /// A reconciliation run.
    ReconciliationId, "reconciliation"
);
prefixed_id!(
    /// An API key's public identifier (the secret part is never stored).
    ApiKeyId, "key"
);
prefixed_id!(
    /// A subscriber's webhook endpoint (WorkOS spells these `we_…`).
    WebhookEndpointId, "we"
);

/// One event's delivery to one endpoint: `delivery_<endpoint ULID>_<event sequence>`. The id
/// names its own storage key (so finding a delivery is one read, with no index to keep), and
/// recording the same delivery twice yields the same id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeliveryId {
    endpoint: WebhookEndpointId,
    sequence: u64,
}

impl DeliveryId {
    pub const PREFIX: &'static str = "delivery";

    pub fn new(endpoint: WebhookEndpointId, event: &EventId) -> Self {
        Self {
            endpoint,
            sequence: event.sequence(),
        }
    }

    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let invalid = InvalidId { kind: Self::PREFIX };
        let rest = s
            .strip_prefix(Self::PREFIX)
            .and_then(|rest| rest.strip_prefix('_'))
            .ok_or(invalid.clone())?;
        let (ulid, sequence) = rest.split_once('_').ok_or(invalid.clone())?;
        let sequence = sequence
            .parse()
            .ok()
            .filter(|_| sequence.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(invalid.clone())?;
        let endpoint = Ulid::from_string(ulid).map_err(|_| invalid)?;
        Ok(Self {
            endpoint: WebhookEndpointId(endpoint),
            sequence,
        })
    }

    pub fn endpoint(&self) -> WebhookEndpointId {
        self.endpoint
    }

    /// The event's position in its environment's log.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}_{}", Self::PREFIX, self.endpoint.0, self.sequence)
    }
}

impl fmt::Debug for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for DeliveryId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for DeliveryId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl EventId {
    /// An event id that carries its position in its environment's log: a ULID whose
    /// timestamp is `millis`, the event's `created_at` (the event log takes it at commit,
    /// after reading the log head, and never earlier than the event before), and whose 80 random bits are the sequence number (high 40
    /// bits) and 40 random bits. `after=<event id>` then needs no lookup, and ids stay unique
    /// across environments.
    pub fn for_sequence(sequence: u64, millis: i64) -> Self {
        let random = (u128::from(sequence & SEQUENCE_MASK) << 40)
            | u128::from(rand::random::<u64>() & RANDOM_MASK);
        Self(Ulid::from_parts(millis.max(0) as u64, random))
    }

    /// The log position this id was given by [`EventId::for_sequence`].
    pub fn sequence(&self) -> u64 {
        ((self.0.random() >> 40) as u64) & SEQUENCE_MASK
    }
}

const SEQUENCE_MASK: u64 = (1 << 40) - 1;
const RANDOM_MASK: u64 = (1 << 40) - 1;

/// ULIDs from one process are strictly increasing, even within one millisecond.
fn next_ulid() -> Ulid {
    use std::sync::Mutex;
    static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);
    let mut guard = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let generator = guard.get_or_insert_with(ulid::Generator::new);
    // Overflow needs 2^80 ids in one millisecond; fall back to a fresh random ULID.
    generator.generate().unwrap_or_else(|_| Ulid::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_in_a_buffer_is_to_string() {
        let mut buffer = [0; ID_TEXT_MAX];
        let group = DirectoryGroupId::generate();
        assert_eq!(group.text(&mut buffer), group.to_string());
        let key = ApiKeyId::generate();
        assert_eq!(key.text(&mut buffer), key.to_string());
        assert_eq!(String::from(group), group.to_string());
    }

    #[test]
    fn round_trips_through_text() {
        let id = DirectoryUserId::generate();
        let text = id.to_string();
        assert!(text.starts_with("directory_user_01") || text.starts_with("directory_user_0"));
        assert_eq!(DirectoryUserId::parse(&text).unwrap(), id);
        assert_eq!(String::from(id), text);
        let group = DirectoryGroupId::generate();
        assert_eq!(String::from(group), group.to_string());
    }

    #[test]
    fn rejects_wrong_prefix_and_garbage() {
        let user = ProviderUserId::generate().to_string();
        assert!(ProviderGroupId::parse(&user).is_err());
        assert!(DirectoryId::parse("directory_not-a-ulid").is_err());
        assert!(DirectoryId::parse("directory01H").is_err());
        assert!(DirectoryId::parse("").is_err());
        let delivery =
            DeliveryId::new(WebhookEndpointId::generate(), &EventId::for_sequence(42, 0));
        assert_eq!(DeliveryId::parse(&delivery.to_string()), Ok(delivery));
        assert_eq!(delivery.sequence(), 42);
        for bad in [
            "delivery_",
            "delivery_x_1",
            "delivery_01H_1",
            "delivery_01JB8ZXT2Q0Y7R2C0W1W7D3M5N_+1",
        ] {
            assert!(DeliveryId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_ids_carry_their_sequence() {
        for sequence in [0, 1, 42, (1 << 40) - 1] {
            let id = EventId::for_sequence(sequence, 1_700_000_000_000);
            assert_eq!(
                EventId::parse(&id.to_string()).unwrap().sequence(),
                sequence
            );
        }
        assert_ne!(EventId::for_sequence(7, 5), EventId::for_sequence(7, 5));
    }

    #[test]
    fn ids_sort_by_creation() {
        let ids: Vec<_> = (0..1000).map(|_| EventId::generate()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let texts: Vec<_> = ids.iter().map(|i| i.to_string()).collect();
        let mut sorted_texts = texts.clone();
        sorted_texts.sort();
        assert_eq!(texts, sorted_texts);
    }
}
