//! What explains a slow billing run: while switched on, a tracing layer adds up the engine's
//! phase events ([`prorata_engine::phases`]) and sqlx's per-statement events (target
//! `sqlx::query`, each with its statement and elapsed time) by phase and by statement, for
//! `prorata bench billing-run` to print (`prorata bench usage`: the phases alone). Switched
//! off — always, outside those benches — its filter answers no at the cost of one atomic
//! load, so a server pays nothing for it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer};

/// sqlx's target for its per-statement events.
const SQLX: &str = "sqlx::query";

static ON: AtomicBool = AtomicBool::new(false);
/// Whether sqlx's statements are gathered too, not only the phases.
static STATEMENTS: AtomicBool = AtomicBool::new(false);
static PROFILE: Mutex<Option<Profile>> = Mutex::new(None);

/// Count, total and longest time of one phase or statement.
#[derive(Default, Clone, Copy)]
pub(crate) struct Times {
    pub count: u64,
    pub total: f64,
    pub max: f64,
}

impl Times {
    fn add(&mut self, secs: f64) {
        self.count += 1;
        self.total += secs;
        self.max = self.max.max(secs);
    }
}

/// What was gathered between [`start`] and [`stop`].
#[derive(Default)]
pub(crate) struct Profile {
    /// By (stage, phase), in the order first seen.
    pub phases: Vec<((String, String), Times)>,
    /// By statement, its text shortened (see [`shape`]).
    pub statements: HashMap<String, Times>,
}

/// Starts gathering (dropping anything gathered before): the phases, and sqlx's statements
/// when `statements` (each event then carries its statement's text: usage ingestion's
/// statements of 2,000 rows would be timed with the gathering).
pub(crate) fn start(statements: bool) {
    if let Ok(mut p) = PROFILE.lock() {
        *p = Some(Profile::default());
    }
    STATEMENTS.store(statements, Ordering::Release);
    ON.store(true, Ordering::Release);
}

/// Stops gathering; what was gathered since [`start`].
pub(crate) fn stop() -> Profile {
    ON.store(false, Ordering::Release);
    PROFILE
        .lock()
        .ok()
        .and_then(|mut p| p.take())
        .unwrap_or_default()
}

/// The layer to install in the process's subscriber, with its own filter.
pub(crate) fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    Gatherer.with_filter(WhenOn)
}

fn wanted(meta: &Metadata<'_>) -> bool {
    meta.target() == SQLX || meta.target() == prorata_engine::phases::TARGET
}

/// Lets through the wanted events while gathering. Its interest is "sometimes", never cached
/// as "always" or "never", so switching [`ON`] takes effect at once.
struct WhenOn;

impl<S> Filter<S> for WhenOn {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        ON.load(Ordering::Relaxed)
            && wanted(meta)
            && (meta.target() != SQLX || STATEMENTS.load(Ordering::Relaxed))
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if wanted(meta) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }
}

struct Gatherer;

impl<S: Subscriber> Layer<S> for Gatherer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(secs) = fields.secs else { return };
        let Ok(mut guard) = PROFILE.lock() else {
            return;
        };
        let Some(profile) = guard.as_mut() else {
            return;
        };
        if event.metadata().target() == SQLX {
            let text = if fields.statement.trim().is_empty() {
                &fields.summary
            } else {
                &fields.statement
            };
            profile.statements.entry(shape(text)).or_default().add(secs);
        } else {
            let key = (fields.stage, fields.phase);
            match profile.phases.iter_mut().find(|(k, _)| *k == key) {
                Some((_, t)) => t.add(secs),
                None => {
                    let mut t = Times::default();
                    t.add(secs);
                    profile.phases.push((key, t));
                }
            }
        }
    }
}

/// The fields of the events gathered.
#[derive(Default)]
struct Fields {
    summary: String,
    statement: String,
    stage: String,
    phase: String,
    secs: Option<f64>,
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if matches!(field.name(), "elapsed_secs" | "secs") {
            self.secs = Some(value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_string(),
            "db.statement" => self.statement = value.to_string(),
            "stage" => self.stage = value.to_string(),
            "phase" => self.phase = value.to_string(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "summary" | "db.statement") {
            let mut text = String::new();
            let _ = write!(text, "{value:?}");
            self.record_str(field, &text);
        }
    }
}

/// A statement's text with its binds and repeated rows folded, so a 2,000-row `VALUES` list
/// and a 1,000-row one count as one statement: `$12` and `?` become `?`, runs of `?, ?` one `?`,
/// runs of `(?), (?)` one `(?)`; whitespace collapsed; at most 160 characters.
pub(crate) fn shape(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len().min(4096));
    let mut chars = sql.chars().peekable();
    let mut space = false;
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
        // Fold as we go, so a 20,000-bind statement never builds a 100 kB key.
        for (long, short) in [("?, ?", "?"), ("(?), (?)", "(?)")] {
            if out.ends_with(long) {
                out.truncate(out.len() - long.len());
                out.push_str(short);
            }
        }
    }
    if out.len() > 160 {
        let mut end = 160;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::shape;

    #[test]
    fn rows_and_binds_fold() {
        assert_eq!(
            shape("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6)"),
            shape("INSERT INTO t (a, b)\n VALUES (?, ?)")
        );
        assert_eq!(
            shape("SELECT 1 WHERE id IN ($1, $2, $3)"),
            "SELECT 1 WHERE id IN (?)"
        );
        assert_ne!(shape("SELECT a FROM t"), shape("SELECT b FROM t"));
    }
}
