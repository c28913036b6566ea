//! One file per subcommand: each plans from the domain, then runs through the adapters.

pub mod bench;
pub mod build;
pub mod ci;
pub mod doctor;
pub mod e2e;
pub mod engine;
pub mod lint;
pub mod lint_dockerfiles;
pub mod new_service;
pub mod promote;
pub mod push;
pub mod scan;
pub mod sign;
pub mod tags;
pub mod test;
pub mod verify;
