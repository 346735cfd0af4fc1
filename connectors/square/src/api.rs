//! Out to Square: the headers every call carries, and Square's `{errors:[…]}` body mapped to
//! the error class that tells the engine what to do next.
//!
//! | answer | class |
//! | --- | --- |
//! | 429, or category `RATE_LIMIT_ERROR` | `RateLimited` (Square publishes no limits and sends no `Retry-After`: the engine backs off with jitter from the SDK default) |
//! | 5xx, 408, `API_ERROR`, a timeout, a body that is not Square's | `Retryable` |
//! | 401/403 (`AUTHENTICATION_ERROR`, `INSUFFICIENT_SCOPES`), other 4xx (`INVALID_REQUEST_ERROR`) | `Permanent`, quoting `code: detail (field)` |
//!
//! `IDEMPOTENCY_KEY_REUSED` is told apart ([`SquareError::KeyReused`]): the push code knows
//! what it means.

use omnistock_sdk::ConnectorError;
use omnistock_sdk::http::{HttpClient, classify_status, classify_transport, decode_json};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::settings::SquareSettings;
use crate::wire::{ApiError, ErrorBody};

/// A failed call: either an error of its class, or Square saying the idempotency key was
/// already used with another body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SquareError {
    KeyReused(String),
    /// A request error naming one change of a batch (`field: "changes[3].adjustment.…"`):
    /// Square applies a batch all or nothing, so the others were not applied either.
    Change {
        index: usize,
        message: String,
    },
    Other(ConnectorError),
}

impl From<ConnectorError> for SquareError {
    fn from(e: ConnectorError) -> Self {
        Self::Other(e)
    }
}

impl From<SquareError> for ConnectorError {
    fn from(e: SquareError) -> Self {
        match e {
            SquareError::KeyReused(m) | SquareError::Change { message: m, .. } => {
                ConnectorError::Permanent(m)
            }
            SquareError::Other(e) => e,
        }
    }
}

/// Square's REST API for one account.
#[derive(Clone, Debug)]
pub struct Api {
    http: HttpClient,
    base_url: String,
    token: String,
    version: String,
}

impl Api {
    pub fn new(http: HttpClient, settings: &SquareSettings) -> Self {
        Self {
            http,
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            token: settings.access_token.clone(),
            version: settings.square_version.clone(),
        }
    }

    /// `POST path` with a JSON body.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        action: &str,
    ) -> Result<T, SquareError> {
        let request = self.http.client().post(self.url(path)).json(body);
        self.call(request, action).await
    }

    /// `GET path?query`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        action: &str,
    ) -> Result<T, SquareError> {
        let request = self.http.client().get(self.url(path)).query(query);
        self.call(request, action).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        action: &str,
    ) -> Result<T, SquareError> {
        let request = request
            .bearer_auth(&self.token)
            .header("Square-Version", &self.version)
            .header("Accept", "application/json");
        self.http.limiter().ready().await;
        let response = request
            .send()
            .await
            .map_err(|e| classify_transport(&e, action))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(|e| classify_transport(&e, action))?;
        if (200..300).contains(&status) {
            // Bulk endpoints may answer 200 with errors inside.
            if let Some(err) = errors_in(&body).and_then(|errors| classify(status, &errors, action))
            {
                return Err(err);
            }
            return Ok(decode_json(&body, action)?);
        }
        match errors_in(&body).and_then(|errors| classify(status, &errors, action)) {
            Some(err) => Err(err),
            None => Err(
                classify_status(status, retry_after.as_deref(), &body, action)
                    .unwrap_or_else(|| {
                        ConnectorError::Retryable(format!("{action}: HTTP {status}"))
                    })
                    .into(),
            ),
        }
    }
}

/// The `errors` of a body, if it is Square's error shape with at least one.
fn errors_in(body: &[u8]) -> Option<Vec<ApiError>> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.errors)
        .filter(|e| !e.is_empty())
}

