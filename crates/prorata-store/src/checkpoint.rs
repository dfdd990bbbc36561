//! SQLite's checkpoints, off the writers.
//!
//! In WAL mode a commit appends its pages to the WAL; a checkpoint copies them back into the
//! database file and syncs both, so that the WAL can start over from its beginning. By
//! default SQLite checkpoints on the connection that has just committed, once the WAL passes
//! 1,000 pages: on usage ingestion's one writer, which fills that much in one group of
//! batches, most of its commit time (BENCHMARKS.md, ninth pass).
//!
//! Here a connection of the store's own copies committed pages into the database file a
//! moment after each commit, on another thread, while the writers go on: a passive
//! checkpoint never waits for a reader or a writer, nor makes one wait. The writers still
//! checkpoint themselves once the WAL holds [`WRITER_CHECKPOINT_PAGES`], which bounds its
//! size; by then nearly all of it is copied, so theirs copies the tail only, and the next
//! transaction starts the WAL over. A page copied into the database file is also one a
//! reader no longer looks up in the WAL's index (SQLite searches only the part not yet
//! copied), so a larger WAL costs the writers nothing as long as it is copied.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::sync::oneshot;

/// Pages the WAL holds before a writer checkpoints it itself (SQLite's
/// `wal_autocheckpoint`; its default is 1,000): 64 MiB of 8 KiB pages. The bound on the
/// WAL's size while writers keep it busy; the checkpointer has copied nearly all of it by
/// then.
pub const WRITER_CHECKPOINT_PAGES: u32 = 8192;

/// How soon the checkpointer looks again after a pass that found new pages: about as often
/// as ingestion's writer commits a group, so that it copies one group while the next is
/// written.
const BUSY_PAUSE: Duration = Duration::from_millis(10);

/// How soon it looks again after a pass that found nothing new: an idle database costs one
/// cheap statement a quarter of a second, and a burst of writes is noticed that soon.
const IDLE_PAUSE: Duration = Duration::from_millis(250);

/// The store's checkpointer; it stops, and closes its connection, when dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: oneshot::Sender<()>,
}

impl Checkpointer {
    /// Opens a connection to the database of `options` and checkpoints through it until
    /// dropped. `None` when the database is not in WAL mode (nothing to checkpoint).
    pub(crate) async fn start(options: &SqliteConnectOptions) -> crate::Result<Option<Self>> {
        let mut conn = options.connect().await?;
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Ok(None);
        }
        let (stop, mut stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut last = (-1, -1);
            let mut pause = BUSY_PAUSE;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(pause) => {}
                }
                // (busy, pages in the WAL, pages of it copied). An error (a full disk, say)
                // is the writers' too, whose own checkpoints report nothing either: the WAL
                // then grows to their bound, and this tries again later.
                let pass: sqlx::Result<(i64, i64, i64)> =
                    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                        .fetch_one(&mut conn)
                        .await;
                let seen = pass.map_or((-1, -1), |(_, log, copied)| (log, copied));
                pause = if seen != last { BUSY_PAUSE } else { IDLE_PAUSE };
                last = seen;
            }
            let _ = conn.close().await;
        });
        Ok(Some(Checkpointer { _stop: stop }))
    }
}
