//! The portal's pages: one module per tab, each handler extract → policy → engine → template.

pub mod auth;
pub mod billing;
pub mod company;
pub mod pay;
pub mod plan;
pub mod staff;
pub mod support;
pub mod users;

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use prorata_core::access::Action;
use prorata_core::dunning::Notice;
use prorata_engine::EngineError;

use crate::ctx::{Portal, Staff, Viewer};
use crate::i18n::Messages;

/// A refusal by the VAT rules (issue 17), in the viewer's language, the core wording it in
/// English: `number` and `country` are what the account would have had. `None` when the
/// refusal of `field` is not one of them.
pub fn vat_refusal(
    t: &Messages,
    field: &str,
    problem: &str,
    number: &str,
    country: &str,
) -> Option<String> {
    use prorata_core::vat_number::{VatNumber, VatNumberError};
    if field.starts_with("address.") && problem == prorata_core::account::ADDRESS_REQUIRED {
        return Some(t.get("vat.address_required").to_string());
    }
    if field != "vat_number" {
        return None;
    }
    Some(match VatNumber::parse(number) {
        Err(VatNumberError::UnknownCountry { prefix }) => {
            t.fmt("vat.unknown_country", &[("prefix", &prefix)])
        }
        Err(VatNumberError::Format {
            number, country, ..
        }) => t.fmt("vat.format", &[("number", &number), ("country", country)]),
        Err(VatNumberError::CheckKey { number, .. }) => {
            t.fmt("vat.check_key", &[("number", &number)])
        }
        Err(VatNumberError::Empty) => return None,
        Ok(n) => t.fmt(
            "vat.other_country",
            &[("number", n.as_str()), ("country", &country.to_uppercase())],
        ),
    })
}

/// A form that posts nothing but its CSRF token (sign out, remove, hand over, pay).
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// A link of the tab bar.
pub struct Nav {
    pub href: String,
    pub label: String,
    pub current: bool,
}

/// What every page's frame shows: title, tabs, the signed-in user, the dunning banner, the
/// message after an action, the language switch and the forms' CSRF token.
pub struct Chrome {
    pub t: Messages,
    pub base: String,
    pub csrf: String,
    pub title: String,
    pub company: Option<String>,
    pub user_name: Option<String>,
    pub nav: Vec<Nav>,
    pub banner: Option<String>,
    /// `warning` or `danger`.
    pub banner_level: &'static str,
    pub flash: Option<String>,
    /// The path the language switch comes back to.
    pub here: String,
    /// The vendor's page a portal session returns to.
    pub return_url: Option<String>,
}

impl Chrome {
    /// The frame of a page seen before sign-in.
    pub fn public(portal: &Portal, title_key: &str) -> Chrome {
        Chrome {
            t: portal.t.clone(),
            base: portal.base.clone(),
            csrf: portal.csrf_token(),
            title: portal.t.get(title_key).to_string(),
            company: None,
            user_name: None,
            nav: Vec::new(),
            banner: None,
            banner_level: "warning",
            flash: None,
            here: String::new(),
            return_url: None,
        }
    }

    /// The frame of a signed-in page: the tabs this user may open (the policy decides).
    pub fn signed_in(v: &Viewer, tab: &str, flash: Option<&str>) -> Chrome {
        let p = &v.portal;
        let t = &p.t;
        let mut nav = Vec::new();
        for (slug, key, action) in [
            ("company", "nav.company", Action::ViewCompany),
            ("plan", "nav.plan", Action::ViewPlan),
            ("billing", "nav.billing", Action::ViewBilling),
            ("users", "nav.users", Action::ViewUsers),
            ("support", "nav.support", Action::ViewTickets),
        ] {
            if v.may(action) {
                nav.push(Nav {
                    href: format!("{}/{slug}", p.base),
                    label: t.get(key).to_string(),
                    current: slug == tab,
                });
            }
        }
        let (banner, banner_level) = match v.banner() {
            Some(n) => (Some(t.get(notice_key(n)).to_string()), notice_level(n)),
            None => (None, "warning"),
        };
        Chrome {
            t: t.clone(),
            base: p.base.clone(),
            csrf: p.csrf_token(),
            title: t.get(&format!("nav.{tab}")).to_string(),
            company: Some(v.account.name.clone()),
            user_name: Some(v.user.name.clone()),
            nav,
            banner,
            banner_level,
            flash: flash.map(|k| t.get(&format!("done.{k}")).to_string()),
            here: format!("{}/{tab}", p.base),
            return_url: v.return_url.clone(),
        }
    }

    /// The frame of a back-office page: its own tabs (the queues, the accounts).
    pub fn staff(s: &Staff, tab: &str, flash: Option<&str>) -> Chrome {
        let p = &s.portal;
        let t = &p.t;
        let mut nav = Vec::new();
        for (slug, key, action) in [
            ("staff", "nav.queues", Action::ViewTickets),
            ("staff/accounts", "nav.accounts", Action::ViewAccounts),
            ("staff/settings", "nav.settings", Action::ManageTenant),
        ] {
            if s.may(action) {
                nav.push(Nav {
                    href: format!("{}/{slug}", p.base),
                    label: t.get(key).to_string(),
                    current: slug == tab,
                });
            }
        }
        Chrome {
            t: t.clone(),
            base: p.base.clone(),
            csrf: p.csrf_token(),
            title: t.get("staff.title").to_string(),
            company: Some(t.get("staff.brand").to_string()),
            user_name: Some(s.user.name.clone()),
            nav,
            banner: None,
            banner_level: "warning",
            flash: flash.map(|k| t.get(&format!("done.{k}")).to_string()),
            here: format!("{}/{tab}", p.base),
            return_url: None,
        }
    }

