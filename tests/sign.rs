//! `lading generate-key-pair`, `lading sign` and `lading verify` against real cosign
//! (v3, built into `target/peers/go/bin`) as the oracle, on a real registry: Debian's
//! `docker-registry` (CNCF distribution 2.8, no referrers API) started here on
//! 127.0.0.1, and `lading serve`. Keys, passwords and cosign's legacy signatures
//! (`sha256-<hex>.sig`, key-based, no transparency log): what lading signs, cosign
//! verifies; what cosign signs, lading verifies; what either must refuse, both refuse.
//! `lading sign` stores a Sigstore bundle referrer as well by default, which cosign v3
//! reads first; each storage on its own is tested in `tests/sign_bundle.rs`.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use common::registry::{Distribution, LadingServe};
use common::signing::{
    assert_no_leak, code, cosign, cosign_path, cosign_verify, lading, lading_keys, lading_sign,
    lading_verify, need_peers, pem_body_lines, push_image,
};
use common::{Sandbox, assert_success, require_tool, run, stderr, stdout};
use lading_oci::{Digest, Store};
use lading_signer::constants::{ANNOTATION_SIGNATURE, MEDIA_TYPE_SIMPLE_SIGNING};
use lading_signer::{KeyPair, cosign};

#[test]
fn lading_signs_cosign_and_lading_verify_with_and_without_a_password() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let digest = push_image(&sb, &reg.host, "app", "1", "hello\n");
    let by_digest = format!("{}/app@{digest}", reg.host);

    for password in [None, Some("correct horse battery staple 7")] {
        let name = if password.is_some() { "enc" } else { "plain" };
        let (key, public, generated) = lading_keys(&sb, name, password);
        let text = std::fs::read_to_string(&key).expect("key");
        let label = if password.is_some() {
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
        } else {
            "-----BEGIN PRIVATE KEY-----\n"
        };
        assert!(text.starts_with(label), "{text:.40}");
        assert_eq!(
            std::fs::metadata(&key).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        assert!(
            std::fs::read_to_string(&public)
                .expect("pub")
                .starts_with("-----BEGIN PUBLIC KEY-----\n")
        );
        // Never overwritten.
        let again = lading(
            &sb,
            password,
            &[
                "generate-key-pair",
                "--output-key-prefix",
                sb.path(name).join("cosign").to_str().expect("utf-8"),
            ],
        );
        assert_eq!(code(&again), Some(2), "{}", stderr(&again));
        assert_eq!(std::fs::read_to_string(&key).expect("key"), text);

        // Sign by tag: resolved once, the digest printed and signed.
        let signed = lading_sign(&sb, password, &key, &format!("docker://{}/app:1", reg.host));
        assert_success(&signed);
        assert!(
            stderr(&signed).contains(&format!("to {digest}")),
            "{}",
            stderr(&signed)
        );
        assert!(stdout(&signed).contains(&by_digest), "{}", stdout(&signed));

        let checked = cosign_verify(&sb, &public, &by_digest);
        assert_success(&checked);
        let verified = lading_verify(&sb, &public, &by_digest);
        assert_success(&verified);
        let payloads: serde_json::Value =
            serde_json::from_str(&stdout(&verified)).expect("payload json");
        assert!(
            payloads
                .as_array()
                .expect("array")
                .iter()
                .all(|p| p["critical"]["image"]["docker-manifest-digest"] == digest.as_str()),
            "{payloads}"
        );

        let mut secrets = pem_body_lines(&key);
        if let Some(p) = password {
            secrets.push(p.to_string());
            // The decrypted PKCS#8 bytes, as base64 lines too.
            let plain = KeyPair::from_pem(&text, Some(p.as_bytes()))
                .expect("decrypt")
                .to_pem(None)
                .expect("pem");
            let plain_path = sb.path(&format!("{name}-plain.pem"));
            std::fs::write(&plain_path, plain.as_bytes()).expect("write");
            secrets.extend(pem_body_lines(&plain_path));
        }
        assert_no_leak(&[&generated, &signed, &verified, &again], &secrets);
    }

    // Both signatures sit in one `.sig` manifest, appended as cosign appends.
    let sig_tag = format!(
        "{}/app:{}",
        reg.host,
        cosign::signature_tag(&digest.parse::<Digest>().expect("digest"))
    );
    let out = run(Command::new(cosign_path().with_file_name("crane")).args([
        "manifest",
        "--insecure",
        &sig_tag,
    ]));
    assert_success(&out);
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("manifest");
    let layers = m["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2, "{m}");
    assert!(
        layers
            .iter()
            .all(|l| l["mediaType"] == MEDIA_TYPE_SIMPLE_SIGNING)
    );
}

#[test]
fn lading_verifies_what_cosign_signed_with_its_own_key() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let digest = push_image(&sb, &reg.host, "app", "1", "signed by cosign\n");
    let image = format!("{}/app@{digest}", reg.host);
    let password = "cosign-pass-42";
    assert_success(&cosign(&sb, password, &["generate-key-pair"]));
    let key = sb.path("cosign.key");
    let public = sb.path("cosign.pub");
    assert!(
        std::fs::read_to_string(&key)
            .expect("key")
            .contains("ENCRYPTED SIGSTORE PRIVATE KEY")
    );
    assert_success(&cosign(
        &sb,
        password,
        &[
            "sign",
            "--key",
            key.to_str().expect("utf-8"),
            "--tlog-upload=false",
            "--use-signing-config=false",
            "--new-bundle-format=false",
            "--allow-http-registry",
            "--allow-insecure-registry",
            "-y",
            &image,
        ],
    ));
    // cosign's payload and config are byte for byte what lading writes.
    let parsed: Digest = digest.parse().expect("digest");
    let sig_tag = format!("{}/app:{}", reg.host, cosign::signature_tag(&parsed));
    let crane = |what: &str| {
        let out = run(Command::new(cosign_path().with_file_name("crane")).args([
            what,
            "--insecure",
            &sig_tag,
        ]));
        assert_success(&out);
        out.stdout
    };
    let manifest: serde_json::Value = serde_json::from_slice(&crane("manifest")).expect("json");
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        MEDIA_TYPE_SIMPLE_SIGNING
    );
    let ours = cosign::sign(
        &KeyPair::generate().expect("key"),
        &format!("{}/app", reg.host),
        &parsed,
    )
    .expect("sign");
    assert_eq!(
        manifest["layers"][0]["digest"],
        ours.layer.digest.to_string()
    );
    assert_eq!(
        crane("config"),
        cosign::build(&[ours.layer]).expect("build").config
    );

    let verified = lading(
        &sb,
        None,
        &[
            "verify",
            "--key",
            public.to_str().expect("utf-8"),
            "--insecure-ignore-tlog=true",
            &format!("docker://{}/app:1", reg.host),
        ],
    );
    assert_success(&verified);

    let mut secrets = pem_body_lines(&key);
    secrets.push(password.to_string());
    assert_no_leak(&[&verified], &secrets);
}

