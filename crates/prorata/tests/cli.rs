//! End-to-end tests of the `prorata` binary: the shipped examples, `catalog check`, `quote`,
//! and the errors a user meets with a bad file or a bad argument.
//!
//! Every test runs the built binary from the workspace root, as the README does. Bad input
//! files are written into a fresh folder under the system's temporary directory, named after
//! the process and the test, and removed when the test ends.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// What one run of the binary did.
struct Run {
    args: Vec<String>,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn prorata<S: AsRef<str>>(args: &[S]) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    let output = Command::new(env!("CARGO_BIN_EXE_prorata"))
        .args(&args)
        .current_dir(WORKSPACE)
        .output()
        .unwrap_or_else(|e| panic!("cannot run prorata {args:?}: {e}"));
    Run {
        args,
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "prorata {:?}\nexit code: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }

    /// Exit 0, nothing on stderr; returns stdout.
    fn success(&self) -> &str {
        assert_eq!(self.code, Some(0), "expected success\n{}", self.describe());
        assert!(
            self.stderr.is_empty(),
            "expected an empty stderr\n{}",
            self.describe()
        );
        &self.stdout
    }

    /// Exit `code`, no panic, nothing on stdout, and stderr holds every one of `needles`.
    fn fails(&self, code: i32, needles: &[&str]) {
        assert!(
            !self.stderr.contains("panicked"),
            "the binary panicked\n{}",
            self.describe()
        );
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}\n{}",
            self.describe()
        );
        assert!(
            self.stdout.is_empty(),
            "expected nothing on stdout\n{}",
            self.describe()
        );
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr should mention {needle:?}\n{}",
                self.describe()
            );
        }
    }

    fn json(&self) -> Value {
        let out = self.success();
        serde_json::from_str(out)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", self.describe()))
    }
}

/// A fresh folder for one test's files, removed when the test ends (even when it fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("prorata-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    /// Writes `name` in the folder and returns its full path as a string for the command line.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path.display().to_string()
    }

    /// A folder with the shipped catalog as `catalog.toml` and `scenario` as `scenario.toml`;
    /// returns the scenario's path.
    fn scenario(&self, scenario: &str) -> String {
        self.write("catalog.toml", &workspace_file("catalog/default.toml"));
        self.write("scenario.toml", scenario)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn workspace_file(relative: &str) -> String {
    let path = Path::new(WORKSPACE).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `text` with its one occurrence of `from` replaced by `to`; fails if `from` is not there
/// exactly once, so a fixture cannot silently stop testing what it claims to.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the fixture should hold {from:?} exactly once"
    );
    text.replacen(from, to, 1)
}

/// The 1-based number of the line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} is not in the fixture"))
}

fn entries(outcome: &Value) -> &[Value] {
    outcome["entries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no entries array in {outcome:#}"))
}

fn documents(outcome: &Value) -> Vec<&Value> {
    entries(outcome)
        .iter()
        .filter(|e| e["type"] == "document")
        .collect()
}

fn lines(document: &Value) -> &[Value] {
    document["lines"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no lines array in {document:#}"))
}

fn invoice_issued_on<'a>(outcome: &'a Value, date: &str) -> &'a Value {
    let found: Vec<&Value> = documents(outcome)
        .into_iter()
        .filter(|d| d["kind"] == "invoice" && d["issued_on"] == date)
        .collect();
    assert_eq!(found.len(), 1, "expected one invoice issued on {date}");
    found[0]
}

/// A small catalog that `catalog check` accepts (checked by a test below); the error tests
/// each change one thing in it.
const SMALL_CATALOG: &str = r#"name = "Small test catalog"
currencies = ["EUR", "GBP"]

[products.user]
kind = "user"
name = { en = "User licence", fr = "Licence utilisateur" }

[products.number]
kind = "number"
name = { en = "Phone number", fr = "Numéro" }

[metrics.outbound_fr_fixed]
name = { en = "Outbound calls – France fixed", fr = "Appels sortants – France fixe" }
unit = "minute"

[metrics.outbound_fr_fixed.price.EUR]
model = "per_unit"
unit_price = "0.015"

