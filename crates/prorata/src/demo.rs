//! `prorata demo`: a sandbox tenant with the default catalog and about fifty companies (both
//! plans, monthly and annual, varied seats, numbers, teams and add-ons), whose clock is moved
//! week by week through fourteen months of upgrades, downgrades (some refused by the notice
//! rule), plan changes, cancellations and renewals. They pay by card, SEPA or ACH debit
//! (charged through the sandbox gateway) or by bank transfer; two cards always decline, so
//! seed 004's dunning plays out: one company updates its card ten days in and is reactivated,
//! the other is cancelled at +29 and purged 90 days later. Transfer payers are reminded after
//! each invoice's due date: half of them pay once reminded, the others are dunned on the same
//! schedule as a declined card. Everything is deterministic: the
//! same command prints the same summary.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{Datelike, Days, NaiveDate};
use prorata_core::access::Role;
use prorata_core::account::{Account, Address};
use prorata_core::catalog::Lang;
use prorata_core::change::{Direction, Request};
use prorata_core::reconcile::Settings;
use prorata_core::scenario::SubscriptionSpec;
use prorata_core::{Currency, Frequency};
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::people::{hash_password, PersonSpec};
use prorata_engine::{Engine, EngineError, IngestReport, NewPaymentMethod};
use prorata_store::{JobKind, PaymentStatus, TenantMode};

use crate::callgen::CallGen;

/// A small deterministic generator (xorshift64*), so the demo needs no randomness crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).unwrap_or(1);
        lo + i64::try_from(self.next() % span).unwrap_or(0)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// First names of the demo's people.
const FIRST_NAMES: [&str; 8] = [
    "Alice", "Bruno", "Chloé", "David", "Emma", "Farid", "Greta", "Hannah",
];

const NAMES: [&str; 25] = [
    "Lumen Conseil",
    "Nordlicht Telefonie",
    "Harbour Lights",
    "Atelier Vauban",
    "Brightline Support",
    "Casa Azul Viajes",
    "Delta Logistique",
    "Eikenhout Advies",
    "Fjord Analytics",
    "Garnet Health",
    "Helios Énergie",
    "Iris Assurances",
    "Juniper Legal",
    "Kestrel Mobility",
    "Lagune Immobilier",
    "Meridian Freight",
    "Nimbus Hosting",
    "Orchard Dental",
    "Pampa Foods",
    "Quartz Recruiting",
    "Riviera Hôtels",
    "Sable Studio",
    "Tamarin Écoles",
    "Umbra Security",
    "Verdant Gardens",
];

/// (country, currency, language, whether the companies there have a VAT number)
const MARKETS: [(&str, Currency, Lang, bool); 7] = [
    ("FR", Currency::EUR, Lang::Fr, true),
    ("FR", Currency::EUR, Lang::Fr, false),
    ("DE", Currency::EUR, Lang::En, true),
    ("BE", Currency::EUR, Lang::Fr, true),
    ("ES", Currency::EUR, Lang::En, false),
    ("GB", Currency::GBP, Lang::En, false),
    ("US", Currency::USD, Lang::En, false),
];

/// The `i`th demo company's VAT number in `country`: one that passes its country's check, as
/// accounts need (a French one on a SIREN with its Luhn digit, as real ones have).
fn demo_vat_number(country: &str, i: usize) -> Option<String> {
    use prorata_core::vat_number::VatNumber;
    let i = u64::try_from(i).ok()?;
    let body = match country {
        "FR" => {
            let base = format!("{:08}", 30_326_500 + i);
            let luhn =
                (0..10).find(|d| prorata_core::payment::luhn_valid(&format!("{base}{d}")))?;
            format!("{base}{luhn}")
        }
        "DE" => format!("{:08}", 13_669_500 + i),
        "BE" => format!("0{:07}", 4_031_700 + i),
        _ => return None,
    };
    VatNumber::with_key(country, &body).map(String::from)
}

