//! The config as an operator meets it: the example parses, and each mistake is reported with
//! the file, the line and the field.

use std::collections::HashMap;

use super::*;

const FILE: &str = "conf/omnistock.toml";

/// A valid config; tests break one line of it and check where the problem is reported.
const BASE: &str = r#"node_id = "node-1"
listen = "127.0.0.1:8417"

[api]
admin_token = { env = "OMNISTOCK_ADMIN_TOKEN" }

[locations.store-downtown]
owner = "pos-downtown"
safety = 1

[locations.wh-east]
owner = "wms-east"

[channels.pos-downtown]
kind = "generic"
webhook_secret = { env = "OMNISTOCK_POS_DOWNTOWN_SECRET" }
sells_from = ["store-downtown"]

[channels.wms-east]
kind = "generic"
webhook_secret = { env = "OMNISTOCK_WMS_EAST_SECRET" }
sells_from = ["wh-east"]
"#;

const ADMIN_TOKEN: &str = "admin-token-value-7f3a";
const POS_SECRET: &str = "pos-secret-value-91bc";

/// An environment as a map: the tests never touch the process's own.
fn env_map(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn base_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("OMNISTOCK_ADMIN_TOKEN", ADMIN_TOKEN),
        ("OMNISTOCK_POS_DOWNTOWN_SECRET", POS_SECRET),
        ("OMNISTOCK_WMS_EAST_SECRET", "wms-secret-value"),
        ("OMNISTOCK_WEB_SHOP_SECRET", "web-secret-value"),
    ]
}

/// `BASE` with `from` replaced by `to`; `from` must be there.
fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE has no {from:?}");
    BASE.replacen(from, to, 1)
}

fn parse(source: &str) -> Result<Config, ConfigErrors> {
    parse_with(Path::new(FILE), source, &env_map(&base_env()))
}

fn errors(source: &str) -> Vec<String> {
    match parse(source) {
        Ok(config) => panic!("expected problems, got {config:?}"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

/// The one problem reported, which must start with `FILE:line: path: ` and hold `message`.
#[track_caller]
fn assert_only_problem(source: &str, line: usize, path: &str, message: &str) {
    let found = errors(source);
    assert_eq!(found.len(), 1, "expected one problem, got {found:#?}");
    assert_problem(&found[0], line, path, message);
}

#[track_caller]
fn assert_problem(found: &str, line: usize, path: &str, message: &str) {
    let place = if path.is_empty() {
        format!("{FILE}:{line}: ")
    } else {
        format!("{FILE}:{line}: {path}: ")
    };
    assert!(
        found.starts_with(&place),
        "{found:?} does not start with {place:?}"
    );
    assert!(
        found.contains(message),
        "{found:?} does not say {message:?}"
    );
}

// ── The example ──────────────────────────────────────────────────────────────────────────

#[test]
fn the_example_config_parses() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/omnistock.toml"
    ));
    let config = match load_with(path, &env_map(&base_env())) {
        Ok(config) => config,
        Err(e) => panic!("the example config is invalid:\n{e}"),
    };
    assert_eq!(config.node_id, "node-1");
    assert_eq!(config.listen.to_string(), "127.0.0.1:8417");
    assert_eq!(config.state_dir, path.with_file_name("./omnistock-state"));
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.api.admin_token.expose(), ADMIN_TOKEN);
    assert_eq!(config.api.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(config.locations.len(), 2);
    assert_eq!(config.channels.len(), 3);
    let store = &config.locations[&LocationId::new("store-downtown").expect("id")];
    assert_eq!(store.owner.as_str(), "pos-downtown");
    assert_eq!(store.safety, 1);
    let web = &config.channels[&ChannelId::new("web-shop").expect("id")];
    let sells_from: Vec<&str> = web.sells_from.iter().map(LocationId::as_str).collect();
    assert_eq!(sells_from, ["wh-east", "store-downtown"]);
    assert_eq!(web.buffer, 2);
    assert_eq!(web.policy, Policy::Pooled);
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let config = parse(&edit("listen = \"127.0.0.1:8417\"\n", "")).expect("valid");
    assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(config.state_dir, Path::new("conf").join(DEFAULT_STATE_DIR));
    assert_eq!(config.log_format, LogFormat::Text);
    let pos = &config.channels[&ChannelId::new("pos-downtown").expect("id")];
    assert_eq!((pos.buffer, pos.policy), (0, Policy::Pooled));
    let wh = &config.locations[&LocationId::new("wh-east").expect("id")];
    assert_eq!(wh.safety, 0);
}

