//! cosign's own encrypted private keys (`ENCRYPTED SIGSTORE PRIVATE KEY`, and the older
//! `ENCRYPTED COSIGN PRIVATE KEY`), as `cosign generate-key-pair` writes them.
//!
//! The PEM body is JSON (secure-systems-lab/go-securesystemslib `encrypted`):
//! `{"kdf":{"name":"scrypt","params":{"N":…,"r":8,"p":1},"salt":…},
//! "cipher":{"name":"nacl/secretbox","nonce":…},"ciphertext":…}`, byte strings in
//! standard base64. The key is scrypt(password, salt, N, r, p) of 32 bytes; the
//! ciphertext is NaCl secretbox (XSalsa20-Poly1305, tag first) of the PKCS#8 DER key.
//!
//! Neither scrypt nor XSalsa20-Poly1305 is FIPS-approved: a `fips` build refuses the
//! format instead of reading it (the two implementations are then never called, so
//! their code is not linked).

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// What a FIPS build names when it refuses the format.
pub const ALGORITHMS: &str = "cosign's encrypted key format (scrypt key derivation, NaCl secretbox XSalsa20-Poly1305 encryption)";

/// The PKCS#8 DER key inside a cosign encrypted key's PEM body (`json`).
#[cfg(not(feature = "fips"))]
pub fn decrypt(json: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};
    use crypto_secretbox::{Nonce, XSalsa20Poly1305};

    let invalid = |reason: String| Error::InvalidKey {
        what: "cosign private key",
        reason,
    };
    let doc: Document =
        serde_json::from_slice(json).map_err(|e| invalid(format!("not cosign's JSON: {e}")))?;
    if doc.kdf.name != "scrypt" {
        return Err(invalid(format!("unknown kdf {:?}", doc.kdf.name)));
    }
    if doc.cipher.name != "nacl/secretbox" {
        return Err(invalid(format!("unknown cipher {:?}", doc.cipher.name)));
    }
    let log_n = scrypt_log_n(&doc.kdf.params).ok_or_else(|| {
        let p = &doc.kdf.params;
        invalid(format!(
            "unsupported scrypt parameters N={} r={} p={} (cosign writes N=2^15, 2^16 or 2^17, r=8, p=1)",
            p.n, p.r, p.p
        ))
    })?;
    let decode = |what: &str, b64: &str| {
        STANDARD
            .decode(b64)
            .map_err(|_| invalid(format!("the {what} is not base64")))
    };
    let salt = decode("salt", &doc.kdf.salt)?;
    let nonce = decode("nonce", &doc.cipher.nonce)?;
    let ciphertext = decode("ciphertext", &doc.ciphertext)?;
    if nonce.len() != 24 {
        return Err(invalid(format!("a nonce of {} bytes, not 24", nonce.len())));
    }

    let params = scrypt::Params::new(log_n, doc.kdf.params.r, doc.kdf.params.p, 32)
        .map_err(|_| invalid("invalid scrypt parameters".into()))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, &salt, &params, &mut key[..]).map_err(|_| Error::Crypto {
        what: "scrypt key derivation",
    })?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let plain = cipher
        .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
        .map_err(|_| Error::Decrypt)?;
    Ok(Zeroizing::new(plain))
}

/// A FIPS build does not read the format: it names the algorithms it would need.
#[cfg(feature = "fips")]
pub fn decrypt(_json: &[u8], _password: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    Err(Error::NotFipsApproved {
        algorithm: ALGORITHMS,
    })
}

/// log2(N) for the three parameter sets go-securesystemslib accepts (its `CheckParams`:
/// legacy, standard and OWASP strength); anything else is refused, as cosign does, which
/// also bounds the memory a crafted file can make scrypt allocate.
#[cfg(not(feature = "fips"))]
fn scrypt_log_n(p: &ScryptParams) -> Option<u8> {
    match (p.n, p.r, p.p) {
        (32_768, 8, 1) => Some(15),
        (65_536, 8, 1) => Some(16),
        (131_072, 8, 1) => Some(17),
        _ => None,
    }
}

#[cfg(not(feature = "fips"))]
#[derive(serde::Deserialize)]
struct Document {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[cfg(not(feature = "fips"))]
#[derive(serde::Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[cfg(not(feature = "fips"))]
#[derive(serde::Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[cfg(not(feature = "fips"))]
#[derive(serde::Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}
