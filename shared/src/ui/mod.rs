//! The user's side: the flags every plugin shares, output on stdout and
//! stderr (text, JSON, YAML), and prompts.

pub mod cli;
pub mod output;
pub mod prompt;
