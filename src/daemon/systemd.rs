//! Talking to systemd (`Type=notify`): READY, STATUS, RELOADING, STOPPING and the watchdog.
//!
//! Outside systemd (`$NOTIFY_SOCKET` unset) every call is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;

use crate::ingest::Ingest;

fn notify(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "Could not notify systemd.");
    }
}

pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("draining")]);
}

/// Pings the watchdog at half its interval, but only while the daemon can take events (see
/// [`Ingest::fault`]): one whose writer is stuck (a hung disk), or whose store refuses
/// commits until it restarts (a full disk), is restarted by systemd rather than left
/// accepting connections it can never acknowledge.
pub async fn watchdog(ingest: Ingest) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = interval / 2;
    tracing::info!(
        interval_ms = interval.as_millis() as u64,
        "systemd watchdog enabled."
    );
    loop {
        tokio::time::sleep(period).await;
        match ingest.fault(period.min(Duration::from_secs(5))).await {
            None => notify(&[NotifyState::Watchdog]),
            Some(fault) => {
                tracing::error!(%fault, "Withholding the watchdog ping, so that systemd restarts omnistock.")
            }
        }
    }
}
