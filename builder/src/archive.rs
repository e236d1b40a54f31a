//! `ADD` of local tar archives: detection (gzip, bzip2, xz, zstd or plain tar, by
//! content, like docker) and hostile-safe extraction into layer entries.
//!
//! Nothing is written outside the build's temp directory: entries with `..` or absolute
//! paths are refused, an entry below a symlink (from the archive or the stage) is
//! refused, so is an entry below a non-directory, and hard links must name an earlier
//! regular file of the same archive.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use lading_oci::layer::{Entry, EntryKind, FileData};
use lading_oci::unpack::{NodeKind, Rootfs};

use crate::error::{StepError, StepResult};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

fn open(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut head = [0u8; 8];
    let n = File::open(path)?.read(&mut head)?;
    let f = BufReader::new(File::open(path)?);
    Ok(match sniff(&head[..n]) {
        Compression::None => Box::new(f),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(f)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(f)),
        Compression::Xz => Box::new(XzReader::new(f)?),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(f)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?,
        ),
    })
}

/// xz via lzma-rs, which decodes whole streams: decompress into memory.
struct XzReader(io::Cursor<Vec<u8>>);

impl XzReader {
    fn new<R: io::BufRead>(mut r: R) -> io::Result<Self> {
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut r, &mut out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e:?}")))?;
        Ok(XzReader(io::Cursor::new(out)))
    }
}

impl Read for XzReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// Whether `path` is a (possibly compressed) tar archive, judged by content.
pub fn is_archive(path: &Path) -> bool {
    let Ok(mut r) = open(path) else { return false };
    let mut block = [0u8; 512];
    if r.read_exact(&mut block).is_err() {
        return false;
    }
    // ustar/gnu magic, or a v7 header with a valid checksum.
    if &block[257..262] == b"ustar" {
        return true;
    }
    let stored = std::str::from_utf8(&block[148..156])
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok());
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    block[0] != 0 && stored == Some(sum)
}

/// Extracts `archive` below `dest` (a path relative to the stage root), writing file
/// contents into `tmp`. Returns the layer entries.
pub fn extract(archive: &Path, tmp: &Path, stage: &Rootfs, dest: &str) -> StepResult<Vec<Entry>> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bad =
        |p: &str, why: &str| StepError::msg(format!("refusing archive {name}: entry {p:?} {why}"));
    let reader =
        open(archive).map_err(|e| StepError::msg(format!("reading archive {name}: {e}")))?;
    let dir = tempfile::Builder::new()
        .prefix("add-")
        .tempdir_in(tmp)
        .map_err(|e| StepError::msg(format!("creating temp dir: {e}")))?
        .keep();
    let mut tar = tar::Archive::new(reader);
    let mut out: BTreeMap<String, Entry> = BTreeMap::new();
    let mut symlinks: BTreeSet<String> = BTreeSet::new();
    let mut counter = 0u64;
    let entries = tar
        .entries()
        .map_err(|e| StepError::msg(format!("reading archive {name}: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| StepError::msg(format!("reading archive {name}: {e}")))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if raw.starts_with('/') {
            return Err(bad(&raw, "has an absolute path"));
        }
        let mut comps = Vec::new();
        for c in raw.split('/') {
            match c {
                "" | "." => {}
                ".." => return Err(bad(&raw, "leaves the destination (..)")),
                c => comps.push(c),
            }
        }
        if comps.is_empty() {
            continue;
        }
        let rel = comps.join("/");
        // No entry may live below a symlink: that would write through it.
        let mut prefix = String::new();
        for c in &comps[..comps.len() - 1] {
            prefix = if prefix.is_empty() {
                c.to_string()
            } else {
                format!("{prefix}/{c}")
            };
            let full = join(dest, &prefix);
            if symlinks.contains(&prefix)
                || matches!(
                    stage.get(&full).map(|n| &n.kind),
                    Some(NodeKind::Symlink(_))
                )
            {
                return Err(bad(&raw, "is below a symlink"));
            }
            // Nor below a file: the layer would hold a file with children.
            let below_file = match out.get(&prefix) {
                Some(e) => !matches!(e.kind, EntryKind::Dir),
                None => matches!(
                    stage.get(&full).map(|n| &n.kind),
                    Some(NodeKind::File(_) | NodeKind::Special)
                ),
            };
            if below_file {
                return Err(bad(&raw, "is below a file that is not a directory"));
            }
        }
        let h = entry.header();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let uid = h.uid().unwrap_or(0) as u32;
        let gid = h.gid().unwrap_or(0) as u32;
        let link = || -> String {
            entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let kind = match h.entry_type() {
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => {
                symlinks.insert(rel.clone());
                EntryKind::Symlink(link())
            }
            tar::EntryType::Link => {
                let target = link();
                let t: Vec<&str> = target
                    .split('/')
                    .filter(|c| !c.is_empty() && *c != ".")
                    .collect();
                if target.starts_with('/') || t.contains(&"..") {
                    return Err(bad(&raw, "is a hard link leaving the archive"));
                }
                let t = t.join("/");
                match out.get(&t).map(|e| e.kind.clone()) {
                    Some(k @ EntryKind::File { .. }) => k,
                    _ => return Err(bad(&raw, "is a hard link to a file not in the archive")),
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                counter += 1;
                let path = dir.join(counter.to_string());
                let mut f = File::create(&path)
                    .map_err(|e| StepError::msg(format!("{}: {e}", path.display())))?;
                let size = io::copy(&mut entry, &mut f)
                    .map_err(|e| StepError::msg(format!("reading archive {name}: {e}")))?;
                EntryKind::File {
                    data: FileData::Path(path),
                    size,
                }
            }
            tar::EntryType::Fifo => EntryKind::Fifo,
            _ => continue, // devices, GNU sparse files and tar extensions are not extracted
        };
        symlinks.retain(|s| s != &rel || matches!(kind, EntryKind::Symlink(_)));
        let path = join(dest, &rel);
        out.insert(
            rel,
            Entry {
                path,
                kind,
                mode,
                uid,
                gid,
                xattrs: BTreeMap::new(),
            },
        );
    }
    Ok(out.into_values().collect())
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}
