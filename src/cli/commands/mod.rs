//! One module per command: parse, call the library, render.

pub mod build;
pub mod cis;
pub mod images;
pub mod inspect;
pub mod secrets;