#[test]
fn state_dir_defaults_to_systemds_state_directory() {
    let mut env = base_env();
    env.push(("STATE_DIRECTORY", "/var/lib/omnistock:/var/lib/other"));
    let config = parse_with(Path::new(FILE), BASE, &env_map(&env)).expect("valid");
    assert_eq!(config.state_dir, Path::new("/var/lib/omnistock"));

    let source = edit("listen", "state_dir = \"data\"\nlisten");
    let config = parse_with(Path::new(FILE), &source, &env_map(&env)).expect("valid");
    assert_eq!(
        config.state_dir,
        Path::new("conf/data"),
        "the file wins, beside itself"
    );
}

#[test]
fn an_ephemeral_port_is_allowed() {
    let config = parse(&edit("127.0.0.1:8417", "127.0.0.1:0")).expect("valid");
    assert_eq!(config.listen.port(), 0);
}

// ── TOML and serde mistakes ──────────────────────────────────────────────────────────────

#[test]
fn an_unreadable_file_is_one_problem_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("absent.toml");
    let found = load_with(&path, &env_map(&base_env())).expect_err("absent");
    assert_eq!(found.problems.len(), 1);
    let message = found.problems[0].to_string();
    assert!(
        message.starts_with(&format!(
            "{}: cannot read the configuration: ",
            path.display()
        )),
        "{message}"
    );
}

#[test]
fn a_syntax_error_names_its_line() {
    assert_only_problem(&edit("safety = 1", "safety = = 1"), 9, "", "invalid TOML");
}

#[test]
fn an_unknown_key_is_refused_at_its_line() {
    let top = edit("listen", "lsiten = \"x\"\nlisten");
    assert_only_problem(&top, 2, "lsiten", "unknown field `lsiten`");
    let channel = edit(
        "sells_from = [\"wh-east\"]",
        "sells_from = [\"wh-east\"]\nbufer = 1",
    );
    assert_only_problem(
        &channel,
        23,
        "channels.wms-east.bufer",
        "expected one of `kind`",
    );
    let secret = edit("{ env = \"OMNISTOCK_ADMIN_TOKEN\" }", "{ vault = \"x\" }");
    assert_only_problem(&secret, 5, "api.admin_token", "unknown field `vault`");
}

#[test]
fn a_wrong_type_names_the_field() {
    let source = edit("safety = 1", "safety = \"one\"");
    assert_only_problem(
        &source,
        9,
        "locations.store-downtown.safety",
        "invalid type: string",
    );
    let source = edit("[\"store-downtown\"]", "[\"store-downtown\", 3]");
    assert_only_problem(
        &source,
        17,
        "channels.pos-downtown.sells_from[1]",
        "integer `3`",
    );
}

// ── Rules ────────────────────────────────────────────────────────────────────────────────

#[test]
fn node_id_must_be_a_plain_name() {
    assert_only_problem(&edit("\"node-1\"", "\"\""), 1, "node_id", "empty");
    assert_only_problem(
        &edit("\"node-1\"", "\"node 1#2\""),
        1,
        "node_id",
        "not a plain name",
    );
    let missing = edit("node_id = \"node-1\"\n", "");
    let found = errors(&missing);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(&format!("{FILE}: node_id: missing")),
        "{found:?}"
    );
}

#[test]
fn listen_must_be_a_socket_address() {
    let source = edit("127.0.0.1:8417", "localhost:8417");
    assert_only_problem(
        &source,
        2,
        "listen",
        "\"localhost:8417\" is not a socket address",
    );
}

#[test]
fn log_format_is_text_or_json() {
    let source = edit("listen", "log_format = \"xml\"\nlisten");
    assert_only_problem(&source, 2, "log_format", "(valid: text, json)");
}

#[test]
fn an_owner_must_be_a_configured_channel() {
    assert_only_problem(
        &edit("owner = \"wms-east\"", "owner = \"wms-west\""),
        12,
        "locations.wh-east.owner",
        "unknown channel \"wms-west\" (configured channels: pos-downtown, wms-east)",
    );
    assert_only_problem(
        &edit("owner = \"wms-east\"\n", ""),
        11,
        "locations.wh-east.owner",
        "missing",
    );
}

#[test]
fn sells_from_names_configured_locations() {
    let source = edit("[\"store-downtown\"]", "[\"store-downtown\", \"wh-9\"]");
    let found = errors(&source);
    assert_eq!(
        found,
        [format!(
            "{FILE}:17: channels.pos-downtown.sells_from[1]: \
             unknown location \"wh-9\" (known: store-downtown, wh-east)"
        )]
    );
}

#[test]
fn sells_from_is_not_empty() {
    let source = edit("[\"wh-east\"]", "[]");
    assert_only_problem(&source, 22, "channels.wms-east.sells_from", "empty");
    let source = edit("sells_from = [\"wh-east\"]\n", "");
    assert_only_problem(
        &source,
        19,
        "channels.wms-east.sells_from",
        "(known: store-downtown",
    );
}

