//! The user's side: the flags every plugin shares, output on stdout and
//! stderr (text, JSON, YAML), checks as `linkerd check` draws them, and
//! prompts.

pub mod check;
pub mod cli;
pub mod output;
pub mod prompt;