#[test]
fn lading_signs_with_the_key_cosign_generated_and_cosign_verifies() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    // An image nobody else signs: cosign's verdict is about lading's signature alone.
    let digest = push_image(&sb, &reg.host, "app", "1", "signed with cosign.key\n");
    let image = format!("{}/app@{digest}", reg.host);
    let password = "cosign-keys-pass-9";
    assert_success(&cosign(&sb, password, &["generate-key-pair"]));
    let (key, public) = (sb.path("cosign.key"), sb.path("cosign.pub"));
    let mut secrets = pem_body_lines(&key);
    secrets.push(password.to_string());

    let wrong = lading_sign(&sb, Some("not the password"), &key, &image);
    let signed = lading_sign(&sb, Some(password), &key, &image);
    let verified = cosign_verify(&sb, &public, &image);
    assert_no_leak(&[&wrong, &signed, &verified], &secrets);
    assert_eq!(code(&wrong), Some(2), "{}", stderr(&wrong));

    if cfg!(feature = "fips") {
        // scrypt and XSalsa20-Poly1305 are not FIPS-approved: refused by name, whatever
        // the password (and before asking for one), and nothing was signed.
        let no_password = lading_sign(&sb, None, &key, &image);
        for out in [&wrong, &signed, &no_password] {
            assert_eq!(code(out), Some(2), "{}", stderr(out));
            for word in ["not FIPS-approved", "scrypt", "XSalsa20-Poly1305"] {
                assert!(stderr(out).contains(word), "{}", stderr(out));
            }
        }
        assert!(!verified.status.success(), "{}", stderr(&verified));
        return;
    }
    assert!(
        stderr(&wrong).contains("wrong password"),
        "{}",
        stderr(&wrong)
    );
    assert_success(&signed);
    assert_success(&verified);
    let payloads: serde_json::Value = serde_json::from_slice(&verified.stdout).expect("json");
    assert_eq!(payloads.as_array().map(Vec::len), Some(1), "{payloads}");
    assert_eq!(
        payloads[0]["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    // And the public key cosign wrote verifies it in lading too.
    assert_success(&lading_verify(&sb, &public, &image));
}

/// Pushes a hand-made `.sig` manifest holding `layers` (payload, descriptor) as the
/// signatures of `target` in `host/repo`, through `lading cp` from an OCI layout.
fn push_signatures(
    sb: &Sandbox,
    host: &str,
    repo: &str,
    target: &Digest,
    layers: &[(Vec<u8>, lading_oci::Descriptor)],
) {
    let dir = sb.path(&format!(
        "forged-{}",
        common::sha256(format!("{layers:?}").as_bytes()).trim_start_matches("sha256:")
    ));
    let store = Store::open(&dir).expect("store");
    for (payload, _) in layers {
        store
            .put_bytes(payload, MEDIA_TYPE_SIMPLE_SIGNING)
            .expect("put");
    }
    let descs: Vec<_> = layers.iter().map(|(_, d)| d.clone()).collect();
    let built = cosign::build(&descs).expect("build");
    store
        .put_bytes(&built.config, &built.config_descriptor.media_type)
        .expect("put");
    store
        .put_bytes(&built.manifest, &built.manifest_descriptor.media_type)
        .expect("put");
    store.tag("sig", &built.manifest_descriptor).expect("tag");
    let out = sb.run(&[
        "cp",
        &format!("oci:{}:sig", dir.display()),
        &format!("docker://{host}/{repo}:{}", cosign::signature_tag(target)),
    ]);
    assert_success(&out);
}

#[test]
fn forged_signatures_are_refused_by_lading_and_by_cosign() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let (key, public, _) = lading_keys(&sb, "k", None);
    let (_, stranger, _) = lading_keys(&sb, "stranger", None);
    let pair = KeyPair::from_pem(&std::fs::read_to_string(&key).expect("key"), None).expect("pair");
    let a: Digest = push_image(&sb, &reg.host, "app", "a", "a\n")
        .parse()
        .expect("digest");
    let b: Digest = push_image(&sb, &reg.host, "app", "b", "b\n")
        .parse()
        .expect("digest");
    let c: Digest = push_image(&sb, &reg.host, "app", "c", "c\n")
        .parse()
        .expect("digest");
    let docker_ref = format!("{}/app", reg.host);

    let refused = |image: &Digest, key: &Path, why: &str| {
        let image = format!("{docker_ref}@{image}");
        let ours = lading_verify(&sb, key, &image);
        assert_eq!(
            code(&ours),
            Some(1),
            "{why}: lading verify:\n{}{}",
            stdout(&ours),
            stderr(&ours)
        );
        let theirs = cosign_verify(&sb, key, &image);
        assert!(
            !theirs.status.success(),
            "{why}: cosign verified:\n{}",
            stdout(&theirs)
        );
    };

    // Unsigned.
    refused(&a, &public, "no signature");

    // A valid signature of `a`, stored as the signature of `b`.
    let for_a = cosign::sign(&pair, &docker_ref, &a).expect("sign");
    push_signatures(
        &sb,
        &reg.host,
        "app",
        &b,
        &[(for_a.payload.clone(), for_a.layer.clone())],
    );
    refused(&b, &public, "signature for another digest");

    // A payload changed after signing (its descriptor updated to match).
    let for_c = cosign::sign(&pair, &docker_ref, &c).expect("sign");
    let changed = String::from_utf8(for_c.payload.clone())
        .expect("utf-8")
        .replace(&format!("{}/app", reg.host), &format!("{}/evil", reg.host))
        .into_bytes();
    assert_ne!(changed, for_c.payload);
    let mut layer = for_c.layer.clone();
    layer.digest = Digest::of(&changed);
    layer.size = changed.len() as u64;
    assert!(layer.annotations.contains_key(ANNOTATION_SIGNATURE));
    push_signatures(&sb, &reg.host, "app", &c, &[(changed, layer)]);
    refused(&c, &public, "changed payload");

    // A good signature, checked with the wrong key.
    let signed = lading_sign(&sb, None, &key, &format!("{docker_ref}@{a}"));
    assert_success(&signed);
    assert_success(&cosign_verify(&sb, &public, &format!("{docker_ref}@{a}")));
    refused(&a, &stranger, "wrong key");
}

