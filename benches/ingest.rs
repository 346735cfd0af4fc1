//! Durable-ingest benchmark: acknowledged events per second and acknowledgement latency of
//! `POST /v1/events` on the real release binary, over loopback, with group commit and fsync.
//!
//! `cargo bench --bench ingest`. Environment:
//! - `OMNISTOCK_BENCH_SECS`: seconds per scenario (default 10);
//! - `OMNISTOCK_BENCH_RATES`: offered loads of the open-loop scenarios, requests/s, comma
//!   separated (default `5000,1000`: the target's load, and one the daemon can carry);
//! - `OMNISTOCK_BENCH_DAEMON_LOG=1`: prints the daemon's log at the end;
//! - `OMNISTOCK_BENCH_CLOSED=0`: skips the closed-loop scenarios (the open loops then run on a
//!   store that has not taken the closed loops' million events first);
//! - `OMNISTOCK_BENCH_DIR`: where the daemon's state dir is created (default: the temp dir).
//!
//! The load generator runs in this process on one thread (a current-thread tokio runtime,
//! plus a pacing thread for the open-loop scenario) and shares the machine's cores with the
//! daemon; its CPU use is printed next to the daemon's. It speaks minimal HTTP/1.1 with
//! keep-alive over its own sockets (one request in flight per connection), which costs far
//! less CPU than a full client and so leaves more of the shared cores to the daemon.
//!
//! Every event is an `adjusted` +1 by the owner (`pos`) of location `store`, with an id used
//! once, on one of `SKUS` SKUs. At the end the daemon's on-hand totals must equal the number
//! of events it acknowledged: a benchmark that loses (or double-counts) events is wrong.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Api, CONFIG, Daemon, POS_SECRET, Site};
use omnistock_sdk::signature::sign_hex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How many SKUs the events are spread over.
const SKUS: usize = 1000;
const WARMUP: Duration = Duration::from_secs(3);
/// Connections of the open-loop scenario: enough that a slow answer never holds back the
/// timetable (any wait for a free connection is counted in the latency anyway).
const OPEN_LOOP_CONNECTIONS: usize = 128;

fn main() {
    let secs = env_u64("OMNISTOCK_BENCH_SECS", 10);
    let rates: Vec<u64> = std::env::var("OMNISTOCK_BENCH_RATES")
        .unwrap_or_else(|_| "5000,1000".to_owned())
        .split(',')
        .map(|r| {
            r.trim()
                .parse()
                .unwrap_or_else(|_| panic!("OMNISTOCK_BENCH_RATES: {r:?} is not a rate"))
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(Duration::from_secs(secs), &rates));
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
        Err(_) => default,
    }
}

