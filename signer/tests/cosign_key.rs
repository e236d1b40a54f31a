//! cosign's own encrypted private key format, read from a key pair real cosign wrote
//! (`fixtures/README.md`): loaded with its password in default builds, refused with a
//! clear error in FIPS builds. `tests/sign.rs` signs with a key cosign generates during
//! the test and has cosign verify the signature.

use lading_signer::{Error, KeyPair};

const KEY: &str = include_str!("fixtures/cosign.key");
#[cfg(not(feature = "fips"))]
const PUB: &str = include_str!("fixtures/cosign.pub");
const PASSWORD: &[u8] = b"fixture password";

#[cfg(not(feature = "fips"))]
use lading_signer::PublicKey;

#[cfg(not(feature = "fips"))]
#[test]
fn cosign_generated_key_loads_and_signs_for_its_public_key() {
    let pair = KeyPair::from_pem(KEY, Some(PASSWORD)).unwrap();
    let public = PublicKey::from_pem(PUB).unwrap();
    assert_eq!(pair.public_key().unwrap(), public);
    let sig = pair.sign(b"payload").unwrap();
    public.verify(b"payload", &sig).unwrap();
}

#[cfg(not(feature = "fips"))]
#[test]
fn the_older_cosign_label_is_read_too() {
    let old = KEY.replace("SIGSTORE PRIVATE KEY", "COSIGN PRIVATE KEY");
    let pair = KeyPair::from_pem(&old, Some(PASSWORD)).unwrap();
    assert_eq!(
        pair.public_key().unwrap(),
        PublicKey::from_pem(PUB).unwrap()
    );
}

#[cfg(not(feature = "fips"))]
#[test]
fn wrong_password_is_a_decrypt_error_that_shows_no_key_material() {
    let err = KeyPair::from_pem(KEY, Some(b"wrong password")).unwrap_err();
    assert!(matches!(err, Error::Decrypt), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("wrong password"), "{shown}");
    for line in KEY.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!shown.contains(&line[..16]), "{shown}");
    }
}

#[cfg(not(feature = "fips"))]
#[test]
fn a_password_is_required() {
    lading_signer::keys::check_readable(KEY).unwrap();
    assert!(matches!(
        KeyPair::from_pem(KEY, None),
        Err(Error::PasswordRequired)
    ));
}

#[cfg(not(feature = "fips"))]
#[test]
fn scrypt_parameters_other_than_cosigns_are_refused() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let body: String = KEY.lines().filter(|l| !l.starts_with("-----")).collect();
    let json = String::from_utf8(STANDARD.decode(body).unwrap()).unwrap();
    // A huge N would make scrypt allocate gigabytes; cosign refuses it, and so do we.
    let crafted = json.replace("\"N\":65536", "\"N\":4194304");
    assert_ne!(crafted, json);
    let pem = format!(
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
        STANDARD.encode(crafted)
    );
    let err = KeyPair::from_pem(&pem, Some(PASSWORD)).unwrap_err();
    assert!(
        err.to_string().contains("unsupported scrypt parameters"),
        "{err}"
    );
}

#[cfg(feature = "fips")]
#[test]
fn fips_build_refuses_cosign_key_format_naming_the_algorithms() {
    for key in [
        KEY.to_string(),
        KEY.replace("SIGSTORE PRIVATE KEY", "COSIGN PRIVATE KEY"),
    ] {
        let early = lading_signer::keys::check_readable(&key).unwrap_err();
        assert!(matches!(early, Error::NotFipsApproved { .. }), "{early:?}");
        let err = KeyPair::from_pem(&key, Some(PASSWORD)).unwrap_err();
        assert!(matches!(err, Error::NotFipsApproved { .. }), "{err:?}");
        let msg = err.to_string();
        for word in ["scrypt", "XSalsa20-Poly1305", "not FIPS-approved"] {
            assert!(msg.contains(word), "{msg}");
        }
    }
}
