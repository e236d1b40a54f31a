//! One test per endpoint of distribution-spec v1.1 (end-1 … end-14), each with the error
//! cases the spec names, against a real server on 127.0.0.1 and a real HTTP client.

mod common;

use common::*;
use lading_oci::Digest;
use reqwest::Method;
use serde_json::json;

#[test]
fn end_1_base_answers_200_and_unknown_paths_404() {
    let reg = Reg::start();
    let r = reg.get("/v2/");
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "docker-distribution-api-version"),
        "registry/2.0"
    );
    assert_eq!(reg.get("/v2").status(), 200);
    assert_error(reg.get("/v2/_catalog"), 404, "UNSUPPORTED");
    assert_eq!(reg.get("/v1/").status(), 404);
}

#[test]
fn end_2_blobs_get_head_and_ranges() {
    let reg = Reg::start();
    let bytes = b"0123456789";
    let d = reg.push_blob("a/b", bytes);
    let r = reg.get(&format!("/v2/a/b/blobs/{d}"));
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "docker-content-digest"), d);
    assert_eq!(r.bytes().unwrap().as_ref(), bytes);
    // Blobs are shared by every repository of the store.
    assert_eq!(reg.get(&format!("/v2/other/blobs/{d}")).status(), 200);

    let r = reg.head(&format!("/v2/a/b/blobs/{d}"));
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length"), "10");
    assert_eq!(header(&r, "docker-content-digest"), d);
    assert!(r.bytes().unwrap().is_empty());

    let ranged = |range: &str| {
        reg.req(Method::GET, &format!("/v2/a/b/blobs/{d}"))
            .header("range", range)
            .send()
            .unwrap()
    };
    let r = ranged("bytes=2-5");
    assert_eq!(r.status(), 206);
    assert_eq!(header(&r, "content-range"), "bytes 2-5/10");
    assert_eq!(r.bytes().unwrap().as_ref(), b"2345");
    let r = ranged("bytes=7-");
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().unwrap().as_ref(), b"789");
    let r = ranged("bytes=-2");
    assert_eq!(r.bytes().unwrap().as_ref(), b"89");
    let r = ranged("bytes=10-");
    assert_eq!(r.status(), 416);
    assert_eq!(header(&r, "content-range"), "bytes */10");

    let missing = Digest::of(b"missing");
    assert_error(
        reg.get(&format!("/v2/a/b/blobs/{missing}")),
        404,
        "BLOB_UNKNOWN",
    );
    assert_eq!(reg.head(&format!("/v2/a/b/blobs/{missing}")).status(), 404);
    assert_error(reg.get("/v2/a/b/blobs/sha256:abc"), 400, "DIGEST_INVALID");
    assert_error(reg.get(&format!("/v2/A/blobs/{d}")), 400, "NAME_INVALID");
    assert_error(reg.get(&format!("/v2/a//b/blobs/{d}")), 400, "NAME_INVALID");
}

#[test]
fn end_3_manifests_by_tag_and_digest() {
    let reg = Reg::start();
    let (bytes, d) = reg.push_image("app", "v1", "one");
    for reference in ["v1", d.as_str()] {
        let r = reg.get(&format!("/v2/app/manifests/{reference}"));
        assert_eq!(r.status(), 200, "{reference}");
        assert_eq!(header(&r, "content-type"), OCI_MANIFEST);
        assert_eq!(header(&r, "docker-content-digest"), d);
        assert_eq!(r.bytes().unwrap().as_ref(), bytes.as_slice());
        let r = reg.head(&format!("/v2/app/manifests/{reference}"));
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-length"), bytes.len().to_string());
        assert_eq!(header(&r, "docker-content-digest"), d);
    }
    assert_error(reg.get("/v2/app/manifests/v2"), 404, "MANIFEST_UNKNOWN");
    assert_error(
        reg.get(&format!("/v2/app/manifests/{}", Digest::of(b"x"))),
        404,
        "MANIFEST_UNKNOWN",
    );
    assert_eq!(reg.head("/v2/app/manifests/v2").status(), 404);
    // Manifests belong to repositories.
    assert_error(
        reg.get(&format!("/v2/nope/manifests/{d}")),
        404,
        "NAME_UNKNOWN",
    );
    reg.push_image("other", "v1", "two");
    assert_error(
        reg.get(&format!("/v2/other/manifests/{d}")),
        404,
        "MANIFEST_UNKNOWN",
    );
    assert_error(reg.get("/v2/app/manifests/-bad"), 404, "MANIFEST_UNKNOWN");
    assert_error(reg.get("/v2/APP/manifests/v1"), 400, "NAME_INVALID");
}

