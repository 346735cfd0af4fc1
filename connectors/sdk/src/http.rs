//! Out to a channel's API: one HTTP client per channel, with timeouts, TLS, a user agent and a
//! rate limiter shaped by the connector's [`Capabilities`], and the mapping of every HTTP
//! failure to the [`ConnectorError`] class that tells the engine what to do next.
//!
//! Behind the `http` feature, so the types-only part of the SDK stays light.
//!
//! # TLS
//! reqwest's `rustls` feature, with its default `aws-lc-rs` crypto provider. We tried
//! `rustls-no-provider` + `ring` for a faster build, and rejected it: Cargo unifies reqwest's
//! features across the workspace, so every other `reqwest::Client` in the daemon's process
//! (its CLI client, its tests) would then panic at `build()` unless some code had installed a
//! process-wide provider first — a start-up-order trap. `aws-lc-rs` builds without cmake
//! here and costs about 45 s once on a cold 2-core build, then nothing.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), omnistock_sdk::ConnectorError> {
//! use std::time::Duration;
//! use omnistock_sdk::http::{HttpClient, HttpSettings};
//! use omnistock_sdk::{Capabilities, PushForm};
//!
//! let caps = Capabilities {
//!     push_forms: vec![PushForm::Delta],
//!     max_batch: 100,
//!     calls_per_second: 5.0,
//!     burst: 10,
//!     webhook_topics: vec![],
//! };
//! let http = HttpClient::build(&HttpSettings::new("omnistock-acme/0.1"), &caps)?;
//! let reply = http
//!     .send(http.client().get("https://acme.example/stock"), "reading stock from acme")
//!     .await?;
//! let levels: serde_json::Value = reply.json("reading stock from acme")?;
//! # let _ = (levels, Duration::ZERO);
//! # Ok(()) }
//! ```

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde::de::DeserializeOwned;

use crate::connector::Capabilities;
use crate::error::ConnectorError;

/// How long to wait when a 429 carries no usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How much of a body an error message quotes.
const EXCERPT_LEN: usize = 200;

/// The HTTP side of one channel: who we say we are and how long we wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// Sent as `User-Agent` (`omnistock-shopify/0.1`); some APIs require one.
    pub user_agent: String,
    /// Time to open the TCP + TLS connection.
    pub connect_timeout: Duration,
    /// Time for the whole call, connection to the last byte of the body.
    pub timeout: Duration,
}

