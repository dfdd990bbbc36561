//! Call records and their rating: seed 002's "Minutes – past month" section.
//!
//! A call record is validated ([`CallRecord::check`]), dated in the account's time zone
//! ([`local_date`]: usage belongs to the billing period of its local day) and rated
//! ([`CallRater::rate`]): an outbound call goes to the zone of the longest E.164 prefix of the
//! callee, an inbound call to a toll-free number to the toll-free metric, any other inbound
//! call is free. Rating gives the metric and the billable seconds after the zone's rounding
//! rule; per-minute prices, bundles and the one rounding to the cent are applied per invoice
//! line by [`crate::reconcile`], on the daily totals.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{CallRounding, Catalog};

/// Longest E.164 number: 15 digits after the `+`.
const E164_MAX_DIGITS: usize = 15;
/// The longest call accepted: a record beyond a day is a broken switch, not a call.
pub const MAX_DURATION_SECONDS: i64 = 86_400;
/// Longest event id, in bytes.
pub const MAX_EVENT_ID: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

/// One call, as a telephony platform reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRecord {
    /// The sender's unique id for the call: sending it again is harmless.
    pub event_id: String,
    pub account_id: i64,
    /// When the call started (RFC 3339, any offset).
    pub started_at: DateTime<Utc>,
    pub direction: Direction,
    /// Whether the called number is one of the customer's toll-free numbers (inbound).
    #[serde(default)]
    pub toll_free: bool,
    /// E.164, e.g. `+33612345678`.
    pub caller: String,
    pub callee: String,
    pub duration_seconds: i64,
}

/// Why a call record was refused: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct CallError {
    pub field: String,
    pub reason: String,
}

impl CallError {
    pub fn new(field: &str, reason: impl Into<String>) -> CallError {
        CallError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// `+` followed by 1 to 15 digits, the first not 0.
pub fn valid_e164(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|d| (1..=E164_MAX_DIGITS).contains(&d.len()) && valid_digits(d))
        && !number.starts_with("+0")
}

/// A zone prefix: `+` alone (every number) or the start of an E.164 number.
pub fn valid_prefix(prefix: &str) -> bool {
    prefix
        .strip_prefix('+')
        .is_some_and(|d| d.len() <= E164_MAX_DIGITS && valid_digits(d) && !d.starts_with('0'))
}

fn valid_digits(d: &str) -> bool {
    d.bytes().all(|b| b.is_ascii_digit())
}

impl CallRecord {
    /// Checks what the type cannot: ids, numbers, a plausible duration.
    pub fn check(&self) -> Result<(), CallError> {
        if self.event_id.trim().is_empty() {
            return Err(CallError::new("event_id", "must not be empty"));
        }
        if self.event_id.len() > MAX_EVENT_ID {
            return Err(CallError::new(
                "event_id",
                format!("longer than {MAX_EVENT_ID} bytes"),
            ));
        }
        if self.account_id <= 0 {
            return Err(CallError::new(
                "account_id",
                "must be a positive account id",
            ));
        }
        for (field, number) in [("caller", &self.caller), ("callee", &self.callee)] {
            if !valid_e164(number) {
                return Err(CallError::new(
                    field,
                    format!("{number:?} is not an E.164 number (+ and up to 15 digits)"),
                ));
            }
        }
        if !(0..=MAX_DURATION_SECONDS).contains(&self.duration_seconds) {
            return Err(CallError::new(
                "duration_seconds",
                format!(
                    "{} is outside 0 to {MAX_DURATION_SECONDS} seconds",
                    self.duration_seconds
                ),
            ));
        }
        if self.toll_free && self.direction == Direction::Outbound {
            return Err(CallError::new(
                "toll_free",
                "only inbound calls reach a toll-free number",
            ));
        }
        Ok(())
    }
}

/// The day a call belongs to: its start, in the account's time zone.
pub fn local_date(started_at: DateTime<Utc>, tz: chrono_tz::Tz) -> NaiveDate {
    started_at.with_timezone(&tz).date_naive()
}

/// Parses an IANA time zone name (`Europe/Paris`).
pub fn time_zone(name: &str) -> Option<chrono_tz::Tz> {
    name.parse().ok()
}

/// Billable seconds of a call of `duration` seconds under `rounding`. A call of 0 s (not
/// answered) bills nothing.
pub fn billable_seconds(duration: i64, rounding: CallRounding) -> i64 {
    if duration <= 0 {
        return 0;
    }
    match rounding {
        CallRounding::PerMinute => {
            duration.div_euclid(60) * 60 + 60 * i64::from(duration % 60 != 0)
        }
        CallRounding::PerSecondAfterFirstMinute => duration.max(60),
        CallRounding::PerSecond => duration,
    }
}

/// A rated call: the metric its seconds are billed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatedCall<'a> {
    pub metric: &'a str,
    pub seconds: i64,
}

/// Rates calls against one catalog: prefixes indexed once, so each call costs at most 16 map
/// lookups however many prefixes the catalog has.
#[derive(Debug, Clone)]
pub struct CallRater<'a> {
    prefixes: HashMap<&'a str, (&'a str, CallRounding)>,
    longest: usize,
    toll_free: Option<(&'a str, CallRounding)>,
}