/// A platform manifest is reachable by digest through the index that lists it.
#[test]
fn end_3_index_children_are_visible_by_digest() {
    let reg = Reg::start();
    let (child, cd) = reg.push_image("multi", "tmp", "child");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": cd, "size": child.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    });
    let ib = serde_json::to_vec(&index).unwrap();
    assert_eq!(
        reg.put_manifest("multi", "latest", OCI_INDEX, &ib).status(),
        201
    );
    // Deleting its tag leaves the child in the repository, untagged; deleting that entry
    // leaves it reachable only through the index, which then protects it.
    assert_eq!(reg.delete("/v2/multi/manifests/tmp").status(), 202);
    assert_eq!(
        reg.delete(&format!("/v2/multi/manifests/{cd}")).status(),
        202
    );
    assert_error(
        reg.delete(&format!("/v2/multi/manifests/{cd}")),
        405,
        "UNSUPPORTED",
    );
    let r = reg.get("/v2/multi/manifests/latest");
    assert_eq!(header(&r, "content-type"), OCI_INDEX);
    let r = reg.get(&format!("/v2/multi/manifests/{cd}"));
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), OCI_MANIFEST);
}

#[test]
fn end_4a_post_starts_a_session_and_4b_single_post_uploads() {
    let reg = Reg::start();
    let r = reg
        .req(Method::POST, "/v2/r/blobs/uploads/")
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = header(&r, "location");
    assert!(location.starts_with("/v2/r/blobs/uploads/"), "{location}");
    assert_eq!(header(&r, "range"), "0-0");
    assert!(!header(&r, "blob-upload-session-id").is_empty());
    assert!(!header(&r, "docker-upload-uuid").is_empty());

    // end-4b
    let bytes = b"monolithic".to_vec();
    let d = Digest::of(&bytes);
    let r = reg
        .req(Method::POST, &format!("/v2/r/blobs/uploads/?digest={d}"))
        .body(bytes.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "location"), format!("/v2/r/blobs/{d}"));
    assert_eq!(header(&r, "docker-content-digest"), d.to_string());
    assert_eq!(reg.get(&format!("/v2/r/blobs/{d}")).bytes().unwrap(), bytes);

    // Wrong digest: refused, nothing visible, no session left behind.
    let wrong = Digest::of(b"something else");
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/r/blobs/uploads/?digest={wrong}"),
        )
        .body(b"mismatch".to_vec())
        .send()
        .unwrap();
    assert_error(r, 400, "DIGEST_INVALID");
    assert_eq!(reg.head(&format!("/v2/r/blobs/{wrong}")).status(), 404);
    assert_eq!(
        reg.head(&format!("/v2/r/blobs/{}", Digest::of(b"mismatch")))
            .status(),
        404
    );
    let r = reg
        .req(Method::POST, "/v2/r/blobs/uploads/?digest=sha256:nothex")
        .body(b"x".to_vec())
        .send()
        .unwrap();
    assert_error(r, 400, "DIGEST_INVALID");
    let r = reg
        .req(Method::POST, "/v2/R/blobs/uploads/")
        .send()
        .unwrap();
    assert_error(r, 400, "NAME_INVALID");
    // Only the one open session of this test remains on disk.
    assert_eq!(reg.store().uploads().unwrap().len(), 1);
}

