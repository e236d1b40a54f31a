//! The local OSV database: records per ecosystem, indexed by package name.
//!
//! Layout of a database directory:
//!
//! ```text
//! DB/osv-db.json                 manifest: schema, and per ecosystem its directory,
//!                                counts, source and import time
//! DB/<Ecosystem>-<hex>/index.json {normalised package name: [record ids]}
//! DB/<Ecosystem>-<hex>/records/<id>.json   the record as published
//! ```
//!
//! An import writes each ecosystem it brings into a new directory, then replaces the
//! manifest atomically (write, fsync, rename), then removes the directories the old
//! manifest named. A failed or interrupted import leaves the previous database as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::osv::{self, Record, RecordError, Warning};

/// Name of the manifest file.
pub const MANIFEST: &str = "osv-db.json";
/// Largest record accepted (bytes); OSV's largest are well below this.
const MAX_RECORD: u64 = 16 << 20;
const SCHEMA: u32 = 1;

/// Database errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// No database at the path.
    #[error("no vulnerability database at {path} (run `lading db update` or `lading db import`)")]
    Missing {
        /// The directory.
        path: PathBuf,
    },
    /// The manifest or an index is unreadable.
    #[error("{path}: corrupt database: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The input holds no usable record.
    #[error("{path}: no usable OSV record ({rejected} rejected)")]
    Empty {
        /// The input.
        path: PathBuf,
        /// How many records were rejected.
        rejected: usize,
    },
    /// The zip archive is unreadable.
    #[error("{path}: not a readable zip archive: {reason}")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

type Result<T, E = DbError> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One ecosystem in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcosystemInfo {
    /// Directory under the database root.
    pub dir: String,
    /// Records stored.
    pub records: usize,
    /// Withdrawn records left out.
    pub withdrawn: usize,
    /// Records rejected as unreadable.
    pub rejected: usize,
    /// Where the data came from (a path or URL).
    pub source: String,
    /// Latest `modified` among the records.
    pub latest_modified: String,
    /// When it was imported (RFC 3339, UTC).
    pub imported_at: String,
}

/// The manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version.
    pub schema: u32,
    /// Ecosystems (OSV base names: `PyPI`, `Debian`).
    pub ecosystems: BTreeMap<String, EcosystemInfo>,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    /// Ecosystems replaced, with their new info.
    pub ecosystems: BTreeMap<String, EcosystemInfo>,
    /// Records that could not be used.
    pub errors: Vec<RecordError>,
    /// Problems within usable records.
    pub warnings: Vec<Warning>,
}

/// The ecosystem a record is filed under: `Debian:12` → `Debian`.
pub fn ecosystem_base(ecosystem: &str) -> &str {
    ecosystem.split(':').next().unwrap_or(ecosystem)
}

/// The name packages are looked up by: PyPI names per PEP 503; others as they are.
pub fn normalize_name(ecosystem: &str, name: &str) -> String {
    match ecosystem_base(ecosystem) {
        "PyPI" => {
            let mut out = String::with_capacity(name.len());
            let mut sep = false;
            for c in name.trim().chars() {
                if c == '-' || c == '_' || c == '.' {
                    sep = true;
                } else {
                    if sep && !out.is_empty() {
                        out.push('-');
                    }
                    sep = false;
                    out.extend(c.to_lowercase());
                }
            }
            out
        }
        _ => name.to_string(),
    }
}

/// A record id usable as a file name.
fn file_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Reads the JSON documents of an input: a directory (recursively) or a zip archive.
/// Calls `f(name, bytes)` for each `.json` file.
fn read_input(path: &Path, f: &mut dyn FnMut(&str, Vec<u8>) -> Result<()>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if meta.is_dir() {
        let mut files = Vec::new();
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
                let entry = entry.map_err(io(&dir))?;
                let p = entry.path();
                let ft = entry.file_type().map_err(io(&p))?;
                if ft.is_dir() {
                    stack.push(p);
                } else if ft.is_file() && p.extension().is_some_and(|e| e == "json") {
                    files.push(p);
                }
            }
        }
        files.sort();
        for p in files {
            let len = std::fs::metadata(&p).map_err(io(&p))?.len();
            let name = p
                .strip_prefix(path)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            if len > MAX_RECORD {
                f(&name, Vec::new())?;
                continue;
            }
            let bytes = std::fs::read(&p).map_err(io(&p))?;
            f(&name, bytes)?;
        }
        return Ok(());
    }
    let file = std::fs::File::open(path).map_err(io(path))?;
    read_zip(path, file, f)
}

