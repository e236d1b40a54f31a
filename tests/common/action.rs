//! Runs the repository's composite GitHub Action (`action.yml`) the way a GitHub runner
//! does, without GitHub: the steps in order, each `run:` as
//! `bash --noprofile --norc -eo pipefail {0}` in the workspace, with the environment a
//! runner sets (`GITHUB_ACTIONS`, `CI`, `RUNNER_TEMP`, `GITHUB_ACTION_PATH`, the file
//! commands `GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_PATH`, `GITHUB_STEP_SUMMARY`, …), the
//! file commands read back after each step (`NAME=VALUE` and `NAME<<DELIM` forms), and
//! the action's outputs mapped from the steps' outputs.
//!
//! Only the expression forms action.yml uses are evaluated, in `env:` and `with:` values
//! and in `outputs.*.value` and input defaults: `inputs.NAME`, `github.PATH`,
//! `steps.ID.outputs.NAME` and `runner.temp`/`runner.os`/`runner.arch`. Anything else
//! (another expression, `uses:`, `if:`, a shell other than bash) fails the test: the
//! harness must not pretend to run what it does not understand.
//!
//! action.yml is read with PyYAML from the test venv (scripts/install-peers).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

/// The repository root (where action.yml is).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test venv (scripts/install-peers).
pub fn venv_bin() -> PathBuf {
    repo().join("target/peers-venv/bin")
}

