//! Instructions that only change the image config (and add an empty-layer history
//! entry): ENV, LABEL, USER, EXPOSE, VOLUME, CMD, ENTRYPOINT, SHELL, HEALTHCHECK,
//! STOPSIGNAL, MAINTAINER, ONBUILD.

use lading_oci::spec::HealthConfig;
use serde_json::json;

use super::{Builder, StageState};
use crate::dockerfile::ast::{Command, Healthcheck, Instruction, Located};
use crate::dockerfile::expand_words;
use crate::error::{StepError, StepResult};

pub(super) fn apply(
    b: &Builder<'_>,
    state: &mut StageState,
    ins: &Located<Instruction>,
) -> StepResult<()> {
    match &ins.node {
        Instruction::Env(kvs) => {
            // Every pair sees the environment from before the instruction (BuildKit).
            let mut pairs = Vec::new();
            for kv in kvs {
                let key = b.expand(state, &kv.key)?;
                if key.is_empty() {
                    return Err(StepError::msg("ENV names can not be blank"));
                }
                pairs.push((key, b.expand(state, &kv.value)?));
            }
            for (key, value) in pairs {
                state.set_env(&key, &value);
            }
        }
        Instruction::Label(kvs) => {
            for kv in kvs {
                let key = b.expand(state, &kv.key)?;
                let value = b.expand(state, &kv.value)?;
                if key.is_empty() {
                    return Err(StepError::msg("LABEL names can not be blank"));
                }
                state.config.config.labels.insert(key, value);
            }
        }
        Instruction::Maintainer(m) => state.config.author = Some(m.clone()),
        Instruction::User(u) => {
            let user = b.expand(state, u)?;
            if user.is_empty() {
                return Err(StepError::msg("USER requires an argument"));
            }
            state.config.config.user = Some(user);
        }
        Instruction::Expose(words) => {
            for w in words {
                let ports = expand_words(w, b.df.escape, &b.lookup_fn(state))?;
                for port in ports {
                    for p in expand_port(&port)? {
                        state.config.config.exposed_ports.insert(p, json!({}));
                    }
                }
            }
        }
        Instruction::Volume(paths) => {
            for p in paths {
                let vols = expand_words(p, b.df.escape, &b.lookup_fn(state))?;
                for v in vols {
                    if v.trim().is_empty() {
                        return Err(StepError::msg(
                            "VOLUME specified can not be an empty string",
                        ));
                    }
                    state.config.config.volumes.insert(v, json!({}));
                }
            }
        }
        Instruction::StopSignal(s) => {
            let sig = b.expand(state, s)?;
            validate_signal(&sig)?;
            state.config.config.stop_signal = Some(sig);
        }
        Instruction::Shell(sh) => state.config.config.shell = sh.clone(),
        Instruction::Cmd(c) => {
            state.config.config.cmd = Some(command(state, c));
            state.cmd_set_here = true;
        }
        Instruction::Entrypoint(c) => {
            state.config.config.entrypoint = Some(command(state, c));
            if !state.cmd_set_here {
                // An inherited CMD no longer makes sense with a new ENTRYPOINT.
                state.config.config.cmd = None;
            }
        }
        Instruction::Healthcheck(h) => {
            state.config.config.healthcheck = Some(match h {
                Healthcheck::None => HealthConfig {
                    test: vec!["NONE".into()],
                    ..HealthConfig::default()
                },
                Healthcheck::Check {
                    test,
                    interval,
                    timeout,
                    start_period,
                    start_interval,
                    retries,
                } => {
                    let ns = |d: &Option<std::time::Duration>| d.map_or(0, |d| d.as_nanos() as i64);
                    HealthConfig {
                        test: match test {
                            Command::Exec(v) => std::iter::once("CMD".to_string())
                                .chain(v.iter().cloned())
                                .collect(),
                            Command::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                        },
                        interval: ns(interval),
                        timeout: ns(timeout),
                        start_period: ns(start_period),
                        start_interval: ns(start_interval),
                        retries: retries.unwrap_or(0),
                    }
                }
            });
        }
        Instruction::OnBuild { trigger, .. } => state
            .config
            .config
            .on_build
            .push(trigger.trim().to_string()),
        other => return Err(StepError::msg(format!("unexpected instruction {other:?}"))),
    }
    state.config.history.push(b.history(ins, true));
    Ok(())
}

/// Shell form goes through SHELL (default `/bin/sh -c`).
fn command(state: &StageState, c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = if state.config.config.shell.is_empty() {
                vec!["/bin/sh".to_string(), "-c".to_string()]
            } else {
                state.config.config.shell.clone()
            };
            v.push(s.clone());
            v
        }
    }
}

/// `80` → `80/tcp`; `53/UDP` → `53/udp`; `8000-8002` → three ports.
fn expand_port(p: &str) -> StepResult<Vec<String>> {
    let (ports, proto) = match p.split_once('/') {
        Some((a, b)) => (a, b.to_ascii_lowercase()),
        None => (p, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(StepError::msg(format!("invalid proto: {proto}")));
    }
    let bad = || StepError::msg(format!("invalid containerPort: {ports}"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let x = ports.parse::<u16>().map_err(|_| bad())?;
            (x, x)
        }
    };
    if hi < lo {
        return Err(StepError::msg(format!(
            "invalid range specified for containerPort: {ports}"
        )));
    }
    Ok((lo..=hi).map(|x| format!("{x}/{proto}")).collect())
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
];

fn validate_signal(sig: &str) -> StepResult<()> {
    let s = sig.to_ascii_uppercase();
    let name = s.strip_prefix("SIG").unwrap_or(&s);
    let ok = sig.parse::<u32>().is_ok_and(|n| (1..=64).contains(&n))
        || SIGNALS.contains(&name)
        || name
            .strip_prefix("RTMIN")
            .or_else(|| name.strip_prefix("RTMAX"))
            .is_some_and(|r| {
                r.is_empty() || r.trim_start_matches(['+', '-']).parse::<u32>().is_ok()
            });
    if ok {
        Ok(())
    } else {
        Err(StepError::msg(format!("invalid signal: {sig}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_expand() {
        assert_eq!(expand_port("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(expand_port("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(expand_port("8000-8002").unwrap().len(), 3);
        assert!(expand_port("x").is_err());
        assert!(expand_port("80/foo").is_err());
    }

    #[test]
    fn signals_validate() {
        for ok in ["SIGTERM", "9", "SIGRTMIN+3", "quit"] {
            validate_signal(ok).unwrap();
        }
        assert!(validate_signal("SIGNOPE").is_err());
    }
}