#[test]
fn a_location_listed_twice_is_refused() {
    let source = edit("[\"wh-east\"]", "[\"wh-east\", \"wh-east\"]");
    assert_only_problem(
        &source,
        22,
        "channels.wms-east.sells_from[1]",
        "listed twice",
    );
}

#[test]
fn channel_names_starting_with_at_are_reserved() {
    let source = BASE
        .replace("[channels.wms-east]", "[channels.\"@manual\"]")
        .replace("owner = \"wms-east\"", "owner = \"@manual\"");
    assert_only_problem(
        &source,
        19,
        "channels.\"@manual\"",
        "reserved for omnistock's own sources",
    );
}

#[test]
fn channel_and_location_names_are_valid_ids() {
    let source = BASE
        .replace("[channels.wms-east]", "[channels.\" wms-east\"]")
        .replace("owner = \"wms-east\"", "owner = \" wms-east\"");
    assert_only_problem(
        &source,
        19,
        "channels.\" wms-east\"",
        "invalid channel name: channel \" wms-east\" has leading or trailing white space",
    );
    let source = BASE
        .replace("[locations.wh-east]", "[locations.\"wh-east\\t\"]")
        .replace("[\"wh-east\"]", "[\"wh-east\\t\"]");
    assert_only_problem(
        &source,
        11,
        "locations.\"wh-east\\t\"",
        "contains a control character",
    );
}

#[test]
fn safety_and_buffer_are_not_negative() {
    let source = edit("safety = 1", "safety = -1");
    assert_only_problem(
        &source,
        9,
        "locations.store-downtown.safety",
        "cannot be negative",
    );
    let source = edit(
        "sells_from = [\"wh-east\"]",
        "sells_from = [\"wh-east\"]\nbuffer = -3",
    );
    assert_only_problem(
        &source,
        23,
        "channels.wms-east.buffer",
        "-3: a buffer cannot be negative",
    );
}

#[test]
fn max_body_bytes_is_between_1_kib_and_64_mib() {
    for (bytes, ok) in [
        (1023, false),
        (1024, true),
        (67_108_864, true),
        (67_108_865, false),
        (-1, false),
    ] {
        let source = edit("[api]", &format!("[api]\nmax_body_bytes = {bytes}"));
        if ok {
            let config = parse(&source).expect("valid");
            assert_eq!(
                config.api.max_body_bytes,
                usize::try_from(bytes).expect("positive")
            );
        } else {
            assert_only_problem(
                &source,
                5,
                "api.max_body_bytes",
                "use 1024 (1 KiB) to 67108864",
            );
        }
    }
}

#[test]
fn an_unsupported_kind_lists_the_supported_ones() {
    let source = edit("kind = \"generic\"", "kind = \"warehouse\"");
    assert_only_problem(
        &source,
        15,
        "channels.pos-downtown.kind",
        "kind \"warehouse\" is not supported by this build yet (supported: generic, shopify, square, woocommerce, shiphero, file_feed)",
    );
    let source = edit("kind = \"generic\"", "kind = \"fax\"");
    assert_only_problem(
        &source,
        15,
        "channels.pos-downtown.kind",
        "unknown kind \"fax\" (supported: generic, shopify, square, woocommerce, shiphero, file_feed)",
    );
}

#[test]
fn a_generic_channel_needs_its_webhook_secret() {
    let source = edit(
        "webhook_secret = { env = \"OMNISTOCK_WMS_EAST_SECRET\" }\n",
        "",
    );
    assert_only_problem(&source, 19, "channels.wms-east.webhook_secret", "missing");
}

#[test]
fn strict_is_accepted_and_shown_by_check_config() {
    let source = edit(
        "sells_from = [\"wh-east\"]",
        "sells_from = [\"wh-east\"]\npolicy = \"strict\"",
    );
    let config = parse(&source).expect("valid");
    let wms = &config.channels[&ChannelId::new("wms-east").expect("id")];
    assert_eq!(wms.policy, Policy::Strict);
    assert!(
        config.describe().contains("policy: strict"),
        "{}",
        config.describe()
    );
}

#[test]
fn an_unknown_policy_names_the_available_ones() {
    let source = edit(
        "sells_from = [\"wh-east\"]",
        "sells_from = [\"wh-east\"]\npolicy = \"fair\"",
    );
    assert_only_problem(
        &source,
        23,
        "channels.wms-east.policy",
        "unknown policy \"fair\" (available: pooled, strict)",
    );
}

#[test]
fn a_strict_channel_sells_from_one_location() {
    let source = edit(
        "sells_from = [\"wh-east\"]",
        "sells_from = [\"wh-east\", \"store-downtown\"]\npolicy = \"strict\"",
    );
    assert_only_problem(
        &source,
        22,
        "channels.wms-east.sells_from",
        "a strict channel sells from exactly one location (it has 2)",
    );
}

