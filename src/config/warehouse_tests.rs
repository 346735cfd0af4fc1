//! The `shiphero` and `file_feed` kinds as an operator writes them.

use super::*;

/// `BASE` with the generic `wms-east` replaced by `table`.
fn with_wms(table: &str) -> String {
    edit(
        "kind = \"generic\"\nwebhook_secret = { env = \"OMNISTOCK_WMS_EAST_SECRET\" }\nsells_from = [\"wh-east\"]\n",
        table,
    )
}

fn env_with(extra: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = base_env()
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

const SHIPHERO: &str = r#"kind = "shiphero"
access_token = { env = "SH_TOKEN" }
refresh_token = { env = "SH_REFRESH" }
webhook_secret = { env = "SH_SECRET" }
warehouses = { "V2FyZWhvdXNlOjc2NzMz" = "wh-east" }
order_channels = { "Shopify Store" = "pos-downtown" }
sells_from = ["wh-east"]
"#;

#[test]
fn a_shiphero_channel_with_its_defaults() {
    let env = env_with(&[("SH_TOKEN", "t"), ("SH_REFRESH", "r"), ("SH_SECRET", "s")]);
    let config = parse_with(Path::new(FILE), &with_wms(SHIPHERO), &env).expect("valid");
    let wms = &config.channels[&ChannelId::new("wms-east").expect("id")];
    let ChannelKind::ShipHero(wms) = &wms.kind else {
        panic!("{:?}", wms.kind);
    };
    assert_eq!(wms.api_url, "https://public-api.shiphero.com");
    assert_eq!(wms.warehouses["V2FyZWhvdXNlOjc2NzMz"].as_str(), "wh-east");
    assert_eq!(wms.order_channels["Shopify Store"].as_str(), "pos-downtown");
    assert!(!wms.allow_adjustments, "off unless asked");
    assert_eq!(wms.poll_interval.as_secs(), 60);
    assert_eq!(wms.refresh_token.expose(), "r");
}

#[test]
fn a_shiphero_channel_reports_every_missing_key_and_unknown_location() {
    let source = with_wms(
        "kind = \"shiphero\"\nwarehouses = { \"W1\" = \"wh-nowhere\" }\nsells_from = [\"wh-east\"]\n",
    );
    let found = errors(&source);
    let paths: Vec<&str> = found.iter().filter_map(|p| p.split(": ").nth(1)).collect();
    for expected in [
        "channels.wms-east.access_token",
        "channels.wms-east.refresh_token",
        "channels.wms-east.warehouses.W1",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {found:#?}");
    }
}

/// The 1-based line of `source` holding `needle`.
fn line_of(source: &str, needle: &str) -> usize {
    source
        .lines()
        .position(|l| l.contains(needle))
        .map(|n| n + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in {source}"))
}

const PER_WEBHOOK: &str = "webhook_secrets = { shipment_update = { env = \"SH_SHIPMENT\" }, inventory_update = { credential = \"sh-inventory\" } }\n";

#[test]
fn a_shiphero_channel_takes_a_secret_per_webhook_keyed_by_its_type() {
    let creds = tempfile::tempdir().expect("dir");
    std::fs::write(creds.path().join("sh-inventory"), "inv-secret\n").expect("write");
    let dir = creds.path().to_string_lossy().into_owned();
    let dir: &'static str = Box::leak(dir.into_boxed_str());
    let env = env_with(&[
        ("SH_TOKEN", "t"),
        ("SH_REFRESH", "r"),
        ("SH_SHIPMENT", "ship-secret"),
        ("CREDENTIALS_DIRECTORY", dir),
    ]);
    let table = SHIPHERO.replace("webhook_secret = { env = \"SH_SECRET\" }\n", PER_WEBHOOK);
    let config = parse_with(Path::new(FILE), &with_wms(&table), &env).expect("valid");
    let wms = &config.channels[&ChannelId::new("wms-east").expect("id")];
    let ChannelKind::ShipHero(wms) = &wms.kind else {
        panic!("{:?}", wms.kind);
    };
    assert!(wms.webhook_secret.is_none());
    assert_eq!(
        wms.webhook_secrets["Shipment Update"].expose(),
        "ship-secret"
    );
    assert_eq!(
        wms.webhook_secrets["Inventory Update"].expose(),
        "inv-secret"
    );
    assert_eq!(
        wms.webhook_secrets["Inventory Update"].origin,
        "credential sh-inventory"
    );
    // Never in clear in what `check-config` describes.
    let described = format!("{:?}", wms.webhook_secrets);
    assert!(!described.contains("ship-secret"), "{described}");
}

#[test]
fn a_shiphero_channel_without_webhook_secrets_loads_so_connect_can_register_them() {
    let env = env_with(&[("SH_TOKEN", "t"), ("SH_REFRESH", "r")]);
    let table = SHIPHERO.replace("webhook_secret = { env = \"SH_SECRET\" }\n", "");
    let config = parse_with(Path::new(FILE), &with_wms(&table), &env).expect("valid");
    let wms = &config.channels[&ChannelId::new("wms-east").expect("id")];
    let ChannelKind::ShipHero(wms) = &wms.kind else {
        panic!("{:?}", wms.kind);
    };
    assert!(wms.webhook_secret.is_none() && wms.webhook_secrets.is_empty());
}

#[test]
fn a_bad_webhook_secret_is_reported_at_its_file_line_and_field() {
    let env = env_with(&[("SH_TOKEN", "t"), ("SH_REFRESH", "r")]);
    let table = SHIPHERO.replace(
        "webhook_secret = { env = \"SH_SECRET\" }\n",
        "webhook_secrets = { order_canceled = { env = \"SH_X\" }, shipment_update = { env = \"SH_UNSET\" }, inventory_update = \"in-clear\" }\n",
    );
    let source = with_wms(&table);
    let line = line_of(&source, "webhook_secrets");
    let found = match parse_with(Path::new(FILE), &source, &env) {
        Ok(config) => panic!("expected problems, got {config:?}"),
        Err(e) => e.problems,
    };
    let at = |path: &str| {
        found
            .iter()
            .find(|p| p.path == path)
            .unwrap_or_else(|| panic!("{path} not in {found:#?}"))
    };
    let unknown = at("channels.wms-east.webhook_secrets.order_canceled");
    assert!(
        unknown
            .message
            .contains("shipment_update, inventory_update"),
        "{unknown}"
    );
    let unset = at("channels.wms-east.webhook_secrets.shipment_update.env");
    assert!(unset.message.contains("SH_UNSET is not set"), "{unset}");
    let clear = at("channels.wms-east.webhook_secrets.inventory_update");
    for problem in [unknown, unset, clear] {
        assert_eq!(problem.file, Path::new(FILE), "{problem}");
        assert_eq!(problem.line, Some(line), "{problem}");
    }
    assert!(
        !found.iter().any(|p| p.to_string().contains("in-clear")),
        "a secret in clear is never repeated: {found:#?}"
    );
}

#[test]
fn a_file_feed_channel_with_a_column_mapping() {
    let source = with_wms(
        "kind = \"file_feed\"\ndirectory = \"drop/3pl\"\ncolumns = { sku = \"item\", quantity = \"on_hand\", location = \"warehouse\", time = \"as_of\" }\nlocations = { \"EAST\" = \"wh-east\" }\npoll_interval_secs = 10\nsells_from = [\"wh-east\"]\n",
    );
    let config = parse(&source).expect("valid");
    let feed = &config.channels[&ChannelId::new("wms-east").expect("id")];
    let ChannelKind::FileFeed(feed) = &feed.kind else {
        panic!("{:?}", feed.kind);
    };
    assert_eq!(feed.directory, Path::new("conf/drop/3pl"));
    assert_eq!(feed.poll_interval.as_secs(), 10);
    assert_eq!(feed.locations["EAST"].as_str(), "wh-east");
    assert_eq!(
        feed.format,
        omnistock_file_feed::Format::Csv(omnistock_file_feed::Columns {
            sku: "item".into(),
            quantity: "on_hand".into(),
            location: Some("warehouse".into()),
            time: Some("as_of".into()),
        })
    );
}

#[test]
fn a_file_feed_needs_its_directory_and_a_known_format() {
    let source = with_wms("kind = \"file_feed\"\nformat = \"xml\"\nsells_from = [\"wh-east\"]\n");
    let found = errors(&source);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found
            .iter()
            .any(|p| p.contains("channels.wms-east.directory: missing")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|p| p.contains("unknown format \"xml\"")),
        "{found:#?}"
    );
}

#[test]
fn a_changed_warehouse_setting_needs_a_restart() {
    let feed = |secs: u32| {
        with_wms(&format!(
            "kind = \"file_feed\"\ndirectory = \"drop\"\npoll_interval_secs = {secs}\nsells_from = [\"wh-east\"]\n"
        ))
    };
    let old = parse(&feed(30)).expect("valid");
    let new = parse(&feed(10)).expect("valid");
    assert_eq!(old.restart_required(&new), ["channels.wms-east"]);
    assert!(old.restart_required(&old).is_empty());
}

/// The commented `[channels.wms-shiphero]` example of `config/omnistock.toml`, uncommented,
/// as the `wms-east` table.
fn shiphero_example() -> String {
    let example = include_str!("../../config/omnistock.toml");
    example
        .lines()
        .skip_while(|l| *l != "# [channels.wms-shiphero]")
        .skip(1)
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_shiphero_example_parses_with_a_secret_per_webhook() {
    let table = shiphero_example();
    assert!(table.contains("webhook_secrets"), "{table}");
    let env = env_with(&[
        ("OMNISTOCK_SHIPHERO_TOKEN", "t"),
        ("OMNISTOCK_SHIPHERO_REFRESH_TOKEN", "r"),
        ("SHIPHERO_WMS_SHIPHERO_SHIPMENT_UPDATE_SECRET", "s1"),
        ("SHIPHERO_WMS_SHIPHERO_INVENTORY_UPDATE_SECRET", "s2"),
    ]);
    let config = parse_with(Path::new(FILE), &with_wms(&table), &env).expect("valid");
    let wms = &config.channels[&ChannelId::new("wms-east").expect("id")];
    let ChannelKind::ShipHero(wms) = &wms.kind else {
        panic!("{:?}", wms.kind);
    };
    let secrets: Vec<(&str, &str)> = wms
        .webhook_secrets
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    assert_eq!(
        secrets,
        [("Inventory Update", "s2"), ("Shipment Update", "s1")]
    );
}