/// The class of Square's errors; the first one decides, as Square's status does.
pub fn classify(status: u16, errors: &[ApiError], action: &str) -> Option<SquareError> {
    let first = errors.first()?;
    let detail = describe(errors);
    if first.code == "IDEMPOTENCY_KEY_REUSED" {
        return Some(SquareError::KeyReused(format!("{action}: {detail}")));
    }
    if first.category == "INVALID_REQUEST_ERROR"
        && let Some(index) = first.field.as_deref().and_then(change_index)
    {
        return Some(SquareError::Change {
            index,
            message: format!("{action}: {detail}"),
        });
    }
    let err = match (status, first.category.as_str()) {
        (429, _) | (_, "RATE_LIMIT_ERROR") => ConnectorError::RateLimited {
            message: format!("{action}: HTTP {status}: {detail}"),
            retry_after: omnistock_sdk::http::DEFAULT_RETRY_AFTER,
        },
        (408 | 500..=599, _) | (_, "API_ERROR") => {
            ConnectorError::Retryable(format!("{action}: HTTP {status}: {detail}"))
        }
        (401 | 403, _) | (_, "AUTHENTICATION_ERROR") => ConnectorError::Permanent(format!(
            "{action}: HTTP {status} (check the access token and its scopes): {detail}"
        )),
        _ => ConnectorError::Permanent(format!("{action}: HTTP {status}: {detail}")),
    };
    Some(SquareError::Other(err))
}

/// `3` of `changes[3].adjustment.quantity`.
fn change_index(field: &str) -> Option<usize> {
    field
        .strip_prefix("changes[")?
        .split(']')
        .next()?
        .parse()
        .ok()
}

fn describe(errors: &[ApiError]) -> String {
    errors
        .iter()
        .map(|e| {
            let mut text = format!("{} {}", e.category, e.code);
            if let Some(detail) = &e.detail {
                text.push_str(": ");
                text.push_str(detail);
            }
            if let Some(field) = &e.field {
                text.push_str(&format!(" (field {field})"));
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(json: &str) -> Vec<ApiError> {
        serde_json::from_str::<ErrorBody>(json)
            .expect("error body")
            .errors
    }

    #[test]
    fn categories_map_to_classes() {
        let limited = errors(
            r#"{"errors":[{"category":"RATE_LIMIT_ERROR","code":"RATE_LIMITED","detail":"slow down"}]}"#,
        );
        assert!(matches!(
            classify(429, &limited, "x"),
            Some(SquareError::Other(ConnectorError::RateLimited { .. }))
        ));
        let api = errors(r#"{"errors":[{"category":"API_ERROR","code":"INTERNAL_SERVER_ERROR"}]}"#);
        assert!(matches!(
            classify(500, &api, "x"),
            Some(SquareError::Other(ConnectorError::Retryable(_)))
        ));
        let auth =
            errors(r#"{"errors":[{"category":"AUTHENTICATION_ERROR","code":"UNAUTHORIZED"}]}"#);
        assert!(matches!(
            classify(401, &auth, "x"),
            Some(SquareError::Other(ConnectorError::Permanent(m))) if m.contains("UNAUTHORIZED")
        ));
        let bad = errors(
            r#"{"errors":[{"category":"INVALID_REQUEST_ERROR","code":"INVALID_VALUE","detail":"bad","field":"quantity"}]}"#,
        );
        assert!(matches!(
            classify(400, &bad, "pushing"),
            Some(SquareError::Other(ConnectorError::Permanent(m))) if m.contains("(field quantity)")
        ));
        let reused = errors(
            r#"{"errors":[{"category":"INVALID_REQUEST_ERROR","code":"IDEMPOTENCY_KEY_REUSED"}]}"#,
        );
        assert!(matches!(
            classify(400, &reused, "x"),
            Some(SquareError::KeyReused(_))
        ));
        assert_eq!(classify(400, &[], "x"), None);
        let one = errors(
            r#"{"errors":[{"category":"INVALID_REQUEST_ERROR","code":"NOT_FOUND","field":"changes[3].adjustment.catalog_object_id"}]}"#,
        );
        assert!(matches!(
            classify(400, &one, "x"),
            Some(SquareError::Change { index: 3, .. })
        ));
    }
}
