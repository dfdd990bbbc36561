//! The OpenAPI document's shared parts: the API key scheme, and the problem documents every
//! operation may answer. Operations declare their own successes and the refusals particular
//! to them; what any request can meet — a malformed parameter, no key, too many requests, a
//! busy database — is declared here once, for all of them, so the document lists every
//! status a caller can see (schemathesis checks it does: `tests/schemathesis.rs`).

use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Prorata API", description = "Subscription billing: catalogs, accounts, subscriptions, contract changes, invoices and credit notes, ledgers, sandbox clocks, usage (call records), payment methods, payments and refunds, dunning standing, webhooks."),
    modifiers(&Security),
    // What parameters and problems name is not collected from them: declared here.
    components(schemas(
        crate::routes::accounts::ActorHeader,
        prorata_core::change::Refusal,
        prorata_core::coupon::CouponRefusal
    ))
)]
pub(crate) struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, api: &mut OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        api.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "api_key",
            Vec::<String>::new(),
        )]);
    }
}

/// The media type of every error ([`crate::error::ApiError`]).
pub const PROBLEM: &str = "application/problem+json";

/// What any operation may answer.
const ANY: [(u16, &str); 4] = [
    (401, "No valid API key"),
    (
        429,
        "Too many requests from this key at once or this second: `Retry-After` says when to come back",
    ),
    (
        503,
        "The database was busy past the wait (SQLite's single writer) or is unavailable; nothing was committed: `Retry-After` says when to try again",
    ),
    (
        504,
        "The request ran past the server's time limit; a write it was making was not committed",
    ),
];

/// What an operation with a path or query parameter may answer too.
const WITH_PARAMETERS: [(u16, &str); 2] = [
    (
        400,
        "A path or query parameter is malformed (not a number, say)",
    ),
    (
        422,
        "A parameter is out of its range or not one of its values: `field` names it",
    ),
];

/// What an operation with a path parameter may answer too.
const WITH_PATH: [(u16, &str); 1] = [(404, "No such object for this tenant")];

/// What an operation taking a body may answer too.
const WITH_BODY: [(u16, &str); 4] = [
    (400, "The body is not JSON"),
    (413, "The body is larger than the server takes"),
    (415, "The body is not sent as `application/json`"),
    (
        422,
        "A field is invalid, missing or unknown: `field` names it",
    ),
];

/// The problem `code`s each error status carries, whichever operation answers it (a program
/// branches on the code; the status alone does not say which refusal it met). Every
/// [`crate::error::ApiError`] made in a debug build is checked against this table, so the whole
/// test suite keeps it true.
pub const CODES: &[(u16, &[&str])] = &[
    (400, &["bad_request"]),
    (401, &["unauthorized"]),
    (402, &["payment_refused"]),
    (403, &["forbidden"]),
    (404, &["not_found"]),
    (405, &["method_not_allowed"]),
    (
        409,
        &[
            "conflict",
            "idempotency_key_in_progress",
            "idempotency_key_reused",
            "coupon_used_up",
            "coupon_already_applied",
            "coupon_not_applied",
        ],
    ),
    (413, &["payload_too_large"]),
    (415, &["unsupported_media_type"]),
    (
        422,
        &[
            "invalid",
            "change_refused",
            "coupon_unknown",
            "coupon_expired",
            "coupon_currency",
            "subscription_ended",
            "before_start",
        ],
    ),
    (429, &["too_many_requests"]),
    (500, &["internal"]),
    (503, &["busy", "unavailable"]),
    (504, &["timeout"]),
];

/// Whether [`CODES`] declares `code` for `status`.
pub fn declared(status: u16, code: &str) -> bool {
    CODES
        .iter()
        .any(|(s, codes)| *s == status && codes.contains(&code))
}

/// The sentence an error response's description ends with: the codes it may carry.
fn codes_of(status: &str) -> Option<String> {
    let status: u16 = status.parse().ok()?;
    let (_, codes) = CODES.iter().find(|(s, _)| *s == status)?;
    let list: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
    Some(format!(" (`code`: {})", list.join(", ")))
}

