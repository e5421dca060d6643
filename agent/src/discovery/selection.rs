//! --exe matching: a glob against the executable path, its file name, or argv[0].

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::procfs_read::ProcessFacts;

pub struct ExeMatcher {
    set: Option<GlobSet>,
}

impl ExeMatcher {
    pub fn new(globs: &[String]) -> Result<Self, globset::Error> {
        if globs.is_empty() {
            return Ok(Self { set: None });
        }
        let mut builder = GlobSetBuilder::new();
        for g in globs {
            builder.add(Glob::new(g)?);
        }
        Ok(Self {
            set: Some(builder.build()?),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_none()
    }

    pub fn matches(&self, facts: &ProcessFacts) -> bool {
        let Some(set) = &self.set else {
            return false;
        };
        let mut candidates: Vec<String> = Vec::with_capacity(4);
        if let Some(exe) = &facts.exe {
            candidates.push(exe.display().to_string());
            if let Some(name) = exe.file_name() {
                candidates.push(name.to_string_lossy().into_owned());
            }
        }
        if let Some(argv0) = facts.cmdline.first() {
            candidates.push(argv0.clone());
        }
        candidates.push(facts.comm.clone());
        candidates.iter().any(|c| set.is_match(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn matches_path_or_name() {
        let m = ExeMatcher::new(&["nginx".into(), "*/python3*".into()]).unwrap();
        let f = |exe: &str| ProcessFacts {
            pid: 1,
            exe: Some(PathBuf::from(exe)),
            comm: String::new(),
            cmdline: vec![],
            otel_env: vec![],
        };
        assert!(m.matches(&f("/usr/sbin/nginx")));
        assert!(m.matches(&f("/usr/bin/python3.11")));
        assert!(!m.matches(&f("/usr/bin/redis-server")));
        assert!(ExeMatcher::new(&[]).unwrap().is_empty());
    }
}