fn read_zip<R: Read + Seek>(
    path: &Path,
    reader: R,
    f: &mut dyn FnMut(&str, Vec<u8>) -> Result<()>,
) -> Result<()> {
    let zerr = |e: zip::result::ZipError| DbError::Zip {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(reader).map_err(zerr)?;
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(zerr)?;
        let name = match member.name() {
            Ok(n) => n.to_string(),
            Err(e) => {
                return Err(DbError::Zip {
                    path: path.to_path_buf(),
                    reason: format!("member {i}: {e}"),
                });
            }
        };
        if member.is_dir() || !name.ends_with(".json") {
            continue;
        }
        let mut bytes = Vec::new();
        (&mut member)
            .take(MAX_RECORD + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| DbError::Zip {
                path: path.to_path_buf(),
                reason: format!("{name}: {e}"),
            })?;
        if bytes.len() as u64 > MAX_RECORD {
            bytes.clear();
        }
        f(&name, bytes)?;
    }
    Ok(())
}

/// The current time as RFC 3339 UTC (seconds).
pub fn rfc3339(secs: i64) -> String {
    // Civil-from-days (Howard Hinnant's algorithm), to avoid a date dependency.
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Imports OSV records from `input` (a directory or a zip) into the database at `db`.
/// Every ecosystem present in the input replaces the same ecosystem in the database;
/// the others stay. `source` is recorded as the data's origin; `now` (seconds since the
/// epoch) as the import time.
pub fn import(db: &Path, input: &Path, source: &str, now: i64) -> Result<ImportSummary> {
    std::fs::create_dir_all(db).map_err(io(db))?;
    let staging = tempfile::Builder::new()
        .prefix(".import-")
        .tempdir_in(db)
        .map_err(io(db))?;
    let mut summary = ImportSummary::default();
    // Per ecosystem: index, counts, latest modified.
    struct Eco {
        index: BTreeMap<String, BTreeSet<String>>,
        records: BTreeSet<String>,
        withdrawn: usize,
        latest: String,
    }
    let mut ecos: BTreeMap<String, Eco> = BTreeMap::new();
    let mut rejected = 0usize;
    read_input(input, &mut |name, bytes| {
        if bytes.is_empty() {
            rejected += 1;
            summary.errors.push(RecordError {
                source_name: name.to_string(),
                path: "$".into(),
                reason: format!("empty or larger than {MAX_RECORD} bytes"),
            });
            return Ok(());
        }
        let (record, warnings) = match osv::parse(&bytes, name) {
            Ok(r) => r,
            Err(e) => {
                rejected += 1;
                summary.errors.push(e);
                return Ok(());
            }
        };
        summary.warnings.extend(warnings);
        let bases: BTreeSet<&str> = record
            .affected
            .iter()
            .map(|a| ecosystem_base(&a.ecosystem))
            .collect();
        for base in bases {
            let eco = ecos.entry(base.to_string()).or_insert_with(|| Eco {
                index: BTreeMap::new(),
                records: BTreeSet::new(),
                withdrawn: 0,
                latest: String::new(),
            });
            if record.withdrawn.is_some() {
                eco.withdrawn += 1;
                continue;
            }
            let dir = staging.path().join(file_name(base)).join("records");
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let file = dir.join(format!("{}.json", file_name(&record.id)));
            std::fs::write(&file, &bytes).map_err(io(&file))?;
            eco.records.insert(record.id.clone());
            if record.modified > eco.latest {
                eco.latest.clone_from(&record.modified);
            }
            for a in record
                .affected
                .iter()
                .filter(|a| ecosystem_base(&a.ecosystem) == base)
            {
                eco.index
                    .entry(normalize_name(base, &a.name))
                    .or_default()
                    .insert(record.id.clone());
            }
        }
        Ok(())
    })?;
    if ecos.is_empty() {
        return Err(DbError::Empty {
            path: input.to_path_buf(),
            rejected,
        });
    }
    let old = read_manifest(db)?.unwrap_or(Manifest {
        schema: SCHEMA,
        ..Manifest::default()
    });
    let mut manifest = old.clone();
    manifest.schema = SCHEMA;
    // The staging directory's random name keeps every import's directories distinct.
    let stamp = staging
        .path()
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_start_matches(".import-")
                .to_string()
        })
        .unwrap_or_default();
    for (base, eco) in ecos {
        let staged = staging.path().join(file_name(&base));
        std::fs::create_dir_all(&staged).map_err(io(&staged))?;
        let index_path = staged.join("index.json");
        let bytes = serde_json::to_vec(&eco.index).map_err(|e| DbError::Corrupt {
            path: index_path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&index_path, bytes).map_err(io(&index_path))?;
        let dir_name = format!("{}-{stamp}", file_name(&base));
        let dest = db.join(&dir_name);
        std::fs::rename(&staged, &dest).map_err(io(&dest))?;
        let info = EcosystemInfo {
            dir: dir_name,
            records: eco.records.len(),
            withdrawn: eco.withdrawn,
            rejected,
            source: source.to_string(),
            latest_modified: eco.latest,
            imported_at: rfc3339(now),
        };
        summary.ecosystems.insert(base.clone(), info.clone());
        manifest.ecosystems.insert(base, info);
    }
    write_manifest(db, &manifest)?;
    // The old directories of replaced ecosystems are no longer referenced.
    for (base, info) in &old.ecosystems {
        if manifest
            .ecosystems
            .get(base)
            .is_some_and(|n| n.dir != info.dir)
        {
            let _ = std::fs::remove_dir_all(db.join(&info.dir));
        }
    }
    Ok(summary)
}

