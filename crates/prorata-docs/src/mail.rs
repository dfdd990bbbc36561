//! The e-mails sent to billing contacts, in French and English: invoices and credit notes
//! (with the document attached), and the dunning notices of seed 004; to people, their
//! invitation and password links and the news of their support tickets.
//!
//! The engine queues an e-mail as data ([`MailRequest`], written when the reason happens, with
//! the recipients of that moment); this module turns it into words at sending time.

use prorata_core::document::{Document, DocumentKind};
use prorata_core::dunning::Notice;
use prorata_core::{Currency, Lang, Money};
use serde::Deserialize;

use crate::words::{colon, t};
pub use crate::words::{date, money};

/// An e-mail job's payload, as the engine writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct MailRequest {
    pub template: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub lang: Lang,
    pub account_name: String,
    /// The account's currency (e-mails about people, such as invitations, have none).
    #[serde(default)]
    pub currency: Option<Currency>,
    #[serde(default)]
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// An e-mail ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailError(pub String);

impl std::fmt::Display for MailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of the document the e-mail names, when it names one.
pub fn document_number(req: &MailRequest) -> Option<&str> {
    req.data.get("number").and_then(|v| v.as_str())
}

/// Words for `req`, sent by `seller`. `document` is the one [`document_number`] names, with
/// its stored Factur-X PDF, attached (an invoice or credit-note e-mail without it is an error:
/// it would arrive without its document).
pub fn compose(
    req: &MailRequest,
    seller: &str,
    document: Option<(&Document, &[u8])>,
) -> Result<Composed, MailError> {
    let lang = req.lang;
    let hello = format!("{} {},\n\n", t(lang, "Hello", "Bonjour"), req.account_name);
    let bye = format!(
        "\n\n{}\n{seller}\n",
        t(lang, "Kind regards,", "Cordialement,")
    );
    match req.template.as_str() {
        "invoice" | "credit_note" => {
            let (doc, pdf) = document.ok_or_else(|| MailError("the document is missing".into()))?;
            let (subject, intro) = match doc.kind {
                DocumentKind::Invoice => (
                    format!(
                        "{} {} – {seller}",
                        t(lang, "Invoice", "Facture"),
                        doc.number
                    ),
                    format!(
                        "{} {} {} {}: {}.",
                        t(
                            lang,
                            "Please find attached invoice",
                            "Veuillez trouver ci-joint la facture"
                        ),
                        doc.number,
                        t(lang, "of", "du"),
                        doc.issued_on,
                        money(lang, doc.total)
                    ),
                ),
                DocumentKind::CreditNote => (
                    format!(
                        "{} {} – {seller}",
                        t(lang, "Credit note", "Note de crédit"),
                        doc.number
                    ),
                    format!(
                        "{} {} {} {}{}{} {}.",
                        t(
                            lang,
                            "Please find attached credit note",
                            "Veuillez trouver ci-joint la note de crédit"
                        ),
                        doc.number,
                        t(lang, "of", "du"),
                        date(lang, doc.issued_on),
                        if doc.corrects.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " ({} {})",
                                t(lang, "correcting invoice", "corrigeant la facture"),
                                doc.corrects.join(", ")
                            )
                        },
                        colon(lang),
                        money(lang, doc.printed(doc.total))
                    ),
                ),
            };
            let mut due = String::new();
            if let Some(prepaid) = doc.prepaid_credit {
                due = format!(
                    "\n{}{} {}.",
                    t(
                        lang,
                        "Paid from your prepaid credit",
                        "Réglé par votre crédit prépayé"
                    ),
                    colon(lang),
                    money(lang, prepaid)
                );
            }
            if doc.kind == DocumentKind::Invoice && doc.balance_after.minor() > 0 {
                due.push_str(&format!(
                    "\n{}{} {}.",
                    t(lang, "Amount due", "Montant dû"),
                    colon(lang),
                    money(lang, doc.balance_after)
                ));
            }
            Ok(Composed {
                subject,
                text: format!("{hello}{intro}{due}{bye}"),
                attachments: vec![Attachment {
                    filename: format!("{}.pdf", doc.number),
                    content_type: "application/pdf",
                    body: pdf.to_vec(),
                }],
            })
        }
        "notice" => {
            let notice: Notice = req
                .data
                .get("notice")
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| MailError("a notice e-mail without its notice".into()))?;
            let balance = Money::from_minor(
                req.data
                    .get("balance")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0),
                req.currency
                    .ok_or_else(|| MailError("a notice e-mail without its currency".into()))?,
            );
            let owed = money(lang, balance);
            let (subject, body) = match notice {
                Notice::PaymentFailed => (
                    t(lang, "Your payment failed", "Votre paiement a échoué").to_string(),
                    format!(
                        "{} {owed}. {}",
                        t(lang, "We could not collect", "Nous n'avons pas pu encaisser"),
                        t(
                            lang,
                            "Please update your payment method: we will try again automatically in the next batch.",
                            "Merci de mettre à jour votre moyen de paiement : nous réessaierons automatiquement lors du prochain lot."
                        )
                    ),
                ),
                Notice::SuspensionWarning => (
                    t(lang, "Your account will soon be suspended", "Votre compte sera bientôt suspendu").to_string(),
                    format!(
                        "{} {owed} {}",
                        t(lang, "We still could not collect", "Nous n'avons toujours pas pu encaisser"),
                        t(
                            lang,
                            "despite several attempts. Without payment your account will be suspended in a few days.",
                            "malgré plusieurs tentatives. Sans paiement, votre compte sera suspendu dans quelques jours."
                        )
                    ),
                ),
                Notice::Suspended => (
                    t(lang, "Your account is suspended", "Votre compte est suspendu").to_string(),
                    format!(
                        "{} {owed}. {}",
                        t(lang, "Your account is suspended for an unpaid balance of", "Votre compte est suspendu pour un solde impayé de"),
                        t(lang, "The account owner may sign in to update the payment method and pay.", "Le propriétaire du compte peut se connecter pour mettre à jour le moyen de paiement et payer.")
                    ),
                ),
                Notice::Cancelled => (
                    t(lang, "Your account is cancelled", "Votre compte est résilié").to_string(),
                    format!(
                        "{} {owed}. {}",
                        t(lang, "Your account is cancelled for an unpaid balance of", "Votre compte est résilié pour un solde impayé de"),
                        t(
                            lang,
                            "Only the account owner may still sign in, to update the payment method and pay. Your data will be deleted 90 days after the suspension.",
                            "Seul le propriétaire du compte peut encore se connecter, pour mettre à jour le moyen de paiement et payer. Vos données seront supprimées 90 jours après la suspension."
                        )
                    ),
                ),
                Notice::Reactivated => (
                    t(lang, "Payment received: your account is active again", "Paiement reçu : votre compte est réactivé").to_string(),
                    t(
                        lang,
                        "Thank you: your payment was received and your account is active again.",
                        "Merci : votre paiement a bien été reçu et votre compte est de nouveau actif."
                    )
                    .to_string(),
                ),
            };
            Ok(Composed {
                subject: format!("{subject} – {seller}"),
                text: format!("{hello}{body}{bye}"),
                attachments: Vec::new(),
            })
        }
        "reminder" => {
            let text = reminder(req)?;
            Ok(Composed {
                subject: format!(
                    "{} – {seller}",
                    t(lang, "Payment reminder", "Rappel de paiement")
                ),
                text: format!("{hello}{text}{bye}"),
                attachments: Vec::new(),
            })
        }
        "invitation" | "password_reset" => {
            let link = req
                .data
                .get("link")
                .and_then(|v| v.as_str())
                .ok_or_else(|| MailError("a link e-mail without its link".into()))?;
            let name = req
                .data
                .get("user_name")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let hello = format!("{} {name},\n\n", t(lang, "Hello", "Bonjour"));
            let (subject, body) = if req.template == "invitation" {
                let inviter = req.data.get("inviter").and_then(|v| v.as_str());
                let who = match inviter {
                    Some(i) => format!("{i} {}", t(lang, "invites you", "vous invite")),
                    None => t(lang, "You are invited", "Vous êtes invité(e)").to_string(),
                };
                (
                    format!(
                        "{} {} – {seller}",
                        t(lang, "Your access to", "Votre accès à"),
                        req.account_name
                    ),
                    format!(
                        "{who} {} {}{}\n\n{link}\n\n{}",
                        t(
                            lang,
                            "to the billing portal of",
                            "à l'espace de facturation de"
                        ),
                        req.account_name,
                        t(
                            lang,
                            ". Choose your password with this link:",
                            ". Choisissez votre mot de passe avec ce lien :"
                        ),
                        t(
                            lang,
                            "The link works once and for 7 days.",
                            "Le lien fonctionne une fois, pendant 7 jours."
                        )
                    ),
                )
            } else {
                (
                    format!(
                        "{} – {seller}",
                        t(lang, "Reset your password", "Réinitialisez votre mot de passe")
                    ),
                    format!(
                        "{}\n\n{link}\n\n{}",
                        t(
                            lang,
                            "Someone asked to reset your password. Choose a new one with this link:",
                            "Une réinitialisation de votre mot de passe a été demandée. Choisissez-en un nouveau avec ce lien :"
                        ),
                        t(
                            lang,
                            "The link works once and for one hour. If you did not ask, ignore this e-mail: your password stays as it is.",
                            "Le lien fonctionne une fois, pendant une heure. Si vous n'avez rien demandé, ignorez cet e-mail : votre mot de passe reste inchangé."
                        )
                    ),
                )
            };
            Ok(Composed {
                subject,
                text: format!("{hello}{body}{bye}"),
                attachments: Vec::new(),
            })
        }
        "ticket" => {
            let text = |key: &str| req.data.get(key).and_then(|v| v.as_str());
            let subject = text("subject").unwrap_or_default();
            let number = req
                .data
                .get("ticket_id")
                .and_then(|v| v.as_i64())
                .unwrap_or(0);
            let message = text("message").unwrap_or_default();
            let name = text("user_name").unwrap_or_default();
            let hello = format!("{} {name},\n\n", t(lang, "Hello", "Bonjour"));
            let (what, intro) = match text("kind") {
                // To the customer who filed it: the staff answered (the team the ticket's
                // queue names: the account manager for subscription matters, seed 000).
                Some("staff_reply") if text("queue") == Some("account_management") => (
                    t(lang, "Reply to your request", "Réponse à votre demande"),
                    t(
                        lang,
                        "Your account manager answered your request:",
                        "Votre gestionnaire de compte a répondu à votre demande :",
                    ),
                ),
                Some("staff_reply") => (
                    t(lang, "Reply to your request", "Réponse à votre demande"),
                    t(
                        lang,
                        "The billing team answered your request:",
                        "L'équipe facturation a répondu à votre demande :",
                    ),
                ),
                // To the staff member it is assigned to.
                Some("new") => (
                    t(lang, "New request", "Nouvelle demande"),
                    t(
                        lang,
                        "A customer filed a request assigned to you:",
                        "Un client a déposé une demande qui vous est attribuée :",
                    ),
                ),
                Some("customer_reply") => (
                    t(lang, "Customer reply", "Réponse du client"),
                    t(
                        lang,
                        "The customer replied to a request assigned to you:",
                        "Le client a répondu à une demande qui vous est attribuée :",
                    ),
                ),
                _ => return Err(MailError("a ticket e-mail without its kind".into())),
            };
            let colon = colon(lang);
            Ok(Composed {
                subject: format!("{what} #{number}{colon} {subject} – {seller}"),
                text: format!(
                    "{hello}{intro}\n\n{} #{number} — {} — {subject}\n\n{message}{bye}",
                    t(lang, "Request", "Demande"),
                    req.account_name,
                ),
                attachments: Vec::new(),
            })
        }
        other => Err(MailError(format!("unknown e-mail template {other:?}"))),
    }
}

