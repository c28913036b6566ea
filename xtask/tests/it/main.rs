//! The CLI tests, one binary: `cargo xtask` run as a user runs it, each command in its own
//! module. Tests in one process run in parallel threads, so the ones that share state
//! (the repository's own images and the reports under target/xtask) take turns through
//! [`common::repository_images`].

mod common;

mod affected;
mod attestations;
mod build;
mod build_host;
mod ci;
mod doctor;
mod dry_run;
mod e2e;
mod engine;
mod identity;
mod interrupt;
mod legacy;
mod lint_dockerfiles;
mod multiplatform;
mod new_service;
mod push;
mod record;
mod scan;
mod sign;
mod tags;
mod verify;
