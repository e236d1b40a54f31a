//! `lading publish`'s state and outputs beyond the image itself: the publish record
//! (what was pushed and signed, for reruns and reports), the evidence bundle an auditor
//! asks for, and the GitHub Actions outputs and step summary.

pub mod evidence;
pub mod github;
pub mod record;
