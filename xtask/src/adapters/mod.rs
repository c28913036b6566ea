//! The outside world: git, docker and buildx, the registry, trivy, cosign and cargo, all
//! reached through [`exec`], the only module that starts processes.

pub mod builder;
pub mod cargo;
pub mod changes;
pub mod container;
pub mod cosign;
pub mod endpoint;
pub mod engine;
pub mod exec;
pub mod git;
pub mod image;
pub mod interrupt;
pub mod publish;
pub mod records;
pub mod registry;
pub mod scratch;
pub mod trivy;
pub mod tz;
pub mod verdicts;
pub mod workspace;