fn start_session(reg: &Reg, repo: &str) -> String {
    let r = reg
        .req(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    header(&r, "location")
}

fn patch(
    reg: &Reg,
    location: &str,
    range: Option<&str>,
    body: &[u8],
) -> reqwest::blocking::Response {
    let mut req = reg
        .req(Method::PATCH, location)
        .header("content-type", "application/octet-stream")
        .body(body.to_vec());
    if let Some(r) = range {
        req = req.header("content-range", r);
    }
    req.send().unwrap()
}

#[test]
fn end_5_chunks_in_order_and_416_out_of_order() {
    let reg = Reg::start();
    let loc = start_session(&reg, "r");
    let r = patch(&reg, &loc, Some("0-4"), b"01234");
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range"), "0-4");
    let loc = header(&r, "location");
    // Out of order: a gap, an overlap.
    for range in ["6-9", "3-7"] {
        let r = patch(&reg, &loc, Some(range), &b"abcdefghij"[..range_len(range)]);
        assert_eq!(r.status(), 416, "{range}");
        assert_eq!(header(&r, "range"), "0-4");
        assert_eq!(header(&r, "location"), loc);
    }
    // A Content-Range that does not match the body's length, or does not parse.
    assert_eq!(patch(&reg, &loc, Some("5-9"), b"56").status(), 416);
    assert_eq!(patch(&reg, &loc, Some("five-nine"), b"56789").status(), 416);
    // Without Content-Range the body is appended (streamed upload).
    let r = patch(&reg, &loc, None, b"56");
    assert_eq!(header(&r, "range"), "0-6");
    let r = patch(&reg, &loc, Some("7-9"), b"789");
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range"), "0-9");
    let d = Digest::of(b"0123456789");
    assert_eq!(
        reg.head(&format!("/v2/r/blobs/{d}")).status(),
        404,
        "visible before PUT"
    );

    let unknown = "/v2/r/blobs/uploads/00000000-0000-4000-8000-000000000000";
    assert_error(patch(&reg, unknown, None, b"x"), 404, "BLOB_UPLOAD_UNKNOWN");
    assert_error(
        patch(&reg, "/v2/r/blobs/uploads/not-a-uuid", None, b"x"),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    // A session belongs to the repository it was started in.
    let elsewhere = loc.replace("/v2/r/", "/v2/s/");
    assert_error(
        patch(&reg, &elsewhere, None, b"x"),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
}

fn range_len(range: &str) -> usize {
    let (a, b) = range.split_once('-').unwrap();
    b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1
}

#[test]
fn end_6_put_closes_a_session_with_its_digest() {
    let reg = Reg::start();
    // Chunks, then the last one in the PUT.
    let loc = start_session(&reg, "r");
    patch(&reg, &loc, Some("0-2"), b"abc");
    let d = Digest::of(b"abcdef");
    let r = reg
        .req(Method::PUT, &format!("{loc}?digest={d}"))
        .header("content-range", "3-5")
        .body(b"def".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "location"), format!("/v2/r/blobs/{d}"));
    assert_eq!(header(&r, "docker-content-digest"), d.to_string());
    assert_eq!(
        reg.get(&format!("/v2/r/blobs/{d}"))
            .bytes()
            .unwrap()
            .as_ref(),
        b"abcdef"
    );
    assert_error(reg.get(&loc), 404, "BLOB_UPLOAD_UNKNOWN");

    // POST then a monolithic PUT.
    let loc = start_session(&reg, "r");
    let d = Digest::of(b"whole");
    let r = reg
        .req(Method::PUT, &format!("{loc}?digest={d}"))
        .body(b"whole".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);

    // No digest, a malformed one, a wrong one.
    let loc = start_session(&reg, "r");
    patch(&reg, &loc, None, b"data");
    assert_error(
        reg.req(Method::PUT, &loc).send().unwrap(),
        400,
        "DIGEST_INVALID",
    );
    assert_error(
        reg.req(Method::PUT, &format!("{loc}?digest=md5:abc"))
            .send()
            .unwrap(),
        400,
        "DIGEST_INVALID",
    );
    let wrong = Digest::of(b"datum");
    let r = reg
        .req(Method::PUT, &format!("{loc}?digest={wrong}"))
        .send()
        .unwrap();
    assert_error(r, 400, "DIGEST_INVALID");
    assert_eq!(reg.head(&format!("/v2/r/blobs/{wrong}")).status(), 404);
    assert_eq!(
        reg.head(&format!("/v2/r/blobs/{}", Digest::of(b"data")))
            .status(),
        404
    );
    // A failed upload is over.
    assert_error(reg.get(&loc), 404, "BLOB_UPLOAD_UNKNOWN");
    let r = reg
        .req(Method::PUT, &format!("{loc}?digest={wrong}"))
        .send()
        .unwrap();
    assert_error(r, 404, "BLOB_UPLOAD_UNKNOWN");
    // A truncated final chunk (body shorter than its Content-Range) is refused.
    let loc = start_session(&reg, "r");
    let r = reg
        .req(
            Method::PUT,
            &format!("{loc}?digest={}", Digest::of(b"0123")),
        )
        .header("content-range", "0-3")
        .body(b"01".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 416);
}

#[test]
fn end_7_put_manifest_checks_and_answers() {
    let reg = Reg::start();
    let (subject, sd) = reg.push_image("r", "base", "s");
    let _ = subject;
    let empty = reg.push_blob("r", b"{}");
    let layer = reg.push_blob("r", b"sbom");
    let artifact = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/json", "digest": layer, "size": 4}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": sd, "size": 1},
    });
    let bytes = serde_json::to_vec(&artifact).unwrap();
    let ad = Digest::of(&bytes);
    let r = reg.put_manifest("r", &ad.to_string(), OCI_MANIFEST, &bytes);
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "location"), format!("/v2/r/manifests/{ad}"));
    assert_eq!(header(&r, "docker-content-digest"), ad.to_string());
    assert_eq!(header(&r, "oci-subject"), sd);
    // A subject that does not exist (yet) is fine.
    let mut dangling = artifact.clone();
    dangling["subject"]["digest"] = json!(Digest::of(b"future").to_string());
    let r = reg.put_manifest(
        "r",
        "dangling",
        OCI_MANIFEST,
        &serde_json::to_vec(&dangling).unwrap(),
    );
    assert_eq!(r.status(), 201);

    // Missing blobs, each named.
    let missing = Digest::of(b"not pushed").to_string();
    let mut bad = artifact.clone();
    bad["layers"][0]["digest"] = json!(missing);
    bad["config"]["digest"] = json!(Digest::of(b"no config").to_string());
    let r = reg.put_manifest("r", "bad", OCI_MANIFEST, &serde_json::to_vec(&bad).unwrap());
    assert_eq!(r.status(), 400);
    assert_eq!(codes(r), ["MANIFEST_BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"]);
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": missing, "size": 1}]});
    let r = reg.put_manifest("r", "idx", OCI_INDEX, &serde_json::to_vec(&index).unwrap());
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN");
    assert_error(reg.get("/v2/r/manifests/bad"), 404, "MANIFEST_UNKNOWN");

    // Unknown media types, wrong mediaType, not JSON, not a manifest.
    for (ct, body) in [
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            bytes.clone(),
        ),
        ("application/json", bytes.clone()),
        (OCI_INDEX, bytes.clone()),
        (OCI_MANIFEST, b"not json".to_vec()),
        (OCI_MANIFEST, b"{\"schemaVersion\":2}".to_vec()),
        (
            OCI_MANIFEST,
            b"{\"schemaVersion\":1,\"config\":{}}".to_vec(),
        ),
    ] {
        let r = reg.put_manifest("r", "x", ct, &body);
        assert_error(r, 400, "MANIFEST_INVALID");
    }
    // Wrong digest reference, invalid tag, invalid name.
    let r = reg.put_manifest("r", &Digest::of(b"x").to_string(), OCI_MANIFEST, &bytes);
    assert_error(r, 400, "DIGEST_INVALID");
    assert_error(
        reg.put_manifest("r", "-tag", OCI_MANIFEST, &bytes),
        400,
        "MANIFEST_INVALID",
    );
    assert_error(
        reg.put_manifest("R", "t", OCI_MANIFEST, &bytes),
        400,
        "NAME_INVALID",
    );

    // Docker media types are accepted and served back as pushed.
    let cfg = reg.push_blob("d", br#"{"architecture":"amd64","os":"linux"}"#);
    let docker = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cfg, "size": 37},
        "layers": [],
    });
    let db = serde_json::to_vec(&docker).unwrap();
    assert_eq!(
        reg.put_manifest("d", "1", DOCKER_MANIFEST, &db).status(),
        201
    );
    let r = reg.get("/v2/d/manifests/1");
    assert_eq!(header(&r, "content-type"), DOCKER_MANIFEST);
    assert_eq!(r.bytes().unwrap().as_ref(), db.as_slice());
}

