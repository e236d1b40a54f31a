//! Embedded signed certificate timestamps (RFC 6962 section 3): Fulcio logs each
//! precertificate in a CT log and embeds the log's SCT in the certificate (extension
//! `1.3.6.1.4.1.11129.2.4.2`). The SCT signs the precertificate's TBSCertificate — the
//! certificate's without that extension — and the issuer's key hash; the log's key comes
//! from the trusted root's `ctlogs`.

use super::certificate::ParsedCertificate;
use super::sha256;
use super::trust_root::TrustedRoot;
use crate::der::{self, Reader};
use crate::error::{Error, Result};
use crate::keys::PublicKey;

/// The SCT list extension, DER content octets of 1.3.6.1.4.1.11129.2.4.2.
const OID_SCT_LIST: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];
/// `[3] EXPLICIT Extensions` in a TBSCertificate.
const EXTENSIONS_TAG: u8 = 0xa3;

fn invalid(reason: impl Into<String>) -> Error {
    Error::Invalid {
        what: "signed certificate timestamp",
        reason: reason.into(),
    }
}

fn untrusted(reason: impl Into<String>) -> Error {
    Error::Untrusted {
        reason: reason.into(),
    }
}

/// One SCT (RFC 6962 section 3.2, TLS encoding).
struct Sct<'a> {
    log_id: &'a [u8],
    timestamp: &'a [u8],
    extensions: &'a [u8],
    signature: &'a [u8],
}

/// A TLS reader: big-endian lengths of 1 to 3 bytes.
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(invalid("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn vec(&mut self, len_bytes: usize) -> Result<&'a [u8]> {
        let n = self
            .take(len_bytes)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        self.take(n)
    }
}

fn parse_list(list: &[u8]) -> Result<Vec<Sct<'_>>> {
    let mut outer = Tls(list);
    let mut items = Tls(outer.vec(2)?);
    let mut out = Vec::new();
    while !items.0.is_empty() {
        let mut s = Tls(items.vec(2)?);
        if s.take(1)? != [0] {
            continue; // Only v1 SCTs are defined.
        }
        let log_id = s.take(32)?;
        let timestamp = s.take(8)?;
        let extensions = s.vec(2)?;
        let algorithms = s.take(2)?;
        let signature = s.vec(2)?;
        // hash sha256(4), signature ecdsa(3): what Sigstore's CT logs use.
        if algorithms != [4, 3] {
            return Err(invalid(format!("unsupported algorithms {algorithms:?}")));
        }
        out.push(Sct {
            log_id,
            timestamp,
            extensions,
            signature,
        });
    }
    Ok(out)
}

/// Splits the first DER element off `input`: (tag, whole element, content).
fn next_element<'a>(input: &mut &'a [u8]) -> Result<(u8, &'a [u8], &'a [u8])> {
    let tag = *input
        .first()
        .ok_or_else(|| invalid("truncated certificate"))?;
    let mut reader = Reader::new(input);
    let content = reader
        .read(tag)
        .map_err(|_| invalid("malformed certificate DER"))?;
    let whole_len = input.len() - reader.remaining();
    let whole = &input[..whole_len];
    *input = &input[whole_len..];
    Ok((tag, whole, content))
}

/// The precertificate TBSCertificate (the SCT list extension removed) and the SCT
/// list's TLS bytes, from a certificate's DER.
fn precert_tbs(cert_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut input = cert_der;
    let (_, _, cert) = next_element(&mut input)?;
    let mut cert = cert;
    let (_, _, tbs) = next_element(&mut cert)?;
    let mut fields = tbs;
    let mut out = Vec::new();
    let mut list = None;
    while !fields.is_empty() {
        let (tag, whole, content) = next_element(&mut fields)?;
        if tag != EXTENSIONS_TAG {
            out.extend_from_slice(whole);
            continue;
        }
        let mut seq = content;
        let (_, _, mut exts) = next_element(&mut seq)?;
        let mut kept = Vec::new();
        while !exts.is_empty() {
            let (_, ext, ext_content) = next_element(&mut exts)?;
            let mut r = Reader::new(ext_content);
            let oid = r
                .read(der::OID)
                .map_err(|_| invalid("malformed extension"))?;
            if oid == OID_SCT_LIST {
                if r.peek() == Some(0x01) {
                    r.read(0x01).map_err(|_| invalid("malformed extension"))?; // critical
                }
                let value = r
                    .read(der::OCTET_STRING)
                    .map_err(|_| invalid("malformed extension"))?;
                // The extension's value is itself a DER OCTET STRING of the TLS list.
                let inner = Reader::new(value)
                    .read(der::OCTET_STRING)
                    .map_err(|_| invalid("malformed SCT list"))?;
                list = Some(inner.to_vec());
            } else {
                kept.extend_from_slice(ext);
            }
        }
        out.extend(der::tlv(EXTENSIONS_TAG, &der::tlv(der::SEQUENCE, &kept)));
    }
    let list = list.ok_or_else(|| untrusted("the certificate has no embedded SCT"))?;
    Ok((der::tlv(der::SEQUENCE, &out), list))
}

