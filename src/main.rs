//! The `omnistock` command line: parses arguments and hands off.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use omnistock::client::{
    Client, render_channels, render_dead_letters, render_explain, render_stock,
};
use omnistock::{config, daemon, telemetry};
use reqwest::Method;

/// mimalloc instead of glibc's malloc: the ingest allocates and frees many small, short-lived
/// buffers on several threads, and glibc's malloc took ~15 % of the daemon's CPU in a profile
/// of the 5,000 req/s benchmark. With mimalloc, batched ingest went from 24,000 to 45,000
/// events/s on the same machine (BENCHMARKS.md, round 7).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// sysexits' EX_CONFIG: the configuration is wrong.
const EX_CONFIG: u8 = 78;

/// omnistock keeps one stock truth across store POS systems, online shops and warehouses:
/// it merges every channel's sales and counts and pushes corrected availability back.
#[derive(Parser)]
#[command(name = "omnistock", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: open the store, serve the HTTP API, sync the channels.
    ///
    /// Logs go to stderr. Under systemd it notifies readiness (Type=notify), pings the
    /// watchdog, reloads the configuration on SIGHUP and drains on SIGTERM.
    Run {
        /// The configuration file (TOML); see config/omnistock.toml for a commented example.
        #[arg(long, short, env = "OMNISTOCK_CONFIG", value_name = "FILE")]
        config: PathBuf,
    },
    /// Try omnistock in one command: the daemon syncing simulated channels on this machine.
    ///
    /// Plays online stores on Shopify and WooCommerce, a marketplace, a Square store POS,
    /// a generic one and a warehouse (no accounts: the channels are simulated on loopback,
    /// speaking the real APIs) with a stream of sales,
    /// deliveries, cancellations and failing API calls, and serves the dashboard. Prints its
    /// URL. Stops on Ctrl-C, SIGTERM or after --duration.
    #[cfg(feature = "demo")]
    Demo {
        /// Where the API and dashboard listen. Default 127.0.0.1:8417, or a free port if it
        /// is taken; port 0 picks a free port.
        #[arg(long, value_name = "IP:PORT")]
        listen: Option<std::net::SocketAddr>,
        /// Where to write the configuration, secrets and store (new or empty). Default: a
        /// temporary directory, removed at the end.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Traffic per second: sales mostly, and deliveries, cancellations, shipments.
        #[arg(long, default_value_t = 2.0, value_name = "N")]
        rate: f64,
        /// How many SKUs the catalog has.
        #[arg(long, default_value_t = 300, value_name = "N")]
        skus: usize,
        /// Seeds the catalog and the traffic: the same seed plays the same sequence.
        #[arg(long, default_value_t = 1, value_name = "N")]
        seed: u64,
        /// Stop after this many seconds. Default: run until Ctrl-C.
        #[arg(long, value_name = "SECONDS")]
        duration: Option<f64>,
    },
    /// Validate a configuration file and print what it understood.
    ///
    /// Exits 0 when valid, 78 (EX_CONFIG) with every problem listed by file, line and field
    /// otherwise. Secrets are resolved (so a missing variable is caught) but never printed.
    CheckConfig {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Show a SKU's stock: on hand, reservations and availability per location, recent changes.
    ///
    /// Asks a running daemon over its HTTP API.
    Stock {
        sku: String,
        #[command(flatten)]
        daemon: DaemonArgs,
        /// Print the API's JSON answer instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Adjust a SKU's on hand at a location by a signed amount, with a reason for the audit trail.
    ///
    /// Example: omnistock adjust MUG --location store-downtown --by -2 --reason "broken in transit"
    Adjust {
        sku: String,
        /// The location whose on hand changes.
        #[arg(long, value_name = "LOCATION")]
        location: String,
        /// How many units to add (negative to remove).
        #[arg(long, allow_negative_numbers = true, value_name = "N")]
        by: i64,
        /// Why: kept with the change and shown in `omnistock stock`.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Register a channel's webhooks with its system (Shopify, WooCommerce, ShipHero), pointing at this daemon.
    ///
    /// Creates or updates one subscription per topic omnistock handles so it delivers to
    /// {public_url}/v1/webhooks/CHANNEL, and lists what it did. Safe to run again.
    Connect {
        channel: String,
        /// The configuration file (TOML).
        #[arg(long, short, env = "OMNISTOCK_CONFIG", value_name = "FILE")]
        config: PathBuf,
    },
    /// Explain why each channel shows what it shows for a SKU: the stock and the events that
    /// changed it, each channel's policy, what was published, what waits, the last pushes.
    Explain {
        sku: String,
        /// Only this channel.
        #[arg(long)]
        channel: Option<String>,
        #[command(flatten)]
        daemon: DaemonArgs,
        #[arg(long)]
        json: bool,
    },
    /// Show every channel: whether omnistock pushes to it, its health, outbox and dead letters.
    Status {
        #[command(flatten)]
        daemon: DaemonArgs,
        #[arg(long)]
        json: bool,
    },
    /// Pause a channel's pushes (its events still come in); remembered across restarts.
    Pause {
        channel: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Resume a paused channel's pushes.
    Resume {
        channel: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List, retry or drop the pushes channels refused for good.
    Deadletter {
        #[command(subcommand)]
        command: DeadLetterCommand,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Subcommand)]
enum DeadLetterCommand {
    /// List the pushes a channel refused for good (unknown item, revoked credentials…).
    List {
        /// Only this channel's.
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Send a dead letter back to its channel's outbox, behind what is pending.
    Retry { channel: String, id: u64 },
    /// Drop a dead letter for good.
    Drop { channel: String, id: u64 },
}

#[derive(clap::Args)]
struct AdminArgs {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// The admin token (api.admin_token in the daemon's configuration).
    #[arg(
        long,
        env = "OMNISTOCK_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: String,
}

#[derive(clap::Args)]
struct DaemonArgs {
    /// The daemon's API address.
    #[arg(
        long,
        env = "OMNISTOCK_URL",
        default_value = "http://127.0.0.1:8417",
        value_name = "URL"
    )]
    url: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match config::load(&file) {
            Ok(config) => {
                println!("{} is valid.\n\n{}", file.display(), config.describe());
                ExitCode::SUCCESS
            }
            Err(errors) => config_failed(&errors),
        },
        #[cfg(feature = "demo")]
        Command::Demo {
            listen,
            state_dir,
            rate,
            skus,
            seed,
            duration,
        } => {
            let duration = match duration.map(std::time::Duration::try_from_secs_f64) {
                None => None,
                Some(Ok(d)) => Some(d),
                Some(Err(e)) => {
                    eprintln!("omnistock: --duration: {e}");
                    return ExitCode::from(2);
                }
            };
            with_runtime(omnistock::demo::run(omnistock::demo::Options {
                listen,
                state_dir,
                rate,
                skus,
                seed,
                duration,
            }))
        }
        Command::Run { config } => {
            let config = match config::load(&config) {
                Ok(config) => config,
                Err(errors) => return config_failed(&errors),
            };
            telemetry::init(config.log_format);
            with_runtime(daemon::run(config))
        }
        Command::Stock { sku, daemon, json } => with_runtime(async move {
            let stock = Client::new(&daemon.url)?.stock(&sku).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stock)?);
            } else {
                print!("{}", render_stock(&stock));
            }
            Ok(())
        }),
        Command::Adjust {
            sku,
            location,
            by,
            reason,
            admin,
        } => with_runtime(async move {
            let answer = Client::new(&admin.daemon.url)?
                .adjust(&admin.token, &sku, &location, by, &reason)
                .await?;
            let stock = &answer["stock"];
            println!(
                "{} {} at {location}: {} (id {}). On hand {}, reserved {}, available {}.",
                sku,
                answer["status"].as_str().unwrap_or("?"),
                format_args!("{by:+}"),
                answer["id"].as_str().unwrap_or("?"),
                stock["on_hand"],
                stock["reserved"],
                stock["available"]
            );
            Ok(())
        }),
        Command::Connect { channel, config } => {
            let config = match config::load(&config) {
                Ok(config) => config,
                Err(errors) => return config_failed(&errors),
            };
            with_runtime(async move {
                let id = omnistock_sdk::ChannelId::new(channel.as_str())?;
                for line in omnistock::sync::connectors::register_webhooks(&config, &id).await? {
                    println!("{id}: {line}");
                }
                Ok(())
            })
        }
        Command::Explain {
            sku,
            channel,
            daemon,
            json,
        } => with_runtime(async move {
            let client = Client::new(&daemon.url)?;
            let mut path = format!("/v1/explain/{}", omnistock::client::encode_segment(&sku));
            if let Some(channel) = channel {
                path.push_str(&format!(
                    "?channel={}",
                    omnistock::client::encode_segment(&channel)
                ));
            }
            print_json_or(&client.get(&path).await?, json, render_explain)
        }),
        Command::Status { daemon, json } => with_runtime(async move {
            let channels = Client::new(&daemon.url)?.get("/v1/channels").await?;
            print_json_or(&channels, json, render_channels)
        }),
        Command::Pause { channel, admin } => channel_action(&channel, "pause", &admin),
        Command::Resume { channel, admin } => channel_action(&channel, "resume", &admin),
        Command::Deadletter { command, admin } => with_runtime(async move {
            let client = Client::new(&admin.daemon.url)?;
            match command {
                DeadLetterCommand::List { channel, json } => {
                    let path = match channel {
                        Some(c) => format!("/v1/deadletters?channel={c}"),
                        None => "/v1/deadletters".to_owned(),
                    };
                    print_json_or(&client.get(&path).await?, json, render_dead_letters)
                }
                DeadLetterCommand::Retry { channel, id } => {
                    let path = format!("/v1/deadletters/{channel}/{id}/retry");
                    let answer = client
                        .admin(Method::POST, &path, &admin.token, None)
                        .await?;
                    println!(
                        "Dead letter {id} of {channel} is back in the outbox as {}.",
                        answer["outbox_id"]
                    );
                    Ok(())
                }
                DeadLetterCommand::Drop { channel, id } => {
                    let path = format!("/v1/deadletters/{channel}/{id}");
                    client
                        .admin(Method::DELETE, &path, &admin.token, None)
                        .await?;
                    println!("Dead letter {id} of {channel} dropped.");
                    Ok(())
                }
            }
        }),
    }
}

