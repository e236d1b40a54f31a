//! ECDSA P-256 keys: generated and used with aws-lc-rs, stored as PEM.
//!
//! - Private keys are PKCS#8 ([RFC 5958]) `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` under
//!   PBES2 ([RFC 8018] section 6.2): PBKDF2-HMAC-SHA256 and AES-256-CBC when written;
//!   PBKDF2 with HMAC-SHA1 or -SHA256 and AES-128/256-CBC when read (what
//!   `openssl pkcs8 -topk8` writes).
//! - cosign's own `ENCRYPTED SIGSTORE PRIVATE KEY` is read through [`crate::cosign_key`]
//!   (refused in FIPS builds).
//! - Public keys are SubjectPublicKeyInfo ([RFC 5480]) `PUBLIC KEY`, as cosign writes
//!   and reads them.
//!
//! Private key bytes and passwords live in [`Zeroizing`] buffers.
//!
//! [RFC 5958]: https://www.rfc-editor.org/rfc/rfc5958
//! [RFC 8018]: https://www.rfc-editor.org/rfc/rfc8018#section-6.2
//! [RFC 5480]: https://www.rfc-editor.org/rfc/rfc5480

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::pbkdf2;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use zeroize::Zeroizing;

use crate::constants::{
    PASSWORD_ENV, PBKDF2_ITERATIONS, PEM_COSIGN_PRIVATE_KEYS, PEM_ENCRYPTED_PRIVATE_KEY,
    PEM_PRIVATE_KEY, PEM_PUBLIC_KEY,
};
use crate::der::{self, Reader};
use crate::error::{Error, Result};
use crate::pem;

// Object identifiers, DER-encoded contents.
/// 1.2.840.113549.1.5.13 (id-PBES2).
const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
/// 1.2.840.113549.1.5.12 (id-PBKDF2).
const OID_PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
/// 1.2.840.113549.2.7 (id-hmacWithSHA1).
const OID_HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
/// 1.2.840.113549.2.9 (id-hmacWithSHA256).
const OID_HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
/// 2.16.840.1.101.3.4.1.2 (aes128-CBC).
const OID_AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
/// 2.16.840.1.101.3.4.1.42 (aes256-CBC).
const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];

/// The password in `LADING_PASSWORD`, else `COSIGN_PASSWORD`; `None` when neither is
/// set. An empty value counts as set.
pub fn password_from_env() -> Option<Zeroizing<String>> {
    PASSWORD_ENV
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .map(Zeroizing::new)
}

/// Whether a private key PEM is encrypted (needs a password to load).
pub fn is_encrypted(pem_text: &str) -> bool {
    pem_text.contains("-----BEGIN ENCRYPTED ")
}

/// Fails when this build cannot read the private key's format at all, so that no
/// password is asked for in vain: cosign's own format in a FIPS build.
pub fn check_readable(pem_text: &str) -> Result<()> {
    let (label, _) = pem::decode(pem_text)?;
    if cfg!(feature = "fips") && PEM_COSIGN_PRIVATE_KEYS.contains(&label.as_str()) {
        return Err(Error::NotFipsApproved {
            algorithm: crate::cosign_key::ALGORITHMS,
        });
    }
    Ok(())
}

/// An ECDSA P-256 key pair (signing with SHA-256, ASN.1 DER signatures).
pub struct KeyPair {
    inner: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("private", &"[redacted]")
            .finish()
    }
}

impl KeyPair {
    /// A new random key pair.
    pub fn generate() -> Result<KeyPair> {
        let inner =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(|_| Error::Crypto {
                what: "generating a P-256 key",
            })?;
        let doc = inner.to_pkcs8v1().map_err(|_| Error::Crypto {
            what: "encoding the private key",
        })?;
        let pkcs8 = Zeroizing::new(doc.as_ref().to_vec());
        Ok(KeyPair { inner, pkcs8 })
    }

