//! Payment methods and the tenant's collection settings.

use prorata_core::payment::{self, CollectionSettings, PaymentMethod};
use prorata_core::Money;
use prorata_store::Tenant;

use super::{gateway_error, NewPaymentMethod};
use crate::gateway::BankAccount;
use crate::random_hex;
use crate::{invalid, Engine, EngineError, Result};

impl Engine {
    pub async fn set_collection_settings(
        &self,
        tenant: &Tenant,
        settings: &CollectionSettings,
    ) -> Result<()> {
        settings
            .validate()
            .map_err(|e| invalid(e.field, e.problem))?;
        let mut tx = self.store.begin().await?;
        tx.set_collection(tenant.id, settings).await?;
        tx.commit().await?;
        self.forget_tenants();
        Ok(())
    }

    /// Makes `input` the account's payment method. A card is authorised for one unit of the
    /// account's currency (1 USD for a USD account) and the authorisation voided at once
    /// (seed 004); a refused authorisation refuses the card with the gateway's reason. An
    /// account in dunning gets a charge queued: seed 004 retries an updated card in the next
    /// batch.
    pub async fn add_payment_method(
        &self,
        tenant: &Tenant,
        account_id: i64,
        input: &NewPaymentMethod,
    ) -> Result<PaymentMethod> {
        let account = self.account(tenant, account_id).await?;
        let today = Engine::today(tenant);
        let key = format!("t{}-pm-{account_id}-{}", tenant.id, random_hex(8)?);
        let method = match input {
            NewPaymentMethod::Card { token } => {
                payment::check_token("token", token).map_err(|e| invalid(e.field, e.problem))?;
                let card = self
                    .gateway
                    .card(&crate::gateway::merchant(tenant.id), token)
                    .await
                    .map_err(gateway_error)?;
                payment::check_expiry(card.exp_month, card.exp_year, today).map_err(|e| {
                    EngineError::PaymentRefused(format!("card refused: {}", e.problem))
                })?;
                let one =
                    Money::from_minor(10_i64.pow(account.currency.exponent()), account.currency);
                let auth = self
                    .gateway
                    .authorise(&format!("{key}-auth"), token, one, today)
                    .await
                    .map_err(|e| match gateway_error(e) {
                        EngineError::PaymentRefused(m) => {
                            EngineError::PaymentRefused(format!("card refused: {m}"))
                        }
                        other => other,
                    })?;
                self.gateway
                    .void(&format!("{key}-void"), &auth)
                    .await
                    .map_err(gateway_error)?;
                PaymentMethod::Card {
                    token: token.clone(),
                    brand: card.brand,
                    last4: card.last4,
                    exp_month: card.exp_month,
                    exp_year: card.exp_year,
                }
            }
            NewPaymentMethod::SepaDebit {
                iban,
                mandate_reference,
            } => {
                let iban = payment::check_iban(iban).map_err(|e| invalid(e.field, e.problem))?;
                let mandate = match mandate_reference {
                    Some(m) if !m.trim().is_empty() => {
                        if m.len() > 35 || payment::contains_card_number(m) {
                            return Err(invalid("mandate_reference", "at most 35 characters"));
                        }
                        m.trim().to_string()
                    }
                    _ => format!("PRORATA-{}-{account_id}-{}", tenant.id, random_hex(4)?),
                };
                let token = self
                    .gateway
                    .attach_bank_account(&key, &BankAccount::Iban(iban.clone()))
                    .await
                    .map_err(gateway_error)?;
                PaymentMethod::SepaDebit {
                    token,
                    iban: payment::mask_iban(&iban),
                    mandate_reference: mandate,
                }
            }
            NewPaymentMethod::AchDebit {
                routing_number,
                account_number,
            } => {
                let routing = payment::check_routing_number(routing_number)
                    .map_err(|e| invalid(e.field, e.problem))?;
                let number = payment::check_account_number(account_number)
                    .map_err(|e| invalid(e.field, e.problem))?;
                let token = self
                    .gateway
                    .attach_bank_account(
                        &key,
                        &BankAccount::Ach {
                            routing: routing.clone(),
                            account: number.clone(),
                        },
                    )
                    .await
                    .map_err(gateway_error)?;
                PaymentMethod::AchDebit {
                    token,
                    routing_number: routing,
                    account_number: payment::mask_last4(&number),
                }
            }
            NewPaymentMethod::BankTransfer => PaymentMethod::BankTransfer,
        };
        let mut tx = self.store.begin().await?;
        tx.attach_payment_method(tenant.id, account_id, &method)
            .await?;
        let standing = tx.standing(tenant.id, account_id).await?;
        if method.token().is_some() {
            let effects = standing.method_updated();
            self.apply_effects(&mut tx, tenant, account_id, &account, &effects, today)
                .await?;
        }
        tx.commit().await?;
        Ok(method)
    }

    pub async fn payment_method(
        &self,
        tenant: &Tenant,
        account_id: i64,
    ) -> Result<Option<PaymentMethod>> {
        self.account(tenant, account_id).await?;
        let mut tx = self.store.begin().await?;
        Ok(tx.payment_method(tenant.id, account_id).await?)
    }
}
