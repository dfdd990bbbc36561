//! `prorata.toml`: the settings of a deployment in one file.
//!
//! Every key is the name of a command-line flag (`listen`, `smtp_url`, …) and has an
//! environment variable, `PRORATA_` and the key in capitals. Precedence, highest first: the
//! flag, the environment variable, the file, the default. The file is applied by setting the
//! environment variables it names that are not already set, before the command line is
//! parsed, so clap's own flag/env/default rules do the rest and there is one place that knows
//! each setting's type and default: its flag.
//!
//! The file is `--config PATH` (or `PRORATA_CONFIG`), else `./prorata.toml` when it exists.
//! An unknown key, or a value of the wrong kind, is refused with its name: a typo must not
//! silently leave a production setting at its default.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

/// The keys a file may set (each is a flag of `serve`, `demo` or every command).
pub const KEYS: &[&str] = &[
    "database_url",
    "log_format",
    "log",
    "listen",
    "worker_interval",
    "workers",
    "delivery_lease",
    "shutdown_grace",
    "smtp_url",
    "mail_from",
    "mail_dir",
    "public_url",
    "secret_key_file",
    "clamd",
    "rate_limit",
    "burst",
    "concurrent_requests",
    "request_timeout",
];

pub const DEFAULT_FILE: &str = "prorata.toml";

/// The environment variable of `key`.
pub fn env_name(key: &str) -> String {
    format!("PRORATA_{}", key.to_ascii_uppercase())
}

/// The file named by `--config`/`--config=` in `args`, else by `PRORATA_CONFIG`, else
/// `prorata.toml` when it exists; `None` when there is none to read.
pub fn locate(args: &[String], env: Option<String>) -> Option<(PathBuf, bool)> {
    let mut named = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--config" {
            named = it.next().cloned();
        } else if let Some(path) = arg.strip_prefix("--config=") {
            named = Some(path.to_owned());
        }
    }
    match named.or(env) {
        Some(path) => Some((PathBuf::from(path), true)),
        None => Path::new(DEFAULT_FILE)
            .exists()
            .then(|| (PathBuf::from(DEFAULT_FILE), false)),
    }
}

/// The (environment variable, value) pairs a file's text sets.
pub fn parse(text: &str) -> Result<Vec<(String, String)>> {
    let table: toml::Table = toml::from_str(text)?;
    let mut pairs = Vec::new();
    for (key, value) in table {
        if !KEYS.contains(&key.as_str()) {
            bail!("unknown key {key:?}; known keys: {}", KEYS.join(", "));
        }
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            other => bail!(
                "{key}: expected a string or an integer, found {}",
                other.type_str()
            ),
        };
        pairs.push((env_name(&key), value));
    }
    Ok(pairs)
}

/// Reads the file [`locate`] finds and sets the variables it names that the environment does
/// not set already. Runs before any thread is started (setting the environment is not
/// thread-safe).
pub fn apply(args: &[String]) -> Result<()> {
    let Some((path, named)) = locate(args, std::env::var("PRORATA_CONFIG").ok()) else {
        return Ok(());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if !named && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let pairs = parse(&text).with_context(|| format!("{}", path.display()))?;
    for (name, value) in pairs {
        if std::env::var_os(&name).is_none() {
            std::env::set_var(name, value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_variables_and_typos_are_refused() {
        let pairs = parse("listen = \"0.0.0.0:8080\"\nworker_interval = 30\n").unwrap();
        assert_eq!(
            pairs,
            [
                ("PRORATA_LISTEN".to_string(), "0.0.0.0:8080".to_string()),
                ("PRORATA_WORKER_INTERVAL".to_string(), "30".to_string()),
            ]
        );
        let typo = parse("listn = \"x\"").unwrap_err().to_string();
        assert!(typo.contains("unknown key \"listn\""), "{typo}");
        let kind = parse("burst = [1]").unwrap_err().to_string();
        assert!(
            kind.contains("burst: expected a string or an integer"),
            "{kind}"
        );
    }

    #[test]
    fn the_flag_names_the_file_before_the_environment() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            locate(
                &args(&["prorata", "--config", "a.toml", "serve"]),
                Some("b.toml".into())
            ),
            Some((PathBuf::from("a.toml"), true))
        );
        assert_eq!(
            locate(&args(&["prorata", "serve", "--config=c.toml"]), None),
            Some((PathBuf::from("c.toml"), true))
        );
        assert_eq!(
            locate(&args(&["prorata", "serve"]), Some("b.toml".into())),
            Some((PathBuf::from("b.toml"), true))
        );
    }
}
