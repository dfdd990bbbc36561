//! Helpers for the fuzz harnesses (issue 13): proptest settings, a deadline around each input,
//! and JSON inputs — arbitrary values, and mutants of a valid body.
//!
//! The harnesses are ordinary tests with a fixed number of cases (so `cargo test` runs them in
//! seconds); `PROPTEST_CASES` overrides every count for a longer hunt. Failure persistence is
//! off: a failing case prints its input.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use serde_json::{Map, Value};

/// `cases` cases unless `PROPTEST_CASES` says otherwise; no regression files written; and
/// shrinking cut short after three minutes (a hang costs its whole deadline per step).
pub fn config(cases: u32) -> Config {
    Config {
        cases: cases_or_env(cases),
        failure_persistence: None,
        max_shrink_time: 180_000,
        ..Config::default()
    }
}

/// `PROPTEST_CASES` when set, else `cases`.
pub fn cases_or_env(cases: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases)
}

/// The first `max` characters of `text`, for a failure message.
pub fn shown(text: &str, max: usize) -> String {
    let mut s: String = text.chars().take(max).collect();
    if s.len() < text.len() {
        s.push_str(&format!("… ({} bytes in all)", text.len()));
    }
    s
}

/// Runs `f` on its own thread: its result, or a failure naming `input` when it panics or is
/// still running after `limit` (the thread is then left behind: the test fails anyway).
pub fn guarded<T: Send + 'static>(
    limit: Duration,
    input: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<(T, Duration), TestCaseError> {
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = worker.join();
            Ok((v, started.elapsed()))
        }
        Err(RecvTimeoutError::Timeout) => Err(TestCaseError::fail(format!(
            "still running after {limit:?} (a hang) on:\n{}",
            shown(input, 4000)
        ))),
        Err(RecvTimeoutError::Disconnected) => {
            let why = worker
                .join()
                .err()
                .map(|p| panic_message(p.as_ref()))
                .unwrap_or_default();
            Err(TestCaseError::fail(format!(
                "panicked ({why}) on:\n{}",
                shown(input, 4000)
            )))
        }
    }
}

/// The message of a panic payload.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// JSON texts that break parsers and bounds: the ends of i64 and beyond, numbers serde_json
/// cannot hold (`1e400`), dates at chrono's ends and outside the calendar, empty, huge and
/// unusual strings, and every JSON type.
pub fn extreme_json() -> Vec<String> {
    let mut v: Vec<String> = [
        "null",
        "true",
        "false",
        "0",
        "-0",
        "1",
        "-1",
        "2",
        "0.5",
        "-0.0",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "4294967295",
        "4294967296",
        "1000000000000",
        "1000000000001",
        "1e308",
        "-1e308",
        "1e400",
        "-1e400",
        "1e-400",
        "123456789012345678901234567890",
        "[]",
        "{}",
        "[null]",
        "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
        "\"\"",
        "\" \"",
        "\"0\"",
        "\"-1\"",
        "\"9223372036854775808\"",
        "\"1e400\"",
        "\"NaN\"",
        "\"null\"",
        "\"0001-01-01\"",
        "\"9999-12-31\"",
        "\"262142-12-31\"",
        "\"+262143-01-01\"",
        "\"-0001-01-01\"",
        "\"2024-02-29\"",
        "\"2023-02-29\"",
        "\"2024-13-01\"",
        "\"2024-07-06\"",
        "\"2024-07-10\"",
        "\"2024-07-10T12:00:00\"",
        "\"2024-07-10T24:00:00\"",
        "\"2024-07-10T12:00:00Z\"",
        "\"0001-01-01T00:00:00Z\"",
        "\"9999-12-31T23:59:59+14:00\"",
        "\"2024-06-03T08:00:00-99:00\"",
        "\"1970-01-01T00:00:00Z\"",
        "\"🦀\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"\\u202e\\u0301é\"",
        "\"<script>alert(1)</script>\"",
        "\"' OR 1=1 --\"",
        "\"%00%2e%2e/\"",
        "\"http://127.0.0.1:8080/\"",
        "\"https://[::1]/\"",
        "\"+\"",
        "\"+33612345678\"",
        "\"+999999999999999\"",
        "\"+1234567890123456\"",
        "\"EUR\"",
        "\"XXX\"",
        "\"FR\"",
        "\"ZZ\"",
        "\"essentials\"",
        "\"professional\"",
        "\"user\"",
        "\"analytics_plus\"",
        "\"owner\"",
        "\"billing_team\"",
        "\"FR7630006000011234567890189\"",
        "\"4242424242424242\"",
        "\"tok_sandbox_4242\"",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    v.push(format!("\"{}\"", "a".repeat(100_000)));
    v.push(format!("\"{}\"", "é".repeat(5_000)));
    v.push(format!("\"{}\"", "9".repeat(10_000)));
    v.push(format!("{}1{}", "[".repeat(200), "]".repeat(200)));
    v.push(format!(
        "{}{}",
        "{\"a\":".repeat(100),
        "1".to_string() + &"}".repeat(100)
    ));
    v
}

/// Strings: short arbitrary ones, unicode, and long ones.
pub fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "\\PC{0,16}",
        3 => "[a-z_]{1,12}",
        3 => "[0-9]{1,25}",
        1 => (0_usize..120_000).prop_map(|n| "x".repeat(n)),
    ]
}