#[test]
fn a_pooled_channel_may_not_share_a_strict_location_unless_it_owns_it() {
    let web = "[channels.web-shop]\nkind = \"generic\"\n\
               webhook_secret = { env = \"OMNISTOCK_WEB_SHOP_SECRET\" }\n\
               sells_from = [\"store-downtown\"]\npolicy = \"strict\"\n";
    // The store's own till (its owner, pooled) sells there too: allowed.
    let owner_alongside = format!("{BASE}{web}");
    parse(&owner_alongside).expect("the owner may sell its own location");
    let other = format!(
        "{}{}",
        edit(
            "sells_from = [\"wh-east\"]",
            "sells_from = [\"wh-east\", \"store-downtown\"]"
        ),
        web
    );
    let found = errors(&other);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("channels.web-shop.policy: strict channel web-shop shares location store-downtown with pooled channel wms-east"),
        "{found:#?}"
    );
}

#[test]
fn at_least_one_location_and_one_channel() {
    let found =
        errors("node_id = \"n\"\n[api]\nadmin_token = { env = \"OMNISTOCK_ADMIN_TOKEN\" }\n");
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with(&format!("{FILE}: locations: no locations")),
        "{found:?}"
    );
    assert!(
        found[1].starts_with(&format!("{FILE}: channels: no channels")),
        "{found:?}"
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let source = BASE
        .replace("\"node-1\"", "\"node 1\"")
        .replace("safety = 1", "safety = -1")
        .replace("owner = \"wms-east\"", "owner = \"wms\"")
        .replace("[\"wh-east\"]", "[\"wh-9\"]")
        .replace("OMNISTOCK_POS_DOWNTOWN_SECRET", "UNSET_SECRET");
    let found = errors(&source);
    assert_eq!(found.len(), 5, "{found:#?}");
    assert_problem(&found[0], 1, "node_id", "not a plain name");
    assert_problem(&found[1], 9, "locations.store-downtown.safety", "negative");
    assert_problem(
        &found[2],
        12,
        "locations.wh-east.owner",
        "unknown channel \"wms\"",
    );
    assert_problem(
        &found[3],
        16,
        "channels.pos-downtown.webhook_secret.env",
        "environment variable UNSET_SECRET is not set",
    );
    assert_problem(
        &found[4],
        22,
        "channels.wms-east.sells_from[0]",
        "unknown location \"wh-9\"",
    );
}

// ── Secrets ──────────────────────────────────────────────────────────────────────────────

#[test]
fn a_clear_text_secret_is_refused_and_not_repeated() {
    let source = edit(
        "{ env = \"OMNISTOCK_ADMIN_TOKEN\" }",
        "\"hunter2-in-clear\"",
    );
    assert_only_problem(
        &source,
        5,
        "api.admin_token",
        "secrets are never written in the config in clear; use { env = \"…\" } or { credential = \"…\" }",
    );
    assert!(!errors(&source)[0].contains("hunter2"));
}

#[test]
fn an_env_secret_must_be_set_and_non_empty() {
    let mut env = base_env();
    env.retain(|(name, _)| *name != "OMNISTOCK_ADMIN_TOKEN");
    let found = parse_with(Path::new(FILE), BASE, &env_map(&env)).expect_err("unset");
    assert_eq!(found.problems.len(), 1);
    assert_problem(
        &found.problems[0].to_string(),
        5,
        "api.admin_token.env",
        "is not set",
    );

    env.push(("OMNISTOCK_ADMIN_TOKEN", ""));
    let found = parse_with(Path::new(FILE), BASE, &env_map(&env)).expect_err("empty");
    assert_problem(
        &found.problems[0].to_string(),
        5,
        "api.admin_token.env",
        "is empty",
    );
}

#[test]
fn a_secret_gives_exactly_one_source() {
    let both = edit(
        "{ env = \"OMNISTOCK_ADMIN_TOKEN\" }",
        "{ env = \"A\", file = \"b\" }",
    );
    assert_only_problem(
        &both,
        5,
        "api.admin_token",
        "only one of env, credential or file (found env and file)",
    );
    let none = edit("{ env = \"OMNISTOCK_ADMIN_TOKEN\" }", "{}");
    assert_only_problem(&none, 5, "api.admin_token", "empty secret reference");
}

fn with_admin_token(reference: &str) -> String {
    edit("{ env = \"OMNISTOCK_ADMIN_TOKEN\" }", reference)
}

