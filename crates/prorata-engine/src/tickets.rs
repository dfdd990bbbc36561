//! Billing support tickets (seed 000): filed by a customer's person in the portal or by the
//! vendor's help desk through the API, routed by their contact reason (the tenant's
//! `tickets` setting) to the billing team or to the account's manager, answered in a thread
//! with files, and moved through their statuses by the core's rules
//! ([`prorata_core::tickets`]).
//!
//! Like every use case here, these do not judge who may act: the portal and the back office
//! ask the one access policy first (`prorata_core::access`); the API acts for the vendor.
//! Each action is written to the audit trail with who did it, from where, and the values
//! before and after, in the transaction that makes it.

use prorata_core::access::Role;
use prorata_core::tickets::{self, after_message, check_message, staff_may_set, Author, Status};
use prorata_store::{
    AuditEntry, JobKind, NewAudit, NewJob, NewOutbox, NewTicket, NewTicketFile, Page, QueueFilter,
    TicketFile, TicketMessage, TicketRow, Tx,
};
use serde::Serialize;
use serde_json::json;

use crate::{invalid, scan, sha256_hex, Engine, EngineError, Result};

/// Who acts: a signed-in person (with their role), or the API (the vendor's systems).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: Option<i64>,
    /// `None` for the API.
    pub role: Option<Role>,
    /// The client's address, for the audit trail.
    pub address: Option<&'a str>,
}

impl Actor<'_> {
    pub const API: Actor<'static> = Actor {
        user_id: None,
        role: None,
        address: None,
    };

    fn name(&self) -> &'static str {
        self.role.map_or("api", Role::as_str)
    }

    /// An entry of the tenant's audit trail about no one account (settings, staff).
    pub(crate) fn tenant_audit<'b>(
        &'b self,
        action: &'b str,
        subject: Option<String>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> NewAudit<'b> {
        NewAudit {
            account_id: None,
            actor_id: self.user_id,
            actor: self.name(),
            address: self.address,
            action,
            subject,
            before,
            after,
        }
    }

    fn is_staff(&self) -> bool {
        self.role.is_some_and(|r| !r.is_customer())
    }

    pub(crate) fn audit<'b>(
        &'b self,
        account_id: i64,
        action: &'b str,
        subject: String,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> NewAudit<'b> {
        NewAudit {
            account_id: Some(account_id),
            ..self.tenant_audit(action, Some(subject), before, after)
        }
    }
}

/// A file sent with a message, as uploaded.
#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A new ticket.
#[derive(Debug, Clone)]
pub struct TicketInput {
    pub account_id: i64,
    /// The contact reason's code.
    pub reason: String,
    pub subject: String,
    pub body: String,
    /// The account's invoice or credit note it is about.
    pub document_id: Option<i64>,
    pub files: Vec<Upload>,
}

/// A ticket with its thread, as one reader may see it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketView {
    #[serde(flatten)]
    pub ticket: TicketRow,
    pub messages: Vec<TicketMessage>,
    pub files: Vec<TicketFile>,
}

/// A file checked and named, ready to store.
pub(crate) struct Checked {
    name: String,
    media_type: &'static str,
    sha256: String,
    bytes: Vec<u8>,
}

