//! Fulcio certificates: parsed with `x509-cert`, signatures checked with aws-lc-rs.
//!
//! A certificate is accepted when it chains to a certificate authority of the trusted
//! root that was valid at the signing time (the Rekor entry's integrated time), every
//! certificate of the chain was valid at that time, it is for code signing, and its
//! identity (a subject alternative name) and OIDC issuer (Fulcio's extension
//! `1.3.6.1.4.1.57264.1.8`, or the legacy `.1.1`) match what the verifier asked for.
//! Matching follows cosign: exact strings, or Go-style unanchored regular expressions.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use regex::Regex;
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectAltName};

use super::trust_root::TrustedRoot;
use crate::error::{Error, Result};
use crate::keys::PublicKey;

/// Fulcio's OIDC issuer extension (a DER UTF8String).
pub const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// Fulcio's legacy OIDC issuer extension (raw bytes).
pub const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
const OID_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

fn invalid(reason: impl Into<String>) -> Error {
    Error::Invalid {
        what: "certificate",
        reason: reason.into(),
    }
}

fn untrusted(reason: impl Into<String>) -> Error {
    Error::Untrusted {
        reason: reason.into(),
    }
}

fn oid(s: &str) -> ObjectIdentifier {
    // The constants above are well-formed.
    ObjectIdentifier::new_unwrap(s)
}

/// A parsed certificate and what verification reads from it.
#[derive(Debug, Clone)]
pub struct ParsedCertificate {
    der: Vec<u8>,
    cert: Certificate,
}

impl ParsedCertificate {
    /// Parses DER.
    pub fn from_der(der: &[u8]) -> Result<ParsedCertificate> {
        let cert = Certificate::from_der(der).map_err(|e| invalid(e.to_string()))?;
        Ok(ParsedCertificate {
            der: der.to_vec(),
            cert,
        })
    }

    /// The DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// notBefore and notAfter, Unix seconds.
    pub fn validity(&self) -> (i64, i64) {
        let v = self.cert.tbs_certificate().validity();
        (
            v.not_before.to_unix_duration().as_secs() as i64,
            v.not_after.to_unix_duration().as_secs() as i64,
        )
    }

    pub(crate) fn valid_at(&self, t: i64) -> bool {
        let (from, to) = self.validity();
        from <= t && t <= to
    }

