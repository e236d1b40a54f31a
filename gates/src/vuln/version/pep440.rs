//! PEP 440 order, by `pep440_rs` (normalisation of `alpha`/`c`/`rev`/`-N`, epochs,
//! local versions).

use std::cmp::Ordering;
use std::str::FromStr;

use super::{Scheme, VersionError};

fn parse(v: &str) -> Result<pep440_rs::Version, VersionError> {
    pep440_rs::Version::from_str(v.trim())
        .map_err(|e| VersionError::new(Scheme::Pep440, v, e.to_string()))
}

pub(super) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(parse(a)?.cmp(&parse(b)?))
}
