//! The words of a change request's ticket (seeds 000 and 001), in French and English, all in
//! one place: the subject and first message that carry a customer's downgrade, cancellation
//! or billing-frequency change to their account manager with the engine's preview (what
//! changes, from when, the notice deadline, and each document it would issue with its
//! arithmetic), and the staff's replies when it is applied or declined.
//!
//! Pure like the rest of the crate: the engine computes every date and amount and passes it
//! here; nothing is computed but the layout.

use std::fmt::Write as _;

use chrono::NaiveDate;
use prorata_core::catalog::{Catalog, Lang};
use prorata_core::change::{Direction, Request};
use prorata_core::document::{Document, DocumentKind, Draft};
use prorata_core::timeline::State;
use prorata_core::Frequency;

use crate::words::{amounts_in, colon, date, money, t};

/// A change as the customer asked it, with what the engine decided about it.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub request: &'a Request,
    /// The catalog the subscription is sold on, for the names of products and plans.
    pub catalog: &'a Catalog,
    /// The plan and quantities in force when the change takes effect, before it.
    pub before: &'a State,
    /// The billing frequency in force then, before it.
    pub frequency_before: Frequency,
    pub direction: Direction,
    /// The day it takes effect.
    pub effective: NaiveDate,
    /// The last day to submit it for the coming renewal, and that renewal.
    pub deadline: Option<(NaiveDate, NaiveDate)>,
    /// The customer's reason (a cancellation's).
    pub reason: Option<&'a str>,
}

/// A billing frequency as an adjective: `monthly`, `mensuelle`.
pub fn frequency(lang: Lang, f: Frequency) -> &'static str {
    match f {
        Frequency::Weekly => t(lang, "weekly", "hebdomadaire"),
        Frequency::Monthly => t(lang, "monthly", "mensuelle"),
        Frequency::Quarterly => t(lang, "quarterly", "trimestrielle"),
        Frequency::Annual => t(lang, "annual", "annuelle"),
    }
}

fn product_name<'a>(catalog: &'a Catalog, lang: Lang, code: &'a str) -> &'a str {
    catalog.product(code).map_or(code, |p| p.name.get(lang))
}

fn plan_name<'a>(catalog: &'a Catalog, lang: Lang, code: &'a str) -> &'a str {
    catalog.plan(code).map_or(code, |p| p.name.get(lang))
}

/// What changes, in one line: `Users: 10 → 6`, `Fréquence de facturation : mensuelle → annuelle`.
pub fn what_changes(lang: Lang, a: &Asked<'_>) -> String {
    let c = colon(lang);
    match a.request {
        Request::SetQuantity { product, quantity } => format!(
            "{}{c} {} → {quantity}",
            product_name(a.catalog, lang, product),
            a.before.quantity(product)
        ),
        Request::AddAddon { product } => format!(
            "{} {}",
            t(lang, "Add", "Ajout de"),
            product_name(a.catalog, lang, product)
        ),
        Request::RemoveAddon { product } => format!(
            "{} {}",
            t(lang, "Remove", "Retrait de"),
            product_name(a.catalog, lang, product)
        ),
        Request::ChangePlan { plan } => format!(
            "{}{c} {} → {}",
            t(lang, "Plan", "Forfait"),
            plan_name(a.catalog, lang, &a.before.plan),
            plan_name(a.catalog, lang, plan)
        ),
        Request::Cancel => t(
            lang,
            "Cancellation at the renewal",
            "Résiliation au renouvellement",
        )
        .to_string(),
        Request::CancelImmediately => {
            t(lang, "Immediate cancellation", "Résiliation immédiate").to_string()
        }
        Request::ChangeFrequency { frequency: to, .. } => format!(
            "{}{c} {} → {}",
            t(lang, "Billing frequency", "Fréquence de facturation"),
            frequency(lang, a.frequency_before),
            frequency(lang, *to)
        ),
    }
}

/// The ticket's subject: `Change request: Users: 10 → 6`.
pub fn subject(lang: Lang, a: &Asked<'_>) -> String {
    format!(
        "{}{} {}",
        t(lang, "Change request", "Demande de modification"),
        colon(lang),
        what_changes(lang, a)
    )
}

fn kind_name(lang: Lang, kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Invoice => t(lang, "Invoice", "Facture"),
        DocumentKind::CreditNote => t(lang, "Credit note", "Avoir"),
    }
}

/// The line that opens a request sent after its notice deadline: only a tenant admin may
/// apply it, with a written reason.
pub fn late_note(lang: Lang, deadline: NaiveDate) -> String {
    let d = date(lang, deadline);
    match lang {
        Lang::En => format!(
            "Sent after the notice deadline ({d}) at the customer's request: the notice rule refuses it. Only a tenant administrator may apply it, with a written reason that is kept."
        ),
        Lang::Fr => format!(
            "Envoyée après la date limite de préavis ({d}) à la demande du client : la règle de préavis la refuse. Seul un administrateur peut l'appliquer, avec un motif écrit qui est conservé."
        ),
    }
}