    /// Reads a PKCS#8 DER private key.
    pub fn from_pkcs8(der: &[u8]) -> Result<KeyPair> {
        let inner =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der).map_err(|e| {
                Error::InvalidKey {
                    what: "private key",
                    reason: format!("not a PKCS#8 ECDSA P-256 key ({e})"),
                }
            })?;
        // Re-encode: a v2 document (with the public key) becomes v1, as written here.
        let doc = inner.to_pkcs8v1().map_err(|_| Error::Crypto {
            what: "encoding the private key",
        })?;
        Ok(KeyPair {
            inner,
            pkcs8: Zeroizing::new(doc.as_ref().to_vec()),
        })
    }

    /// Reads a `PRIVATE KEY` or (with `password`) `ENCRYPTED PRIVATE KEY` PEM.
    pub fn from_pem(text: &str, password: Option<&[u8]>) -> Result<KeyPair> {
        let (label, der) = pem::decode(text)?;
        match label.as_str() {
            PEM_PRIVATE_KEY => KeyPair::from_pkcs8(&der),
            PEM_ENCRYPTED_PRIVATE_KEY => {
                let password = password.ok_or(Error::PasswordRequired)?;
                let plain = pbes2_decrypt(&der, password)?;
                KeyPair::from_pkcs8(&plain).map_err(|_| Error::Decrypt)
            }
            l if PEM_COSIGN_PRIVATE_KEYS.contains(&l) => {
                let password = password.ok_or(Error::PasswordRequired)?;
                let plain = crate::cosign_key::decrypt(&der, password)?;
                KeyPair::from_pkcs8(&plain).map_err(|_| Error::Decrypt)
            }
            _ => Err(Error::UnsupportedPem {
                label: label.clone(),
                reason: "expected PRIVATE KEY or ENCRYPTED PRIVATE KEY (PKCS#8)".into(),
            }),
        }
    }

    /// The private key as PEM: PKCS#8, encrypted with PBES2 when `password` is given.
    pub fn to_pem(&self, password: Option<&[u8]>) -> Result<Zeroizing<String>> {
        match password {
            None => Ok(pem::encode(PEM_PRIVATE_KEY, &self.pkcs8)),
            Some(p) => {
                let der = pbes2_encrypt(&self.pkcs8, p, PBKDF2_ITERATIONS)?;
                Ok(pem::encode(PEM_ENCRYPTED_PRIVATE_KEY, &der))
            }
        }
    }

    /// The public half.
    pub fn public_key(&self) -> Result<PublicKey> {
        let der: PublicKeyX509Der =
            self.inner
                .public_key()
                .as_der()
                .map_err(|_| Error::Crypto {
                    what: "encoding the public key",
                })?;
        Ok(PublicKey {
            spki: der.as_ref().to_vec(),
        })
    }

    /// Signs `message` (ECDSA with SHA-256); the signature in ASN.1 DER.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let sig = self
            .inner
            .sign(&SystemRandom::new(), message)
            .map_err(|_| Error::Crypto { what: "signing" })?;
        Ok(sig.as_ref().to_vec())
    }
}

/// An ECDSA P-256 public key (SubjectPublicKeyInfo DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    spki: Vec<u8>,
}

impl PublicKey {
    /// Reads a `PUBLIC KEY` PEM (cosign's `cosign.pub`).
    pub fn from_pem(text: &str) -> Result<PublicKey> {
        let (label, der) = pem::decode(text)?;
        if label != PEM_PUBLIC_KEY {
            return Err(Error::UnsupportedPem {
                label,
                reason: "expected PUBLIC KEY (SubjectPublicKeyInfo)".into(),
            });
        }
        PublicKey::from_der(&der)
    }

