//! The cryptographic module every digest, signature and TLS connection of this build
//! goes through: AWS-LC by way of aws-lc-rs, or with the `fips` feature the AWS-LC FIPS
//! 140-3 module (aws-lc-fips-sys). `lading version` shows it; a `fips` build checks at
//! startup that the module runs in FIPS mode.

use std::ffi::CStr;

/// The module linked into this build and its state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CryptoModule {
    /// `AWS-LC`, or `AWS-LC FIPS` in a `fips` build.
    pub name: &'static str,
    /// The module's version (AWS-LC's `AWSLC_VERSION_NUMBER_STRING`).
    pub version: &'static str,
    /// Whether the module reports FIPS mode (`FIPS_mode()`), i.e. it is the validated
    /// module and its power-on self-tests passed.
    pub fips_mode: bool,
}

#[cfg(feature = "fips")]
const NAME: &str = "AWS-LC FIPS";
#[cfg(feature = "fips")]
const VERSION: &[u8] = aws_lc_fips_sys::AWSLC_VERSION_NUMBER_STRING;

#[cfg(not(feature = "fips"))]
const NAME: &str = "AWS-LC";
#[cfg(not(feature = "fips"))]
const VERSION: &[u8] = aws_lc_sys::AWSLC_VERSION_NUMBER_STRING;

/// The module this build uses, asking it whether it is in FIPS mode.
pub fn module() -> CryptoModule {
    CryptoModule {
        name: NAME,
        version: CStr::from_bytes_with_nul(VERSION)
            .ok()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown"),
        fips_mode: aws_lc_rs::try_fips_mode().is_ok(),
    }
}

/// Whether this is a `fips` build (not whether the module is in FIPS mode: see
/// [`require_fips_mode`]).
pub const FIPS_BUILD: bool = cfg!(feature = "fips");

/// In a `fips` build, fails unless the module runs in FIPS mode. AWS-LC runs its
/// power-on self-tests when it starts and aborts the process if one fails; this catches
/// a module that came up outside FIPS mode. Builds without `fips` always pass.
pub fn require_fips_mode() -> crate::Result<()> {
    if !FIPS_BUILD {
        return Ok(());
    }
    aws_lc_rs::try_fips_mode().map_err(|reason| crate::Error::FipsMode { reason })
}

/// A random (version 4) UUID from AWS-LC's generator (the FIPS module's in a `fips`
/// build), hyphenated.
pub fn random_uuid(what: &'static str) -> crate::Result<String> {
    let mut random = [0u8; 16];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| crate::Error::Random { what })?;
    Ok(uuid::Builder::from_random_bytes(random)
        .into_uuid()
        .hyphenated()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_the_build_and_its_mode() {
        let m = module();
        assert_eq!(m.fips_mode, FIPS_BUILD, "{m:?}");
        assert_eq!(m.name, if FIPS_BUILD { "AWS-LC FIPS" } else { "AWS-LC" });
        let parts: Vec<&str> = m.version.split('.').collect();
        assert_eq!(parts.len(), 3, "{m:?}");
        assert!(parts.iter().all(|p| p.parse::<u32>().is_ok()), "{m:?}");
        require_fips_mode().unwrap();
    }
}
