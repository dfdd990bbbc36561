//! The tenant administrator's settings: staff users (invited by e-mail, each with a role),
//! the contact reasons of the support form and where each is routed, the reopening window,
//! and the wording of the terms the portal cites (the notice clause, the cancellation
//! reasons), in both languages.

use std::collections::HashMap;

use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use prorata_core::access::{Action, Role};
use prorata_core::catalog::Text;
use prorata_core::terms::Terms;
use prorata_core::tickets::{ContactReason, Route, TicketRules};
use prorata_core::Lang;
use prorata_engine::people::PersonSpec;
use prorata_engine::EngineError;

use crate::ctx::Staff;
use crate::pages::auth::FieldError;
use crate::pages::{engine_error, flash, render, Chrome};

pub struct StaffLine {
    pub id: i64,
    /// Another active staff member: may be disabled or have their second factor reset.
    pub manageable: bool,
    pub name: String,
    pub email: String,
    pub role: String,
    pub status: String,
}

pub struct ReasonRow {
    pub code: String,
    pub label_en: String,
    pub label_fr: String,
    pub to_manager: bool,
    pub handled_en: String,
    pub handled_fr: String,
}

#[derive(Template)]
#[template(path = "staff_settings.html")]
pub struct SettingsPage {
    pub chrome: Chrome,
    pub staff: Vec<StaffLine>,
    /// The tenant's reasons, and one empty row to add another.
    pub reasons: Vec<ReasonRow>,
    pub reopen_days: u32,
    pub notice_en: String,
    pub notice_fr: String,
    pub cancel_en: String,
    pub cancel_fr: String,
    pub errors: Vec<FieldError>,
}

