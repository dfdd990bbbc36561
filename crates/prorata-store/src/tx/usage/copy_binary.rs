//! PostgreSQL's binary `COPY` format for usage events, their ids and partial daily totals: a
//! signature and header, then per row a field count and each field as a length and its bytes
//! in network order (`-1`: NULL), then a trailer. Times count from 2000-01-01, in
//! microseconds for a `timestamptz` and in days for a `date`.

use chrono::{DateTime, NaiveDate, Utc};

use super::{direction, DailyUsage, NewCall};

/// Columns of an event's row, in the order the `COPY` statement names them.
const FIELDS: i16 = 14;

/// Columns of a partial daily total's row.
const DAILY_FIELDS: i16 = 7;

/// Columns of an event id's row (tenant, event id).
const ID_FIELDS: i16 = 2;

/// The signature, flags (none) and header extension length (none), with room for the rows.
pub(super) fn header(capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity + 21);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out
}

/// The end of the data: a field count of -1.
pub(super) fn trailer(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i16).to_be_bytes());
}

fn int8(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&v.to_be_bytes());
}

fn int4(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&4i32.to_be_bytes());
    out.extend_from_slice(&v.to_be_bytes());
}

fn text(out: &mut Vec<u8>, v: &str) {
    // An event id or number is at most a few hundred bytes (checked by the engine).
    out.extend_from_slice(&(v.len() as i32).to_be_bytes());
    out.extend_from_slice(v.as_bytes());
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

fn date(out: &mut Vec<u8>, d: NaiveDate) {
    int4(out, (d - epoch()).num_days() as i32);
}

fn timestamp(out: &mut Vec<u8>, t: DateTime<Utc>) {
    let since = t.naive_utc() - epoch().and_time(chrono::NaiveTime::MIN);
    int8(out, since.num_microseconds().unwrap_or(i64::MAX));
}

/// One event as a row.
pub(super) fn row(out: &mut Vec<u8>, tenant: i64, recorded_on: NaiveDate, c: &NewCall) {
    out.extend_from_slice(&FIELDS.to_be_bytes());
    int8(out, tenant);
    text(out, &c.event_id);
    int8(out, c.account_id);
    int8(out, c.subscription_id);
    timestamp(out, c.started_at);
    date(out, c.usage_date);
    text(out, direction(c.outbound));
    out.extend_from_slice(&1i32.to_be_bytes());
    out.push(u8::from(c.toll_free));
    text(out, &c.caller);
    text(out, &c.callee);
    int8(out, c.duration_seconds);
    match &c.metric {
        Some(m) => text(out, m),
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
    int8(out, c.billable_seconds);
    date(out, recorded_on);
}

/// One event id as a row of `usage_event_ids`: tenant, event id.
pub(super) fn id_row(out: &mut Vec<u8>, tenant: i64, event_id: &str) {
    out.extend_from_slice(&ID_FIELDS.to_be_bytes());
    int8(out, tenant);
    text(out, event_id);
}

/// One partial daily total as a row: tenant, subscription, metric, day, day learnt, events,
/// quantity.
pub(super) fn daily_row(out: &mut Vec<u8>, tenant: i64, recorded_on: NaiveDate, r: &DailyUsage) {
    out.extend_from_slice(&DAILY_FIELDS.to_be_bytes());
    int8(out, tenant);
    int8(out, r.subscription_id);
    text(out, &r.metric);
    date(out, r.usage_date);
    date(out, recorded_on);
    int8(out, r.events);
    int8(out, r.quantity);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_count_from_the_first_day_of_2000() {
        let mut out = Vec::new();
        let day = NaiveDate::from_ymd_opt(2000, 1, 2).unwrap_or_default();
        date(&mut out, day);
        assert_eq!(out, [0, 0, 0, 4, 0, 0, 0, 1]);
        out.clear();
        timestamp(&mut out, day.and_time(chrono::NaiveTime::MIN).and_utc());
        let mut want = vec![0, 0, 0, 8];
        want.extend_from_slice(&86_400_000_000i64.to_be_bytes());
        assert_eq!(out, want);
    }
}
