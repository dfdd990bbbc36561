//! Customer accounts, their balance and ledger.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use prorata_core::account::{Account, AccountPatch, Actor};
use serde::Serialize;

use super::{ListResponse, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;

/// An account and its id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": 3,
    "name": "Lumen SAS",
    "website": "https://lumen.example",
    "address": {"line1": "1 rue de Rivoli", "line2": "", "postcode": "75001", "city": "Paris", "state": ""},
    "country": "FR",
    "vat_number": "FR40303265045",
    "currency": "EUR",
    "language": "fr",
    "time_zone": "Europe/Paris",
    "billing_contacts": ["billing@lumen.example"]
}))]
pub struct AccountOut {
    pub id: i64,
    #[serde(flatten)]
    pub account: Account,
}

#[utoipa::path(get, path = "/v1/accounts", tag = "accounts", params(PageQuery),
    responses((status = 200, description = "Accounts, by id", body = ListResponse<AccountOut>)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ListResponse<AccountOut>>, ApiError> {
    let (after, limit) = q.bounds()?;
    let page = s.engine.list_accounts(&caller.tenant, after, limit).await?;
    let data = page
        .items
        .into_iter()
        .map(|r| AccountOut {
            id: r.id,
            account: r.account,
        })
        .collect();
    Ok(Json(ListResponse::new(data, page.next)))
}

#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = Account,
    responses((status = 201, description = "The account with its id", body = AccountOut),
              (status = 422, description = "A field is invalid; `field` names it. A `vat_number` must pass its country's check (shape, and the check key of FR, DE, IT, ES, BE, NL) and be of the account's country, and needs `address.line1`, `address.postcode` and `address.city`: the one missing is named")))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(account): ApiJson<Account>,
) -> Result<(StatusCode, Json<AccountOut>), ApiError> {
    let id = s.engine.create_account(&caller.tenant, &account).await?;
    let account = s.engine.account(&caller.tenant, id).await?;
    Ok((StatusCode::CREATED, Json(AccountOut { id, account })))
}

#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, body = AccountOut), (status = 404, description = "No such account for this tenant")))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AccountOut>, ApiError> {
    let account = s.engine.account(&caller.tenant, id).await?;
    Ok(Json(AccountOut { id, account }))
}

/// Who the change is made for: `X-Prorata-Actor: owner` applies the account owner's rules
/// (after the trial: address, postcode and city only); the default is the billing team.
fn actor(headers: &HeaderMap) -> Result<Actor, ApiError> {
    match headers
        .get("x-prorata-actor")
        .map(|v| v.to_str().unwrap_or("?"))
    {
        None | Some("billing_team") => Ok(Actor::BillingTeam),
        Some("owner") => Ok(Actor::Owner),
        Some(_) => Err(ApiError::invalid(
            "X-Prorata-Actor",
            "use owner or billing_team",
        )),
    }
}

/// The values of `X-Prorata-Actor` (the schema of the header; [`actor`] reads it).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // never built: it only names the header's values
pub enum ActorHeader {
    Owner,
    BillingTeam,
}

#[utoipa::path(patch, path = "/v1/accounts/{id}", tag = "accounts",
    params(("id" = i64, Path),
           ("X-Prorata-Actor" = Option<ActorHeader>, Header, description = "Whose rules the change follows: `owner` — after the trial, address, postcode and city only — or `billing_team`, the default")),
    request_body = AccountPatch,
    responses((status = 200, body = AccountOut),
              (status = 403, description = "The owner may not change this field after the trial"),
              (status = 422, description = "A field is invalid; `field` names it. The account after the change is checked whole: a `vat_number` that does not pass, or an address part emptied under one, is refused")))]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<AccountPatch>,
) -> Result<Json<AccountOut>, ApiError> {
    let account = s
        .engine
        .update_account(&caller.tenant, id, &patch, actor(&headers)?)
        .await?;
    Ok(Json(AccountOut { id, account }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BalanceOut {
    /// What the customer owes, in minor units (negative: a credit in their favour).
    pub balance: i64,
    pub currency: String,
}

#[utoipa::path(get, path = "/v1/accounts/{id}/balance", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, description = "The sum of the account's ledger entries", body = BalanceOut)))]
pub async fn balance(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<BalanceOut>, ApiError> {
    let account = s.engine.account(&caller.tenant, id).await?;
    let balance = s.engine.balance(&caller.tenant, id).await?;
    Ok(Json(BalanceOut {
        balance,
        currency: account.currency.code().into(),
    }))
}

#[utoipa::path(get, path = "/v1/accounts/{id}/ledger", tag = "accounts",
    params(("id" = i64, Path), PageQuery),
    responses((status = 200, description = "Ledger entries, oldest first", body = ListResponse<prorata_store::LedgerEntry>)))]
pub async fn ledger(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ListResponse<prorata_store::LedgerEntry>>, ApiError> {
    let (after, limit) = q.bounds()?;
    let page = s.engine.ledger(&caller.tenant, id, after, limit).await?;
    Ok(Json(ListResponse::new(page.items, page.next)))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpIn {
    /// Minor units of credit put on the wallet.
    pub amount: i64,
    /// `paid` (the customer paid for it) or `granted` (given by the vendor).
    pub kind: prorata_core::wallet::TopUp,
    /// The payment, order or reason behind it.
    pub reference: String,
}

#[utoipa::path(post, path = "/v1/accounts/{id}/wallet/top-ups", tag = "accounts",
    params(("id" = i64, Path)), request_body = TopUpIn,
    responses((status = 201, description = "Prepaid credit put on the account's wallet: the wallet after it (`balance` in minor units, `currency`). Invoices issued from now on draw on it, VAT included, before anything is collected", body = prorata_engine::Wallet),
              (status = 404, description = "No such account for this tenant"),
              (status = 422, description = "A field is invalid; `field` names it")))]
pub async fn top_up(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(t): ApiJson<TopUpIn>,
) -> Result<(StatusCode, Json<prorata_engine::Wallet>), ApiError> {
    let wallet = s
        .engine
        .top_up(&caller.tenant, id, t.amount, t.kind, &t.reference)
        .await?;
    Ok((StatusCode::CREATED, Json(wallet)))
}

#[utoipa::path(get, path = "/v1/accounts/{id}/wallet", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, description = "The account's prepaid credit: `balance` in minor units, `currency`", body = prorata_engine::Wallet),
              (status = 404, description = "No such account for this tenant")))]
pub async fn wallet(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<prorata_engine::Wallet>, ApiError> {
    Ok(Json(s.engine.wallet(&caller.tenant, id).await?))
}

#[utoipa::path(get, path = "/v1/accounts/{id}/wallet/entries", tag = "accounts",
    params(("id" = i64, Path), PageQuery),
    responses((status = 200, description = "Wallet entries, oldest first: top-ups (`paid`, `granted`) and the credit each invoice took (`applied`, negative, its number in `reference`)", body = ListResponse<prorata_store::WalletEntry>),
              (status = 404, description = "No such account for this tenant")))]
pub async fn wallet_entries(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ListResponse<prorata_store::WalletEntry>>, ApiError> {
    let (after, limit) = q.bounds()?;
    let page = s
        .engine
        .wallet_entries(&caller.tenant, id, after, limit)
        .await?;
    Ok(Json(ListResponse::new(page.items, page.next)))
}
