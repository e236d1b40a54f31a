//! Command-line arguments, docker-compatible where docker has the flag.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Reproducible container image builder.
#[derive(Debug, Parser)]
#[command(name = "lading", version, about)]
pub struct Cli {
    /// Content store (an OCI image layout) [default: $XDG_DATA_HOME/lading].
    #[arg(long, global = true, env = "LADING_STORE")]
    pub store: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile (like `docker build`).
    Build(Box<BuildArgs>),
    /// Build, gate, push by digest, sign and attest: the whole pipeline on one digest.
    ///
    /// Every `lading build` flag, then: the four gates (`lading gate`) with `--policy`
    /// (default: the CIS hard gate, fail on high or critical vulnerabilities, secrets,
    /// SBOM); only when they pass, the exact bytes pushed by digest to each `--image`
    /// (every blob re-hashed as it streams, the registry's digest read back) and tagged;
    /// then signed (`--sign`: with `--key`, or keyless in GitHub Actions) with the
    /// attestations (`--attest`, default all: SLSA provenance, CycloneDX, SPDX, the
    /// vulnerability report, the build log) on that digest. Prints the digest.
    /// A rerun after a failure finishes the job: it finds the gate record and the pushed
    /// digest, and does not push again. Exit codes: 0 published, 1 a gate failed
    /// (nothing pushed), 2 an error.
    Publish(Box<PublishArgs>),
    /// List tagged images in the store.
    Images(ImagesArgs),
    /// Remove build cache and what nothing uses from the store (like `docker builder prune`).
    ///
    /// Never removes what `index.json` lists (tags and pushed manifests) or what a
    /// running `lading` process uses. Without `--all`, only cache that can no longer be
    /// used, unreferenced blobs and the leftovers of killed processes go; `--all` removes
    /// all build cache, `--keep-storage` keeps the most recently used within SIZE.
    Prune(PruneArgs),
    /// Show the store's disk usage (like `docker system df`).
    Df(DfArgs),
    /// Show an image's manifest and config.
    Inspect(InspectArgs),
    /// Find credentials in every layer and the config of an image (gate: exit 1 on findings).
    Secrets(SecretsArgs),
    /// Check an image (and its Dockerfile) against CIS Docker Benchmark section 4 (gate).
    Cis(CisArgs),
    /// List the packages in an image (CycloneDX, SPDX, JSON or a table).
    Sbom(SbomArgs),
    /// Manage the vulnerability database (OSV advisories).
    Db(DbArgs),
    /// Scan an image for known vulnerabilities.
    Scan(Box<ScanArgs>),
    /// Pull an image from a registry into the store (like `docker pull`).
    ///
    /// The image is tagged in the store with docker's short name (`alpine:latest`,
    /// `127.0.0.1:5000/app:1`); blobs the store has are not downloaded again.
    Pull(PullArgs),
    /// Push an image to a registry, by digest, then tagged (like `docker push`).
    Push(PushArgs),
    /// Copy an image between any two places, digests unchanged (like `crane copy`).
    ///
    /// Places: `docker://REF`, `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
    /// `docker-archive:FILE[:name:tag]`, or a name or digest in the store. An index is
    /// copied with every platform unless `--platform` picks one.
    Cp(CpArgs),
    /// Compare two images: index, manifest, config, layers, files.
    ///
    /// A and B are store names or digests, `docker://REF`, `oci:DIR[:tag]`,
    /// `oci-archive:FILE[:tag]` or `docker-archive:FILE`. Each difference is reported
    /// once, at the level where it starts (a changed file is a file difference of its
    /// layer, not also a changed layer digest). Layers with the same digest are skipped
    /// without being read (or downloaded). Exit codes: 0 equal, 1 different, 2 an error.
    Diff(DiffArgs),
    /// Rebuild an image from its SLSA provenance and compare digests.
    ///
    /// Reads the provenance (`--provenance FILE`: the predicate, an in-toto statement
    /// or a DSSE envelope), fetches what it names — the git commit (or `--context DIR`,
    /// which must hash to the recorded context digest) and every base image by its
    /// recorded digest — rebuilds in a fresh, private store with exactly the recorded
    /// parameters and compares the digests; on a mismatch, names the input or the step
    /// that explains it. Exit codes: 0 reproduced, 1 not reproduced, 2 could not try.
    Reproduce(Box<ReproduceArgs>),
    /// List the tags of a repository (`docker://REGISTRY/REPO`).
    Tags(TagsArgs),
    /// List the referrers of a manifest (`docker://REPO@DIGEST`), through the registry's
    /// referrers API or, when it has none, the referrers tag schema (`sha256-<hex>`).
    Referrers(ReferrersArgs),
    /// Run all four gates (sbom, scan, cis, secrets) on an image and record the verdict.
    ///
    /// REF is resolved once to a manifest digest; every gate reads that digest. The
    /// reports are stored as blobs and a gate record (which gates ran, the vulnerability
    /// database version, the policy's sha256, the report digests, the verdict) is
    /// written against the digest in <store>/.lading/gates/. Without a vulnerability
    /// database the scan gate fails closed unless the policy skips it.
    /// Exit codes: 0 every gate passed, 1 a gate failed, 2 an error.
    Gate(Box<GateArgs>),
    /// Write one self-contained HTML page about an image of the store, for auditors.
    ///
    /// IMAGE is a store tag, `REPO@sha256:…` or a bare `sha256:…` (an index is resolved
    /// to `--platform`'s manifest). The page shows the manifest digest and the store
    /// references; the latest gate record (each gate ran, skipped or unavailable, its
    /// verdict and the overall verdict, the policy digest, the vulnerability database
    /// version); the vulnerability findings by severity; the CIS checks with their
    /// evidence; the secrets found (redacted); the SBOM's packages per ecosystem; where
    /// the image was pushed and the signatures and attestations stored, with the signer
    /// (key fingerprint, or certificate identity and OIDC issuer) and transparency-log
    /// entries (the publish record, else the bundle referrers in the store); and the SLSA
    /// provenance's base images, git source and build parameters. Whatever is not
    /// recorded is shown as such ("not gated", "not pushed", "unsigned").
    /// The page needs no network: inline CSS, no scripts, no links or remote resources,
    /// and a Content-Security-Policy that forbids fetching anything. Image content is
    /// escaped. Exit codes: 0 written, 2 the image is not in the store or an error.
    Report(ReportArgs),
    /// Serve the store as an OCI registry (distribution-spec v1.1) until Ctrl-C.
    ///
    /// Tag `T` of repository `R` is the store's image `R:T` (`lading build -t foo:1` is
    /// `ADDR/foo:1`). Loopback addresses are served as they are; any other address needs
    /// authentication (`--htpasswd` or `--token-file`) and TLS (`--tls-cert`, `--tls-key`).
    /// Request logs: `LADING_LOG=debug`.
    Serve(ServeArgs),
    /// Write a new ECDSA P-256 key pair for `lading sign` (like `cosign generate-key-pair`).
    ///
    /// Writes PREFIX.key (PKCS#8 PEM, mode 0600: encrypted with PBES2 —
    /// PBKDF2-HMAC-SHA256, AES-256-CBC — when LADING_PASSWORD or COSIGN_PASSWORD is set
    /// and not empty, else plain) and PREFIX.pub (a `PUBLIC KEY` PEM that
    /// `cosign verify --key` reads). Existing files are not overwritten.
    GenerateKeyPair(GenerateKeyPairArgs),
    /// Sign an image in a registry or in the store, as `cosign sign` does: with a key,
    /// or keyless.
    ///
    /// IMAGE is the store's when the store has that reference and it is not
    /// `docker://REF` (which always means the registry); the signatures then go into the
    /// store, the same manifests and referrers a registry would hold, and `lading serve`
    /// serves them.
    /// A tag is resolved once to its manifest digest (printed); only that digest is
    /// signed. Key-based with `--key`; keyless without it: an ephemeral key and a Fulcio
    /// certificate for the OIDC identity token (`--identity-token`, or GitHub Actions').
    /// The signature is uploaded to Rekor (hashedrekord) and the entry stored with it,
    /// unless `--tlog-upload=false` (key signing only). `--registry-referrers-mode`
    /// picks the storage (default both): `oci-1-1` pushes a Sigstore bundle v0.3
    /// (cosign v3's signature: an in-toto statement in a DSSE envelope, with the key's
    /// hint or the certificate, and the Rekor entry) as an OCI 1.1 referrer of the image
    /// — through the registry's referrers API, or the referrers tag `sha256-<hex>` where
    /// it has none — and `legacy` appends a simple-signing layer to the manifest tagged
    /// `sha256-<hex>.sig` (with the certificate, chain and Rekor bundle annotations),
    /// which admission controllers read.
    Sign(SignArgs),
    /// Write the predicate lading would attest for an image it built, scanned or catalogued.
    ///
    /// `slsaprovenance1` (SLSA provenance v1, from the build record `lading build` keeps
    /// in the store), `cyclonedx` and `spdxjson` (the documents `lading sbom` writes for
    /// the image's digest), `vuln` (the cosign vulnerability predicate of the latest
    /// `lading scan` of that digest), `buildlog` (the build's progress log, secrets
    /// redacted, with step timings and cache hits). Build type and build-log schema:
    /// docs/attestations.md.
    Predicate(PredicateArgs),
    /// Verify an image's cosign signatures: with a public key, or keyless.
    ///
    /// IMAGE is the store's when the store has that reference and it is not
    /// `docker://REF` (always the registry); its signatures are then read from the store.
    /// Looks in the storages `--registry-referrers-mode` names (default both): the
    /// image's Sigstore bundle referrers (a v0.3 bundle whose one DSSE signature verifies
    /// over an in-toto statement naming the image's digest) and the `sha256-<hex>.sig`
    /// manifest (each layer's payload digest, signature, and the image digest it names),
    /// and reports which storage held valid signatures. Keyless: the certificate must
    /// chain to a CA of `--trusted-root`, have been valid when Rekor logged the
    /// signature, and name the `--certificate-identity` and `--certificate-oidc-issuer`
    /// given. The Rekor entry (its signed timestamp, and that it logs this signature) is
    /// checked against `--trusted-root` unless `--insecure-ignore-tlog`. Prints the
    /// verified payloads as JSON on stdout (a bundle's as cosign prints it: its
    /// predicate type as `critical.type`).
    /// Exit codes: 0 a valid signature was found, 1 none was, 2 an error.
    Verify(VerifyArgs),
    /// Attest an image: sign an in-toto statement about its digest, as `cosign attest`
    /// does, with a key or keyless.
    ///
    /// IMAGE is the store's when the store has that reference and it is not
    /// `docker://REF` (always the registry); the attestation then goes into the store.
    /// The predicate file (`--predicate`) becomes the statement's predicate, of the type
    /// `--type` names (cosign's names or a URI; `buildlog` is lading's build log). A tag
    /// is resolved once to its manifest digest (printed), the statement's subject. The
    /// DSSE envelope is logged in Rekor as a `dsse` entry (unless `--tlog-upload=false`,
    /// key only) and stored as `--registry-referrers-mode` says: a Sigstore bundle
    /// referrer and/or a layer of the manifest tagged `sha256-<hex>.att`, appended to the
    /// attestations already there (`--replace` first drops those of the same predicate
    /// type).
    Attest(AttestArgs),
    /// Verify an image's attestations of one predicate type, with a public key or
    /// keyless (cosign's identity flags), as `cosign verify-attestation` does, optionally
    /// against a provenance policy.
    ///
    /// IMAGE is the store's when the store has that reference and it is not
    /// `docker://REF` (always the registry); its attestations are then read from the store.
    /// Reads bundle referrers and the `sha256-<hex>.att` manifest; an attestation counts
    /// when its envelope verifies with the key or certificate, its Rekor entry checks
    /// against `--trusted-root` (unless `--insecure-ignore-tlog`), its statement names the
    /// image's digest, its predicate is of type `--type`, and the policy
    /// (`--builder-id`, `--gate-verdict`, on a SLSA provenance v1 predicate) holds.
    /// Prints each such envelope as a JSON line on stdout (as cosign does); why others
    /// were refused goes to stderr.
    /// Exit codes: 0 an attestation verified, 1 none did, 2 an error.
    VerifyAttestation(VerifyAttestationArgs),
    /// Print lading's version, the git commit it was built from, the cryptographic
    /// module (AWS-LC, or AWS-LC FIPS in a `--features fips` build), its version and
    /// whether FIPS mode is on. `lading --version` prints the same.
    Version(VersionArgs),
}

