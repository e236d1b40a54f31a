main.rs
