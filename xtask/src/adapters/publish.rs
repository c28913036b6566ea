//! Publishing tags as steps: the plain-data commands `push` and `promote` plan, and the one
//! loop that runs them.
//!
//! A digest is only known once a step has run, so later steps name it with a placeholder
//! ([`MANIFEST`], [`DIGEST`]) that the executor fills in. A service's steps stop at its first
//! failure: tags are planned immutable first and `latest` last, so stopping early can leave
//! `latest` on the previous image but never on one that its `sha-` tag does not name.

use anyhow::{bail, Result};
use serde::Serialize;

use crate::adapters::exec::shell_words;
use crate::adapters::registry::{self, Credentials, Failure, Retry, Session};
use crate::domain::env::Env;
use crate::domain::tag::Tag;
use crate::render::{self, Table};

/// Replaced by the digest `docker push` printed.
pub const MANIFEST: &str = "{manifest}";
/// Replaced by the digest read with `docker buildx imagetools inspect`.
pub const DIGEST: &str = "{digest}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capture {
    /// `digest: sha256:...` from `docker push`, into [`MANIFEST`].
    Manifest,
    /// The manifest digest from `imagetools inspect --format '{{json .Manifest}}'`, into
    /// [`DIGEST`].
    Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub argv: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<Capture>,
    /// The tag that points at [`DIGEST`] once this step has succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishes: Option<Tag>,
}

impl Step {
    pub fn new(argv: &[&str]) -> Step {
        Step {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            capture: None,
            publishes: None,
        }
    }

    pub fn capture(mut self, c: Capture) -> Step {
        self.capture = Some(c);
        self
    }

    pub fn publishes(mut self, tag: &Tag) -> Step {
        self.publishes = Some(tag.clone());
        self
    }
}

/// Points `repository:tag` at whatever `source` names, without pulling or rebuilding.
pub fn retag(repository: &str, tag: &Tag, source: &str) -> Step {
    Step::new(&[
        "docker",
        "buildx",
        "imagetools",
        "create",
        "--tag",
        &format!("{repository}:{tag}"),
        source,
    ])
    .publishes(tag)
}

/// Reads the digest `reference` points at into [`DIGEST`].
pub fn resolve(reference: &str) -> Step {
    Step::new(&[
        "docker",
        "buildx",
        "imagetools",
        "inspect",
        "--format",
        "{{json .Manifest}}",
        reference,
    ])
    .capture(Capture::Digest)
}

/// `latest` (and flavored `latest-*`) tags move last.
pub fn latest_last(tags: &mut [Tag]) {
    tags.sort_by_key(|t| t.as_str().starts_with("latest"));
}

/// One service's (or image's) steps.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub name: String,
    pub repository: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub name: String,
    pub repository: String,
    pub digest: Option<String>,
    pub tags: Vec<Published>,
    pub result: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Published,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub tag: Tag,
    pub digest: String,
}

/// Everything a push or promote will do, decided before anything is sent.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub registry: String,
    /// `docker login` argv when credentials are given (the password goes to its stdin).
    pub login: Option<Vec<String>>,
    pub services: Vec<Job>,
    pub notes: Vec<String>,
}

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

/// Logs in if credentials are given, then runs the jobs in that one session.
pub fn run(
    env: &Env,
    host: &str,
    credentials: Option<Credentials>,
    jobs: &[Job],
) -> Result<Vec<Outcome>> {
    let session = Session::open(env, host, credentials, Retry::from_env(env))?;
    Ok(execute(&session, jobs))
}

/// Prints the table (or JSON) and fails when any job failed.
pub fn report(outcomes: &[Outcome], json: bool, verb: &str) -> Result<()> {
    if json {
        render::print_json(&serde_json::json!({ "services": outcomes }));
    } else {
        print!("{}", summary(outcomes));
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.result == Status::Failed)
        .map(|o| match &o.error {
            Some(e) => format!("{}: {}", o.name, e.lines().next().unwrap_or_default()),
            None => o.name.clone(),
        })
        .collect();
    if !failed.is_empty() {
        bail!("{verb} failed for {}", failed.join("; "));
    }
    Ok(())
}