/// The body of an overdue reminder (prorata_core::overdue): the invoices past due, since
/// when, the amount, and where to pay it.
fn reminder(req: &MailRequest) -> Result<String, MailError> {
    let lang = req.lang;
    let data = &req.data;
    let invoices: Vec<&str> = data
        .get("invoices")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if invoices.is_empty() {
        return Err(MailError("a reminder without its invoices".into()));
    }
    let currency = req
        .currency
        .ok_or_else(|| MailError("a reminder without its currency".into()))?;
    let amount = Money::from_minor(
        data.get("amount").and_then(|v| v.as_i64()).unwrap_or(0),
        currency,
    );
    let due_on = data
        .get("due_on")
        .cloned()
        .and_then(|v| serde_json::from_value::<chrono::NaiveDate>(v).ok())
        .ok_or_else(|| MailError("a reminder without its due date".into()))?;
    let (invoice, was_due) = if invoices.len() == 1 {
        (
            t(lang, "Invoice", "La facture"),
            t(lang, "was due on", "était due le"),
        )
    } else {
        (
            t(lang, "Invoices", "Les factures"),
            t(lang, "are due since", "sont dues depuis le"),
        )
    };
    let mut text = format!(
        "{invoice} {} {was_due} {}. {}{} {}.",
        invoices.join(", "),
        date(lang, due_on),
        t(lang, "Amount still due", "Montant restant dû"),
        colon(lang),
        money(lang, amount)
    );
    let bank = data.get("bank_details").filter(|b| !b.is_null());
    match bank {
        Some(b) => {
            let field = |name: &str| b.get(name).and_then(|v| v.as_str()).unwrap_or("");
            text.push_str(&format!(
                "\n\n{}{}\n{}{} {}\nIBAN{} {}",
                t(
                    lang,
                    "Please pay it by bank transfer to",
                    "Merci de la régler par virement à"
                ),
                colon(lang),
                t(lang, "Holder", "Titulaire"),
                colon(lang),
                field("holder"),
                colon(lang),
                field("iban"),
            ));
            if !field("bic").is_empty() {
                text.push_str(&format!("\nBIC{} {}", colon(lang), field("bic")));
            }
            text.push_str(&format!(
                "\n{}{} {}",
                t(lang, "Reference", "Référence"),
                colon(lang),
                invoices.join(", ")
            ));
        }
        None => text.push_str(&format!(
            "\n\n{}",
            t(
                lang,
                "Please pay it to the bank details printed on the invoice.",
                "Merci de la régler aux coordonnées bancaires indiquées sur la facture."
            )
        )),
    }
    text.push_str(&format!(
        "\n\n{}",
        t(
            lang,
            "If you have paid in the meantime, thank you, and please ignore this reminder.",
            "Si vous avez réglé entre-temps, merci, et veuillez ignorer ce rappel."
        )
    ));
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(lang: Lang, notice: &str) -> MailRequest {
        serde_json::from_value(serde_json::json!({
            "template": "notice",
            "to": ["billing@example.com"],
            "lang": lang,
            "account_name": "Acme",
            "currency": "EUR",
            "data": { "notice": notice, "balance": 123450 },
        }))
        .unwrap()
    }

    #[test]
    fn a_reminder_names_the_invoices_the_amount_and_where_to_pay() {
        let reminder = |lang: Lang, bank: serde_json::Value| -> MailRequest {
            serde_json::from_value(serde_json::json!({
                "template": "reminder",
                "to": ["billing@example.com"],
                "lang": lang,
                "account_name": "Acme",
                "currency": "EUR",
                "data": {
                    "invoices": ["F-2026-000012"],
                    "amount": 2379328,
                    "due_on": "2026-03-02",
                    "bank_details": bank,
                },
            }))
            .unwrap()
        };
        let bank = serde_json::json!({"holder": "Vendor SAS", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"});
        let en = compose(&reminder(Lang::En, bank.clone()), "Vendor", None).unwrap();
        assert_eq!(en.subject, "Payment reminder – Vendor");
        for part in [
            "F-2026-000012",
            "2 March 2026",
            "€23,793.28",
            "FR7630006000011234567890189",
            "AGRIFRPP",
            "Vendor SAS",
        ] {
            assert!(en.text.contains(part), "{part} in {}", en.text);
        }
        let fr = compose(&reminder(Lang::Fr, bank), "Vendor", None).unwrap();
        assert_eq!(fr.subject, "Rappel de paiement – Vendor");
        for part in [
            "La facture F-2026-000012 était due le 2 mars 2026",
            "23\u{202f}793,28\u{a0}€",
            "virement",
            "FR7630006000011234567890189",
        ] {
            assert!(fr.text.contains(part), "{part} in {}", fr.text);
        }
        let none = compose(&reminder(Lang::En, serde_json::Value::Null), "Vendor", None).unwrap();
        assert!(
            none.text.contains("printed on the invoice"),
            "{}",
            none.text
        );
        let mut empty = reminder(Lang::En, serde_json::Value::Null);
        empty.data["invoices"] = serde_json::json!([]);
        assert!(compose(&empty, "Vendor", None).is_err());
    }

    #[test]
    fn notices_speak_the_account_language() {
        let en = compose(&req(Lang::En, "payment_failed"), "Vendor", None).unwrap();
        assert_eq!(en.subject, "Your payment failed – Vendor");
        assert!(en.text.contains("€1,234.50"), "{}", en.text);
        let fr = compose(&req(Lang::Fr, "payment_failed"), "Vendor", None).unwrap();
        assert_eq!(fr.subject, "Votre paiement a échoué – Vendor");
        assert!(fr.text.contains("1\u{202f}234,50\u{a0}€"), "{}", fr.text);
        let fr = compose(&req(Lang::Fr, "cancelled"), "Vendor", None).unwrap();
        assert!(fr.text.contains("Seul le propriétaire"));
        assert!(compose(&req(Lang::En, "nonsense"), "Vendor", None).is_err());
    }

    #[test]
    fn ticket_emails_say_who_answered_in_the_reader_language() {
        let ticket = |lang: Lang, kind: &str| -> MailRequest {
            serde_json::from_value(serde_json::json!({
                "template": "ticket",
                "to": ["owner@lumen.example"],
                "lang": lang,
                "account_name": "Lumen",
                "data": { "kind": kind, "ticket_id": 12, "subject": "Virement de juillet",
                          "message": "Reçu, merci.", "user_name": "Camille" },
            }))
            .unwrap()
        };
        let fr = compose(&ticket(Lang::Fr, "staff_reply"), "Vendor", None).unwrap();
        assert_eq!(
            fr.subject,
            "Réponse à votre demande #12 : Virement de juillet – Vendor"
        );
        assert!(fr.text.starts_with("Bonjour Camille,"), "{}", fr.text);
        assert!(fr.text.contains("Reçu, merci."), "{}", fr.text);
        let en = compose(&ticket(Lang::En, "new"), "Vendor", None).unwrap();
        assert!(en.subject.starts_with("New request #12"), "{}", en.subject);
        assert!(compose(&ticket(Lang::En, "other"), "Vendor", None).is_err());
        assert!(
            fr.text.contains("L'équipe facturation a répondu"),
            "{}",
            fr.text
        );
        let mut managed = ticket(Lang::Fr, "staff_reply");
        managed.data["queue"] = serde_json::json!("account_management");
        let fr = compose(&managed, "Vendor", None).unwrap();
        assert!(
            fr.text.contains("Votre gestionnaire de compte a répondu"),
            "{}",
            fr.text
        );
    }

    #[test]
    fn a_document_email_needs_its_document() {
        let mut r = req(Lang::En, "payment_failed");
        r.template = "invoice".into();
        assert!(compose(&r, "Vendor", None).is_err());
    }

    #[test]
    fn an_invoice_email_says_what_prepaid_credit_paid_and_what_is_left() {
        use prorata_core::document::{DocumentKind, Draft};
        use prorata_core::money::{Currency, Money};
        let eur = |minor| Money::from_minor(minor, Currency::EUR);
        let mut doc = Draft {
            kind: DocumentKind::Invoice,
            currency: Currency::EUR,
            lines: Vec::new(),
        }
        .issue("INV-000002".into(), chrono::NaiveDate::MIN, eur(0))
        .unwrap();
        doc.total = eur(36_000);
        doc.balance_after = eur(36_000);
        doc.apply_prepaid(eur(14_000)).unwrap();
        let mut r = req(Lang::Fr, "payment_failed");
        r.template = "invoice".into();
        let mail = compose(&r, "Vendor", Some((&doc, b"%PDF"))).unwrap();
        assert!(
            mail.text.contains(
                "Réglé par votre crédit prépayé : 140,00\u{a0}€.\nMontant dû : 220,00\u{a0}€."
            ),
            "{}",
            mail.text
        );
        // Paid whole: no amount due.
        doc.balance_after = eur(0);
        let mail = compose(&r, "Vendor", Some((&doc, b"%PDF"))).unwrap();
        assert!(!mail.text.contains("Montant dû"), "{}", mail.text);
    }
}