    pub(crate) fn spki_der(&self) -> Result<Vec<u8>> {
        self.cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| invalid(e.to_string()))
    }

    /// The certified key (ECDSA P-256, what Fulcio certifies for cosign).
    pub fn public_key(&self) -> Result<PublicKey> {
        PublicKey::from_der(&self.spki_der()?)
    }

    /// The subject alternative names: emails, URIs (and DNS names, for completeness).
    pub fn identities(&self) -> Result<Vec<String>> {
        let Some((_, san)) = self
            .cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .map_err(|e| invalid(e.to_string()))?
        else {
            return Ok(Vec::new());
        };
        Ok(san
            .0
            .iter()
            .filter_map(|n| match n {
                GeneralName::Rfc822Name(s) | GeneralName::DnsName(s) => Some(s.to_string()),
                GeneralName::UniformResourceIdentifier(s) => Some(s.to_string()),
                _ => None,
            })
            .collect())
    }

    fn extension(&self, id: &str) -> Option<&[u8]> {
        let id = oid(id);
        self.cert
            .tbs_certificate()
            .extensions()?
            .iter()
            .find(|e| e.extn_id == id)
            .map(|e| e.extn_value.as_bytes())
    }

    /// The OIDC issuer Fulcio recorded: the v2 extension, else the legacy one.
    pub fn oidc_issuer(&self) -> Result<Option<String>> {
        if let Some(v) = self.extension(OID_ISSUER_V2) {
            let s = Utf8StringRef::from_der(v).map_err(|e| invalid(e.to_string()))?;
            return Ok(Some(s.as_str().to_string()));
        }
        Ok(self
            .extension(OID_ISSUER_V1)
            .map(|v| String::from_utf8_lossy(v).into_owned()))
    }

    fn is_code_signing(&self) -> Result<bool> {
        let eku = self
            .cert
            .tbs_certificate()
            .get_extension::<ExtendedKeyUsage>()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(eku.is_some_and(|(_, eku)| eku.0.contains(&oid(OID_CODE_SIGNING))))
    }

    fn is_ca(&self) -> Result<bool> {
        let bc = self
            .cert
            .tbs_certificate()
            .get_extension::<BasicConstraints>()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(bc.is_some_and(|(_, bc)| bc.ca))
    }

    /// Whether `issuer` signed this certificate (names match, signature verifies).
    fn issued_by(&self, issuer: &ParsedCertificate) -> Result<bool> {
        if self.cert.tbs_certificate().issuer() != issuer.cert.tbs_certificate().subject() {
            return Ok(false);
        }
        let sig_alg = self.cert.signature_algorithm().oid;
        let hash = if sig_alg == oid(OID_ECDSA_SHA256) {
            Hash::Sha256
        } else if sig_alg == oid(OID_ECDSA_SHA384) {
            Hash::Sha384
        } else {
            return Err(invalid(format!(
                "unsupported signature algorithm {sig_alg} (ECDSA P-256/P-384 with SHA-256/384 is read)"
            )));
        };
        // The signed bytes: the TBSCertificate re-encoded (DER is canonical).
        let tbs = self
            .cert
            .tbs_certificate()
            .to_der()
            .map_err(|e| invalid(e.to_string()))?;
        issuer.verifies(hash, &tbs, self.cert.signature().raw_bytes())
    }

    /// Whether `signature` (ASN.1 DER ECDSA) of `message` with `hash` verifies with the
    /// certified key (P-256 or P-384).
    pub(crate) fn verifies(&self, hash: Hash, message: &[u8], signature: &[u8]) -> Result<bool> {
        let spki = self.cert.tbs_certificate().subject_public_key_info();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        let algorithm: &dyn VerificationAlgorithm = match (curve, hash) {
            (Some(c), Hash::Sha256) if c == oid(OID_P256) => &signature::ECDSA_P256_SHA256_ASN1,
            (Some(c), Hash::Sha384) if c == oid(OID_P256) => &signature::ECDSA_P256_SHA384_ASN1,
            (Some(c), Hash::Sha256) if c == oid(OID_P384) => &signature::ECDSA_P384_SHA256_ASN1,
            (Some(c), Hash::Sha384) if c == oid(OID_P384) => &signature::ECDSA_P384_SHA384_ASN1,
            _ => {
                return Err(invalid(
                    "unsupported key or hash (ECDSA P-256/P-384 with SHA-256/384 is read)",
                ));
            }
        };
        let key = spki.subject_public_key.raw_bytes();
        Ok(UnparsedPublicKey::new(algorithm, key)
            .verify(message, signature)
            .is_ok())
    }

    /// The issuer Name (DER) and the serial number's content octets: what a CMS
    /// `IssuerAndSerialNumber` names.
    pub(crate) fn issuer_and_serial(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let tbs = self.cert.tbs_certificate();
        let issuer = tbs.issuer().to_der().map_err(|e| invalid(e.to_string()))?;
        Ok((issuer, tbs.serial_number().as_bytes().to_vec()))
    }

    /// Whether the extended key usage extension lists `usage` (a dotted OID).
    pub(crate) fn has_extended_key_usage(&self, usage: &str) -> Result<bool> {
        let eku = self
            .cert
            .tbs_certificate()
            .get_extension::<ExtendedKeyUsage>()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(eku.is_some_and(|(_, eku)| eku.0.contains(&oid(usage))))
    }
}

/// The hash of an ECDSA signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

/// How a value must match: exactly, or an unanchored regular expression (Go's
/// `regexp.MatchString`, as cosign's `-regexp` flags).
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Equal.
    Exact(String),
    /// Contains a match.
    Regexp(Regex),
}

impl Matcher {
    /// A regular-expression matcher.
    pub fn regexp(pattern: &str) -> Result<Matcher> {
        Regex::new(pattern)
            .map(Matcher::Regexp)
            .map_err(|e| Error::Invalid {
                what: "regular expression",
                reason: e.to_string(),
            })
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Exact(e) => e == s,
            Matcher::Regexp(r) => r.is_match(s),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(e) => write!(f, "{e:?}"),
            Matcher::Regexp(r) => write!(f, "the regular expression {:?}", r.as_str()),
        }
    }
}

/// The identity a keyless signature must have.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    /// The certificate's SAN.
    pub identity: Matcher,
    /// The OIDC issuer.
    pub issuer: Matcher,
}

/// What a verified certificate said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The SAN that matched.
    pub identity: String,
    /// The OIDC issuer.
    pub issuer: String,
}

