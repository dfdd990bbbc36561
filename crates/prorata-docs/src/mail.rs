//! The e-mails sent to billing contacts, in French and English: invoices and credit notes
//! (with the document attached), the dunning notices of seed 004 and the overdue reminders;
//! to people, their invitation and password links and the news of their support tickets.
//!
//! The engine queues an e-mail as data ([`MailRequest`], written when the reason happens, with
//! the recipients of that moment); this module turns it into words at sending time. Each
//! e-mail is said once, as a [`Body`] (greeting, paragraphs, a table of facts, a button), and
//! written twice from it: the text part, and the HTML part from the compile-time checked
//! template `templates/mail.html` (escaped, no script, no external resource, a table layout
//! with inline styles because that is what mail clients render).
//!
//! Amounts and dates are written by [`crate::words::money`] and [`crate::words::date`] only,
//! so e-mails say them as the documents do. An e-mail about money owed (an invoice with an
//! amount due, a payment failure, a reminder) carries the signed link to pay or update the
//! card when the sender gave one (`pay_link` in the data: the mail worker signs it at sending
//! time, so the job table never holds it).

use askama::Template;
use chrono::NaiveDate;
use prorata_core::document::{Document, DocumentKind};
use prorata_core::dunning::Notice;
use prorata_core::{Currency, Lang, Money};
use serde::Deserialize;

use crate::words::t;
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

/// An e-mail ready to send: one message in two forms, and its attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    /// The same words as `text`, as an HTML document.
    pub html: String,
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

/// Whether the e-mail of `req` is about money owed, and so carries a link to pay: the mail
/// worker signs one for these (an invoice e-mail only when the invoice leaves an amount due,
/// which [`compose`] checks again with the document in hand).
pub fn wants_pay_link(req: &MailRequest) -> bool {
    match req.template.as_str() {
        "invoice" | "reminder" => true,
        "notice" => !matches!(
            req.data
                .get("notice")
                .cloned()
                .and_then(|v| serde_json::from_value::<Notice>(v).ok()),
            Some(Notice::Reactivated) | None
        ),
        _ => false,
    }
}

/// The invoice numbers an e-mail about money owed names: what its pay link is for.
pub fn invoices_named(req: &MailRequest) -> Vec<String> {
    match document_number(req) {
        Some(n) if req.template == "invoice" => vec![n.to_string()],
        _ => strings(&req.data, "invoices"),
    }
}

/// `:` in English, ` :` in French, where the space before `:` `;` `?` `!` is a no-break
/// space (U+00A0), so a line never starts with the sign; the French phrases below write it
/// as `\u{a0}`.
fn colon(lang: Lang) -> &'static str {
    t(lang, ":", "\u{a0}:")
}

/// A label and its value, as the facts table of an e-mail shows them.
pub struct Fact {
    pub label: String,
    pub value: String,
}

/// The button of an e-mail: where it leads, what it says, and a note under it.
pub struct Action {
    pub link: String,
    pub label: String,
    pub note: String,
}

/// What an e-mail says, before it is written as text or HTML.
#[derive(Template)]
#[template(path = "mail.html")]
pub struct Body {
    pub lang: &'static str,
    pub subject: String,
    pub seller: String,
    pub greeting: String,
    pub paragraphs: Vec<String>,
    /// A message quoted as it was written (a ticket's), line breaks kept.
    pub quote: Option<String>,
    pub facts: Vec<Fact>,
    pub action: Option<Action>,
    pub after: Vec<String>,
    pub sign_off: String,
}

impl Body {
    fn new(lang: Lang, subject: String, seller: &str, name: &str) -> Body {
        Body {
            lang: lang.as_str(),
            subject,
            seller: seller.to_string(),
            greeting: format!("{} {name},", t(lang, "Hello", "Bonjour")),
            paragraphs: Vec::new(),
            quote: None,
            facts: Vec::new(),
            action: None,
            after: Vec::new(),
            sign_off: t(lang, "Kind regards,", "Cordialement,").to_string(),
        }
    }

    fn fact(&mut self, label: &str, value: String) {
        self.facts.push(Fact {
            label: label.to_string(),
            value,
        });
    }

    /// The text part: the same blocks, one blank line apart.
    fn text(&self, lang: Lang) -> String {
        let mut blocks = vec![self.greeting.clone()];
        blocks.extend(self.paragraphs.iter().cloned());
        if let Some(q) = &self.quote {
            blocks.push(q.clone());
        }
        if !self.facts.is_empty() {
            let lines: Vec<String> = self
                .facts
                .iter()
                .map(|f| format!("{}{} {}", f.label, colon(lang), f.value))
                .collect();
            blocks.push(lines.join("\n"));
        }
        if let Some(a) = &self.action {
            let mut block = format!("{}{}\n{}", a.label, colon(lang), a.link);
            if !a.note.is_empty() {
                block.push('\n');
                block.push_str(&a.note);
            }
            blocks.push(block);
        }
        blocks.extend(self.after.iter().cloned());
        blocks.push(format!("{}\n{}", self.sign_off, self.seller));
        let mut text = blocks.join("\n\n");
        text.push('\n');
        text
    }