/// Runs each job's steps in order; a failure ends that job and the next one starts.
pub fn execute(session: &Session, jobs: &[Job]) -> Vec<Outcome> {
    let width = jobs.iter().map(|j| j.name.len()).max().unwrap_or(0);
    jobs.iter()
        .map(|job| {
            let mut outcome = Outcome {
                name: job.name.clone(),
                repository: job.repository.clone(),
                digest: None,
                tags: Vec::new(),
                result: Status::Published,
                failure: None,
                error: None,
            };
            let mut manifest = None;
            for step in &job.steps {
                if let Err(e) = run_step(session, step, width, job, &mut manifest, &mut outcome) {
                    eprintln!("{:width$} | FAILED: {e:#}", job.name);
                    outcome.result = Status::Failed;
                    outcome.failure = registry::failure_of(&e);
                    outcome.error = Some(session.redactor.redact(&format!("{e:#}")));
                    break;
                }
            }
            outcome
        })
        .collect()
}

fn run_step(
    session: &Session,
    step: &Step,
    width: usize,
    job: &Job,
    manifest: &mut Option<String>,
    outcome: &mut Outcome,
) -> Result<()> {
    let argv: Vec<String> = step
        .argv
        .iter()
        .map(|a| {
            let a = match manifest {
                Some(m) => a.replace(MANIFEST, m),
                None => a.clone(),
            };
            match &outcome.digest {
                Some(d) => a.replace(DIGEST, d),
                None => a,
            }
        })
        .collect();
    eprintln!(
        "{:width$} | $ {}",
        job.name,
        crate::adapters::exec::shell_words(&argv)
    );
    let quiet = step.capture == Some(Capture::Digest);
    let attempt = session.run(&argv, None, |line| {
        if !quiet {
            eprintln!("{:width$} | {line}", job.name);
        }
    })?;
    match step.capture {
        Some(Capture::Manifest) => {
            *manifest = Some(registry::pushed_digest(&attempt.lines).ok_or_else(|| {
                anyhow::anyhow!(
                    "`docker push` printed no digest: {}",
                    attempt.lines.join("\n")
                )
            })?);
        }
        Some(Capture::Digest) => outcome.digest = Some(registry::manifest_digest(&attempt.lines)?),
        None => {}
    }
    if let (Some(tag), Some(digest)) = (&step.publishes, &outcome.digest) {
        eprintln!("{:width$} | {}:{tag} -> {digest}", job.name, job.repository);
        outcome.tags.push(Published {
            tag: tag.clone(),
            digest: digest.clone(),
        });
    }
    Ok(())
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
            (Status::Published, _) => "ok".to_owned(),
            (Status::Failed, Some(Failure::Auth)) => "FAILED (auth)".to_owned(),
            (Status::Failed, Some(Failure::Transient)) => "FAILED (unreachable)".to_owned(),
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

    fn tags(names: &[&str]) -> Vec<Tag> {
        names.iter().map(|t| Tag::parse(t).unwrap()).collect()
    }

    #[test]
    fn latest_moves_last_and_the_rest_keep_their_order() {
        let mut t = tags(&["main", "latest", "main-20261120-090507", "sha-860c190"]);
        latest_last(&mut t);
        assert_eq!(
            t.iter().map(Tag::as_str).collect::<Vec<_>>(),
            ["main", "main-20261120-090507", "sha-860c190", "latest"]
        );
    }

    #[test]
    fn retag_points_a_tag_at_a_source() {
        let s = retag(
            "r.io/acme/api",
            &tags(&["v1"])[0],
            &format!("r.io/acme/api@{DIGEST}"),
        );
        assert_eq!(
            s.argv.join(" "),
            "docker buildx imagetools create --tag r.io/acme/api:v1 r.io/acme/api@{digest}"
        );
        assert_eq!(s.publishes.as_ref().map(Tag::as_str), Some("v1"));
    }

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
        };
        let text = summary(&[o]);
        assert!(
            text.contains("api      r.io/acme/api  -       -     FAILED (auth)"),
            "{text}"
        );
    }
}
