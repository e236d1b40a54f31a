//! Registry repositories over the store's `index.json` (distribution-spec v1.1 names and
//! tags, image-spec "Image Layout" `org.opencontainers.image.ref.name`).
//!
//! The mapping is the one a person reading `index.json` would guess:
//!
//! - a tag `T` in repository `R` is an entry whose `org.opencontainers.image.ref.name` is
//!   `R:T` (so `lading build -t foo:1` is tag `1` of repository `foo`, and
//!   `docker.io/library/foo:1` is tag `1` of repository `docker.io/library/foo`);
//! - a manifest pushed to `R` by digest only is an untagged entry carrying the annotation
//!   [`ANNOTATION_REPOSITORY`] = `R`, so it stays reachable (nothing in the layout is
//!   garbage) and remembers where it was pushed;
//! - a repository exists while at least one entry belongs to it.
//!
//! Each `(repository, digest)` pair has either tagged entries or one untagged entry: moving
//! or deleting a repository's last tag of a manifest leaves the manifest in the repository,
//! untagged, as a registry keeps a manifest after its tag moves. Only
//! [`Store::remove_from_repository`] (a registry `DELETE` by digest) drops it.
//!
//! Reference names that are not `<valid repository>:<valid tag>` (a host with a port,
//! upper case letters) are left alone and belong to no repository.

use crate::constants::{ANNOTATION_REF_NAME, ANNOTATION_REPOSITORY};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::spec::Descriptor;
use crate::store::Store;

/// Longest repository name accepted (clients limit host plus name to 255 characters).
pub const MAX_NAME_LEN: usize = 255;

/// Checks a repository name against the distribution-spec grammar
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("longer than 255 characters");
    }
    for component in name.split('/') {
        if let Err(reason) = check_component(component) {
            return bad(reason);
        }
    }
    Ok(())
}

/// One path component: alphanumeric runs joined by `.`, `_`, `__` or `-+`.
fn check_component(c: &str) -> std::result::Result<(), &'static str> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if bytes.is_empty() {
        return Err("empty path component");
    }
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err("a path component must start and end with [a-z0-9]");
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        match &c[start..i] {
            "." | "_" | "__" => {}
            sep if sep.bytes().all(|b| b == b'-') => {}
            sep if sep.bytes().all(|b| b == b'.' || b == b'_' || b == b'-') => {
                return Err("separators are '.', '_', '__' or dashes, one kind at a time");
            }
            _ => return Err("only [a-z0-9], '.', '_', '-' and '/' are allowed"),
        }
    }
    Ok(())
}

/// Checks a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && word(tag.as_bytes()[0])
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidTag {
            tag: tag.to_string(),
        })
    }
}

/// Splits a reference name `repository:tag` when both halves are valid.
pub fn split_ref_name(name: &str) -> Option<(&str, &str)> {
    let (repo, tag) = name.rsplit_once(':')?;
    if tag.contains('/') {
        return None;
    }
    validate_name(repo).ok()?;
    validate_tag(tag).ok()?;
    Some((repo, tag))
}

/// The repository an `index.json` entry belongs to, and its tag when it has one.
pub fn entry_repository(d: &Descriptor) -> Option<(&str, Option<&str>)> {
    if let Some(name) = d.annotations.get(ANNOTATION_REF_NAME) {
        return split_ref_name(name).map(|(r, t)| (r, Some(t)));
    }
    let repo = d.annotations.get(ANNOTATION_REPOSITORY)?;
    validate_name(repo).ok()?;
    Some((repo.as_str(), None))
}

fn in_repo(d: &Descriptor, repo: &str) -> bool {
    entry_repository(d).is_some_and(|(r, _)| r == repo)
}

fn untagged(repo: &str, desc: &Descriptor) -> Descriptor {
    let mut d = desc.clone();
    d.annotations.remove(ANNOTATION_REF_NAME);
    d.annotations
        .insert(ANNOTATION_REPOSITORY.to_string(), repo.to_string());
    d
}

