//! SIGHUP: reload the configuration, or say clearly why not.
//!
//! A reload is all or nothing: a file with errors, or with changes that only a restart can
//! apply (listen address, state directory, node id, location owners…), leaves the running
//! configuration as it is and logs exactly what to do.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

use super::systemd;
use crate::config::{self, Config};

pub fn reload(path: &Path, current: &watch::Sender<Arc<Config>>) {
    systemd::reloading();
    match config::load(path) {
        Err(errors) => {
            tracing::error!(file = %path.display(), "Configuration not reloaded; the running one stays:\n{errors}");
        }
        Ok(new) => {
            let needs_restart = current.borrow().restart_required(&new);
            if needs_restart.is_empty() {
                current.send_replace(Arc::new(new));
                tracing::info!(file = %path.display(), "Configuration reloaded.");
            } else {
                tracing::error!(
                    file = %path.display(),
                    fields = %needs_restart.join(", "),
                    "Configuration not reloaded: these changes need a restart (systemctl restart omnistock); nothing was applied."
                );
            }
        }
    }
    systemd::ready("running");
}
