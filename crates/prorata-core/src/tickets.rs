//! Billing support tickets (seed 000): the contact reasons a customer picks from and where
//! each is routed, the statuses a ticket goes through and who may move it, and the files a
//! message may carry.
//!
//! The billing team does not handle subscription management: plan, users, billing frequency
//! and cancellation go to the customer's account manager (seed 000), country, state and VAT
//! number to the billing team (seed 003). A tenant sets its own reasons and their routing.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::catalog::{Lang, Text};

/// Who handles a reason's tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// The tenant's billing team.
    BillingTeam,
    /// The account's own account manager, else the account-management queue.
    AccountManager,
}

/// A contact reason of the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContactReason {
    /// A stable code (`billing`, `subscription`, `tax_details`, …), for links and the API.
    pub code: String,
    pub label: Text,
    pub route: Route,
    /// What the form tells the customer about who will answer, and why.
    pub handled_by: Text,
}

/// A tenant's ticket settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct TicketRules {
    pub reasons: Vec<ContactReason>,
    /// A customer's reply within this many days of a ticket's solving reopens it; later, the
    /// ticket is closed and a new one must be filed.
    pub reopen_days: u32,
}

fn text(en: &str, fr: &str) -> Text {
    Text {
        en: en.into(),
        fr: fr.into(),
    }
}

impl Default for TicketRules {
    fn default() -> TicketRules {
        TicketRules {
            reasons: vec![
                ContactReason {
                    code: "billing".into(),
                    label: text(
                        "Billing, invoicing and payments",
                        "Facturation, factures et paiements",
                    ),
                    route: Route::BillingTeam,
                    handled_by: text(
                        "The billing team answers questions about invoices, credit notes and payments. Attach proof of payment to reactivate an account, or the invoices and screenshots concerned.",
                        "L'équipe facturation répond aux questions sur les factures, les notes de crédit et les paiements. Joignez une preuve de paiement pour réactiver un compte, ou les factures et captures d'écran concernées.",
                    ),
                },
                ContactReason {
                    code: "subscription".into(),
                    label: text(
                        "Subscription and contract changes (plan, users, billing frequency, cancellation)",
                        "Abonnement et modifications du contrat (forfait, utilisateurs, fréquence de facturation, résiliation)",
                    ),
                    route: Route::AccountManager,
                    handled_by: text(
                        "The billing team does not handle subscription management: your account manager will answer.",
                        "L'équipe facturation ne gère pas les abonnements : votre gestionnaire de compte vous répondra.",
                    ),
                },
                ContactReason {
                    code: "tax_details".into(),
                    label: text(
                        "Change of country, state or VAT number",
                        "Changement de pays, d'état ou de numéro de TVA",
                    ),
                    route: Route::BillingTeam,
                    handled_by: text(
                        "Only the billing team may change these details; the new values appear on future invoices only.",
                        "Seule l'équipe facturation peut modifier ces informations ; les nouvelles valeurs figurent sur les factures futures uniquement.",
                    ),
                },
            ],
            reopen_days: 7,
        }
    }
}

impl TicketRules {
    pub fn reason(&self, code: &str) -> Option<&ContactReason> {
        self.reasons.iter().find(|r| r.code == code)
    }

    /// Each problem with the rules, naming its field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.reasons.is_empty() {
            return Err(("reasons".into(), "at least one contact reason".into()));
        }
        if self.reasons.len() > 50 {
            return Err(("reasons".into(), "at most 50 contact reasons".into()));
        }
        for (i, r) in self.reasons.iter().enumerate() {
            let ok_code = !r.code.is_empty()
                && r.code.len() <= 40
                && r.code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok_code {
                return Err((
                    format!("reasons[{i}].code"),
                    "1 to 40 characters among a-z, 0-9 and _".into(),
                ));
            }
            if self.reasons[..i].iter().any(|o| o.code == r.code) {
                return Err((format!("reasons[{i}].code"), "used twice".into()));
            }
            for (field, t) in [("label", &r.label), ("handled_by", &r.handled_by)] {
                for lang in Lang::ALL {
                    let s = t.get(lang);
                    if s.trim().is_empty() || s.chars().count() > 500 {
                        return Err((
                            format!("reasons[{i}].{field}.{}", lang.as_str()),
                            "1 to 500 characters".into(),
                        ));
                    }
                }
            }
        }
        if self.reopen_days > 365 {
            return Err(("reopen_days".into(), "at most 365".into()));
        }
        Ok(())
    }
}

/// A team's queue. An account manager's own queue is the account-management tickets
/// assigned to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Queue {
    BillingTeam,
    AccountManagement,
}