/// [`verify`] at every verified signing time in `times` (a log entry's integrated
/// time, timestamps' times): the certificate must have been valid at each; with none, it
/// must be valid now (as cosign).
pub fn verify_at_times(
    leaf: &ParsedCertificate,
    trust: &TrustedRoot,
    mut times: Vec<i64>,
    policy: &IdentityPolicy,
    require_sct: bool,
) -> Result<VerifiedIdentity> {
    if times.is_empty() {
        times.push(super::time::now());
    }
    let mut identity = None;
    for at in times {
        identity = Some(verify(leaf, trust, at, policy, require_sct)?);
    }
    Ok(identity.expect("at least one time"))
}

/// Verifies `leaf` for a signature made at `signed_at` (Unix seconds): only the trusted
/// root's chains count (a chain shipped with a signature is never trusted). With
/// `require_sct`, the certificate must embed an SCT from a CT log of the trusted root
/// (cosign's default; `--insecure-ignore-sct` turns it off).
pub fn verify(
    leaf: &ParsedCertificate,
    trust: &TrustedRoot,
    signed_at: i64,
    policy: &IdentityPolicy,
    require_sct: bool,
) -> Result<VerifiedIdentity> {
    if !leaf.valid_at(signed_at) {
        let (from, to) = leaf.validity();
        return Err(untrusted(format!(
            "the certificate was not valid when the signature was logged (valid {from}..{to}, logged at {signed_at}, Unix seconds)"
        )));
    }
    if !leaf.is_code_signing()? {
        return Err(untrusted("the certificate is not for code signing"));
    }
    let mut issuer = None;
    for ca in &trust.certificate_authorities {
        if !ca.valid_for.contains(signed_at) || ca.chain.is_empty() {
            continue;
        }
        let chain = ca
            .chain
            .iter()
            .map(|d| ParsedCertificate::from_der(d))
            .collect::<Result<Vec<_>>>()?;
        if chain_ok(leaf, &chain, signed_at)? {
            issuer = chain.into_iter().next();
            break;
        }
    }
    let issuer = issuer.ok_or_else(|| {
        untrusted(
            "the certificate does not chain to a certificate authority of the trusted root valid at the signing time",
        )
    })?;
    if require_sct {
        super::sct::verify(leaf, &issuer, trust)?;
    }
    let issuer = leaf
        .oidc_issuer()?
        .ok_or_else(|| untrusted("the certificate has no OIDC issuer extension"))?;
    if !policy.issuer.matches(&issuer) {
        return Err(Error::IdentityMismatch {
            what: "OIDC issuer",
            actual: issuer,
            expected: policy.issuer.to_string(),
        });
    }
    let identities = leaf.identities()?;
    let identity = identities
        .iter()
        .find(|i| policy.identity.matches(i))
        .ok_or_else(|| Error::IdentityMismatch {
            what: "identity",
            actual: identities.join(", "),
            expected: policy.identity.to_string(),
        })?;
    Ok(VerifiedIdentity {
        identity: identity.clone(),
        issuer,
    })
}