/// `lading version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print JSON (`version`, `commit`, `cryptoModule.name`/`.version`, `fipsMode`).
    #[arg(long)]
    pub json: bool,
}

/// `lading report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Image: a tag or digest in the store.
    #[arg(value_name = "IMAGE")]
    pub reference: String,
    /// Write the page to FILE (`-` or none: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Platform to pick from an index.
    #[arg(long)]
    pub platform: Option<String>,
}

/// `lading predicate`.
#[derive(Debug, Args)]
pub struct PredicateArgs {
    /// Image: a tag or digest in the store (or any reference `lading sbom` takes).
    pub reference: String,
    /// Which predicate (cosign's `--type` names).
    #[arg(long = "type", value_enum)]
    pub kind: PredicateType,
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Platform to pick from an index.
    #[arg(long)]
    pub platform: Option<String>,
}

/// `lading predicate --type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PredicateType {
    /// SLSA provenance v1 (`https://slsa.dev/provenance/v1`).
    #[value(name = "slsaprovenance1")]
    SlsaProvenance1,
    /// CycloneDX 1.6 (`https://cyclonedx.org/bom`).
    #[value(name = "cyclonedx")]
    Cyclonedx,
    /// SPDX 2.3 JSON (`https://spdx.dev/Document`).
    #[value(name = "spdxjson")]
    Spdxjson,
    /// cosign's vulnerability predicate (`https://cosign.sigstore.dev/attestation/vuln/v1`).
    #[value(name = "vuln")]
    Vuln,
    /// lading's build log (`https://lading.dev/attestation/build-log/v1`).
    #[value(name = "buildlog")]
    Buildlog,
}