fn channel_action(channel: &str, action: &'static str, admin: &AdminArgs) -> ExitCode {
    with_runtime(async move {
        let path = format!("/v1/channels/{channel}/{action}");
        Client::new(&admin.daemon.url)?
            .admin(Method::POST, &path, &admin.token, None)
            .await?;
        println!("{channel}: pushes {action}d.");
        Ok(())
    })
}

fn print_json_or(
    value: &serde_json::Value,
    json: bool,
    render: fn(&serde_json::Value) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", render(value));
    }
    Ok(())
}

fn config_failed(errors: &config::ConfigErrors) -> ExitCode {
    eprintln!("omnistock: the configuration is not valid:\n{errors}");
    ExitCode::from(EX_CONFIG)
}

fn with_runtime(work: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("omnistock: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = describe(&e);
            eprintln!("omnistock: {message}");
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, leaving out a cause the text before already says: many of our
/// errors name their source in their own message, and `{:#}` printed it twice ("…: No space
/// left on device (os error 28): No space left on device (os error 28)").
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::describe;

    fn full_disk() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::StorageFull)
    }

    #[test]
    fn a_cause_the_message_already_names_is_said_once() {
        let named = format!(
            "store /var/lib/omnistock: opening the sled database: {}",
            full_disk()
        );
        let error = anyhow::Error::new(full_disk()).context(named.clone());
        assert_eq!(describe(&error), named);
    }

    #[test]
    fn a_cause_the_message_does_not_name_follows_it() {
        let error = anyhow::Error::new(full_disk()).context("serving HTTP");
        assert_eq!(describe(&error), format!("serving HTTP: {}", full_disk()));
    }
}
