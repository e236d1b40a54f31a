//! One module per command: parse, call the library, render.

pub mod build;
pub mod cp;
pub mod images;
pub mod inspect;
pub mod pull;
pub mod remote;
pub mod serve;
