//! Stopping cleanly on SIGTERM (what an orchestrator sends) or SIGINT (Ctrl-C).
//!
//! The signal flips one [`Stop`] shared by the HTTP server and the workers: the server stops
//! accepting and finishes the requests in flight; each worker finishes the job in hand and
//! returns, giving back the jobs it claimed and had not started so the next process takes
//! them at once. Whatever is still running at the deadline is dropped: billing, collection
//! and delivery are built to survive a SIGKILL at any point (a run resumes, a lease runs out),
//! so a forced stop costs time, never a double charge.

use tokio::sync::watch;

/// The receiving end: cheap to clone, one per worker.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

/// The sending end, held by whoever waits for the signal.
pub struct Trigger(watch::Sender<bool>);

/// A trigger and the stop it flips.
pub fn channel() -> (Trigger, Stop) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Stop(rx))
}

impl Trigger {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Stop {
    /// A stop that never comes (a one-off pass, a test).
    pub fn never() -> Stop {
        let (tx, rx) = watch::channel(false);
        // The receiver keeps the last value when its sender is gone.
        drop(tx);
        Stop(rx)
    }

    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until the stop is requested (forever for [`Stop::never`]).
    pub async fn wait(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Waits for SIGTERM or SIGINT and names it.
pub async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_trigger_reaches_every_clone_and_never_never_stops() {
        let (trigger, stop) = channel();
        let mut a = stop.clone();
        assert!(!stop.requested());
        trigger.stop();
        assert!(stop.requested());
        tokio::time::timeout(std::time::Duration::from_secs(1), a.wait())
            .await
            .expect("the stop arrives");
        let mut never = Stop::never();
        assert!(!never.requested());
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), never.wait()).await;
        assert!(waited.is_err());
    }
}
