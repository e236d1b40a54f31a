//! The vulnerability gate: OSV advisories matched against an image's packages.

pub mod version;
pub mod cvss;
pub mod db;
pub mod osv;