/// `leaf` ← chain[0] ← … ← chain[last] (the root, self-signed), all valid at `t`.
pub(crate) fn chain_ok(
    leaf: &ParsedCertificate,
    chain: &[ParsedCertificate],
    t: i64,
) -> Result<bool> {
    let mut child = leaf;
    for parent in chain {
        if !parent.valid_at(t) || !parent.is_ca()? || !child.issued_by(parent)? {
            return Ok(false);
        }
        child = parent;
    }
    child.issued_by(child)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore::fulcio::certificates_from_pem;

    // A certificate from @sigstore/mock's Fulcio (tests/support/sigstore.js) and the
    // trusted root of that run.
    const CHAIN: &str = include_str!("testdata/fulcio-chain.pem");
    const ROOT: &[u8] = include_bytes!("testdata/trusted_root.json");
    const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main";
    const ISSUER: &str = "http://127.0.0.1:37153/oidc";

    fn leaf() -> ParsedCertificate {
        ParsedCertificate::from_der(&certificates_from_pem(CHAIN).unwrap()[0]).unwrap()
    }

    fn exact(identity: &str, issuer: &str) -> IdentityPolicy {
        IdentityPolicy {
            identity: Matcher::Exact(identity.into()),
            issuer: Matcher::Exact(issuer.into()),
        }
    }

    #[test]
    fn reads_fulcios_extensions() {
        let leaf = leaf();
        assert_eq!(leaf.identities().unwrap(), vec![IDENTITY.to_string()]);
        assert_eq!(leaf.oidc_issuer().unwrap().as_deref(), Some(ISSUER));
        assert!(leaf.is_code_signing().unwrap());
        assert!(!leaf.is_ca().unwrap());
        leaf.public_key().unwrap();
        let (from, to) = leaf.validity();
        assert_eq!(to - from, 600, "Fulcio's 10 minutes");
    }

    #[test]
    fn verifies_chain_validity_and_identity() {
        let trust = TrustedRoot::from_json(ROOT).unwrap();
        let leaf = leaf();
        let (from, to) = leaf.validity();
        let during = from + 60;
        let ok = verify(&leaf, &trust, during, &exact(IDENTITY, ISSUER), true).unwrap();
        assert_eq!(ok.identity, IDENTITY);
        assert_eq!(ok.issuer, ISSUER);
        let re = IdentityPolicy {
            identity: Matcher::regexp("github\\.com/acme/").unwrap(),
            issuer: Matcher::regexp("^http://127\\.0\\.0\\.1:").unwrap(),
        };
        verify(&leaf, &trust, during, &re, true).unwrap();

        // Outside the certificate's validity.
        for t in [from - 1, to + 1] {
            let err = verify(&leaf, &trust, t, &exact(IDENTITY, ISSUER), true).unwrap_err();
            assert!(matches!(err, Error::Untrusted { .. }), "{err}");
        }
        // Another identity or issuer.
        let err = verify(&leaf, &trust, during, &exact("a@b.c", ISSUER), true).unwrap_err();
        assert!(
            matches!(
                err,
                Error::IdentityMismatch {
                    what: "identity",
                    ..
                }
            ),
            "{err}"
        );
        let err = verify(&leaf, &trust, during, &exact(IDENTITY, "https://x"), true).unwrap_err();
        assert!(
            matches!(
                err,
                Error::IdentityMismatch {
                    what: "OIDC issuer",
                    ..
                }
            ),
            "{err}"
        );
        let prefix = IdentityPolicy {
            identity: Matcher::regexp("^github\\.com").unwrap(),
            issuer: Matcher::regexp(".*").unwrap(),
        };
        assert!(verify(&leaf, &trust, during, &prefix, false).is_err());

        // The CA's time in the trusted root ended before the signing time.
        let mut ended = trust.clone();
        ended.certificate_authorities[0].valid_for.end = Some(during - 1);
        let err = verify(&leaf, &ended, during, &exact(IDENTITY, ISSUER), false).unwrap_err();
        assert!(matches!(err, Error::Untrusted { .. }), "{err}");
        // No CA at all, or the leaf itself posing as one.
        let mut none = trust.clone();
        none.certificate_authorities.clear();
        assert!(verify(&leaf, &none, during, &exact(IDENTITY, ISSUER), false).is_err());
        let mut fake = trust.clone();
        fake.certificate_authorities[0].chain = vec![leaf.der().to_vec()];
        assert!(verify(&leaf, &fake, during, &exact(IDENTITY, ISSUER), false).is_err());

        // Without the CT log in the trusted root, the SCT cannot be checked.
        let mut no_ct = trust.clone();
        no_ct.ctlogs.clear();
        let err = verify(&leaf, &no_ct, during, &exact(IDENTITY, ISSUER), true).unwrap_err();
        assert!(err.to_string().contains("SCT"), "{err}");
        verify(&leaf, &no_ct, during, &exact(IDENTITY, ISSUER), false).unwrap();
    }

    #[test]
    fn a_changed_certificate_no_longer_chains() {
        let trust = TrustedRoot::from_json(ROOT).unwrap();
        let mut der = certificates_from_pem(CHAIN).unwrap()[0].clone();
        // Change one byte of the SAN's URI (inside the signed part).
        let at = der
            .windows(4)
            .position(|w| w == b"acme")
            .expect("the SAN is in the DER");
        der[at] = b'e';
        let changed = ParsedCertificate::from_der(&der).unwrap();
        let (from, _) = changed.validity();
        let policy = IdentityPolicy {
            identity: Matcher::regexp("").unwrap(),
            issuer: Matcher::regexp("").unwrap(),
        };
        let err = verify(&changed, &trust, from + 60, &policy, false).unwrap_err();
        assert!(err.to_string().contains("does not chain"), "{err}");
    }
}