#[test]
fn a_credential_secret_is_read_from_the_credentials_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("admin-token"), "from-systemd\n").expect("write");
    let mut env = base_env();
    let creds = dir.path().to_string_lossy().into_owned();
    env.push(("CREDENTIALS_DIRECTORY", &creds));
    let source = with_admin_token("{ credential = \"admin-token\" }");
    let config = parse_with(Path::new(FILE), &source, &env_map(&env)).expect("valid");
    assert_eq!(
        config.api.admin_token.expose(),
        "from-systemd",
        "newline trimmed"
    );
    assert_eq!(config.api.admin_token.origin, "credential admin-token");

    let missing = with_admin_token("{ credential = \"nope\" }");
    let found = parse_with(Path::new(FILE), &missing, &env_map(&env)).expect_err("missing");
    let expected_file = dir.path().join("nope");
    assert_problem(
        &found.problems[0].to_string(),
        5,
        "api.admin_token.credential",
        &format!("cannot read {}", expected_file.display()),
    );

    let escape = with_admin_token("{ credential = \"../etc/passwd\" }");
    let found = parse_with(Path::new(FILE), &escape, &env_map(&env)).expect_err("escape");
    assert_problem(
        &found.problems[0].to_string(),
        5,
        "api.admin_token.credential",
        "without '/'",
    );
}

#[test]
fn a_credential_needs_credentials_directory() {
    let source = with_admin_token("{ credential = \"admin-token\" }");
    assert_only_problem(
        &source,
        5,
        "api.admin_token.credential",
        "$CREDENTIALS_DIRECTORY",
    );
}

#[test]
fn a_file_secret_is_read_beside_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("secrets")).expect("mkdir");
    std::fs::write(dir.path().join("secrets/admin"), "file-token\r\n").expect("write");
    std::fs::write(dir.path().join("secrets/empty"), "\n").expect("write");
    let config_path = dir.path().join("omnistock.toml");

    std::fs::write(
        &config_path,
        with_admin_token("{ file = \"secrets/admin\" }"),
    )
    .expect("write");
    let config = load_with(&config_path, &env_map(&base_env())).expect("valid");
    assert_eq!(config.api.admin_token.expose(), "file-token");
    let secret_path = dir.path().join("secrets/admin");
    assert_eq!(
        config.api.admin_token.origin,
        format!("file {}", secret_path.display())
    );

    std::fs::write(
        &config_path,
        with_admin_token("{ file = \"secrets/empty\" }"),
    )
    .expect("write");
    let found = load_with(&config_path, &env_map(&base_env())).expect_err("empty");
    let empty = dir.path().join("secrets/empty");
    let message = found.problems[0].to_string();
    assert!(message.starts_with(&format!(
        "{}:5: api.admin_token.file: ",
        config_path.display()
    )));
    assert!(
        message.ends_with(&format!("{} is empty", empty.display())),
        "{message}"
    );
}

#[test]
fn secrets_never_show_in_describe_or_debug() {
    let config = parse(BASE).expect("valid");
    let described = config.describe();
    let debugged = format!("{config:?} {:#?}", config);
    for text in [&described, &debugged] {
        assert!(!text.contains(ADMIN_TOKEN), "{text}");
        assert!(!text.contains(POS_SECRET), "{text}");
    }
    assert!(
        described.contains("admin_token: from env OMNISTOCK_ADMIN_TOKEN"),
        "{described}"
    );
    assert!(
        described.contains("webhook_secret: from env OMNISTOCK_POS_DOWNTOWN_SECRET"),
        "{described}"
    );
}

#[test]
fn describe_lists_the_setup() {
    let described = parse(BASE).expect("valid").describe();
    for line in [
        "node: node-1",
        "listen: 127.0.0.1:8417",
        "state dir: conf/omnistock-state",
        "  store-downtown:\n    owner: pos-downtown\n    safety: 1\n    sold by: pos-downtown",
        "  wms-east:\n    kind: generic\n    sells_from: wh-east\n    buffer: 0\n    policy: pooled",
    ] {
        assert!(described.contains(line), "{line:?} not in\n{described}");
    }
}

// ── Reload ───────────────────────────────────────────────────────────────────────────────

#[test]
fn nothing_to_restart_for_an_identical_config() {
    let config = parse(BASE).expect("valid");
    assert!(config.restart_required(&config.clone()).is_empty());
}

#[test]
fn process_wide_settings_need_a_restart() {
    let old = parse(BASE).expect("valid");
    let new = parse(
        &BASE
            .replace("\"node-1\"", "\"node-2\"")
            .replace("127.0.0.1:8417", "127.0.0.1:9000")
            .replace(
                "[api]",
                "state_dir = \"elsewhere\"\nlog_format = \"json\"\n[api]",
            ),
    )
    .expect("valid");
    assert_eq!(
        old.restart_required(&new),
        ["node_id", "listen", "state_dir", "log_format"]
    );
}