async fn page(s: &Staff, flash_key: Option<&str>, errors: Vec<FieldError>) -> Response {
    let t = &s.portal.t;
    let staff = match s.portal.engine().staff_users(&s.portal.tenant).await {
        Ok(list) => list
            .into_iter()
            .map(|u| StaffLine {
                id: u.id,
                manageable: u.id != s.user.id
                    && u.status != prorata_core::access::UserStatus::Disabled,
                name: u.name,
                email: u.email,
                role: t.get(&format!("role.{}", u.role.as_str())).to_string(),
                status: t.get(&format!("status.{}", u.status.as_str())).to_string(),
            })
            .collect(),
        Err(e) => return engine_error(&s.portal, e),
    };
    let settings = &s.portal.tenant.settings;
    let mut reasons: Vec<ReasonRow> = settings
        .tickets
        .reasons
        .iter()
        .map(|r| ReasonRow {
            code: r.code.clone(),
            label_en: r.label.en.clone(),
            label_fr: r.label.fr.clone(),
            to_manager: r.route == Route::AccountManager,
            handled_en: r.handled_by.en.clone(),
            handled_fr: r.handled_by.fr.clone(),
        })
        .collect();
    reasons.push(ReasonRow {
        code: String::new(),
        label_en: String::new(),
        label_fr: String::new(),
        to_manager: false,
        handled_en: String::new(),
        handled_fr: String::new(),
    });
    let terms = &settings.terms;
    let lines = |pick: fn(&Text) -> &str| {
        terms
            .cancellation_reasons
            .iter()
            .map(pick)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let status = crate::pages::form_status(&errors);
    let mut chrome = Chrome::staff(s, "staff/settings", flash_key);
    chrome.title = t.get("staff.settings").to_string();
    render(
        status,
        &SettingsPage {
            chrome,
            staff,
            reasons,
            reopen_days: settings.tickets.reopen_days,
            notice_en: terms.notice_clause.en.clone(),
            notice_fr: terms.notice_clause.fr.clone(),
            cancel_en: lines(|t| t.en.as_str()),
            cancel_fr: lines(|t| t.fr.as_str()),
            errors,
        },
    )
}

pub async fn show(s: Staff, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = s.allow(Action::ManageTenant) {
        return r;
    }
    page(&s, flash(&q), Vec::new()).await
}

fn done(s: &Staff, key: &str) -> Response {
    Redirect::to(&format!("{}/staff/settings?done={key}", s.portal.base)).into_response()
}

/// An engine's refusal shown on the settings page, on the field it names.
async fn refused(s: &Staff, e: EngineError, field: &'static str) -> Response {
    match e {
        EngineError::Invalid { problem, .. } | EngineError::Conflict(problem) => {
            page(
                s,
                None,
                vec![FieldError {
                    field,
                    message: problem,
                }],
            )
            .await
        }
        e => engine_error(&s.portal, e),
    }
}

/// The fields of a form, in the order posted (the reasons' rows repeat their names).
type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

pub async fn invite(s: Staff, Form(fields): Form<Fields>) -> Response {
    if let Err(r) = s.portal.check_csrf(field(&fields, "csrf")) {
        return r;
    }
    if let Err(r) = s.allow(Action::ManageTenant) {
        return r;
    }
    let role = Role::parse(field(&fields, "role")).filter(|r| !r.is_customer());
    let Some(role) = role else {
        return page(
            &s,
            None,
            vec![FieldError {
                field: "role",
                message: s.portal.t.get("staff.role_invalid").to_string(),
            }],
        )
        .await;
    };
    let spec = PersonSpec {
        account_id: None,
        role,
        email: field(&fields, "email").trim().to_string(),
        name: field(&fields, "name").trim().to_string(),
        language: Lang::parse(field(&fields, "language")).unwrap_or(Lang::En),
    };
    match s
        .portal
        .engine()
        .invite_user(&s.portal.tenant, &spec, Some(&s.user.name))
        .await
    {
        Ok(_) => done(&s, "invited"),
        Err(e) => refused(&s, e, "email").await,
    }
}

/// The reasons' rows as posted: each row starts at its `code` field; a row without a code
/// is the empty one left for adding, and is dropped.
fn reasons_of(fields: &Fields) -> Vec<ContactReason> {
    let mut rows: Vec<HashMap<&str, &str>> = Vec::new();
    for (k, v) in fields {
        if k == "code" {
            rows.push(HashMap::new());
        }
        if let Some(row) = rows.last_mut() {
            row.insert(k.as_str(), v.as_str());
        }
    }
    rows.into_iter()
        .filter(|r| !r.get("code").is_none_or(|c| c.trim().is_empty()))
        .map(|r| {
            let get = |k: &str| r.get(k).map_or(String::new(), |v| v.trim().to_string());
            ContactReason {
                code: get("code"),
                label: Text {
                    en: get("label_en"),
                    fr: get("label_fr"),
                },
                route: if get("route") == "account_manager" {
                    Route::AccountManager
                } else {
                    Route::BillingTeam
                },
                handled_by: Text {
                    en: get("handled_en"),
                    fr: get("handled_fr"),
                },
            }
        })
        .collect()
}

pub async fn save_reasons(s: Staff, Form(fields): Form<Fields>) -> Response {
    if let Err(r) = s.portal.check_csrf(field(&fields, "csrf")) {
        return r;
    }
    if let Err(r) = s.allow(Action::ManageTenant) {
        return r;
    }
    let Ok(reopen_days) = field(&fields, "reopen_days").trim().parse::<u32>() else {
        return page(
            &s,
            None,
            vec![FieldError {
                field: "reopen_days",
                message: s.portal.t.get("staff.reopen_invalid").to_string(),
            }],
        )
        .await;
    };
    let rules = TicketRules {
        reasons: reasons_of(&fields),
        reopen_days,
    };
    match s
        .portal
        .engine()
        .set_ticket_rules(&s.portal.tenant, s.actor(), &rules)
        .await
    {
        Ok(()) => done(&s, "reasons"),
        Err(e) => refused(&s, e, "reasons").await,
    }
}

pub async fn save_terms(s: Staff, Form(fields): Form<Fields>) -> Response {
    if let Err(r) = s.portal.check_csrf(field(&fields, "csrf")) {
        return r;
    }
    if let Err(r) = s.allow(Action::ManageTenant) {
        return r;
    }
    let lines = |name: &str| -> Vec<String> {
        field(&fields, name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (en, fr) = (lines("cancel_en"), lines("cancel_fr"));
    if en.len() != fr.len() {
        return page(
            &s,
            None,
            vec![FieldError {
                field: "cancel_en",
                message: s.portal.t.get("staff.reasons_mismatch").to_string(),
            }],
        )
        .await;
    }
    let terms = Terms {
        notice_clause: Text {
            en: field(&fields, "notice_en").trim().to_string(),
            fr: field(&fields, "notice_fr").trim().to_string(),
        },
        cancellation_reasons: en
            .into_iter()
            .zip(fr)
            .map(|(en, fr)| Text { en, fr })
            .collect(),
    };
    match s
        .portal
        .engine()
        .set_terms(&s.portal.tenant, s.actor(), &terms)
        .await
    {
        Ok(()) => done(&s, "terms"),
        Err(e) => refused(&s, e, "notice_en").await,
    }
}

/// A tenant admin disables a staff member, or resets their second factor.
pub async fn manage_staff(
    s: Staff,
    axum::extract::Path((_, id, what)): axum::extract::Path<(String, i64, String)>,
    Form(fields): Form<Fields>,
) -> Response {
    use prorata_engine::back_office::StaffChange;
    if let Err(r) = s.portal.check_csrf(field(&fields, "csrf")) {
        return r;
    }
    if let Err(r) = s.allow(Action::ManageTenant) {
        return r;
    }
    let (change, done_key) = match what.as_str() {
        "disable" => (StaffChange::Disable, "staff_disabled"),
        "reset-second-factor" => (StaffChange::ResetSecondFactor, "second_factor_reset"),
        _ => return crate::pages::error_page(&s.portal, StatusCode::NOT_FOUND, "error.not_found"),
    };
    match s
        .portal
        .engine()
        .manage_staff_user(&s.portal.tenant, s.actor(), id, change)
        .await
    {
        Ok(()) => done(&s, done_key),
        Err(e) => refused(&s, e, "email").await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_row_of_reasons_starts_at_its_code_and_the_empty_one_is_dropped() {
        let rows = reasons_of(&f(&[
            ("csrf", "x"),
            ("code", "billing"),
            ("label_en", "Billing"),
            ("label_fr", "Facturation"),
            ("route", "billing_team"),
            ("handled_en", "The billing team."),
            ("handled_fr", "L'équipe facturation."),
            ("code", "plan"),
            ("label_en", "Plan"),
            ("label_fr", "Forfait"),
            ("route", "account_manager"),
            ("handled_en", "Your manager."),
            ("handled_fr", "Votre gestionnaire."),
            ("code", " "),
            ("label_en", ""),
            ("reopen_days", "7"),
        ]));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].code, "plan");
        assert_eq!(rows[1].route, Route::AccountManager);
        assert_eq!(rows[0].label.fr, "Facturation");
    }
}
