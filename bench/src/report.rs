//! docs/BENCHMARKS.md: a summary against the targets, the exact setup, and one section per
//! scenario. Each finished section is also kept in target/sonde-bench/sections/<id>.json, so
//! that `--only nginx` refreshes one section and keeps the others from earlier runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// One line of the summary table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    pub what: String,
    pub target: String,
    pub measured: String,
    /// None when the run could not measure it.
    pub met: Option<bool>,
    /// By how much and why, when missed; any caveat otherwise.
    pub note: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Section {
    /// File name and sort key, e.g. `2-nginx`.
    pub id: String,
    pub title: String,
    /// When and how it was measured, e.g. `2025-11-25 15:40 UTC, quick mode`.
    pub stamp: String,
    pub body: String,
    pub targets: Vec<Target>,
    /// Performance problems the numbers point at, for the list at the end.
    pub problems: Vec<String>,
}

pub struct Report {
    doc: PathBuf,
    store: PathBuf,
    header: String,
}

impl Report {
    pub fn new(doc: &Path, store: &Path, header: String) -> anyhow::Result<Report> {
        std::fs::create_dir_all(store).with_context(|| format!("creating {store:?}"))?;
        Ok(Report {
            doc: doc.to_owned(),
            store: store.to_owned(),
            header,
        })
    }

    /// Saves the section and rewrites the whole document from every section stored.
    pub fn put(&self, section: &Section) -> anyhow::Result<()> {
        let path = self.store.join(format!("{}.json", section.id));
        std::fs::write(&path, serde_json::to_vec_pretty(section)?)
            .with_context(|| format!("writing {path:?}"))?;
        self.write()
    }

    fn sections(&self) -> anyhow::Result<Vec<Section>> {
        let mut sections = Vec::new();
        for entry in std::fs::read_dir(&self.store)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read(&path)?;
                match serde_json::from_slice::<Section>(&text) {
                    Ok(s) => sections.push(s),
                    Err(e) => eprintln!("bench: ignoring {path:?}: {e}"),
                }
            }
        }
        sections.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(sections)
    }

    pub fn write(&self) -> anyhow::Result<()> {
        let text = render(&self.header, &self.sections()?);
        if let Some(dir) = self.doc.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&self.doc, text).with_context(|| format!("writing {:?}", self.doc))?;
        println!("bench: wrote {}", self.doc.display());
        Ok(())
    }
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

fn render(header: &str, sections: &[Section]) -> String {
    let mut out = String::new();
    out.push_str(header);
    out.push_str("\n## Summary against the targets\n\n");
    out.push_str(
        "| measure | target | measured | verdict | note |\n| --- | --- | --- | --- | --- |\n",
    );
    for s in sections {
        for t in &s.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                t.what,
                t.target,
                t.measured,
                verdict(t.met),
                t.note
            );
        }
    }
    let problems: Vec<&String> = sections.iter().flat_map(|s| &s.problems).collect();
    if !problems.is_empty() {
        out.push_str("\n## Performance problems these numbers point at\n\n");
        for p in problems {
            let _ = writeln!(out, "- {p}");
        }
    }
    for s in sections {
        let _ = write!(
            out,
            "\n## {}\n\n_Measured {}._\n\n{}\n",
            s.title,
            s.stamp,
            s.body.trim_end()
        );
    }
    out
}

/// A markdown table from a header row and data rows.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        head.join(" | "),
        " --- |".repeat(head.len())
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out
}

/// `0.934`
pub fn ratio(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{x:.3}")
    }
}

/// `57,600` style for counts and rates.
pub fn int(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let s = format!("{:.0}", x.abs());
    let mut grouped = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if x < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(int(1234567.4), "1,234,567");
        assert_eq!(int(999.0), "999");
        assert_eq!(int(-1000.0), "-1,000");
        assert_eq!(ratio(0.93449), "0.934");
        let t = table(&["a", "b"], &[vec!["1".into(), "2".into()]]);
        assert_eq!(t, "| a | b |\n| --- | --- |\n| 1 | 2 |\n");
    }
}