#[test]
fn a_location_added_removed_or_reowned_needs_a_restart() {
    let old = parse(BASE).expect("valid");
    let new = parse(
        &BASE
            .replace("owner = \"wms-east\"", "owner = \"pos-downtown\"")
            .replace(
                "[locations.wh-east]",
                "[locations.store-uptown]\nowner = \"pos-downtown\"\n\n[locations.wh-east]",
            ),
    )
    .expect("valid");
    assert_eq!(
        old.restart_required(&new),
        ["locations.store-uptown", "locations.wh-east.owner"]
    );
    assert_eq!(
        new.restart_required(&old),
        ["locations.store-uptown", "locations.wh-east.owner"]
    );
}

#[test]
fn secrets_safety_buffers_and_channels_apply_live() {
    let old = parse(BASE).expect("valid");
    let source = BASE
        .replace("safety = 1", "safety = 5")
        .replace("OMNISTOCK_POS_DOWNTOWN_SECRET", "OMNISTOCK_WEB_SHOP_SECRET")
        .replace(
            "[\"store-downtown\"]",
            "[\"store-downtown\", \"wh-east\"]\nbuffer = 4",
        )
        .replace("[api]", "[api]\nmax_body_bytes = 2048")
        + "\n[channels.web]\nkind = \"generic\"\nwebhook_secret = { env = \"OMNISTOCK_WEB_SHOP_SECRET\" }\nsells_from = [\"wh-east\"]\n";
    let new = parse(&source).expect("valid");
    assert_ne!(old, new);
    assert!(
        old.restart_required(&new).is_empty(),
        "{:?}",
        old.restart_required(&new)
    );
}

#[test]
fn a_push_side_is_checked_and_defaults_to_the_kinds_limits() {
    let source = edit(
        "sells_from = [\"wh-east\"]",
        "sells_from = [\"wh-east\"]\npush_url = \"http://127.0.0.1:9000/wms\"",
    );
    let config = parse(&source).expect("valid");
    let wms = &config.channels[&ChannelId::new("wms-east").expect("id")];
    assert_eq!(wms.limits, GENERIC_LIMITS);
    assert!(
        matches!(&wms.kind, ChannelKind::Generic { push_url: Some(url), .. } if url.ends_with("/wms"))
    );
    assert!(
        config
            .describe()
            .contains("push_url: http://127.0.0.1:9000/wms")
    );

    let source = edit(
        "sells_from = [\"wh-east\"]",
        "sells_from = [\"wh-east\"]\npush_url = \"http://shop.example.com/x\"",
    );
    assert_only_problem(
        &source,
        23,
        "channels.wms-east.push_url",
        "plain http to another machine",
    );
    let source = edit(
        "sells_from = [\"wh-east\"]",
        "sells_from = [\"wh-east\"]\nrate_limit = { per_second = 0, burst = 0 }\nmax_batch = 999",
    );
    let found = errors(&source);
    assert_eq!(found.len(), 3, "{found:?}");
    assert_problem(
        &found[0],
        23,
        "channels.wms-east.rate_limit.per_second",
        "not a rate",
    );
    assert_problem(
        &found[1],
        23,
        "channels.wms-east.rate_limit.burst",
        "not a burst",
    );
    assert_problem(&found[2], 24, "channels.wms-east.max_batch", "1 to 250");
}

#[test]
fn changing_a_push_side_needs_a_restart() {
    let old = parse(BASE).expect("valid");
    let new = parse(&edit(
        "sells_from = [\"wh-east\"]",
        "sells_from = [\"wh-east\"]\npush_url = \"https://wms.example.com/omnistock\"",
    ))
    .expect("valid");
    assert_eq!(
        old.restart_required(&new),
        vec!["channels.wms-east".to_owned()]
    );
}

#[test]
fn per_sku_overrides_replace_safety_and_buffer() {
    let source = format!(
        "{BASE}\n[skus.MUG]\nsafety = {{ store-downtown = 4 }}\nbuffer = {{ wms-east = 2 }}\n"
    );
    let config = parse(&source).expect("valid");
    let (mug, tea) = (Sku::new("MUG").expect("sku"), Sku::new("TEA").expect("sku"));
    let store = LocationId::new("store-downtown").expect("id");
    let wms = ChannelId::new("wms-east").expect("id");
    assert_eq!(
        (config.safety(&mug, &store), config.safety(&tea, &store)),
        (4, 1)
    );
    assert_eq!(
        (config.buffer(&mug, &wms), config.buffer(&tea, &wms)),
        (2, 0)
    );

    let source =
        format!("{BASE}\n[skus.MUG]\nsafety = {{ mars = 4 }}\nbuffer = {{ wms-east = -2 }}\n");
    let found = errors(&source);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_problem(
        &found[0],
        25,
        "skus.MUG.safety.mars",
        "unknown location \"mars\"",
    );
    assert_problem(
        &found[1],
        26,
        "skus.MUG.buffer.wms-east",
        "cannot be negative",
    );
}