/// `lading generate-key-pair`.
#[derive(Debug, Args)]
pub struct GenerateKeyPairArgs {
    /// Write PREFIX.key and PREFIX.pub.
    #[arg(long, value_name = "PREFIX", default_value = "cosign")]
    pub output_key_prefix: PathBuf,
}

/// How `lading sign` and `lading publish` sign: the key or the keyless services, the
/// transparency log, and where signatures are stored.
#[derive(Debug, Clone, Args)]
pub struct SignerArgs {
    /// Private key file (PKCS#8 PEM, encrypted or not; the password comes from
    /// LADING_PASSWORD or COSIGN_PASSWORD). Without it, signing is keyless: an
    /// ephemeral key certified by Fulcio for the OIDC identity token.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Upload the signature to the transparency log (Rekor) and store the entry with it
    /// (`dev.sigstore.cosign/bundle`). Keyless signing always uploads.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tlog_upload: bool,
    /// Keyless: the OIDC identity token (a JWT), or a file holding it. Default: in GitHub
    /// Actions, a token requested with audience `sigstore`. Never printed.
    #[arg(long, value_name = "TOKEN|FILE")]
    pub identity_token: Option<String>,
    /// Keyless: the Fulcio to ask for a certificate.
    #[arg(long, value_name = "URL", conflicts_with = "signing_config")]
    pub fulcio_url: Option<String>,
    /// The Rekor (v1 API) to upload to.
    #[arg(long, value_name = "URL", conflicts_with = "signing_config")]
    pub rekor_url: Option<String>,
    /// A Sigstore `signing_config.json` (v0.2) naming the Fulcio and Rekor to use.
    /// Default: the `signing_config.v0.2.json` of the TUF repository (public-good
    /// Sigstore's unless --tuf-mirror).
    #[arg(long, value_name = "FILE")]
    pub signing_config: Option<PathBuf>,
    /// A Sigstore `trusted_root.json`: what Fulcio and Rekor return is verified against
    /// it before the signature is stored. Default, when the services come from TUF: the
    /// TUF repository's `trusted_root.json`.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Where the default trust material comes from.
    #[command(flatten)]
    pub tuf: TufArgs,
    /// Where signatures are stored (cosign's flag): `oci-1-1` a Sigstore bundle as an
    /// OCI 1.1 referrer, `legacy` the `sha256-<hex>.sig` tag, `both`.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ReferrersMode::Both)]
    pub registry_referrers_mode: ReferrersMode,
}

