//! `lading publish`'s state: the publish record (what was pushed and signed, for reruns
//! and reports).

pub mod record;
