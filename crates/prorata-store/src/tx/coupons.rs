//! Coupon redemptions: who redeemed which code, counted against the coupon's
//! `max_redemptions` inside the transaction that records the redemption on the timeline.

use chrono::NaiveDate;
use sqlx::Row;

use super::{Inner, Tx};
use crate::Result;

impl Tx {
    /// Locks `code`'s counter row of `tenant` until the transaction ends (creating it the first
    /// time), so that counting and recording a redemption of the code is one step: a second
    /// transaction redeeming the same code waits here, then counts the first one's row.
    /// PostgreSQL holds the `UPDATE`'s row lock; on SQLite the write takes the one writer's
    /// lock before the count is read.
    pub async fn lock_coupon(&mut self, tenant: i64, code: &str) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO coupon_counters (tenant_id, code) VALUES ($1, $2) \
                 ON CONFLICT (tenant_id, code) DO NOTHING",
            )
            .bind(tenant)
            .bind(code)
            .execute(&mut *conn)
            .await?;
            sqlx::query("UPDATE coupon_counters SET code = code WHERE tenant_id = $1 AND code = $2")
                .bind(tenant)
                .bind(code)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    /// How many subscriptions of `tenant` other than `except` have redeemed `code`.
    pub async fn coupon_redemptions(
        &mut self,
        tenant: i64,
        code: &str,
        except: i64,
    ) -> Result<i64> {
        on_tx!(self, conn => {
            let row = sqlx::query(
                "SELECT COUNT(*) FROM coupon_redemptions \
                 WHERE tenant_id = $1 AND code = $2 AND subscription_id <> $3",
            )
            .bind(tenant)
            .bind(code)
            .bind(except)
            .fetch_one(&mut *conn)
            .await?;
            Ok(row.try_get::<i64, _>(0)?)
        })
    }

    /// Records that `subscription` redeemed `code` on `on`; true when it is its first
    /// redemption of the code (a code applied again after its removal is the same one).
    pub async fn insert_coupon_redemption(
        &mut self,
        tenant: i64,
        code: &str,
        subscription: i64,
        on: NaiveDate,
    ) -> Result<bool> {
        on_tx!(self, conn => {
            let done = sqlx::query(
                "INSERT INTO coupon_redemptions (tenant_id, code, subscription_id, redeemed_on) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, code, subscription_id) DO NOTHING",
            )
            .bind(tenant)
            .bind(code)
            .bind(subscription)
            .bind(on)
            .execute(&mut *conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
