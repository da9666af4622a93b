//! Checks as values, as `linkerd check` has them: a check is its title (what
//! it checks), its result, and a hint saying what to do when it did not pass.
//! A check that does not pass is fatal (✖ [`CheckStatus::Fail`]: it stops
//! what runs, or makes the command exit 1) or a warning (‼
//! [`CheckStatus::Warn`]: said, and it goes on).
//!
//! [`Check::render`] is the one place such lines are drawn (mp-cacheck's
//! checks, mp-failover's preflight and its steps): `✔ title`, `‼ title` or
//! `✖ title`, with `→ hint` under a warning or a failure. The same values
//! serialize for `-o json|yaml` (`status` as `pass|warn|fail`, `title`, and
//! `hint` when there is one).

use serde::Serialize;

use crate::ui::output::{GREEN, RED, Ui, YELLOW};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn mark(self) -> &'static str {
        match self {
            CheckStatus::Pass => "✔",
            CheckStatus::Warn => "‼",
            CheckStatus::Fail => "✖",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            CheckStatus::Pass => GREEN,
            CheckStatus::Warn => YELLOW,
            CheckStatus::Fail => RED,
        }
    }
}

/// One check and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub status: CheckStatus,
    pub title: String,
    /// What to do about it; shown only when the check did not pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Check {
    pub fn new(status: CheckStatus, title: impl Into<String>) -> Self {
        Check {
            status,
            title: title.into(),
            hint: None,
        }
    }

    /// ✔ `title`
    pub fn pass(title: impl Into<String>) -> Self {
        Check::new(CheckStatus::Pass, title)
    }

    /// ‼ `title`: a warning, said and gone past.
    pub fn warn(title: impl Into<String>) -> Self {
        Check::new(CheckStatus::Warn, title)
    }

    /// ✖ `title`: fatal.
    pub fn fail(title: impl Into<String>) -> Self {
        Check::new(CheckStatus::Fail, title)
    }

    /// A check that must pass: ✔ `title` when `passed`, else ✖ `title` with `hint`.
    pub fn required(passed: bool, title: impl Into<String>, hint: impl Into<String>) -> Self {
        if passed {
            Check::pass(title)
        } else {
            Check::fail(title).hint(hint)
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn failed(&self) -> bool {
        self.status == CheckStatus::Fail
    }

    /// The check as text: its mark and title, and the hint under it when it
    /// did not pass.
    pub fn render(&self, ui: &Ui) -> String {
        let colour = self.status.colour();
        let mut line = format!("{} {}", ui.paint(colour, self.status.mark()), self.title);
        if let (Some(hint), false) = (&self.hint, self.status == CheckStatus::Pass) {
            line.push_str(&format!("\n    {} {hint}", ui.paint(colour, "→")));
        }
        line
    }

    /// [`render`](Check::render)ed on stderr.
    pub fn show(&self, ui: &Ui) {
        ui.info(&self.render(ui));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_checks_carry_their_hint_and_passing_ones_do_not() {
        let ui = Ui::plain(false);
        assert_eq!(
            Check::pass("same root CA").hint("unused").render(&ui),
            "✔ same root CA"
        );
        assert_eq!(
            Check::fail("same root CA")
                .hint("re-issue tsb-certs")
                .render(&ui),
            "✖ same root CA\n    → re-issue tsb-certs"
        );
        assert_eq!(Check::warn("expiry").render(&ui), "‼ expiry");
    }

    #[test]
    fn plain_ui_never_emits_escape_codes() {
        let ui = Ui::plain(true);
        assert!(!ui.colour());
        assert!(!Check::fail("x").hint("y").render(&ui).contains('\x1b'));
    }

    #[test]
    fn a_required_check_passes_or_fails_with_its_hint() {
        let ui = Ui::plain(false);
        assert_eq!(
            Check::required(true, "standby found", "install it").render(&ui),
            "✔ standby found"
        );
        let failed = Check::required(false, "standby found", "install it");
        assert!(failed.failed());
        assert_eq!(failed.render(&ui), "✖ standby found\n    → install it");
    }

    #[test]
    fn a_check_serializes_its_status_title_and_hint() {
        assert_eq!(
            serde_json::to_value(Check::warn("expiry").hint("renew")).unwrap(),
            serde_json::json!({"status": "warn", "title": "expiry", "hint": "renew"})
        );
        assert_eq!(
            serde_json::to_value(Check::pass("chain")).unwrap(),
            serde_json::json!({"status": "pass", "title": "chain"})
        );
    }
}
