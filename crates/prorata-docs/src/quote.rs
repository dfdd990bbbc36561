//! A quote (*devis*) as `prorata quote` prints it: the invoices a subscription would bring,
//! written like the documents themselves — in the account's language, with the locale's
//! amounts and dates and each line's arithmetic — under the title *Quote* / *Devis*, and
//! with no invoice numbers: numbers are given when a document is issued, gapless, and a
//! quote issues nothing.

use std::fmt::Write as _;

use prorata_core::calendar::Frequency;
use prorata_core::document::{Document, DocumentKind};
use prorata_core::scenario::{Entry, Outcome};
use prorata_core::Lang;

use crate::text::{section_title, tax_label};
use crate::words::{amounts_in, colon, date, money, period, t};

fn frequency(lang: Lang, f: Frequency) -> &'static str {
    match f {
        Frequency::Weekly => t(lang, "weekly", "hebdomadaire"),
        Frequency::Monthly => t(lang, "monthly", "mensuel"),
        Frequency::Quarterly => t(lang, "quarterly", "trimestriel"),
        Frequency::Annual => t(lang, "annual", "annuel"),
    }
}

/// The quote of `o`: the documents its scenario issued, in its account's language.
pub fn quote(o: &Outcome) -> String {
    let lang = o.account.language;
    let sub = &o.subscription;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {}, {}, {}",
        t(lang, "QUOTE", "DEVIS"),
        sub.plan,
        frequency(lang, sub.frequency),
        sub.currency
    );
    let _ = write!(
        out,
        "{} {}",
        t(lang, "Starting on", "À partir du"),
        date(lang, sub.start)
    );
    if sub.trial_days > 0 {
        let _ = write!(
            out,
            " · {}",
            match lang {
                Lang::En => format!("{}-day free trial", sub.trial_days),
                Lang::Fr => format!("essai gratuit de {} jours", sub.trial_days),
            }
        );
    }
    let _ = writeln!(out);
    let invoices: Vec<&Document> = o
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Document(d) if d.kind == DocumentKind::Invoice => Some(d.as_ref()),
            _ => None,
        })
        .collect();
    for (i, d) in invoices.iter().enumerate() {
        let _ = writeln!(out, "\n{}", "─".repeat(96));
        let heading = match lang {
            Lang::En => format!("Invoice {} of {}", i + 1, invoices.len()),
            Lang::Fr => format!("Facture {} sur {}", i + 1, invoices.len()),
        };
        let _ = writeln!(
            out,
            "{heading} · {} {}",
            t(lang, "issued on", "émise le"),
            date(lang, d.issued_on)
        );
        body(&mut out, d, lang);
    }
    if invoices.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            t(
                lang,
                "Nothing is invoiced in this period.",
                "Rien n'est facturé sur cette période."
            )
        );
    }
    let _ = writeln!(
        out,
        "\n{}",
        t(
            lang,
            "This quote is not an invoice: it shows what would be invoiced on these dates at \
             today's prices. Invoices are numbered when they are issued.",
            "Ce devis n'est pas une facture : il montre ce qui serait facturé à ces dates aux \
             prix d'aujourd'hui. Les factures sont numérotées lorsqu'elles sont émises."
        )
    );
    out
}

/// A document's lines and totals, as the PDF words them.
fn body(out: &mut String, d: &Document, lang: Lang) {
    let mut current = None;
    for l in &d.lines {
        if current != Some(l.section) {
            current = Some(l.section);
            let _ = writeln!(out, "\n  {}", section_title(lang, l.section));
        }
        let period = period(lang, l.service.start, l.service.end);
        let _ = writeln!(
            out,
            "    {:<44} {period:<28} {:>16}",
            l.description,
            money(lang, l.amount)
        );
        let mut why = l.explanation.clone();
        if let Some(p) = l.proration {
            let _ = write!(why, " · {}", p.describe(lang));
        }
        let _ = writeln!(out, "      {}", amounts_in(lang, &why));
    }
    let mut rows = vec![(
        t(lang, "Total excl. VAT", "Total HT").to_string(),
        money(lang, d.net_total),
    )];
    for tax in &d.taxes {
        rows.push((tax_label(lang, tax), money(lang, tax.tax)));
    }
    rows.push((
        t(lang, "Total incl. VAT", "Total TTC").to_string(),
        money(lang, d.total),
    ));
    let _ = writeln!(out);
    for (label, amount) in rows {
        let _ = writeln!(
            out,
            "  {:<74} {amount:>16}",
            format!("{label}{}", colon(lang))
        );
    }
}