pub struct DemoResult {
    pub api_key: String,
    pub tenant: prorata_store::Tenant,
    /// A few people to sign in as: (company, role, e-mail).
    pub people: Vec<(String, &'static str, String)>,
}

/// Refused changes listed in the summary; beyond, only counted (a larger `--companies`).
const SHOWN_REFUSALS: usize = 30;

/// Every demo person's password (sandbox only; printed by the demo).
pub const DEMO_PASSWORD: &str = "prorata-demo-2025";

pub async fn run(engine: &Engine, companies: usize, out: &mut String) -> Result<DemoResult> {
    use std::fmt::Write as _;
    let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default();
    let tenant = engine
        .create_tenant(
            "Demo telephony (sandbox)",
            TenantMode::Sandbox,
            Some(start),
            &Settings {
                seller: demo_seller(),
                ..Settings::default()
            },
        )
        .await?;
    // Transfers quote the vendor's account, printed on invoices paid that way.
    engine
        .set_collection_settings(
            &tenant,
            &prorata_core::payment::CollectionSettings {
                bank_details: Some(prorata_core::payment::BankDetails {
                    holder: "Prorata Démo Téléphonie SAS".into(),
                    iban: "FR7630006000011234567890189".into(),
                    bic: "AGRIFRPP".into(),
                }),
                ..Default::default()
            },
        )
        .await?;
    let tenant = engine.tenant(tenant.id).await?;
    let key = engine.create_api_key(&tenant).await?;
    let catalog = engine
        .import_catalog(&tenant, include_str!("../../../catalog/default.toml"))
        .await?;
    // One hash for every demo person: hashing is slow by design, and they share a password.
    let password_hash = hash_password(DEMO_PASSWORD).await?;
    let mut people = Vec::new();
    for (role, who, name) in [
        (Role::BillingTeam, "billing-team", "Camille (billing team)"),
        (
            Role::AccountManager,
            "account-manager",
            "Hugo (account manager)",
        ),
        (Role::TenantAdmin, "admin", "Inès (administrator)"),
    ] {
        let email = format!("{who}@vendor.example");
        engine
            .create_user_with_hash(
                &tenant,
                &PersonSpec {
                    account_id: None,
                    role,
                    email: email.clone(),
                    name: name.into(),
                    language: Lang::Fr,
                },
                &password_hash,
            )
            .await?;
    }
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let mut subs = Vec::new();
    let mut accounts = Vec::new();
    for i in 0..companies {
        let (country, currency, language, vat) = MARKETS[i % MARKETS.len()];
        let name = format!(
            "{} {}",
            NAMES[i % NAMES.len()],
            match country {
                "FR" | "BE" => "SAS",
                "DE" => "GmbH",
                "ES" => "SL",
                "GB" => "Ltd",
                _ => "Inc.",
            }
        );
        let name = if i >= NAMES.len() {
            format!("{name} ({})", i / NAMES.len() + 1)
        } else {
            name
        };
        let account = Account {
            name,
            website: String::new(),
            address: Address {
                line1: format!("{} rue de l'Exemple", i + 1),
                postcode: format!("{:05}", 75001 + i),
                city: "Paris".into(),
                ..Address::default()
            },
            country: country.into(),
            vat_number: if vat {
                demo_vat_number(country, i % 1000)
            } else {
                None
            },
            currency,
            language,
            time_zone: "Europe/Paris".into(),
            billing_contacts: vec![format!("billing{i}@example.com")],
            siren: None,
            siret: None,
            delivery_address: None,
        };
        let company = account.name.clone();
        let account_id = engine.create_account(&tenant, &account).await?;
        for (role, who) in [
            (Role::Owner, "owner"),
            (Role::Admin, "admin"),
            (Role::Agent, "agent"),
        ] {
            let email = format!("{who}{i}@example.com");
            engine
                .create_user_with_hash(
                    &tenant,
                    &PersonSpec {
                        account_id: Some(account_id),
                        role,
                        email: email.clone(),
                        name: format!("{} {}", FIRST_NAMES[i % FIRST_NAMES.len()], who),
                        language,
                    },
                    &password_hash,
                )
                .await?;
            if i < 2 || i == DUNNED_AND_REACTIVATED {
                people.push((company.clone(), who, email));
            }
        }
        engine
            .add_payment_method(&tenant, account_id, &demo_method(tenant.id, i, country)?)
            .await?;
        let professional = rng.chance(40);
        let annual = rng.chance(25);
        let mut quantities = BTreeMap::from([
            ("user".to_string(), rng.range(3, 25)),
            ("number".to_string(), rng.range(1, 8)),
            ("team".to_string(), rng.range(0, 3)),
        ]);
        if professional && rng.chance(50) {
            quantities.insert("analytics_plus".into(), 1);
        }
        if rng.chance(40) {
            quantities.insert("bundle_europe".into(), 1);
        }
        let spec = SubscriptionSpec {
            plan: if professional {
                "professional"
            } else {
                "essentials"
            }
            .into(),
            frequency: if annual {
                Frequency::Annual
            } else {
                Frequency::Monthly
            },
            currency,
            start: start
                .checked_add_days(Days::new((i as u64 * 3) % 28))
                .unwrap_or(start),
            trial_days: if rng.chance(50) { Some(0) } else { None },
            term_months: 12,
            notice_days: 30,
            quantities,
            billing_day: None,
        };
        let (id, _) = engine
            .create_subscription(&tenant, account_id, catalog.id, &spec)
            .await?;
        subs.push(id);
        accounts.push(account_id);
    }

    let mut refused: Vec<String> = Vec::new();
    let mut accepted: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut calls = IngestReport::default();
    let end = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or(start);
    // Calls from February, when every subscription has started.
    let calls_from = NaiveDate::from_ymd_opt(2025, 2, 1).unwrap_or(start);
    let mut day = start;
    let mut tenant = tenant;
    // The first invoice of the company at DUNNED_AND_REACTIVATED (which starts on day 3·i)
    // fails on its first day; its owner updates the card ten days later.
    let card_updated_on = start
        .checked_add_days(Days::new((DUNNED_AND_REACTIVATED as u64 * 3) % 28 + 10))
        .unwrap_or(start);
    let mut paid_after_reminder = 0;
    while day < end {
        // Each day's calls are sent on that day, before the clock moves on: they are on the
        // invoice after their period, never late (one deliberate late batch aside, below).
        let week_end = day.checked_add_days(Days::new(7)).unwrap_or(end).min(end);
        while day < week_end {
            if day >= calls_from {
                let report = demo_calls(engine, &tenant, &accounts, day, companies * 3).await?;
                calls.add(report, 0);
            }
            day = day.succ_opt().unwrap_or(week_end);
            let (t, _) = engine.advance_clock(&tenant, day, &mut |_, _| {}).await?;
            tenant = t;
            if day == card_updated_on && accounts.len() > DUNNED_AND_REACTIVATED {
                // Ten days into its dunning, this company's owner puts in a good card: the
                // next batch charges it and the account is reactivated.
                let token = SandboxGateway::tokenize_card(tenant.id, "5555555555554444", 6, 2029)?;
                engine
                    .add_payment_method(
                        &tenant,
                        accounts[DUNNED_AND_REACTIVATED],
                        &NewPaymentMethod::Card { token },
                    )
                    .await?;
                engine.collect(&tenant, day).await?;
            }
            paid_after_reminder += pay_when_reminded(engine, &tenant, &accounts, day).await?;
        }
        for _ in 0..rng.range(0, 4) {
            let id = subs[usize::try_from(rng.range(0, subs.len() as i64 - 1)).unwrap_or(0)];
            let row = engine.subscription(&tenant, id).await?;
            let state = row
                .subscription
                .state_at(prorata_core::timeline::start_of(day), day);
            let users = state.quantity("user");
            let roll = rng.range(0, 99);
            let request = match roll {
                0..=34 => Request::SetQuantity {
                    product: "user".into(),
                    quantity: users + rng.range(1, 4),
                },
                35..=59 => Request::SetQuantity {
                    product: "user".into(),
                    quantity: (users - rng.range(1, 3)).max(3),
                },
                60..=69 if state.quantity("bundle_europe") == 0 => Request::AddAddon {
                    product: "bundle_europe".into(),
                },
                60..=69 => Request::RemoveAddon {
                    product: "bundle_europe".into(),
                },
                70..=79 if state.plan == "essentials" => Request::ChangePlan {
                    plan: "professional".into(),
                },
                70..=79 => Request::ChangePlan {
                    plan: "essentials".into(),
                },
                80..=84 => Request::Cancel,
                _ => continue,
            };
            match engine.request_change(&tenant, id, &request, None).await {
                Ok(o) => {
                    *accepted
                        .entry(match o.direction {
                            Direction::Upgrade => "upgrades",
                            Direction::Downgrade => "downgrades",
                            Direction::Cancellation => "cancellations",
                        })
                        .or_default() += 1;
                }
                Err(EngineError::Refused(r)) => {
                    refused.push(format!("{day} subscription {id}: {r}"))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    let mut tx = engine.store.begin().await?;
    let counts = tx.count_documents(tenant.id).await?;
    drop(tx);
    let mut paid: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    let mut failed = 0;
    let mut standings: BTreeMap<&str, u64> = BTreeMap::new();
    for account in &accounts {
        for p in engine.payments(&tenant, *account).await? {
            match p.status {
                PaymentStatus::Succeeded => {
                    let e = paid
                        .entry(p.amount.currency().code().to_string())
                        .or_default();
                    e.0 += 1;
                    e.1 += p.amount.minor();
                }
                PaymentStatus::Failed => failed += 1,
            }
        }
        let status = engine.standing(&tenant, *account).await?.standing.status;
        *standings.entry(status.as_str()).or_default() += 1;
    }
    let email_jobs = engine.jobs(&tenant, JobKind::Email).await?;
    let emails = email_jobs.len();
    let reminders = email_jobs
        .iter()
        .filter(|(j, _)| j.payload["template"] == "reminder")
        .count();
    let _ = writeln!(
        out,
        "Demo tenant {} ({}), clock {} — {} companies",
        tenant.id, tenant.name, day, companies
    );
    let _ = writeln!(
        out,
        "changes accepted: {}",
        accepted
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out, "changes refused: {}", refused.len());
    // Show the notice rule at work first: it is the refusal the seeds are about. Every refusal
    // is listed (a count that lists only some reads as a miscount), up to a screenful.
    refused.sort_by_key(|r| !r.contains("too late"));
    for r in refused.iter().take(SHOWN_REFUSALS) {
        let _ = writeln!(out, "  {r}");
    }
    if refused.len() > SHOWN_REFUSALS {
        let _ = writeln!(out, "  … and {} more", refused.len() - SHOWN_REFUSALS);
    }
    for ((kind, currency), (n, total)) in &counts {
        let amount = money_text(*total, currency);
        let _ = writeln!(
            out,
            "{kind} in {currency}: {n} documents, total {amount} (VAT included)"
        );
    }
    let _ = writeln!(
        out,
        "calls: {} accepted, {} duplicates (resent events, billed once), {} refused",
        calls.accepted,
        calls.duplicates,
        calls.rejected.len()
    );
    for (currency, (n, total)) in &paid {
        let amount = money_text(*total, currency);
        let _ = writeln!(
            out,
            "payments in {currency}: {n} collected or received, {amount}"
        );
    }
    let _ = writeln!(
        out,
        "failed charges: {failed}; accounts: {}",
        standings
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "transfer payers: {reminders} overdue reminders sent, {paid_after_reminder} transfers received after one"
    );
    let _ = writeln!(
        out,
        "e-mails to billing contacts: {emails} (sent by `prorata serve`, or `prorata deliver`)"
    );
    Ok(DemoResult {
        api_key: key.secret,
        tenant,
        people,
    })
}

/// The demo vendor's identity, printed on its documents.
fn demo_seller() -> prorata_core::seller::Seller {
    let siren = "552100554";
    prorata_core::seller::Seller {
        legal_name: "Prorata Démo Téléphonie SAS".into(),
        legal_form: "SAS au capital de 10 000 €, RCS Paris 552 100 554".into(),
        address: Address {
            line1: "12 rue de la Paix".into(),
            postcode: "75002".into(),
            city: "Paris".into(),
            ..Address::default()
        },
        siren: siren.into(),
        vat_number: prorata_core::seller::french_vat_number(siren),
        email: "facturation@demo.prorata.invalid".into(),
        payment_terms_days: 15,
        ..prorata_core::seller::Seller::default()
    }
}

/// `minor` units of the currency whose code is `currency`, as text (`1234.50 EUR`).
fn money_text(minor: i64, currency: &str) -> String {
    currency
        .parse::<Currency>()
        .map(|c| prorata_core::Money::from_minor(minor, c).to_string())
        .unwrap_or_else(|_| format!("{minor} {currency}"))
}

/// Whether transfer payer `i` pays once reminded (the others let dunning run its course).
fn pays_when_reminded(i: usize) -> bool {
    i % 10 == 0
}

/// The transfers of the day: each company that pays when reminded and is past due (it was
/// reminded) pays its balance by transfer. Returns how many paid.
async fn pay_when_reminded(
    engine: &Engine,
    tenant: &prorata_store::Tenant,
    accounts: &[i64],
    day: NaiveDate,
) -> Result<u64> {
    let mut paid = 0;
    for (i, account) in accounts.iter().enumerate() {
        if !pays_when_reminded(i) {
            continue;
        }
        let view = engine.standing(tenant, *account).await?;
        if view.standing.status == prorata_core::dunning::Status::PastDue && view.balance > 0 {
            engine
                .record_transfer(
                    tenant,
                    *account,
                    view.balance,
                    &format!("VIR DEMO-{i} {day}"),
                )
                .await?;
            paid += 1;
        }
    }
    Ok(paid)
}

/// The company whose card declines and who updates it ten days into dunning.
const DUNNED_AND_REACTIVATED: usize = 3;
/// The company whose card declines until it is cancelled, then purged.
const DUNNED_AND_CANCELLED: usize = 8;

/// How company `i` pays: mostly cards, SEPA in the euro area, ACH in the United States, some
/// bank transfers, and two cards that always decline.
fn demo_method(tenant: i64, i: usize, country: &str) -> Result<NewPaymentMethod> {
    let card = |number: &str| -> Result<NewPaymentMethod> {
        Ok(NewPaymentMethod::Card {
            token: SandboxGateway::tokenize_card(tenant, number, 12, 2030)?,
        })
    };
    if i == DUNNED_AND_REACTIVATED || i == DUNNED_AND_CANCELLED {
        return card("4000000000000341");
    }
    Ok(match (i % 5, country) {
        (0, _) => NewPaymentMethod::BankTransfer,
        (1, "US") | (2, "US") => NewPaymentMethod::AchDebit {
            routing_number: "021000021".into(),
            account_number: format!("0001234{:05}", i),
        },
        (1, "FR" | "DE" | "BE" | "ES") => NewPaymentMethod::SepaDebit {
            iban: "FR76 3000 6000 0112 3456 7890 189".into(),
            mandate_reference: Some(format!("DEMO-MANDATE-{i}")),
        },
        (3, _) => card("5555555555554444")?,
        _ => card("4242424242424242")?,
    })
}

/// A day of call traffic for the demo's companies, sent through the engine as the API would.
/// One event in fifty is resent (the engine counts it as a duplicate); and once, on 3 March
/// 2025, the platform also resends a forgotten batch of the last days of February, which
/// arrives after February's invoices: it is billed as late usage on the next ones.
async fn demo_calls(
    engine: &Engine,
    tenant: &prorata_store::Tenant,
    accounts: &[i64],
    day: NaiveDate,
    n: usize,
) -> Result<IngestReport> {
    let seed = u64::try_from(day.num_days_from_ce()).unwrap_or(1);
    // 07:00 to 17:00 UTC: the same local day in Paris, summer or winter.
    let from = day
        .and_hms_opt(7, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_default();
    let mut gen = CallGen::new(
        seed,
        accounts.to_vec(),
        from,
        10 * 3600,
        &format!("demo-{day}"),
    );
    gen.duplicate_every = 50;
    let mut batch: Vec<_> = (0..n).map(|_| Ok(gen.next_call())).collect();
    if day == NaiveDate::from_ymd_opt(2025, 3, 3).unwrap_or(day) {
        let late_from = from - chrono::Duration::days(5);
        let mut late = CallGen::new(
            seed + 1,
            accounts.to_vec(),
            late_from,
            10 * 3600,
            "demo-late",
        );
        batch.extend((0..accounts.len()).map(|_| Ok(late.next_call())));
    }
    Ok(engine.ingest_calls(tenant, batch).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_company_with_a_vat_number_has_one_that_passes_its_check() {
        for (country, _, _, _) in MARKETS.into_iter().filter(|m| m.3) {
            for i in [0, 1, 7, 499, 999] {
                let number = demo_vat_number(country, i);
                let parsed = number
                    .as_deref()
                    .map(prorata_core::vat_number::VatNumber::parse);
                assert_eq!(
                    parsed.map(|p| p.map(|v| v.country())),
                    Some(Ok(country)),
                    "{country} {i}"
                );
            }
        }
    }
}