/// Arbitrary JSON values: nested, with numbers of every kind, long strings, unicode, nulls.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![0_i64, -1, 1, i64::MAX, i64::MIN, 1_000_000_000_000])
            .prop_map(Value::from),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((json_string(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// What a node of a JSON document may become.
#[derive(Debug, Clone)]
pub enum Replacement {
    /// One of [`extreme_json`], as text (it may hold what a `Value` cannot: `1e400`).
    Extreme(usize),
    Value(Value),
    /// The node, as a string ("6" for 6), or a string's content as a number when it is one.
    Retyped,
    /// The node wrapped in an array or an object.
    Wrapped(bool),
    /// A near miss of the node, of its type: a number off by one, ten or a thousand times,
    /// negated, zero; a date (or date and time) moved by -400 to +1,500 days; another word
    /// of the API's vocabulary; a boolean flipped; an array's first item twice. Mutants of
    /// this kind are often still valid, so they reach past validation.
    Tweak(u64),
}

/// Words the API's bodies use (plans, products, currencies, countries, enums).
const VOCABULARY: &[&str] = &[
    "essentials",
    "professional",
    "user",
    "number",
    "team",
    "analytics_plus",
    "bundle_europe",
    "monthly",
    "annual",
    "weekly",
    "quarterly",
    "EUR",
    "USD",
    "GBP",
    "FR",
    "DE",
    "GB",
    "US",
    "en",
    "fr",
    "set_quantity",
    "add_addon",
    "remove_addon",
    "change_plan",
    "cancel",
    "cancel_immediately",
    "owner",
    "admin",
    "agent",
    "billing_team",
    "card",
    "sepa_debit",
    "ach_debit",
    "bank_transfer",
    "outbound",
    "inbound",
    "invoice.finalized",
    "payment.failed",
    "Europe/Paris",
    "America/New_York",
    "Pacific/Kiritimati",
];

fn tweak(old: &Value, seed: u64) -> Value {
    match old {
        Value::Number(n) => {
            let n = n.as_i64().unwrap_or(0);
            let v = match seed % 8 {
                0 => 0,
                1 => n.saturating_add(1),
                2 => n.saturating_sub(1),
                3 => n.saturating_mul(10),
                4 => n.saturating_mul(1000),
                5 => n.saturating_neg(),
                6 => 1,
                _ => n.saturating_add((seed % 100) as i64),
            };
            Value::from(v)
        }
        Value::String(s) => {
            let date = s
                .get(..10)
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            match date {
                Some(d) => {
                    let days = (seed % 1_900) as i64 - 400;
                    let moved = d
                        .checked_add_signed(chrono::TimeDelta::days(days))
                        .unwrap_or(d);
                    Value::String(format!("{}{}", moved.format("%Y-%m-%d"), &s[10..]))
                }
                None => Value::String(VOCABULARY[(seed as usize) % VOCABULARY.len()].to_string()),
            }
        }
        Value::Bool(b) => Value::Bool(!b),
        Value::Null => Value::from(seed % 100),
        Value::Array(items) => {
            let mut items = items.clone();
            if let Some(first) = items.first().cloned() {
                items.push(first);
            }
            Value::Array(items)
        }
        Value::Object(_) => old.clone(),
    }
}

/// One change to a JSON document; `at` picks a node (modulo their number, depth first).
#[derive(Debug, Clone)]
pub enum JsonMutation {
    /// The node goes (a field dropped, an element removed; the root becomes `null`).
    Remove {
        at: usize,
    },
    Replace {
        at: usize,
        with: Replacement,
    },
    /// An object gains a field (the nearest object at or above the node).
    AddField {
        at: usize,
        key: String,
        with: Replacement,
    },
}

fn replacement() -> impl Strategy<Value = Replacement> {
    prop_oneof![
        5 => any::<usize>().prop_map(Replacement::Extreme),
        5 => any::<u64>().prop_map(Replacement::Tweak),
        2 => json_value().prop_map(Replacement::Value),
        1 => Just(Replacement::Retyped),
        1 => any::<bool>().prop_map(Replacement::Wrapped),
    ]
}

pub fn json_mutation() -> impl Strategy<Value = JsonMutation> {
    prop_oneof![
        3 => any::<usize>().prop_map(|at| JsonMutation::Remove { at }),
        6 => (any::<usize>(), replacement()).prop_map(|(at, with)| JsonMutation::Replace { at, with }),
        1 => (any::<usize>(), json_string(), replacement())
            .prop_map(|(at, key, with)| JsonMutation::AddField { at, key, with }),
    ]
}

/// Paths (keys and indices from the root) of every node of `v`, depth first, root first.
fn nodes(v: &Value) -> Vec<Vec<PathStep>> {
    fn walk(v: &Value, here: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
        out.push(here.clone());
        match v {
            Value::Object(m) => {
                for (k, item) in m {
                    here.push(PathStep::Key(k.clone()));
                    walk(item, here, out);
                    here.pop();
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    here.push(PathStep::Index(i));
                    walk(item, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn node_mut<'a>(v: &'a mut Value, path: &[PathStep]) -> Option<&'a mut Value> {
    let mut here = v;
    for step in path {
        here = match (step, here) {
            (PathStep::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (PathStep::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(here)
}

/// Texts put in place of nodes, spliced into the serialised document at the end.
struct Splices(Vec<String>);

impl Splices {
    fn marker(i: usize) -> String {
        format!("\u{1}splice{i}\u{1}")
    }

    fn value(&mut self, with: &Replacement, old: &Value) -> Value {
        match with {
            Replacement::Extreme(i) => {
                let all = extreme_json();
                self.0.push(all[i % all.len()].clone());
                Value::String(Splices::marker(self.0.len() - 1))
            }
            Replacement::Value(v) => v.clone(),
            Replacement::Retyped => match old {
                Value::String(s) => serde_json::from_str::<serde_json::Number>(s)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
                other => Value::String(other.to_string()),
            },
            Replacement::Wrapped(true) => Value::Array(vec![old.clone()]),
            Replacement::Wrapped(false) => {
                Value::Object(Map::from_iter([("value".to_string(), old.clone())]))
            }
            Replacement::Tweak(seed) => tweak(old, *seed),
        }
    }

    fn apply(&self, text: String) -> String {
        let mut text = text;
        for (i, raw) in self.0.iter().enumerate() {
            let quoted = Value::String(Splices::marker(i)).to_string();
            text = text.replacen(&quoted, raw, 1);
        }
        text
    }
}

/// `base` with `mutations` applied, as JSON text.
pub fn mutate_json(base: &Value, mutations: &[JsonMutation]) -> String {
    let mut doc = base.clone();
    let mut splices = Splices(Vec::new());
    for m in mutations {
        let all = nodes(&doc);
        let pick = |at: usize| all[at % all.len()].clone();
        match m {
            JsonMutation::Remove { at } => {
                let path = pick(*at);
                match path.split_last() {
                    None => doc = Value::Null,
                    Some((last, parent)) => match (last, node_mut(&mut doc, parent)) {
                        (PathStep::Key(k), Some(Value::Object(m))) => {
                            m.remove(k);
                        }
                        (PathStep::Index(i), Some(Value::Array(a))) => {
                            a.remove(*i);
                        }
                        _ => {}
                    },
                }
            }
            JsonMutation::Replace { at, with } => {
                let path = pick(*at);
                if let Some(node) = node_mut(&mut doc, &path) {
                    *node = splices.value(with, node);
                }
            }
            JsonMutation::AddField { at, key, with } => {
                let mut path = pick(*at);
                loop {
                    match node_mut(&mut doc, &path) {
                        Some(Value::Object(_)) => break,
                        _ if path.is_empty() => break,
                        _ => {
                            path.pop();
                        }
                    }
                }
                let value = splices.value(with, &Value::Null);
                if let Some(Value::Object(m)) = node_mut(&mut doc, &path) {
                    m.insert(key.clone(), value);
                }
            }
        }
    }
    splices.apply(doc.to_string())
}

/// A JSON text for a body whose valid form is `base`: mostly mutants of it (1 to 3 changes),
/// then arbitrary values, then text that is not JSON at all (cut short, garbage).
#[derive(Debug, Clone)]
pub enum JsonInput {
    Mutant(Vec<JsonMutation>),
    Arbitrary(Value),
    Extreme(usize),
    /// The valid body cut at this byte.
    Truncated(usize),
    Text(String),
}

pub fn json_input() -> impl Strategy<Value = JsonInput> {
    prop_oneof![
        8 => json_mutation().prop_map(|m| JsonInput::Mutant(vec![m])),
        4 => prop::collection::vec(json_mutation(), 2..5).prop_map(JsonInput::Mutant),
        3 => json_value().prop_map(JsonInput::Arbitrary),
        1 => any::<usize>().prop_map(JsonInput::Extreme),
        1 => any::<usize>().prop_map(JsonInput::Truncated),
        1 => "\\PC{0,64}".prop_map(JsonInput::Text),
    ]
}

impl JsonInput {
    pub fn text(&self, base: &Value) -> String {
        match self {
            JsonInput::Mutant(m) => mutate_json(base, m),
            JsonInput::Arbitrary(v) => v.to_string(),
            JsonInput::Extreme(i) => {
                let all = extreme_json();
                all[i % all.len()].clone()
            }
            JsonInput::Truncated(at) => {
                let mut t = base.to_string();
                let mut at = at % (t.len() + 1);
                while !t.is_char_boundary(at) {
                    at -= 1;
                }
                t.truncate(at);
                t
            }
            JsonInput::Text(t) => t.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_splice_raw_numbers_and_drop_fields() {
        let base = serde_json::json!({"amount": 5, "reference": "x", "nested": {"a": [1, 2]}});
        let text = mutate_json(
            &base,
            &[JsonMutation::Replace {
                at: 1,
                with: Replacement::Extreme(
                    extreme_json()
                        .iter()
                        .position(|e| e == "1e400")
                        .unwrap_or(0),
                ),
            }],
        );
        // Nodes depth first from the root; keys in the map's order.
        let first = base.as_object().and_then(|m| m.keys().next().cloned());
        assert_eq!(first.as_deref(), Some("amount"), "{text}");
        assert!(text.contains(r#""amount":1e400"#), "{text}");
        let text = mutate_json(&base, &[JsonMutation::Remove { at: 0 }]);
        assert_eq!(text, "null");
        let text = mutate_json(&base, &[JsonMutation::Remove { at: 1 }]);
        assert!(
            !text.contains("amount") && text.contains("nested"),
            "{text}"
        );
    }
}
