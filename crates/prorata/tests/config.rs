//! `prorata.toml` is read from the working folder (or `--config`), its settings overridden by
//! their environment variables, and a misspelt key stops the command with its name.

use std::process::Command;

fn prorata(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prorata"));
    cmd.current_dir(dir)
        .env_remove("PRORATA_DATABASE_URL")
        .env_remove("PRORATA_CONFIG");
    cmd
}

#[test]
fn the_file_sets_the_database_the_environment_overrides_it_and_typos_stop() {
    let dir = std::env::temp_dir().join(format!("prorata-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("prorata.toml"),
        "database_url = \"sqlite://from-file.db\"\nlog_format = \"json\"\n",
    )
    .unwrap();

    let out = prorata(&dir).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.join("from-file.db").exists(),
        "the file's database was not used"
    );

    let out = prorata(&dir)
        .arg("migrate")
        .env("PRORATA_DATABASE_URL", "sqlite://from-env.db")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.join("from-env.db").exists(),
        "the environment did not win"
    );

    // A file named on the command line, with a typo: refused, naming the key and the file.
    std::fs::write(dir.join("other.toml"), "databse_url = \"sqlite://x.db\"\n").unwrap();
    let out = prorata(&dir)
        .args(["--config", "other.toml", "migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("other.toml") && err.contains("unknown key \"databse_url\""),
        "{err}"
    );
    assert!(!dir.join("x.db").exists());
    // A named file that is missing is an error too (the default one may be absent).
    let out = prorata(&dir)
        .args(["--config", "missing.toml", "migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read missing.toml"));
    let _ = std::fs::remove_dir_all(&dir);
}