/// A message's text and files checked by the core's rules (each file told by its content,
/// bounded in size and number) and, when the engine has a scanner, scanned for viruses; the
/// files named and hashed; or the field that is wrong. Called before any transaction opens:
/// a scan is a round trip to the daemon.
pub(crate) async fn check(
    engine: &Engine,
    subject: Option<&str>,
    body: &str,
    files: &[Upload],
) -> Result<Vec<Checked>> {
    let bytes: Vec<&[u8]> = files.iter().map(|f| f.bytes.as_slice()).collect();
    let judged = check_message(subject, body, &bytes);
    let problem = |p: tickets::Problem| invalid(p.field(), p.to_string());
    // An infected file is refused as infected whatever it claims to be: a file of the wrong
    // kind is scanned too (issue 14), once every file is within the bounds.
    if let Err(p) = judged {
        let within_bounds = matches!(p, tickets::Problem::FileType(_))
            && bytes.iter().enumerate().all(|(i, b)| {
                !matches!(
                    tickets::sniff(i, b),
                    Err(tickets::Problem::FileEmpty(_) | tickets::Problem::FileTooLarge(_))
                )
            });
        if !within_bounds {
            return Err(problem(p));
        }
    }
    engine.scan_uploads(files).await?;
    let kinds = judged.map_err(problem)?;
    Ok(files
        .iter()
        .zip(kinds)
        .map(|(f, kind)| Checked {
            name: tickets::safe_name(&f.name, kind),
            media_type: kind.media_type(),
            sha256: sha256_hex(&f.bytes),
            bytes: f.bytes.clone(),
        })
        .collect())
}