    fn compose(self, lang: Lang, attachments: Vec<Attachment>) -> Result<Composed, MailError> {
        let html = self
            .render()
            .map_err(|e| MailError(format!("the HTML part: {e}")))?;
        Ok(Composed {
            subject: self.subject.clone(),
            text: self.text(lang),
            html,
            attachments,
        })
    }
}

fn strings(data: &serde_json::Value, key: &str) -> Vec<String> {
    data.get(key)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn day(data: &serde_json::Value, key: &str) -> Option<NaiveDate> {
    data.get(key)
        .cloned()
        .and_then(|v| serde_json::from_value::<NaiveDate>(v).ok())
}

/// "invoice INV-1" / "invoices INV-1, INV-2", "la facture INV-1" / "les factures INV-1,
/// INV-2": the article and the noun agree with how many there are.
fn invoices_phrase(lang: Lang, numbers: &[String]) -> String {
    let noun = match (numbers.len() > 1, lang) {
        (false, Lang::En) => "invoice",
        (true, Lang::En) => "invoices",
        (false, Lang::Fr) => "la facture",
        (true, Lang::Fr) => "les factures",
    };
    format!("{noun} {}", numbers.join(", "))
}

/// The facts-table label for `numbers`.
fn invoices_label(lang: Lang, numbers: &[String]) -> &'static str {
    if numbers.len() > 1 {
        t(lang, "Invoices", "Factures")
    } else {
        t(lang, "Invoice", "Facture")
    }
}

/// Why the bank refused a charge, in words a customer understands, from the gateway's
/// decline code; an unknown code gets the general sentence rather than the code itself.
pub fn decline_reason(lang: Lang, code: &str) -> &'static str {
    match code {
        "insufficient_funds" => t(
            lang,
            "your bank declined the payment for insufficient funds",
            "votre banque a refusé le paiement faute de provision suffisante",
        ),
        "expired_card" => t(
            lang,
            "the card on file has expired",
            "la carte enregistrée a expiré",
        ),
        "stolen_card" | "lost_card" => t(
            lang,
            "the card on file was reported lost or stolen and your bank blocked it",
            "la carte enregistrée a été déclarée perdue ou volée et votre banque l'a bloquée",
        ),
        "processing_error" => t(
            lang,
            "a technical problem at the bank stopped the payment",
            "un incident technique chez la banque a empêché le paiement",
        ),
        "incorrect_cvc" | "incorrect_number" | "invalid_card" => t(
            lang,
            "the bank did not accept the card's details",
            "la banque n'a pas accepté les coordonnées de la carte",
        ),
        _ => t(
            lang,
            "your bank declined the payment",
            "votre banque a refusé le paiement",
        ),
    }
}

/// The button to the signed pay link, when the sender gave one.
fn pay_action(lang: Lang, data: &serde_json::Value) -> Option<Action> {
    let link = data.get("pay_link").and_then(|v| v.as_str())?;
    let note = match day(data, "pay_link_expires") {
        Some(d) => format!(
            "{} {}.",
            t(
                lang,
                "This secure link works until",
                "Ce lien sécurisé est valable jusqu'au"
            ),
            date(lang, d)
        ),
        None => String::new(),
    };
    Some(Action {
        link: link.to_string(),
        label: t(
            lang,
            "Pay now or update my card",
            "Payer ou mettre à jour ma carte",
        )
        .to_string(),
        note,
    })
}

/// Words for `req`, sent by `seller`. `document` is the one [`document_number`] names, with
/// its stored Factur-X PDF, attached (an invoice or credit-note e-mail without it is an error:
/// it would arrive without its document).
pub fn compose(
    req: &MailRequest,
    seller: &str,
    document: Option<(&Document, &[u8])>,
) -> Result<Composed, MailError> {
    match req.template.as_str() {
        "invoice" | "credit_note" => {
            let (doc, pdf) = document.ok_or_else(|| MailError("the document is missing".into()))?;
            document_mail(req, seller, doc, pdf)
        }
        "notice" => notice(req, seller),
        "reminder" => reminder(req, seller),
        "invitation" | "password_reset" => link_mail(req, seller),
        "ticket" => ticket(req, seller),
        other => Err(MailError(format!("unknown e-mail template {other:?}"))),
    }
}

