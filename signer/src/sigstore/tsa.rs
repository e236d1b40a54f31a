//! RFC 3161 timestamps over a signature, as Sigstore bundles carry them
//! (`verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp`,
//! the DER `TimeStampResp` as the authority answered, which sigstore-go stores too).
//!
//! - Requesting: a `TimeStampReq` (RFC 3161 section 2.4.1) with the SHA-256 of the
//!   signature bytes as `messageImprint`, a random `nonce` and `certReq` true, sent as
//!   `POST {url}` with `Content-Type: application/timestamp-query`.
//! - Verifying: the `TimeStampToken` is a CMS `SignedData` (RFC 5652 section 5) over a
//!   `TSTInfo`: the signer's certificate (carried in the token, or the trusted chain's
//!   leaf) must be one of a trusted root's `timestampAuthorities` (chain, timeStamping
//!   EKU, valid at `genTime`, the authority's `validFor` containing `genTime`), the signed
//!   attributes must name `id-ct-TSTInfo` and the hash of the `TSTInfo`, their
//!   signature must verify, and the `messageImprint` must be the signature's hash. The
//!   verified `genTime` is a time at which the signature existed.
//!
//! DER is walked with the crate's small reader; every hash and signature goes through
//! aws-lc-rs.

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use super::certificate::{self, Hash, ParsedCertificate};
use super::trust_root::TrustedRoot;
use crate::der::{self, Reader};
use crate::error::{Error, Result};

const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_TST_INFO: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
];
const OID_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// id-kp-timeStamping.
const EKU_TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";

/// The media type of a timestamp request.
pub const CONTENT_TYPE_QUERY: &str = "application/timestamp-query";

fn invalid(reason: impl Into<String>) -> Error {
    Error::Invalid {
        what: "RFC 3161 timestamp",
        reason: reason.into(),
    }
}

fn untrusted(reason: impl Into<String>) -> Error {
    Error::Untrusted {
        reason: format!("timestamp: {}", reason.into()),
    }
}