impl Queue {
    pub const ALL: [Queue; 2] = [Queue::BillingTeam, Queue::AccountManagement];

    pub fn as_str(self) -> &'static str {
        match self {
            Queue::BillingTeam => "billing_team",
            Queue::AccountManagement => "account_management",
        }
    }

    pub fn parse(s: &str) -> Option<Queue> {
        Queue::ALL.into_iter().find(|q| q.as_str() == s)
    }
}

/// The queue of a ticket filed under `route` by an account whose account manager is
/// `manager`, and who it is assigned to at once (the account manager, for their matters).
pub fn route(route: Route, manager: Option<i64>) -> (Queue, Option<i64>) {
    match route {
        Route::BillingTeam => (Queue::BillingTeam, None),
        Route::AccountManager => (Queue::AccountManagement, manager),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = TicketStatus))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Filed, no staff answer yet.
    New,
    /// A staff member is on it.
    Open,
    /// Waiting for the customer's answer.
    PendingCustomer,
    /// Answered; the customer may still reply for `reopen_days`.
    Solved,
    /// Ended for good.
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Open,
        Status::PendingCustomer,
        Status::Solved,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::PendingCustomer => "pending_customer",
            Status::Solved => "solved",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Who writes a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Customer,
    Staff,
}

impl Author {
    pub fn as_str(self) -> &'static str {
        match self {
            Author::Customer => "customer",
            Author::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Option<Author> {
        [Author::Customer, Author::Staff]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// The status after a message of `author` (an internal note changes nothing), on `today`, of a
/// ticket in `status` solved on `solved_on`.
pub fn after_message(
    status: Status,
    author: Author,
    internal: bool,
    solved_on: Option<NaiveDate>,
    today: NaiveDate,
    rules: &TicketRules,
) -> Result<Status, Refused> {
    if status == Status::Closed {
        return Err(Refused(
            "this ticket is closed: file a new one, quoting this one",
        ));
    }
    if internal {
        return match author {
            Author::Staff => Ok(status),
            Author::Customer => Err(Refused("only staff write internal notes")),
        };
    }
    match author {
        Author::Staff => Ok(if status == Status::New {
            Status::PendingCustomer
        } else {
            match status {
                Status::Solved => Status::Solved,
                _ => Status::PendingCustomer,
            }
        }),
        Author::Customer => match status {
            Status::Solved => {
                let within = solved_on
                    .and_then(|d| d.checked_add_days(Days::new(rules.reopen_days.into())))
                    .is_some_and(|last| today <= last);
                if within {
                    Ok(Status::Open)
                } else {
                    Err(Refused(
                        "this ticket was solved too long ago to reopen: file a new one, quoting this one",
                    ))
                }
            }
            Status::New => Ok(Status::New),
            _ => Ok(Status::Open),
        },
    }
}

/// Whether staff may set a ticket in `from` to `to` by hand.
pub fn staff_may_set(from: Status, to: Status) -> Result<(), Refused> {
    match (from, to) {
        (Status::Closed, _) => Err(Refused("a closed ticket stays closed")),
        (_, Status::New) => Err(Refused("a ticket is new only until it is first handled")),
        (a, b) if a == b => Err(Refused("the ticket already has this status")),
        _ => Ok(()),
    }
}

/// The files a message may carry, told by their content, never their name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Pdf,
    Png,
    Jpeg,
}

impl FileKind {
    pub fn media_type(self) -> &'static str {
        match self {
            FileKind::Pdf => "application/pdf",
            FileKind::Png => "image/png",
            FileKind::Jpeg => "image/jpeg",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            FileKind::Pdf => "pdf",
            FileKind::Png => "png",
            FileKind::Jpeg => "jpg",
        }
    }
}

/// Largest attachment.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Most attachments on one message.
pub const MAX_FILES: usize = 5;
/// The largest request that carries a message: its files base64-encoded in JSON (the API's,
/// 4/3 of their size) or as a form's parts (the portal's), and the text. The body limit of
/// every route that takes files.
pub const MAX_REQUEST_BYTES: usize = 72 * 1024 * 1024;
/// Longest subject and message, in characters.
pub const MAX_SUBJECT: usize = 200;
pub const MAX_BODY: usize = 20_000;

/// Why a message (its subject, text or files) is refused: a stable code the pages translate
/// and the field it is about; the English wording is the API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("a subject is required")]
    SubjectMissing,
    #[error("at most 200 characters")]
    SubjectTooLong,
    #[error("describe the request: the message is empty")]
    BodyMissing,
    #[error("at most 20,000 characters")]
    BodyTooLong,
    #[error("{0} files: a message carries at most 5")]
    TooManyFiles(usize),
    #[error("the file is empty")]
    FileEmpty(usize),
    #[error("the file is larger than 10 MB")]
    FileTooLarge(usize),
    #[error("only PDF, PNG and JPEG files are accepted (told from their content, not their name)")]
    FileType(usize),
}