fn document_mail(
    req: &MailRequest,
    seller: &str,
    doc: &Document,
    pdf: &[u8],
) -> Result<Composed, MailError> {
    let lang = req.lang;
    let issued = date(lang, doc.issued_on);
    let (title, attached) = match doc.kind {
        DocumentKind::Invoice => (
            t(lang, "Invoice", "Facture"),
            t(
                lang,
                "Please find attached invoice",
                "Veuillez trouver ci-joint la facture",
            ),
        ),
        DocumentKind::CreditNote => (
            t(lang, "Credit note", "Avoir"),
            t(
                lang,
                "Please find attached credit note",
                "Veuillez trouver ci-joint l'avoir",
            ),
        ),
    };
    let subject = format!("{title} {} – {seller}", doc.number);
    let mut body = Body::new(lang, subject, seller, &req.account_name);
    let mut intro = format!("{attached} {} {} {issued}", doc.number, t(lang, "of", "du"));
    if doc.kind == DocumentKind::CreditNote && !doc.corrects.is_empty() {
        intro.push_str(&format!(
            ", {} {}",
            t(lang, "which corrects", "qui corrige"),
            invoices_phrase(lang, &doc.corrects)
        ));
    }
    intro.push('.');
    body.paragraphs.push(intro);
    body.fact(title, doc.number.clone());
    body.fact(t(lang, "Date", "Date"), issued);
    body.fact(
        match doc.kind {
            DocumentKind::Invoice => t(lang, "Total", "Total"),
            DocumentKind::CreditNote => t(lang, "Amount credited", "Montant de l'avoir"),
        },
        money(lang, doc.printed(doc.total)),
    );
    if let Some(prepaid) = doc.prepaid_credit {
        body.fact(
            t(
                lang,
                "Paid from your prepaid credit",
                "Réglé par votre crédit prépayé",
            ),
            money(lang, prepaid),
        );
    }
    let owed = doc.kind == DocumentKind::Invoice && doc.balance_after.minor() > 0;
    if owed {
        body.fact(
            t(lang, "Amount due", "Montant dû"),
            money(lang, doc.balance_after),
        );
        if let Some(due) = doc.due_on {
            body.fact(t(lang, "Due date", "Échéance"), date(lang, due));
        }
        body.action = pay_action(lang, &req.data);
    }
    body.compose(
        lang,
        vec![Attachment {
            filename: format!("{}.pdf", doc.number),
            content_type: "application/pdf",
            body: pdf.to_vec(),
        }],
    )
}

fn notice(req: &MailRequest, seller: &str) -> Result<Composed, MailError> {
    let lang = req.lang;
    let data = &req.data;
    let notice: Notice = data
        .get("notice")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| MailError("a notice e-mail without its notice".into()))?;
    let balance = Money::from_minor(
        data.get("balance").and_then(|v| v.as_i64()).unwrap_or(0),
        req.currency
            .ok_or_else(|| MailError("a notice e-mail without its currency".into()))?,
    );
    let owed = money(lang, balance);
    let invoices = strings(data, "invoices");
    // "… 1 234,50 € pour la facture INV-1" / "… for invoice INV-1"; nothing when unknown.
    let for_invoices = if invoices.is_empty() {
        String::new()
    } else {
        format!(
            " {} {}",
            t(lang, "for", "pour"),
            invoices_phrase(lang, &invoices)
        )
    };
    let reason = data
        .get("reason")
        .and_then(|v| v.as_str())
        .map(|code| format!("{} {}", colon(lang), decline_reason(lang, code)))
        .unwrap_or_default();
    let next_attempt = day(data, "next_attempt");
    let stops_on = day(data, "stops_on");
    // Sentences point to the link only when there is one.
    let action = pay_action(lang, data);
    let linked = action.is_some();
    let subject = match notice {
        Notice::PaymentFailed => t(lang, "Your payment failed", "Votre paiement a échoué"),
        Notice::SuspensionWarning => t(
            lang,
            "Your account will soon be suspended",
            "Votre compte sera bientôt suspendu",
        ),
        Notice::Suspended => t(
            lang,
            "Your account is suspended",
            "Votre compte est suspendu",
        ),
        Notice::Cancelled => t(
            lang,
            "Your account is cancelled",
            "Votre compte est résilié",
        ),
        Notice::Reactivated => t(
            lang,
            "Payment received: your account is active again",
            "Paiement reçu\u{a0}: votre compte est réactivé",
        ),
    };
    let mut body = Body::new(
        lang,
        format!("{subject} – {seller}"),
        seller,
        &req.account_name,
    );
    let retry = match next_attempt {
        Some(d) => format!(
            "{} {}.",
            t(
                lang,
                "We will try your payment method again on",
                "Nous présenterons de nouveau le paiement le"
            ),
            date(lang, d)
        ),
        None => String::new(),
    };
    match notice {
        Notice::PaymentFailed => {
            body.paragraphs.push(format!(
                "{} {owed}{for_invoices}{reason}.",
                t(
                    lang,
                    "We could not collect",
                    "Nous n'avons pas pu encaisser"
                ),
            ));
            if !retry.is_empty() {
                body.paragraphs.push(retry);
            }
            body.paragraphs.push(
                if linked {
                    t(
                        lang,
                        "To settle it now, pay or update your card with the link below.",
                        "Pour régler dès maintenant, payez ou mettez à jour votre carte avec le lien ci-dessous.",
                    )
                } else {
                    t(
                        lang,
                        "To settle it now, update your payment method in the billing portal.",
                        "Pour régler dès maintenant, mettez à jour votre moyen de paiement dans l'espace de facturation.",
                    )
                }
                .to_string(),
            );
        }
        Notice::SuspensionWarning => {
            body.paragraphs.push(format!(
                "{} {owed}{for_invoices} {}{reason}.",
                t(
                    lang,
                    "We still could not collect",
                    "Nous n'avons toujours pas pu encaisser"
                ),
                t(
                    lang,
                    "despite several attempts",
                    "malgré plusieurs tentatives"
                ),
            ));
            body.paragraphs.push(match stops_on {
                Some(d) => format!(
                    "{} {}.",
                    t(
                        lang,
                        "Without payment, your account will be suspended on",
                        "Sans paiement, votre compte sera suspendu le"
                    ),
                    date(lang, d)
                ),
                None => t(
                    lang,
                    "Without payment, your account will be suspended in a few days.",
                    "Sans paiement, votre compte sera suspendu dans quelques jours.",
                )
                .to_string(),
            });
        }
        Notice::Suspended | Notice::Cancelled => {
            let (what, then) = if notice == Notice::Suspended {
                (
                    t(
                        lang,
                        "Your account is suspended for an unpaid balance of",
                        "Votre compte est suspendu pour un solde impayé de",
                    ),
                    if linked {
                        t(
                            lang,
                            "Pay with the link below, or sign in as the account owner, and the service starts again.",
                            "Payez avec le lien ci-dessous, ou connectez-vous en tant que propriétaire du compte, et le service reprend.",
                        )
                    } else {
                        t(
                            lang,
                            "Sign in as the account owner to pay, and the service starts again.",
                            "Connectez-vous en tant que propriétaire du compte pour payer, et le service reprend.",
                        )
                    },
                )
            } else {
                (
                    t(
                        lang,
                        "Your account is cancelled for an unpaid balance of",
                        "Votre compte est résilié pour un solde impayé de",
                    ),
                    if linked {
                        t(
                            lang,
                            "Only the account owner may still sign in, to update the payment method and pay; the link below pays too. Your data will be deleted 90 days after the suspension.",
                            "Seul le propriétaire du compte peut encore se connecter, pour mettre à jour le moyen de paiement et payer\u{a0}; le lien ci-dessous permet aussi de payer. Vos données seront supprimées 90 jours après la suspension.",
                        )
                    } else {
                        t(
                            lang,
                            "Only the account owner may still sign in, to update the payment method and pay. Your data will be deleted 90 days after the suspension.",
                            "Seul le propriétaire du compte peut encore se connecter, pour mettre à jour le moyen de paiement et payer. Vos données seront supprimées 90 jours après la suspension.",
                        )
                    },
                )
            };
            body.paragraphs
                .push(format!("{what} {owed}{for_invoices}."));
            body.paragraphs.push(then.to_string());
        }
        Notice::Reactivated => body.paragraphs.push(
            t(
                lang,
                "Thank you: your payment was received and your account is active again.",
                "Merci\u{a0}: votre paiement a bien été reçu et votre compte est de nouveau actif.",
            )
            .to_string(),
        ),
    }
    if notice != Notice::Reactivated {
        if !invoices.is_empty() {
            body.fact(invoices_label(lang, &invoices), invoices.join(", "));
        }
        body.fact(t(lang, "Amount due", "Montant dû"), owed);
        if let Some(d) = next_attempt {
            body.fact(
                t(lang, "Next attempt", "Prochaine tentative"),
                date(lang, d),
            );
        }
        body.action = action;
    }
    body.compose(lang, Vec::new())
}

