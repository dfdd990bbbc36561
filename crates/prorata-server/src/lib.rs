//! # prorata-server: the REST API
//!
//! axum handlers under `/v1`, thin by rule: extract, call one engine use case, map the result
//! to a response. Routes and the OpenAPI 3.1 document come from the same `utoipa-axum` router,
//! so a route cannot exist undocumented (and a test checks every documented operation
//! answers). Errors are RFC 9457 problems with a status derived from their kind
//! ([`error::ApiError`]). Conventions: `Authorization: Bearer <key>`, `Idempotency-Key` on
//! POSTs, cursor pagination (`?limit=&cursor=`, answered with `next_cursor`), amounts as
//! integer minor units with their currency.

pub mod auth;
pub mod error;
pub mod health;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod request_log;
mod routes;
pub mod shutdown;
pub mod webhooks;
pub mod worker;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{middleware, Json, Router};
use prorata_engine::Engine;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use routes::admin::OperatorToken;

/// Largest request body accepted: a usage batch of 10,000 call records (about 2 MB).
pub const BODY_LIMIT: usize = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// Rate, concurrency and time limits of API requests, per tenant ([`limits`]).
    pub limits: std::sync::Arc<limits::Limits>,
    /// The operator token of the admin API (`/admin/v1`); `None` leaves that API unmounted.
    pub operator: Option<OperatorToken>,
}

impl AppState {
    /// The engine behind the default limits.
    pub fn new(engine: Engine) -> AppState {
        AppState::with_limits(engine, limits::LimitConfig::default())
    }

    pub fn with_limits(engine: Engine, config: limits::LimitConfig) -> AppState {
        AppState {
            engine,
            limits: std::sync::Arc::new(limits::Limits::new(config)),
            operator: None,
        }
    }

    /// Opens the admin API to whoever presents `token` (refused when empty: `None`).
    pub fn with_operator_token(self, token: &str) -> Option<AppState> {
        Some(AppState {
            operator: Some(OperatorToken::new(token)?),
            ..self
        })
    }
}

/// The API router and its OpenAPI document, built from the same route table.
pub fn api(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (v1, openapi) = routes();
    let v1 = v1.layer(middleware::from_fn_with_state(
        state.clone(),
        auth::authenticate,
    ));
    (v1.with_state(state), openapi)
}