/// Whether the venv's Python can read YAML (PyYAML).
pub fn have_pyyaml() -> bool {
    Command::new(venv_bin().join("python"))
        .args(["-c", "import yaml"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A YAML file as JSON (PyYAML's `safe_load`).
pub fn yaml_to_json(path: &Path) -> Value {
    let out = Command::new(venv_bin().join("python"))
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("running the venv's python");
    assert!(
        out.status.success(),
        "reading {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("yaml as json")
}

/// Parses a file command file (`GITHUB_OUTPUT`, `GITHUB_ENV`): `NAME=VALUE` lines and
/// `NAME<<DELIMITER` … `DELIMITER` blocks, later values winning.
pub fn parse_file_commands(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let heredoc = line.find("<<");
        let equals = line.find('=');
        match (heredoc, equals) {
            (Some(h), e) if e.is_none_or(|e| h < e) => {
                let (name, delim) = (&line[..h], &line[h + 2..]);
                assert!(!delim.is_empty(), "empty delimiter in {line:?}");
                let mut value = Vec::new();
                let mut closed = false;
                for l in lines.by_ref() {
                    if l == delim {
                        closed = true;
                        break;
                    }
                    value.push(l);
                }
                assert!(closed, "no closing {delim:?} for {name:?}");
                out.insert(name.to_string(), value.join("\n"));
            }
            (_, Some(e)) => {
                out.insert(line[..e].to_string(), line[e + 1..].to_string());
            }
            _ => panic!("not a file command line: {line:?}"),
        }
    }
    out
}

/// One step's run.
#[derive(Debug)]
pub struct StepRun {
    /// The step's `id` (or its index).
    pub id: String,
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// stdout then stderr.
    pub log: String,
    /// What it wrote to GITHUB_OUTPUT.
    pub outputs: BTreeMap<String, String>,
}

/// The action's run: its steps up to the first that failed, its outputs, the summary.
#[derive(Debug)]
pub struct ActionRun {
    pub steps: Vec<StepRun>,
    /// The action's outputs (`outputs.*.value` evaluated).
    pub outputs: BTreeMap<String, String>,
    /// GITHUB_STEP_SUMMARY of every step, concatenated.
    pub summary: String,
    /// Directories the steps added to PATH (GITHUB_PATH).
    pub path: Vec<String>,
}

impl ActionRun {
    /// Whether every step succeeded.
    pub fn success(&self) -> bool {
        self.steps.iter().all(|s| s.code == Some(0))
    }

    /// The failed step, if any.
    pub fn failed(&self) -> Option<&StepRun> {
        self.steps.iter().find(|s| s.code != Some(0))
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> &StepRun {
        self.steps
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no step {id} ran:\n{}", self.log()))
    }

    /// Every step's log.
    pub fn log(&self) -> String {
        self.steps
            .iter()
            .map(|s| format!("--- step {} (exit {:?})\n{}", s.id, s.code, s.log))
            .collect()
    }

    /// Panics with the logs unless every step succeeded.
    pub fn assert_success(&self) {
        assert!(self.success(), "the action failed:\n{}", self.log());
    }
}

/// A GitHub runner for one job that uses the action.
pub struct Runner {
    /// The action's directory (action.yml and action/).
    pub action_path: PathBuf,
    /// `with:` values.
    pub inputs: BTreeMap<String, String>,
    /// The `github` context (`actor`, `token`, `repository`, `ref`, `sha`,
    /// `event.repository.default_branch`, …).
    pub github: Value,
    /// Extra environment for every step (`ACTIONS_ID_TOKEN_REQUEST_*`, overrides).
    pub env: BTreeMap<String, String>,
    /// RUNNER_TEMP, GITHUB_WORKSPACE and HOME live here.
    pub root: tempfile::TempDir,
    /// Stop after the step with this id (tests of one step).
    pub stop_after: Option<String>,
}

impl Runner {
    /// A runner for the action in `action_path`, with a push to `main` of `acme/app` by
    /// `octocat` as its `github` context.
    pub fn new(action_path: &Path) -> Runner {
        let root = tempfile::tempdir().expect("tempdir");
        for d in ["temp", "workspace", "home", "tool-cache"] {
            std::fs::create_dir_all(root.path().join(d)).expect("runner dir");
        }
        let github = json!({
            "actor": "octocat",
            "token": "ghs_TheWorkflowToken0123456789abcdefABCD",
            "repository": "acme/app",
            "repository_owner": "acme",
            "ref": "refs/heads/main",
            "ref_name": "main",
            "sha": "4f2d9c1b0e8a7d6c5b4a39281706f5e4d3c2b1a0",
            "event_name": "push",
            "workflow": "publish",
            "run_id": "1234567890",
            "server_url": "https://github.com",
            "api_url": "https://api.github.com",
            "action_repository": "acme/lading",
            "event": { "repository": { "default_branch": "main" } },
        });
        Runner {
            action_path: action_path.to_path_buf(),
            inputs: BTreeMap::new(),
            github,
            env: BTreeMap::new(),
            root,
            stop_after: None,
        }
    }

    /// Sets a `with:` input.
    pub fn with(&mut self, name: &str, value: &str) -> &mut Self {
        self.inputs.insert(name.to_string(), value.to_string());
        self
    }

    /// Sets an environment variable for every step.
    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.insert(name.to_string(), value.to_string());
        self
    }

    /// Runs the steps up to and including `id` only.
    pub fn stop_after(&mut self, id: &str) -> &mut Self {
        self.stop_after = Some(id.to_string());
        self
    }

    /// Sets a `github` context value (`ref`, `event_name`, …).
    pub fn github(&mut self, name: &str, value: &str) -> &mut Self {
        self.github[name] = Value::String(value.to_string());
        self
    }

    /// GITHUB_WORKSPACE (the checkout).
    pub fn workspace(&self) -> PathBuf {
        self.root.path().join("workspace")
    }

    /// RUNNER_TEMP.
    pub fn temp(&self) -> PathBuf {
        self.root.path().join("temp")
    }

    /// Writes a file in the workspace.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.workspace().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, contents).expect("write");
        p
    }

    fn context_value(&self, path: &str) -> String {
        let mut v = &self.github;
        for part in path.split('.') {
            v = &v[part];
        }
        match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// Evaluates the `${{ … }}` expressions in `text`.
    fn eval(
        &self,
        text: &str,
        inputs: &BTreeMap<String, String>,
        steps: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find("}}")
                .unwrap_or_else(|| panic!("unclosed expression in {text:?}"));
            let expr = rest[start + 3..start + end].trim();
            out.push_str(&self.eval_expr(expr, inputs, steps));
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn eval_expr(
        &self,
        expr: &str,
        inputs: &BTreeMap<String, String>,
        steps: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> String {
        let ident = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if let Some(name) = expr.strip_prefix("inputs.").filter(|n| ident(n)) {
            return inputs
                .get(name)
                .cloned()
                .unwrap_or_else(|| panic!("`{expr}`: action.yml declares no input {name}"));
        }
        if let Some(path) = expr
            .strip_prefix("github.")
            .filter(|p| p.split('.').all(ident))
        {
            return match path {
                "action_path" => self.action_path.display().to_string(),
                "workspace" => self.workspace().display().to_string(),
                _ => self.context_value(path),
            };
        }
        if let Some(rest) = expr.strip_prefix("steps.") {
            let parts: Vec<&str> = rest.split('.').collect();
            if let [id, "outputs", name] = parts[..]
                && ident(id)
                && ident(name)
            {
                return steps
                    .get(id)
                    .and_then(|o| o.get(name))
                    .cloned()
                    .unwrap_or_default();
            }
        }
        match expr {
            "runner.temp" => self.temp().display().to_string(),
            "runner.os" => "Linux".into(),
            "runner.arch" => "X64".into(),
            _ => panic!("the harness does not evaluate the expression `{expr}`"),
        }
    }

    /// The environment a runner gives every step, before the step's own `env:`.
    fn base_env(&self, path: &[String]) -> BTreeMap<String, String> {
        let g = |k: &str| self.context_value(k);
        let mut env = BTreeMap::new();
        let mut search: Vec<String> = path.iter().rev().cloned().collect();
        search.push(std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()));
        let home = self.root.path().join("home");
        for (k, v) in [
            ("PATH", search.join(":")),
            ("HOME", home.display().to_string()),
            (
                "XDG_DATA_HOME",
                home.join(".local/share").display().to_string(),
            ),
            ("XDG_CACHE_HOME", home.join(".cache").display().to_string()),
            ("LANG", "C.UTF-8".into()),
            ("CI", "true".into()),
            ("GITHUB_ACTIONS", "true".into()),
            ("RUNNER_OS", "Linux".into()),
            ("RUNNER_ARCH", "X64".into()),
            ("RUNNER_TEMP", self.temp().display().to_string()),
            (
                "RUNNER_TOOL_CACHE",
                self.root.path().join("tool-cache").display().to_string(),
            ),
            ("GITHUB_WORKSPACE", self.workspace().display().to_string()),
            ("GITHUB_ACTION_PATH", self.action_path.display().to_string()),
            ("GITHUB_ACTION_REPOSITORY", g("action_repository")),
            ("GITHUB_ACTION", "__acme_lading".into()),
            ("GITHUB_REPOSITORY", g("repository")),
            ("GITHUB_REPOSITORY_OWNER", g("repository_owner")),
            ("GITHUB_SHA", g("sha")),
            ("GITHUB_REF", g("ref")),
            ("GITHUB_REF_NAME", g("ref_name")),
            ("GITHUB_ACTOR", g("actor")),
            ("GITHUB_EVENT_NAME", g("event_name")),
            ("GITHUB_WORKFLOW", g("workflow")),
            ("GITHUB_RUN_ID", g("run_id")),
            ("GITHUB_SERVER_URL", g("server_url")),
            ("GITHUB_API_URL", g("api_url")),
            // As a job with `env: GITHUB_TOKEN: ${{ github.token }}` has it.
            ("GITHUB_TOKEN", g("token")),
        ] {
            env.insert(k.to_string(), v);
        }
        env.extend(self.env.clone());
        env
    }

    /// Runs the action's steps in order, stopping at the first that fails.
    pub fn run(&self) -> ActionRun {
        let action = yaml_to_json(&self.action_path.join("action.yml"));
        assert_eq!(action["runs"]["using"], "composite", "a composite action");
        // Inputs: given values, else the defaults (which may hold expressions).
        let declared = action["inputs"].as_object().cloned().unwrap_or_default();
        for name in self.inputs.keys() {
            assert!(
                declared.contains_key(name),
                "action.yml has no input {name}"
            );
        }
        let no_steps = BTreeMap::new();
        let mut inputs = BTreeMap::new();
        for (name, spec) in &declared {
            let value = match self.inputs.get(name) {
                Some(v) => v.clone(),
                None => {
                    let default = match &spec["default"] {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let value = self.eval(&default, &BTreeMap::new(), &no_steps);
                    assert!(
                        !(spec["required"] == true && value.is_empty()),
                        "required input {name} is not given"
                    );
                    value
                }
            };
            inputs.insert(name.clone(), value);
        }

        let commands = self.temp().join("_runner_file_commands");
        std::fs::create_dir_all(&commands).expect("file commands dir");
        let mut steps_out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut path_added: Vec<String> = Vec::new();
        let mut env_added: BTreeMap<String, String> = BTreeMap::new();
        let mut summary = String::new();
        let mut runs = Vec::new();
        let steps = action["runs"]["steps"].as_array().expect("steps");
        for (n, step) in steps.iter().enumerate() {
            let id = step["id"]
                .as_str()
                .map_or_else(|| format!("__{n}"), str::to_string);
            for unsupported in ["uses", "if", "continue-on-error", "with"] {
                assert!(
                    step.get(unsupported).is_none(),
                    "step {id}: the harness does not run `{unsupported}:`"
                );
            }
            assert_eq!(step["shell"], "bash", "step {id}: shell must be bash");
            let script = step["run"].as_str().expect("run");
            let file = |kind: &str| {
                let p = commands.join(format!("{kind}_{n}"));
                std::fs::write(&p, "").expect("file command");
                p
            };
            let (output, env_file, path_file, summary_file) = (
                file("set_output"),
                file("set_env"),
                file("add_path"),
                file("step_summary"),
            );
            let script_file = self.temp().join(format!("_step_{n}.sh"));
            std::fs::write(&script_file, script).expect("script");

            let mut env = self.base_env(&path_added);
            env.extend(env_added.clone());
            for (k, v) in [
                ("GITHUB_OUTPUT", &output),
                ("GITHUB_ENV", &env_file),
                ("GITHUB_PATH", &path_file),
                ("GITHUB_STEP_SUMMARY", &summary_file),
            ] {
                env.insert(k.into(), v.display().to_string());
            }
            if let Some(step_env) = step["env"].as_object() {
                for (k, v) in step_env {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    env.insert(k.clone(), self.eval(&v, &inputs, &steps_out));
                }
            }
            let cwd = match step["working-directory"].as_str() {
                Some(d) => self.workspace().join(self.eval(d, &inputs, &steps_out)),
                None => self.workspace(),
            };
            let out = Command::new("bash")
                .args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script_file)
                .env_clear()
                .envs(&env)
                .current_dir(&cwd)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("running step {id}: {e}"));
            let read = |p: &Path| std::fs::read_to_string(p).expect("file command");
            let outputs = parse_file_commands(&read(&output));
            env_added.extend(parse_file_commands(&read(&env_file)));
            path_added.extend(
                read(&path_file)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string),
            );
            summary.push_str(&read(&summary_file));
            steps_out.insert(id.clone(), outputs.clone());
            let failed = !out.status.success();
            runs.push(StepRun {
                id,
                code: out.status.code(),
                log: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
                outputs,
            });
            if failed || self.stop_after.as_deref() == Some(runs.last().expect("run").id.as_str()) {
                break;
            }
        }
        let mut outputs = BTreeMap::new();
        if runs.iter().all(|s| s.code == Some(0)) {
            for (name, spec) in action["outputs"].as_object().into_iter().flatten() {
                let value = spec["value"].as_str().unwrap_or_default();
                outputs.insert(name.clone(), self.eval(value, &inputs, &steps_out));
            }
        }
        ActionRun {
            steps: runs,
            outputs,
            summary,
            path: path_added,
        }
    }
}

/// A static file server on 127.0.0.1 (HTTP/1.0, GET only) for the release downloads;
/// stops when dropped.
pub struct FileServer {
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl FileServer {
    pub fn start(root: &Path) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let flag = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                // Headers, up to the blank line.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split(' ').nth(1).unwrap_or("/");
                let rel = path.trim_start_matches('/');
                let file = (!rel.contains("..") && !rel.is_empty())
                    .then(|| std::fs::read(root.join(rel)).ok())
                    .flatten();
                let _ = match file {
                    Some(body) => conn
                        .write_all(
                            format!(
                                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| conn.write_all(&body)),
                    None => conn.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
                };
            }
        });
        FileServer {
            url: format!("http://127.0.0.1:{port}/"),
            stop,
            port,
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}