#[test]
fn unsupported_modes_are_refused_clearly() {
    if !require_tool("docker-registry") {
        return;
    }
    let sb = Sandbox::new();
    let (key, public, _) = lading_keys(&sb, "k", Some("pw-123456"));
    // A digest reference is checked with the registry (HEAD) before signing.
    let reg = Distribution::start(None);
    let digest = push_image(&sb, &reg.host, "app", "1", "unsupported");
    let image = format!("{}/app@{digest}", reg.host);
    // The transparency log is on by default: an unreachable Rekor is an error.
    let out = lading(
        &sb,
        Some("pw-123456"),
        &[
            "sign",
            "--key",
            key.to_str().expect("utf-8"),
            "--rekor-url",
            "http://127.0.0.1:1",
            &image,
        ],
    );
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("uploading the signature to the transparency log"),
        "{}",
        stderr(&out)
    );
    let out = lading(
        &sb,
        None,
        &["verify", "--key", public.to_str().expect("utf-8"), &image],
    );
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("--insecure-ignore-tlog"),
        "{}",
        stderr(&out)
    );
    // An encrypted key without a password names the variables, not the key.
    let out = lading_sign(&sb, None, &key, &image);
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("LADING_PASSWORD"), "{}", stderr(&out));
    // A wrong password.
    let out = lading_sign(&sb, Some("nope"), &key, &image);
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));
    assert_no_leak(&[&out], &pem_body_lines(&key));
}