impl Engine {
    /// Each file scanned by the engine's scanner, if it has one: an infected file is refused
    /// naming it and the signature; a scanner that cannot say refuses the whole message as
    /// unavailable (never is a file let through unscanned).
    async fn scan_uploads(&self, files: &[Upload]) -> Result<()> {
        let Some(scanner) = &self.scanner else {
            return Ok(());
        };
        for (i, f) in files.iter().enumerate() {
            match scanner.scan(&f.bytes).await {
                Ok(scan::Verdict::Clean) => {}
                Ok(scan::Verdict::Infected(signature)) => {
                    return Err(invalid(
                        format!("files[{i}]"),
                        format!(
                            "the file {:?} contains a virus ({}) and was refused",
                            f.name,
                            scan::signature_name(&signature)
                        ),
                    ))
                }
                Err(e) => {
                    // The operator needs the cause; the caller needs to know to try later.
                    eprintln!("virus scan: {e}");
                    return Err(EngineError::Unavailable(
                        "the files cannot be checked for viruses right now; nothing was stored: try again later"
                            .into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The most tickets one list returns.
pub const MAX_TICKETS_PAGE: i64 = 200;

impl Engine {
    /// Files a ticket with its first message and files, routed by its reason. Invalid input
    /// (an unknown reason, an empty subject, a file that is not a PDF, PNG or JPEG, too many
    /// or too large files, an infected file when a scanner is configured, another account's
    /// document) is refused naming the field, and nothing is stored.
    pub async fn file_ticket(
        &self,
        tenant: &prorata_store::Tenant,
        actor: Actor<'_>,
        input: &TicketInput,
    ) -> Result<TicketView> {
        let rules = &tenant.settings.tickets;
        let reason = rules
            .reason(&input.reason)
            .ok_or_else(|| invalid("reason", "not one of the tenant's contact reasons"))?;
        let files = check(self, Some(&input.subject), &input.body, &input.files).await?;
        let mut tx = self.store.begin().await?;
        tx.account(tenant.id, input.account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        if let Some(id) = input.document_id {
            let of_account = tx
                .document(tenant.id, id)
                .await?
                .is_some_and(|d| d.account_id == input.account_id);
            if !of_account {
                return Err(invalid(
                    "document_id",
                    "not an invoice or credit note of this account",
                ));
            }
        }
        let manager = tx.account_manager(tenant.id, input.account_id).await?;
        let (queue, assignee_id) = tickets::route(reason.route, manager);
        let row = open_ticket(
            &mut tx,
            tenant.id,
            actor,
            &NewTicket {
                account_id: input.account_id,
                requester_id: actor.user_id,
                reason: &reason.code,
                queue,
                assignee_id,
                subject: input.subject.trim(),
                document_id: input.document_id,
                change_request_id: None,
            },
            input.body.trim(),
            &files,
        )
        .await?;
        let view = read_view(&mut tx, tenant.id, row, false).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Adds a message to a ticket: the customer's reply reopens a solved ticket within the
    /// tenant's window (later it is refused); a staff reply waits for the customer and is the
    /// first response if none came before; an internal note (staff only) changes nothing the
    /// customer sees.
    pub async fn reply_to_ticket(
        &self,
        tenant: &prorata_store::Tenant,
        actor: Actor<'_>,
        ticket: i64,
        body: &str,
        internal: bool,
        files: &[Upload],
    ) -> Result<TicketView> {
        let files = check(self, None, body, files).await?;
        let mut tx = self.store.begin().await?;
        let mut row = tx
            .ticket(tenant.id, ticket)
            .await?
            .ok_or(EngineError::NotFound("ticket"))?;
        let post = Post {
            body: body.trim(),
            visibility: Visibility::from_internal(internal),
            files: &files,
            then: Then::AsTheThreadGoes,
        };
        let author = post_message(&mut tx, tenant, actor, &mut row, &post).await?;
        let view = read_view(&mut tx, tenant.id, row, author == Author::Staff).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Staff set a ticket's status by hand (solved, closed, open, pending the customer).
    pub async fn set_ticket_status(
        &self,
        tenant: &prorata_store::Tenant,
        actor: Actor<'_>,
        ticket: i64,
        to: Status,
    ) -> Result<TicketRow> {
        let mut tx = self.store.begin().await?;
        let mut row = tx
            .ticket(tenant.id, ticket)
            .await?
            .ok_or(EngineError::NotFound("ticket"))?;
        let before = row.status;
        staff_may_set(before, to).map_err(|r| EngineError::Conflict(r.0.into()))?;
        row.status = to;
        if to == Status::Solved {
            row.solved_on = Some(Engine::today(tenant));
            row.solved_at = Some(crate::timestamp(std::time::SystemTime::now()));
        } else if to != Status::Closed {
            row.solved_on = None;
            row.solved_at = None;
        }
        tx.update_ticket(tenant.id, &row).await?;
        tx.insert_outbox(tenant.id, &[ticket_event("ticket.updated", &row)])
            .await?;
        tx.insert_audit(
            tenant.id,
            &actor.audit(
                row.account_id,
                "ticket.status",
                format!("ticket:{ticket}"),
                Some(json!({"status": before})),
                Some(json!({"status": to})),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Moves a ticket to a queue and a staff member (or nobody). An assignee must be a staff
    /// user of the tenant.
    pub async fn assign_ticket(
        &self,
        tenant: &prorata_store::Tenant,
        actor: Actor<'_>,
        ticket: i64,
        queue: tickets::Queue,
        assignee: Option<i64>,
    ) -> Result<TicketRow> {
        let mut tx = self.store.begin().await?;
        if let Some(user) = assignee {
            let staff = tx
                .user(tenant.id, user)
                .await?
                .is_some_and(|u| !u.role.is_customer());
            if !staff {
                return Err(invalid("assignee_id", "not a staff user of this tenant"));
            }
        }
        let mut row = tx
            .ticket(tenant.id, ticket)
            .await?
            .ok_or(EngineError::NotFound("ticket"))?;
        let before = json!({"queue": row.queue, "assignee_id": row.assignee_id});
        row.queue = queue;
        row.assignee_id = assignee;
        tx.update_ticket(tenant.id, &row).await?;
        tx.insert_audit(
            tenant.id,
            &actor.audit(
                row.account_id,
                "ticket.assigned",
                format!("ticket:{ticket}"),
                Some(before),
                Some(json!({"queue": queue, "assignee_id": assignee})),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// A ticket and its thread; internal notes only for `staff`.
    pub async fn ticket(
        &self,
        tenant: &prorata_store::Tenant,
        id: i64,
        staff: bool,
    ) -> Result<TicketView> {
        let mut tx = self.store.read().await?;
        let row = tx
            .ticket(tenant.id, id)
            .await?
            .ok_or(EngineError::NotFound("ticket"))?;
        read_view(&mut tx, tenant.id, row, staff).await
    }

    /// One file of a ticket, with its bytes; not found when it is another ticket's, or, for
    /// a customer (`staff` false), a file of an internal note.
    pub async fn ticket_file(
        &self,
        tenant: &prorata_store::Tenant,
        ticket: i64,
        file: i64,
        staff: bool,
    ) -> Result<(TicketFile, Vec<u8>)> {
        let mut tx = self.store.read().await?;
        let (meta, body) = tx
            .ticket_file(tenant.id, ticket, file)
            .await?
            .ok_or(EngineError::NotFound("file"))?;
        if !staff {
            let shown = tx
                .ticket_messages(tenant.id, ticket, false)
                .await?
                .iter()
                .any(|m| m.id == meta.message_id);
            if !shown {
                return Err(EngineError::NotFound("file"));
            }
        }
        Ok((meta, body))
    }

    /// Tickets matching `filter`, oldest first, after the cursor.
    pub async fn tickets(
        &self,
        tenant: &prorata_store::Tenant,
        filter: &QueueFilter,
        after: i64,
        limit: i64,
    ) -> Result<Page<TicketRow>> {
        let mut tx = self.store.read().await?;
        ticket_page(&mut tx, tenant.id, filter, after, limit).await
    }

    /// Sets the account's manager: a staff user of the tenant with the account-manager role,
    /// or none.
    pub async fn set_account_manager(
        &self,
        tenant: &prorata_store::Tenant,
        actor: Actor<'_>,
        account_id: i64,
        manager: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        if let Some(user) = manager {
            let fits = tx
                .user(tenant.id, user)
                .await?
                .is_some_and(|u| u.role == Role::AccountManager);
            if !fits {
                return Err(invalid(
                    "manager_id",
                    "not an account manager of this tenant",
                ));
            }
        }
        let before = tx.account_manager(tenant.id, account_id).await?;
        if !tx
            .set_account_manager(tenant.id, account_id, manager)
            .await?
        {
            return Err(EngineError::NotFound("account"));
        }
        tx.insert_audit(
            tenant.id,
            &actor.audit(
                account_id,
                "account.manager",
                format!("account:{account_id}"),
                Some(json!({"manager_id": before})),
                Some(json!({"manager_id": manager})),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the tenant's contact reasons, their routing and the reopening window (a
    /// tenant admin's setting); invalid rules are refused naming the field. Tickets filed
    /// before keep the reason code they were filed under.
    pub async fn set_ticket_rules(
        &self,
        tenant: &prorata_store::Tenant,
        actor: Actor<'_>,
        rules: &tickets::TicketRules,
    ) -> Result<()> {
        rules
            .validate()
            .map_err(|(field, problem)| invalid(field, problem))?;
        self.replace_setting(
            tenant,
            |s| &mut s.tickets,
            rules,
            Some((actor, "tenant.ticket_rules")),
        )
        .await
    }

    /// The account's audit trail, newest first, before the cursor.
    pub async fn audit_trail(
        &self,
        tenant: &prorata_store::Tenant,
        account_id: i64,
        before: i64,
        limit: i64,
    ) -> Result<Page<AuditEntry>> {
        let limit = limit.clamp(1, MAX_TICKETS_PAGE);
        let mut tx = self.store.read().await?;
        tx.account(tenant.id, account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        let mut items = tx
            .audit_of_account(tenant.id, account_id, before, limit + 1)
            .await?;
        let next = (items.len() as i64 > limit).then(|| {
            items.truncate(limit as usize);
            items.last().map_or(before, |a| a.id)
        });
        Ok(Page { items, next })
    }
}

/// Whether a message is part of the thread the customer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    Thread,
    /// A staff note the customer never sees.
    Internal,
}

impl Visibility {
    fn from_internal(internal: bool) -> Visibility {
        if internal {
            Visibility::Internal
        } else {
            Visibility::Thread
        }
    }
}

/// Where a message leaves the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// The core's rule for a message ([`after_message`]): a staff answer waits for the
    /// customer, a customer's reply reopens.
    AsTheThreadGoes,
    /// Solved by the answer (the staff's decision on a change request).
    Solved,
}

/// Stores a new ticket with its first message (the requester's) and files, in `tx`: the
/// assignee hears of it by e-mail, a webhook event and the audit trail record it.
pub(crate) async fn open_ticket(
    tx: &mut Tx,
    tenant: i64,
    actor: Actor<'_>,
    new: &NewTicket<'_>,
    body: &str,
    files: &[Checked],
) -> Result<TicketRow> {
    let (ticket, message) = tx
        .insert_ticket(tenant, new, actor.user_id, Author::Customer, body)
        .await?;
    store_files(tx, tenant, ticket, message, files).await?;
    let row = tx
        .ticket(tenant, ticket)
        .await?
        .ok_or(EngineError::NotFound("ticket"))?;
    if let Some(assignee) = row.assignee_id {
        queue_mail(tx, tenant, assignee, "new", &row, body).await?;
    }
    tx.insert_outbox(tenant, &[ticket_event("ticket.created", &row)])
        .await?;
    tx.insert_audit(
        tenant,
        &actor.audit(
            row.account_id,
            "ticket.created",
            format!("ticket:{ticket}"),
            None,
            Some(
                json!({"reason": row.reason, "queue": row.queue, "subject": row.subject,
                        "files": files.len(), "change_request_id": row.change_request_id}),
            ),
        ),
    )
    .await?;
    Ok(row)
}

/// A message to add to a ticket, checked.
pub(crate) struct Post<'a> {
    pub body: &'a str,
    pub visibility: Visibility,
    pub files: &'a [Checked],
    pub then: Then,
}

/// Adds `actor`'s message to the ticket `row` in `tx` and moves its status (by the thread's
/// rule, or to solved); the other side hears of it by e-mail, and the audit trail and a
/// webhook event record it. The message's author: the API's and the staff's are the staff's.
pub(crate) async fn post_message(
    tx: &mut Tx,
    tenant: &prorata_store::Tenant,
    actor: Actor<'_>,
    row: &mut TicketRow,
    post: &Post<'_>,
) -> Result<Author> {
    let Post {
        body,
        visibility,
        files,
        then,
    } = *post;
    // The API acts for the vendor: its messages are the staff's.
    let author = if actor.is_staff() || actor.role.is_none() {
        Author::Staff
    } else {
        Author::Customer
    };
    let internal = visibility == Visibility::Internal;
    let before = row.status;
    let today = Engine::today(tenant);
    row.status = after_message(
        row.status,
        author,
        internal,
        row.solved_on,
        today,
        &tenant.settings.tickets,
    )
    .map_err(|r| EngineError::Conflict(r.0.into()))?;
    if author == Author::Staff && !internal && row.first_response_at.is_none() {
        row.first_response_at = Some(crate::timestamp(std::time::SystemTime::now()));
    }
    if then == Then::Solved {
        // After `after_message`, which refuses a closed ticket: solving is always a move.
        row.status = Status::Solved;
        row.solved_on = Some(today);
        row.solved_at = Some(crate::timestamp(std::time::SystemTime::now()));
    } else if row.status != Status::Solved {
        row.solved_on = None;
        row.solved_at = None;
    }
    let message = tx
        .insert_ticket_message(tenant.id, row.id, actor.user_id, author, internal, body)
        .await?;
    store_files(tx, tenant.id, row.id, message, files).await?;
    tx.update_ticket(tenant.id, row).await?;
    if !internal {
        tx.insert_outbox(tenant.id, &[ticket_event("ticket.updated", row)])
            .await?;
        // The other side hears of it: the customer who filed it of a staff answer, the
        // staff member it is assigned to of a customer's reply.
        let (to, kind) = match author {
            Author::Staff => (row.requester_id, "staff_reply"),
            Author::Customer => (row.assignee_id, "customer_reply"),
        };
        if let Some(to) = to {
            queue_mail(tx, tenant.id, to, kind, row, body).await?;
        }
    }
    tx.insert_audit(
        tenant.id,
        &actor.audit(
            row.account_id,
            if internal {
                "ticket.noted"
            } else {
                "ticket.replied"
            },
            format!("ticket:{}", row.id),
            Some(json!({"status": before})),
            Some(json!({"status": row.status, "files": files.len()})),
        ),
    )
    .await?;
    Ok(author)
}

/// A page of tickets matching `filter` after the cursor, at most `limit` (bounded by
/// [`MAX_TICKETS_PAGE`]), and the next page's cursor.
pub(crate) async fn ticket_page(
    tx: &mut Tx,
    tenant: i64,
    filter: &QueueFilter,
    after: i64,
    limit: i64,
) -> Result<Page<TicketRow>> {
    let limit = limit.clamp(1, MAX_TICKETS_PAGE);
    let mut items = tx.tickets(tenant, filter, after, limit + 1).await?;
    let next = (items.len() as i64 > limit).then(|| {
        items.truncate(limit as usize);
        items.last().map_or(after, |t| t.id)
    });
    Ok(Page { items, next })
}

async fn store_files(
    tx: &mut Tx,
    tenant: i64,
    ticket: i64,
    message: i64,
    files: &[Checked],
) -> Result<()> {
    for f in files {
        tx.insert_ticket_file(
            tenant,
            ticket,
            message,
            &NewTicketFile {
                name: &f.name,
                media_type: f.media_type,
                sha256: &f.sha256,
                body: &f.bytes,
            },
        )
        .await?;
    }
    Ok(())
}

async fn read_view(tx: &mut Tx, tenant: i64, ticket: TicketRow, staff: bool) -> Result<TicketView> {
    let messages = tx.ticket_messages(tenant, ticket.id, staff).await?;
    let shown: std::collections::BTreeSet<i64> = messages.iter().map(|m| m.id).collect();
    // A file of an internal note is as internal as the note.
    let files = tx
        .ticket_files(tenant, ticket.id)
        .await?
        .into_iter()
        .filter(|f| shown.contains(&f.message_id))
        .collect();
    Ok(TicketView {
        ticket,
        messages,
        files,
    })
}

/// An e-mail about `t` to the user `to`, in their language, sent by the mail worker; none when
/// the user is gone or disabled.
async fn queue_mail(
    tx: &mut Tx,
    tenant: i64,
    to: i64,
    kind: &str,
    t: &TicketRow,
    message: &str,
) -> Result<()> {
    let Some(user) = tx
        .user(tenant, to)
        .await?
        .filter(|u| u.status != prorata_core::access::UserStatus::Disabled)
    else {
        return Ok(());
    };
    let account_name = tx
        .account(tenant, t.account_id)
        .await?
        .map(|a| a.name)
        .unwrap_or_default();
    tx.insert_jobs(
        tenant,
        &[NewJob {
            account_id: Some(t.account_id),
            kind: JobKind::Email,
            payload: json!({
                "template": "ticket",
                "to": [user.email],
                "lang": user.language,
                "account_name": account_name,
                "data": {
                    "kind": kind,
                    "ticket_id": t.id,
                    "queue": t.queue,
                    "subject": t.subject,
                    "message": message,
                    "user_name": user.name,
                },
            }),
        }],
    )
    .await?;
    Ok(())
}

fn ticket_event(topic: &str, t: &TicketRow) -> NewOutbox {
    NewOutbox {
        topic: topic.into(),
        payload: json!({
            "account_id": t.account_id,
            "ticket_id": t.id,
            "status": t.status,
            "queue": t.queue,
            "assignee_id": t.assignee_id,
        }),
    }
}
