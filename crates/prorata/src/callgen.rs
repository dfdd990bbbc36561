//! A generator of realistic call records, for `prorata bench usage` and the demo: many
//! accounts, a mix of destinations and directions, durations skewed short, and on request a
//! share of resent events (duplicates) and broken ones. Deterministic for a seed.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use prorata_core::calls::{CallRecord, Direction};

/// Destinations and directions, with their share in thousandths.
const MIX: [(u32, Direction, bool, &str); 7] = [
    (450, Direction::Outbound, false, "+3314"), // France fixed
    (250, Direction::Outbound, false, "+3361"), // France mobile
    (100, Direction::Outbound, false, "+4930"), // Germany (EU)
    (50, Direction::Outbound, false, "+1212"),  // USA
    (30, Direction::Outbound, false, "+8131"),  // Japan (rest of world)
    (100, Direction::Inbound, false, "+3318"),  // ordinary inbound: free
    (20, Direction::Inbound, true, "+3318"),    // toll-free inbound
];

pub struct CallGen {
    state: u64,
    accounts: Vec<i64>,
    from: DateTime<Utc>,
    seconds: i64,
    prefix: String,
    seq: u64,
    /// One event in `duplicate_every` repeats the one before it (0: never).
    pub duplicate_every: u64,
    /// One event in `bad_every` has a broken callee (0: never).
    pub bad_every: u64,
    last: Option<CallRecord>,
}

impl CallGen {
    /// Calls of `accounts` starting in `[from, from + seconds)`, ids prefixed with `prefix`.
    pub fn new(
        seed: u64,
        accounts: Vec<i64>,
        from: DateTime<Utc>,
        seconds: i64,
        prefix: &str,
    ) -> CallGen {
        CallGen {
            state: seed.max(1),
            accounts,
            from,
            seconds: seconds.max(1),
            prefix: prefix.to_string(),
            seq: 0,
            duplicate_every: 0,
            bad_every: 0,
            last: None,
        }
    }

    /// xorshift64*: fast, and good enough for a traffic mix.
    fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn next_call(&mut self) -> CallRecord {
        self.seq += 1;
        if self.duplicate_every > 0 && self.seq % self.duplicate_every == 0 {
            if let Some(last) = &self.last {
                return last.clone();
            }
        }
        let pick_account = self.below(self.accounts.len() as u64) as usize;
        let account = self.accounts.get(pick_account).copied().unwrap_or(1);
        let mut pick = self.below(1000) as u32;
        let (_, direction, toll_free, prefix) = MIX
            .iter()
            .find(|(share, ..)| {
                let hit = pick < *share;
                pick = pick.saturating_sub(*share);
                hit
            })
            .copied()
            .unwrap_or(MIX[0]);
        let number = format!("{prefix}{:06}", self.below(1_000_000));
        let own = format!("+3319{:06}", self.below(1_000_000));
        let (caller, mut callee) = match direction {
            Direction::Outbound => (own, number),
            Direction::Inbound => (number, own),
        };
        // Offset from the duplicates, so neither hides the other.
        if self.bad_every > 0 && self.seq % self.bad_every == self.bad_every - 1 {
            callee = "0612".into();
        }
        // Most calls are short: the sum of two uniform draws, 0 to 20 minutes.
        let duration = (self.below(600) + self.below(600)) as i64;
        let call = CallRecord {
            event_id: format!("{}-{}", self.prefix, self.seq),
            account_id: account,
            started_at: self.from + Duration::seconds(self.below(self.seconds as u64) as i64),
            direction,
            toll_free,
            caller,
            callee,
            duration_seconds: duration,
        };
        self.last = Some(call.clone());
        call
    }
}

/// One event as the API takes it.
pub fn write_json(out: &mut String, c: &CallRecord) {
    let _ = write!(
        out,
        r#"{{"event_id":"{}","account_id":{},"started_at":"{}","direction":"{}","toll_free":{},"caller":"{}","callee":"{}","duration_seconds":{}}}"#,
        c.event_id,
        c.account_id,
        c.started_at.format("%Y-%m-%dT%H:%M:%SZ"),
        match c.direction {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        },
        c.toll_free,
        c.caller,
        c.callee,
        c.duration_seconds
    );
}