[metrics.outbound_fr_fixed.price.GBP]
model = "per_unit"
unit_price = "0.013"

[metrics.outbound_world]
name = { en = "Outbound calls – rest of world", fr = "Appels sortants – reste du monde" }
unit = "minute"
price.EUR = { model = "graduated", tiers = [
  { up_to = 1000, unit_price = "0.2500" },
  { unit_price = "0.1800" },
] }
price.GBP = { model = "per_unit", unit_price = "0.2200" }

[plans.essentials]
name = { en = "Essentials", fr = "Essentiel" }
rank = 1
trial_days = 7
frequencies = ["monthly"]

[plans.essentials.items.user]
minimum = 3
unit_price.monthly = { EUR = "30.00", GBP = "25.00" }

[plans.essentials.items.number]
included = 1
unit_price.monthly = { EUR = "6.00", GBP = "5.00" }
"#;

/// A scenario that plays without error against the shipped catalog (checked by a test below).
const SMALL_SCENARIO: &str = r#"title = "CLI test"
catalog = "catalog.toml"
until = "2024-08-06"

[account]
name = "Test SAS"
country = "FR"
language = "en"

[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2024-06-06"
trial_days = 0
quantities = { user = 10, number = 1 }
"#;

fn check_catalog(dir: &TempDir, text: &str) -> Run {
    let path = dir.write("catalog.toml", text);
    prorata(&["catalog", "check", &path])
}

fn simulate_in(dir: &TempDir, scenario: &str) -> Run {
    let path = dir.scenario(scenario);
    prorata(&["simulate", &path])
}

// ------------------------------------------------------------------ the shipped examples

#[test]
fn the_seed_credit_note_example_prints_the_credit_note_with_27_31_days_and_87_percent() {
    let run = prorata(&["simulate", "examples/seed-credit-note.toml"]);
    let out = run.success();
    for needle in ["AVOIR", "27/31", "87%", "104.52", "INV-000002"] {
        assert!(
            out.contains(needle),
            "missing {needle:?}\n{}",
            run.describe()
        );
    }
    // The credit note itself names the invoice it corrects.
    let note = out
        .split('═')
        .find(|block| block.contains("AVOIR"))
        .unwrap_or_else(|| panic!("no credit note block\n{}", run.describe()));
    assert!(
        note.contains("INV-000002") && note.contains("104.52") && note.contains("27/31"),
        "the credit note block should correct INV-000002 for 104.52 over 27/31 days:\n{note}"
    );
}

/// The done-when of the documents issue: the seed's credit note as a Factur-X PDF, with its
/// 87 % line and the invoice it corrects, passing the Factur-X / EN 16931 check.
#[test]
fn simulate_writes_the_seed_credit_note_as_a_factur_x_pdf() {
    let (_, guard) = prorata_testkit::sqlite_url();
    let dir = guard.path().join("out");
    let dir_text = dir.display().to_string();
    prorata(&[
        "simulate",
        "examples/seed-credit-note.toml",
        "--documents",
        dir_text.as_str(),
    ])
    .success();
    let files: Vec<PathBuf> = ["INV-000001", "INV-000002", "CN-000001"]
        .iter()
        .flat_map(|n| [dir.join(format!("{n}.pdf")), dir.join(format!("{n}.xml"))])
        .collect();
    prorata_testkit::checks::facturx_check(&files);
    if !prorata_testkit::checks::have_tool("pdftotext") {
        return;
    }
    let out = Command::new("pdftotext")
        .arg(dir.join("CN-000001.pdf"))
        .arg("-")
        .output()
        .expect("pdftotext");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "AVOIR",
        "Cet avoir corrige la facture INV-000002",
        "4 × 30,00 € × 27/31 (87%) = 104,52 €",
        "125,42 €",
        "Prorata Démo Téléphonie SAS",
        "8 quai des Chartrons",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn simulate_json_on_the_seed_example_gives_a_credit_note_of_minus_104_52_eur_for_27_31_days() {
    let outcome = prorata(&["simulate", "--json", "examples/seed-credit-note.toml"]).json();
    let july_invoice = invoice_issued_on(&outcome, "2024-07-06");
    let july_number = july_invoice["number"]
        .as_str()
        .unwrap_or_else(|| panic!("no invoice number in {july_invoice:#}"));
    assert_eq!(july_number, "INV-000002");

    let notes: Vec<&Value> = documents(&outcome)
        .into_iter()
        .filter(|d| d["kind"] == "credit_note")
        .collect();
    assert_eq!(notes.len(), 1, "expected one credit note in {outcome:#}");
    let note = notes[0];
    assert_eq!(note["issued_on"], "2024-07-10");
    assert_eq!(note["currency"], "EUR");
    assert!(
        note["corrects"]
            .as_array()
            .is_some_and(|c| c.iter().any(|n| n.as_str() == Some(july_number))),
        "the credit note should correct {july_number}: {note:#}"
    );

    let note_lines = lines(note);
    assert_eq!(note_lines.len(), 1, "one credited line expected: {note:#}");
    let line = &note_lines[0];
    assert_eq!(line["amount"]["minor"], -10452, "{line:#}");
    assert_eq!(line["amount"]["currency"], "EUR", "{line:#}");
    assert_eq!(line["proration"]["num"], 27, "{line:#}");
    assert_eq!(line["proration"]["den"], 31, "{line:#}");
    assert_eq!(line["quantity"], -4, "{line:#}");
    assert_eq!(line["service"]["start"], "2024-07-10", "{line:#}");
    assert_eq!(line["service"]["end"], "2024-08-05", "{line:#}");
    assert!(
        line["corrects"]
            .as_array()
            .is_some_and(|c| c.iter().any(|n| n.as_str() == Some(july_number))),
        "the line should correct {july_number}: {line:#}"
    );
}

#[test]
fn the_annual_example_shows_a_yearly_licence_invoice_then_monthly_usage_invoices() {
    let run = prorata(&["simulate", "examples/annual-with-usage.toml"]);
    let out = run.success();
    assert!(
        out.contains("2024-03-01 – 2025-02-28"),
        "the licences are billed for the year ahead\n{}",
        run.describe()
    );

    let outcome = prorata(&["simulate", "--json", "examples/annual-with-usage.toml"]).json();
    let issued: Vec<&str> = documents(&outcome)
        .iter()
        .map(|d| d["issued_on"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        issued,
        ["2024-03-01", "2024-04-01", "2024-05-01"],
        "{outcome:#}"
    );
    assert!(documents(&outcome).iter().all(|d| d["kind"] == "invoice"));

    // 1 March: the licences of the year ahead, nothing else.
    let yearly = invoice_issued_on(&outcome, "2024-03-01");
    assert!(!lines(yearly).is_empty());
    for line in lines(yearly) {
        assert_eq!(line["section"], "recurring", "{line:#}");
        assert_eq!(line["service"]["start"], "2024-03-01", "{line:#}");
        assert_eq!(line["service"]["end"], "2025-02-28", "{line:#}");
    }

    // 1 April: March's minutes only, no licence.
    let april = invoice_issued_on(&outcome, "2024-04-01");
    assert!(!lines(april).is_empty());
    for line in lines(april) {
        assert_eq!(line["section"], "usage", "{line:#}");
        assert_eq!(line["key"]["type"], "usage", "{line:#}");
        assert_eq!(line["service"]["start"], "2024-03-01", "{line:#}");
        assert_eq!(line["service"]["end"], "2024-03-31", "{line:#}");
        assert!(line.get("late").is_none_or(|l| l == false), "{line:#}");
    }

    // 1 May: the two users added on 15 April, prorated to the end of the year, April's
    // minutes, and March's minutes recorded late, marked as such.
    let may = invoice_issued_on(&outcome, "2024-05-01");
    let prorata_line = lines(may)
        .iter()
        .find(|l| l["section"] == "prorata")
        .unwrap_or_else(|| panic!("no prorated addition in {may:#}"));
    assert_eq!(prorata_line["service"]["start"], "2024-04-15");
    assert_eq!(prorata_line["proration"]["num"], 320);
    assert_eq!(prorata_line["proration"]["den"], 365);
    let late: Vec<&Value> = lines(may).iter().filter(|l| l["late"] == true).collect();
    assert_eq!(late.len(), 1, "one late usage line expected: {may:#}");
    assert_eq!(late[0]["section"], "usage");
    assert_eq!(late[0]["key"]["metric"], "outbound_fr_fixed");
    assert_eq!(late[0]["service"]["start"], "2024-03-01");
    assert_eq!(late[0]["service"]["end"], "2024-03-31");
    assert_eq!(
        late[0]["amount"]["minor"], 150,
        "600 − 500 minutes at 0.0150"
    );
    assert!(
        lines(may)
            .iter()
            .any(|l| l["key"]["metric"] == "outbound_world" && l["late"] != true),
        "April's minutes are on time: {may:#}"
    );
}

#[test]
fn the_refused_late_cancellation_example_prints_refused_with_its_deadline_and_the_contract_renews()
{
    let run = prorata(&["simulate", "examples/refused-late-cancellation.toml"]);
    let out = run.success();
    for needle in ["REFUSED", "2024-12-16", "2025-01-15"] {
        assert!(
            out.contains(needle),
            "missing {needle:?}\n{}",
            run.describe()
        );
    }
    let refusal = out
        .split("\n\n")
        .find(|block| block.contains("REFUSED: cancel"))
        .unwrap_or_else(|| panic!("no refused cancellation\n{}", run.describe()));
    assert!(
        refusal.contains("2024-12-16") && refusal.contains("2025-01-15"),
        "the refusal should give the deadline and the renewal date:\n{refusal}"
    );

    let outcome = prorata(&[
        "simulate",
        "--json",
        "examples/refused-late-cancellation.toml",
    ])
    .json();
    let cancel = entries(&outcome)
        .iter()
        .find(|e| e["type"] == "refused" && e["request"]["type"] == "cancel")
        .unwrap_or_else(|| panic!("no refused cancellation in {outcome:#}"));
    assert_eq!(cancel["on"], "2024-12-20");
    assert_eq!(cancel["refusal"]["deadline"], "2024-12-16");
    assert_eq!(cancel["refusal"]["renewal"], "2025-01-15");

    // The contract renews: 15 January is billed as usual, for the month ahead.
    let renewal = invoice_issued_on(&outcome, "2025-01-15");
    assert!(
        lines(renewal)
            .iter()
            .any(|l| l["section"] == "recurring" && l["service"]["start"] == "2025-01-15"),
        "{renewal:#}"
    );
    assert!(
        !entries(&outcome).iter().any(|e| e["type"] == "accepted"
            && e["request"]["type"] == "cancel"
            && e["on"] == "2024-12-20"),
        "the late cancellation must not be accepted"
    );
}

// ------------------------------------------------------------------ catalog check

#[test]
fn catalog_check_accepts_the_default_catalog() {
    let run = prorata(&["catalog", "check", "catalog/default.toml"]);
    assert!(run.success().contains("ok"), "{}", run.describe());
}

#[test]
fn catalog_check_accepts_the_small_test_catalog_the_error_tests_start_from() {
    let dir = TempDir::new("small_catalog_is_valid");
    check_catalog(&dir, SMALL_CATALOG).success();
}

#[test]
fn a_catalog_with_a_missing_price_names_the_price_table_and_the_currency() {
    let dir = TempDir::new("catalog_missing_price");
    let text = replace_once(
        SMALL_CATALOG,
        r#"unit_price.monthly = { EUR = "30.00", GBP = "25.00" }"#,
        r#"unit_price.monthly = { EUR = "30.00" }"#,
    );
    check_catalog(&dir, &text).fails(
        1,
        &["plans.essentials.items.user.unit_price.monthly", "GBP"],
    );
}

#[test]
fn a_catalog_with_an_unknown_field_names_the_field_and_its_line() {
    let dir = TempDir::new("catalog_unknown_field");
    let text = replace_once(SMALL_CATALOG, "rank = 1\n", "rank = 1\nrnak = 2\n");
    let line = format!("line {}", line_of(&text, "rnak"));
    check_catalog(&dir, &text).fails(1, &["rnak", &line]);
}

#[test]
fn a_catalog_with_a_float_plan_price_is_refused_at_the_line_of_the_price() {
    let dir = TempDir::new("catalog_float_plan_price");
    let text = replace_once(
        SMALL_CATALOG,
        r#"{ EUR = "30.00", GBP = "25.00" }"#,
        r#"{ EUR = 30.00, GBP = "25.00" }"#,
    );
    let line = format!("line {}", line_of(&text, "EUR = 30.00"));
    check_catalog(&dir, &text).fails(1, &[&line, "unit_price.monthly", "strings"]);
}

#[test]
fn a_catalog_with_a_float_usage_price_is_refused_without_a_panic() {
    let dir = TempDir::new("catalog_float_usage_price");
    let text = replace_once(
        SMALL_CATALOG,
        r#"unit_price = "0.015""#,
        "unit_price = 0.015",
    );
    check_catalog(&dir, &text).fails(1, &["floats"]);
}

#[test]
fn a_catalog_with_a_float_usage_price_names_the_field_or_its_line() {
    let dir = TempDir::new("catalog_float_usage_price_field");
    // `unit_price = 0.015` on a line of its own, in a [metrics.*.price.EUR] table.
    let text = replace_once(
        SMALL_CATALOG,
        r#"unit_price = "0.015""#,
        "unit_price = 0.015",
    );
    let line = format!("line {}", line_of(&text, "unit_price = 0.015"));
    let run = check_catalog(&dir, &text);
    run.fails(1, &[]);
    assert!(
        run.stderr.contains("unit_price") || run.stderr.contains(&line),
        "the error should name unit_price or {line}\n{}",
        run.describe()
    );
    // The same in the second tier of a graduated price written over several lines.
    let text = replace_once(
        SMALL_CATALOG,
        r#"{ unit_price = "0.1800" }"#,
        "{ unit_price = 0.18 }",
    );
    let line = format!("line {}", line_of(&text, "unit_price = 0.18 }"));
    let run = check_catalog(&dir, &text);
    run.fails(1, &[]);
    assert!(
        run.stderr.contains("tiers[1]") || run.stderr.contains(&line),
        "the error should name tiers[1] or {line}\n{}",
        run.describe()
    );
}

#[test]
fn a_catalog_whose_plan_lists_an_unknown_product_names_the_plan_item() {
    let dir = TempDir::new("catalog_unknown_product");
    let text = format!("{SMALL_CATALOG}\n[plans.essentials.items.fax]\nminimum = 0\n");
    check_catalog(&dir, &text).fails(1, &["plans.essentials.items.fax", "fax"]);
}

#[test]
fn a_catalog_whose_last_tier_has_up_to_names_the_tier() {
    let dir = TempDir::new("catalog_last_tier_up_to");
    let text = replace_once(
        SMALL_CATALOG,
        r#"{ unit_price = "0.1800" }"#,
        r#"{ up_to = 5000, unit_price = "0.1800" }"#,
    );
    check_catalog(&dir, &text).fails(
        1,
        &["metrics.outbound_world.price.EUR", "tiers[1]", "up_to"],
    );
}

#[test]
fn a_catalog_with_several_problems_reports_them_all() {
    let dir = TempDir::new("catalog_several_problems");
    let text = replace_once(
        SMALL_CATALOG,
        r#"unit_price.monthly = { EUR = "30.00", GBP = "25.00" }"#,
        r#"unit_price.monthly = { EUR = "30.00" }"#,
    );
    let text = format!("{text}\n[plans.essentials.items.fax]\nminimum = 0\n");
    check_catalog(&dir, &text).fails(
        1,
        &[
            "plans.essentials.items.user.unit_price.monthly",
            "plans.essentials.items.fax",
        ],
    );
}

// ------------------------------------------------------------------ scenario errors

#[test]
fn the_small_test_scenario_the_error_tests_start_from_plays() {
    let dir = TempDir::new("small_scenario_plays");
    let run = simulate_in(&dir, SMALL_SCENARIO);
    assert!(run.success().contains("INV-000001"), "{}", run.describe());
}

#[test]
fn a_scenario_with_an_unknown_plan_names_subscription_plan() {
    let dir = TempDir::new("scenario_unknown_plan");
    let text = replace_once(
        SMALL_SCENARIO,
        r#"plan = "essentials""#,
        r#"plan = "platinum""#,
    );
    simulate_in(&dir, &text).fails(1, &["subscription.plan", "platinum"]);
}

#[test]
fn a_scenario_action_with_both_a_payment_and_a_usage_names_the_action() {
    let dir = TempDir::new("scenario_two_kinds");
    let text = format!(
        "{SMALL_SCENARIO}\n[[actions]]\non = \"2024-07-10\"\npayment = \"10.00\"\n\
         usage = {{ metric = \"outbound_eu\", quantity = 5 }}\n"
    );
    simulate_in(&dir, &text).fails(1, &["actions[0]", "exactly one"]);
}

#[test]
fn a_scenario_action_with_both_a_request_and_a_payment_names_the_action() {
    let dir = TempDir::new("scenario_request_and_payment");
    let text = format!(
        "{SMALL_SCENARIO}\n[[actions]]\non = \"2024-07-10\"\npayment = \"10.00\"\n\
         request = {{ type = \"cancel\" }}\n"
    );
    simulate_in(&dir, &text).fails(1, &["actions[0]", "exactly one"]);
}

#[test]
fn a_scenario_action_dated_outside_the_scenario_names_its_on_field() {
    let dir = TempDir::new("scenario_action_outside");
    // The second action is after `until`: its index is the one named.
    let text = format!(
        "{SMALL_SCENARIO}\n[[actions]]\non = \"2024-06-20\"\npayment = \"10.00\"\n\
         \n[[actions]]\non = \"2024-09-01\"\npayment = \"10.00\"\n"
    );
    simulate_in(&dir, &text).fails(1, &["actions[1].on", "2024-09-01"]);
    // And before the start.
    let text = format!("{SMALL_SCENARIO}\n[[actions]]\non = \"2024-06-01\"\npayment = \"10.00\"\n");
    simulate_in(&dir, &text).fails(1, &["actions[0].on", "2024-06-01"]);
}

#[test]
fn a_scenario_with_an_unknown_usage_metric_names_the_metric_field() {
    let dir = TempDir::new("scenario_unknown_metric");
    let text = format!(
        "{SMALL_SCENARIO}\n[[actions]]\non = \"2024-07-01\"\n\
         usage = {{ metric = \"outbound_mars\", quantity = 5 }}\n"
    );
    simulate_in(&dir, &text).fails(1, &["actions[0].usage.metric", "outbound_mars"]);
}

#[test]
fn a_scenario_with_a_malformed_date_names_the_field_and_its_line() {
    let dir = TempDir::new("scenario_malformed_date");
    let text = replace_once(
        SMALL_SCENARIO,
        r#"start = "2024-06-06""#,
        r#"start = "2024-13-06""#,
    );
    let line = format!("line {}", line_of(&text, "2024-13-06"));
    simulate_in(&dir, &text).fails(1, &["start", "2024-13-06", &line]);

    let text = format!("{SMALL_SCENARIO}\n[[actions]]\non = \"2024-07-32\"\npayment = \"10.00\"\n");
    let line = format!("line {}", line_of(&text, "2024-07-32"));
    simulate_in(&dir, &text).fails(1, &["on", "2024-07-32", &line]);
}

#[test]
fn a_scenario_with_an_unknown_field_names_it() {
    let dir = TempDir::new("scenario_unknown_field");
    let text = replace_once(
        SMALL_SCENARIO,
        "trial_days = 0\n",
        "trial_days = 0\nterm_month = 12\n",
    );
    let line = format!("line {}", line_of(&text, "term_month ="));
    simulate_in(&dir, &text).fails(1, &["term_month", &line]);
}

#[test]
fn a_scenario_with_a_malformed_payment_names_the_payment() {
    let dir = TempDir::new("scenario_bad_payment");
    let text = format!("{SMALL_SCENARIO}\n[[actions]]\non = \"2024-07-10\"\npayment = \"10,00\"\n");
    simulate_in(&dir, &text).fails(1, &["actions[0].payment", "10,00"]);
}

#[test]
fn a_scenario_with_an_overflowing_usage_quantity_names_the_action() {
    let dir = TempDir::new("scenario_usage_overflow");
    let text = format!(
        "{SMALL_SCENARIO}\n[[actions]]\non = \"2024-07-10\"\n\
         usage = {{ metric = \"outbound_world\", quantity = 9223372036854775807 }}\n"
    );
    simulate_in(&dir, &text).fails(1, &["actions[0]"]);
}

#[test]
fn a_scenario_with_a_country_that_is_not_an_iso_code_names_account_country() {
    let dir = TempDir::new("scenario_bad_country");
    let text = replace_once(SMALL_SCENARIO, r#"country = "FR""#, r#"country = "France""#);
    simulate_in(&dir, &text).fails(1, &["account.country"]);
}

#[test]
fn a_scenario_with_a_trial_beyond_the_calendar_names_trial_days() {
    let dir = TempDir::new("scenario_huge_trial");
    let text = replace_once(
        SMALL_SCENARIO,
        "trial_days = 0\n",
        "trial_days = 4000000000\n",
    );
    simulate_in(&dir, &text).fails(1, &["trial_days"]);
}

// ------------------------------------------------------------------ missing files

#[test]
fn a_missing_scenario_file_is_named_in_the_error() {
    let run = prorata(&["simulate", "examples/no-such-scenario.toml"]);
    run.fails(1, &["examples/no-such-scenario.toml", "cannot read"]);
}

#[test]
fn a_missing_catalog_file_is_named_in_the_error() {
    let run = prorata(&["catalog", "check", "catalog/no-such-catalog.toml"]);
    run.fails(1, &["catalog/no-such-catalog.toml", "cannot read"]);
}

#[test]
fn a_scenario_whose_catalog_is_missing_names_the_catalog_path() {
    let dir = TempDir::new("scenario_missing_catalog");
    let text = replace_once(
        SMALL_SCENARIO,
        r#"catalog = "catalog.toml""#,
        r#"catalog = "no-such-catalog.toml""#,
    );
    let path = dir.write("scenario.toml", &text);
    prorata(&["simulate", &path]).fails(1, &["no-such-catalog.toml", "cannot read"]);
}

// ------------------------------------------------------------------ quote

const QUOTE: [&str; 11] = [
    "quote",
    "--plan",
    "essentials",
    "--start",
    "2024-07-06",
    "--until",
    "2024-08-06",
    "--quantity",
    "user=10",
    "--quantity",
    "number=2",
];

#[test]
fn quote_without_a_trial_prints_two_monthly_invoices_with_the_ten_users_line() {
    let mut args = QUOTE.to_vec();
    args.extend(["--trial-days", "0"]);
    let run = prorata(&args);
    let out = run.success();
    assert_eq!(
        out.matches("10 × €30.00 = €300.00").count(),
        2,
        "each invoice bills 10 users at 30.00\n{}",
        run.describe()
    );
    for needle in [
        "QUOTE — essentials, monthly, EUR",
        "Starting on 6 July 2024",
        "Invoice 1 of 2 · issued on 6 July 2024",
        "Invoice 2 of 2 · issued on 6 August 2024",
        "1 × €6.00 = €6.00",
        "This quote is not an invoice",
    ] {
        assert!(
            out.contains(needle),
            "missing {needle:?}\n{}",
            run.describe()
        );
    }
    // A quote issues nothing: no invoice numbers.
    assert!(!out.contains("INV-"), "{}", run.describe());
}

/// Issue #17: `prorata quote --lang fr` printed "FACTURE INV-000001" with English labels.
#[test]
fn a_french_quote_is_a_devis_in_french_with_french_amounts_and_dates() {
    let mut args = QUOTE.to_vec();
    args.extend(["--trial-days", "0", "--lang", "fr"]);
    let run = prorata(&args);
    let out = run.success();
    for needle in [
        "DEVIS — essentials, mensuel, EUR",
        "À partir du 6 juillet 2024",
        "Facture 1 sur 2 · émise le 6 juillet 2024",
        "10 × 30,00\u{a0}€ = 300,00\u{a0}€",
        "Total TTC :",
        "Ce devis n'est pas une facture",
    ] {
        assert!(
            out.contains(needle),
            "missing {needle:?}\n{}",
            run.describe()
        );
    }
    for absent in ["INV-", "Total incl. VAT", "QUOTE"] {
        assert!(!out.contains(absent), "{absent:?}\n{}", run.describe());
    }
}

#[test]
fn quote_with_the_plans_seven_day_trial_bills_from_the_end_of_the_trial() {
    // The README's command as written: Essentials has a 7-day trial, so the first paid day
    // is 13 July and the next invoice (13 August) is after --until.
    let run = prorata(&QUOTE);
    let out = run.success();
    assert!(
        out.contains("Invoice 1 of 1 · issued on 13 July 2024")
            && out.contains("7-day free trial")
            && out.contains("10 × €30.00 = €300.00"),
        "{}",
        run.describe()
    );
}

#[test]
fn quote_json_parses_and_bills_ten_users_at_30_eur() {
    let mut args = QUOTE.to_vec();
    args.extend(["--trial-days", "0", "--json"]);
    let outcome = prorata(&args).json();
    let docs = documents(&outcome);
    assert_eq!(docs.len(), 2, "{outcome:#}");
    for doc in docs {
        let user = lines(doc)
            .iter()
            .find(|l| l["key"]["product"] == "user")
            .unwrap_or_else(|| panic!("no user line in {doc:#}"));
        assert_eq!(user["quantity"], 10);
        assert_eq!(user["amount"]["minor"], 30000);
        assert_eq!(user["amount"]["currency"], "EUR");
    }
}

#[test]
fn quote_rejects_a_quantity_that_is_not_a_number_as_a_usage_error() {
    let run = prorata(&[
        "quote",
        "--plan",
        "essentials",
        "--start",
        "2024-07-06",
        "--quantity",
        "user=ten",
    ]);
    run.fails(2, &["--quantity", "user=ten", "not a whole number"]);
}

#[test]
fn quote_rejects_a_quantity_without_units_as_a_usage_error() {
    let run = prorata(&[
        "quote",
        "--plan",
        "essentials",
        "--start",
        "2024-07-06",
        "--quantity",
        "user",
    ]);
    run.fails(2, &["--quantity", "PRODUCT=UNITS"]);
}

#[test]
fn quote_refuses_fewer_users_than_the_plans_minimum() {
    let run = prorata(&[
        "quote",
        "--plan",
        "essentials",
        "--start",
        "2024-07-06",
        "--quantity",
        "user=1",
    ]);
    run.fails(1, &["user", "minimum", "3"]);
}

#[test]
fn quote_refuses_an_until_before_the_start() {
    let run = prorata(&[
        "quote",
        "--plan",
        "essentials",
        "--start",
        "2024-07-06",
        "--until",
        "2024-07-01",
        "--quantity",
        "user=3",
    ]);
    run.fails(1, &["--until", "2024-07-01", "2024-07-06"]);
}

#[test]
fn quote_with_an_unknown_plan_names_it() {
    let run = prorata(&[
        "quote",
        "--plan",
        "platinum",
        "--start",
        "2024-07-06",
        "--quantity",
        "user=3",
    ]);
    run.fails(1, &["platinum"]);
}

#[test]
fn quote_with_an_overflowing_quantity_names_the_product() {
    let run = prorata(&[
        "quote",
        "--plan",
        "essentials",
        "--start",
        "2024-07-06",
        "--trial-days",
        "0",
        "--quantity",
        "user=100000000000000000",
    ]);
    run.fails(1, &["user"]);
}
