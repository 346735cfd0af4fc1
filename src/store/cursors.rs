//! Where each channel's incremental poll resumes: the connector's opaque cursor, saved after
//! the events of the page it ends were acknowledged.
//!
//! Losing the newest cursor (a crash before the next flush) only polls a page again, and its
//! events are duplicates by id; so saving it needs no fsync of its own.

use omnistock_sdk::ChannelId;

use super::{Store, StoreError, codec};

impl Store {
    /// The cursor `channel`'s poll resumes from, if one was saved.
    pub fn poll_cursor(&self, channel: &ChannelId) -> Result<Option<String>, StoreError> {
        let key = codec::cursor_key(channel);
        let Some(value) = self
            .meta
            .get(&key)
            .map_err(self.backend("reading a poll cursor"))?
        else {
            return Ok(None);
        };
        codec::decode_cursor(&value)
            .map(Some)
            .map_err(|d| self.bad("meta", &key, d))
    }

    /// Saves where `channel`'s poll resumes. Durable after the next `sync`.
    pub fn set_poll_cursor(&self, channel: &ChannelId, cursor: &str) -> Result<(), StoreError> {
        let key = codec::cursor_key(channel);
        let value = codec::encode_cursor(cursor).map_err(|d| self.bad("meta", &key, d))?;
        self.meta
            .insert(key, value)
            .map_err(self.backend("saving a poll cursor"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let web = ChannelId::new("web").expect("id");
        let pos = ChannelId::new("pos").expect("id");
        {
            let store = Store::open(dir.path()).expect("opens");
            assert_eq!(store.poll_cursor(&web).expect("reads"), None);
            store.set_poll_cursor(&web, "page-1").expect("saves");
            store.set_poll_cursor(&web, "page-2").expect("saves");
            store
                .set_poll_cursor(&pos, "2026-11-23T10:00:00Z")
                .expect("saves");
            store.sync_blocking().expect("syncs");
        }
        let store = Store::open(dir.path()).expect("reopens");
        assert_eq!(
            store.poll_cursor(&web).expect("reads").as_deref(),
            Some("page-2")
        );
        assert_eq!(
            store.poll_cursor(&pos).expect("reads").as_deref(),
            Some("2026-11-23T10:00:00Z")
        );
    }
}