#[test]
fn keys_interoperate_with_openssl_pkcs8() {
    if !require_tool("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let (key, public, _) = lading_keys(&sb, "k", Some("pw-openssl"));
    // openssl decrypts lading's PBES2 key to the same public key.
    let out = run(Command::new("openssl")
        .args(["pkey", "-pubout", "-passin", "pass:pw-openssl", "-in"])
        .arg(&key));
    assert_success(&out);
    assert_eq!(stdout(&out), std::fs::read_to_string(&public).expect("pub"));
    // lading reads openssl's PBES2 key (openssl 3 defaults: PBKDF2-HMAC-SHA256, AES-256-CBC).
    let theirs = sb.path("openssl.key");
    common::sh(&format!(
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:pw-openssl -out {}",
        common::q(&theirs)
    ));
    let text = std::fs::read_to_string(&theirs).expect("key");
    assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    KeyPair::from_pem(&text, Some(b"pw-openssl")).expect("lading reads openssl's key");
}

#[test]
fn lading_serve_holds_signatures_cosign_verifies() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let ctx = sb.path("ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("f"), "served\n").expect("f");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").expect("df");
    let digest = sb.build_ok(&ctx, &["-t", "app:1"]);
    let serve = LadingServe::start(&sb.store());
    let (key, public, _) = lading_keys(&sb, "k", None);
    let signed = lading_sign(&sb, None, &key, &format!("docker://{}/app:1", serve.host));
    assert_success(&signed);
    let image = format!("{}/app@{digest}", serve.host);
    assert_success(&cosign_verify(&sb, &public, &image));
    let verified = lading_verify(&sb, &public, &image);
    assert_success(&verified);
}

/// A new pseudo-terminal: (master, slave).
fn pty() -> (std::fs::File, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd as _;
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two new descriptors, owned from here on.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are open and nothing else owns them.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        )
    }
}

/// Whether the terminal behind `master` echoes input.
fn echoes(master: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd as _;
    // SAFETY: a zeroed termios is a valid buffer for tcgetattr to fill.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open; on Linux the master reports the slave's termios.
    let rc = unsafe { libc::tcgetattr(master.as_raw_fd(), &mut t) };
    assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
    t.c_lflag & libc::ECHO != 0
}

/// `lading sign` with no password variable, on a terminal of its own: it prompts as
/// cosign does, turns echo off, and `typed` is answered once it has. Returns the exit
/// code and everything the terminal showed.
fn sign_at_a_terminal(sb: &Sandbox, key: &Path, image: &str, typed: &str) -> (i32, String) {
    let mut cmd = sb.lading(&[
        "sign",
        "--key",
        key.to_str().expect("utf-8"),
        "--tlog-upload=false",
        image,
    ]);
    at_a_terminal(&mut cmd, &[("Enter password for private key: ", typed)])
}

