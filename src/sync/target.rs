//! What to make a channel show, given what we want, what we last published and what it
//! shows now (DESIGN.md rule 6). Pure.
//!
//! `published` is our model of the channel's number *without* the sales it made that we have
//! not heard of yet: the target we last applied, lowered by the channel's own orders as they
//! arrive (the channel already lowered its number for them). So `read − published` is:
//! - negative: sales the channel made whose orders have not reached us. They stay in its
//!   number; when their orders arrive, the target and `published` drop together and nothing
//!   is pushed back.
//! - positive: a rise nothing we know of explains — drift. It is corrected away.

/// The value to set on a channel that shows `read`, to move it to `target` while keeping its
/// unseen sales: `target + min(read − published, 0)`, never below 0.
pub fn next_value(target: i64, published: i64, read: i64) -> i64 {
    let unseen_sales = read.saturating_sub(published).min(0);
    target.saturating_add(unseen_sales).max(0)
}

/// `published` after the channel moved from `read` to [`next_value`]: the target, unless the
/// channel's unseen sales exceed it — then the channel shows 0 and `published` stays that far
/// above what it shows, so those sales are still remembered when the target rises again.
/// If instead such a sale is cancelled and restocked before its order ever reached us, the
/// channel rises back to `published`, above the target; so the end of a line whose opening
/// we never saw calls for a push (`Planner::published_after_own`), which reads it.
pub fn published_after(target: i64, published: i64, read: i64) -> i64 {
    target.max(published.saturating_sub(read))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn in_sync_channels_are_left_alone() {
        assert_eq!(next_value(7, 7, 7), 7);
    }

    #[test]
    fn a_sale_we_have_not_seen_stays_in_the_number() {
        // We published 10; the shop sold 2 we have not heard of; a store sale drops our target to 9.
        assert_eq!(next_value(9, 10, 8), 7);
    }

    #[test]
    fn an_unexplained_rise_is_drift_and_corrected() {
        assert_eq!(next_value(5, 5, 9), 5);
    }

    #[test]
    fn unseen_sales_beyond_the_target_are_remembered() {
        // Published 1, the channel sold 3 unseen (shows -2 → clamps to 0), target 1.
        let (target, published, read) = (1, 4, 1);
        assert_eq!(next_value(target, published, read), 0);
        let published = published_after(target, published, read);
        assert_eq!(published, 3);
        // The target rises to 5: the 3 unseen sales still count.
        assert_eq!(next_value(5, published, 0), 2);
    }

    proptest! {
        #[test]
        fn never_above_the_target_nor_below_zero(target in 0..1000i64, published in -50..1000i64, read in -50..1000i64) {
            let value = next_value(target, published, read);
            prop_assert!((0..=target).contains(&value));
        }

        #[test]
        fn pushing_twice_changes_nothing(target in 0..1000i64, published in 0..1000i64, read in 0..1000i64) {
            // After a push, published becomes the target and the channel shows `value`.
            let value = next_value(target, published, read);
            let published = published_after(target, published, read);
            prop_assert_eq!(next_value(target, published, value), value);
            prop_assert_eq!(published_after(target, published, value), published);
        }
    }
}