impl Problem {
    /// The field in error: `subject`, `body`, `files` or `files[i]`.
    pub fn field(&self) -> String {
        match self {
            Problem::SubjectMissing | Problem::SubjectTooLong => "subject".into(),
            Problem::BodyMissing | Problem::BodyTooLong => "body".into(),
            Problem::TooManyFiles(_) => "files".into(),
            Problem::FileEmpty(i) | Problem::FileTooLarge(i) | Problem::FileType(i) => {
                format!("files[{i}]")
            }
        }
    }

    /// A stable code (pages name their message after it).
    pub fn code(&self) -> &'static str {
        match self {
            Problem::SubjectMissing => "subject_missing",
            Problem::SubjectTooLong => "subject_too_long",
            Problem::BodyMissing => "body_missing",
            Problem::BodyTooLong => "body_too_long",
            Problem::TooManyFiles(_) => "too_many_files",
            Problem::FileEmpty(_) => "file_empty",
            Problem::FileTooLarge(_) => "file_too_large",
            Problem::FileType(_) => "file_type",
        }
    }

    /// Which file it is about, if one.
    pub fn file(&self) -> Option<usize> {
        match self {
            Problem::FileEmpty(i) | Problem::FileTooLarge(i) | Problem::FileType(i) => Some(*i),
            _ => None,
        }
    }
}

/// What file `index` is, from its first bytes: PDF, PNG or JPEG, else refused with why.
pub fn sniff(index: usize, bytes: &[u8]) -> Result<FileKind, Problem> {
    if bytes.is_empty() {
        return Err(Problem::FileEmpty(index));
    }
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Problem::FileTooLarge(index));
    }
    if bytes.starts_with(b"%PDF-") {
        Ok(FileKind::Pdf)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(FileKind::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(FileKind::Jpeg)
    } else {
        Err(Problem::FileType(index))
    }
}

/// A message checked whole, in the order a reader fixes it: subject (on a new ticket), text,
/// then the files (their number first); the kind of each file.
pub fn check_message(
    subject: Option<&str>,
    body: &str,
    files: &[&[u8]],
) -> Result<Vec<FileKind>, Problem> {
    check_text(subject, body)?;
    if files.len() > MAX_FILES {
        return Err(Problem::TooManyFiles(files.len()));
    }
    files.iter().enumerate().map(|(i, f)| sniff(i, f)).collect()
}

/// A file name safe to show and to put in `Content-Disposition`: its last path part, printable
/// characters without quotes or separators, at most 100 characters, with the extension of
/// what the file is.
pub fn safe_name(name: &str, kind: FileKind) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    let clean: String = stem
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\\' | '/' | ';' | ':'))
        .take(100)
        .collect();
    let clean = clean.trim();
    let stem = if clean.is_empty() {
        "attachment"
    } else {
        clean
    };
    format!("{stem}.{}", kind.extension())
}

