//! Stock semantics: on-hand counters, reservations, ATP. Pure: no clock, no I/O.

/// A record that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode stock state: {0}")]
pub struct DecodeError(pub String);

/// One SKU's stock state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SkuState {}

impl SkuState {
    /// Our own versioned encoding: a format byte, then the body.
    pub fn encode(&self) -> Vec<u8> {
        vec![1]
    }

    pub fn decode(bytes: &[u8]) -> Result<SkuState, DecodeError> {
        match bytes.first() {
            Some(1) => Ok(SkuState {}),
            other => Err(DecodeError(format!("unknown format {other:?}"))),
        }
    }
}
