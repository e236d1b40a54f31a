//! One module per command: parse, call the library, render.

pub mod attest;
pub mod build;
pub mod cis;
pub mod cp;
pub mod db;
pub mod diff;
pub mod gate;
pub mod images;
pub mod inspect;
pub mod keyless;
pub mod predicate;
pub mod prune;
pub mod publish;
pub mod pull;
pub mod remote;
pub mod report;
pub mod reproduce;
pub mod sbom;
pub mod scan;
pub mod secrets;
pub mod serve;
pub mod sign;
pub mod tuf;
pub mod version;
