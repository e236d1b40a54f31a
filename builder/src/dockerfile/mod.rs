//! The in-house Dockerfile frontend: lexer, parser, syntax tree and variable expansion.
//!
//! [`parse`] turns a Dockerfile into an [`ast::Dockerfile`] with raw words; the
//! dispatcher later expands them with [`expand_word`] / [`expand_words`] once build
//! arguments and the environment are known. BuildKit's frontend is the reference.

pub mod ast;
mod duration;
mod error;
pub mod expand;
mod flags;
mod lexer;
mod parser;
mod words;

pub use error::ParseError;
pub use expand::{ExpandError, expand_heredoc, expand_word, expand_words};
pub use parser::{parse, parse_instruction};