#[test]
fn end_7_oversized_manifests_get_413() {
    let reg = Reg::start_with(
        lading_registry::Limits {
            max_manifest: 1024,
            max_blob: 64,
        },
        Default::default(),
    );
    let big = format!(r#"{{"schemaVersion":2,"pad":"{}"}}"#, "x".repeat(2000));
    assert_error(
        reg.put_manifest("r", "t", OCI_MANIFEST, big.as_bytes()),
        413,
        "SIZE_INVALID",
    );
    // The default limit is 4 MiB.
    let reg = Reg::start();
    let huge = format!(r#"{{"schemaVersion":2,"pad":"{}"}}"#, "x".repeat(4 << 20));
    assert_error(
        reg.put_manifest("r", "t", OCI_MANIFEST, huge.as_bytes()),
        413,
        "SIZE_INVALID",
    );
}

#[test]
fn uploads_over_the_blob_limit_get_413() {
    let reg = Reg::start_with(
        lading_registry::Limits {
            max_manifest: 1024,
            max_blob: 64,
        },
        Default::default(),
    );
    let big = vec![7u8; 100];
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/r/blobs/uploads/?digest={}", Digest::of(&big)),
        )
        .body(big.clone())
        .send()
        .unwrap();
    assert_error(r, 413, "SIZE_INVALID");
    let loc = start_session(&reg, "r");
    assert_eq!(patch(&reg, &loc, None, &big[..60]).status(), 202);
    assert_error(patch(&reg, &loc, None, &big[..10]), 413, "SIZE_INVALID");
    // The refused chunk left nothing behind.
    assert_eq!(header(&reg.get(&loc), "range"), "0-59");
}

#[test]
fn end_8_tags_list_with_pagination() {
    let reg = Reg::start();
    for t in ["b", "a", "C", "c", "1.0"] {
        reg.push_image("r/t", t, "same");
    }
    let all = json_body(reg.get("/v2/r/t/tags/list"));
    assert_eq!(
        all,
        json!({"name": "r/t", "tags": ["1.0", "C", "a", "b", "c"]})
    );
    let r = reg.get("/v2/r/t/tags/list?n=2");
    assert_eq!(
        header(&r, "link"),
        "</v2/r/t/tags/list?n=2&last=C>; rel=\"next\""
    );
    assert_eq!(json_body(r)["tags"], json!(["1.0", "C"]));
    let r = reg.get("/v2/r/t/tags/list?n=2&last=C");
    assert_eq!(
        header(&r, "link"),
        "</v2/r/t/tags/list?n=2&last=b>; rel=\"next\""
    );
    assert_eq!(json_body(r)["tags"], json!(["a", "b"]));
    let r = reg.get("/v2/r/t/tags/list?n=2&last=b");
    assert_eq!(header(&r, "link"), "");
    assert_eq!(json_body(r)["tags"], json!(["c"]));
    let r = reg.get("/v2/r/t/tags/list?last=a");
    assert_eq!(json_body(r)["tags"], json!(["b", "c"]));
    let r = reg.get("/v2/r/t/tags/list?n=0");
    assert_eq!(header(&r, "link"), "");
    assert_eq!(json_body(r)["tags"], json!([]));
    assert_eq!(
        json_body(reg.get("/v2/r/t/tags/list?n=10"))["tags"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_error(reg.get("/v2/nope/tags/list"), 404, "NAME_UNKNOWN");
    assert_error(reg.get("/v2/r/t/tags/list?n=-1"), 400, "UNSUPPORTED");
    assert_error(reg.get("/v2/R/tags/list"), 400, "NAME_INVALID");
}

#[test]
fn end_9_delete_tags_and_manifests() {
    let reg = Reg::start();
    let (_, d) = reg.push_image("r", "v1", "one");
    assert_eq!(
        reg.put_manifest(
            "r",
            "v2",
            OCI_MANIFEST,
            &reg.get("/v2/r/manifests/v1").bytes().unwrap()
        )
        .status(),
        201
    );
    // Deleting a tag keeps the manifest and its other tags.
    assert_eq!(reg.delete("/v2/r/manifests/v1").status(), 202);
    assert_error(reg.get("/v2/r/manifests/v1"), 404, "MANIFEST_UNKNOWN");
    assert_eq!(reg.get(&format!("/v2/r/manifests/{d}")).status(), 200);
    assert_error(reg.delete("/v2/r/manifests/v1"), 404, "MANIFEST_UNKNOWN");
    // Deleting by digest takes every tag with it.
    assert_eq!(reg.delete(&format!("/v2/r/manifests/{d}")).status(), 202);
    assert_error(
        reg.get(&format!("/v2/r/manifests/{d}")),
        404,
        "NAME_UNKNOWN",
    );
    reg.push_image("r", "other", "two");
    assert_error(reg.get("/v2/r/manifests/v2"), 404, "MANIFEST_UNKNOWN");
    assert_error(
        reg.delete(&format!("/v2/r/manifests/{d}")),
        404,
        "MANIFEST_UNKNOWN",
    );
    assert_error(reg.delete("/v2/nope/manifests/v1"), 404, "NAME_UNKNOWN");
    assert_error(reg.delete("/v2/R/manifests/v1"), 400, "NAME_INVALID");
    // The blob stays in the store (other repositories and the builder may use it).
    assert_eq!(reg.head(&format!("/v2/r/blobs/{d}")).status(), 200);
}

#[test]
fn end_10_delete_blobs_not_in_use() {
    let reg = Reg::start();
    let (bytes, d) = reg.push_image("r", "v1", "one");
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap().to_string();
    assert_error(
        reg.delete(&format!("/v2/r/blobs/{layer}")),
        405,
        "UNSUPPORTED",
    );
    assert_error(reg.delete(&format!("/v2/r/blobs/{d}")), 405, "UNSUPPORTED");
    assert_eq!(reg.delete(&format!("/v2/r/manifests/{d}")).status(), 202);
    assert_eq!(reg.delete(&format!("/v2/r/blobs/{layer}")).status(), 202);
    assert_eq!(reg.head(&format!("/v2/r/blobs/{layer}")).status(), 404);
    assert_error(
        reg.delete(&format!("/v2/r/blobs/{layer}")),
        404,
        "BLOB_UNKNOWN",
    );
    assert_error(reg.delete("/v2/r/blobs/sha256:12"), 400, "DIGEST_INVALID");
    let lone = reg.push_blob("r", b"lonely");
    assert_eq!(reg.delete(&format!("/v2/r/blobs/{lone}")).status(), 202);
    assert!(reg.store().check().unwrap().is_empty());
}

#[test]
fn end_11_mount_from_another_repository() {
    let reg = Reg::start();
    let d = reg.push_blob("src", b"shared layer");
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/dst/blobs/uploads/?mount={d}&from=src"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "location"), format!("/v2/dst/blobs/{d}"));
    assert_eq!(header(&r, "docker-content-digest"), d);
    // Unknown blob, invalid digest or source: fall back to an upload session.
    let missing = Digest::of(b"not here");
    for q in [
        format!("mount={missing}&from=src"),
        "mount=sha256:zz&from=src".to_string(),
        format!("mount={d}&from=Bad"),
    ] {
        let r = reg
            .req(Method::POST, &format!("/v2/dst/blobs/uploads/?{q}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 202, "{q}");
        assert!(header(&r, "location").starts_with("/v2/dst/blobs/uploads/"));
    }
    assert_error(
        reg.req(
            Method::POST,
            &format!("/v2/Dst/blobs/uploads/?mount={d}&from=src"),
        )
        .send()
        .unwrap(),
        400,
        "NAME_INVALID",
    );
}

#[test]
fn end_12_referrers_with_artifact_type_filter() {
    let reg = Reg::start();
    let (_, sd) = reg.push_image("r", "base", "subject");
    let empty = reg.push_blob("r", b"{}");
    let push_artifact = |repo: &str, artifact_type: Option<&str>, note: &str| -> String {
        let layer = reg.push_blob(repo, note.as_bytes());
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.example.config", "digest": empty, "size": 2},
            "layers": [{"mediaType": "text/plain", "digest": layer, "size": note.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": sd, "size": 1},
            "annotations": {"note": note},
        });
        if let Some(t) = artifact_type {
            m["artifactType"] = json!(t);
        }
        let bytes = serde_json::to_vec(&m).unwrap();
        let d = Digest::of(&bytes).to_string();
        assert_eq!(
            reg.put_manifest(repo, &d, OCI_MANIFEST, &bytes).status(),
            201
        );
        d
    };
    let sbom = push_artifact("r", Some("application/vnd.example.sbom"), "sbom");
    let sig = push_artifact("r", None, "sig");
    push_artifact(
        "elsewhere",
        Some("application/vnd.example.sbom"),
        "other repo",
    );
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": sd, "size": 1}});
    let ib = serde_json::to_vec(&index).unwrap();
    let id = Digest::of(&ib).to_string();
    assert_eq!(reg.put_manifest("r", &id, OCI_INDEX, &ib).status(), 201);

    let r = reg.get(&format!("/v2/r/referrers/{sd}"));
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), OCI_INDEX);
    assert_eq!(header(&r, "oci-filters-applied"), "");
    let body = json_body(r);
    assert_eq!(body["schemaVersion"], 2);
    assert_eq!(body["mediaType"], OCI_INDEX);
    let list = body["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{body}");
    let by = |d: &str| list.iter().find(|m| m["digest"] == d).unwrap().clone();
    assert_eq!(by(&sbom)["artifactType"], "application/vnd.example.sbom");
    assert_eq!(by(&sbom)["annotations"]["note"], "sbom");
    assert_eq!(by(&sbom)["mediaType"], OCI_MANIFEST);
    // Without artifactType, an image manifest's config media type stands in; an index has none.
    assert_eq!(by(&sig)["artifactType"], "application/vnd.example.config");
    assert!(by(&id).get("artifactType").is_none());

    let r = reg.get(&format!(
        "/v2/r/referrers/{sd}?artifactType=application%2Fvnd.example.sbom"
    ));
    assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
    let body = json_body(r);
    assert_eq!(body["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(body["manifests"][0]["digest"], sbom);

    // No referrers, or no repository: an empty list, never 404.
    let none = Digest::of(b"nothing refers to me");
    let r = reg.get(&format!("/v2/r/referrers/{none}"));
    assert_eq!(r.status(), 200);
    assert_eq!(json_body(r)["manifests"], json!([]));
    assert_eq!(reg.get(&format!("/v2/nope/referrers/{sd}")).status(), 200);
    assert_error(reg.get("/v2/r/referrers/sha256:zz"), 400, "DIGEST_INVALID");
    assert_error(
        reg.get(&format!("/v2/R/referrers/{sd}")),
        400,
        "NAME_INVALID",
    );
    // Deleting a referrer removes it from the list.
    assert_eq!(reg.delete(&format!("/v2/r/manifests/{sig}")).status(), 202);
    let body = json_body(reg.get(&format!("/v2/r/referrers/{sd}")));
    assert_eq!(body["manifests"].as_array().unwrap().len(), 2);
}

#[test]
fn end_13_upload_status_and_end_14_cancel() {
    let reg = Reg::start();
    let loc = start_session(&reg, "r");
    let r = reg.get(&loc);
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "location"), loc);
    assert_eq!(header(&r, "range"), "0-0");
    patch(&reg, &loc, Some("0-4"), b"hello");
    let r = reg.get(&loc);
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "range"), "0-4");
    assert_error(
        reg.get("/v2/r/blobs/uploads/00000000-0000-4000-8000-000000000000"),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    assert_error(
        reg.get(&loc.replace("/v2/r/", "/v2/q/")),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    // end-14
    assert_eq!(reg.delete(&loc).status(), 204);
    assert_error(reg.get(&loc), 404, "BLOB_UPLOAD_UNKNOWN");
    assert_error(reg.delete(&loc), 404, "BLOB_UPLOAD_UNKNOWN");
    assert!(reg.store().uploads().unwrap().is_empty());
}

#[test]
fn methods_an_endpoint_does_not_have_get_405() {
    let reg = Reg::start();
    assert_error(
        reg.req(Method::POST, "/v2/r/tags/list").send().unwrap(),
        405,
        "UNSUPPORTED",
    );
    assert_error(
        reg.req(Method::PATCH, "/v2/r/manifests/x").send().unwrap(),
        405,
        "UNSUPPORTED",
    );
}
