//! Secret references resolved to values: environment variables, systemd credentials, files.
//!
//! A secret is never written in the config in clear. Its value is read here and goes straight
//! into a [`Secret`], whose `Debug` hides it; messages name where it was looked for, never
//! what was found.

use std::path::{Path, PathBuf};

use super::Secret;

/// Where one secret is to be read from, as checked by `validate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SecretRef {
    /// An environment variable, set and non-empty.
    Env(String),
    /// `$CREDENTIALS_DIRECTORY/name`, from systemd's `LoadCredential=name:…`.
    Credential(String),
    /// A file; a relative path is relative to the config file's directory.
    File(String),
}

impl SecretRef {
    /// The key it was written under, for the field path of a problem.
    pub(super) fn key(&self) -> &'static str {
        match self {
            Self::Env(_) => "env",
            Self::Credential(_) => "credential",
            Self::File(_) => "file",
        }
    }
}

/// Reads secrets for one config file, with the environment injected (tests pass a map).
pub(super) struct SecretReader<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub config_dir: &'a Path,
}

impl SecretReader<'_> {
    /// The secret's value, or what is wrong, in words that never include a value.
    pub(super) fn read(&self, reference: &SecretRef) -> Result<Secret, String> {
        match reference {
            SecretRef::Env(name) => self.read_env(name),
            SecretRef::Credential(name) => self.read_credential(name),
            SecretRef::File(path) => self.read_path(path),
        }
    }

    fn read_env(&self, name: &str) -> Result<Secret, String> {
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(format!(
                "{name:?} is not an environment variable name (like OMNISTOCK_ADMIN_TOKEN)"
            ));
        }
        match (self.env)(name) {
            None => Err(format!("environment variable {name} is not set")),
            Some(value) if value.is_empty() => Err(format!("environment variable {name} is empty")),
            Some(value) => Ok(Secret::new(value, format!("env {name}"))),
        }
    }

    fn read_credential(&self, name: &str) -> Result<Secret, String> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            return Err(format!(
                "{name:?} is not a credential name; use the name given to systemd's \
                 LoadCredential=NAME:PATH, without '/'"
            ));
        }
        let dir = (self.env)("CREDENTIALS_DIRECTORY").filter(|dir| !dir.is_empty());
        let Some(dir) = dir else {
            return Err(format!(
                "credential {name:?} needs $CREDENTIALS_DIRECTORY, which is not set; systemd sets \
                 it for LoadCredential={name}:PATH, elsewhere use {{ env = \"…\" }} or {{ file = \"…\" }}"
            ));
        };
        let path = Path::new(&dir).join(name);
        read_secret_file(&path).map(|value| Secret::new(value, format!("credential {name}")))
    }

    fn read_path(&self, path: &str) -> Result<Secret, String> {
        if path.is_empty() {
            return Err("the file path is empty".to_owned());
        }
        let path: PathBuf = self.config_dir.join(path);
        read_secret_file(&path).map(|value| Secret::new(value, format!("file {}", path.display())))
    }
}

/// A secret file's text, its trailing newline trimmed (files written by `echo` or an editor
/// end with one, and it is never part of the secret).
fn read_secret_file(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(value.to_owned())
}