impl Store {
    /// Every repository with at least one entry, sorted.
    pub fn repositories(&self) -> Result<Vec<String>> {
        let mut repos: Vec<String> = self
            .index()?
            .manifests
            .iter()
            .filter_map(|d| entry_repository(d).map(|(r, _)| r.to_string()))
            .collect();
        repos.sort();
        repos.dedup();
        Ok(repos)
    }

    /// The entries of a repository: `(tag, descriptor)`, untagged ones with `None`.
    /// Empty when the repository does not exist.
    pub fn repository_entries(&self, repo: &str) -> Result<Vec<(Option<String>, Descriptor)>> {
        Ok(self
            .index()?
            .manifests
            .into_iter()
            .filter_map(|d| {
                let (r, tag) = entry_repository(&d)?;
                let tag = tag.map(str::to_string);
                (r == repo).then_some((tag, d))
            })
            .collect())
    }

    /// A repository's tags, sorted bytewise (Go's `sort.Strings`).
    pub fn repository_tags(&self, repo: &str) -> Result<Vec<(String, Descriptor)>> {
        let mut tags: Vec<(String, Descriptor)> = self
            .repository_entries(repo)?
            .into_iter()
            .filter_map(|(t, d)| t.map(|t| (t, d)))
            .collect();
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(tags)
    }

    /// Points tag `tag` of `repo` at `desc`. A manifest the tag pointed at before stays in
    /// the repository, untagged, unless another of its tags still points at it.
    pub fn tag_in_repository(&self, repo: &str, tag: &str, desc: &Descriptor) -> Result<()> {
        validate_name(repo)?;
        validate_tag(tag)?;
        let name = format!("{repo}:{tag}");
        self.update_index_with(|index| {
            let old = index
                .manifests
                .iter()
                .position(|d| d.annotations.get(ANNOTATION_REF_NAME) == Some(&name))
                .map(|i| index.manifests.remove(i));
            // The new digest is reachable through the tag now.
            index.manifests.retain(|d| {
                !(d.digest == desc.digest
                    && !d.annotations.contains_key(ANNOTATION_REF_NAME)
                    && d.annotations.get(ANNOTATION_REPOSITORY).map(String::as_str) == Some(repo))
            });
            let mut d = desc.clone();
            d.annotations.remove(ANNOTATION_REPOSITORY);
            d.annotations.insert(ANNOTATION_REF_NAME.to_string(), name);
            index.manifests.push(d);
            if let Some(old) = old {
                keep_untagged(&mut index.manifests, repo, &old);
            }
            ((), true)
        })
    }

    /// Makes a manifest part of `repo` without a tag (a push by digest), unless the
    /// repository already has it.
    pub fn add_to_repository(&self, repo: &str, desc: &Descriptor) -> Result<()> {
        validate_name(repo)?;
        self.update_index_with(|index| {
            if index
                .manifests
                .iter()
                .any(|d| d.digest == desc.digest && in_repo(d, repo))
            {
                return ((), false);
            }
            index.manifests.push(untagged(repo, desc));
            ((), true)
        })
    }

    /// Removes tag `tag` from `repo`; the manifest stays in the repository, untagged.
    /// Returns what the tag pointed at, `None` when there was no such tag.
    pub fn untag_in_repository(&self, repo: &str, tag: &str) -> Result<Option<Descriptor>> {
        let name = format!("{repo}:{tag}");
        self.update_index_with(|index| {
            let Some(i) = index
                .manifests
                .iter()
                .position(|d| d.annotations.get(ANNOTATION_REF_NAME) == Some(&name))
            else {
                return (None, false);
            };
            let old = index.manifests.remove(i);
            keep_untagged(&mut index.manifests, repo, &old);
            (Some(old), true)
        })
    }

    /// Removes a manifest from `repo`: every tag of the repository pointing at it and its
    /// untagged entry. Returns how many entries went. The blob stays in the store.
    pub fn remove_from_repository(&self, repo: &str, digest: &Digest) -> Result<usize> {
        self.update_index_with(|index| {
            let before = index.manifests.len();
            index
                .manifests
                .retain(|d| !(&d.digest == digest && in_repo(d, repo)));
            let removed = before - index.manifests.len();
            (removed, removed > 0)
        })
    }
}