/// `lading sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The key, the services, the storage.
    #[command(flatten)]
    pub signer: SignerArgs,
    /// Accepted for cosign compatibility; prompts are never shown.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Also attach these attestations, signed by the same key or certificate in the same
    /// run: the predicates lading generates from its store for the image, as `lading
    /// attest --type TYPE` without `--predicate` does. TYPE: slsaprovenance1, cyclonedx,
    /// spdxjson, vuln, buildlog, or `all` (those five). Repeatable or comma-separated.
    #[arg(long = "attest", value_name = "TYPE", value_delimiter = ',')]
    pub attest: Vec<String>,
    /// The image. `docker://REF` always means a registry. Without it, a reference the
    /// store (`--store`) has — a tag (`app:1`; `app` is `app:latest`), `REPO@sha256:…`
    /// or `sha256:…` — means the store's image, and its signatures go into the store
    /// (`lading serve` exposes them); anything else is a registry reference
    /// (`REGISTRY/REPO:TAG`, `REGISTRY/REPO@sha256:…`). Which one was used, and the
    /// digest, is printed on stderr.
    pub image: String,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `lading verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Public key file (`PUBLIC KEY` PEM, e.g. `cosign.pub`). Without it, signatures
    /// are keyless and `--certificate-identity[-regexp]` and
    /// `--certificate-oidc-issuer[-regexp]` are required.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Keyless: the identity (certificate SAN: email or URI) that must have signed.
    #[arg(long, value_name = "IDENTITY", conflicts_with_all = ["key", "certificate_identity_regexp"])]
    pub certificate_identity: Option<String>,
    /// Keyless: a regular expression the identity must match (unanchored, as cosign).
    #[arg(long, value_name = "REGEXP", conflicts_with = "key")]
    pub certificate_identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer that must have vouched for the identity.
    #[arg(long, value_name = "URL", conflicts_with_all = ["key", "certificate_oidc_issuer_regexp"])]
    pub certificate_oidc_issuer: Option<String>,
    /// Keyless: a regular expression the OIDC issuer must match.
    #[arg(long, value_name = "REGEXP", conflicts_with = "key")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// A Sigstore `trusted_root.json`: the Fulcio CAs and Rekor keys to trust, for
    /// keyless signatures and transparency-log checks. Default: the TUF repository's
    /// `trusted_root.json` (public-good Sigstore's unless --tuf-mirror).
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Where the default trust material comes from.
    #[command(flatten)]
    pub tuf: TufArgs,
    /// Skip transparency-log verification (signatures made with `--tlog-upload=false`).
    #[arg(long, value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub insecure_ignore_tlog: bool,
    /// Keyless: skip the check of the certificate's embedded SCT against the trusted
    /// root's CT logs.
    #[arg(long, value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub insecure_ignore_sct: bool,
    /// Where signatures are looked for (cosign's flag): `oci-1-1` a Sigstore bundle as an
    /// OCI 1.1 referrer, `legacy` the `sha256-<hex>.sig` tag, `both`.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ReferrersMode::Both)]
    pub registry_referrers_mode: ReferrersMode,
    /// The image. `docker://REF` always means a registry. Without it, a reference the
    /// store (`--store`) has — a tag (`app:1`; `app` is `app:latest`), `REPO@sha256:…`
    /// or `sha256:…` — means the store's image, and its signatures are read from the store
    /// (`lading serve` exposes them); anything else is a registry reference
    /// (`REGISTRY/REPO:TAG`, `REGISTRY/REPO@sha256:…`). Which one was used, and the
    /// digest, is printed on stderr.
    pub image: String,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `lading attest`.
