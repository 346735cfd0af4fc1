//! The safety net for webhooks WooCommerce never retries: orders modified since a cursor,
//! in pages of 100, turned into the same events (same ids) as their webhooks.
//!
//! The cursor is `<after>|<page>|<latest>`: the `modified_after` bound of the current sweep,
//! the page of it to fetch, and the latest `date_modified_gmt` seen in it so far. A sweep
//! pages through `modified_after=<after>` in creation order (ascending, so orders entering
//! the set while we page only push others to later pages: seen twice, never skipped); when
//! it ends, the next sweep starts one second before the latest modification seen (the
//! times have whole seconds: an order modified in that same second is read again, and its
//! events dedup). Without a cursor the first sweep reads the latest page of orders.
//! `modified_after` needs WooCommerce 5.8 or later. Each sweep also checks that WooCommerce
//! still delivers our webhooks, and reports those it disabled.

use omnistock_sdk::{ConnectorError, PollPage, Timestamp, Unmapped};

use crate::api::{Order, PAGE_SIZE, format_gmt, parse_gmt};
use crate::connector::WooConnector;
use crate::orders::order_events;

/// Where a sweep stands.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cursor {
    after: Option<Timestamp>,
    page: u64,
    latest: Option<Timestamp>,
}

impl Cursor {
    fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("bad poll cursor {text:?}");
        let mut parts = text.split('|');
        let (Some(after), Some(page), Some(latest), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let time = |t: &str| -> Result<Option<Timestamp>, String> {
            if t.is_empty() {
                Ok(None)
            } else {
                parse_gmt(t).map(Some)
            }
        };
        Ok(Self {
            after: time(after)?,
            page: page.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?,
            latest: time(latest)?,
        })
    }

    fn format(&self) -> String {
        let time = |t: Option<Timestamp>| t.map(format_gmt).unwrap_or_default();
        format!("{}|{}|{}", time(self.after), self.page, time(self.latest))
    }
}

impl WooConnector {
    /// One page of modified orders as events.
    pub async fn poll_orders(&self, cursor: Option<String>) -> Result<PollPage, ConnectorError> {
        let channel = &self.settings.channel;
        let at = match cursor.as_deref() {
            None => Cursor {
                after: None,
                page: 1,
                latest: None,
            },
            Some(text) => Cursor::parse(text)
                .map_err(|e| ConnectorError::Permanent(format!("polling {channel}: {e}")))?,
        };
        let mut query = vec![
            ("per_page", PAGE_SIZE.to_string()),
            ("page", at.page.to_string()),
            ("orderby", "date".to_owned()),
        ];
        match at.after {
            Some(after) => {
                query.push(("modified_after", format_gmt(after)));
                query.push(("dates_are_gmt", "true".to_owned()));
                query.push(("order", "asc".to_owned()));
            }
            None => query.push(("order", "desc".to_owned())),
        }
        let action = format!("polling the orders of {channel} (page {})", at.page);
        let (orders, paging): (Vec<Order>, _) = self.rest.get("/orders", &query, &action).await?;
        let mut page = PollPage::default();
        if at.page == 1 {
            self.report_inactive_webhooks(&mut page.unmapped).await;
        }
        let mut latest = at.latest;
        for order in &orders {
            for line in &order.line_items {
                self.learn_line(line);
            }
            if let Some(modified) = order
                .date_modified_gmt
                .as_deref()
                .and_then(|t| parse_gmt(t).ok())
            {
                latest = latest.max(Some(modified));
            }
            if let Err(e) = order_events(
                order,
                &self.settings.location,
                &|line, sku| self.line_borrows_sku(line, sku),
                &mut page.events,
                &mut page.unmapped,
            ) {
                page.unmapped.push(Unmapped {
                    what: format!("order {}", order.id),
                    reason: e,
                });
            }
        }
        let next = if at.after.is_some() && paging.has_after(at.page) {
            page.more = true;
            Cursor {
                page: at.page + 1,
                latest,
                ..at
            }
        } else {
            let restart = latest
                .map(|t| Timestamp::from_millis(t.as_millis() - 1000))
                .max(at.after);
            Cursor {
                after: restart,
                page: 1,
                latest: None,
            }
        };
        page.cursor = Some(next.format());
        Ok(page)
    }
}

impl WooConnector {
    /// WooCommerce disables a webhook after more than 5 failed deliveries and tells no one;
    /// every sweep checks ours and reports each one it no longer delivers (an operator must
    /// run `omnistock connect` again). A failure to check is only a warning: the poll is
    /// what matters then.
    async fn report_inactive_webhooks(&self, unmapped: &mut Vec<Unmapped>) {
        let channel = &self.settings.channel;
        match self.inactive_webhooks().await {
            Ok(hooks) => {
                for hook in hooks {
                    tracing::error!(channel = %channel, webhook = hook.id, topic = %hook.topic, status = %hook.status, "WooCommerce no longer delivers this webhook; run `omnistock connect {channel}`.");
                    unmapped.push(Unmapped {
                        what: format!("webhook {} ({})", hook.id, hook.topic),
                        reason: format!(
                            "{} by WooCommerce (after failed deliveries): run omnistock connect {channel}",
                            hook.status
                        ),
                    });
                }
            }
            Err(e) => {
                tracing::warn!(channel = %channel, "Could not check the webhooks: {e}.");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor {
            after: Some(parse_gmt("2026-11-23T10:00:00").expect("time")),
            page: 3,
            latest: None,
        };
        assert_eq!(cursor.format(), "2026-11-23T10:00:00|3|");
        assert_eq!(Cursor::parse(&cursor.format()), Ok(cursor));
        assert!(Cursor::parse("2026-11-23T10:00:00|0|").is_err());
        assert!(Cursor::parse("yesterday").is_err());
    }
}