/// An overdue reminder (prorata_core::overdue): the invoices past due, since when, the
/// amount, and where to pay it.
fn reminder(req: &MailRequest, seller: &str) -> Result<Composed, MailError> {
    let lang = req.lang;
    let data = &req.data;
    let invoices = strings(data, "invoices");
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
    let due_on =
        day(data, "due_on").ok_or_else(|| MailError("a reminder without its due date".into()))?;
    let mut body = Body::new(
        lang,
        format!(
            "{} – {seller}",
            t(lang, "Payment reminder", "Rappel de paiement")
        ),
        seller,
        &req.account_name,
    );
    let several = invoices.len() > 1;
    let was_due = match (several, lang) {
        (false, Lang::En) => "was due on",
        (true, Lang::En) => "have been due since",
        (false, Lang::Fr) => "était due le",
        (true, Lang::Fr) => "sont dues depuis le",
    };
    let phrase = invoices_phrase(lang, &invoices);
    // The sentence starts with the phrase: its first letter is a capital.
    let mut chars = phrase.chars();
    let phrase = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
        None => phrase,
    };
    body.paragraphs.push(format!(
        "{phrase} {was_due} {}. {} {}.",
        date(lang, due_on),
        t(
            lang,
            "The amount still due is",
            "Le montant restant dû est de"
        ),
        money(lang, amount)
    ));
    body.fact(invoices_label(lang, &invoices), invoices.join(", "));
    body.fact(
        t(lang, "Amount still due", "Montant restant dû"),
        money(lang, amount),
    );
    let bank = data.get("bank_details").filter(|b| !b.is_null());
    let action = pay_action(lang, data);
    let by_card = match (action.is_some(), lang) {
        (false, _) => "",
        (true, Lang::En) => ", or by card with the link below",
        (true, Lang::Fr) => ", ou par carte avec le lien ci-dessous",
    };
    let them = if several {
        t(lang, "them", "les")
    } else {
        t(lang, "it", "la")
    };
    match bank {
        Some(b) => {
            let field = |name: &str| b.get(name).and_then(|v| v.as_str()).unwrap_or("");
            body.paragraphs.push(match lang {
                Lang::En => format!("You may pay {them} by bank transfer to the account below, with the reference shown{by_card}."),
                Lang::Fr => format!("Vous pouvez {them} régler par virement au compte ci-dessous, avec la référence indiquée{by_card}."),
            });
            body.fact(t(lang, "Holder", "Titulaire"), field("holder").to_string());
            body.fact("IBAN", field("iban").to_string());
            if !field("bic").is_empty() {
                body.fact("BIC", field("bic").to_string());
            }
            body.fact(t(lang, "Reference", "Référence"), invoices.join(", "));
        }
        None => body.paragraphs.push(match lang {
            Lang::En => format!("You may pay {them} to the bank details printed on the invoice{by_card}."),
            Lang::Fr => format!("Vous pouvez {them} régler aux coordonnées bancaires indiquées sur la facture{by_card}."),
        }),
    }
    body.action = action;
    body.after.push(
        t(
            lang,
            "If you have paid in the meantime, thank you, and please ignore this reminder.",
            "Si vous avez réglé entre-temps, merci, et veuillez ignorer ce rappel.",
        )
        .to_string(),
    );
    body.compose(lang, Vec::new())
}

