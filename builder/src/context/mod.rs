//! The build context: which files a build may read.

pub mod digest;
pub mod ignore;
pub mod local;