/// The ticket's first message: the change, its dates, and the documents it would issue as
/// of `today`, each line with its amount and its arithmetic.
pub fn request_message(lang: Lang, a: &Asked<'_>, drafts: &[Draft], today: NaiveDate) -> String {
    let c = colon(lang);
    let mut out = String::new();
    let intro = match a.direction {
        Direction::Cancellation => t(
            lang,
            "Cancellation asked in the customer portal. The billing team does not handle subscription changes: the account manager applies or declines it.",
            "Résiliation demandée dans le portail client. L'équipe facturation ne gère pas les abonnements : le gestionnaire de compte l'applique ou la refuse.",
        ),
        _ => t(
            lang,
            "Change asked in the customer portal. The billing team does not handle subscription changes: the account manager applies or declines it.",
            "Modification demandée dans le portail client. L'équipe facturation ne gère pas les abonnements : le gestionnaire de compte l'applique ou la refuse.",
        ),
    };
    let _ = writeln!(out, "{intro}\n");
    let _ = writeln!(
        out,
        "{}{c} {}",
        t(lang, "What changes", "Ce qui change"),
        what_changes(lang, a)
    );
    let _ = writeln!(
        out,
        "{}{c} {}",
        t(lang, "Effective on", "Date d'effet"),
        date(lang, a.effective)
    );
    if let Some((deadline, renewal)) = a.deadline {
        let _ = writeln!(
            out,
            "{}{c} {} ({} {})",
            t(lang, "Notice deadline", "Date limite de préavis"),
            date(lang, deadline),
            t(lang, "renewal on", "renouvellement le"),
            date(lang, renewal)
        );
    }
    if let Some(reason) = a.reason {
        let _ = writeln!(out, "{}{c} {reason}", t(lang, "Reason", "Motif"));
    }
    let _ = writeln!(
        out,
        "\n{} {}{c}",
        t(
            lang,
            "Documents it will produce if applied on",
            "Documents qu'elle produira si elle est appliquée le"
        ),
        date(lang, today)
    );
    if drafts.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            t(
                lang,
                "none now: the change shows on the next invoices.",
                "aucun pour l'instant : la modification figurera sur les prochaines factures."
            )
        );
    }
    for d in drafts {
        let net = d
            .net_total()
            .map(|m| money(lang, m))
            .unwrap_or_else(|_| "—".into());
        let _ = writeln!(
            out,
            "- {}{c} {net} {}",
            kind_name(lang, d.kind),
            t(lang, "excl. VAT", "HT")
        );
        for l in &d.lines {
            let _ = writeln!(
                out,
                "    {} ({} – {}){c} {} = {}",
                l.description,
                date(lang, l.service.start),
                date(lang, l.service.end),
                money(lang, l.amount),
                amounts_in(lang, &l.explanation)
            );
        }
    }
    out
}

/// The staff's reply when the change is applied: each document issued with its number and
/// totals, and the override's reason when a tenant admin applied it after the deadline.
pub fn applied_message(
    lang: Lang,
    documents: &[Document],
    override_reason: Option<&str>,
) -> String {
    let c = colon(lang);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        t(
            lang,
            "Your change has been applied.",
            "Votre modification a été appliquée."
        )
    );
    if let Some(reason) = override_reason {
        let _ = writeln!(
            out,
            "{}{c} {reason}",
            t(
                lang,
                "Applied after the notice deadline by exception",
                "Appliquée après la date limite de préavis, à titre exceptionnel"
            )
        );
    }
    if documents.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            t(
                lang,
                "No document is issued now: the change shows on your next invoices.",
                "Aucun document n'est émis pour l'instant : la modification figurera sur vos prochaines factures."
            )
        );
    }
    for d in documents {
        let _ = writeln!(
            out,
            "- {} {}{c} {} {}, {} {}",
            kind_name(lang, d.kind),
            d.number,
            money(lang, d.printed(d.net_total)),
            t(lang, "excl. VAT", "HT"),
            money(lang, d.printed(d.total)),
            t(lang, "incl. VAT", "TTC"),
        );
    }
    out
}

/// The staff's reply when the change is declined: their message, or a plain sentence.
pub fn declined_message(lang: Lang, message: Option<&str>) -> String {
    let head = t(
        lang,
        "Your change request has been declined; your subscription stays as it is.",
        "Votre demande de modification a été refusée ; votre abonnement reste inchangé.",
    );
    match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => format!("{head}\n\n{m}"),
        None => head.to_string(),
    }
}