    pub fn other_lang(&self) -> &'static str {
        self.t.lang.other().as_str()
    }

    pub fn other_lang_label(&self) -> &'static str {
        match self.t.lang {
            prorata_core::Lang::En => "Français",
            prorata_core::Lang::Fr => "English",
        }
    }
}

fn notice_key(n: Notice) -> &'static str {
    match n {
        Notice::PaymentFailed => "banner.payment_failed",
        Notice::SuspensionWarning => "banner.suspension_warning",
        Notice::Suspended => "banner.suspended",
        Notice::Cancelled => "banner.cancelled",
        Notice::Reactivated => "banner.reactivated",
    }
}

fn notice_level(n: Notice) -> &'static str {
    match n {
        Notice::SuspensionWarning | Notice::Suspended | Notice::Cancelled => "danger",
        Notice::PaymentFailed | Notice::Reactivated => "warning",
    }
}

/// A form page's status: 422 when it shows what to fix, else 200.
pub fn form_status(errors: &[auth::FieldError]) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            eprintln!("portal: template: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// A page with one message (an error, a denial, a confirmation).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
    pub message: String,
    pub detail: Option<String>,
}

impl MessagePage {
    /// A message before anything else is known (no tenant yet).
    pub fn bare(t: Messages, key: &str) -> MessagePage {
        MessagePage {
            message: t.get(key).to_string(),
            chrome: Chrome {
                title: t.get(key).to_string(),
                t,
                base: String::new(),
                csrf: String::new(),
                company: None,
                user_name: None,
                nav: Vec::new(),
                banner: None,
                banner_level: "warning",
                flash: None,
                here: String::new(),
                return_url: None,
            },
            detail: None,
        }
    }
}

pub fn error_page(portal: &Portal, status: StatusCode, key: &str) -> Response {
    let chrome = Chrome::public(portal, key);
    render(
        status,
        &MessagePage {
            message: portal.t.get(key).to_string(),
            chrome,
            detail: None,
        },
    )
}

/// An engine error as a page: the caller's mistakes say what to fix, faults are logged.
pub fn engine_error(portal: &Portal, e: EngineError) -> Response {
    match e {
        EngineError::NotFound(_) => error_page(portal, StatusCode::NOT_FOUND, "error.not_found"),
        // Lost a race for the database (SQLite's one writer): nothing was changed.
        EngineError::Store(ref s) if s.is_busy() => {
            // Marked for the server's retrying layer, which runs the request again.
            let mut page = error_page(portal, StatusCode::SERVICE_UNAVAILABLE, "error.busy");
            page.extensions_mut().insert(prorata_engine::Busy);
            page
        }
        // A service the request needs is down (the virus scanner): nothing was stored.
        EngineError::Unavailable(ref why) => {
            eprintln!("portal: unavailable: {why}");
            error_page(portal, StatusCode::SERVICE_UNAVAILABLE, "error.unavailable")
        }
        EngineError::Invalid { .. }
        | EngineError::Refused(_)
        | EngineError::Conflict(_)
        | EngineError::Forbidden(_)
        | EngineError::PaymentRefused(_) => {
            let status = match e {
                EngineError::Forbidden(_) => StatusCode::FORBIDDEN,
                EngineError::Conflict(_) => StatusCode::CONFLICT,
                EngineError::PaymentRefused(_) => StatusCode::PAYMENT_REQUIRED,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let chrome = Chrome::public(portal, "error.title");
            render(
                status,
                &MessagePage {
                    message: portal.t.get("error.title").to_string(),
                    chrome,
                    detail: Some(e.to_string()),
                },
            )
        }
        other => crate::ctx::internal(&portal.t, other),
    }
}

/// After a successful POST: back to the tab, with the message `done.<key>`.
pub fn done(portal: &Portal, tab: &str, key: &str) -> Response {
    Redirect::to(&format!("{}/{tab}?done={key}", portal.base)).into_response()
}

/// The `done` key of the query, when it is one of ours (only letters and underscores).
pub fn flash(query: &std::collections::HashMap<String, String>) -> Option<&str> {
    query.get("done").map(String::as_str).filter(|k| {
        !k.is_empty() && k.len() < 40 && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

/// A file download: the body with its type, as an attachment, never sniffed into another
/// type, never cached by a shared cache. The portal and the API serve their files with it.
pub fn attachment(body: Vec<u8>, content_type: &str, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition(filename)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// `attachment` with the file's name twice (RFC 6266): plain ASCII for old clients, and
/// UTF-8 percent-encoded (RFC 8187) so that "reçu.pdf" keeps its name; a header value may
/// hold visible ASCII only.
fn disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn file_names_survive_the_header_in_any_script() {
        assert_eq!(
            disposition("INV-000001.pdf"),
            "attachment; filename=\"INV-000001.pdf\"; filename*=UTF-8''INV-000001.pdf"
        );
        assert_eq!(
            disposition("reçu de paiement.png"),
            "attachment; filename=\"re_u de paiement.png\"; \
             filename*=UTF-8''re%C3%A7u%20de%20paiement.png"
        );
        assert!(axum::http::HeaderValue::from_str(&disposition("支払い\"証明.pdf")).is_ok());
    }
}