impl HttpSettings {
    /// Settings with the default timeouts: 5 s to connect, 30 s in all.
    pub fn new(user_agent: impl Into<String>) -> Self {
        Self {
            user_agent: user_agent.into(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A [`governor`] clock on tokio's time, so a paused test runtime drives the limiter too.
#[derive(Clone, Debug)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }
}

/// A calls-per-second limiter with a burst, shared by a channel's poller and pusher.
#[derive(Debug)]
pub struct Limiter {
    inner: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>,
    clock: TokioClock,
}

impl Limiter {
    /// A limiter of `calls_per_second` sustained, `burst` at once. A rate that is not a
    /// positive number is taken as one call a second; a burst of 0 as 1.
    pub fn new(calls_per_second: f64, burst: u32) -> Self {
        let rate = if calls_per_second.is_finite() && calls_per_second > 0.0 {
            calls_per_second
        } else {
            1.0
        };
        let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| unreachable!("the period is at least 1 ns"))
            .allow_burst(burst);
        let clock = TokioClock::default();
        Self {
            inner: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
        }
    }

    /// A limiter shaped like the connector's declared rate.
    pub fn for_capabilities(caps: &Capabilities) -> Self {
        Self::new(caps.calls_per_second, caps.burst)
    }

    /// Waits until one more call is allowed.
    pub async fn ready(&self) {
        while let Err(not_until) = self.inner.check() {
            let wait = not_until.wait_time_from(self.clock.now());
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// Takes a call if one is allowed now, without waiting.
    pub fn try_ready(&self) -> bool {
        self.inner.check().is_ok()
    }
}

/// A successful (2xx) answer, read to the end.
#[derive(Clone, Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The body as JSON; garbage is [`ConnectorError::Retryable`] with an excerpt.
    pub fn json<T: DeserializeOwned>(&self, action: &str) -> Result<T, ConnectorError> {
        decode_json(&self.body, action)
    }

    /// A header's value as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One channel's HTTP client: reqwest over rustls, with timeouts, user agent and limiter.
/// Cheap to clone; clones share the connection pool and the limiter.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    limiter: Arc<Limiter>,
}

impl HttpClient {
    /// Builds the client and its limiter from the connector's capabilities.
    pub fn build(settings: &HttpSettings, caps: &Capabilities) -> Result<Self, ConnectorError> {
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .build()
            .map_err(|e| ConnectorError::Permanent(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            client,
            limiter: Arc::new(Limiter::for_capabilities(caps)),
        })
    }

    /// The reqwest client, to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The limiter every call through [`HttpClient::send`] waits on.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Waits for the limiter, sends, reads the whole body and classifies the outcome:
    /// a 2xx is returned, everything else becomes the [`ConnectorError`] of its class.
    /// `action` names what we were doing, for the error message.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        action: &str,
    ) -> Result<HttpReply, ConnectorError> {
        self.limiter.ready().await;
        let response = request
            .send()
            .await
            .map_err(|e| classify_transport(&e, action))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| classify_transport(&e, action))?
            .to_vec();
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        match classify_status(status, retry_after, &body, action) {
            Some(err) => Err(err),
            None => Ok(HttpReply {
                status,
                headers,
                body,
            }),
        }
    }
}

/// The error class of a non-2xx status, or `None` for a 2xx.
///
/// 429 → [`ConnectorError::RateLimited`] (with `Retry-After`, else [`DEFAULT_RETRY_AFTER`]);
/// 5xx, 408 → [`ConnectorError::Retryable`]; 401, 403, 404 and the other 4xx →
/// [`ConnectorError::Permanent`]. Messages quote an excerpt of the body.
pub fn classify_status(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    action: &str,
) -> Option<ConnectorError> {
    if (200..300).contains(&status) {
        return None;
    }
    let detail = excerpt(body);
    Some(match status {
        429 => ConnectorError::RateLimited {
            message: format!("{action}: HTTP 429"),
            retry_after: retry_after
                .and_then(parse_retry_after)
                .unwrap_or(DEFAULT_RETRY_AFTER),
        },
        408 | 500..=599 => ConnectorError::Retryable(format!("{action}: HTTP {status}: {detail}")),
        401 | 403 => ConnectorError::Permanent(format!(
            "{action}: HTTP {status} (check the credentials and scopes): {detail}"
        )),
        _ => ConnectorError::Permanent(format!("{action}: HTTP {status}: {detail}")),
    })
}

/// The error class of a failure below HTTP: timeouts, refused or reset connections and
/// broken bodies are [`ConnectorError::Retryable`]; a request we could not even build is
/// [`ConnectorError::Permanent`].
pub fn classify_transport(err: &reqwest::Error, action: &str) -> ConnectorError {
    if err.is_builder() {
        return ConnectorError::Permanent(format!("{action}: {err}"));
    }
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    ConnectorError::Retryable(format!("{action}: {what}: {}", error_chain(err)))
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` as seconds (`2`, `2.0`); HTTP dates are not used by the APIs we speak.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

/// Decodes a JSON body; garbage is [`ConnectorError::Retryable`] quoting the body, since a
/// proxy's error page or a truncated answer usually goes away on its own.
pub fn decode_json<T: DeserializeOwned>(body: &[u8], action: &str) -> Result<T, ConnectorError> {
    serde_json::from_slice(body).map_err(|e| {
        ConnectorError::Retryable(format!(
            "{action}: unreadable response ({e}): {}",
            excerpt(body)
        ))
    })
}

/// The first bytes of a body, printable, for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_LEN)]);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > EXCERPT_LEN {
        out.push('…');
    }
    if out.trim().is_empty() {
        out = "(empty body)".to_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_classes() {
        assert_eq!(classify_status(200, None, b"", "x"), None);
        let limited = classify_status(429, Some("2.5"), b"", "pushing 3 quantities");
        assert_eq!(
            limited,
            Some(ConnectorError::RateLimited {
                message: "pushing 3 quantities: HTTP 429".into(),
                retry_after: Duration::from_millis(2500),
            })
        );
        assert!(matches!(
            classify_status(429, None, b"", "x"),
            Some(ConnectorError::RateLimited { retry_after, .. }) if retry_after == DEFAULT_RETRY_AFTER
        ));
        for status in [500, 502, 503, 408] {
            assert!(matches!(
                classify_status(status, None, b"oops", "x"),
                Some(ConnectorError::Retryable(_))
            ));
        }
        for status in [401, 403, 404, 400] {
            assert!(matches!(
                classify_status(status, None, b"", "x"),
                Some(ConnectorError::Permanent(_))
            ));
        }
    }

    #[test]
    fn garbage_is_retryable_with_an_excerpt() {
        let err = decode_json::<serde_json::Value>(b"<html>Bad gateway</html>", "reading")
            .expect_err("not json");
        match err {
            ConnectorError::Retryable(m) => assert!(m.contains("<html>Bad gateway"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(excerpt(b""), "(empty body)");
        assert!(excerpt(&[b'a'; 500]).ends_with('…'));
    }

    #[test]
    fn retry_after_is_seconds() {
        assert_eq!(parse_retry_after("2.0"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spaces_calls_after_the_burst() {
        let limiter = Limiter::new(10.0, 2);
        let start = tokio::time::Instant::now();
        for _ in 0..4 {
            limiter.ready().await;
        }
        // Two at once, then one every 100 ms.
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_millis(400), "{waited:?}");
    }
}
