//! A simulated channel's `[channels.NAME]` table and the secret files it names, built
//! together: every secret field is written with its file, so a table never names a file the
//! demo does not write.

use std::fmt::Display;

use omnistock_sdk::{ChannelId, LocationId};

/// One channel's table in the demo's `omnistock.toml`, and its secret files.
pub struct ChannelTable {
    id: ChannelId,
    toml: String,
    secrets: Vec<(String, String)>,
}

impl ChannelTable {
    /// `[channels.ID]` of `kind`.
    pub fn new(id: &ChannelId, kind: &str) -> Self {
        Self {
            id: id.clone(),
            toml: format!("[channels.{id}]\n"),
            secrets: Vec::new(),
        }
        .text("kind", kind)
    }

    /// `key = "value"`.
    pub fn text(self, key: &str, value: impl Display) -> Self {
        let quoted = format!("{:?}", value.to_string());
        self.raw(key, quoted)
    }

    /// `key = value`, the value written as TOML (a number, an inline table, …).
    pub fn raw(mut self, key: &str, value: impl Display) -> Self {
        self.toml.push_str(&format!("{key} = {value}\n"));
        self
    }

    /// `key = { file = "secrets/ID-WHAT" }` (`secrets/ID` when `what` is empty), the file
    /// holding `value`.
    pub fn secret(self, key: &str, what: &str, value: impl Into<String>) -> Self {
        let file = if what.is_empty() {
            self.id.to_string()
        } else {
            format!("{}-{what}", self.id)
        };
        let mut table = self.raw(key, format!("{{ file = \"secrets/{file}\" }}"));
        table.secrets.push((file, value.into()));
        table
    }

    pub fn sells_from<'a>(self, locations: impl IntoIterator<Item = &'a LocationId>) -> Self {
        let quoted: Vec<String> = locations
            .into_iter()
            .map(|l| format!("{:?}", l.as_str()))
            .collect();
        self.raw("sells_from", format!("[{}]", quoted.join(", ")))
    }

    /// The table's text.
    pub fn toml(&self) -> &str {
        &self.toml
    }

    /// The secret files it names: (file name under `secrets/`, value).
    pub fn secrets(&self) -> &[(String, String)] {
        &self.secrets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_field_names_the_file_written_for_it() {
        let id = ChannelId::new("shop").expect("id");
        let wh = LocationId::new("wh").expect("id");
        let table = ChannelTable::new(&id, "shopify")
            .text("shop_url", "http://127.0.0.1:9")
            .secret("access_token", "token", "t0k3n")
            .secret("webhook_secret", "", "s3cr3t")
            .sells_from([&wh]);
        assert_eq!(
            table.toml(),
            "[channels.shop]\nkind = \"shopify\"\nshop_url = \"http://127.0.0.1:9\"\n\
             access_token = { file = \"secrets/shop-token\" }\n\
             webhook_secret = { file = \"secrets/shop\" }\nsells_from = [\"wh\"]\n"
        );
        assert_eq!(
            table.secrets(),
            [
                ("shop-token".to_owned(), "t0k3n".to_owned()),
                ("shop".to_owned(), "s3cr3t".to_owned())
            ]
        );
    }
}