async fn run(duration: Duration, rates: &[u64]) {
    let dir = match std::env::var_os("OMNISTOCK_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    std::fs::write(dir.path().join("omnistock.toml"), CONFIG).expect("write config");
    let site = Site { dir };
    let mut daemon = site.start();
    let addr = daemon
        .url
        .strip_prefix("http://")
        .expect("the daemon's url is http")
        .to_owned();
    let api = Api::new(&daemon.url);
    println!(
        "omnistock {} on {addr}, state dir {} ({} s per scenario, generator on 1 thread)",
        common::binary(),
        site.state_dir().display(),
        duration.as_secs()
    );

    let mut acknowledged = 0u64;
    let warmup = closed_loop(&addr, &daemon, &api, "w", 64, 1, WARMUP).await;
    acknowledged += warmup.acked_events;

    let mut rows = Vec::new();
    let closed: [(&str, usize, usize); 5] = [
        ("a", 16, 1),
        ("b", 64, 1),
        ("c", 256, 1),
        ("d", 64, 10),
        ("e", 16, 100),
    ];
    let closed = if env_u64("OMNISTOCK_BENCH_CLOSED", 1) == 0 {
        &closed[..0]
    } else {
        &closed[..]
    };
    for &(tag, connections, batch) in closed {
        let mut result = closed_loop(&addr, &daemon, &api, tag, connections, batch, duration).await;
        result.prior_events = acknowledged;
        acknowledged += result.acked_events;
        result.print_progress();
        rows.push(result);
    }
    for (i, &rate) in rates.iter().enumerate() {
        let tag = format!("o{i}");
        let mut result = open_loop(&addr, &daemon, &api, &tag, rate, duration).await;
        result.prior_events = acknowledged;
        acknowledged += result.acked_events;
        result.print_progress();
        rows.push(result);
    }

    println!();
    print_table(&rows);
    print_sync_table(&rows);
    if env_u64("OMNISTOCK_BENCH_DAEMON_LOG", 0) == 1 {
        println!("\nThe daemon's log:\n{}", daemon.log());
    }

    // Every acknowledged event must be in the daemon's state, exactly once.
    let mut on_hand = 0i64;
    for sku in 0..SKUS {
        on_hand += api.on_hand(&sku_name(sku), "store").await;
    }
    let metrics = scrape(&api).await;
    let accepted = metrics
        .get("omnistock_events_total{channel=\"pos\",outcome=\"accepted\"}")
        .copied()
        .unwrap_or(0.0);
    println!(
        "\ncheck: {acknowledged} events acknowledged (incl. {} in warm-up), on hand at \"store\" summed over {SKUS} SKUs = {on_hand}, daemon counted {accepted} accepted",
        warmup.acked_events
    );
    let errors: u64 = rows.iter().map(|r| r.errors).sum::<u64>() + warmup.errors;
    assert_eq!(
        u64::try_from(on_hand).ok(),
        Some(acknowledged),
        "the daemon's on-hand totals differ from the events it acknowledged"
    );
    println!("check: OK (on hand == acknowledged; {errors} failed requests)");
    // A clean stop, as systemd would: it lets a profiler wrapped around the daemon (see
    // BENCHMARKS.md, instructions per event) write its output.
    daemon.signal("TERM");
    match daemon.wait_exit(Duration::from_secs(60)) {
        Some(status) if status.success() => {}
        other => panic!("the daemon did not stop cleanly on SIGTERM: {other:?}"),
    }
}

/// What one scenario did.
struct Scenario {
    name: String,
    connections: usize,
    batch: usize,
    elapsed: Duration,
    requests: u64,
    acked_events: u64,
    errors: u64,
    /// Per acknowledged request, in microseconds (open loop: from its scheduled send time).
    latencies: Vec<u64>,
    metrics: MetricsDelta,
    daemon_cpu: f64,
    generator_cpu: f64,
    /// Open loop: the offered rate, requests/s.
    offered: Option<u64>,
    /// Bytes the daemon caused to be written to storage (`/proc/PID/io` write_bytes).
    disk_bytes: f64,
    /// Events acknowledged before this scenario.
    prior_events: u64,
}

impl Scenario {
    fn events_per_sec(&self) -> f64 {
        self.acked_events as f64 / self.elapsed.as_secs_f64()
    }

    fn print_progress(&self) {
        println!(
            "  {:<34} {:>9.0} events/s acknowledged, {} errors",
            self.name,
            self.events_per_sec(),
            self.errors
        );
    }
}

/// `connections` senders, each posting `batch` events per request, the next as soon as the
/// previous is answered, for `duration`.
async fn closed_loop(
    addr: &str,
    daemon: &Daemon,
    api: &Api,
    tag: &str,
    connections: usize,
    batch: usize,
    duration: Duration,
) -> Scenario {
    let before = Snapshot::take(daemon, api).await;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let mut conn = Conn::connect(addr).await.expect("connect to the daemon");
        let tag = format!("{tag}{c}");
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let request = events_request(&tag, n, batch);
                n += 1;
                let sent = Instant::now();
                let result = conn.post(&request).await;
                tally.record(result, batch, sent.elapsed());
                if tally.broken {
                    break;
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await.expect("sender task"));
    }
    let elapsed = started.elapsed();
    let after = Snapshot::take(daemon, api).await;
    total.into_scenario(
        format!("closed loop, {batch} ev/req, {connections} conns"),
        connections,
        batch,
        elapsed,
        &before,
        &after,
        None,
    )
}

