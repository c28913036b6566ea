//! What push, promote and sign print: the plan of a dry run and the table of outcomes.

use crate::domain::command::shell_words;
use crate::domain::publish::{Failure, Outcome, Plan, Status};
use crate::render::{self, Table};

pub fn print_plan(plan: &Plan, json: bool) {
    if json {
        render::print_json(plan);
        return;
    }
    if let Some(login) = &plan.login {
        println!(
            "# login to {} (password on stdin)\n{}\n",
            plan.registry,
            shell_words(login)
        );
    }
    for job in &plan.services {
        println!("# {}", job.name);
        for step in &job.steps {
            println!("{}", shell_words(&step.argv));
        }
        println!();
    }
}

/// The outcomes as a table for people, or `{"services": [...]}` with `--json`.
pub fn print_outcomes(outcomes: &[Outcome], json: bool) {
    if json {
        render::print_json(&serde_json::json!({ "services": outcomes }));
    } else {
        print!("{}", summary(outcomes));
    }
}

pub fn summary(outcomes: &[Outcome]) -> String {
    let mut table = Table::new(["service", "image", "digest", "tags", "result"]);
    for o in outcomes {
        let digest = o
            .digest
            .as_deref()
            .map_or("-".to_owned(), |d| d.get(..19).unwrap_or(d).to_owned());
        let tags: Vec<&str> = o.tags.iter().map(|t| t.tag.as_str()).collect();
        let result = match (o.result, o.failure) {
            (Status::Published, _) if o.reused => "ok (already there)".to_owned(),
            (Status::Published, _) => "ok".to_owned(),
            (Status::Failed, Some(Failure::Auth)) => "FAILED (auth)".to_owned(),
            (Status::Failed, Some(Failure::Transient)) => "FAILED (unreachable)".to_owned(),
            (Status::Failed, Some(Failure::Refused)) => "REFUSED".to_owned(),
            (Status::Failed, _) => "FAILED".to_owned(),
        };
        table.row([
            o.name.clone(),
            o.repository.clone(),
            digest,
            if tags.is_empty() {
                "-".to_owned()
            } else {
                tags.join(", ")
            },
            result,
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_says_why_a_service_failed() {
        let o = Outcome {
            name: "api".into(),
            repository: "r.io/acme/api".into(),
            digest: None,
            tags: vec![],
            result: Status::Failed,
            failure: Some(Failure::Auth),
            error: Some("unauthorized".into()),
            reused: false,
        };
        let text = summary(&[o]);
        assert!(
            text.contains("api      r.io/acme/api  -       -     FAILED (auth)"),
            "{text}"
        );
    }
}
