//! HMAC-SHA256 webhook signatures, compared in constant time.
//!
//! Every system signs a little differently (hex or base64, the body alone or the URL followed
//! by the body); these helpers take the signed parts in order and the signature as sent, so a
//! connector states its scheme in one line.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused. Deliberately vague on the wire: it tells the sender which
/// header to fix, never which bytes matched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature is missing")]
    Missing,
    #[error("signature is not valid {0}")]
    Malformed(&'static str),
    #[error("signature does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac
}

/// The HMAC-SHA256 of `parts`, concatenated, as lowercase hex.
pub fn sign_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(mac(secret, parts).finalize().into_bytes())
}

/// The HMAC-SHA256 of `parts`, concatenated, as standard base64.
pub fn sign_base64(secret: &[u8], parts: &[&[u8]]) -> String {
    BASE64.encode(mac(secret, parts).finalize().into_bytes())
}

/// Verifies a hex signature (an optional `sha256=` prefix is accepted) in constant time.
pub fn verify_hex(
    secret: &[u8],
    parts: &[&[u8]],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    let text = signature.ok_or(SignatureError::Missing)?.trim();
    let text = text.strip_prefix("sha256=").unwrap_or(text);
    let bytes = hex::decode(text).map_err(|_| SignatureError::Malformed("hex"))?;
    mac(secret, parts)
        .verify_slice(&bytes)
        .map_err(|_| SignatureError::Mismatch)
}

/// Verifies a base64 signature in constant time.
pub fn verify_base64(
    secret: &[u8],
    parts: &[&[u8]],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    let text = signature.ok_or(SignatureError::Missing)?.trim();
    let bytes = BASE64
        .decode(text)
        .map_err(|_| SignatureError::Malformed("base64"))?;
    mac(secret, parts)
        .verify_slice(&bytes)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_test_case_2() {
        // RFC 4231, test case 2: key "Jefe".
        assert_eq!(
            sign_hex(b"Jefe", &[b"what do ya want ", b"for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let sig = sign_base64(b"k", &[b"https://x/hook", b"{}"]);
        assert_eq!(
            verify_base64(b"k", &[b"https://x/hook", b"{}"], Some(&sig)),
            Ok(())
        );
        assert_eq!(
            verify_base64(b"k", &[b"https://y/hook", b"{}"], Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        let hex_sig = format!("sha256={}", sign_hex(b"k", &[b"body"]));
        assert_eq!(verify_hex(b"k", &[b"body"], Some(&hex_sig)), Ok(()));
        assert_eq!(
            verify_hex(b"k", &[b"body"], None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_hex(b"k", &[b"body"], Some("zz")),
            Err(SignatureError::Malformed("hex"))
        );
    }
}