/// Keeps `old` reachable in `repo` as an untagged entry when nothing else of the
/// repository points at its digest.
fn keep_untagged(entries: &mut Vec<Descriptor>, repo: &str, old: &Descriptor) {
    if !entries
        .iter()
        .any(|d| d.digest == old.digest && in_repo(d, repo))
    {
        entries.push(untagged(repo, old));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_grammar() {
        for good in [
            "a",
            "foo",
            "foo/bar",
            "a.b_c__d---e/f0",
            "docker.io/library/busybox",
            "0/1/2",
        ] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Foo",
            "foo/",
            "/foo",
            "foo//bar",
            "-foo",
            "foo-",
            "foo.-bar",
            "foo___bar",
            "foo..bar",
            "foo:bar",
            "localhost:5000/foo",
            "foo bar",
            "../etc",
            "é",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_name(&"a".repeat(256)).is_err());
        assert!(validate_name(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        for good in ["latest", "v1.0", "_x", "A-b_c.d", &"a".repeat(128)] {
            assert!(validate_tag(good).is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "a@b", &"a".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ref_names_split_into_repository_and_tag() {
        assert_eq!(split_ref_name("foo:latest"), Some(("foo", "latest")));
        assert_eq!(
            split_ref_name("docker.io/library/foo:1"),
            Some(("docker.io/library/foo", "1"))
        );
        assert_eq!(split_ref_name("localhost:5000/foo"), None);
        assert_eq!(split_ref_name("localhost:5000/foo:1"), None);
        assert_eq!(split_ref_name("Foo:1"), None);
        assert_eq!(split_ref_name("foo"), None);
    }

    fn desc(store: &Store, content: &str) -> Descriptor {
        store.put_bytes(content.as_bytes(), "x").unwrap()
    }

    #[test]
    fn tags_moved_or_deleted_leave_the_manifest_in_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = desc(&store, "a");
        let b = desc(&store, "b");
        store.tag_in_repository("r", "1", &a).unwrap();
        store.tag("other:1", &a).unwrap();
        assert_eq!(store.repositories().unwrap(), ["other", "r"]);
        store.tag_in_repository("r", "1", &b).unwrap();
        let entries = store.repository_entries("r").unwrap();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert!(entries.contains(&(None, untagged("r", &a))));
        // Tagging an untagged manifest replaces its untagged entry.
        store.tag_in_repository("r", "2", &a).unwrap();
        let entries = store.repository_entries("r").unwrap();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert!(entries.iter().all(|(t, _)| t.is_some()));
        let tags: Vec<String> = store
            .repository_tags("r")
            .unwrap()
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(tags, ["1", "2"]);
        // Deleting the tag keeps the manifest, untagged.
        assert_eq!(
            store.untag_in_repository("r", "2").unwrap().unwrap().digest,
            a.digest
        );
        assert!(store.untag_in_repository("r", "2").unwrap().is_none());
        assert_eq!(store.repository_entries("r").unwrap().len(), 2);
        // Deleting by digest removes it from this repository only.
        assert_eq!(store.remove_from_repository("r", &a.digest).unwrap(), 1);
        assert_eq!(store.repository_entries("r").unwrap().len(), 1);
        assert_eq!(
            store.resolve_tag("other:1").unwrap().unwrap().digest,
            a.digest
        );
        assert_eq!(store.remove_from_repository("r", &a.digest).unwrap(), 0);
    }

    #[test]
    fn untagged_entries_are_per_repository() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = desc(&store, "a");
        store.add_to_repository("r", &a).unwrap();
        store.add_to_repository("r", &a).unwrap();
        store.add_to_repository("s/t", &a).unwrap();
        assert_eq!(store.index().unwrap().manifests.len(), 2);
        assert_eq!(store.repositories().unwrap(), ["r", "s/t"]);
        assert!(store.repository_tags("r").unwrap().is_empty());
        assert!(store.repository_entries("nope").unwrap().is_empty());
        assert!(store.add_to_repository("Bad", &a).is_err());
    }
}
