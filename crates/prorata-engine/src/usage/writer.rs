//! Group commit of usage batches on SQLite.
//!
//! SQLite has one writer at a time, and a transaction that read before another committed may
//! not write after it (it is refused and must start over). Concurrent batches each in a
//! transaction of their own would therefore queue on the lock at best and redo their work at
//! worst. Instead, every batch prepared by a request (checked, dated, rated: the CPU work,
//! done in parallel) is handed to one writer task per engine, which takes whatever batches
//! are waiting, writes them one after the other in one transaction, commits once and answers
//! each. A batch is answered only after that commit: still durable, and an event id written
//! by a batch is a duplicate for the next batch of the same group, as across groups.
//!
//! A group that fails for another reason than a conflicting writer is written again one batch
//! per transaction, so one batch's error is not another's.

use std::sync::Arc;

use chrono::NaiveDate;
use prorata_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use super::{write_batch, Batch, Written, BUSY_RETRIES};
use crate::phases::Laps;
use crate::{Engine, EngineError, Result};

/// Events a group holds at most before it is committed: a few batches, so that a commit is
/// shared without one group's transaction growing without bound.
const GROUP_EVENTS: usize = 40_000;

/// One batch waiting for the writer. The request that submitted it holds the batch too, and
/// frees it once answered: freed by the writer, a group's tens of thousands of strings took
/// it 2–4 ms a group, all of it time the one writer did not write.
pub(crate) struct Job {
    tenant: i64,
    today: NaiveDate,
    batch: Arc<Batch>,
    done: oneshot::Sender<std::result::Result<Written, StoreError>>,
}

impl Job {
    /// Answers the request, letting go of the writer's hold on the batch first so that the
    /// request's is the last.
    fn answer(self, written: std::result::Result<Written, StoreError>) {
        let Job { batch, done, .. } = self;
        drop(batch);
        let _ = done.send(written);
    }
}

/// The engine's end of the writer's queue; a writer task is started on first use (and again
/// should its runtime have gone).
pub(crate) type Writer = Option<mpsc::UnboundedSender<Job>>;

/// Queues a batch for the writer and waits until the transaction holding it is committed.
pub(crate) async fn submit(
    engine: &Engine,
    tenant: i64,
    today: NaiveDate,
    batch: Batch,
) -> Result<Written> {
    let (done, answer) = oneshot::channel();
    let batch = Arc::new(batch);
    let job = Job {
        tenant,
        today,
        batch: Arc::clone(&batch),
        done,
    };
    enqueue(engine, job)?;
    let written = wait(answer).await;
    drop(batch); // here, on this request's worker (see `Job`)
    written
}

/// Hands `job` to the engine's writer, starting one when there is none or when the one there
/// is gone (its runtime shut down).
fn enqueue(engine: &Engine, job: Job) -> Result<()> {
    let mut writer = engine.usage_writer.lock().map_err(|_| stopped())?;
    let job = match writer.as_ref() {
        Some(queue) => match queue.send(job) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::SendError(job)) => job,
        },
        None => job,
    };
    let (queue, jobs) = mpsc::unbounded_channel();
    tokio::spawn(run(engine.store.clone(), jobs));
    queue.send(job).map_err(|_| stopped())?;
    *writer = Some(queue);
    Ok(())
}

async fn wait(
    answer: oneshot::Receiver<std::result::Result<Written, StoreError>>,
) -> Result<Written> {
    match answer.await {
        Ok(written) => Ok(written?),
        // The writer was dropped with the batch in hand (its runtime shutting down): the
        // batch may or may not be committed, as with a connection cut mid-request.
        Err(_) => Err(stopped()),
    }
}

/// The writer is gone: the batch's fate is unknown, and sending it again is safe.
fn stopped() -> EngineError {
    EngineError::Unavailable(
        "the usage writer stopped before answering: send the batch again".into(),
    )
}

/// The writer: groups whatever is waiting, writes it, answers, until the engine is gone.
/// Traced by phase (`prorata::phase`): the time spent waiting for batches against writing
/// them tells a writer kept busy from one starved by its clients.
async fn run(store: Store, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut laps = Laps::start("usage writer");
    while let Some(first) = jobs.recv().await {
        laps.lap("waiting for batches");
        let mut events = first.batch.len();
        let mut group = vec![first];
        while events < GROUP_EVENTS {
            match jobs.try_recv() {
                Ok(job) => {
                    events += job.batch.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let batches = group.len();
        write_group(&store, group).await;
        laps.lap(if batches == 1 {
            "one batch written"
        } else {
            "batches written together"
        });
    }
}

async fn write_group(store: &Store, group: Vec<Job>) {
    match write_together(store, &group).await {
        Ok(written) => {
            for (job, w) in group.into_iter().zip(written) {
                job.answer(Ok(w));
            }
        }
        Err(e) if group.len() == 1 => {
            if let Some(job) = group.into_iter().next() {
                job.answer(Err(e));
            }
        }
        // Each batch on its own, so an error is only its own batch's.
        Err(_) => {
            for job in group {
                let written = write_together(store, std::slice::from_ref(&job)).await;
                let written = written.map(|w| w.first().copied().unwrap_or_default());
                job.answer(written);
            }
        }
    }
}

/// The jobs' batches in one transaction, in order, tried again while SQLite reports another
/// writer (nothing was written then); what each batch did.
async fn write_together(store: &Store, group: &[Job]) -> prorata_store::Result<Vec<Written>> {
    let mut laps = Laps::start("usage transaction");
    let written = committed!(store, tx => {
        laps.lap("begin");
        let mut written = Vec::with_capacity(group.len());
        for job in group {
            written.push(write_batch(tx, job.tenant, job.today, &job.batch).await?);
        }
        laps.lap("batches");
        written
    });
    laps.lap("commit");
    written
}
