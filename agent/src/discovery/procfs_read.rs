//! Reads what sonde needs about a process from /proc. Every read tolerates the process
//! being gone: it returns None, and callers fall back.

use std::path::{Path, PathBuf};

/// What /proc says about one process, read once per exec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessFacts {
    pub pid: u32,
    pub exe: Option<PathBuf>,
    pub comm: String,
    pub cmdline: Vec<String>,
    /// Only the OTEL_* variables are kept: the rest of a process's environment may hold
    /// secrets and never leaves this function.
    pub otel_env: Vec<(String, String)>,
}

pub fn read(pid: u32) -> Option<ProcessFacts> {
    read_at(Path::new("/proc"), pid)
}

pub fn read_at(proc_root: &Path, pid: u32) -> Option<ProcessFacts> {
    let dir = proc_root.join(pid.to_string());
    let comm = std::fs::read_to_string(dir.join("comm"))
        .ok()?
        .trim_end()
        .to_owned();
    let exe = std::fs::read_link(dir.join("exe")).ok();
    let cmdline = std::fs::read(dir.join("cmdline"))
        .map(|raw| split_nul(&raw))
        .unwrap_or_default();
    let otel_env = std::fs::read(dir.join("environ"))
        .map(|raw| {
            split_nul(&raw)
                .into_iter()
                .filter(|kv| kv.starts_with("OTEL_"))
                .filter_map(|kv| {
                    kv.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(ProcessFacts {
        pid,
        exe,
        comm,
        cmdline,
        otel_env,
    })
}

fn split_nul(raw: &[u8]) -> Vec<String> {
    raw.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Every process id under /proc.
pub fn all_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Parent process id, from /proc/PID/stat (the field after the parenthesised comm, which may
/// itself contain spaces and parentheses).
pub fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(1)?.parse().ok()
}

/// `pids` and all their descendants alive now.
pub fn with_descendants(pids: &[u32]) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = all_pids()
        .into_iter()
        .filter_map(|p| Some((p, parent_pid(p)?)))
        .collect();
    let mut out: Vec<u32> = pids.to_vec();
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        for (child, _) in parents.iter().filter(|(_, pp)| *pp == parent) {
            if !out.contains(child) {
                out.push(*child);
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_itself_without_leaking_env() {
        let facts = read(std::process::id()).expect("own /proc entry");
        assert!(!facts.comm.is_empty());
        assert!(!facts.cmdline.is_empty());
        assert!(facts.otel_env.iter().all(|(k, _)| k.starts_with("OTEL_")));
    }

    #[test]
    fn gone_process_is_none() {
        assert_eq!(read_at(Path::new("/nonexistent"), 1), None);
    }

    #[test]
    fn descendants_include_self() {
        let me = std::process::id();
        assert!(with_descendants(&[me]).contains(&me));
        assert_eq!(parent_pid(me), Some(std::os::unix::process::parent_id()));
    }
}
