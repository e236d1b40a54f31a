//! The in-house Dockerfile frontend: lexer, parser, syntax tree and variable expansion.

pub mod ast;