    /// Reads SubjectPublicKeyInfo DER; only ECDSA P-256 keys are accepted.
    pub fn from_der(der: &[u8]) -> Result<PublicKey> {
        let parsed = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, der);
        // aws-lc-rs also takes bare points; a SubjectPublicKeyInfo is a SEQUENCE.
        if der.first() != Some(&der::SEQUENCE) {
            return Err(Error::InvalidKey {
                what: "public key",
                reason: "not a SubjectPublicKeyInfo".into(),
            });
        }
        parsed.parse().map_err(|_| Error::InvalidKey {
            what: "public key",
            reason: "not an ECDSA P-256 SubjectPublicKeyInfo".into(),
        })?;
        Ok(PublicKey { spki: der.to_vec() })
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn der(&self) -> &[u8] {
        &self.spki
    }

    /// The `PUBLIC KEY` PEM.
    pub fn to_pem(&self) -> String {
        pem::encode(PEM_PUBLIC_KEY, &self.spki).to_string()
    }

    /// Checks an ASN.1 DER ECDSA-SHA256 `signature` of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.spki)
            .verify(message, signature)
            .map_err(|_| Error::BadSignature)
    }
}

/// `EncryptedPrivateKeyInfo` under PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC).
fn pbes2_encrypt(plain: &[u8], password: &[u8], iterations: u32) -> Result<Vec<u8>> {
    let crypto = |what| move |_| Error::Crypto { what };
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(crypto("drawing a salt"))?;
    aws_lc_rs::rand::fill(&mut iv).map_err(crypto("drawing an iv"))?;
    let rounds = NonZeroU32::new(iterations).ok_or(Error::Crypto {
        what: "PBKDF2 with zero iterations",
    })?;
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        &salt,
        password,
        &mut key[..],
    );
    let cipher = UnboundCipherKey::new(&AES_256, &key[..]).map_err(crypto("AES key"))?;
    let cipher = PaddedBlockEncryptingKey::cbc_pkcs7(cipher).map_err(crypto("AES-CBC"))?;
    let mut data = plain.to_vec();
    cipher
        .less_safe_encrypt(&mut data, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(crypto("encrypting the private key"))?;

    let prf = der::tlv(
        der::SEQUENCE,
        &[
            der::tlv(der::OID, OID_HMAC_SHA256),
            der::tlv(der::NULL, &[]),
        ]
        .concat(),
    );
    let kdf_params = der::tlv(
        der::SEQUENCE,
        &[
            der::tlv(der::OCTET_STRING, &salt),
            der::tlv(der::INTEGER, &der::uint(iterations)),
            prf,
        ]
        .concat(),
    );
    let kdf = der::tlv(
        der::SEQUENCE,
        &[der::tlv(der::OID, OID_PBKDF2), kdf_params].concat(),
    );
    let enc = der::tlv(
        der::SEQUENCE,
        &[
            der::tlv(der::OID, OID_AES256_CBC),
            der::tlv(der::OCTET_STRING, &iv),
        ]
        .concat(),
    );
    let algorithm = der::tlv(
        der::SEQUENCE,
        &[
            der::tlv(der::OID, OID_PBES2),
            der::tlv(der::SEQUENCE, &[kdf, enc].concat()),
        ]
        .concat(),
    );
    Ok(der::tlv(
        der::SEQUENCE,
        &[algorithm, der::tlv(der::OCTET_STRING, &data)].concat(),
    ))
}