/// One event per request at a fixed `rate` for `duration`: a pacing thread releases each
/// request at its scheduled time, whatever happened to the earlier ones, and the latency is
/// measured from that time (no coordinated omission: a late answer, or a wait for a free
/// connection, counts against the daemon rather than lowering the load).
async fn open_loop(
    addr: &str,
    daemon: &Daemon,
    api: &Api,
    tag: &str,
    rate: u64,
    duration: Duration,
) -> Scenario {
    let total = rate * duration.as_secs();
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut conns = Vec::with_capacity(OPEN_LOOP_CONNECTIONS);
    for _ in 0..OPEN_LOOP_CONNECTIONS {
        conns.push(Conn::connect(addr).await.expect("connect to the daemon"));
    }
    let before = Snapshot::take(daemon, api).await;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let started = Instant::now() + Duration::from_millis(20);
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let at = started + interval * u32::try_from(i).expect("request count fits u32");
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            if tx.send((i, at)).is_err() {
                break;
            }
        }
    });
    let mut tasks = Vec::with_capacity(conns.len());
    for mut conn in conns {
        let rx = Arc::clone(&rx);
        let tag = tag.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut timeline = Vec::new();
            loop {
                let next = rx.lock().await.recv().await;
                let Some((i, scheduled)) = next else { break };
                let request = events_request(&tag, i, 1);
                let lag = scheduled.elapsed();
                let result = conn.post(&request).await;
                let latency = scheduled.elapsed();
                tally.record(result, 1, latency);
                timeline.push(Sent {
                    offset: scheduled.duration_since(started),
                    lag,
                    latency,
                });
                if tally.broken {
                    break;
                }
            }
            (tally, timeline)
        }));
    }
    let mut tally = Tally::default();
    let mut timeline = Vec::new();
    for task in tasks {
        let (part, times) = task.await.expect("sender task");
        tally.merge(part);
        timeline.extend(times);
    }
    print_worst_windows(&timeline, wall_clock_at(started));
    print_generator_lag(&timeline);
    pacer.join().expect("pacer thread");
    let elapsed = started.elapsed();
    let after = Snapshot::take(daemon, api).await;
    tally.into_scenario(
        format!("open loop, 1 ev/req, {rate} req/s"),
        OPEN_LOOP_CONNECTIONS,
        1,
        elapsed,
        &before,
        &after,
        Some(rate),
    )
}

/// The wall-clock time of `instant`, to match the worst windows with the daemon's log.
#[allow(clippy::disallowed_methods)] // The benchmark is not the simulated core.
fn wall_clock_at(instant: Instant) -> std::time::SystemTime {
    let now = (Instant::now(), std::time::SystemTime::now());
    now.1 - now.0.saturating_duration_since(instant)
}

/// One open-loop request: when it was due (from the start), how late the generator was to
/// send it, and its latency from when it was due.
struct Sent {
    offset: Duration,
    lag: Duration,
    latency: Duration,
}

/// Where an open loop's tail comes from: the 100 ms windows (by scheduled send time) whose
/// slowest request was slowest, with their UTC time of day.
fn print_worst_windows(timeline: &[Sent], started: std::time::SystemTime) {
    let mut windows: HashMap<u128, (usize, Duration)> = HashMap::new();
    for sent in timeline {
        let window = windows.entry(sent.offset.as_millis() / 100).or_default();
        window.0 += 1;
        window.1 = window.1.max(sent.latency);
    }
    let mut worst: Vec<_> = windows.into_iter().collect();
    worst.sort_by_key(|(_, (_, max))| std::cmp::Reverse(*max));
    let since_midnight = started
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        % 86_400_000;
    let text: Vec<String> = worst
        .iter()
        .take(5)
        .map(|(window, (count, max))| {
            let ms = since_midnight + window * 100;
            format!(
                "{:02}:{:02}:{:02}.{:03} (+{:.1} s, {count} req) max {:.1} ms",
                ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000,
                *window as f64 / 10.0,
                max.as_secs_f64() * 1e3
            )
        })
        .collect();
    println!("  worst 100 ms windows (UTC): {}", text.join("; "));
}

