//! Payment methods, payments (collected, or transfers recorded by the billing team), refunds,
//! an account's standing (dunning status, banners, who may sign in), the tenant's collection
//! settings, and the sandbox gateway's card tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use prorata_core::payment::{CollectionSettings, PaymentMethod};
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::{NewPaymentMethod, StandingView};
use prorata_store::{Payment, TenantMode};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, CardJson};
use crate::AppState;

/// A payment method as shown: what a person recognises, never the gateway token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schema(as = PaymentMethod)]
pub enum ShownMethod {
    Card {
        brand: String,
        last4: String,
        exp_month: u32,
        exp_year: i32,
        /// One line a person recognises: `Visa •••• 4242 (12/2028)`.
        description: String,
    },
    SepaDebit {
        /// e.g. `FR76 •••• 0189`.
        iban: String,
        mandate_reference: String,
        description: String,
    },
    AchDebit {
        routing_number: String,
        /// e.g. `•••• 6789`.
        account_number: String,
        description: String,
    },
    /// Paid by the customer's bank transfer; nothing is collected automatically.
    BankTransfer { description: String },
}

fn shown(method: &PaymentMethod) -> ShownMethod {
    let description = method.describe();
    match method.clone() {
        PaymentMethod::Card {
            brand,
            last4,
            exp_month,
            exp_year,
            ..
        } => ShownMethod::Card {
            brand,
            last4,
            exp_month,
            exp_year,
            description,
        },
        PaymentMethod::SepaDebit {
            iban,
            mandate_reference,
            ..
        } => ShownMethod::SepaDebit {
            iban,
            mandate_reference,
            description,
        },
        PaymentMethod::AchDebit {
            routing_number,
            account_number,
            ..
        } => ShownMethod::AchDebit {
            routing_number,
            account_number,
            description,
        },
        PaymentMethod::BankTransfer => ShownMethod::BankTransfer { description },
    }
}

#[utoipa::path(put, path = "/v1/accounts/{id}/payment-method", tag = "payments",
    params(("id" = i64, Path)), request_body = NewPaymentMethod,
    responses((status = 200, description = "The account's new payment method (masked)", body = ShownMethod),
              (status = 402, description = "The card's authorisation was refused; `detail` says why"),
              (status = 422, description = "A bad IBAN, routing number, account number or token; `field` names it")))]
pub async fn set_method(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<NewPaymentMethod>,
) -> Result<Json<ShownMethod>, ApiError> {
    let method = s
        .engine
        .add_payment_method(&caller.tenant, id, &input)
        .await?;
    Ok(Json(shown(&method)))
}

#[utoipa::path(get, path = "/v1/accounts/{id}/payment-method", tag = "payments",
    params(("id" = i64, Path)),
    responses((status = 200, description = "The account's payment method (masked)", body = ShownMethod),
              (status = 404, description = "No account, or no payment method yet")))]
