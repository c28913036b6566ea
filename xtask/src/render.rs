//! Output for people and machines: aligned tables, sizes and durations, JSON on stdout.
//!
//! Human output goes to stderr while a command runs and its final table to stdout; `--json`
//! replaces the table with one JSON document on stdout and nothing else there.

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
}

pub fn print_json<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("plain data serializes")
    );
}

pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
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
    fn units_read_naturally() {
        assert_eq!(megabytes(84_500_000), "84.5 MB");
        assert_eq!(duration(Duration::from_millis(2_345)), "2.3s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
    }
}
