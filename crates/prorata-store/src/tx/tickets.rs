//! Billing support tickets, their messages and files, accounts' managers, and the audit
//! trail. Every query names its tenant; a ticket's messages and files are also read through
//! their ticket, so a file id of another ticket finds nothing.
//!
//! The audit trail is append-only: there is an insert and reads, and nothing else here.

use chrono::NaiveDate;
use prorata_core::tickets::{Author, Queue, Status};
use sqlx::QueryBuilder;

use super::{from_json, json, push_ids, Inner, Tx, ROWS_PER_INSERT};
use crate::model::*;
use crate::{now_text, Result, StoreError};

const TICKET_COLUMNS: &str = "id, account_id, requester_id, reason, queue, assignee_id, subject, \
     status, document_id, change_request_id, created_at, updated_at, first_response_at, \
     solved_on, solved_at";

type TicketTuple = (
    i64,
    i64,
    Option<i64>,
    String,
    String,
    Option<i64>,
    String,
    String,
    Option<i64>,
    Option<i64>,
    String,
    String,
    Option<String>,
    Option<NaiveDate>,
    Option<String>,
);

fn ticket_from(r: TicketTuple) -> Result<TicketRow> {
    let (
        id,
        account_id,
        requester_id,
        reason,
        queue,
        assignee_id,
        subject,
        status,
        document_id,
        change_request_id,
        created_at,
        updated_at,
        first_response_at,
        solved_on,
        solved_at,
    ) = r;
    Ok(TicketRow {
        id,
        account_id,
        requester_id,
        reason,
        queue: Queue::parse(&queue)
            .ok_or_else(|| StoreError::Corrupt(format!("ticket queue {queue:?}")))?,
        assignee_id,
        subject,
        status: Status::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("ticket status {status:?}")))?,
        document_id,
        change_request_id,
        created_at,
        updated_at,
        first_response_at,
        solved_on,
        solved_at,
    })
}

type MessageTuple = (i64, i64, Option<i64>, String, bool, String, String);

fn message_from(r: MessageTuple) -> Result<TicketMessage> {
    let (id, ticket_id, author_id, author, internal, body, created_at) = r;
    Ok(TicketMessage {
        id,
        ticket_id,
        author_id,
        author: Author::parse(&author)
            .ok_or_else(|| StoreError::Corrupt(format!("message author {author:?}")))?,
        internal,
        body,
        created_at,
    })
}

type FileTuple = (i64, i64, i64, String, String, i64, String);

/// A file's columns and its bytes.
type FileWithBody = (i64, i64, i64, String, String, i64, String, Vec<u8>);

fn file_from(r: FileTuple) -> TicketFile {
    let (id, ticket_id, message_id, name, media_type, size, sha256) = r;
    TicketFile {
        id,
        ticket_id,
        message_id,
        name,
        media_type,
        size,
        sha256,
    }
}

type AuditTuple = (
    i64,
    Option<i64>,
    Option<i64>,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn audit_from(r: AuditTuple) -> Result<AuditEntry> {
    let (id, account_id, actor_id, actor, address, action, subject, before, after, at) = r;
    Ok(AuditEntry {
        id,
        account_id,
        actor_id,
        actor,
        address,
        action,
        subject,
        before: before.as_deref().map(from_json).transpose()?,
        after: after.as_deref().map(from_json).transpose()?,
        at,
    })
}

/// What a queue lists.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub queue: Option<Queue>,
    pub assignee_id: Option<i64>,
    /// Only these statuses; all when empty.
    pub statuses: Vec<Status>,
    pub account_id: Option<i64>,
    /// Only the tickets this user filed.
    pub requester_id: Option<i64>,
    /// Newest first (a customer's own list), the cursor then counting down; otherwise the
    /// oldest first (a queue: who has waited longest).
    pub newest_first: bool,
}

impl Tx {
    // ------------------------------------------------------------ tickets