/// Runs `cmd` (no password in its environment) on a new terminal, typing each answer
/// once its prompt has appeared and echo is off; returns the exit code and what the
/// terminal showed.
fn at_a_terminal(cmd: &mut Command, answers: &[(&str, &str)]) -> (i32, String) {
    use std::io::{Read as _, Write as _};
    use std::os::unix::process::CommandExt as _;
    let (mut master, slave) = pty();
    cmd.env_remove("LADING_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .stdin(slave.try_clone().expect("dup"))
        .stdout(slave.try_clone().expect("dup"))
        .stderr(slave);
    // SAFETY: setsid and ioctl are async-signal-safe; the terminal on stdin becomes the
    // new session's controlling terminal, the /dev/tty the prompt opens.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn lading");
    // Our copies of the terminal's slave side: reads end when lading exits.
    *cmd = Command::new("true");
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    let mut searched = 0;
    for (prompt, typed) in answers {
        while !String::from_utf8_lossy(&seen[searched..]).contains(prompt) {
            let n = master.read(&mut buf).unwrap_or(0);
            assert!(n > 0, "no prompt:\n{}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        searched = seen.len();
        // The prompt is written before echo goes off: answer only once it has (a
        // lading that never turned echo off would wait here for ever, not pass).
        while echoes(&master) {
            std::thread::yield_now();
        }
        master
            .write_all(format!("{typed}\n").as_bytes())
            .expect("type");
    }
    // EIO once lading has exited and the slave side is closed.
    while let Ok(n @ 1..) = master.read(&mut buf) {
        seen.extend_from_slice(&buf[..n]);
    }
    let status = child.wait().expect("wait");
    (
        status.code().expect("exit code"),
        String::from_utf8_lossy(&seen).into_owned(),
    )
}

#[test]
fn password_is_asked_for_on_a_terminal_without_echo() {
    let sb = Sandbox::new();
    let password = "typed at the prompt 5";
    let (key, _, _) = lading_keys(&sb, "k", Some(password));
    // Nothing listens there: a loaded key gets as far as the registry.
    let image = format!("127.0.0.1:1/app@sha256:{}", "a".repeat(64));

    let (code, shown) = sign_at_a_terminal(&sb, &key, &image, "not it");
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("wrong password"), "{shown}");
    assert!(
        !shown.contains("not it"),
        "the password was echoed:\n{shown}"
    );

    let (code, shown) = sign_at_a_terminal(&sb, &key, &image, password);
    assert_eq!(code, 2, "{shown}");
    assert!(!shown.contains("wrong password"), "{shown}");
    assert!(shown.contains("127.0.0.1:1"), "{shown}");
    assert!(
        !shown.contains(password),
        "the password was echoed:\n{shown}"
    );
    for line in pem_body_lines(&key) {
        assert!(!shown.contains(&line), "{shown}");
    }
}

/// `generate-key-pair` on a terminal with no password in the environment asks for one
/// twice without echo (cosign's prompts), encrypts the key with it, and refuses answers
/// that differ (writing nothing).
#[test]
fn generate_key_pair_asks_for_the_password_on_a_terminal() {
    if !require_tool("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let generate = |prefix: &Path, answers: [&str; 2]| {
        let mut cmd = sb.lading(&["generate-key-pair", "--output-key-prefix"]);
        cmd.arg(prefix);
        at_a_terminal(
            &mut cmd,
            &[
                ("Enter password for private key: ", answers[0]),
                ("Enter password for private key again: ", answers[1]),
            ],
        )
    };
    let secret = "typed at the tty 5";
    let prefix = sb.path("typed");
    let (code, shown) = generate(&prefix, [secret, secret]);
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains(secret), "the password was echoed: {shown}");
    let key = prefix.with_extension("key");
    let text = std::fs::read_to_string(&key).expect("key");
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{text}"
    );
    // The password typed is the key's (openssl reads PBES2 PKCS#8).
    let pass = format!("pass:{secret}");
    let check = |pass: &str| {
        run(Command::new("openssl")
            .args(["pkey", "-noout", "-passin", pass, "-in"])
            .arg(&key))
    };
    assert_success(&check(&pass));
    assert!(!check("pass:another").status.success());

    let prefix = sb.path("mismatch");
    let (code, shown) = generate(&prefix, [secret, "something else"]);
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("do not match"), "{shown}");
    assert!(!prefix.with_extension("key").exists());
    assert!(!prefix.with_extension("pub").exists());
}
