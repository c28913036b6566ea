//! A snapshot of the environment variables the toolkit reads.
//!
//! Everything that depends on the environment (GitHub Actions or a laptop, where reports go)
//! takes an [`Env`] instead of reading the process environment, so tests can state the environment
//! as data and CI differs from local runs only in inputs.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn is_true(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// The environment with `key` set to `value`.
    pub fn with(mut self, key: &str, value: &str) -> Env {
        self.0.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The environment without `key`.
    pub fn without(mut self, key: &str) -> Env {
        self.0.remove(key);
        self
    }

    /// Running as a GitHub Actions step.
    pub fn github_actions(&self) -> bool {
        self.is_true("GITHUB_ACTIONS")
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Env {
        Env(iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }
}
