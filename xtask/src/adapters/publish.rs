//! Runs publishing steps (domain/publish.rs) in one registry session: fills in the digests
//! earlier steps captured, skips the upload when the registry already holds the image,
//! refuses before anything moves when it holds another, stops a job at its first failure,
//! and records each outcome.

use anyhow::{Context, Result};

use crate::adapters::registry::{self, CommandFailed, Credentials, Retry, Session};
use crate::domain::env::Env;
use crate::domain::publish::{
    self, Capture, Failure, Held, Job, Judgement, Outcome, Published, Status, Step, DIGEST,
    MANIFEST,
};

/// Logs in if credentials are given, then runs the jobs in that one session.
pub fn run(
    env: &Env,
    host: &str,
    credentials: Option<Credentials>,
    retry: Retry,
    jobs: &[Job],
) -> Result<Vec<Outcome>> {
    let session = Session::open(env, host, credentials, retry)?;
    Ok(execute(&session, jobs))
}

/// What a job has learnt so far.
#[derive(Default)]
struct State {
    manifest: Option<String>,
    /// What the lookup found for the immutable tag, when it found something.
    held: Option<Held>,
    /// The found image is a bare manifest: the other tags get it with `docker push`.
    copy_by_push: bool,
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
                reused: false,
            };
            let mut state = State::default();
            for step in &job.steps {
                if step.upload && state.held.is_some() {
                    continue;
                }
                if let Err(e) = run_step(session, step, width, job, &mut state, &mut outcome) {
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
    state: &mut State,
    outcome: &mut Outcome,
) -> Result<()> {
    if state.copy_by_push && step.capture.is_none() {
        if let Some(tag) = &step.publishes {
            return copy_by_push(session, width, job, tag, outcome);
        }
    }
    let argv: Vec<String> = step
        .argv
        .iter()
        .map(|a| {
            let a = match &state.manifest {
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
    if step.capture == Some(Capture::Image) {
        let reference = argv.last().cloned().unwrap_or_default();
        let held = session.lookup(&argv)?;
        let image = job
            .image
            .as_ref()
            .context("a digest check names no image")?;
        publish::holds(&reference, image, &held).map_err(|why| CommandFailed {
            failure: Failure::Refused,
            message: why,
        })?;
        let digest = reference.rsplit_once('@').map_or("", |(_, d)| d).to_owned();
        eprintln!("{:width$} | {reference} is image {}", job.name, image.id);
        outcome.digest = Some(digest);
        return Ok(());
    }
    if step.capture == Some(Capture::Held) {
        let held = session.lookup(&argv)?;
        match &held {
            Held::Absent => eprintln!("{:width$} | not in the registry yet", job.name),
            Held::Found { .. } => state.held = Some(held),
        }
        return Ok(());
    }
    let quiet = step.capture == Some(Capture::Digest);
    let print = |line: &str| {
        if !quiet {
            eprintln!("{:width$} | {line}", job.name);
        }
    };
    let attempt = if step.upload && step.capture == Some(Capture::Manifest) {
        session.run_upload(&argv, print)?
    } else {
        session.run(&argv, None, print)?
    };
    match step.capture {
        Some(Capture::Manifest) => {
            state.manifest = Some(registry::pushed_digest(&attempt.printed).ok_or_else(|| {
                anyhow::anyhow!(
                    "`docker push` printed no digest: {}",
                    attempt.lines.join("\n")
                )
            })?);
        }
        Some(Capture::Digest) => {
            let digest = registry::manifest_digest(&attempt.printed)
                .map_err(|e| anyhow::anyhow!("{}", session.redactor.redact(&format!("{e:#}"))))?;
            if let (Some(held), Some(image)) = (&state.held, &job.image) {
                let tag = &image.immutable;
                match publish::judge(&job.repository, image, &digest, held) {
                    Judgement::Upload => {}
                    Judgement::Reuse => {}
                    Judgement::ReuseManifest => state.copy_by_push = true,
                    Judgement::Refuse(why) => {
                        return Err(CommandFailed {
                            failure: Failure::Refused,
                            message: why,
                        }
                        .into())
                    }
                }
                eprintln!(
                    "{:width$} | {tag} already holds this image ({digest}): nothing to upload",
                    job.name
                );
                outcome.reused = true;
            }
            outcome.digest = Some(digest);
        }
        Some(Capture::Held) | Some(Capture::Image) | None => {}
    }
    record(width, job, step.publishes.as_ref(), outcome);
    Ok(())
}

fn record(width: usize, job: &Job, tag: Option<&crate::domain::tag::Tag>, outcome: &mut Outcome) {
    if let (Some(tag), Some(digest)) = (tag, &outcome.digest) {
        eprintln!("{:width$} | {}:{tag} -> {digest}", job.name, job.repository);
        outcome.tags.push(Published {
            tag: tag.clone(),
            digest: digest.clone(),
        });
    }
}

/// Gives `tag` the bare manifest the immutable tag names, by pushing the same local image
/// under it; fails (naming both digests) if docker produced another manifest.
fn copy_by_push(
    session: &Session,
    width: usize,
    job: &Job,
    tag: &crate::domain::tag::Tag,
    outcome: &mut Outcome,
) -> Result<()> {
    let (Some(image), Some(digest)) = (&job.image, outcome.digest.clone()) else {
        anyhow::bail!("no image to push as {tag}");
    };
    let target = format!("{}:{tag}", job.repository);
    let print = |line: &str| eprintln!("{:width$} | {line}", job.name);
    for argv in [
        vec![
            "docker".into(),
            "tag".into(),
            image.id.clone(),
            target.clone(),
        ],
        vec!["docker".into(), "push".into(), target.clone()],
    ] {
        eprintln!(
            "{:width$} | $ {}",
            job.name,
            crate::adapters::exec::shell_words(&argv)
        );
        let attempt = if argv[1] == "push" {
            session.run_upload(&argv, print)?
        } else {
            session.run(&argv, None, print)?
        };
        if argv[1] == "push" {
            let pushed = registry::pushed_digest(&attempt.printed);
            if pushed.as_deref() != Some(&digest) {
                anyhow::bail!(
                    "`docker push {target}` gave it {}, not {digest} that {} names: point it \
                     there with cargo xtask promote --from {} --to {tag}",
                    pushed.as_deref().unwrap_or("no digest"),
                    image.immutable,
                    image.immutable
                );
            }
        }
    }
    record(width, job, Some(tag), outcome);
    Ok(())
}