/// Checks that `leaf` (issued by `issuer`) embeds an SCT from a CT log of `trust`,
/// valid at the SCT's time.
pub fn verify(
    leaf: &ParsedCertificate,
    issuer: &ParsedCertificate,
    trust: &TrustedRoot,
) -> Result<()> {
    let (tbs, list) = precert_tbs(leaf.der())?;
    let issuer_key_hash = sha256(&issuer.spki_der()?);
    let tbs_len = u32::try_from(tbs.len())
        .ok()
        .filter(|n| *n < 1 << 24)
        .ok_or_else(|| invalid("TBSCertificate too long"))?;
    for sct in parse_list(&list)? {
        let Some(log) = trust.ctlogs.iter().find(|l| l.log_id == sct.log_id) else {
            continue;
        };
        let millis =
            u64::from_be_bytes(sct.timestamp.try_into().map_err(|_| invalid("timestamp"))?);
        if !log.valid_for.contains((millis / 1000) as i64) {
            continue;
        }
        // RFC 6962 section 3.2: digitally-signed struct for a precert entry.
        let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
        signed.extend_from_slice(sct.timestamp);
        signed.extend_from_slice(&[0, 1]); // precert_entry
        signed.extend_from_slice(&issuer_key_hash);
        signed.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
        signed.extend_from_slice(&tbs);
        signed.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
        signed.extend_from_slice(sct.extensions);
        if PublicKey::from_der(&log.public_key)?
            .verify(&signed, sct.signature)
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(untrusted(
        "no embedded SCT verifies with a CT log of the trusted root",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore::fulcio::certificates_from_pem;

    // A certificate from @sigstore/mock's Fulcio, its CA, and the trusted root of that run.
    const CHAIN: &str = include_str!("testdata/fulcio-chain.pem");
    const ROOT: &[u8] = include_bytes!("testdata/trusted_root.json");

    #[test]
    fn the_embedded_sct_verifies_with_the_ct_log_only() {
        let ders = certificates_from_pem(CHAIN).unwrap();
        let leaf = ParsedCertificate::from_der(&ders[0]).unwrap();
        let ca = ParsedCertificate::from_der(&ders[1]).unwrap();
        let trust = TrustedRoot::from_json(ROOT).unwrap();
        verify(&leaf, &ca, &trust).unwrap();

        // The precertificate is the certificate without the SCT list.
        let (tbs, list) = precert_tbs(leaf.der()).unwrap();
        assert!(tbs.len() < leaf.der().len());
        assert!(!tbs.windows(OID_SCT_LIST.len()).any(|w| w == OID_SCT_LIST));
        assert_eq!(parse_list(&list).unwrap().len(), 1);

        // Another key under the CT log's ID, or another issuer key hash: refused.
        let mut other = trust.clone();
        other.ctlogs[0].public_key = crate::KeyPair::generate()
            .unwrap()
            .public_key()
            .unwrap()
            .der()
            .to_vec();
        assert!(matches!(
            verify(&leaf, &ca, &other),
            Err(Error::Untrusted { .. })
        ));
        assert!(verify(&leaf, &leaf, &trust).is_err());
        // A CA certificate has no SCT.
        assert!(verify(&ca, &ca, &trust).is_err());
    }
}