/// The OpenAPI document of `/v1`, as `/openapi.json` serves it (`prorata openapi` prints it).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The route table of `/v1`, not yet bound to a state, and the document built from it.
fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (v1, openapi) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(routes::catalogs::list, routes::catalogs::create))
        .routes(routes!(routes::accounts::list, routes::accounts::create))
        .routes(routes!(routes::accounts::get, routes::accounts::update))
        .routes(routes!(routes::accounts::balance))
        .routes(routes!(routes::accounts::ledger))
        .routes(routes!(routes::accounts::top_up))
        .routes(routes!(routes::accounts::wallet))
        .routes(routes!(routes::accounts::wallet_entries))
        .routes(routes!(
            routes::subscriptions::list,
            routes::subscriptions::create
        ))
        .routes(routes!(routes::subscriptions::get))
        .routes(routes!(routes::subscriptions::change))
        .routes(routes!(routes::subscriptions::preview_change))
        .routes(routes!(routes::subscriptions::preview))
        .routes(routes!(routes::subscriptions::entitlements))
        .routes(routes!(routes::coupons::apply))
        .routes(routes!(routes::coupons::remove))
        .routes(routes!(routes::documents::list_invoices))
        .routes(routes!(routes::documents::get_invoice))
        .routes(routes!(routes::documents::list_credit_notes))
        .routes(routes!(routes::documents::get_credit_note))
        .routes(routes!(
            routes::documents::get_seller,
            routes::documents::put_seller
        ))
        .routes(routes!(
            routes::documents::put_seller_logo,
            routes::documents::delete_seller_logo
        ))
        .routes(routes!(routes::clock::get, routes::clock::advance))
        .routes(routes!(routes::keys::list, routes::keys::create))
        .routes(routes!(routes::keys::revoke))
        .routes(routes!(routes::usage::ingest))
        .routes(routes!(routes::usage::summary))
        .routes(routes!(
            routes::payments::set_method,
            routes::payments::get_method
        ))
        .routes(routes!(
            routes::payments::list,
            routes::payments::record_transfer
        ))
        .routes(routes!(routes::payments::refund))
        .routes(routes!(routes::payments::match_transfer))
        .routes(routes!(routes::payments::standing))
        .routes(routes!(
            routes::payments::get_settings,
            routes::payments::put_settings
        ))
        .routes(routes!(routes::payments::sandbox_token))
        .routes(routes!(routes::webhooks::create, routes::webhooks::list))
        .routes(routes!(routes::webhooks::disable))
        .routes(routes!(routes::webhooks::deliveries))
        .routes(routes!(
            routes::people::list_users,
            routes::people::invite_user
        ))
        .routes(routes!(routes::people::create_portal_session))
        .routes(routes!(routes::people::list_change_requests))
        .routes(routes!(routes::people::apply_change_request))
        .routes(routes!(routes::people::refuse_change_request))
        .routes(routes!(
            routes::tickets::get_settings,
            routes::tickets::put_settings
        ))
        .routes(routes!(routes::tickets::set_manager))
        .routes(routes!(routes::tickets::audit))
        .routes(routes!(routes::tickets::list))
        .routes(routes!(routes::tickets::get))
        .routes(routes!(routes::tickets::set_status))
        .routes(routes!(routes::tickets::assign))
        .routes(routes!(routes::tickets::file))
        // The routes that take files take larger bodies.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(routes::tickets::create))
                .routes(routes!(routes::tickets::reply))
                .layer(routes::tickets::body_limit()),
        )
        .split_for_parts();
    let mut openapi = openapi;
    openapi::merge_flattened(&mut openapi);
    openapi::drop_object_defaults(&mut openapi);
    openapi::local_date_times(&mut openapi);
    openapi::close_contract_changes(&mut openapi);
    openapi::name_operations(&mut openapi);
    openapi::declare_problems(&mut openapi);
    (v1, openapi)
}

/// The whole application: `/v1`, `/openapi.json`, the probes (`/livez`, `/health`, `/readyz`),
/// `/metrics` and the portal (`/portal`),
/// its cookies not marked `Secure` (served over plain http, as on loopback).
pub fn app(state: AppState) -> Router {
    app_with(state, prorata_web::WebConfig::default())
}

/// The whole application, with the portal configured by `web`.
pub fn app_with(state: AppState, web: prorata_web::WebConfig) -> Router {
    // A portal request that lost SQLite's write race runs again too, as an API request does.
    let portal = prorata_web::router(state.engine.clone(), web)
        .layer(middleware::from_fn(auth::run_buffered));
    // The operator's API exists only when an operator token is configured.
    let admin = match state.operator.clone() {
        Some(token) => routes::admin::router(state.clone(), token),
        None => Router::new(),
    };
    let probe_state = state.clone();
    let (v1, openapi) = api(state);
    let openapi = std::sync::Arc::new(openapi);
    Router::new()
        .merge(v1)
        .merge(admin)
        .route(
            "/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/health", get(health::livez))
        .route("/livez", get(health::livez))
        .route(
            "/readyz",
            get(health::readyz).with_state(probe_state.clone()),
        )
        .route("/metrics", get(metrics::scrape).with_state(probe_state))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .merge(portal)
        // What matches no route is a problem document too, not an empty body.
        .fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such route: see /openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take this method: see /openapi.json",
            )
        })
        // Last, so it wraps every route and both fallbacks.
        .layer(middleware::from_fn(request_log::layer))
}
