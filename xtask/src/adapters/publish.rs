//! Runs publishing steps (domain/publish.rs) in one registry session: fills in the digests
//! earlier steps captured, stops a job at its first failure, and records each outcome.

use anyhow::Result;

use crate::adapters::registry::{self, Credentials, Retry, Session};
use crate::domain::env::Env;
use crate::domain::publish::{Capture, Job, Outcome, Published, Status, Step, DIGEST, MANIFEST};

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
            *manifest = Some(registry::pushed_digest(&attempt.printed).ok_or_else(|| {
                anyhow::anyhow!(
                    "`docker push` printed no digest: {}",
                    attempt.lines.join("\n")
                )
            })?);
        }
        Some(Capture::Digest) => {
            outcome.digest =
                Some(registry::manifest_digest(&attempt.printed).map_err(|e| {
                    anyhow::anyhow!("{}", session.redactor.redact(&format!("{e:#}")))
                })?)
        }
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
