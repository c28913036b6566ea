//! The toolkit's decisions as pure data: config, tag rules, plans, the report model, the
//! gate and the policy checks. Nothing here starts a process, reads the environment or the
//! clock; a tidy test (`tidy::the_code_keeps_its_layers`) keeps it so.

pub mod affected;
pub mod attestation;
pub mod builder;
pub mod changes;
pub mod checks;
pub mod command;
pub mod config;
pub mod dockerfile;
pub mod dockerignore;
pub mod endpoint;
pub mod env;
pub mod error;
#[cfg(test)]
mod fuzz;
pub mod gate;
pub mod git;
pub mod health;
pub mod identity;
pub mod ignore;
pub mod image;
pub mod js_regex;
pub mod labels;
pub mod moment;
pub mod outcome;
pub mod plan;
pub mod publish;
pub mod record;
pub mod report;
pub mod signing;
pub mod tag;
pub mod tag_rules;
pub mod tools;
pub mod verdict;
