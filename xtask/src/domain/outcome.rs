//! A command's verdict as a value: clean, or failed for reasons it can name. Errors are for
//! what kept a command from judging at all; `main` maps both to exit codes (domain/error.rs).

/// What a command concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// Everything it judged passed.
    Clean,
    /// A gate, check, test or build said no; the message says which and why.
    Failed(String),
}

impl Outcome {
    /// `Failed(why())` when `failed`, else `Clean`.
    pub fn failed_if(failed: bool, why: impl FnOnce() -> String) -> Outcome {
        if failed {
            Outcome::Failed(why())
        } else {
            Outcome::Clean
        }
    }

    /// The exit code it ends the program with: 0, or 1 for a failed verdict.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Failed(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_verdict_is_exit_1_and_says_why() {
        assert_eq!(Outcome::Clean.exit_code(), 0);
        let o = Outcome::failed_if(true, || "api: 2 findings".into());
        assert_eq!(o, Outcome::Failed("api: 2 findings".into()));
        assert_eq!(o.exit_code(), 1);
        assert_eq!(Outcome::failed_if(false, || unreachable!()), Outcome::Clean);
    }
}
