//! Where a billing run spends its time. Each [`Laps::lap`] reports the time since the previous
//! lap as a `TRACE` event of target [`TARGET`], with its stage (`reader` or `writer`) and phase;
//! a profiler that listens (`prorata bench billing-run`) adds them up, and with none listening
//! an event costs a filter check. Nothing is kept in the engine, so a run's result and the API's
//! summary stay as they are.

use std::time::Instant;

/// The target of the phase events.
pub const TARGET: &str = "prorata::phase";

/// A stopwatch over the phases of one stage of a chunk.
pub(crate) struct Laps {
    stage: &'static str,
    last: Instant,
}

impl Laps {
    pub(crate) fn start(stage: &'static str) -> Laps {
        Laps {
            stage,
            last: Instant::now(),
        }
    }

    /// Reports the time since the start or the previous lap as `phase`'s.
    pub(crate) fn lap(&mut self, phase: &'static str) {
        let now = Instant::now();
        let secs = now.duration_since(self.last).as_secs_f64();
        tracing::trace!(target: TARGET, stage = self.stage, phase, secs);
        self.last = now;
    }
}
