//! Go's `time.ParseDuration`, which BuildKit uses for the HEALTHCHECK flags:
//! a sequence of decimal numbers with units (`1m30s`, `1.5h`, `500ms`), or `0`.

use std::time::Duration;

/// Parses a Go duration. Negative durations are returned as `Err(true)` so the caller can
/// say they are too small; malformed input is `Err(false)`.
pub(crate) fn parse_go_duration(s: &str) -> Result<Duration, bool> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(false);
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(false);
        }
        let value: f64 = num.parse().map_err(|_| false)?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(false),
        };
        rest = &rest[unit_len..];
        nanos += value * scale;
    }
    if negative && nanos > 0.0 {
        return Err(true);
    }
    if nanos > u64::MAX as f64 {
        return Err(false);
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_go_duration("-1s"), Err(true));
        assert_eq!(parse_go_duration("5"), Err(false));
        assert_eq!(parse_go_duration(""), Err(false));
        assert_eq!(parse_go_duration("1d"), Err(false));
        assert_eq!(parse_go_duration("s"), Err(false));
    }
}
