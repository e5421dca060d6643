//! A service name a person would recognise: OTEL_SERVICE_NAME if the process set one, else
//! the script or module for interpreters (`uvicorn app:api` -> `app`), else the executable.

use super::procfs_read::ProcessFacts;

const PYTHON_LAUNCHERS: &[&str] = &[
    "uvicorn",
    "gunicorn",
    "hypercorn",
    "daphne",
    "granian",
    "flask",
];

pub fn service_name(facts: &ProcessFacts) -> String {
    if let Some((_, name)) = facts
        .otel_env
        .iter()
        .find(|(k, _)| k == "OTEL_SERVICE_NAME")
        && !name.trim().is_empty()
    {
        return name.trim().to_owned();
    }
    let exe_name = facts
        .exe
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| facts.comm.clone());
    if exe_name.starts_with("python")
        && let Some(name) = python_name(&facts.cmdline)
    {
        return name;
    }
    if (exe_name == "node" || exe_name.starts_with("nodejs"))
        && let Some(name) = node_name(&facts.cmdline)
    {
        return name;
    }
    exe_name
}

fn stem(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split_once('.').map_or(base, |(s, _)| s)
}

/// python [flags] (-m module | script) [args]: the module, or the script; for launchers
/// (uvicorn, gunicorn, celery) the application they load.
fn python_name(cmdline: &[String]) -> Option<String> {
    let mut args = cmdline.iter().skip(1).map(String::as_str).peekable();
    while let Some(arg) = args.next() {
        match arg {
            "-m" => {
                let module = args.next()?;
                return Some(app_of(module, args.map(str::to_owned).collect()));
            }
            "-c" => return None,
            "-W" | "-X" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            script => {
                return Some(app_of(stem(script), args.map(str::to_owned).collect()));
            }
        }
    }
    None
}

/// For a launcher, the application it loads ("app:api" -> "app", "celery -A proj" -> "proj");
/// otherwise the launcher or module itself.
fn app_of(module: &str, rest: Vec<String>) -> String {
    let launcher = module.rsplit('/').next().unwrap_or(module);
    if launcher == "celery" {
        let mut it = rest.iter();
        while let Some(arg) = it.next() {
            if arg == "-A" || arg == "--app" {
                if let Some(app) = it.next() {
                    return app.split(':').next().unwrap_or(app).to_owned();
                }
            } else if let Some(app) = arg.strip_prefix("--app=") {
                return app.split(':').next().unwrap_or(app).to_owned();
            }
        }
        return "celery".to_owned();
    }
    if PYTHON_LAUNCHERS.contains(&launcher)
        && let Some(app) = rest.iter().find(|a| !a.starts_with('-') && a.contains(':'))
    {
        return app.split(':').next().unwrap_or(app).to_owned();
    }
    launcher.to_owned()
}

fn node_name(cmdline: &[String]) -> Option<String> {
    let script = cmdline.iter().skip(1).find(|a| !a.starts_with('-'))?;
    let name = stem(script);
    if matches!(name, "index" | "main" | "server" | "app") {
        // A bare index.js says little; its folder is usually the project name.
        let parent = script
            .rsplit('/')
            .nth(1)
            .filter(|p| !p.is_empty() && *p != ".");
        return Some(parent.unwrap_or(name).to_owned());
    }
    Some(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn facts(exe: &str, cmdline: &[&str]) -> ProcessFacts {
        ProcessFacts {
            pid: 1,
            exe: Some(PathBuf::from(exe)),
            comm: exe
                .rsplit('/')
                .next()
                .unwrap_or(exe)
                .chars()
                .take(15)
                .collect(),
            cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
            otel_env: vec![],
        }
    }

    #[test]
    fn names() {
        let cases = [
            (
                "/usr/bin/python3.11",
                vec![
                    "/usr/bin/python3",
                    "/venv/bin/uvicorn",
                    "app:api",
                    "--port",
                    "8000",
                ],
                "app",
            ),
            (
                "/usr/bin/python3.11",
                vec!["python3", "-m", "uvicorn", "main:app"],
                "main",
            ),
            (
                "/usr/bin/python3.11",
                vec!["python3", "-m", "http.server", "8000"],
                "http.server",
            ),
            (
                "/usr/bin/python3.11",
                vec!["python3", "-u", "/srv/shop/worker.py"],
                "worker",
            ),
            (
                "/usr/bin/python3.11",
                vec![
                    "/venv/bin/python",
                    "/venv/bin/celery",
                    "-A",
                    "tasks",
                    "worker",
                ],
                "tasks",
            ),
            (
                "/usr/bin/python3.11",
                vec!["python3", "-c", "print(1)"],
                "python3.11",
            ),
            (
                "/usr/bin/node",
                vec!["node", "/srv/orders/index.js"],
                "orders",
            ),
            ("/usr/bin/node", vec!["node", "api.js"], "api"),
            ("/usr/sbin/nginx", vec!["nginx: worker process"], "nginx"),
        ];
        for (exe, cmd, want) in cases {
            assert_eq!(service_name(&facts(exe, &cmd)), want, "{cmd:?}");
        }
    }

    #[test]
    fn otel_service_name_wins() {
        let mut f = facts("/usr/sbin/nginx", &["nginx"]);
        f.otel_env
            .push(("OTEL_SERVICE_NAME".into(), "frontend".into()));
        assert_eq!(service_name(&f), "frontend");
    }
}
