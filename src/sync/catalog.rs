//! Learning how a channel names its items: one full listing at start, so its connector can
//! map SKUs to item ids (for pushes) and item ids to SKUs (for webhooks that carry no SKU,
//! like Shopify's `inventory_levels/update`).
//!
//! A refused page is asked for again from the same cursor: a rate limit on a small plan must
//! slow the listing down, not restart it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::DefaultDirectRateLimiter;
use omnistock_sdk::{ChannelId, Connector, ConnectorError};
use tokio::sync::watch;

/// A listing in progress: the cursor of the next page, and how much is done.
pub struct Listing {
    channel: ChannelId,
    cursor: Option<String>,
    levels: usize,
    pages: usize,
    started: Instant,
}

impl Listing {
    pub fn new(channel: ChannelId) -> Self {
        Self {
            channel,
            cursor: None,
            levels: 0,
            pages: 0,
            started: Instant::now(),
        }
    }

    /// Lists the pages left, through `limiter`; an error leaves the cursor where it was.
    pub async fn run(
        &mut self,
        connector: &dyn Connector,
        limiter: &DefaultDirectRateLimiter,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), ConnectorError> {
        loop {
            limiter.until_ready().await;
            let page = connector.list(self.cursor.clone()).await?;
            self.levels += page.levels.len();
            self.pages += 1;
            if self.pages.is_multiple_of(20) {
                let rate = self.levels as f64 / self.started.elapsed().as_secs_f64().max(0.001);
                tracing::info!(channel = %self.channel, levels = self.levels, pages = self.pages, rate = rate as u64, "Learning the channel's catalog…");
            }
            match page.next {
                Some(next) if !*stop.borrow() => self.cursor = Some(next),
                _ => break,
            }
        }
        let elapsed_ms = self.started.elapsed().as_millis() as u64;
        tracing::info!(channel = %self.channel, levels = self.levels, pages = self.pages, elapsed_ms, "Channel catalog learned.");
        Ok(())
    }
}

/// Learns a channel's catalog for a connector that has no pusher (a channel that owns its
/// location only sends us webhooks), retrying until done or stopped.
pub async fn learn(
    channel: ChannelId,
    connector: Arc<dyn Connector>,
    limiter: DefaultDirectRateLimiter,
    mut stop: watch::Receiver<bool>,
) {
    let mut listing = Listing::new(channel.clone());
    let mut wait = Duration::from_secs(1);
    while !*stop.borrow() {
        match listing.run(connector.as_ref(), &limiter, &stop).await {
            Ok(()) => return,
            Err(e) => {
                let delay = match &e {
                    ConnectorError::RateLimited { retry_after, .. } => *retry_after,
                    _ => wait,
                };
                tracing::warn!(channel = %channel, error = %e, wait_ms = delay.as_millis() as u64, "Catalog listing failed; retrying.");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        }
    }
}