fn read_manifest(db: &Path) -> Result<Option<Manifest>> {
    let path = db.join(MANIFEST);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| DbError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if m.schema != SCHEMA {
        return Err(DbError::Corrupt {
            path,
            reason: format!("layout version {} (this lading reads {SCHEMA})", m.schema),
        });
    }
    Ok(Some(m))
}

fn write_manifest(db: &Path, m: &Manifest) -> Result<()> {
    let path = db.join(MANIFEST);
    let mut bytes = serde_json::to_vec_pretty(m).map_err(|e| DbError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    let mut tmp = tempfile::NamedTempFile::new_in(db).map_err(io(db))?;
    std::io::Write::write_all(&mut tmp, &bytes).map_err(io(&path))?;
    tmp.as_file().sync_all().map_err(io(&path))?;
    tmp.persist(&path).map_err(|e| io(&path)(e.error))?;
    Ok(())
}

/// An opened database.
#[derive(Debug)]
pub struct Database {
    root: PathBuf,
    manifest: Manifest,
    indexes: std::sync::Mutex<BTreeMap<String, BTreeMap<String, Vec<String>>>>,
}

impl Database {
    /// Opens the database at `root`.
    pub fn open(root: &Path) -> Result<Database> {
        let manifest = read_manifest(root)?.ok_or_else(|| DbError::Missing {
            path: root.to_path_buf(),
        })?;
        Ok(Database {
            root: root.to_path_buf(),
            manifest,
            indexes: std::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether the database has data for an ecosystem (`Debian:12` → `Debian`).
    pub fn has(&self, ecosystem: &str) -> bool {
        self.manifest
            .ecosystems
            .contains_key(ecosystem_base(ecosystem))
    }

    /// The records that name `name` in `ecosystem` (its base), with warnings from
    /// reading them.
    pub fn lookup(&self, ecosystem: &str, name: &str) -> Result<(Vec<Record>, Vec<Warning>)> {
        let base = ecosystem_base(ecosystem);
        let Some(info) = self.manifest.ecosystems.get(base) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let dir = self.root.join(&info.dir);
        let ids = {
            let mut indexes = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
            if !indexes.contains_key(base) {
                let path = dir.join("index.json");
                let bytes = std::fs::read(&path).map_err(io(&path))?;
                let index: BTreeMap<String, Vec<String>> =
                    serde_json::from_slice(&bytes).map_err(|e| DbError::Corrupt {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                indexes.insert(base.to_string(), index);
            }
            indexes
                .get(base)
                .and_then(|i| i.get(&normalize_name(base, name)))
                .cloned()
                .unwrap_or_default()
        };
        let mut records = Vec::new();
        let mut warnings = Vec::new();
        for id in ids {
            let path = dir.join("records").join(format!("{}.json", file_name(&id)));
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            match osv::parse(&bytes, &id) {
                Ok((r, _)) => records.push(r),
                Err(e) => warnings.push(Warning {
                    record: id.clone(),
                    message: format!("stored record unreadable: {e}"),
                }),
            }
        }
        Ok((records, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503_names() {
        assert_eq!(normalize_name("PyPI", "Jinja2"), "jinja2");
        assert_eq!(normalize_name("PyPI", "zope.interface"), "zope-interface");
        assert_eq!(normalize_name("PyPI", "Foo__Bar-.baz"), "foo-bar-baz");
        assert_eq!(normalize_name("npm", "Foo"), "Foo");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn import_replaces_only_the_ecosystems_it_brings() {
        let t = tempfile::tempdir().unwrap();
        let input = t.path().join("in");
        std::fs::create_dir_all(input.join("sub")).unwrap();
        std::fs::write(
            input.join("sub/a.json"),
            r#"{"id":"A-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0"}]}]}]}"#,
        )
        .unwrap();
        std::fs::write(
            input.join("b.json"),
            r#"{"id":"B-1","modified":"2024-01-02T00:00:00Z","withdrawn":"2024-02-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"x"}}]}"#,
        )
        .unwrap();
        std::fs::write(input.join("broken.json"), "{not json").unwrap();
        let db = t.path().join("db");
        let s = import(&db, &input, "test", 0).unwrap();
        assert_eq!(s.errors.len(), 1);
        assert_eq!(s.ecosystems["PyPI"].records, 1);
        assert_eq!(s.ecosystems["npm"].withdrawn, 1);
        let opened = Database::open(&db).unwrap();
        let (recs, _) = opened.lookup("PyPI", "foo-bar").unwrap();
        assert_eq!(recs.len(), 1);
        assert!(opened.lookup("npm", "x").unwrap().0.is_empty());

        // A second import of only npm keeps PyPI.
        let input2 = t.path().join("in2");
        std::fs::create_dir_all(&input2).unwrap();
        std::fs::write(
            input2.join("c.json"),
            r#"{"id":"C-1","modified":"2024-01-03T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"x"},"versions":["1.0.0"]}]}"#,
        )
        .unwrap();
        import(&db, &input2, "test2", 1).unwrap();
        let opened = Database::open(&db).unwrap();
        assert_eq!(opened.lookup("PyPI", "Foo.Bar").unwrap().0.len(), 1);
        assert_eq!(opened.lookup("npm", "x").unwrap().0.len(), 1);
        // Only the live directories remain (plus the manifest).
        let mut names: Vec<String> = std::fs::read_dir(&db)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");

        // An input with nothing usable is an error and changes nothing.
        let bad = t.path().join("bad");
        std::fs::create_dir_all(&bad).unwrap();
        std::fs::write(bad.join("x.json"), "[]").unwrap();
        assert!(matches!(
            import(&db, &bad, "bad", 2),
            Err(DbError::Empty { rejected: 1, .. })
        ));
        assert_eq!(Database::open(&db).unwrap().manifest(), opened.manifest());
    }
}
