//! The demo's configuration: a real `omnistock.toml` and its secret files, written into the
//! demo's directory and loaded like any other, so what the demo runs is what a user would.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use omnistock_sdk::{ChannelId, LocationId};

use super::table::ChannelTable;

/// One location and the channel that owns it.
pub struct Place {
    pub id: LocationId,
    pub owner: ChannelId,
    pub safety: i64,
}

/// The configuration file's text: the daemon's settings, the places, then each channel's
/// table as its simulation wrote it.
pub fn config_text(listen: SocketAddr, places: &[Place], channels: &[ChannelTable]) -> String {
    let mut text = format!(
        "# Written by `omnistock demo`: simulated channels on this machine.\n\
         node_id = \"demo\"\n\
         listen = \"{listen}\"\n\
         state_dir = \"state\"\n\
         \n\
         [api]\n\
         admin_token = {{ file = \"secrets/admin-token\" }}\n"
    );
    for place in places {
        text.push_str(&format!(
            "\n[locations.{}]\nowner = \"{}\"\nsafety = {}\n",
            place.id, place.owner, place.safety
        ));
    }
    for channel in channels {
        text.push('\n');
        text.push_str(channel.toml());
    }
    text
}

/// Writes the config file and the secret files (readable by this user only) into `dir`;
/// returns the config file's path.
pub fn write(
    dir: &Path,
    text: &str,
    secrets: &[(String, String)],
) -> anyhow::Result<std::path::PathBuf> {
    let secret_dir = dir.join("secrets");
    std::fs::create_dir_all(&secret_dir)
        .with_context(|| format!("creating {}", secret_dir.display()))?;
    for (name, value) in secrets {
        let path = secret_dir.join(name);
        std::fs::write(&path, value).with_context(|| format!("writing {}", path.display()))?;
        restrict(&path)?;
    }
    let path = dir.join("omnistock.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ChannelKind;
    use crate::demo::channel::Simulated;
    use crate::demo::generic::Owner;

    #[test]
    fn the_written_config_loads_with_its_secrets_and_no_environment() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (pos, store) = (
            ChannelId::new("pos").expect("id"),
            LocationId::new("store").expect("id"),
        );
        let owner = Owner::new(pos.clone(), store.clone(), "pos-secret".into());
        let places = [Place {
            id: store.clone(),
            owner: pos.clone(),
            safety: 1,
        }];
        let text = config_text(
            "127.0.0.1:9".parse().expect("address"),
            &places,
            &[owner.table()],
        );
        let mut secrets = owner.table().secrets().to_vec();
        secrets.push(("admin-token".into(), "admin".into()));
        let path = write(dir.path(), &text, &secrets).expect("written");

        let config =
            crate::config::load_with(&path, &|_| None).expect("the demo's config is valid");
        assert_eq!(config.node_id, "demo");
        assert_eq!(config.listen.port(), 9);
        assert_eq!(config.state_dir, dir.path().join("state"));
        assert_eq!(config.api.admin_token.expose(), "admin");
        assert_eq!(config.locations[&store].owner, pos);
        assert_eq!(config.locations[&store].safety, 1);
        match &config.channels[&pos].kind {
            ChannelKind::Generic {
                webhook_secret,
                push_url,
            } => {
                assert_eq!(webhook_secret.expose(), "pos-secret");
                assert_eq!(push_url, &None);
            }
            other => panic!("pos is generic, not {other:?}"),
        }
        let mode = std::fs::metadata(dir.path().join("secrets/pos")).expect("secret file");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
    }
}
