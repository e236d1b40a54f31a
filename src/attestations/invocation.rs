//! Who ran a build and which run it was: `runDetails.builder.id` and
//! `runDetails.metadata.invocationId` of the provenance.
//!
//! In GitHub Actions the builder is the workflow (`$GITHUB_SERVER_URL/$GITHUB_WORKFLOW_REF`,
//! as GitHub's own artifact attestations name it) and the invocation is the run attempt
//! (`$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID/attempts/$GITHUB_RUN_ATTEMPT`).
//! Elsewhere the builder is [`LOCAL_BUILDER_ID`] and the invocation a random UUID URN.

/// `builder.id` of a build outside GitHub Actions.
pub const LOCAL_BUILDER_ID: &str = "https://lading.dev/builder/local";

/// `builder.id` and `invocationId` for a build whose environment `env` reads.
pub fn identify(env: impl Fn(&str) -> Option<String>) -> (String, String) {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let builder = match (var("GITHUB_SERVER_URL"), var("GITHUB_WORKFLOW_REF")) {
        (Some(server), Some(workflow)) => format!("{}/{workflow}", server.trim_end_matches('/')),
        _ => LOCAL_BUILDER_ID.to_string(),
    };
    let run = (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
        var("GITHUB_RUN_ATTEMPT"),
    );
    let invocation = match run {
        (Some(server), Some(repo), Some(id), Some(attempt)) => format!(
            "{}/{repo}/actions/runs/{id}/attempts/{attempt}",
            server.trim_end_matches('/')
        ),
        // AWS-LC's generator does not fail in practice; if it did, the id says so
        // rather than pretending to be unique.
        _ => match lading_oci::crypto::random_uuid("an invocation id") {
            Ok(id) => format!("urn:uuid:{id}"),
            Err(_) => "urn:lading:invocation-id-unavailable".to_string(),
        },
    };
    (builder, invocation)
}

/// Now, as RFC 3339 UTC with second precision.
pub fn now_rfc3339() -> String {
    lading_oci::spec::rfc3339(crate::cli::commands::db::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_actions_names_the_workflow_and_the_run_attempt() {
        let env = |k: &str| {
            Some(
                match k {
                    "GITHUB_SERVER_URL" => "https://github.com",
                    "GITHUB_WORKFLOW_REF" => "o/r/.github/workflows/build.yml@refs/heads/main",
                    "GITHUB_REPOSITORY" => "o/r",
                    "GITHUB_RUN_ID" => "42",
                    "GITHUB_RUN_ATTEMPT" => "2",
                    _ => return None,
                }
                .to_string(),
            )
        };
        assert_eq!(
            identify(env),
            (
                "https://github.com/o/r/.github/workflows/build.yml@refs/heads/main".into(),
                "https://github.com/o/r/actions/runs/42/attempts/2".into()
            )
        );
    }

    #[test]
    fn local_builds_get_the_local_builder_and_a_fresh_uuid() {
        let (builder, first) = identify(|_| None);
        let (_, second) = identify(|_| None);
        assert_eq!(builder, LOCAL_BUILDER_ID);
        assert!(
            first.starts_with("urn:uuid:") && first.len() == 45,
            "{first}"
        );
        assert_ne!(first, second);
        // A workflow ref without a server URL is not a GitHub run.
        let (builder, _) = identify(|k| (k == "GITHUB_WORKFLOW_REF").then(|| "w".to_string()));
        assert_eq!(builder, LOCAL_BUILDER_ID);
    }
}
