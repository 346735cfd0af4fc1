//! Wiring: open the store, start the ingest writer, serve the API, handle signals, drain.
//!
//! Start: store opened and checked → new term → states loaded (checkpoint + log replayed)
//! → writer started → socket bound → READY=1. SIGTERM/SIGINT: stop accepting, finish
//! in-flight requests, let the writer drain its queue and checkpoint, sync, STOPPING=1, exit
//! — within a deadline that names what overran.
//! SIGHUP: reload (see `reload`).

mod reload;
mod systemd;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::dashboard::History;
use crate::dashboard::sampler::Sampler;
use crate::feed::Feed;
use crate::ingest::{self, Ingest, IngestSetup, SyncHooks};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::sync::poller::{PollSetup, PollWaker, Pollers};
use crate::sync::reconcile::{ReconcileSetup, Reconcilers};
use crate::sync::{Engine, EngineSetup, Planner, Tuning, connectors};

/// How long a drain may take before the daemon gives up waiting and says what overran.
const DRAIN_DEADLINE: Duration = Duration::from_secs(20);

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    run_until(config, std::future::pending()).await
}

/// Runs the daemon until SIGTERM, SIGINT or `stop` (the demo's `--duration`).
pub async fn run_until(
    config: Config,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state_dir = config.state_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&state_dir))
        .await
        .context("opening the store")??;
    let store = Arc::new(store);
    let term = store
        .begin_term()
        .context("starting a new term in the store")?;
    let config = Arc::new(config);
    let states = {
        let (store, config) = (store.clone(), config.clone());
        tokio::task::spawn_blocking(move || ingest::recover(&store, &config, term))
            .await
            .context("loading the stock state")?
            .context("loading the stock state")?
    };
    tracing::info!(state_dir = %config.state_dir.display(), term, skus = states.len(), "Store opened and checked.");

    let metrics = Arc::new(Metrics::new());
    let source = config.source.clone();
    let listen = config.listen;
    let mut connectors =
        connectors::build_all(&config).context("building the channels' connectors")?;
    let reconciled = connectors.reconciled();
    let polls = PollWaker::for_pollers(&connectors.webhooks);
    let engine = Engine::start(
        EngineSetup {
            config: config.clone(),
            store: store.clone(),
            metrics: metrics.clone(),
            clock: clock.clone(),
            tuning: Tuning::default(),
            seed: term,
            polls: polls.clone(),
        },
        connectors.push,
    )
    .context("starting the sync engine")?;
    let planner = Planner::new(
        engine.shown(),
        &store.all_pending()?,
        &store.all_published()?,
    )
    .with_lags(engine.status.clone());
    let feed = Feed::with_lags(engine.status.clone());
    let (config_tx, config_rx) = watch::channel(config);
    let (ingest, writer) = Ingest::start(IngestSetup {
        store: store.clone(),
        states,
        term,
        config: config_rx.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        checkpoint_every: crate::ingest::CHECKPOINT_EVERY,
        sync: SyncHooks {
            planner,
            published: engine.published.clone(),
            waker: engine.waker(),
            feed: feed.clone(),
        },
    });
    let pollers = Pollers::start(
        PollSetup {
            store: store.clone(),
            ingest: ingest.clone(),
            config: config_rx.clone(),
            status: engine.status.clone(),
            backoff_base: Tuning::default().backoff_base,
            backoff_max: Tuning::default().backoff_max,
        },
        &connectors.webhooks,
        &connectors.limiters,
        polls.clone(),
    );
    let reconcilers = Reconcilers::start(
        &ReconcileSetup {
            ingest: ingest.clone(),
            config: config_rx.clone(),
            published: engine.published.clone(),
            status: engine.status.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            backoff_base: Tuning::default().backoff_base,
            backoff_max: Tuning::default().backoff_max,
        },
        reconciled,
    );
    let engine = Arc::new(engine);

    let history = History::default();
    let sampler = tokio::spawn(
        Sampler {
            history: history.clone(),
            config: config_rx.clone(),
            metrics: metrics.clone(),
            store: store.clone(),
            clock: clock.clone(),
        }
        .run(),
    );
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let accepting = Arc::new(AtomicBool::new(true));
    let app = api::router(AppState {
        config: config_rx,
        ingest: ingest.clone(),
        metrics: metrics.clone(),
        clock,
        accepting: accepting.clone(),
        engine: engine.clone(),
        store: store.clone(),
        webhooks: Arc::new(connectors.webhooks),
        feed: feed.clone(),
        dashboard: history.clone(),
        polls: pollers.waker(),
    });
    metrics.ready.set(1);
    tracing::info!(addr = %local, "omnistock is listening on {local}");
    systemd::ready("running");

    let watchdog = tokio::spawn(systemd::watchdog(ingest.clone()));
    let replans = crate::sync::escrow::forward_replans(engine.published.escrow(), ingest.clone());
    drop(ingest);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let signals = tokio::spawn(handle_signals(source, config_tx, stop_tx.clone()));
    let asked = tokio::spawn(async move {
        stop.await;
        stop_tx.send_replace(true);
    });

    let mut stopped = stop_rx.clone();
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    });
    let mut server = tokio::spawn(async move { serve.await });
    tokio::select! {
        biased;
        _ = wait_for_stop(stop_rx) => {}
        result = &mut server => {
            // The server only ends on its own when it fails.
            result.context("the HTTP server task failed")?.context("serving HTTP")?;
        }
    }
    accepting.store(false, Ordering::SeqCst);
    // Open event streams end, so they do not hold the graceful shutdown.
    feed.close();
    metrics.ready.set(0);
    systemd::stopping();
    tracing::info!("Draining: finishing in-flight requests and flushing the store.");
    if !server.is_finished() {
        match tokio::time::timeout(DRAIN_DEADLINE, &mut server).await {
            Ok(result) => result
                .context("the HTTP server task failed")?
                .context("serving HTTP")?,
            Err(_) => {
                server.abort();
                tracing::error!(
                    "In-flight HTTP requests overran the drain deadline; closed them unanswered."
                );
            }
        }
    }
    watchdog.abort();
    replans.abort();
    signals.abort();
    asked.abort();
    sampler.abort();
    pollers.stop(DRAIN_DEADLINE).await;
    reconcilers.stop(DRAIN_DEADLINE).await;
    // Every ingest handle is gone with the server: the writer drains its queue and stops.
    if tokio::time::timeout(DRAIN_DEADLINE, writer).await.is_err() {
        tracing::error!(
            "The ingest writer overran the drain deadline; unacknowledged events are not lost, their senders retry."
        );
    }
    store
        .sync()
        .await
        .context("flushing the store at shutdown")?;
    tracing::info!("Stopped.");
    Ok(())
}

async fn wait_for_stop(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// SIGTERM and SIGINT stop the daemon; SIGHUP reloads the configuration.
async fn handle_signals(
    source: PathBuf,
    config: watch::Sender<Arc<Config>>,
    stop: Arc<watch::Sender<bool>>,
) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("Could not install signal handlers; stop with SIGKILL only.");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM received."); break; }
            _ = int.recv() => { tracing::info!("SIGINT received."); break; }
            _ = hup.recv() => reload::reload(&source, &config),
        }
    }
    let _ = stop.send(true);
}
