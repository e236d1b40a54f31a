//! The in-house Dockerfile frontend: lexer, parser, syntax tree and variable expansion.

pub mod ast;
pub mod expand;

pub use expand::{ExpandError, expand_heredoc, expand_word, expand_words};