/// The PKCS#8 bytes inside a PBES2 `EncryptedPrivateKeyInfo`.
fn pbes2_decrypt(der_bytes: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let unsupported = |what: &str| Error::InvalidKey {
        what: "encrypted private key",
        reason: format!("unsupported {what} (PBES2 with PBKDF2 and AES-CBC is read)"),
    };
    let mut top = Reader::new(der_bytes);
    let mut info = Reader::new(top.read(der::SEQUENCE)?);
    let mut algorithm = Reader::new(info.read(der::SEQUENCE)?);
    let data = info.read(der::OCTET_STRING)?;
    if algorithm.read(der::OID)? != OID_PBES2 {
        return Err(unsupported("encryption scheme"));
    }
    let mut params = Reader::new(algorithm.read(der::SEQUENCE)?);
    let mut kdf = Reader::new(params.read(der::SEQUENCE)?);
    let mut enc = Reader::new(params.read(der::SEQUENCE)?);
    if kdf.read(der::OID)? != OID_PBKDF2 {
        return Err(unsupported("key derivation"));
    }
    let mut kdf_params = Reader::new(kdf.read(der::SEQUENCE)?);
    let salt = kdf_params.read(der::OCTET_STRING)?;
    let iterations = kdf_params.read_u32()?;
    if kdf_params.peek() == Some(der::INTEGER) {
        kdf_params.read_u32()?; // keyLength: implied by the cipher
    }
    let prf = if kdf_params.is_empty() {
        pbkdf2::PBKDF2_HMAC_SHA1
    } else {
        let mut prf = Reader::new(kdf_params.read(der::SEQUENCE)?);
        match prf.read(der::OID)? {
            OID_HMAC_SHA256 => pbkdf2::PBKDF2_HMAC_SHA256,
            OID_HMAC_SHA1 => pbkdf2::PBKDF2_HMAC_SHA1,
            _ => return Err(unsupported("PBKDF2 pseudo-random function")),
        }
    };
    let (alg, key_len) = match enc.read(der::OID)? {
        OID_AES256_CBC => (&AES_256, 32),
        OID_AES128_CBC => (&AES_128, 16),
        _ => return Err(unsupported("cipher")),
    };
    let iv: [u8; 16] = enc
        .read(der::OCTET_STRING)?
        .try_into()
        .map_err(|_| unsupported("IV length"))?;
    let rounds = NonZeroU32::new(iterations).ok_or_else(|| unsupported("iteration count 0"))?;
    let mut key = Zeroizing::new(vec![0u8; key_len]);
    pbkdf2::derive(prf, rounds, salt, password, &mut key[..]);
    let cipher = UnboundCipherKey::new(alg, &key).map_err(|_| Error::Crypto { what: "AES key" })?;
    let cipher = PaddedBlockDecryptingKey::cbc_pkcs7(cipher)
        .map_err(|_| Error::Crypto { what: "AES-CBC" })?;
    let mut buf = Zeroizing::new(data.to_vec());
    let plain = cipher
        .decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| Error::Decrypt)?;
    Ok(Zeroizing::new(plain.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_encrypted_keys_round_trip_and_sign() {
        let kp = KeyPair::generate().unwrap();
        let public = kp.public_key().unwrap();
        let sig = kp.sign(b"payload").unwrap();
        public.verify(b"payload", &sig).unwrap();
        assert!(matches!(
            public.verify(b"other", &sig),
            Err(Error::BadSignature)
        ));

        let plain = kp.to_pem(None).unwrap();
        assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = KeyPair::from_pem(&plain, None).unwrap();
        assert_eq!(back.public_key().unwrap(), public);

        let der = pbes2_encrypt(&kp.pkcs8, b"pw", 1000).unwrap();
        let enc = pem::encode(PEM_ENCRYPTED_PRIVATE_KEY, &der);
        assert!(is_encrypted(&enc));
        let back = KeyPair::from_pem(&enc, Some(b"pw")).unwrap();
        assert_eq!(back.public_key().unwrap(), public);
        assert!(matches!(
            KeyPair::from_pem(&enc, None),
            Err(Error::PasswordRequired)
        ));
        assert!(matches!(
            KeyPair::from_pem(&enc, Some(b"wrong")),
            Err(Error::Decrypt)
        ));

        let pub_pem = public.to_pem();
        assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(PublicKey::from_pem(&pub_pem).unwrap(), public);
    }

    #[test]
    fn debug_output_hides_the_private_key() {
        let kp = KeyPair::generate().unwrap();
        assert_eq!(format!("{kp:?}"), "KeyPair { private: \"[redacted]\" }");
    }
}