#[derive(Debug, Args)]
pub struct AttestArgs {
    /// Private key file (PKCS#8 PEM, encrypted or not; the password comes from
    /// LADING_PASSWORD or COSIGN_PASSWORD). Without it, attesting is keyless: an
    /// ephemeral key certified by Fulcio for the OIDC identity token.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Keyless: the OIDC identity token (a JWT), or a file holding it. Default: in GitHub
    /// Actions, a token requested with audience `sigstore`. Never printed.
    #[arg(long, value_name = "TOKEN|FILE")]
    pub identity_token: Option<String>,
    /// Keyless: the Fulcio to ask for a certificate.
    #[arg(long, value_name = "URL", conflicts_with = "signing_config")]
    pub fulcio_url: Option<String>,
    /// The Rekor (v1 API) to upload to.
    #[arg(long, value_name = "URL", conflicts_with = "signing_config")]
    pub rekor_url: Option<String>,
    /// A Sigstore `signing_config.json` (v0.2) naming the Fulcio and Rekor to use.
    /// Default: the `signing_config.v0.2.json` of the TUF repository (public-good
    /// Sigstore's unless --tuf-mirror).
    #[arg(long, value_name = "FILE")]
    pub signing_config: Option<PathBuf>,
    /// A Sigstore `trusted_root.json`: what Fulcio and Rekor return is verified against
    /// it before the attestation is stored. Default, when the services come from TUF:
    /// the TUF repository's `trusted_root.json`.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Where the default trust material comes from.
    #[command(flatten)]
    pub tuf: TufArgs,
    /// The predicate type: a URI, or one of slsaprovenance, slsaprovenance02,
    /// slsaprovenance1, link, spdx, spdxjson, cyclonedx, vuln, openvex, custom, buildlog.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub predicate_type: String,
    /// The predicate file (JSON; any text for `custom` and `spdx`); `-` reads stdin.
    /// Without it, lading generates the predicate of a slsaprovenance1, cyclonedx,
    /// spdxjson, vuln or buildlog type from what its store recorded for the image (as
    /// `lading predicate` shows it).
    #[arg(long, value_name = "FILE")]
    pub predicate: Option<PathBuf>,
    /// Drop the image's attestations of the same predicate type before adding this one.
    #[arg(long)]
    pub replace: bool,
    /// Upload the attestation to the transparency log (Rekor) and store the entry with
    /// it (in the bundle; `dev.sigstore.cosign/bundle` on `.att` layers). Keyless
    /// attesting always uploads.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tlog_upload: bool,
    /// Accepted for cosign compatibility; prompts are never shown.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Where the attestation is stored (cosign's flag): `oci-1-1` a Sigstore bundle as
    /// an OCI 1.1 referrer, `legacy` a layer of the `sha256-<hex>.att` tag, `both`.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ReferrersMode::Both)]
    pub registry_referrers_mode: ReferrersMode,
    /// The image. `docker://REF` always means a registry. Without it, a reference the
    /// store (`--store`) has — a tag (`app:1`; `app` is `app:latest`), `REPO@sha256:…`
    /// or `sha256:…` — means the store's image, and the attestation goes into the store
    /// (`lading serve` exposes them); anything else is a registry reference
    /// (`REGISTRY/REPO:TAG`, `REGISTRY/REPO@sha256:…`). Which one was used, and the
    /// digest, is printed on stderr.
    pub image: String,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Who must have signed an attestation, the trust material and where attestations are
/// looked for (`lading verify-attestation`, `lading reproduce`).
#[derive(Debug, Clone, Args)]
pub struct AttestationTrustArgs {
    /// Public key file (`PUBLIC KEY` PEM, e.g. `cosign.pub`). Without it, attestations
    /// are keyless and `--certificate-identity[-regexp]` and
    /// `--certificate-oidc-issuer[-regexp]` are required.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Keyless: the identity (certificate SAN: email or URI) that must have signed.
    #[arg(long, value_name = "IDENTITY", conflicts_with_all = ["key", "certificate_identity_regexp"])]
    pub certificate_identity: Option<String>,
    /// Keyless: a regular expression the identity must match (unanchored, as cosign).
    #[arg(long, value_name = "REGEXP", conflicts_with = "key")]
    pub certificate_identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer that must have vouched for the identity.
    #[arg(long, value_name = "URL", conflicts_with_all = ["key", "certificate_oidc_issuer_regexp"])]
    pub certificate_oidc_issuer: Option<String>,
    /// Keyless: a regular expression the OIDC issuer must match.
    #[arg(long, value_name = "REGEXP", conflicts_with = "key")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// A Sigstore `trusted_root.json`: the Fulcio CAs and Rekor keys to trust, for
    /// keyless attestations and transparency-log checks. Default: the TUF repository's
    /// `trusted_root.json` (public-good Sigstore's unless --tuf-mirror).
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Where the default trust material comes from.
    #[command(flatten)]
    pub tuf: TufArgs,
    /// Skip transparency-log verification (attestations made with `--tlog-upload=false`).
    #[arg(long, value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub insecure_ignore_tlog: bool,
    /// Keyless: skip the check of the certificate's embedded SCT against the trusted
    /// root's CT logs.
    #[arg(long, value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub insecure_ignore_sct: bool,
    /// Where attestations are looked for (cosign's flag): `oci-1-1` Sigstore bundles as
    /// OCI 1.1 referrers, `legacy` the `sha256-<hex>.att` tag, `both`.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ReferrersMode::Both)]
    pub registry_referrers_mode: ReferrersMode,
}

/// `lading verify-attestation`.
#[derive(Debug, Args)]
pub struct VerifyAttestationArgs {
    /// Who must have signed, and the trust material.
    #[command(flatten)]
    pub trust: AttestationTrustArgs,
    /// The predicate type to verify (as for `lading attest`).
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub predicate_type: String,
    /// Policy: the SLSA provenance v1 predicate's `runDetails.builder.id` must equal ID.
    #[arg(long, value_name = "ID")]
    pub builder_id: Option<String>,
    /// Policy: the SLSA provenance v1 predicate's `lading-gates` byproduct must record
    /// this verdict (`pass`).
    #[arg(long, value_name = "VERDICT")]
    pub gate_verdict: Option<String>,
    /// The image. `docker://REF` always means a registry. Without it, a reference the
    /// store (`--store`) has — a tag (`app:1`; `app` is `app:latest`), `REPO@sha256:…`
    /// or `sha256:…` — means the store's image, and its attestations are read from the store
    /// (`lading serve` exposes them); anything else is a registry reference
    /// (`REGISTRY/REPO:TAG`, `REGISTRY/REPO@sha256:…`). Which one was used, and the
    /// digest, is printed on stderr.
    pub image: String,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Parses `HOST:PORT` (an IP address, or `localhost`).
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    match s.rsplit_once(':') {
        Some(("localhost", port)) => format!("127.0.0.1:{port}")
            .parse()
            .map_err(|e| format!("{s:?}: {e}")),
        _ => s
            .to_socket_addrs()
            .map_err(|e| format!("{s:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("{s:?} resolves to no address")),
    }
}

/// `lading serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (`HOST:PORT`; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:5000", value_parser = parse_addr)]
    pub addr: SocketAddr,
    /// htpasswd file of bcrypt hashes (`htpasswd -B`): clients must log in (HTTP Basic).
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
    /// File holding a token clients must send as `Authorization: Bearer <token>`.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// TLS certificate chain (PEM); serves HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest blob accepted, in bytes (manifests are limited to 4 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = lading_registry::constants::DEFAULT_MAX_BLOB_SIZE)]
    pub max_blob_size: u64,
}

/// The TUF repository that publishes Sigstore's trust material (`trusted_root.json`,
/// `signing_config.v0.2.json`); cached under $XDG_CACHE_HOME/lading/tuf, and served
/// from there when the mirror is unreachable.
#[derive(Debug, Clone, Args)]
pub struct TufArgs {
    /// The TUF repository's URL [default: public-good Sigstore's,
    /// https://tuf-repo-cdn.sigstore.dev].
    #[arg(long, value_name = "URL", env = "LADING_TUF_MIRROR")]
    pub tuf_mirror: Option<String>,
    /// The repository's initial `root.json`, trusted when the cache holds no root yet
    /// (required for a --tuf-mirror other than public-good Sigstore's, whose root is
    /// built in).
    #[arg(long, value_name = "FILE")]
    pub tuf_root: Option<PathBuf>,
}

/// How to reach registries and log in (shared by every command that talks to one).
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Verify registries' TLS certificates; `--tls-verify=false` skips verification and
    /// allows plain HTTP for every registry.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// A registry (`HOST[:PORT]`) reached without certificate verification, or over plain
    /// HTTP; repeatable. Loopback registries may always use plain HTTP.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// A directory of CA certificates (`*.crt`, PEM) to trust; repeatable.
    /// `/etc/containers/certs.d/HOST/` and `/etc/docker/certs.d/HOST/` are always read.
    #[arg(long = "cert-dir", value_name = "DIR")]
    pub cert_dirs: Vec<PathBuf>,
    /// docker config file with `auths`, `credHelpers`, `credsStore`
    /// [default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json].
    #[arg(long, value_name = "FILE", env = "REGISTRY_AUTH_FILE")]
    pub authfile: Option<PathBuf>,
    /// Credentials for every registry, before any config file (`USER:PASSWORD`).
    #[arg(long, value_name = "USER:PASSWORD")]
    pub creds: Option<String>,
    /// Upload chunk size in bytes; larger blobs go up in chunks of this size.
    #[arg(long, value_name = "BYTES", default_value_t = lading_registry::client::DEFAULT_CHUNK_SIZE)]
    pub chunk_size: u64,
}

/// `lading pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image reference (`alpine`, `ghcr.io/o/r:1`, `HOST:PORT/repo@sha256:…`; a
    /// `docker://` prefix is allowed).
    pub reference: String,
    /// Platform to pull from an index [default: this machine's].
    #[arg(long, conflicts_with = "all_platforms")]
    pub platform: Option<String>,
    /// Pull every platform of an index.
    #[arg(long, short = 'a')]
    pub all_platforms: bool,
    /// Print only the digest.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `lading push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// What to push: a name or digest in the store, or any place `lading cp` reads.
    pub source: String,
    /// Where: `docker://REGISTRY/REPO[:TAG|@DIGEST]`.
    pub destination: String,
    /// Push only this platform of an index (the pushed digest is then the platform's).
    #[arg(long)]
    pub platform: Option<String>,
    /// Print only the digest.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `lading cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Source.
    pub source: String,
    /// Destination.
    pub destination: String,
    /// Copy only this platform of an index (the digest is then the platform's).
    #[arg(long)]
    pub platform: Option<String>,
    /// Print only the digest.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `lading diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Image A.
    pub a: String,
    /// Image B.
    pub b: String,
    /// Ignore what does not change the image's meaning (as diffoci's `--semantic`):
    /// timestamps (file mtime/atime/ctime, config and history `created`, the `created`
    /// annotation), image-name annotations, tar header details, entry order and
    /// compression. History `created_by` and every file attribute still count.
    #[arg(long)]
    pub semantic: bool,
    /// Platform to pick from an index [default: this host's].
    #[arg(long)]
    pub platform: Option<String>,
    /// Output format (`json`: the library's `Diff`, sorted, stable).
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::cli::gate::Format,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `lading reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The image: a store name or digest, `docker://REF`, `oci:DIR[:tag]`, …
    pub image: String,
    /// The provenance: a SLSA provenance v1 predicate of lading's build type, an
    /// in-toto statement holding one, or a DSSE envelope of that statement. Without it,
    /// the image's `slsaprovenance1` attestation is read from the registry (or the
    /// store) and verified first, with `--key` or the certificate identity flags, as
    /// `lading verify-attestation` does.
    #[arg(long, value_name = "FILE")]
    pub provenance: Option<PathBuf>,
    /// Who must have signed the provenance attestation, and the trust material.
    #[command(flatten)]
    pub trust: AttestationTrustArgs,
    /// Use this directory as the build context instead of the recorded git commit; it
    /// must hash to the recorded context digest (a mismatch is reported as a cause).
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// The Dockerfile, when it was outside the context or read from standard input.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Secrets for the ids the provenance names (as `lading build --secret`).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// ssh agents for the ids the provenance names (as `lading build --ssh`).
    #[arg(long = "ssh")]
    pub ssh: Vec<String>,
    /// Output format (`json`: the whole outcome, the diff included).
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::cli::gate::Format,
    /// Progress of the rebuild on stderr.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: Progress,
    /// Sign and attach a "reproduced" attestation
    /// (`https://lading.dev/attestation/reproduced/v1`: who rebuilt, where, when, from
    /// what, the result) to the image, whatever the result; needs `--attest-key`.
    #[arg(long, requires = "attest_key")]
    pub attest: bool,
    /// The private key that signs the "reproduced" attestation (the password comes from
    /// LADING_PASSWORD or COSIGN_PASSWORD).
    #[arg(long, value_name = "FILE", requires = "attest")]
    pub attest_key: Option<PathBuf>,
    /// Log the "reproduced" attestation in Rekor (as `lading attest --tlog-upload`).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tlog_upload: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `lading tags`.
#[derive(Debug, Args)]
pub struct TagsArgs {
    /// Repository (`docker://REGISTRY/REPO`).
    pub repository: String,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Where `lading sign`/`attest` store signatures and attestations and `lading
/// verify`/`verify-attestation` look for them (cosign's `--registry-referrers-mode`,
/// plus `both`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReferrersMode {
    /// The `sha256-<hex>.sig` tag (simple signing).
    Legacy,
    /// A Sigstore bundle v0.3 as an OCI 1.1 referrer.
    #[value(name = "oci-1-1")]
    Oci11,
    /// Both.
    Both,
}

impl ReferrersMode {
    /// Whether the `.sig` tag is used.
    pub fn legacy(self) -> bool {
        matches!(self, ReferrersMode::Legacy | ReferrersMode::Both)
    }