#[test]
fn kits_name_their_components_and_each_mistake_is_reported_at_its_field() {
    let source = format!("{BASE}\n[kits.GIFTBOX]\ncomponents = {{ MUG = 2, TEA = 1 }}\n");
    let config = parse(&source).expect("valid");
    let kit = &config.kits[&Sku::new("GIFTBOX").expect("sku")];
    assert_eq!(
        kit.components,
        vec![
            (Sku::new("MUG").expect("sku"), 2),
            (Sku::new("TEA").expect("sku"), 1)
        ]
    );

    let source = format!(
        "{BASE}\n[kits.GIFTBOX]\ncomponents = {{ GIFTBOX = 1, MINI = 1, TEA = 0 }}\n\
         [kits.MINI]\ncomponents = {{ MUG = 1 }}\n[kits.EMPTY]\n"
    );
    let found = errors(&source);
    assert_eq!(found.len(), 4, "{found:?}");
    assert_problem(
        &found[0],
        25,
        "kits.GIFTBOX.components.GIFTBOX",
        "cannot contain itself",
    );
    assert_problem(
        &found[1],
        25,
        "kits.GIFTBOX.components.MINI",
        "is a kit itself",
    );
    assert_problem(&found[2], 25, "kits.GIFTBOX.components.TEA", "at least 1");
    assert_problem(&found[3], 28, "kits.EMPTY.components", "required");
}

// ── Square ───────────────────────────────────────────────────────────────────────────────

/// `BASE` with the store's POS a Square account.
const SQUARE: &str = r#"kind = "square"
access_token = { env = "OMNISTOCK_SQUARE_TOKEN" }
webhook_signature_key = { env = "OMNISTOCK_SQUARE_KEY" }
notification_url = "https://omni.example.com/v1/webhooks/pos-downtown"
square_locations = { "L8K3V0W2C6ZQ1" = "store-downtown" }
square_variations = { "W62UWFY35CWMYGVWK6TWJDNI" = "MUG-RED" }"#;

fn square_env() -> Vec<(&'static str, &'static str)> {
    let mut env = base_env();
    env.push(("OMNISTOCK_SQUARE_TOKEN", "EAAA-square-token"));
    env.push(("OMNISTOCK_SQUARE_KEY", "square-signature-key"));
    env
}

fn square_source(extra: &str) -> String {
    BASE.replacen(
        "kind = \"generic\"\nwebhook_secret = { env = \"OMNISTOCK_POS_DOWNTOWN_SECRET\" }",
        &format!("{SQUARE}{extra}"),
        1,
    )
}

fn parse_square(source: &str) -> Result<Config, ConfigErrors> {
    parse_with(Path::new(FILE), source, &env_map(&square_env()))
}

#[test]
fn a_square_channel_is_checked_and_defaults_to_squares_limits() {
    let config = parse_square(&square_source("")).expect("valid");
    let pos = &config.channels[&ChannelId::new("pos-downtown").expect("id")];
    assert_eq!(pos.limits, SQUARE_LIMITS);
    let ChannelKind::Square(square) = &pos.kind else {
        panic!("a square channel: {:?}", pos.kind);
    };
    assert_eq!(square.base_url, "https://connect.squareup.com");
    assert_eq!(square.square_version, "2025-08-20");
    assert_eq!(square.hold_state, "NONE");
    assert_eq!(square.access_token.expose(), "EAAA-square-token");
    assert_eq!(
        square.locations["L8K3V0W2C6ZQ1"],
        LocationId::new("store-downtown").expect("id")
    );
    assert_eq!(
        square.variations["W62UWFY35CWMYGVWK6TWJDNI"],
        Sku::new("MUG-RED").expect("sku")
    );
    let described = config.describe();
    assert!(
        described.contains("square location L8K3V0W2C6ZQ1 is store-downtown"),
        "{described}"
    );
    assert!(!described.contains("EAAA-square-token"), "{described}");
}

#[test]
fn a_square_channel_names_what_it_misses() {
    let source = BASE.replacen(
        "kind = \"generic\"\nwebhook_secret = { env = \"OMNISTOCK_POS_DOWNTOWN_SECRET\" }",
        "kind = \"square\"",
        1,
    );
    let found = errors(&source);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_problem(
        &found[0],
        14,
        "channels.pos-downtown.access_token",
        "a square channel needs it",
    );
    assert_problem(
        &found[1],
        14,
        "channels.pos-downtown.webhook_signature_key",
        "SQUARE_SIGNATURE_KEY",
    );
    assert_problem(
        &found[2],
        14,
        "channels.pos-downtown.square_locations",
        "\"L123\"",
    );
}

