//! `omnistock demo`: the daemon syncing simulated channels, in one process, on loopback, with
//! no account anywhere.
//!
//! It plays online stores on Shopify and WooCommerce (the connectors' contract-exact fakes)
//! and a marketplace receiving the generic push protocol, selling from a warehouse; a store
//! whose POS is Square and one with a generic POS; the warehouse's WMS on ShipHero, which
//! ships the three shops' orders; then a seeded stream of sales, deliveries, cancellations,
//! shipments, cycle counts and failing API calls; and the real daemon (`daemon::run_until`)
//! with a generated configuration and its own store.
//!
//! - [`catalog`]: the SKUs, their starting stock, and the seeded dice.
//! - [`channel`]: the [`Simulated`] trait one simulated system implements, and the [`Site`]
//!   they reach the daemon through.
//! - [`shopify`], [`woocommerce`], [`square`], [`shiphero`], [`generic`]: the simulated
//!   systems.
//! - [`config`]: the configuration file and its secrets.
//! - [`traffic`]: what happens, step by step.

pub mod catalog;
pub mod channel;
pub mod config;
pub mod generic;
pub mod shiphero;
pub mod shopify;
pub mod square;
pub mod table;
pub mod traffic;
pub mod woocommerce;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use omnistock_sdk::{ChannelId, LocationId};

pub use channel::{OpenLine, Simulated, Site};

use catalog::{Catalog, Dice};
use config::Place;
use generic::{Owner, Receiver};
use shiphero::ShipHero;
use shopify::Shopify;
use square::Square;
use table::ChannelTable;
use traffic::Cast;
use woocommerce::WooCommerce;

/// The address the demo listens on when none is given, if it is free.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8417";

/// What `omnistock demo` was asked for.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the API listens; `None`: 127.0.0.1:8417, or a free port if that one is taken.
    /// Port 0 picks a free port.
    pub listen: Option<SocketAddr>,
    /// Where the configuration, secrets and store go; `None`: a temporary directory,
    /// removed at the end.
    pub state_dir: Option<PathBuf>,
    /// Traffic steps per second (mostly sales).
    pub rate: f64,
    pub skus: usize,
    pub seed: u64,
    /// Stop after this long; `None`: until Ctrl-C or SIGTERM.
    pub duration: Option<Duration>,
}

/// Runs the demo until Ctrl-C, SIGTERM or the duration ends.
pub async fn run(options: Options) -> anyhow::Result<()> {
    if options.skus == 0 || !options.rate.is_finite() || options.rate <= 0.0 {
        bail!("--skus and --rate must be more than 0");
    }
    let temporary;
    let dir = match &options.state_dir {
        Some(dir) => {
            ensure_empty(dir)?;
            dir.clone()
        }
        None => {
            temporary = tempfile::Builder::new()
                .prefix("omnistock-demo-")
                .tempdir()
                .context("creating a temporary directory")?;
            temporary.path().to_path_buf()
        }
    };
    let listen = pick_listen(options.listen)?;

    let name = |n: &str| ChannelId::new(n).context("a demo channel name");
    let place = |n: &str| LocationId::new(n).context("a demo location name");
    let (wh, north, south) = (
        place("warehouse")?,
        place("store-north")?,
        place("store-south")?,
    );
    let mut dice = Dice::new(options.seed);
    let catalog = Catalog::generate(
        options.skus,
        &wh,
        &[north.clone(), south.clone()],
        &mut dice,
    );
    let secret = |dice: &mut Dice| format!("{:016x}{:016x}", dice.next_u64(), dice.next_u64());

    let (shop_id, woo_id, marketplace_id) = (
        name("shopify-online")?,
        name("woo-shop")?,
        name("marketplace")?,
    );
    let wms = Arc::new(
        ShipHero::start(
            name("wms")?,
            wh.clone(),
            &[
                (shop_id.clone(), "Shopify Store"),
                (woo_id.clone(), "WooCommerce Shop"),
                (marketplace_id.clone(), "Marketplace"),
            ],
            &catalog,
        )
        .await,
    );
    let square: Arc<dyn Simulated> = Arc::new(
        Square::start(
            name("square-north")?,
            north.clone(),
            format!("EAAA-{}", secret(&mut dice)),
            &catalog,
        )
        .await,
    );
    let pos_south = Arc::new(Owner::new(
        name("pos-south")?,
        south.clone(),
        secret(&mut dice),
    ));
    let shop: Arc<dyn Simulated> = Arc::new(
        Shopify::start(
            shop_id,
            &[wh.clone(), north.clone(), south.clone()],
            format!("shpat_{}", secret(&mut dice)),
            secret(&mut dice),
            &catalog,
        )
        .await,
    );
    let woo: Arc<dyn Simulated> = Arc::new(WooCommerce::start(woo_id, wh.clone(), &catalog).await);
    let marketplace: Arc<dyn Simulated> =
        Arc::new(Receiver::start(marketplace_id, wh.clone(), secret(&mut dice), &catalog).await);
    let owners: Vec<Arc<dyn Simulated>> = vec![wms.clone(), square.clone(), pos_south.clone()];
    let everyone: Vec<Arc<dyn Simulated>> = owners
        .iter()
        .cloned()
        .chain([shop.clone(), woo.clone(), marketplace.clone()])
        .collect();

    let places = [
        Place {
            id: wh.clone(),
            owner: wms.id.clone(),
            safety: 0,
        },
        Place {
            id: north.clone(),
            owner: square.id().clone(),
            safety: 1,
        },
        Place {
            id: south.clone(),
            owner: pos_south.id.clone(),
            safety: 1,
        },
    ];
    let tables: Vec<ChannelTable> = everyone.iter().map(|c| c.table()).collect();
    let mut secrets: Vec<(String, String)> =
        tables.iter().flat_map(|t| t.secrets().to_vec()).collect();
    secrets.push(("admin-token".to_owned(), secret(&mut dice)));
    let path = config::write(
        &dir,
        &config::config_text(listen, &places, &tables),
        &secrets,
    )?;
    let config = crate::config::load(&path).map_err(|errors| {
        anyhow::anyhow!("the demo wrote a configuration that is not valid:\n{errors}")
    })?;
    crate::telemetry::init(config.log_format);

    let stop = stop_after(options.duration);
    let daemon = tokio::spawn(crate::daemon::run_until(config, stop));
    let url = format!("http://{listen}");
    let site = Arc::new(Site::new(url.clone(), &catalog)?);
    wait_ready(&site, &daemon).await?;
    for channel in &everyone {
        channel.open(&site, &catalog).await?;
    }
    print_welcome(&url, &dir, &options, &catalog);
    let cast = Cast {
        sellers: vec![
            shop.clone(),
            woo.clone(),
            marketplace.clone(),
            square.clone(),
            pos_south,
        ],
        owners,
        warehouse: wms.clone(),
        called: vec![shop, woo, marketplace, square, wms],
    };
    let traffic = tokio::spawn(traffic::play(
        site,
        cast,
        catalog.skus,
        options.seed,
        options.rate,
    ));
    let result = daemon.await.context("the daemon task failed")?;
    traffic.abort();
    println!("omnistock demo stopped.");
    result
}