/// Declares the problem schema and, on every operation, the statuses of [`ANY`] and those its
/// parameters and body make possible; every error response gets the problem schema, and every
/// response its `X-Request-Id` header.
pub fn declare_problems(api: &mut OpenApi) {
    let components = api.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("Problem".to_string(), RefOr::T(problem_schema()));
    for item in api.paths.paths.values_mut() {
        if let Some(post) = item.post.as_mut() {
            declare_idempotency(post);
        }
        for operation in operations(item) {
            let parameters = operation.parameters.as_deref().unwrap_or_default();
            let mut add: Vec<(u16, &str)> = ANY.to_vec();
            if !parameters.is_empty() {
                add.extend(WITH_PARAMETERS);
            }
            if parameters
                .iter()
                .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path))
            {
                add.extend(WITH_PATH);
            }
            if operation.request_body.is_some() {
                add.extend(WITH_BODY);
            }
            let responses = &mut operation.responses.responses;
            for (status, description) in add {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::T(Response::new(description)));
            }
            for (status, response) in responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                if status.starts_with('4') || status.starts_with('5') {
                    if let Some(codes) = codes_of(status) {
                        if !response.description.contains("(`code`:") {
                            response.description.push_str(&codes);
                        }
                    }
                    response.content.clear();
                    response.content.insert(
                        PROBLEM.to_string(),
                        Content::new(Some(Ref::from_schema_name("Problem"))),
                    );
                }
                response.headers.insert(
                    "X-Request-Id".to_string(),
                    utoipa::openapi::header::HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some(
                            "The request's id, as in the server's log lines: the caller's own when \
                             it sent a sane `X-Request-Id`, else a fresh one",
                        ))
                        .build(),
                );
                if matches!(status.as_str(), "429" | "503") {
                    response.headers.insert(
                        "Retry-After".to_string(),
                        Header::new(ObjectBuilder::new().schema_type(Type::Integer)),
                    );
                }
            }
        }
    }
}

/// Writes a type that flattens another (`#[serde(flatten)]`, e.g. `NewSubscription` over
/// `SubscriptionSpec`, `AccountOut` over `Account`) as one object with both sets of
/// properties, wherever it appears (a component, or inlined in a list's page). utoipa writes
/// it `allOf` the two, and the flattened type's `additionalProperties: false` (its
/// `deny_unknown_fields`) would then refuse the outer type's own fields in any validator or
/// generated client. A flattened tagged enum (a product limit over its `kind`, a timeline
/// event over its change) becomes `oneOf` one such object per variant.
pub fn merge_flattened(api: &mut OpenApi) {
    let Some(components) = api.components.as_mut() else {
        return;
    };
    let named: std::collections::BTreeMap<String, Schema> = components
        .schemas
        .iter()
        .filter_map(|(name, schema)| match schema {
            RefOr::T(s) => Some((name.clone(), s.clone())),
            RefOr::Ref(_) => None,
        })
        .collect();
    for schema in components.schemas.values_mut() {
        merge_in(schema, &named);
    }
}