#[test]
fn a_square_channels_values_are_checked() {
    let source = square_source(
        "\nsquare_version = \"2025-8-20\"\nhold_state = \"RESERVED_FOR_SALE\"\nmax_batch = 250",
    )
    .replace("\"store-downtown\" }", "\"store-uptown\" }");
    let found = match parse_square(&source) {
        Ok(config) => panic!("expected problems, got {config:?}"),
        Err(e) => e
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
    };
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(
        found
            .iter()
            .any(|f| f.contains("sells_from[0]") && f.contains("no Square location counts it")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("square_version") && f.contains("2025-8-20")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("hold_state") && f.contains("NONE, WASTE, SOLD")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("max_batch") && f.contains("at most 100")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("square_locations.L8K3V0W2C6ZQ1") && f.contains("store-uptown")),
        "{found:#?}"
    );
}

#[test]
fn a_square_owner_is_pushed_holds_at_its_store() {
    let config = parse_square(&square_source("")).expect("valid");
    let built = crate::sync::connectors::build_all(&config).expect("built");
    let pos = ChannelId::new("pos-downtown").expect("id");
    let side = &built.push[&pos];
    assert!(
        matches!(side.shown, crate::sync::plan::Shown::Holds(_)),
        "Square owns store-downtown: it is pushed holds there"
    );
    assert_eq!(
        side.location,
        LocationId::new("store-downtown").expect("id")
    );
    assert!(side.connector.takes_holds());
    assert!(
        side.connector.poll_interval().is_some(),
        "it polls the store's changes"
    );
    assert!(built.webhooks.contains_key(&pos));
}

#[test]
fn a_square_channel_needs_a_notification_url_or_public_url() {
    let source = square_source("").replace(
        "notification_url = \"https://omni.example.com/v1/webhooks/pos-downtown\"\n",
        "",
    );
    let config = parse_square(&source).expect("valid: the URL is needed only to build");
    let err = crate::sync::connectors::build_all(&config)
        .err()
        .expect("no URL to verify webhooks with");
    assert!(err.to_string().contains("notification_url"), "{err}");
}

// ── WooCommerce ──────────────────────────────────────────────────────────────────────────

const WOO: &str = r#"
[channels.woo-eu]
kind = "woocommerce"
shop_url = "https://shop.example.com"
consumer_key = { env = "WOO_KEY" }
consumer_secret = { env = "WOO_SECRET" }
webhook_secret = { env = "WOO_HOOK" }
sells_from = ["wh-east"]
"#;

fn parse_woo(source: &str) -> Result<Config, ConfigErrors> {
    let mut env = base_env();
    env.extend([
        ("WOO_KEY", "ck_value"),
        ("WOO_SECRET", "cs_value"),
        ("WOO_HOOK", "hook_value"),
    ]);
    parse_with(Path::new(FILE), &format!("{BASE}{source}"), &env_map(&env))
}

fn woo_problems(source: &str) -> Vec<String> {
    match parse_woo(source) {
        Ok(config) => panic!("expected problems, got {config:?}"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_woocommerce_channel_is_built_with_its_defaults() {
    let config = parse_woo(WOO).expect("valid");
    let channel = &config.channels[&ChannelId::new("woo-eu").expect("id")];
    let ChannelKind::WooCommerce(woo) = &channel.kind else {
        panic!("{:?}", channel.kind);
    };
    assert_eq!(woo.consumer_secret.expose(), "cs_value");
    assert_eq!(woo.location.as_str(), "wh-east");
    assert!(!woo.inventory_delta && !woo.allow_plain_http);
    assert_eq!(channel.limits, WOOCOMMERCE_LIMITS);
    let described = config.describe();
    assert!(
        described.contains("pushes with: read, set, re-read"),
        "{described}"
    );
    assert!(!described.contains("cs_value"), "{described}");
}

#[test]
fn a_woocommerce_channel_refuses_plain_http_unless_allowed() {
    let plain = WOO.replace("https://shop.example.com", "http://shop.example.com");
    let found = woo_problems(&plain);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("channels.woo-eu.shop_url: ") && found[0].contains("in the clear"),
        "{found:?}"
    );
    let allowed = format!("{plain}allow_plain_http = true\ninventory_delta = true\n");
    let config = parse_woo(&allowed).expect("allowed on purpose");
    let channel = &config.channels[&ChannelId::new("woo-eu").expect("id")];
    assert!(matches!(&channel.kind, ChannelKind::WooCommerce(w) if w.inventory_delta));
}

#[test]
fn a_woocommerce_channel_reports_each_missing_key() {
    let bare = WOO
        .replace("consumer_key = { env = \"WOO_KEY\" }\n", "")
        .replace("webhook_secret = { env = \"WOO_HOOK\" }\n", "");
    let found = woo_problems(&bare);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found
            .iter()
            .any(|f| f.contains("channels.woo-eu.consumer_key: missing")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("channels.woo-eu.webhook_secret: missing")),
        "{found:?}"
    );
}

#[path = "warehouse_tests.rs"]
mod warehouse;
