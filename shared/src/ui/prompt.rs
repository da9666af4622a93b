//! Asking before changing a cluster: a prompt on a terminal, `--yes` for
//! scripts, and a refusal when neither is possible.

use std::io::IsTerminal;

use crate::error::{Error, Result};

/// Whether to go ahead with `action` (e.g. `update 3 secrets in context "standby"`).
/// `--yes` answers for the user; otherwise we ask only on a terminal, since a
/// script has nobody to answer and must not hang or guess.
pub fn confirm(action: &str, yes: bool) -> Result<bool> {
    confirm_on(
        action,
        yes,
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
    )
}

fn confirm_on(action: &str, yes: bool, terminal: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !terminal {
        return Err(Error::usage(format!(
            "refusing to {action} without confirmation: no terminal to ask on"
        ))
        .with_next_step("pass --yes to confirm from a script"));
    }
    dialoguer::Confirm::new()
        .with_prompt(format!("{action}?"))
        .default(false)
        .interact()
        .map_err(|error| {
            Error::usage(format!("could not read the confirmation: {error}"))
                .with_next_step("pass --yes")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_confirms_without_asking() {
        assert!(confirm_on("update secrets", true, false).unwrap());
    }

    #[test]
    fn without_a_terminal_and_without_yes_it_refuses() {
        let error = confirm_on("update secrets", false, false).unwrap_err();
        assert_eq!(error.exit(), crate::error::Exit::Usage);
        assert!(error.to_string().contains("pass --yes"), "{error}");
    }
}