fn merge_in(schema: &mut RefOr<Schema>, named: &std::collections::BTreeMap<String, Schema>) {
    let RefOr::T(inner) = schema else {
        return;
    };
    match inner {
        Schema::Object(o) => o.properties.values_mut().for_each(|p| merge_in(p, named)),
        Schema::Array(a) => {
            if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut a.items {
                merge_in(items, named);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(|i| merge_in(i, named)),
        Schema::AllOf(all) => {
            // Every object the whole may be: the product of its parts' alternatives.
            let mut merged = vec![Object::with_type(Type::Object)];
            for item in &all.items {
                let Some(alternatives) = objects_of(item, named) else {
                    // Not objects all the way: left as utoipa wrote it.
                    return;
                };
                merged = merged
                    .iter()
                    .flat_map(|m| {
                        alternatives.iter().map(move |part| {
                            let mut m = m.clone();
                            m.properties.extend(part.properties.clone());
                            m.required.extend(part.required.iter().cloned());
                            if part.description.is_some() {
                                m.description = part.description.clone();
                            }
                            m
                        })
                    })
                    .collect();
            }
            *schema = RefOr::T(match <[Object; 1]>::try_from(merged) {
                Ok([mut one]) => {
                    one.description = all.description.clone();
                    #[allow(deprecated)] // OpenAPI 3.1 keeps `example` beside `examples`
                    {
                        one.example = all.example.clone();
                    }
                    one.examples = all.examples.clone();
                    Schema::Object(one)
                }
                Err(variants) => {
                    let mut one = utoipa::openapi::schema::OneOfBuilder::new()
                        .description(all.description.clone());
                    for v in variants {
                        one = one.item(Schema::Object(v));
                    }
                    Schema::OneOf(one.build())
                }
            });
        }
        _ => {}
    }
}

/// The objects a part of an `allOf` may be: itself when it is an object, each variant of a
/// `oneOf` of objects; `None` for anything else.
fn objects_of(
    item: &RefOr<Schema>,
    named: &std::collections::BTreeMap<String, Schema>,
) -> Option<Vec<Object>> {
    let resolve = |item: &RefOr<Schema>| -> Option<Schema> {
        match item {
            RefOr::Ref(r) => named.get(r.ref_location.rsplit('/').next()?).cloned(),
            RefOr::T(s) => Some(s.clone()),
        }
    };
    match resolve(item)? {
        Schema::Object(o) => Some(vec![o]),
        Schema::OneOf(one) => one
            .items
            .iter()
            .map(|variant| match resolve(variant)? {
                Schema::Object(o) => Some(o),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// The pattern of a local date-time as chrono writes and reads a `NaiveDateTime`.
const LOCAL_DATE_TIME: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$";

/// Declares the date-times as what they are: local date-times without an offset
/// (`2024-07-10T00:00:00`, chrono's `NaiveDateTime`: a moment of the billing calendar, in the
/// account's time zone), `format: date-time-local` with their pattern. utoipa writes them
/// `format: date-time`, RFC 3339's, which requires an offset: validators refused every answer
/// carrying one, and generated requests with an offset were refused by the server. Every
/// date-time of this API is local (the one UTC instant, a call record's `started_at`, is
/// read from a free-form event); an instant would need its own schema.
pub fn local_date_times(api: &mut OpenApi) {
    fn walk(schema: &mut RefOr<Schema>) {
        let RefOr::T(schema) = schema else {
            return;
        };
        match schema {
            Schema::Object(o) => {
                if matches!(
                    o.format,
                    Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))
                ) {
                    o.format = Some(SchemaFormat::Custom("date-time-local".to_string()));
                    o.pattern = Some(LOCAL_DATE_TIME.to_string());
                }
                o.properties.values_mut().for_each(walk);
            }
            Schema::Array(a) => {
                if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut a.items {
                    walk(items);
                }
            }
            Schema::OneOf(one) => one.items.iter_mut().for_each(walk),
            Schema::AllOf(all) => all.items.iter_mut().for_each(walk),
            Schema::AnyOf(any) => any.items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    if let Some(components) = api.components.as_mut() {
        components.schemas.values_mut().for_each(walk);
    }
    for item in api.paths.paths.values_mut() {
        for operation in operations(item) {
            for parameter in operation.parameters.iter_mut().flatten() {
                if let Some(schema) = parameter.schema.as_mut() {
                    walk(schema);
                }
            }
        }
    }
}

/// Closes each variant of a contract change to fields it does not name, as the server does
/// (`deny_unknown_fields`, which utoipa writes on structs but not on an enum's variants).
pub fn close_contract_changes(api: &mut OpenApi) {
    let Some(components) = api.components.as_mut() else {
        return;
    };
    if let Some(RefOr::T(Schema::OneOf(one))) = components.schemas.get_mut("ContractChange") {
        for variant in &mut one.items {
            if let RefOr::T(Schema::Object(o)) = variant {
                o.additional_properties = Some(Box::new(
                    utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                ));
            }
        }
    }
}

/// Gives every operation a unique `operationId`, as OpenAPI requires and client generators
/// rely on (one function per operation): utoipa takes the handler's name, and several
/// resources have a `create`, `get` or `list`. A repeated name becomes its verb and the
/// path's last literal segment, singular for one object or a creation: `create_account`,
/// `get_subscription`, `list_webhook_endpoints`, `get_collection_settings`.
pub fn name_operations(api: &mut OpenApi) {
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for item in api.paths.paths.values_mut() {
        for operation in operations(item) {
            if let Some(id) = &operation.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for (path, item) in api.paths.paths.iter_mut() {
        for operation in operations(item) {
            let Some(id) = operation.operation_id.clone() else {
                continue;
            };
            if seen.get(&id).copied().unwrap_or(0) < 2 {
                continue;
            }
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let Some(noun) = segments.iter().rev().find(|s| !s.starts_with('{')) else {
                continue;
            };
            let noun = noun.replace('-', "_");
            let verb = id.split('_').next().unwrap_or(&id);
            let one = segments.last().is_some_and(|s| s.starts_with('{')) || verb == "create";
            let noun = match noun.strip_suffix('s') {
                Some(singular) if one && !noun.ends_with("ss") => singular.to_string(),
                _ => noun,
            };
            operation.operation_id = Some(format!("{verb}_{noun}"));
        }
    }
}

/// Drops the `default` utoipa writes beside a reference to another schema (a field of a type
/// whose missing fields take their defaults, such as `Seller.address`): the referenced
/// object's own fields say their defaults, and generators refuse an object default on a
/// model-typed property (openapi-python-client drops the whole schema).
pub fn drop_object_defaults(api: &mut OpenApi) {
    let Some(components) = api.components.as_mut() else {
        return;
    };
    for schema in components.schemas.values_mut() {
        let RefOr::T(Schema::Object(o)) = schema else {
            continue;
        };
        for property in o.properties.values_mut() {
            let RefOr::T(Schema::OneOf(one)) = property else {
                continue;
            };
            if one.default.is_none() || one.items.len() != 1 {
                continue;
            }
            if let Some(RefOr::Ref(mut r)) = one.items.first().cloned() {
                if let Some(description) = one.description.clone() {
                    r.description = description;
                }
                *property = RefOr::Ref(r);
            }
        }
    }
}

/// Every POST may carry `Idempotency-Key` (`crate::auth`): a retry with the same key and body
/// gets the first answer again, marked `Idempotent-Replayed`; one with the same key and another
/// body, or while the first is running, is refused with 409. Declared before the problems so
/// the header counts as a parameter (a malformed key answers 400).
fn declare_idempotency(post: &mut Operation) {
    let key = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .description(Some(
            "Makes the POST safe to retry: 1 to 255 visible ASCII characters, unique per request; \
             a retry with the same key and body answers what the first answered",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255)),
        ))
        .build();
    post.parameters.get_or_insert_with(Vec::new).push(key);
    let responses = &mut post.responses.responses;
    for (status, response) in responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
            response.headers.insert(
                "Idempotent-Replayed".to_string(),
                utoipa::openapi::header::HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some("`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"))
                    .build(),
            );
        }
    }
    const REFUSED: &str = "`idempotency_key_in_progress`: a request with this `Idempotency-Key` is running or was interrupted; `idempotency_key_reused`: the key was used with another request";
    match responses.get_mut("409") {
        Some(RefOr::T(conflict)) => {
            conflict.description = format!("{}; or {REFUSED}", conflict.description);
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            responses.insert("409".to_string(), RefOr::T(Response::new(REFUSED)));
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// RFC 9457's members as [`crate::error::ApiError`] writes them.
fn problem_schema() -> Schema {
    let string = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    };
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("An RFC 9457 problem document"))
            .property("type", string("The problem's URI, by its code"))
            .property("title", string("The status's reason phrase"))
            .property("status", ObjectBuilder::new().schema_type(Type::Integer))
            .property("detail", string("What went wrong, for a person"))
            .property(
                "code",
                string(
                    "A stable code, for a program: each error response lists those it may carry",
                )
                .enum_values(Some(
                    CODES.iter().flat_map(|(_, codes)| codes.iter().copied()),
                )),
            )
            .property("field", string("The field concerned, when there is one"))
            .property(
                "refusal",
                // anyOf: both kinds share `ended` and `before_start`.
                utoipa::openapi::schema::AnyOfBuilder::new()
                    .item(Ref::from_schema_name("ChangeRefusal"))
                    .item(Ref::from_schema_name("CouponRefusal"))
                    .description(Some(
                        "Why a contract change (`change_refused`) or a coupon (`coupon_…`) was \
                         refused: its `reason` and the rule's figures, e.g. a notice deadline",
                    )),
            )
            .required("type")
            .required("title")
            .required("status")
            .required("detail")
            .required("code")
            .build(),
    )
}
