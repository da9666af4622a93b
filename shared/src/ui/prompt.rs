//! Asking before changing a cluster: a prompt on a terminal, `--yes` for
//! scripts, and a refusal when neither is possible.

use std::io::IsTerminal;

use crate::error::{Error, Result};
use crate::ui::output::Ui;

/// Whether to go ahead with `action` (e.g. `update 3 secrets in context
/// "standby"`); `yes_does` says what answering yes will do, on the line
/// before the question. `--yes` answers for the user; otherwise we ask
/// only on a terminal, since a script has nobody to answer and must not
/// hang or guess. The prompt is drawn on a clean line (a spinner is
/// suspended), and keys typed before it was shown are discarded: they were
/// meant for something else, and must not answer it.
pub fn confirm(ui: &Ui, action: &str, yes_does: &str, yes: bool) -> Result<bool> {
    confirm_on(
        ui,
        action,
        yes_does,
        yes,
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
    )
}

fn confirm_on(ui: &Ui, action: &str, yes_does: &str, yes: bool, terminal: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !terminal {
        return Err(Error::usage(format!(
            "refusing to {action} without confirmation: no terminal to ask on"
        ))
        .with_next_step("pass --yes to confirm from a script"));
    }
    ui.suspended(|| {
        // Typed ahead: discarded. A failure (not a terminal after all) leaves it.
        let _ = rustix::termios::tcflush(std::io::stdin(), rustix::termios::QueueSelector::IFlush);
        crate::ui::output::say(&format!("yes will {yes_does}"));
        dialoguer::Confirm::new()
            .with_prompt(format!("{action}?"))
            .default(false)
            .interact()
    })
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
        assert!(
            confirm_on(
                &Ui::plain(false),
                "update secrets",
                "write them",
                true,
                false
            )
            .unwrap()
        );
    }

    #[test]
    fn without_a_terminal_and_without_yes_it_refuses() {
        let error = confirm_on(
            &Ui::plain(false),
            "update secrets",
            "write them",
            false,
            false,
        )
        .unwrap_err();
        assert_eq!(error.exit(), crate::error::Exit::Usage);
        assert!(error.to_string().contains("pass --yes"), "{error}");
    }
}
