//! The shipped systemd unit against the system calls the daemon makes: one its filter
//! denies would kill the daemon with SIGSYS, on the first machine that runs the unit.

/// Calls the daemon makes that the unit's deny lists (`@privileged`, `@resources`) include,
/// with who makes them.
const ALLOWED_AGAIN: [(&str, &str); 1] = [("setpriority", "src/background.rs")];

fn unit() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/omnistock.service");
    std::fs::read_to_string(path).expect("the unit file")
}

#[test]
fn every_call_the_daemon_makes_is_allowed_after_the_deny_lists() {
    let unit = unit();
    let filters: Vec<&str> = unit
        .lines()
        .filter_map(|line| line.trim().strip_prefix("SystemCallFilter="))
        .collect();
    let deny = filters
        .iter()
        .rposition(|f| f.starts_with('~'))
        .expect("the unit has a deny list");
    for (call, caller) in ALLOWED_AGAIN {
        let allowed = filters
            .iter()
            .rposition(|f| !f.starts_with('~') && f.split_whitespace().any(|w| w == call));
        assert!(
            allowed.is_some_and(|at| at > deny),
            "{caller} calls {call}: allow it after the unit's deny list"
        );
    }
}

#[test]
fn a_denied_call_fails_instead_of_killing_the_daemon() {
    assert!(
        unit()
            .lines()
            .any(|line| line.trim() == "SystemCallErrorNumber=EPERM"),
        "without SystemCallErrorNumber, systemd kills the daemon on a denied call"
    );
}