impl<'a> CallRater<'a> {
    pub fn new(catalog: &'a Catalog) -> CallRater<'a> {
        let mut prefixes = HashMap::new();
        for zone in catalog.calls.zones.values() {
            for p in &zone.prefixes {
                prefixes.insert(p.as_str(), (zone.metric.as_str(), zone.rounding));
            }
        }
        CallRater {
            longest: prefixes.keys().map(|p| p.len()).max().unwrap_or(0),
            prefixes,
            toll_free: catalog
                .calls
                .toll_free
                .as_ref()
                .map(|t| (t.metric.as_str(), t.rounding)),
        }
    }

    /// The metric and billable seconds of a checked call; `Ok(None)` for a free call
    /// (inbound to an ordinary number), an error when the catalog cannot rate it.
    pub fn rate(&self, call: &CallRecord) -> Result<Option<RatedCall<'a>>, CallError> {
        let (metric, rounding) = match (call.direction, call.toll_free) {
            (Direction::Inbound, false) => return Ok(None),
            (Direction::Inbound, true) => self
                .toll_free
                .ok_or_else(|| CallError::new("toll_free", "the catalog has no toll-free rate"))?,
            (Direction::Outbound, _) => self.zone_of(&call.callee).ok_or_else(|| {
                CallError::new(
                    "callee",
                    format!("no destination zone in the catalog covers {}", call.callee),
                )
            })?,
        };
        Ok(Some(RatedCall {
            metric,
            seconds: billable_seconds(call.duration_seconds, rounding),
        }))
    }

    fn zone_of(&self, number: &str) -> Option<(&'a str, CallRounding)> {
        // E.164 is ASCII once checked, so byte slicing stays on character boundaries.
        (1..=self.longest.min(number.len()))
            .rev()
            .find_map(|len| number.get(..len).and_then(|p| self.prefixes.get(p)))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const DEFAULT: &str = include_str!("../../../catalog/default.toml");

    fn call(direction: Direction, callee: &str, secs: i64) -> CallRecord {
        CallRecord {
            event_id: "e1".into(),
            account_id: 1,
            started_at: Utc
                .with_ymd_and_hms(2026, 3, 1, 10, 0, 0)
                .single()
                .unwrap_or_default(),
            direction,
            toll_free: false,
            caller: "+33145678900".into(),
            callee: callee.into(),
            duration_seconds: secs,
        }
    }

    #[test]
    fn each_rounding_rule_bills_its_seconds() {
        use CallRounding::*;
        assert_eq!(billable_seconds(61, PerMinute), 120);
        assert_eq!(billable_seconds(60, PerMinute), 60);
        assert_eq!(billable_seconds(1, PerMinute), 60);
        assert_eq!(billable_seconds(10, PerSecondAfterFirstMinute), 60);
        assert_eq!(billable_seconds(61, PerSecondAfterFirstMinute), 61);
        assert_eq!(billable_seconds(61, PerSecond), 61);
        assert_eq!(billable_seconds(0, PerMinute), 0);
    }

    #[test]
    fn the_longest_prefix_chooses_the_zone() {
        let Ok(catalog) = Catalog::from_toml(DEFAULT) else {
            return assert!(Catalog::from_toml(DEFAULT).is_ok());
        };
        let rater = CallRater::new(&catalog);
        let metric = |n: &str| {
            rater
                .rate(&call(Direction::Outbound, n, 30))
                .ok()
                .flatten()
                .map(|r| r.metric.to_string())
        };
        assert_eq!(
            metric("+33612345678").as_deref(),
            Some("outbound_fr_mobile")
        );
        assert_eq!(metric("+33145678900").as_deref(), Some("outbound_fr_fixed"));
        assert_eq!(metric("+4930123456").as_deref(), Some("outbound_eu"));
        assert_eq!(metric("+12125550100").as_deref(), Some("outbound_us_ca"));
        assert_eq!(metric("+81312345678").as_deref(), Some("outbound_world"));
    }

    #[test]
    fn inbound_calls_are_free_unless_toll_free() {
        let Ok(catalog) = Catalog::from_toml(DEFAULT) else {
            return assert!(Catalog::from_toml(DEFAULT).is_ok());
        };
        let rater = CallRater::new(&catalog);
        let mut c = call(Direction::Inbound, "+33180000000", 61);
        assert_eq!(rater.rate(&c), Ok(None));
        c.toll_free = true;
        let r = rater.rate(&c).ok().flatten();
        assert_eq!(r.map(|r| r.metric), Some("inbound_toll_free"));
    }

    #[test]
    fn bad_records_name_their_field() {
        let mut c = call(Direction::Outbound, "0612345678", 30);
        assert_eq!(c.check().map_err(|e| e.field), Err("callee".to_string()));
        c.callee = "+33612345678".into();
        c.duration_seconds = -1;
        assert_eq!(
            c.check().map_err(|e| e.field),
            Err("duration_seconds".to_string())
        );
        c.duration_seconds = 5;
        c.toll_free = true;
        assert_eq!(c.check().map_err(|e| e.field), Err("toll_free".to_string()));
        c.toll_free = false;
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn a_call_is_dated_in_the_accounts_time_zone() {
        // 23:30 UTC on 31 March is already 1 April in Paris (UTC+2 in summer time)…
        let t = Utc.with_ymd_and_hms(2026, 3, 31, 23, 30, 0).single();
        let paris = time_zone("Europe/Paris");
        let ny = time_zone("America/New_York");
        let d = |tz: Option<chrono_tz::Tz>| t.zip(tz).map(|(t, tz)| local_date(t, tz));
        assert_eq!(d(paris), NaiveDate::from_ymd_opt(2026, 4, 1));
        // …and still 31 March in New York.
        assert_eq!(d(ny), NaiveDate::from_ymd_opt(2026, 3, 31));
        assert!(time_zone("Mars/Olympus").is_none());
    }
}