    /// Whether bundle referrers are used.
    pub fn referrers(self) -> bool {
        matches!(self, ReferrersMode::Oci11 | ReferrersMode::Both)
    }
}

/// `lading referrers`.
#[derive(Debug, Args)]
pub struct ReferrersArgs {
    /// The manifest (`docker://REGISTRY/REPO@sha256:…`).
    pub reference: String,
    /// Only referrers of this artifact type.
    #[arg(long)]
    pub artifact_type: Option<String>,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    /// `tty` on a terminal, else `plain`.
    Auto,
    /// Every step and log line.
    Plain,
    /// Compact, for terminals.
    Tty,
    /// Nothing.
    Quiet,
    /// JSON lines.
    Rawjson,
}

/// `--context-modes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContextModesArg {
    /// Keep the context's permission bits, as docker does.
    Preserve,
    /// 0644/0755 whatever the context's bits are.
    Normalize,
}

impl From<ContextModesArg> for lading_builder::ContextModes {
    fn from(a: ContextModesArg) -> Self {
        match a {
            ContextModesArg::Preserve => lading_builder::ContextModes::Preserve,
            ContextModesArg::Normalize => lading_builder::ContextModes::Normalize,
        }
    }
}

/// `lading publish --sign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignMode {
    /// With `--key` when given; keyless with `--identity-token` or in GitHub Actions;
    /// else an error (before anything is built).
    Auto,
    /// With `--key`.
    Key,
    /// Keyless: an ephemeral key certified by Fulcio for the OIDC identity.
    Keyless,
    /// Not signed and not attested.
    None,
}