pub async fn get_method(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ShownMethod>, ApiError> {
    match s.engine.payment_method(&caller.tenant, id).await? {
        Some(m) => Ok(Json(shown(&m))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this account has no payment method yet",
        )),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentsOut {
    pub data: Vec<Payment>,
}

#[utoipa::path(get, path = "/v1/accounts/{id}/payments", tag = "payments",
    params(("id" = i64, Path)),
    responses((status = 200, description = "Every payment tried or recorded, oldest first", body = PaymentsOut)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PaymentsOut>, ApiError> {
    Ok(Json(PaymentsOut {
        data: s.engine.payments(&caller.tenant, id).await?,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferIn {
    /// Minor units received.
    pub amount: i64,
    /// The transfer's reference (the invoice number it quotes).
    pub reference: String,
}

#[utoipa::path(post, path = "/v1/accounts/{id}/payments", tag = "payments",
    params(("id" = i64, Path)), request_body = TransferIn,
    responses((status = 201, description = "A bank transfer received, recorded", body = Payment),
              (status = 422, description = "A field is invalid")))]
pub async fn record_transfer(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(t): ApiJson<TransferIn>,
) -> Result<(StatusCode, Json<Payment>), ApiError> {
    let p = s
        .engine
        .record_transfer(&caller.tenant, id, t.amount, &t.reference)
        .await?;
    Ok((StatusCode::CREATED, Json(p)))
}

#[utoipa::path(post, path = "/v1/transfers", tag = "payments", request_body = TransferIn,
    responses((status = 201, description = "A bank transfer received, matched to its account by the invoice number its reference quotes", body = Payment),
              (status = 422, description = "The reference names no invoice of this tenant")))]
pub async fn match_transfer(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(t): ApiJson<TransferIn>,
) -> Result<(StatusCode, Json<Payment>), ApiError> {
    let p = s
        .engine
        .match_transfer(&caller.tenant, t.amount, &t.reference)
        .await?;
    Ok((StatusCode::CREATED, Json(p)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundIn {
    /// Minor units, always said: a body that names no amount refunds nothing (`[]` and `{}`
    /// once refunded the whole payment).
    pub amount: i64,
}

#[utoipa::path(post, path = "/v1/payments/{id}/refund", tag = "payments",
    params(("id" = i64, Path)), request_body = RefundIn,
    responses((status = 200, description = "The payment with what was refunded", body = Payment),
              (status = 409, description = "Not a succeeded payment"),
              (status = 422, description = "More than is left to refund")))]
pub async fn refund(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<RefundIn>,
) -> Result<Json<Payment>, ApiError> {
    Ok(Json(
        s.engine
            .refund_payment(&caller.tenant, id, Some(r.amount))
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/accounts/{id}/standing", tag = "payments",
    params(("id" = i64, Path)),
    responses((status = 200, description = "Dunning status, banners by role, who may sign in", body = StandingView)))]
pub async fn standing(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<StandingView>, ApiError> {
    Ok(Json(s.engine.standing(&caller.tenant, id).await?))
}

#[utoipa::path(get, path = "/v1/collection-settings", tag = "payments",
    responses((status = 200, description = "The dunning schedule and bank details", body = CollectionSettings)))]
pub async fn get_settings(caller: Caller) -> Json<CollectionSettings> {
    Json(caller.tenant.collection)
}

#[utoipa::path(put, path = "/v1/collection-settings", tag = "payments", request_body = CollectionSettings,
    responses((status = 200, description = "Saved", body = CollectionSettings),
              (status = 422, description = "An invalid schedule or IBAN")))]
pub async fn put_settings(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<CollectionSettings>, ApiError> {
    // A PUT replaces the whole: both parts are said, `bank_details` as `null` to remove them
    // (`{}` once wiped the bank details without a word).
    for field in ["dunning", "bank_details"] {
        if body.get(field).is_none() {
            return Err(ApiError::invalid(
                field,
                "required: a PUT says the whole settings (GET them, change, PUT them back)",
            ));
        }
    }
    let settings: CollectionSettings = serde_json::from_value(body)
        .map_err(|e| ApiError::invalid("collection settings", e.to_string()))?;
    s.engine
        .set_collection_settings(&caller.tenant, &settings)
        .await?;
    Ok(Json(settings))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardIn {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: i32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenOut {
    pub token: String,
}

/// The sandbox gateway's tokenization, for sandbox tenants only (a live tenant's cards are
/// tokenized in the customer's browser by its gateway; card numbers never reach this API).
#[utoipa::path(post, path = "/v1/sandbox/card-tokens", tag = "payments", request_body = CardIn,
    responses((status = 201, description = "A token for a sandbox test card", body = TokenOut),
              (status = 403, description = "Not a sandbox tenant"),
              (status = 422, description = "Not one of the sandbox's test cards")))]
pub async fn sandbox_token(
    caller: Caller,
    CardJson(card): CardJson<CardIn>,
) -> Result<(StatusCode, Json<TokenOut>), ApiError> {
    if caller.tenant.mode != TenantMode::Sandbox {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "card tokens are made by the gateway in the customer's browser; this endpoint serves sandbox tenants",
        ));
    }
    let token = SandboxGateway::tokenize_card(
        caller.tenant.id,
        &card.number,
        card.exp_month,
        card.exp_year,
    )
    .map_err(|e| ApiError::invalid("number", e.to_string()))?;
    Ok((StatusCode::CREATED, Json(TokenOut { token })))
}
