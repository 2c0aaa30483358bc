//! One record as the streams API returns it, turned into the record Lambda hands a function.

use std::collections::HashMap;
use std::time::SystemTime;

use anyhow::{anyhow, bail};
use aws_lambda_events::event::dynamodb::{EventRecord, StreamViewType, UserIdentity};
use aws_sdk_dynamodbstreams::types::{self as sdk, AttributeValue as SdkValue};
use serde_dynamo::{AttributeValue, Item};

/// Lambda's record for `record`, read from the stream `stream_arn`. Fails only on a record the
/// engine should never send (no change, no sequence number, an attribute type this SDK doesn't
/// know), so the caller can stop rather than hand a function half a record.
pub(super) fn event_record(
    record: sdk::Record,
    stream_arn: &str,
    fallback_region: &str,
) -> anyhow::Result<EventRecord> {
    let change = record
        .dynamodb
        .ok_or_else(|| anyhow!("a stream record without its change"))?;
    let sequence_number = change
        .sequence_number
        .ok_or_else(|| anyhow!("a stream record without a sequence number"))?;
    let event_name = record
        .event_name
        .ok_or_else(|| anyhow!("stream record {sequence_number} has no event name"))?;

    // The event types are `#[non_exhaustive]`, so they are built from their defaults.
    let mut out = EventRecord::default();
    out.aws_region = record
        .aws_region
        .unwrap_or_else(|| fallback_region.to_owned());
    out.event_id = record.event_id.unwrap_or_else(|| sequence_number.clone());
    out.event_name = event_name.as_str().to_owned();
    out.event_source = Some(
        record
            .event_source
            .unwrap_or_else(|| "aws:dynamodb".to_owned()),
    );
    out.event_version = record.event_version;
    // The streams API doesn't carry the ARN on each record; Lambda adds it, and so do we.
    out.event_source_arn = Some(stream_arn.to_owned());
    // TTL deletions carry `Service` / `dynamodb.amazonaws.com`; handlers tell them apart by it.
    // It is the only identity DynamoDB puts on a stream record, which lets us fill in what
    // dynoxide 3.2 loses: it spells the members `type`/`principalId` (the Lambda event's casing)
    // where the streams API and the SDK say `Type`/`PrincipalId`, so the SDK sees them empty.
    out.user_identity = record.user_identity.map(|identity| {
        let mut user = UserIdentity::default();
        user.type_ = identity.r#type.unwrap_or_else(|| "Service".to_owned());
        user.principal_id = identity
            .principal_id
            .unwrap_or_else(|| "dynamodb.amazonaws.com".to_owned());
        user
    });

    out.change.keys = item(change.keys)?;
    out.change.new_image = item(change.new_image)?;
    out.change.old_image = item(change.old_image)?;
    out.change.size_bytes = change.size_bytes.unwrap_or_default();
    out.change.stream_view_type = change.stream_view_type.and_then(|view| match view {
        sdk::StreamViewType::KeysOnly => Some(StreamViewType::KeysOnly),
        sdk::StreamViewType::NewImage => Some(StreamViewType::NewImage),
        sdk::StreamViewType::OldImage => Some(StreamViewType::OldImage),
        sdk::StreamViewType::NewAndOldImages => Some(StreamViewType::NewAndOldImages),
        _ => None,
    });
    if let Some(at) = change
        .approximate_creation_date_time
        .and_then(|at| SystemTime::try_from(at).ok())
    {
        out.change.approximate_creation_date_time = at.into();
    }
    out.change.sequence_number = Some(sequence_number);
    Ok(out)
}

/// An image as Lambda's event carries it; a missing image is an empty one, as in Lambda's JSON.
pub(super) fn item(image: Option<HashMap<String, SdkValue>>) -> anyhow::Result<Item> {
    let mut item = Item::default();
    for (name, value) in image.unwrap_or_default() {
        item.insert(name, attribute(value)?);
    }
    Ok(item)
}

fn attribute(value: SdkValue) -> anyhow::Result<AttributeValue> {
    Ok(match value {
        SdkValue::S(s) => AttributeValue::S(s),
        SdkValue::N(n) => AttributeValue::N(n),
        SdkValue::B(b) => AttributeValue::B(b.into_inner()),
        SdkValue::Bool(b) => AttributeValue::Bool(b),
        SdkValue::Null(null) => AttributeValue::Null(null),
        SdkValue::M(map) => AttributeValue::M(
            map.into_iter()
                .map(|(name, value)| Ok((name, attribute(value)?)))
                .collect::<anyhow::Result<_>>()?,
        ),
        SdkValue::L(list) => AttributeValue::L(
            list.into_iter()
                .map(attribute)
                .collect::<anyhow::Result<_>>()?,
        ),
        SdkValue::Ss(set) => AttributeValue::Ss(set),
        SdkValue::Ns(set) => AttributeValue::Ns(set),
        SdkValue::Bs(set) => AttributeValue::Bs(set.into_iter().map(|b| b.into_inner()).collect()),
        // Named without the value: it could be anything, and logs must not carry item contents.
        _ => bail!("an attribute of a type this SDK does not know"),
    })
}