/// `lading publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The build.
    #[command(flatten)]
    pub build: BuildArgs,
    /// Push to REGISTRY/REPO[:TAG] (`latest` when no tag). Repeatable: the same digest
    /// goes to each.
    #[arg(long = "image", value_name = "REGISTRY/REPO[:TAG]", required = true)]
    pub images: Vec<String>,
    /// How to sign.
    #[arg(long, value_enum, default_value = "auto", value_name = "MODE")]
    pub sign: SignMode,
    /// The key, the services, the storage (as `lading sign`).
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The attestations attached with the signature: slsaprovenance1, cyclonedx,
    /// spdxjson, vuln, buildlog, `all` (those five) or `none`. Repeatable or
    /// comma-separated.
    #[arg(
        long = "attest",
        value_name = "TYPE",
        value_delimiter = ',',
        default_value = "all"
    )]
    pub attest: Vec<String>,
    /// Write the evidence bundle to DIR/sha256-<hex>/: the gate record, every report
    /// (CycloneDX, SPDX, vulnerabilities as JSON and SARIF, CIS, secrets), the
    /// provenance, the build log, the Sigstore bundles, and `index.json`. Default in
    /// GitHub Actions: $RUNNER_TEMP/lading-evidence.
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,
}

/// `lading build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build context directory.
    #[arg(value_name = "PATH")]
    pub context: PathBuf,
    /// Name and optionally tag (`name:tag`); repeatable.
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Dockerfile (default: PATH/Dockerfile; `-` reads stdin).
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Build-time variables (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Build this stage.
    #[arg(long)]
    pub target: Option<String>,
    /// Image labels (`KEY=VALUE`).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Manifest annotations (`KEY=VALUE`).
    #[arg(long = "annotation")]
    pub annotations: Vec<String>,
    /// Target platforms (`os/arch[/variant]`): a comma-separated list, or the flag
    /// repeated, as buildx takes them. Several platforms build one image index.
    #[arg(long, value_delimiter = ',')]
    pub platform: Vec<String>,
    /// Do not use the build cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Progress output.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: Progress,
    /// Print only the image digest.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Additional build contexts (`name=PATH` or `name=oci-layout://DIR[:tag]`).
    #[arg(long = "build-context")]
    pub build_contexts: Vec<String>,
    /// Outputs (`type=oci|docker|local|tar,dest=...[,tar=false]`, or a directory;
    /// `type=docker` without `dest` loads into the docker engine).
    #[arg(short = 'o', long = "output")]
    pub outputs: Vec<String>,
    /// Load the image into the running docker engine (`$DOCKER_HOST`, else
    /// /var/run/docker.sock), tagged with the `-t` names; same as `-o type=docker`.
    #[arg(long)]
    pub load: bool,
    /// Write the image digest to a file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Write build metadata (buildx keys) to a JSON file.
    #[arg(long)]
    pub metadata_file: Option<PathBuf>,
    /// Network for RUN steps: `default` (the host's network), `none` or `host`.
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Secret for `RUN --mount=type=secret` (`id=ID[,src=FILE|,env=VAR]`).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// SSH agent socket for `RUN --mount=type=ssh` (`default` or `ID[=SOCKET]`).
    #[arg(long = "ssh")]
    pub ssh: Vec<String>,
    /// Timestamp for every date in the image (seconds since the epoch; default 0).
    #[arg(long, env = "SOURCE_DATE_EPOCH")]
    pub source_date_epoch: Option<i64>,
    /// Serve the store as a registry on ADDR (a loopback address, e.g. 127.0.0.1:5000)
    /// from before the build starts; after the build, keep serving until Ctrl-C or
    /// SIGTERM, so the result can be pulled at ADDR/<name>:<tag>.
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub serve: Option<SocketAddr>,
    /// Pull base images even when the store has them (the tag is resolved again).
    #[arg(long)]
    pub pull: bool,
    /// Permission bits of files that COPY/ADD take from the build context and local
    /// `--build-context` directories: `preserve` copies them as they are (setuid,
    /// setgid and sticky included), as docker does, so the digest depends on them;
    /// `normalize` makes files 0644 (0755 when any execute bit is set) and directories
    /// 0755, for digests that do not depend on the checkout's umask.
    #[arg(long, value_enum, default_value = "preserve", value_name = "MODE")]
    pub context_modes: ContextModesArg,
    /// Push the image (to each `-t` name) after the gates pass, as `docker build --push`
    /// pushes, but only through `lading gate`'s four gates (nothing leaves otherwise).
    /// Same as `-o type=registry`. Not signed: `lading publish` signs.
    #[arg(long)]
    pub push: bool,
    /// The gates' policy when pushing (see `lading gate --policy`).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The vulnerability database the scan gate uses when pushing [default:
    /// $LADING_VULN_DB, else $XDG_CACHE_HOME/lading/osv].
    #[arg(long, env = "LADING_VULN_DB", value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// Import a build cache (`type=registry,ref=REG/REPO:TAG`, `type=local,src=DIR`, or
    /// a plain image reference); repeatable, asked in order. A missing, partial or
    /// corrupt cache is a miss with a warning.
    #[arg(long = "cache-from", value_name = "SPEC")]
    pub cache_from: Vec<String>,
    /// Export the build cache (`type=registry,ref=REG/REPO:TAG[,mode=min|max]` or
    /// `type=local,dest=DIR[,mode=min|max]`); `mode=max` also exports the steps of
    /// stages the image does not contain.
    #[arg(long = "cache-to", value_name = "SPEC")]
    pub cache_to: Vec<String>,
    /// Registry access for `FROM` images and registry caches.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `lading prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just what can no longer be used.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Amount of disk space to keep for cache (`512MB`, `10GB`, bytes; 1 KB = 1024 B
    /// as docker counts), the most recently used first.
    #[arg(long, value_name = "SIZE")]
    pub keep_storage: Option<String>,
    /// Provide filter values: `until=DURATION|TIMESTAMP` (`24h`, `2026-01-02T15:04:05Z`,
    /// Unix seconds) removes only cache last used before then.
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

/// `lading df`.
#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show each build cache entry and orphan.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `lading images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print digests in full.
    #[arg(long)]
    pub no_trunc: bool,
}

