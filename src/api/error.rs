//! The one JSON error shape, and reading a request body within the configured limit.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An error answer: status, a stable code, a message for humans, and the field at fault.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn bad_request(
        code: &'static str,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
            field,
        }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let envelope = Envelope {
            error: ErrorBody {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        (self.status, Json(envelope)).into_response()
    }
}

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body is larger than {limit} bytes (api.max_body_bytes)"),
            )
        } else {
            ApiError::bad_request(
                "unreadable_body",
                None,
                format!("could not read the body: {e}"),
            )
        }
    })
}

/// Parses JSON, naming the field at fault (`events[2].change.quantity`) when it fails.
///
/// Tracking the path costs an allocation per field, on every request; so the body is parsed
/// without it first, and again with it only to explain a failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).or_else(|_| parse_json_explained(bytes))
}

/// [`parse_json`]'s slow path: the same parse, tracking where it fails.
fn parse_json_explained<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let (field, message) = field_and_message(&e.path().to_string(), e.into_inner().to_string());
        ApiError::bad_request("malformed", field, message)
    })?;
    deserializer.end().map_err(|e| {
        ApiError::bad_request(
            "malformed",
            None,
            format!("trailing data after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

/// Joins the path serde tracked with a sub-field a nested deserializer put at the start of
/// its message (`quantity: invalid type …`, from the SDK's event types).
fn field_and_message(path: &str, message: String) -> (Option<String>, String) {
    let path = (path != ".").then(|| path.to_owned());
    let nested = message.split_once(": ").filter(|(name, _)| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c))
    });
    match (path, nested) {
        (Some(path), Some((name, rest))) => (Some(format!("{path}.{name}")), rest.to_owned()),
        (path, _) => (path, message),
    }
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint: {}", uri.path()),
    )
}

pub async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take this method", uri.path()),
    )
}