fn link_mail(req: &MailRequest, seller: &str) -> Result<Composed, MailError> {
    let lang = req.lang;
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
    let (subject, intro, label, note) = if req.template == "invitation" {
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
                "{who} {} {}.",
                t(
                    lang,
                    "to the billing portal of",
                    "à l'espace de facturation de"
                ),
                req.account_name,
            ),
            t(lang, "Choose your password", "Choisir mon mot de passe"),
            t(
                lang,
                "The link works once and for 7 days.",
                "Le lien fonctionne une fois, pendant 7 jours.",
            ),
        )
    } else {
        (
            format!(
                "{} – {seller}",
                t(lang, "Reset your password", "Réinitialisez votre mot de passe")
            ),
            t(
                lang,
                "Someone asked to reset your password. Choose a new one with the link below.",
                "Une réinitialisation de votre mot de passe a été demandée. Choisissez-en un nouveau avec le lien ci-dessous.",
            )
            .to_string(),
            t(lang, "Choose a new password", "Choisir un nouveau mot de passe"),
            t(
                lang,
                "The link works once and for one hour. If you did not ask, ignore this e-mail: your password stays as it is.",
                "Le lien fonctionne une fois, pendant une heure. Si vous n'avez rien demandé, ignorez cet e-mail\u{a0}: votre mot de passe reste inchangé.",
            ),
        )
    };
    let mut body = Body::new(lang, subject, seller, name);
    body.paragraphs.push(intro);
    body.action = Some(Action {
        link: link.to_string(),
        label: label.to_string(),
        note: note.to_string(),
    });
    body.compose(lang, Vec::new())
}

