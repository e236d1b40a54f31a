//! Errors of the signer.

use lading_oci::Digest;

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A PEM document could not be read.
    #[error("not a PEM document: {reason}")]
    Pem {
        /// Why.
        reason: String,
    },
    /// A PEM document has a label this crate does not read.
    #[error("unsupported PEM label {label:?}: {reason}")]
    UnsupportedPem {
        /// The label.
        label: String,
        /// What would be read instead.
        reason: String,
    },
    /// The key is not what was expected (DER, algorithm, curve).
    #[error("invalid {what}: {reason}")]
    InvalidKey {
        /// Private or public key.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The key is encrypted and no password was given.
    #[error("the private key is encrypted and no password was given")]
    PasswordRequired,
    /// Decryption failed: a wrong password or a damaged file.
    #[error("cannot decrypt the private key: wrong password, or the file is damaged")]
    Decrypt,
    /// A cryptographic operation failed.
    #[error("{what} failed")]
    Crypto {
        /// The operation.
        what: &'static str,
    },
    /// A signature manifest or payload is malformed.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was read.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A payload names another image than the one verified.
    #[error("the payload is for {actual}, not {expected}")]
    WrongDigest {
        /// The image verified.
        expected: Digest,
        /// What the payload names.
        actual: String,
    },
    /// A FIPS build was asked for an algorithm the FIPS 140-3 module does not approve.
    #[error("{algorithm} is not FIPS-approved; this lading build runs in FIPS mode and refuses it")]
    NotFipsApproved {
        /// The algorithm, named for the user.
        algorithm: &'static str,
    },
    /// The signature does not verify with the key.
    #[error("the signature does not match the payload and key")]
    BadSignature,
    /// A verified attestation does not satisfy the policy.
    #[error("policy not satisfied: {reason}")]
    Policy {
        /// Which requirement failed.
        reason: String,
    },
    /// A request to Fulcio, Rekor or a token issuer failed.
    #[error("{what}: {reason}")]
    Http {
        /// Which service.
        what: &'static str,
        /// Why (never the token).
        reason: String,
    },
    /// Sigstore material that does not chain to the trusted root, or disagrees with it.
    #[error("not trusted: {reason}")]
    Untrusted {
        /// Why.
        reason: String,
    },
    /// The certificate is valid, but for another identity or issuer.
    #[error("the certificate's {what} {actual:?} does not match {expected}")]
    IdentityMismatch {
        /// `identity` or `OIDC issuer`.
        what: &'static str,
        /// What the certificate says.
        actual: String,
        /// What was required.
        expected: String,
    },
}