/// How much of the latency is the generator's own: it shares the two cores with the daemon,
/// and a request it sends late (a free connection found late, or its thread not running)
/// counts against the daemon in the table. Printed so that the two can be told apart; the
/// table's figures stay the strict ones.
fn print_generator_lag(timeline: &[Sent]) {
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let mut lags: Vec<u64> = timeline.iter().map(|s| micros(s.lag)).collect();
    let mut after_send: Vec<u64> = timeline
        .iter()
        .map(|s| micros(s.latency.saturating_sub(s.lag)))
        .collect();
    lags.sort_unstable();
    after_send.sort_unstable();
    println!(
        "  generator's send lag: p50 {:.2} p99 {:.2} max {:.2} ms; latency from the actual send: \
         p50 {:.2} p99 {:.2} ms",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        percentile(&lags, 1.0),
        percentile(&after_send, 0.5),
        percentile(&after_send, 0.99),
    );
}

fn sku_name(index: usize) -> String {
    format!("SKU-{index:04}")
}

/// A signed `POST /v1/events` with `batch` events whose ids start with `tag`/`n`.
fn events_request(tag: &str, n: u64, batch: usize) -> Vec<u8> {
    let mut body = String::with_capacity(40 + batch * 150);
    body.push_str(r#"{"events":["#);
    for j in 0..batch {
        if j > 0 {
            body.push(',');
        }
        let id = format!("{tag}-{n}-{j}");
        // Spread over the SKUs; a cheap mix of the id's parts.
        let sku =
            (fnv(tag.as_bytes()) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ j as u64) % SKUS as u64;
        body.push_str(&format!(
            r#"{{"id":"{id}","occurred_at":"2026-11-23T09:00:00Z","sku":"{}","change":{{"type":"adjusted","location":"store","by":1}}}}"#,
            sku_name(usize::try_from(sku).expect("sku index fits usize"))
        ));
    }
    body.push_str("]}");
    let signature = sign_hex(POS_SECRET.as_bytes(), &[body.as_bytes()]);
    let mut request = format!(
        "POST /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-omnistock-channel: pos\r\nx-omnistock-signature: sha256={signature}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body.as_bytes());
    request
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One keep-alive HTTP/1.1 connection, one request at a time.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn connect(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(8192),
        })
    }

    /// Sends `request` and reads the answer: its status and body.
    async fn post(&mut self, request: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        self.stream.write_all(request).await?;
        let head_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(invalid)?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("no status line"))?;
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .ok_or_else(|| invalid("no content-length in the answer"))?;
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        Ok((status, body))
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Counts of one or more senders.
#[derive(Default)]
struct Tally {
    requests: u64,
    acked_events: u64,
    errors: u64,
    latencies: Vec<u64>,
    first_error: Option<String>,
    /// The connection failed; the sender stops.
    broken: bool,
}

impl Tally {
    fn record(&mut self, result: io::Result<(u16, Vec<u8>)>, batch: usize, latency: Duration) {
        self.requests += 1;
        match result {
            Ok((200, body)) => {
                let accepted = count(&body, br#""status":"accepted""#);
                if accepted == batch {
                    self.acked_events += batch as u64;
                    self.latencies
                        .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
                } else {
                    // Acknowledged, but not every event as a stock change: still counted as
                    // acknowledged for the on-hand check, reported as an error here.
                    self.acked_events += accepted as u64;
                    self.error(format!(
                        "200 with {accepted}/{batch} accepted: {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
            }
            Ok((status, body)) => {
                self.error(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
            }
            Err(e) => {
                self.error(format!("connection: {e}"));
                self.broken = true;
            }
        }
    }

    fn error(&mut self, text: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            eprintln!("bench: request failed: {text}");
            self.first_error = Some(text);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.acked_events += other.acked_events;
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn into_scenario(
        mut self,
        name: String,
        connections: usize,
        batch: usize,
        elapsed: Duration,
        before: &Snapshot,
        after: &Snapshot,
        offered: Option<u64>,
    ) -> Scenario {
        self.latencies.sort_unstable();
        let secs = elapsed.as_secs_f64();
        Scenario {
            name,
            connections,
            batch,
            elapsed,
            requests: self.requests,
            acked_events: self.acked_events,
            errors: self.errors,
            latencies: self.latencies,
            metrics: MetricsDelta::between(&before.metrics, &after.metrics),
            daemon_cpu: (after.daemon_cpu - before.daemon_cpu) / secs,
            generator_cpu: (after.generator_cpu - before.generator_cpu) / secs,
            offered,
            disk_bytes: after.disk_bytes - before.disk_bytes,
            prior_events: 0,
        }
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w == &needle)
        .count()
}

/// The daemon's metrics and both processes' CPU time at one moment.
struct Snapshot {
    metrics: HashMap<String, f64>,
    daemon_cpu: f64,
    generator_cpu: f64,
    disk_bytes: f64,
}

impl Snapshot {
    async fn take(daemon: &Daemon, api: &Api) -> Snapshot {
        Snapshot {
            metrics: scrape(api).await,
            daemon_cpu: cpu_seconds(&format!("/proc/{}/stat", daemon.pid())),
            generator_cpu: cpu_seconds("/proc/self/stat"),
            disk_bytes: written_bytes(daemon.pid()),
        }
    }
}

/// utime + stime of a process, in seconds (Linux; 100 clock ticks per second).
fn cpu_seconds(stat: &str) -> f64 {
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat; `rest` starts at field 3.
    (ticks(11) + ticks(12)) / 100.0
}

/// The bytes a process caused to be written to storage, from `/proc/PID/io`.
fn written_bytes(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("write_bytes:")?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// `GET /metrics` as a map from series (name with labels) to value.
async fn scrape(api: &Api) -> HashMap<String, f64> {
    let text = api
        .http
        .get(format!("{}/metrics", api.url))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// A histogram's change over a scenario.
#[derive(Default)]
struct Hist {
    count: f64,
    sum: f64,
    /// (upper bound, cumulative count), ascending.
    buckets: Vec<(f64, f64)>,
}

impl Hist {
    fn between(name: &str, before: &HashMap<String, f64>, after: &HashMap<String, f64>) -> Hist {
        let delta = |series: &str| {
            after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
        };
        let prefix = format!("{name}_bucket{{le=\"");
        let mut buckets: Vec<(f64, f64)> = after
            .keys()
            .filter_map(|series| {
                let le = series.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((bound, delta(series)))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Hist {
            count: delta(&format!("{name}_count")),
            sum: delta(&format!("{name}_sum")),
            buckets,
        }
    }

    fn mean(&self) -> f64 {
        if self.count > 0.0 {
            self.sum / self.count
        } else {
            0.0
        }
    }

    /// The upper bound of the bucket holding the `q` quantile.
    fn quantile_bound(&self, q: f64) -> f64 {
        let rank = q * self.count;
        self.buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= rank && *cumulative > 0.0)
            .map_or(0.0, |(bound, _)| *bound)
    }
}

struct MetricsDelta {
    batch: Hist,
    flush: Hist,
    fsync: Hist,
    ack: Hist,
}

impl MetricsDelta {
    fn between(before: &HashMap<String, f64>, after: &HashMap<String, f64>) -> MetricsDelta {
        MetricsDelta {
            batch: Hist::between("omnistock_ingest_batch_events", before, after),
            flush: Hist::between("omnistock_store_flush_seconds", before, after),
            fsync: Hist::between("omnistock_store_fsync_seconds", before, after),
            ack: Hist::between("omnistock_ingest_ack_seconds", before, after),
        }
    }
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

fn print_table(rows: &[Scenario]) {
    println!(
        "Throughput and acknowledgement latency (ms; open loop: from the scheduled send time)"
    );
    println!(
        "| {:<34} | {:>5} | {:>6} | {:>8} | {:>10} | {:>7} | {:>7} | {:>7} | {:>7} | {:>6} | {:>10} | {:>9} |",
        "scenario",
        "conns",
        "ev/req",
        "requests",
        "events/s",
        "p50",
        "p99",
        "p99.9",
        "max",
        "errors",
        "daemon CPU",
        "gen CPU"
    );
    println!(
        "|{:-<36}|{:->7}|{:->8}|{:->10}|{:->12}|{:->9}|{:->9}|{:->9}|{:->9}|{:->8}|{:->12}|{:->11}|",
        "", "", "", "", "", "", "", "", "", "", "", ""
    );
    for r in rows {
        let lat = &r.latencies;
        println!(
            "| {:<34} | {:>5} | {:>6} | {:>8} | {:>10.0} | {:>7.2} | {:>7.2} | {:>7.2} | {:>7.2} | {:>6} | {:>9.0} % | {:>7.0} % |",
            r.name,
            r.connections,
            r.batch,
            r.requests,
            r.events_per_sec(),
            percentile(lat, 0.50),
            percentile(lat, 0.99),
            percentile(lat, 0.999),
            lat.last().map_or(f64::NAN, |&m| m as f64 / 1000.0),
            r.errors,
            r.daemon_cpu * 100.0,
            r.generator_cpu * 100.0,
        );
        if let Some(offered) = r.offered {
            let achieved = r.requests as f64 / r.elapsed.as_secs_f64();
            println!("|   (offered {offered} req/s, completed {achieved:.0} req/s)");
        }
    }
    println!(
        "CPU is % of one core; the machine has the daemon and this generator on the same cores."
    );
}

fn print_sync_table(rows: &[Scenario]) {
    println!("\nWhere the time goes, per scenario (daemon's /metrics; ≤: histogram bucket bounds)");
    println!(
        "| {:<34} | {:>7} | {:>8} | {:>10} | {:>10} | {:>14} | {:>13} | {:>9} | {:>8} | {:>10} |",
        "scenario",
        "groups",
        "ev/group",
        "p50 ev/grp",
        "fsync mean",
        "fsync p99/max≤",
        "ack p50/p99≤",
        "sync busy",
        "disk MB/s",
        "disk KB/ev"
    );
    println!(
        "|{:-<36}|{:->9}|{:->10}|{:->12}|{:->12}|{:->16}|{:->15}|{:->11}|{:->10}|{:->12}|",
        "", "", "", "", "", "", "", "", "", ""
    );
    for r in rows {
        let m = &r.metrics;
        let secs = r.elapsed.as_secs_f64();
        let busy = (m.flush.sum + m.fsync.sum) / secs;
        println!(
            "| {:<34} | {:>7.0} | {:>8.1} | {:>10.0} | {:>7.2} ms | {:>4.1}/{:>5.1} ms | {:>4.1}/{:>5.1} ms | {:>7.0} % | {:>8.1} | {:>10.1} |",
            r.name,
            m.batch.count,
            m.batch.mean(),
            m.batch.quantile_bound(0.5),
            m.fsync.mean() * 1000.0,
            m.fsync.quantile_bound(0.99) * 1000.0,
            m.fsync.quantile_bound(1.0) * 1000.0,
            m.ack.quantile_bound(0.5) * 1000.0,
            m.ack.quantile_bound(0.99) * 1000.0,
            busy * 100.0,
            r.disk_bytes / secs / 1e6,
            r.disk_bytes / (r.acked_events.max(1) as f64) / 1e3,
        );
    }
    println!(
        "ack: from a submission entering the writer's queue to its answer, inside the daemon."
    );
    println!("sync busy: share of the wall time the writer spent in flush + fsync.");
    println!(
        "disk: bytes the daemon wrote to storage (/proc/PID/io), per second and per acknowledged event."
    );
    println!(
        "\nEvents per SKU before each scenario (a SKU's state keeps up to 64 deltas, so it grows until then):"
    );
    for r in rows {
        println!(
            "  {:<34} {:>6.0} events/SKU",
            r.name,
            r.prior_events as f64 / SKUS as f64
        );
    }
}