/// DER errors of the shared reader, said as the timestamp's.
fn malformed(e: Error) -> Error {
    invalid(match e {
        Error::InvalidKey { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// A timestamp request and the nonce it carries.
#[derive(Debug, Clone)]
pub struct Request {
    /// The DER `TimeStampReq`.
    pub der: Vec<u8>,
    /// The nonce's INTEGER content octets.
    pub nonce: Vec<u8>,
}

/// A `TimeStampReq` over `signature` (SHA-256), with a random 64-bit nonce and
/// `certReq` true.
pub fn request(signature: &[u8]) -> Result<Request> {
    let mut nonce = [0u8; 8];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| Error::Crypto { what: "a nonce" })?;
    // A positive INTEGER: clear the top bit, no leading zero octets.
    nonce[0] &= 0x7f;
    nonce[0] |= 0x01;
    Ok(request_with_nonce(signature, &nonce))
}

fn request_with_nonce(signature: &[u8], nonce: &[u8]) -> Request {
    let algorithm = der::tlv(
        der::SEQUENCE,
        &[der::tlv(der::OID, OID_SHA256), der::tlv(der::NULL, &[])].concat(),
    );
    let imprint = der::tlv(
        der::SEQUENCE,
        &[
            algorithm,
            der::tlv(der::OCTET_STRING, &super::sha256(signature)),
        ]
        .concat(),
    );
    let body = [
        der::tlv(der::INTEGER, &[1]),
        imprint,
        der::tlv(der::INTEGER, nonce),
        der::tlv(der::BOOLEAN, &[0xff]),
    ]
    .concat();
    Request {
        der: der::tlv(der::SEQUENCE, &body),
        nonce: nonce.to_vec(),
    }
}

/// Asks the timestamp authority at `url` for a timestamp over `signature`; returns the
/// DER `TimeStampResp` after checking that it granted one, over that signature, with
/// the request's nonce.
pub fn timestamp(
    client: &reqwest::blocking::Client,
    url: &str,
    signature: &[u8],
) -> Result<Vec<u8>> {
    let req = request(signature)?;
    let http = |reason: String| Error::Http {
        what: "timestamp authority",
        reason,
    };
    let response = client
        .post(url)
        .header("Content-Type", CONTENT_TYPE_QUERY)
        .body(req.der.clone())
        .send()
        .map_err(|e| http(e.to_string()))?;
    let status = response.status();
    let body = response.bytes().map_err(|e| http(e.to_string()))?.to_vec();
    if !status.is_success() {
        return Err(http(format!(
            "{url}: status {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        )));
    }
    let token = Token::parse(&body)?;
    if token.info.nonce.as_deref() != Some(&req.nonce[..]) {
        return Err(invalid("the answer's nonce is not the request's"));
    }
    token.check_imprint(signature)?;
    Ok(body)
}

/// The parts of a `TSTInfo` that verification reads.
#[derive(Debug, Clone)]
struct TstInfo {
    imprint_algorithm: Vec<u8>,
    imprint: Vec<u8>,
    gen_time: i64,
    nonce: Option<Vec<u8>>,
}

/// A parsed `TimeStampToken`.
#[derive(Debug, Clone)]
struct Token {
    /// The `TSTInfo` DER (the encapsulated content).
    e_content: Vec<u8>,
    info: TstInfo,
    /// Certificates carried in the token (DER).
    certificates: Vec<Vec<u8>>,
    /// The signer's `IssuerAndSerialNumber`: the issuer Name DER and the serial.
    signer: Option<(Vec<u8>, Vec<u8>)>,
    digest_algorithm: Vec<u8>,
    /// The signed attributes, re-tagged as the `SET OF` that is signed.
    signed_attributes: Vec<u8>,
    content_type_attribute: Option<Vec<u8>>,
    message_digest_attribute: Option<Vec<u8>>,
    signature_algorithm: Vec<u8>,
    signature: Vec<u8>,
}

/// An AlgorithmIdentifier's OID.
fn algorithm_oid(content: &[u8]) -> Result<Vec<u8>> {
    Ok(Reader::new(content).read(der::OID)?.to_vec())
}

/// `YYYYMMDDHHMMSS[.f*]Z` as Unix seconds (fractions dropped).
fn generalized_time(text: &[u8]) -> Result<i64> {
    let s = std::str::from_utf8(text).map_err(|_| invalid("genTime is not ASCII"))?;
    let s = s
        .strip_suffix('Z')
        .ok_or_else(|| invalid("genTime is not UTC"))?;
    let whole = s.split('.').next().unwrap_or("");
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("genTime {s:?}")));
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &whole[0..4],
        &whole[4..6],
        &whole[6..8],
        &whole[8..10],
        &whole[10..12],
        &whole[12..14]
    );
    super::time::parse_rfc3339(&rfc3339)
}

impl TstInfo {
    fn parse(der_bytes: &[u8]) -> Result<TstInfo> {
        let mut outer = Reader::new(der_bytes);
        let mut r = Reader::new(outer.read(der::SEQUENCE)?);
        r.read(der::INTEGER)?; // version
        r.read(der::OID)?; // policy
        let mut imprint = Reader::new(r.read(der::SEQUENCE)?);
        let imprint_algorithm = algorithm_oid(imprint.read(der::SEQUENCE)?)?;
        let hashed = imprint.read(der::OCTET_STRING)?.to_vec();
        r.read(der::INTEGER)?; // serialNumber
        let gen_time = generalized_time(r.read(der::GENERALIZED_TIME)?)?;
        r.read_optional(der::SEQUENCE)?; // accuracy
        r.read_optional(der::BOOLEAN)?; // ordering
        let nonce = r.read_optional(der::INTEGER)?.map(<[u8]>::to_vec);
        Ok(TstInfo {
            imprint_algorithm,
            imprint: hashed,
            gen_time,
            nonce,
        })
    }
}

impl Token {
    /// Reads a `TimeStampResp` (whose status must be granted) or a bare token.
    fn parse(bytes: &[u8]) -> Result<Token> {
        Token::parse_inner(bytes).map_err(|e| match e {
            Error::InvalidKey { .. } => malformed(e),
            other => other,
        })
    }

    fn parse_inner(bytes: &[u8]) -> Result<Token> {
        let mut outer = Reader::new(bytes);
        let seq = outer.read(der::SEQUENCE)?;
        let mut r = Reader::new(seq);
        let content_info = if r.peek() == Some(der::SEQUENCE) {
            // TimeStampResp: PKIStatusInfo, then the token.
            let mut status = Reader::new(r.read(der::SEQUENCE)?);
            let code = status.read_u32()?;
            if code > 1 {
                return Err(invalid(format!(
                    "the authority did not grant a timestamp (status {code})"
                )));
            }
            let (_, content, _) = r.read_any()?;
            content
        } else {
            seq
        };
        let mut ci = Reader::new(content_info);
        if ci.read(der::OID)? != OID_SIGNED_DATA {
            return Err(invalid("the token is not CMS SignedData"));
        }
        let mut explicit = Reader::new(ci.read(der::context(0))?);
        let mut sd = Reader::new(explicit.read(der::SEQUENCE)?);
        sd.read(der::INTEGER)?; // version
        sd.read(der::SET)?; // digestAlgorithms
        let mut encap = Reader::new(sd.read(der::SEQUENCE)?);
        if encap.read(der::OID)? != OID_TST_INFO {
            return Err(invalid("the signed content is not a TSTInfo"));
        }
        let mut wrapped = Reader::new(encap.read(der::context(0))?);
        let e_content = wrapped.read(der::OCTET_STRING)?.to_vec();
        let mut certificates = Vec::new();
        if let Some(set) = sd.read_optional(der::context(0))? {
            let mut certs = Reader::new(set);
            while !certs.is_empty() {
                let (tag, _, whole) = certs.read_any()?;
                if tag == der::SEQUENCE {
                    certificates.push(whole.to_vec());
                }
            }
        }
        sd.read_optional(der::context(1))?; // crls
        let mut infos = Reader::new(sd.read(der::SET)?);
        let mut si = Reader::new(infos.read(der::SEQUENCE)?);
        if !infos.is_empty() {
            return Err(invalid("more than one signer"));
        }
        si.read(der::INTEGER)?; // version
        let signer = if si.peek() == Some(der::SEQUENCE) {
            let mut ias = Reader::new(si.read(der::SEQUENCE)?);
            let (_, _, issuer) = ias.read_any()?;
            let serial = ias.read(der::INTEGER)?;
            Some((issuer.to_vec(), serial.to_vec()))
        } else {
            // subjectKeyIdentifier [0]: the signer is found by its signature alone.
            si.read_any()?;
            None
        };
        let digest_algorithm = algorithm_oid(si.read(der::SEQUENCE)?)?;
        let (tag, attrs, whole) = si.read_any()?;
        if tag != der::context(0) {
            return Err(invalid("the signer has no signed attributes"));
        }
        // What is signed is the attributes' DER with the SET OF tag (RFC 5652 5.4).
        let mut signed_attributes = whole.to_vec();
        signed_attributes[0] = der::SET;
        let mut content_type_attribute = None;
        let mut message_digest_attribute = None;
        let mut a = Reader::new(attrs);
        while !a.is_empty() {
            let mut attr = Reader::new(a.read(der::SEQUENCE)?);
            let kind = attr.read(der::OID)?;
            let mut values = Reader::new(attr.read(der::SET)?);
            if kind == OID_CONTENT_TYPE {
                content_type_attribute = Some(values.read(der::OID)?.to_vec());
            } else if kind == OID_MESSAGE_DIGEST {
                message_digest_attribute = Some(values.read(der::OCTET_STRING)?.to_vec());
            }
        }
        let signature_algorithm = algorithm_oid(si.read(der::SEQUENCE)?)?;
        let signature = si.read(der::OCTET_STRING)?.to_vec();
        let info = TstInfo::parse(&e_content)?;
        Ok(Token {
            e_content,
            info,
            certificates,
            signer,
            digest_algorithm,
            signed_attributes,
            content_type_attribute,
            message_digest_attribute,
            signature_algorithm,
            signature,
        })
    }

    /// The `messageImprint` must be the hash of `signature`.
    fn check_imprint(&self, signature: &[u8]) -> Result<()> {
        let algorithm = hash_of(&self.info.imprint_algorithm)
            .ok_or_else(|| invalid("the message imprint's hash is not SHA-2"))?;
        if digest::digest(algorithm, signature).as_ref() != self.info.imprint.as_slice() {
            return Err(untrusted("it is not over this signature"));
        }
        Ok(())
    }

    /// The CMS signature over the signed attributes, and the attributes' binding to the
    /// `TSTInfo`, with `signer`'s key.
    fn signed_by(&self, signer: &ParsedCertificate) -> Result<bool> {
        let algorithm = hash_of(&self.digest_algorithm)
            .ok_or_else(|| invalid("the signer's digest algorithm is not SHA-2"))?;
        if self.content_type_attribute.as_deref() != Some(OID_TST_INFO) {
            return Err(untrusted("the signed attributes do not name a TSTInfo"));
        }
        if self.message_digest_attribute.as_deref()
            != Some(digest::digest(algorithm, &self.e_content).as_ref())
        {
            return Err(untrusted("the signed attributes are not for this TSTInfo"));
        }
        let hash = match self.signature_algorithm.as_slice() {
            OID_ECDSA_SHA256 => Hash::Sha256,
            OID_ECDSA_SHA384 => Hash::Sha384,
            OID_EC_PUBLIC_KEY if self.digest_algorithm == OID_SHA256 => Hash::Sha256,
            OID_EC_PUBLIC_KEY if self.digest_algorithm == OID_SHA384 => Hash::Sha384,
            _ => {
                return Err(invalid(
                    "the signature algorithm is not ECDSA with SHA-256 or SHA-384",
                ));
            }
        };
        signer.verifies(hash, &self.signed_attributes, &self.signature)
    }

    /// Whether `cert` is the one the signer info names.
    fn names(&self, cert: &ParsedCertificate) -> Result<bool> {
        Ok(match &self.signer {
            Some(named) => &cert.issuer_and_serial()? == named,
            None => true,
        })
    }
}

fn hash_of(oid: &[u8]) -> Option<&'static digest::Algorithm> {
    match oid {
        OID_SHA256 => Some(&digest::SHA256),
        OID_SHA384 => Some(&digest::SHA384),
        OID_SHA512 => Some(&digest::SHA512),
        _ => None,
    }
}

/// Verifies `signed_timestamp` (a DER `TimeStampResp` or token) over `signature` with
/// the trusted root's timestamp authorities; returns the verified `genTime` (Unix
/// seconds).
pub fn verify(signed_timestamp: &[u8], signature: &[u8], trust: &TrustedRoot) -> Result<i64> {
    let token = Token::parse(signed_timestamp)?;
    token.check_imprint(signature)?;
    let t = token.info.gen_time;
    for tsa in &trust.timestamp_authorities {
        if !tsa.valid_for.contains(t) || tsa.chain.is_empty() {
            continue;
        }
        let chain = tsa
            .chain
            .iter()
            .map(|d| ParsedCertificate::from_der(d))
            .collect::<Result<Vec<_>>>()?;
        // The signer: a certificate in the token or the chain's leaf, named by the
        // signer info; it must be the trusted leaf or chain to the trusted chain.
        let mut candidates = token
            .certificates
            .iter()
            .filter_map(|d| ParsedCertificate::from_der(d).ok())
            .collect::<Vec<_>>();
        candidates.push(chain[0].clone());
        for cert in &candidates {
            if !token.names(cert)? || !cert.valid_at(t) {
                continue;
            }
            let parents = if cert.der() == chain[0].der() {
                &chain[1..]
            } else {
                &chain[..]
            };
            if !certificate::chain_ok(cert, parents, t)? {
                continue;
            }
            if !cert.has_extended_key_usage(EKU_TIME_STAMPING)? {
                return Err(untrusted(
                    "the signer's certificate is not for time stamping",
                ));
            }
            if token.signed_by(cert)? {
                return Ok(t);
            }
            return Err(untrusted(
                "the signature does not verify with the authority's key",
            ));
        }
    }
    Err(untrusted(
        "not signed by a timestamp authority of the trusted root valid at its time",
    ))
}

/// The `genTime` of a timestamp, unverified (for messages).
pub fn gen_time(signed_timestamp: &[u8]) -> Result<i64> {
    Ok(Token::parse(signed_timestamp)?.info.gen_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_rfc3161_der() {
        let r = request_with_nonce(b"sig", &[0x12, 0x34]);
        let mut outer = Reader::new(&r.der);
        let mut seq = Reader::new(outer.read(der::SEQUENCE).unwrap());
        assert!(outer.is_empty());
        assert_eq!(seq.read_u32().unwrap(), 1);
        let mut imprint = Reader::new(seq.read(der::SEQUENCE).unwrap());
        let mut alg = Reader::new(imprint.read(der::SEQUENCE).unwrap());
        assert_eq!(alg.read(der::OID).unwrap(), OID_SHA256);
        assert_eq!(
            imprint.read(der::OCTET_STRING).unwrap(),
            super::super::sha256(b"sig")
        );
        assert_eq!(seq.read(der::INTEGER).unwrap(), &[0x12, 0x34]);
        assert_eq!(seq.read(der::BOOLEAN).unwrap(), &[0xff]);
        assert!(seq.is_empty());
        let random = request(b"sig").unwrap();
        assert_eq!(random.nonce.len(), 8);
        assert!(random.nonce[0] & 0x80 == 0 && random.nonce[0] != 0);
    }

    #[test]
    fn generalized_times() {
        assert_eq!(generalized_time(b"19700101000000Z").unwrap(), 0);
        assert_eq!(
            generalized_time(b"20261207120000.123Z").unwrap(),
            generalized_time(b"20261207120000Z").unwrap()
        );
        assert!(generalized_time(b"20261207120000").is_err());
        assert!(generalized_time(b"2026120712Z").is_err());
    }

    // A response of the real timestamp-server (sigstore/timestamp-authority v2.1.3,
    // in-memory signer) to `openssl ts -query -data` over these bytes, and a trusted
    // root with the chain its `/api/v1/timestamp/certchain` served.
    const RESPONSE: &[u8] = include_bytes!("testdata/tsa-response.tsr");
    const ROOT: &[u8] = include_bytes!("testdata/tsa_trusted_root.json");
    const SIGNED: &[u8] = b"a signature";

    #[test]
    fn verifies_a_real_timestamp_authoritys_answer() {
        let trust = TrustedRoot::from_json(ROOT).unwrap();
        let t = verify(RESPONSE, SIGNED, &trust).unwrap();
        assert_eq!(t, gen_time(RESPONSE).unwrap());
        assert_eq!(
            t,
            super::super::time::parse_rfc3339("2026-12-07T11:57:16Z").unwrap()
        );
        let token = Token::parse(RESPONSE).unwrap();
        assert_eq!(
            token.certificates.len(),
            1,
            "certReq: the leaf is in the token"
        );

        // Over another signature.
        let err = verify(RESPONSE, b"another signature", &trust).unwrap_err();
        assert!(err.to_string().contains("not over this signature"), "{err}");
        // No timestamp authority, or one whose time ended before genTime.
        let mut none = trust.clone();
        none.timestamp_authorities.clear();
        assert!(verify(RESPONSE, SIGNED, &none).is_err());
        let mut ended = trust.clone();
        ended.timestamp_authorities[0].valid_for.end = Some(t - 1);
        assert!(verify(RESPONSE, SIGNED, &ended).is_err());
        // A chain that ends in no root (the intermediate alone).
        let mut other = trust.clone();
        other.timestamp_authorities[0].chain =
            vec![trust.timestamp_authorities[0].chain[1].clone()];
        assert!(verify(RESPONSE, SIGNED, &other).is_err());
    }

    #[test]
    fn a_changed_timestamp_is_refused() {
        let trust = TrustedRoot::from_json(ROOT).unwrap();
        // Move genTime by a second, inside the signed TSTInfo.
        let at = RESPONSE
            .windows(14)
            .position(|w| w == b"20261207115716")
            .expect("genTime is in the DER");
        let mut changed = RESPONSE.to_vec();
        changed[at + 13] = b'7';
        assert_eq!(gen_time(&changed).unwrap(), gen_time(RESPONSE).unwrap() + 1);
        let err = verify(&changed, SIGNED, &trust).unwrap_err();
        assert!(err.to_string().contains("TSTInfo"), "{err}");
        // A changed signature byte.
        let mut sig = RESPONSE.to_vec();
        let last = sig.len() - 5;
        sig[last] ^= 1;
        assert!(verify(&sig, SIGNED, &trust).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        let trust = TrustedRoot::from_json(
            br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
        )
        .unwrap();
        for bad in [&b""[..], b"\x30\x00", b"\x30\x03\x02\x01\x02", b"junk"] {
            assert!(verify(bad, b"sig", &trust).is_err());
        }
    }
}