/// The subject (of a new ticket) and text of a message, or why not.
pub fn check_text(subject: Option<&str>, body: &str) -> Result<(), Problem> {
    if let Some(s) = subject {
        if s.trim().is_empty() {
            return Err(Problem::SubjectMissing);
        }
        if s.chars().count() > MAX_SUBJECT {
            return Err(Problem::SubjectTooLong);
        }
    }
    if body.trim().is_empty() {
        return Err(Problem::BodyMissing);
    }
    if body.chars().count() > MAX_BODY {
        return Err(Problem::BodyTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, m, day).unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn subscription_matters_go_to_the_account_manager_never_the_billing_team() {
        let rules = TicketRules::default();
        let r = |code| rules.reason(code).map(|r| r.route);
        let r = |code| r(code).unwrap_or(Route::BillingTeam);
        assert!(rules.reason("nope").is_none());
        assert_eq!(route(r("billing"), Some(7)), (Queue::BillingTeam, None));
        assert_eq!(route(r("tax_details"), Some(7)), (Queue::BillingTeam, None));
        assert_eq!(
            route(r("subscription"), Some(7)),
            (Queue::AccountManagement, Some(7))
        );
        assert_eq!(
            route(r("subscription"), None),
            (Queue::AccountManagement, None)
        );
        for q in Queue::ALL {
            assert_eq!(Queue::parse(q.as_str()), Some(q));
        }
        assert!(rules.validate().is_ok());
    }

    #[test]
    fn statuses_follow_the_thread() {
        use Author::*;
        use Status::*;
        let rules = TicketRules::default();
        let today = d(3, 10);
        // (status, author, internal, solved on) → outcome
        type Row = (Status, Author, bool, Option<NaiveDate>, Result<Status, ()>);
        let table: [Row; 11] = [
            (New, Staff, false, None, Ok(PendingCustomer)),
            (New, Staff, true, None, Ok(New)),
            (New, Customer, false, None, Ok(New)),
            (PendingCustomer, Customer, false, None, Ok(Open)),
            (Open, Staff, false, None, Ok(PendingCustomer)),
            (Solved, Customer, false, Some(d(3, 3)), Ok(Open)),
            (Solved, Customer, false, Some(d(3, 2)), Err(())),
            (Solved, Staff, false, Some(d(3, 2)), Ok(Solved)),
            (Closed, Customer, false, None, Err(())),
            (Closed, Staff, false, None, Err(())),
            (Open, Customer, true, None, Err(())),
        ];
        for (status, author, internal, solved, want) in table {
            let got =
                after_message(status, author, internal, solved, today, &rules).map_err(|_| ());
            assert_eq!(
                got, want,
                "{status:?} {author:?} internal={internal} {solved:?}"
            );
        }
    }

    #[test]
    fn staff_moves() {
        assert!(staff_may_set(Status::Open, Status::Solved).is_ok());
        assert!(staff_may_set(Status::Solved, Status::Closed).is_ok());
        assert!(staff_may_set(Status::Closed, Status::Open).is_err());
        assert!(staff_may_set(Status::Open, Status::New).is_err());
        assert!(staff_may_set(Status::Open, Status::Open).is_err());
    }

    #[test]
    fn files_are_told_by_their_content() {
        assert_eq!(sniff(0, b"%PDF-1.7\n..."), Ok(FileKind::Pdf));
        assert_eq!(sniff(0, b"\x89PNG\r\n\x1a\n\0\0"), Ok(FileKind::Png));
        assert_eq!(sniff(0, &[0xFF, 0xD8, 0xFF, 0xE0]), Ok(FileKind::Jpeg));
        // An executable named .png is still an executable.
        assert_eq!(sniff(2, b"\x7fELF\x02\x01\x01"), Err(Problem::FileType(2)));
        assert!(sniff(0, b"MZ\x90\0").is_err());
        assert!(sniff(0, b"<svg onload=alert(1)>").is_err());
        assert_eq!(sniff(1, b""), Err(Problem::FileEmpty(1)));
        assert_eq!(
            sniff(0, &vec![b'%'; MAX_FILE_BYTES + 1]),
            Err(Problem::FileTooLarge(0))
        );
        assert_eq!(Problem::FileTooLarge(3).field(), "files[3]");
    }

    #[test]
    fn names_are_made_safe_with_the_true_extension() {
        assert_eq!(safe_name("preuve.pdf", FileKind::Pdf), "preuve.pdf");
        assert_eq!(safe_name("../../etc/passwd", FileKind::Png), "passwd.png");
        assert_eq!(safe_name("virus.exe", FileKind::Png), "virus.png");
        assert_eq!(safe_name("a\"b;c\r\n.jpg", FileKind::Jpeg), "abc.jpg");
        assert_eq!(safe_name("", FileKind::Pdf), "attachment.pdf");
        assert_eq!(
            safe_name("C:\\Users\\x\\reçu.jpeg", FileKind::Jpeg),
            "reçu.jpg"
        );
    }

    #[test]
    fn text_is_required_and_bounded() {
        assert_eq!(check_text(Some("  "), "x"), Err(Problem::SubjectMissing));
        assert_eq!(Problem::SubjectMissing.field(), "subject");
        assert_eq!(check_text(Some("Facture"), " "), Err(Problem::BodyMissing));
        assert_eq!(
            check_text(Some(&"x".repeat(201)), "x"),
            Err(Problem::SubjectTooLong)
        );
        assert!(check_text(None, "merci").is_ok());
        // The number of files is judged before any of them.
        let six: Vec<&[u8]> = vec![b"junk"; 6];
        assert_eq!(
            check_message(Some("s"), "b", &six),
            Err(Problem::TooManyFiles(6))
        );
        let files: [&[u8]; 2] = [b"%PDF-1.4", b"\x89PNG\r\n\x1a\n"];
        assert_eq!(
            check_message(None, "b", &files),
            Ok(vec![FileKind::Pdf, FileKind::Png])
        );
    }
}