/// The state directory must be new or empty: the simulated channels start afresh each run,
/// and a store that remembers other numbers would not match them.
fn ensure_empty(dir: &std::path::Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) => bail!(
            "{} is not empty: give the demo a new or empty directory (its simulated channels start afresh each run)",
            dir.display()
        ),
        Ok(false) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// The address to listen on: the one asked for; else the default if free; a free port for
/// port 0 or a taken default. (Found by binding and letting go: the daemon binds it next.)
fn pick_listen(asked: Option<SocketAddr>) -> anyhow::Result<SocketAddr> {
    let free = |ip: std::net::IpAddr| -> anyhow::Result<SocketAddr> {
        let probe = TcpListener::bind((ip, 0)).context("finding a free port")?;
        probe.local_addr().context("reading the free port")
    };
    match asked {
        Some(addr) if addr.port() == 0 => free(addr.ip()),
        Some(addr) => Ok(addr),
        None => {
            let default: SocketAddr = DEFAULT_LISTEN.parse().context("the default address")?;
            match TcpListener::bind(default) {
                Ok(_) => Ok(default),
                Err(_) => free(default.ip()),
            }
        }
    }
}

async fn stop_after(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

/// Waits until the daemon answers `/readyz`, or fails with the daemon's error.
async fn wait_ready(
    site: &Site,
    daemon: &tokio::task::JoinHandle<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if daemon.is_finished() {
            bail!("the daemon stopped during start-up (see the log above)");
        }
        let ready = http.get(format!("{}/readyz", site.url)).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the daemon did not become ready within 60 s")
}

fn print_welcome(url: &str, dir: &std::path::Path, options: &Options, catalog: &Catalog) {
    let example = catalog.skus.first().map_or("DEMO-0001", |s| s.as_str());
    println!(
        "\nomnistock demo is running: {skus} SKUs in a warehouse and two stores, sold online \
         (Shopify, WooCommerce, a marketplace)\nand at the stores' tills (Square, a generic POS), \
         the warehouse run on ShipHero, about {rate} events a second (seed {seed}).\n\
         \n  Dashboard: {url}/\n\
         \nWhat to look at:\n\
         \x20 - Channels: every channel's health, lag and outbox. shopify-online, woo-shop,\n\
         \x20   marketplace and square-north are pushed, wms (ShipHero) is polled; their APIs fail\n\
         \x20   now and then: watch the errors, the 429s and the recovery.\n\
         \x20 - Live feed: each sale, delivery, cancellation, shipment (ShipHero ships the online\n\
         \x20   orders) and cycle count, and the numbers it moved.\n\
         \x20 - SKU: search {example} (or click one in the feed) to see its stock per location,\n\
         \x20   what each channel shows, and why.\n\
         \x20 - Pause a pushed channel from its row, watch its outbox grow, then resume it: the page\n\
         \x20   asks for the admin token, which is in {dir}/secrets/admin-token.\n\
         \x20 - From another terminal: omnistock status --url {url}, omnistock explain {example} --url {url}\n\
         \nConfiguration and store: {dir}\nStop with Ctrl-C.\n",
        skus = catalog.skus.len(),
        rate = options.rate,
        seed = options.seed,
        dir = dir.display(),
    );
    let spec = omnistock_square::fake::schema::default_spec_path();
    if !spec.is_file() {
        println!(
            "(Square's OpenAPI spec is not at {}: the simulated Square does not check the \
             requests it gets against it. Set OMNISTOCK_SQUARE_OPENAPI to the spec's path to \
             have it check them.)",
            spec.display()
        );
    }
}
