//! `Reservation`: an order line's hold on units at a location, with a forward-only lifecycle.
//!
//! Laws (checked in `state::tests`): merge is commutative, associative and idempotent.
//! - The lifecycle only moves forward, `Open → Fulfilled → Cancelled` by rank, and merge keeps
//!   the further state; a cancellation that arrives before its order still ends cancelled. A
//!   cancellation outranks a fulfilment because a cancelled line never holds units, while a
//!   fulfilled one holds them until the owner's count shows them gone: either way each unit is
//!   counted once, and a fixed order makes the merge deterministic.
//! - Within one state the later time wins (a later fulfilment holds the units longer: safe).
//! - The line's details (location, quantity) are a last-writer-wins register by the opening
//!   event's mark, so an order edit re-sent with a new quantity replaces the old one.

use omnistock_sdk::{LocationId, Timestamp};
use serde::{Deserialize, Serialize};

use super::timeline::Mark;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lifecycle {
    Open,
    Fulfilled {
        at: Timestamp,
    },
    /// `restocked`: the selling channel put the units back into its own number.
    Cancelled {
        at: Timestamp,
        #[serde(default)]
        restocked: bool,
    },
}

impl Lifecycle {
    fn rank(&self) -> (u8, Timestamp, bool) {
        match self {
            Self::Open => (0, Timestamp::EPOCH, false),
            Self::Fulfilled { at } => (1, *at, false),
            Self::Cancelled { at, restocked } => (2, *at, *restocked),
        }
    }

    /// Name for the API and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Fulfilled { .. } => "fulfilled",
            Self::Cancelled { .. } => "cancelled",
        }
    }
}

/// Where and how many units the line holds, from its (latest) opening event.
/// Ordered by the opening mark first, so "latest opening wins"; the other fields only break
/// ties between (invalid) inputs that reuse one event id, keeping merge deterministic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LineDetails {
    pub opened: Mark,
    pub location: LocationId,
    pub quantity: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// `None` while only a fulfilment or cancellation has arrived.
    pub details: Option<LineDetails>,
    pub lifecycle: Lifecycle,
}

impl Reservation {
    pub fn opened(details: LineDetails) -> Self {
        Self {
            details: Some(details),
            lifecycle: Lifecycle::Open,
        }
    }

    pub fn with_lifecycle(lifecycle: Lifecycle) -> Self {
        Self {
            details: None,
            lifecycle,
        }
    }

    /// The merge of two replicas of the same line.
    #[must_use]
    pub fn merged(self, other: &Self) -> Self {
        let details = match (self.details, &other.details) {
            (Some(a), Some(b)) => Some(if *b > a { b.clone() } else { a }),
            (a, b) => a.or_else(|| b.clone()),
        };
        let lifecycle = if other.lifecycle.rank() > self.lifecycle.rank() {
            other.lifecycle.clone()
        } else {
            self.lifecycle
        };
        Self { details, lifecycle }
    }

    /// The units this line holds at its location, given when its owner last counted there.
    /// Rule 3: a fulfilled line holds its units until an owner count at or after the
    /// fulfilment has been merged, so a shipped unit is subtracted exactly once.
    pub fn held(&self, owner_counted_at: Option<Timestamp>) -> u32 {
        let Some(details) = &self.details else {
            return 0;
        };
        match self.lifecycle {
            Lifecycle::Open => details.quantity,
            Lifecycle::Fulfilled { at } if owner_counted_at.is_none_or(|counted| counted < at) => {
                details.quantity
            }
            Lifecycle::Fulfilled { .. } | Lifecycle::Cancelled { .. } => 0,
        }
    }
}
