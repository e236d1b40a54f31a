//! `lading prune` and `lading df`: the store's collector (`lading_oci::gc`), rendered
//! the way `docker builder prune` and `docker system df` render theirs.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use lading_oci::Store;
use lading_oci::gc::{self, Item, Kind, Options};

use crate::cli::args::{DfArgs, PruneArgs};

/// Removes what `args` allow, after asking (as docker does) unless `--force`.
pub fn run(store_dir: &Path, args: PruneArgs) -> Result<ExitCode> {
    let opts = options(&args)?;
    let store = Store::open(store_dir)?;
    if !args.force {
        let what = if args.all {
            "all build cache"
        } else {
            "all dangling build cache"
        };
        // Like docker: the question goes to stdout and the answer is read from stdin,
        // a terminal or not; anything but y/yes (EOF too) cancels.
        let mut stdout = std::io::stdout().lock();
        write!(
            stdout,
            "WARNING! This will remove {what}. Are you sure you want to continue? [y/N] "
        )?;
        stdout.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            eprintln!("lading prune has been cancelled");
            return Ok(ExitCode::from(1));
        }
    }
    let pruned = gc::prune(&store, &opts)?;
    if !pruned.removed.is_empty() {
        crate::cli::out!("Deleted build cache objects:");
        for item in &pruned.removed {
            crate::cli::out!("{}", name(store.root(), item));
        }
        crate::cli::out!("");
    }
    for f in &pruned.failures {
        eprintln!("warning: {f}");
    }
    crate::cli::out!("Total reclaimed space: {}", human(pruned.reclaimed));
    Ok(if pruned.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Prints the store's usage by type: total, in use, size and what `lading prune -a`
/// would reclaim.
pub fn df(store_dir: &Path, args: DfArgs) -> Result<ExitCode> {
    let store = Store::open(store_dir)?;
    let plan = gc::plan(
        &store,
        &Options {
            all: true,
            ..Options::default()
        },
    )?;
    #[derive(Default)]
    struct Row {
        total: usize,
        active: usize,
        size: u64,
        reclaimable: u64,
    }
    let mut rows: BTreeMap<Kind, Row> = [
        Kind::Image,
        Kind::BuildCache,
        Kind::Record,
        Kind::Unreferenced,
        Kind::Orphan,
    ]
    .into_iter()
    .map(|k| (k, Row::default()))
    .collect();
    let images = store.index()?.manifests.len();
    for (item, removable) in plan
        .keep
        .iter()
        .map(|i| (i, false))
        .chain(plan.remove.iter().map(|i| (i, true)))
    {
        let row = rows.entry(item.kind).or_default();
        row.total += if item.kind == Kind::Image {
            0
        } else {
            item.paths.len().min(1)
        };
        row.active += usize::from(item.in_use);
        row.size += item.size;
        if removable {
            row.reclaimable += item.size;
        }
    }
    if let Some(r) = rows.get_mut(&Kind::Image) {
        r.total = images;
    }
    crate::cli::out!(
        "{:<20} {:>8} {:>8} {:>10} {:>16}",
        "TYPE",
        "TOTAL",
        "ACTIVE",
        "SIZE",
        "RECLAIMABLE"
    );
    for (kind, r) in &rows {
        let pct = (r.reclaimable * 100)
            .checked_div(r.size)
            .map(|p| format!(" ({p}%)"))
            .unwrap_or_default();
        crate::cli::out!(
            "{:<20} {:>8} {:>8} {:>10} {:>16}",
            kind.name(),
            r.total,
            r.active,
            human(r.size),
            format!("{}{pct}", human(r.reclaimable))
        );
    }
    if args.verbose {
        crate::cli::out!("");
        crate::cli::out!(
            "{:<40} {:<20} {:>10} {:>8} {:>12} {:>6}",
            "ID",
            "TYPE",
            "SIZE",
            "IN USE",
            "LAST USED",
            "RECLAIMABLE"
        );
        let now = SystemTime::now();
        let mut items: Vec<(&Item, bool)> = plan
            .keep
            .iter()
            .filter(|i| i.kind != Kind::Image)
            .map(|i| (i, false))
            .chain(plan.remove.iter().map(|i| (i, true)))
            .collect();
        items.sort_by_key(|i| std::cmp::Reverse(i.0.last_used));
        for (item, removable) in items {
            if item.paths.is_empty() {
                continue;
            }
            crate::cli::out!(
                "{:<40} {:<20} {:>10} {:>8} {:>12} {:>6}",
                short(&name(store.root(), item)),
                item.kind.name(),
                human(item.size),
                item.in_use,
                ago(now, item.last_used),
                removable
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn options(args: &PruneArgs) -> Result<Options> {
    let mut until = None;
    for f in &args.filter {
        match f.split_once('=') {
            Some(("until", v)) => until = Some(parse_until(v, SystemTime::now())?),
            _ => bail!("invalid filter {f:?}: lading prune supports until=DURATION|TIMESTAMP"),
        }
    }
    Ok(Options {
        all: args.all,
        keep_storage: args
            .keep_storage
            .as_deref()
            .map(parse_size)
            .transpose()
            .context("--keep-storage")?,
        until,
    })
}

/// An item's name relative to the store root (its first path).
fn name(root: &Path, item: &Item) -> String {
    item.paths
        .first()
        .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
        .unwrap_or_default()
}

/// A name with each 64-digit hex cut to 12 digits, as docker shortens ids.
fn short(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run = 0usize;
    for c in name.chars() {
        if c.is_ascii_hexdigit() {
            run += 1;
        } else {
            run = 0;
        }
        if run <= 12 {
            out.push(c);
        }
    }
    out
}

/// Decimal units with 4 significant digits, as docker prints sizes (`16.43MB`).
fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    let digits = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", UNITS[u])
}

fn ago(now: SystemTime, then: SystemTime) -> String {
    let s = now.duration_since(then).unwrap_or_default().as_secs();
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

/// A size as docker's `RAMInBytes` reads it: a number with an optional unit
/// (`b`, `k`/`kb`/`kib`, `m`…, `g`…, `t`…, `p`…), all binary multiples, any case.
fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid size {text:?}"))?;
    let shift = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        _ => bail!("invalid size {text:?}: unknown unit {unit:?}"),
    };
    Ok((n * (1u64 << shift) as f64) as u64)
}

/// `until=` as docker reads it: a Go duration before now (`24h`, `1h30m`, `90s`), Unix
/// seconds, or an RFC 3339 date or date-time (UTC unless it has an offset).
fn parse_until(text: &str, now: SystemTime) -> Result<SystemTime> {
    if let Some(d) = parse_go_duration(text) {
        return now
            .checked_sub(d)
            .with_context(|| format!("until={text}: too far back"));
    }
    if let Ok(secs) = text.parse::<f64>()
        && secs >= 0.0
    {
        return Ok(UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    parse_timestamp(text).with_context(|| {
        format!("invalid until={text:?}: expected a duration (24h) or a timestamp")
    })
}

fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[u..];
    }
    Some(Duration::from_secs_f64(total))
}

fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let mut secs = lading_signer::sigstore::time::days_from_civil(y, mo, da) * 86400;
    if let Some(t) = time {
        let (clock, offset) = if let Some(c) = t.strip_suffix('Z') {
            (c, 0)
        } else if let Some(i) = t.rfind(['+', '-']) {
            let (c, o) = t.split_at(i);
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':')?;
            (
                c,
                sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
            )
        } else {
            (t, 0)
        };
        let mut c = clock.split(':');
        let h: i64 = c.next()?.parse().ok()?;
        let m: i64 = c.next()?.parse().ok()?;
        let s: f64 = c.next().unwrap_or("0").parse().ok()?;
        secs += h * 3600 + m * 60 + s as i64 - offset;
    }
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_reads_them() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("1kb").unwrap(), 1024);
        assert_eq!(parse_size("10GB").unwrap(), 10 << 30);
        assert_eq!(parse_size("1.5m").unwrap(), 3 << 19);
        assert!(parse_size("ten").is_err() && parse_size("1xb").is_err());
    }

    #[test]
    fn until_durations_and_timestamps() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_until("1h30m", now).unwrap(),
            now - Duration::from_secs(5400)
        );
        assert_eq!(
            parse_until("1700000000", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert_eq!(
            parse_until("2023-11-14T22:13:20Z", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert_eq!(
            parse_until("2023-11-15T00:13:20+02:00", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert_eq!(
            parse_until("1970-01-02", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(86400)
        );
        assert!(parse_until("yesterday", now).is_err());
    }

    #[test]
    fn human_sizes_like_docker() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(16_430_000), "16.43MB");
        assert_eq!(human(1_000), "1kB");
        assert_eq!(human(363_000_000), "363MB");
    }
}