    /// Stores a new ticket with its first message; their ids. [`StoreError::Conflict`] when
    /// the account is not the tenant's.
    pub async fn insert_ticket(
        &mut self,
        tenant: i64,
        t: &NewTicket<'_>,
        author_id: Option<i64>,
        author: Author,
        body: &str,
    ) -> Result<(i64, i64)> {
        let now = now_text();
        // The account (of the tenant) is the row selected from.
        let row: Option<(i64,)> = on_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO tickets (tenant_id, account_id, requester_id, reason, queue, \
                 assignee_id, subject, status, document_id, change_request_id, created_at, \
                 updated_at) \
                 SELECT tenant_id, id, $1, $2, $3, $4, $5, 'new', $6, $7, $8, $8 FROM accounts \
                 WHERE tenant_id = $9 AND id = $10 RETURNING id",
            )
            .bind(t.requester_id)
            .bind(t.reason)
            .bind(t.queue.as_str())
            .bind(t.assignee_id)
            .bind(t.subject)
            .bind(t.document_id)
            .bind(t.change_request_id)
            .bind(&now)
            .bind(tenant)
            .bind(t.account_id)
            .fetch_optional(&mut *conn)
            .await?
        });
        let ticket = row
            .map(|r| r.0)
            .ok_or_else(|| StoreError::Conflict("no such account".into()))?;
        let message = self
            .insert_ticket_message(tenant, ticket, author_id, author, false, body)
            .await?;
        Ok((ticket, message))
    }

    /// Stores tickets as they stand, each with its first message, in multi-row inserts (a
    /// thousand rows a statement); their ids, in the order given. [`StoreError::Conflict`],
    /// and nothing written by this call's statements, when an account is not the tenant's.
    /// For bulk loads only: a ticket filed by a person goes through [`Tx::insert_ticket`].
    pub async fn load_tickets(
        &mut self,
        tenant: i64,
        tickets: &[LoadedTicket<'_>],
    ) -> Result<Vec<i64>> {
        let mut accounts: Vec<i64> = tickets.iter().map(|t| t.ticket.account_id).collect();
        accounts.sort_unstable();
        accounts.dedup();
        for chunk in accounts.chunks(ROWS_PER_INSERT) {
            let (found,): (i64,) = on_tx!(self, conn => {
                let mut q = QueryBuilder::new("SELECT COUNT(*) FROM accounts WHERE tenant_id = ");
                q.push_bind(tenant).push(" AND id IN");
                push_ids(&mut q, chunk);
                q.build_query_as().fetch_one(&mut *conn).await?
            });
            if found != chunk.len() as i64 {
                return Err(StoreError::Conflict("no such account".into()));
            }
        }
        let mut ids = Vec::with_capacity(tickets.len());
        for chunk in tickets.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(i64,)> = on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO tickets (tenant_id, account_id, requester_id, reason, queue, \
                     assignee_id, subject, status, document_id, change_request_id, created_at, \
                     updated_at, first_response_at, solved_on, solved_at) ",
                );
                q.push_values(chunk, |mut b, t| {
                    let n = &t.ticket;
                    b.push_bind(tenant)
                        .push_bind(n.account_id)
                        .push_bind(n.requester_id)
                        .push_bind(n.reason)
                        .push_bind(n.queue.as_str())
                        .push_bind(n.assignee_id)
                        .push_bind(n.subject)
                        .push_bind(t.status.as_str())
                        .push_bind(n.document_id)
                        .push_bind(n.change_request_id)
                        .push_bind(&t.created_at)
                        .push_bind(t.solved_at.as_ref().unwrap_or(&t.created_at))
                        .push_bind(&t.first_response_at)
                        .push_bind(t.solved_on)
                        .push_bind(&t.solved_at);
                });
                // Both backends return the rows of a multi-row VALUES in the order given.
                q.push(" RETURNING id");
                q.build_query_as().fetch_all(&mut *conn).await?
            });
            let chunk_ids: Vec<i64> = rows.into_iter().map(|r| r.0).collect();
            on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO ticket_messages (tenant_id, ticket_id, author_id, author, \
                     internal, body, created_at) ",
                );
                q.push_values(chunk.iter().zip(&chunk_ids), |mut b, (t, id)| {
                    let author = if t.ticket.requester_id.is_some() {
                        Author::Customer
                    } else {
                        Author::Staff
                    };
                    b.push_bind(tenant)
                        .push_bind(*id)
                        .push_bind(t.ticket.requester_id)
                        .push_bind(author.as_str())
                        .push_bind(false)
                        .push_bind(t.body)
                        .push_bind(&t.created_at);
                });
                q.build().execute(&mut *conn).await?;
            });
            ids.extend(chunk_ids);
        }
        Ok(ids)
    }

    /// Appends a message to a ticket of the tenant; its id. [`StoreError::Conflict`] when the
    /// tenant has no such ticket.
    pub async fn insert_ticket_message(
        &mut self,
        tenant: i64,
        ticket: i64,
        author_id: Option<i64>,
        author: Author,
        internal: bool,
        body: &str,
    ) -> Result<i64> {
        let now = now_text();
        let row: Option<(i64,)> = on_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO ticket_messages (tenant_id, ticket_id, author_id, author, internal, \
                 body, created_at) \
                 SELECT tenant_id, id, $1, $2, $3, $4, $5 FROM tickets \
                 WHERE tenant_id = $6 AND id = $7 RETURNING id",
            )
            .bind(author_id)
            .bind(author.as_str())
            .bind(internal)
            .bind(body)
            .bind(&now)
            .bind(tenant)
            .bind(ticket)
            .fetch_optional(&mut *conn)
            .await?
        });
        row.map(|r| r.0)
            .ok_or_else(|| StoreError::Conflict("no such ticket".into()))
    }

    /// Stores a file of a message of a ticket of the tenant; its id.
    pub async fn insert_ticket_file(
        &mut self,
        tenant: i64,
        ticket: i64,
        message: i64,
        f: &NewTicketFile<'_>,
    ) -> Result<i64> {
        let row: Option<(i64,)> = on_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO ticket_files (tenant_id, ticket_id, message_id, name, media_type, \
                 size, sha256, body) \
                 SELECT tenant_id, ticket_id, id, $1, $2, $3, $4, $5 FROM ticket_messages \
                 WHERE tenant_id = $6 AND ticket_id = $7 AND id = $8 RETURNING id",
            )
            .bind(f.name)
            .bind(f.media_type)
            .bind(f.body.len() as i64)
            .bind(f.sha256)
            .bind(f.body)
            .bind(tenant)
            .bind(ticket)
            .bind(message)
            .fetch_optional(&mut *conn)
            .await?
        });
        row.map(|r| r.0)
            .ok_or_else(|| StoreError::Conflict("no such message".into()))
    }

    pub async fn ticket(&mut self, tenant: i64, id: i64) -> Result<Option<TicketRow>> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND id = $2");
        let row: Option<TicketTuple> = on_tx!(self, conn => {
            sqlx::query_as(&sql).bind(tenant).bind(id).fetch_optional(&mut *conn).await?
        });
        row.map(ticket_from).transpose()
    }

    /// Tickets matching `filter`, oldest first, after the ticket `after` (a cursor), at most
    /// `limit`: a queue is worked from its oldest waiting ticket.
    ///
    /// A queue's page with several statuses (the waiting ones, or all of a queue or of an
    /// assignee) is read one status at a time, each the first `limit` in its index's order,
    /// and the pieces merged: `status IN (…) ORDER BY id` reads every matching ticket and
    /// sorts them (a hundred thousand for `?queue=all&status=all`, issue #14), or walks the
    /// tenant's whole history to find the few still waiting. An account's or a requester's
    /// list is short and keeps the plain form.
    pub async fn tickets(
        &mut self,
        tenant: i64,
        filter: &QueueFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<TicketRow>> {
        let per_status = filter.account_id.is_none()
            && filter.requester_id.is_none()
            && (filter.statuses.len() > 1
                || (filter.statuses.is_empty()
                    && (filter.queue.is_some() || filter.assignee_id.is_some())));
        // `None`: one branch with the filter's own statuses (one, or none to match).
        let branches: Vec<Option<Status>> = match (per_status, filter.statuses.is_empty()) {
            (false, _) => vec![None],
            (true, true) => Status::ALL.map(Some).to_vec(),
            (true, false) => filter.statuses.iter().copied().map(Some).collect(),
        };
        let order = if filter.newest_first { " DESC" } else { "" };
        let rows: Vec<TicketTuple> = on_tx!(self, conn => {
            let mut q = QueryBuilder::new("");
            if per_status {
                q.push(format!("SELECT {TICKET_COLUMNS} FROM ("));
            }
            for (k, status) in branches.iter().enumerate() {
                if k > 0 {
                    q.push(" UNION ALL ");
                }
                if per_status {
                    q.push(format!("SELECT {TICKET_COLUMNS} FROM ("));
                }
                q.push(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = "));
                q.push_bind(tenant);
                if let Some(queue) = filter.queue {
                    q.push(" AND queue = ").push_bind(queue.as_str());
                }
                if let Some(a) = filter.assignee_id {
                    q.push(" AND assignee_id = ").push_bind(a);
                }
                if let Some(a) = filter.account_id {
                    q.push(" AND account_id = ").push_bind(a);
                }
                match status {
                    Some(s) => {
                        q.push(" AND status = ").push_bind(s.as_str());
                    }
                    None if !filter.statuses.is_empty() => {
                        q.push(" AND status IN (");
                        let mut sep = q.separated(", ");
                        for s in &filter.statuses {
                            sep.push_bind(s.as_str());
                        }
                        q.push(")");
                    }
                    None => {}
                }
                if let Some(r) = filter.requester_id {
                    q.push(" AND requester_id = ").push_bind(r);
                }
                if filter.newest_first {
                    if after > 0 {
                        q.push(" AND id < ").push_bind(after);
                    }
                } else {
                    q.push(" AND id > ").push_bind(after);
                }
                q.push(format!(" ORDER BY id{order} LIMIT ")).push_bind(limit);
                if per_status {
                    q.push(format!(") AS s{k}"));
                }
            }
            if per_status {
                q.push(format!(") AS u ORDER BY id{order} LIMIT ")).push_bind(limit);
            }
            q.build_query_as().fetch_all(&mut *conn).await?
        });
        rows.into_iter().map(ticket_from).collect()
    }

    /// Sets a ticket's status, assignee and response marks as the engine decided them.
    pub async fn update_ticket(&mut self, tenant: i64, t: &TicketRow) -> Result<()> {
        let now = now_text();
        on_tx!(self, conn => {
            sqlx::query(
                "UPDATE tickets SET status = $1, assignee_id = $2, queue = $3, \
                 first_response_at = $4, solved_on = $5, solved_at = $6, updated_at = $7 \
                 WHERE tenant_id = $8 AND id = $9",
            )
            .bind(t.status.as_str())
            .bind(t.assignee_id)
            .bind(t.queue.as_str())
            .bind(&t.first_response_at)
            .bind(t.solved_on)
            .bind(&t.solved_at)
            .bind(&now)
            .bind(tenant)
            .bind(t.id)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// A ticket's messages in order, internal notes only when `internal` is asked for.
    pub async fn ticket_messages(
        &mut self,
        tenant: i64,
        ticket: i64,
        internal: bool,
    ) -> Result<Vec<TicketMessage>> {
        let rows: Vec<MessageTuple> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, ticket_id, author_id, author, internal, body, created_at \
                 FROM ticket_messages WHERE tenant_id = $1 AND ticket_id = $2 \
                 AND (internal = FALSE OR $3) ORDER BY id",
            )
            .bind(tenant)
            .bind(ticket)
            .bind(internal)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter().map(message_from).collect()
    }

    /// The files of a ticket's messages, without their bytes.
    pub async fn ticket_files(&mut self, tenant: i64, ticket: i64) -> Result<Vec<TicketFile>> {
        let rows: Vec<FileTuple> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, ticket_id, message_id, name, media_type, size, sha256 \
                 FROM ticket_files WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY id",
            )
            .bind(tenant)
            .bind(ticket)
            .fetch_all(&mut *conn)
            .await?
        });
        Ok(rows.into_iter().map(file_from).collect())
    }

    /// One file of a ticket, with its bytes: `None` when it is not that ticket's.
    pub async fn ticket_file(
        &mut self,
        tenant: i64,
        ticket: i64,
        id: i64,
    ) -> Result<Option<(TicketFile, Vec<u8>)>> {
        let row: Option<FileWithBody> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, ticket_id, message_id, name, media_type, size, sha256, body \
                 FROM ticket_files WHERE tenant_id = $1 AND ticket_id = $2 AND id = $3",
            )
            .bind(tenant)
            .bind(ticket)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        });
        Ok(row.map(|(id, t, m, name, media, size, sha, body)| {
            (file_from((id, t, m, name, media, size, sha)), body)
        }))
    }

    // ------------------------------------------------------------ account managers

    /// Sets (or clears) the account's manager: true when the account is the tenant's.
    pub async fn set_account_manager(
        &mut self,
        tenant: i64,
        account_id: i64,
        manager: Option<i64>,
    ) -> Result<bool> {
        on_tx!(self, conn => {
            let done = sqlx::query(
                "UPDATE accounts SET manager_id = $1 WHERE tenant_id = $2 AND id = $3",
            )
            .bind(manager)
            .bind(tenant)
            .bind(account_id)
            .execute(&mut *conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    pub async fn account_manager(&mut self, tenant: i64, account_id: i64) -> Result<Option<i64>> {
        let row: Option<(Option<i64>,)> = on_tx!(self, conn => {
            sqlx::query_as("SELECT manager_id FROM accounts WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(account_id)
                .fetch_optional(&mut *conn)
                .await?
        });
        Ok(row.and_then(|r| r.0))
    }

    // ------------------------------------------------------------ audit trail

    /// Appends a line to the audit trail; its id.
    pub async fn insert_audit(&mut self, tenant: i64, a: &NewAudit<'_>) -> Result<i64> {
        let now = now_text();
        let before = a.before.as_ref().map(json).transpose()?;
        let after = a.after.as_ref().map(json).transpose()?;
        let row: (i64,) = on_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO audit_log (tenant_id, account_id, actor_id, actor, address, action, \
                 subject, before, after, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 RETURNING id",
            )
            .bind(tenant)
            .bind(a.account_id)
            .bind(a.actor_id)
            .bind(a.actor)
            .bind(a.address)
            .bind(a.action)
            .bind(&a.subject)
            .bind(before)
            .bind(after)
            .bind(&now)
            .fetch_one(&mut *conn)
            .await?
        });
        Ok(row.0)
    }

    /// An account's audit trail, newest first, before the line `before` (a cursor; 0 for the
    /// newest), at most `limit`.
    pub async fn audit_of_account(
        &mut self,
        tenant: i64,
        account_id: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let before = if before <= 0 { i64::MAX } else { before };
        let rows: Vec<AuditTuple> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, account_id, actor_id, actor, address, action, subject, before, after, at \
                 FROM audit_log WHERE tenant_id = $1 AND account_id = $2 AND id < $3 \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(tenant)
            .bind(account_id)
            .bind(before)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter().map(audit_from).collect()
    }
}