fn ticket(req: &MailRequest, seller: &str) -> Result<Composed, MailError> {
    let lang = req.lang;
    let text = |key: &str| req.data.get(key).and_then(|v| v.as_str());
    let subject = text("subject").unwrap_or_default();
    let number = req
        .data
        .get("ticket_id")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let message = text("message").unwrap_or_default();
    let name = text("user_name").unwrap_or_default();
    let (what, intro) = match text("kind") {
        // To the customer who filed it: the staff answered (the team the ticket's
        // queue names: the account manager for subscription matters, seed 000).
        Some("staff_reply") if text("queue") == Some("account_management") => (
            t(lang, "Reply to your request", "Réponse à votre demande"),
            t(
                lang,
                "Your account manager answered your request:",
                "Votre gestionnaire de compte a répondu à votre demande\u{a0}:",
            ),
        ),
        Some("staff_reply") => (
            t(lang, "Reply to your request", "Réponse à votre demande"),
            t(
                lang,
                "The billing team answered your request:",
                "L'équipe facturation a répondu à votre demande\u{a0}:",
            ),
        ),
        // To the staff member it is assigned to.
        Some("new") => (
            t(lang, "New request", "Nouvelle demande"),
            t(
                lang,
                "A customer filed a request assigned to you:",
                "Un client a déposé une demande qui vous est attribuée\u{a0}:",
            ),
        ),
        Some("customer_reply") => (
            t(lang, "Customer reply", "Réponse du client"),
            t(
                lang,
                "The customer replied to a request assigned to you:",
                "Le client a répondu à une demande qui vous est attribuée\u{a0}:",
            ),
        ),
        _ => return Err(MailError("a ticket e-mail without its kind".into())),
    };
    let colon = colon(lang);
    let mut body = Body::new(
        lang,
        format!("{what} #{number}{colon} {subject} – {seller}"),
        seller,
        name,
    );
    body.paragraphs.push(intro.to_string());
    body.paragraphs.push(format!(
        "{} #{number} — {} — {subject}",
        t(lang, "Request", "Demande"),
        req.account_name,
    ));
    body.quote = Some(message.to_string());
    body.compose(lang, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prorata_core::document::Draft;

    const LINK: &str = "https://billing.example.com/portal/acme/pay/1.2.3.abc";

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, Currency::EUR)
    }

    fn request(template: &str, lang: Lang, data: serde_json::Value) -> MailRequest {
        serde_json::from_value(serde_json::json!({
            "template": template,
            "to": ["billing@example.com"],
            "lang": lang,
            "account_name": "Acme <Łódź> & Co",
            "currency": "EUR",
            "data": data,
        }))
        .unwrap()
    }

    fn notice_req(lang: Lang, notice: &str) -> MailRequest {
        request(
            "notice",
            lang,
            serde_json::json!({
                "notice": notice,
                "balance": 1_022_400,
                "invoices": ["INV-000724", "INV-000740"],
                "reason": "insufficient_funds",
                "next_attempt": "2026-03-03",
                "stops_on": "2026-03-30",
                "pay_link": LINK,
                "pay_link_expires": "2026-04-01",
            }),
        )
    }

    fn invoice(kind: DocumentKind, number: &str) -> Document {
        let mut doc = Draft {
            kind,
            currency: Currency::EUR,
            lines: Vec::new(),
        }
        .issue(
            number.into(),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            eur(0),
        )
        .unwrap();
        doc.total = eur(36_720);
        doc.balance_after = eur(36_720);
        doc.due_on = NaiveDate::from_ymd_opt(2026, 3, 31);
        doc
    }

    /// A strict reading of the HTML part as XHTML: every element closed in order (void
    /// elements written `<br />`), attributes quoted, `&` only as an entity, no script, no
    /// external resource. What mail clients tolerate is wider; this keeps the markup honest.
    fn well_formed(html: &str) -> Result<(), String> {
        let body = html.strip_prefix("<!DOCTYPE html>").ok_or("no doctype")?;
        let mut open: Vec<String> = Vec::new();
        let mut rest = body;
        while let Some(i) = rest.find(['<', '&']) {
            let (before, from) = rest.split_at(i);
            if before.contains('>') {
                return Err(format!("a stray '>' in {before:?}"));
            }
            if from.starts_with('&') {
                let end = from.find(';').ok_or("an '&' without ';'")?;
                let name = &from[1..end];
                let ok = matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
                    || name
                        .strip_prefix('#')
                        .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty());
                if !ok {
                    return Err(format!("unknown entity &{name};"));
                }
                rest = &from[end + 1..];
                continue;
            }
            let end = from.find('>').ok_or("a '<' without '>'")?;
            let tag = &from[1..end];
            rest = &from[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                match open.pop() {
                    Some(o) if o == name => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/').trim_end();
            let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("bad tag <{tag}>"));
            }
            if name == "script" || name == "img" || name == "link" || name == "style" {
                return Err(format!("<{name}> in an e-mail"));
            }
            while !attrs.trim().is_empty() {
                let a = attrs.trim_start();
                let (key, value) = a.split_once("=\"").ok_or(format!("unquoted in <{tag}>"))?;
                if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(format!("bad attribute {key:?}"));
                }
                let close = value.find('"').ok_or("an attribute not closed")?;
                if key == "href" && !value[..close].starts_with("https://") {
                    return Err(format!("link {:?}", &value[..close]));
                }
                if key == "src" || key.starts_with("on") {
                    return Err(format!("attribute {key} in an e-mail"));
                }
                attrs = &value[close + 1..];
            }
            let void = matches!(name, "meta" | "br");
            if void != self_closing {
                return Err(format!(
                    "<{name}> void {void}, written closed {self_closing}"
                ));
            }
            if !void {
                open.push(name.to_string());
            }
        }
        if !open.is_empty() {
            return Err(format!("left open: {open:?}"));
        }
        Ok(())
    }

    /// Every e-mail kind in both languages: a well-formed HTML part and a text part that say
    /// the same things, escaped, and French spacing before `:`.
    fn check(mail: &Composed, lang: Lang, wanted: &[String]) {
        if let Err(e) = well_formed(&mail.html) {
            panic!("{e}\n{}", mail.html);
        }
        assert!(
            mail.html
                .contains(&format!("<html lang=\"{}\">", lang.as_str())),
            "{}",
            mail.html
        );
        for w in wanted {
            assert!(
                mail.text.contains(w.as_str()),
                "{w:?} in the text:\n{}",
                mail.text
            );
            // Askama's escaping: numeric references.
            let escaped = w
                .replace('&', "&#38;")
                .replace('<', "&#60;")
                .replace('>', "&#62;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;");
            assert!(
                mail.html.contains(&escaped),
                "{escaped:?} in the HTML:\n{}",
                mail.html
            );
        }
        if lang == Lang::Fr {
            for part in [&mail.text, &mail.html, &mail.subject] {
                for sign in [" :", " ;", " ?", " !"] {
                    assert!(
                        !part.contains(sign),
                        "a breaking space before {sign:?} in {part}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_email_kind_has_a_well_formed_html_part_and_a_text_part_in_both_languages() {
        for lang in [Lang::En, Lang::Fr] {
            let inv = invoice(DocumentKind::Invoice, "INV-000724");
            let mut r = request(
                "invoice",
                lang,
                serde_json::json!({"number": "INV-000724", "pay_link": LINK, "pay_link_expires": "2026-04-01"}),
            );
            let mail = compose(&r, "Vendor", Some((&inv, b"%PDF"))).unwrap();
            check(
                &mail,
                lang,
                &[
                    "INV-000724".into(),
                    money(lang, eur(36_720)),
                    date(lang, inv.issued_on),
                    LINK.into(),
                    date(lang, NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()),
                    "Acme <Łódź> & Co".into(),
                ],
            );
            assert_eq!(mail.attachments.len(), 1);

            let mut credit = invoice(DocumentKind::CreditNote, "CN-000003");
            credit.corrects = vec!["INV-000724".into(), "INV-000740".into()];
            r.template = "credit_note".into();
            let mail = compose(&r, "Vendor", Some((&credit, b"%PDF"))).unwrap();
            let corrects = t(
                lang,
                "invoices INV-000724, INV-000740",
                "les factures INV-000724, INV-000740",
            );
            check(&mail, lang, &["CN-000003".into(), corrects.into()]);
            assert!(
                !mail.text.contains(LINK),
                "a credit note asks nothing to pay"
            );

            for notice in [
                "payment_failed",
                "suspension_warning",
                "suspended",
                "cancelled",
            ] {
                let mail = compose(&notice_req(lang, notice), "Vendor", None).unwrap();
                check(
                    &mail,
                    lang,
                    &[
                        money(lang, eur(1_022_400)),
                        t(
                            lang,
                            "invoices INV-000724, INV-000740",
                            "les factures INV-000724, INV-000740",
                        )
                        .into(),
                        LINK.into(),
                    ],
                );
            }
            let mail = compose(&notice_req(lang, "reactivated"), "Vendor", None).unwrap();
            check(&mail, lang, &[]);
            assert!(!mail.text.contains(LINK), "paid: no link to pay");

            let reminder = request(
                "reminder",
                lang,
                serde_json::json!({"invoices": ["F-2026-000012"], "amount": 2_379_328,
                    "due_on": "2026-03-02", "pay_link": LINK,
                    "bank_details": {"holder": "Vendor SAS", "iban": "FR7630006000011234567890189"}}),
            );
            let mail = compose(&reminder, "Vendor", None).unwrap();
            check(
                &mail,
                lang,
                &[
                    money(lang, eur(2_379_328)),
                    LINK.into(),
                    "F-2026-000012".into(),
                ],
            );

            let link = request(
                "invitation",
                lang,
                serde_json::json!({"link": LINK, "user_name": "Camille", "inviter": "Dominique"}),
            );
            check(
                &compose(&link, "Vendor", None).unwrap(),
                lang,
                &[LINK.into(), "Dominique".into()],
            );
            let mut reset = link.clone();
            reset.template = "password_reset".into();
            check(
                &compose(&reset, "Vendor", None).unwrap(),
                lang,
                &[LINK.into()],
            );

            let ticket = request(
                "ticket",
                lang,
                serde_json::json!({"kind": "staff_reply", "ticket_id": 12,
                "subject": "Virement <juillet>", "message": "Reçu,\nmerci & à bientôt.", "user_name": "Camille"}),
            );
            check(
                &compose(&ticket, "Vendor", None).unwrap(),
                lang,
                &[
                    "Reçu,\nmerci & à bientôt.".into(),
                    "Virement <juillet>".into(),
                ],
            );
        }
    }

    #[test]
    fn a_payment_failure_names_the_invoices_the_amount_the_reason_and_the_next_attempt() {
        let next = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
        let fr = compose(&notice_req(Lang::Fr, "payment_failed"), "Vendor", None).unwrap();
        assert_eq!(fr.subject, "Votre paiement a échoué – Vendor");
        let said = format!(
            "Nous n'avons pas pu encaisser {} pour les factures INV-000724, INV-000740\u{a0}: votre banque a refusé le paiement faute de provision suffisante.",
            money(Lang::Fr, eur(1_022_400))
        );
        assert!(fr.text.contains(&said), "{}", fr.text);
        assert!(
            fr.text.contains(&format!("le {}.", date(Lang::Fr, next))),
            "{}",
            fr.text
        );
        assert!(!fr.text.contains("lot"), "no internal jargon: {}", fr.text);
        let mut one = notice_req(Lang::En, "payment_failed");
        one.data["invoices"] = serde_json::json!(["INV-000724"]);
        one.data["reason"] = serde_json::json!("expired_card");
        let en = compose(&one, "Vendor", None).unwrap();
        assert!(
            en.text.contains(&format!(
                "We could not collect {} for invoice INV-000724: the card on file has expired.",
                money(Lang::En, eur(1_022_400))
            )),
            "{}",
            en.text
        );
        assert!(en
            .text
            .contains(&format!("again on {}.", date(Lang::En, next))));
        // A code the mapping does not know is not shown raw.
        one.data["reason"] = serde_json::json!("do_not_honor_x");
        let en = compose(&one, "Vendor", None).unwrap();
        assert!(
            en.text.contains(": your bank declined the payment."),
            "{}",
            en.text
        );
        assert!(!en.text.contains("do_not_honor_x"));
        assert!(compose(&notice_req(Lang::En, "nonsense"), "Vendor", None).is_err());
        // Without a link (a sender that signs none), no sentence points to one.
        for notice in ["payment_failed", "suspended", "cancelled"] {
            let mut r = notice_req(Lang::Fr, notice);
            r.data.as_object_mut().unwrap().remove("pay_link");
            let mail = compose(&r, "Vendor", None).unwrap();
            assert!(!mail.text.contains("ci-dessous"), "{}", mail.text);
        }
    }

    #[test]
    fn a_reminder_names_the_invoices_the_amount_and_where_to_pay() {
        let reminder = |lang: Lang, invoices: serde_json::Value, bank: serde_json::Value| {
            request(
                "reminder",
                lang,
                serde_json::json!({
                    "invoices": invoices,
                    "amount": 2_379_328,
                    "due_on": "2026-03-02",
                    "bank_details": bank,
                }),
            )
        };
        let due = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let bank = serde_json::json!({"holder": "Vendor SAS", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"});
        let one = serde_json::json!(["F-2026-000012"]);
        let en = compose(
            &reminder(Lang::En, one.clone(), bank.clone()),
            "Vendor",
            None,
        )
        .unwrap();
        assert_eq!(en.subject, "Payment reminder – Vendor");
        for part in [
            format!("Invoice F-2026-000012 was due on {}.", date(Lang::En, due)),
            money(Lang::En, eur(2_379_328)),
            "FR7630006000011234567890189".into(),
            "AGRIFRPP".into(),
            "Vendor SAS".into(),
        ] {
            assert!(en.text.contains(&part), "{part} in {}", en.text);
        }
        let two = serde_json::json!(["F-2026-000012", "F-2026-000019"]);
        let fr = compose(&reminder(Lang::Fr, two, bank), "Vendor", None).unwrap();
        assert_eq!(fr.subject, "Rappel de paiement – Vendor");
        for part in [
            format!(
                "Les factures F-2026-000012, F-2026-000019 sont dues depuis le {}.",
                date(Lang::Fr, due)
            ),
            money(Lang::Fr, eur(2_379_328)),
            "les régler par virement".into(),
            "Référence\u{a0}: F-2026-000012, F-2026-000019".into(),
        ] {
            assert!(fr.text.contains(&part), "{part} in {}", fr.text);
        }
        let none = compose(
            &reminder(Lang::En, one, serde_json::Value::Null),
            "Vendor",
            None,
        )
        .unwrap();
        assert!(
            none.text.contains("printed on the invoice."),
            "no link: no card sentence: {}",
            none.text
        );
        let empty = reminder(Lang::En, serde_json::json!([]), serde_json::Value::Null);
        assert!(compose(&empty, "Vendor", None).is_err());
    }

    #[test]
    fn an_invoice_email_gives_its_date_in_words_of_the_language_and_what_is_left_to_pay() {
        let mut doc = invoice(DocumentKind::Invoice, "INV-000002");
        doc.total = eur(36_000);
        doc.balance_after = eur(36_000);
        doc.apply_prepaid(eur(14_000)).unwrap();
        let r = request(
            "invoice",
            Lang::Fr,
            serde_json::json!({"number": "INV-000002"}),
        );
        let mail = compose(&r, "Vendor", Some((&doc, b"%PDF"))).unwrap();
        assert_eq!(mail.subject, "Facture INV-000002 – Vendor");
        for part in [
            format!(
                "la facture INV-000002 du {}.",
                date(Lang::Fr, doc.issued_on)
            ),
            format!(
                "Réglé par votre crédit prépayé\u{a0}: {}",
                money(Lang::Fr, eur(14_000))
            ),
            format!("Montant dû\u{a0}: {}", money(Lang::Fr, eur(22_000))),
        ] {
            assert!(mail.text.contains(&part), "{part} in {}", mail.text);
        }
        // Paid whole: no amount due, and nothing to pay.
        doc.balance_after = eur(0);
        let mail = compose(&r, "Vendor", Some((&doc, b"%PDF"))).unwrap();
        assert!(!mail.text.contains("Montant dû"), "{}", mail.text);
        let mut credit = invoice(DocumentKind::CreditNote, "AV-000001");
        credit.corrects = vec!["INV-000002".into()];
        let mut r = r;
        r.template = "credit_note".into();
        let mail = compose(&r, "Vendor", Some((&credit, b"%PDF"))).unwrap();
        assert_eq!(mail.subject, "Avoir AV-000001 – Vendor");
        assert!(
            mail.text.contains("qui corrige la facture INV-000002."),
            "{}",
            mail.text
        );
        r.template = "invoice".into();
        assert!(
            compose(&r, "Vendor", None).is_err(),
            "an invoice e-mail needs its document"
        );
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
            "Réponse à votre demande #12\u{a0}: Virement de juillet – Vendor"
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
    fn the_markup_check_finds_what_a_mail_client_would_stumble_on() {
        assert!(well_formed("<!DOCTYPE html><p>a<br />b</p>").is_ok());
        assert!(well_formed("<!DOCTYPE html><p>a</div>").is_err());
        assert!(well_formed("<!DOCTYPE html><p>a & b</p>").is_err());
        assert!(well_formed("<!DOCTYPE html><p><script></script></p>").is_err());
        assert!(well_formed("<!DOCTYPE html><p>").is_err());
    }

    #[test]
    fn only_mails_about_money_owed_ask_for_a_pay_link() {
        assert!(wants_pay_link(&notice_req(Lang::En, "payment_failed")));
        assert!(!wants_pay_link(&notice_req(Lang::En, "reactivated")));
        let r = request("invoice", Lang::En, serde_json::json!({"number": "INV-1"}));
        assert!(wants_pay_link(&r));
        assert_eq!(invoices_named(&r), vec!["INV-1".to_string()]);
        assert_eq!(
            invoices_named(&notice_req(Lang::En, "payment_failed")),
            vec!["INV-000724".to_string(), "INV-000740".to_string()]
        );
        let mut c = r;
        c.template = "credit_note".into();
        assert!(!wants_pay_link(&c));
    }
}
