use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found another version: someone wrote first.
    #[error("the item changed since it was read")]
    Conflict,
    /// A uniqueness guard already exists (a `userName` taken in this directory, say).
    #[error("a unique value is already taken")]
    Duplicate,
    #[error("not found")]
    NotFound,
    /// A stored item that does not decode: a bug or a manual edit, never client input.
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    #[error("dynamodb: {0}")]
    Backend(String),
}

impl StoreError {
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        Self::Corrupt(what.into())
    }
}

/// SDK errors carry request details; keep the code and message only (never item contents).
pub(crate) fn backend<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> StoreError {
    match err.as_service_error() {
        Some(service) => StoreError::Backend(format!(
            "{}: {}",
            service.code().unwrap_or("unknown"),
            service.message().unwrap_or("")
        )),
        None => StoreError::Backend(format!("{err:?}")),
    }
}

pub(crate) fn is_conditional_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}