/// `lading inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image: a tag or digest in the store, `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
    /// `docker-archive:FILE`, or `docker://REF` (read from the registry; layers are not
    /// downloaded).
    pub reference: String,
    /// Platform to pick from an index.
    #[arg(long)]
    pub platform: Option<String>,
    /// Print the manifest (or index) exactly as stored or served.
    #[arg(long)]
    pub raw: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `lading sbom` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SbomFormat {
    /// A readable table.
    Table,
    /// lading's own JSON: packages with locations and layers, warnings.
    Json,
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

/// `lading sbom`.
#[derive(Debug, Args)]
pub struct SbomArgs {
    /// Image: a tag or digest in the store, `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
    /// `docker-archive:FILE`.
    pub reference: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: SbomFormat,
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Platform to pick from an index.
    #[arg(long)]
    pub platform: Option<String>,
}

/// `lading db`.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database directory [default: $LADING_VULN_DB, else $XDG_CACHE_HOME/lading/osv].
    #[arg(long, global = true, env = "LADING_VULN_DB")]
    pub db: Option<PathBuf>,
    /// The operation.
    #[command(subcommand)]
    pub command: DbCommand,
}

/// `lading db` operations.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Import OSV records from a directory or a zip (as OSV publishes per ecosystem).
    Import {
        /// Directory of OSV JSON files, or a zip of them.
        path: PathBuf,
    },
    /// Download OSV's per-ecosystem `all.zip` files and import them; on any failure the
    /// previous database is kept.
    Update {
        /// Ecosystems to download (repeatable) [default: Debian, Alpine, PyPI, npm].
        #[arg(long = "ecosystem", value_name = "ECOSYSTEM")]
        ecosystems: Vec<String>,
        /// Base URL of the data (`<URL>/<ECOSYSTEM>/all.zip`).
        #[arg(
            long,
            env = "LADING_OSV_URL",
            default_value = "https://osv-vulnerabilities.storage.googleapis.com"
        )]
        url: String,
    },
    /// Show what the database holds.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Output format of `lading scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// A table.
    Table,
    /// lading's JSON report.
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
    /// The cosign vulnerability attestation predicate.
    CosignVuln,
}

/// `--fail-on` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOnArg {
    /// Low or worse.
    Low,
    /// Medium or worse.
    Medium,
    /// High or worse.
    High,
    /// Critical only.
    Critical,
    /// Any finding.
    Any,
}

/// `lading scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Image: a tag or digest in the store, `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
    /// `docker-archive:FILE`.
    pub reference: String,
    /// Database directory [default: $LADING_VULN_DB, else $XDG_CACHE_HOME/lading/osv].
    #[arg(long, env = "LADING_VULN_DB")]
    pub db: Option<PathBuf>,
    /// Exit 1 when a finding of this severity or worse remains.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOnArg>,
    /// Ignore file (lading JSON or OpenVEX); repeatable.
    #[arg(long = "ignore", value_name = "FILE")]
    pub ignore: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ScanFormat,
    /// Write the report to a file instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Also run this scanner (`trivy`, `grype`, or a path to one); repeatable. Without
    /// it, trivy and grype run when they are on PATH.
    #[arg(long = "external", value_name = "SCANNER")]
    pub external: Vec<String>,
    /// Do not run external scanners.
    #[arg(long, conflicts_with = "external")]
    pub no_external: bool,
    /// Platform to pick from an index.
    #[arg(long)]
    pub platform: Option<String>,
}

/// `lading secrets`.
#[derive(Debug, Args)]
pub struct SecretsArgs {
    /// Image: a tag or digest in the store, `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
    /// `docker-archive:FILE`.
    pub reference: String,
    /// Extra rules in gitleaks' TOML shape (added to the built-in set; a rule with the
    /// same id replaces the built-in one; `[extend] useDefault = false` drops them).
    #[arg(long, visible_alias = "config", value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Platform to pick from an index.
    #[arg(long)]
    pub platform: Option<String>,
    /// Scanner threads (0: one per core, minus the reading thread).
    #[arg(long, default_value_t = 0, hide = true)]
    pub threads: usize,
    /// Output.
    #[command(flatten)]
    pub output: crate::cli::gate::OutputArgs,
}

/// `lading gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Image: a tag or digest in the store, `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
    /// `docker-archive:FILE`.
    pub reference: String,
    /// Policy (TOML): the CIS policy (`allowed_registries`, `[[exemption]]`) plus
    /// optional `[gates] skip = ["scan", ...]`, `[scan] fail_on = "high"` (the default;
    /// any, low, medium, high, critical) and `ignore = ["FILE", ...]`, and
    /// `[secrets] rules = "FILE"` (paths relative to the policy file).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Vulnerability database [default: $LADING_VULN_DB, else $XDG_CACHE_HOME/lading/osv].
    #[arg(long, env = "LADING_VULN_DB")]
    pub db: Option<PathBuf>,
    /// The Dockerfile the image was built from (for the CIS checks on it).
    #[arg(long, value_name = "FILE")]
    pub dockerfile: Option<PathBuf>,
    /// Platform to pick from an index.
    #[arg(long)]
    pub platform: Option<String>,
    /// The date CIS exemptions are judged against (`YYYY-MM-DD`; default: today, UTC).
    #[arg(long, env = "LADING_TODAY", hide = true)]
    pub today: Option<String>,
    /// Output.
    #[command(flatten)]
    pub output: crate::cli::gate::OutputArgs,
}

/// `lading cis`.
#[derive(Debug, Args)]
pub struct CisArgs {
    /// Image: a tag or digest in the store, `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
    /// `docker-archive:FILE`.
    pub reference: String,
    /// The Dockerfile the image was built from (evidence then points at its lines).
    #[arg(long, value_name = "FILE")]
    pub dockerfile: Option<PathBuf>,
    /// Policy (TOML): `allowed_registries` and `[[exemption]]`s with a reason and expiry
    /// (`lading gate`'s sections are accepted and ignored).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Platform to pick from an index.
    #[arg(long)]
    pub platform: Option<String>,
    /// The date exemptions are judged against (`YYYY-MM-DD`; default: today, UTC).
    #[arg(long, env = "LADING_TODAY", hide = true)]
    pub today: Option<String>,
    /// Output.
    #[command(flatten)]
    pub output: crate::cli::gate::OutputArgs,
}
