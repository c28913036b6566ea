//! Output for people and machines: aligned tables, sizes and durations, JSON on stdout.
//!
//! Human output goes to stderr while a command runs and its final table to stdout; `--json`
//! replaces the table with one JSON document on stdout and nothing else there.

pub mod publish;
pub mod sarif;

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn render(&self) -> String {
        let width = |i: usize| {
            self.rows
                .iter()
                .chain(std::iter::once(&self.headers))
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.headers.len()).map(width).collect();
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The same table in GitHub-flavoured markdown.
    pub fn render_markdown(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = line(&self.headers);
        out.push_str(&line(&vec!["---".to_owned(); self.headers.len()]));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// Appends markdown to the file GitHub Actions shows as the step's summary.
pub fn append_step_summary(path: &std::path::Path, markdown: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening GITHUB_STEP_SUMMARY {}", path.display()))?;
    writeln!(file, "{markdown}").with_context(|| format!("writing {}", path.display()))
}

pub fn print_json<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("plain data serializes")
    );
}

/// A dry run's plan: the commands the real run executes, in order, one per line as they
/// would be typed (secrets redacted), or `{"commands": [...]}` with `--json`.
pub fn print_commands<'a>(
    commands: impl IntoIterator<Item = &'a crate::domain::command::Command>,
    json: bool,
) {
    let commands: Vec<&crate::domain::command::Command> = commands.into_iter().collect();
    if json {
        print_json(&serde_json::json!({ "commands": commands }));
    } else {
        for c in commands {
            println!("{c}");
        }
    }
}

pub use crate::domain::checks::megabytes;

pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// A titled stretch of log: in GitHub Actions a `::group::` that the log folds (closed
/// with `::endgroup::` when the value is dropped, so an early return closes it too), and
/// nothing elsewhere.
#[must_use = "the group ends when this is dropped"]
pub struct Group {
    github: bool,
}

/// `body` as a folded GitHub Actions log group titled `title`.
pub fn group_text(title: &str, body: &str) -> String {
    let body = body.strip_suffix('\n').unwrap_or(body);
    format!(
        "::group::{}\n{body}\n::endgroup::\n",
        title.replace(['\r', '\n'], " ")
    )
}

/// Opens a log group titled `title` when `github` (running as an Actions step).
pub fn group(github: bool, title: &str) -> Group {
    if github {
        println!("::group::{}", title.replace(['\r', '\n'], " "));
    }
    Group { github }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.github {
            println!("::endgroup::");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(["service", "result"]);
        t.row(["api", "ok"]);
        t.row(["playwright-runner", "failed"]);
        assert_eq!(
            t.render(),
            "service            result\napi                ok\nplaywright-runner  failed\n"
        );
    }

    #[test]
    fn markdown_table_escapes_pipes() {
        let mut t = Table::new(["image", "result"]);
        t.row(["a|b", "ok"]);
        assert_eq!(
            t.render_markdown(),
            "| image | result |\n| --- | --- |\n| a\\|b | ok |\n"
        );
    }

    #[test]
    fn units_read_naturally() {
        assert_eq!(megabytes(84_500_000), "84.5 MB");
        assert_eq!(duration(Duration::from_millis(2_345)), "2.3s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
    }
}
