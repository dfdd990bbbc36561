//! One module per resource.

pub mod accounts;
pub mod admin;
pub mod catalogs;
pub mod clock;
pub mod coupons;
pub mod documents;
pub mod export;
pub mod keys;
pub mod payments;
pub mod people;
pub mod subscriptions;
pub mod tickets;
pub mod usage;
pub mod webhooks;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// `?limit=&cursor=`: at most 100 items a page, 50 by default.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl PageQuery {
    /// `(after, limit)` for the store.
    pub fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be between 1 and 100"));
        }
        let after = match &self.cursor {
            None => 0,
            Some(c) => c
                .parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| ApiError::invalid("cursor", "not a cursor this API returned"))?,
        };
        Ok((after, limit))
    }
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> ListResponse<T> {
    pub fn new(data: Vec<T>, next: Option<i64>) -> Self {
        ListResponse {
            data,
            next_cursor: next.map(|n| n.to_string()),
        }
    }
}
