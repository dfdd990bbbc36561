//! People and who may do what: the one access policy of the product.
//!
//! A person is a user of one tenant, either of one customer account (seed 003's owner,
//! admins and agents) or of the tenant's staff (the billing team, account managers, the
//! tenant's administrators). [`decide`] answers, for a person, an action and the object it
//! touches (an account, and that account's dunning standing), whether it is allowed or why
//! not. Every page and every portal action asks it; nothing else decides.

use serde::{Deserialize, Serialize};

/// A person's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The customer's account owner: exactly one per account, transferable by the owner.
    Owner,
    Admin,
    Agent,
    /// The vendor's billing team (seed 000: invoices, payments, country, state, VAT number).
    BillingTeam,
    /// The vendor's account manager (seed 000: subscription and contract changes).
    AccountManager,
    /// The vendor's administrator of the tenant (staff users, settings).
    TenantAdmin,
}

pub const ROLES: [Role; 6] = [
    Role::Owner,
    Role::Admin,
    Role::Agent,
    Role::BillingTeam,
    Role::AccountManager,
    Role::TenantAdmin,
];

impl Role {
    /// The name the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::BillingTeam => "billing_team",
            Role::AccountManager => "account_manager",
            Role::TenantAdmin => "tenant_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        ROLES.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the role belongs to a customer account (else to the tenant's staff).
    pub fn is_customer(self) -> bool {
        matches!(self, Role::Owner | Role::Admin | Role::Agent)
    }
}

/// Where a user stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Invited; has not set a password yet.
    Invited,
    Active,
    /// Removed from the account or the staff: cannot sign in.
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Invited => "invited",
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<UserStatus> {
        [
            UserStatus::Invited,
            UserStatus::Active,
            UserStatus::Disabled,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person {
    pub role: Role,
    /// The customer account a customer user belongs to; `None` for staff.
    pub account_id: Option<i64>,
}

/// What is acted on: a customer account, and its dunning standing (which decides how far its
/// own users may still get in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub account_id: i64,
    pub standing: crate::dunning::Status,
}

/// Everything a page or a portal action may ask to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Use the portal at all.
    SignIn,
    /// "My company", General tab (seed 003).
    ViewCompany,
    /// Company name, website, logo.
    EditCompany,
    /// Plan tab: plan, dates, licence table.
    ViewPlan,
    /// Ask for an upgrade, a downgrade or a cancellation (seed 001).
    RequestChange,
    /// Billing tab: payment status, invoices, contacts, card, address (seeds 003, 004).
    ViewBilling,
    /// An invoice's or credit note's PDF or XML (seed 004: only the owner).
    DownloadDocument,
    /// Whether the billing address may be edited at all; which fields is
    /// [`crate::account`]'s business (the trial rule).
    EditBillingAddress,
    EditBillingContacts,
    /// Replace the card, or another payment method.
    ManagePaymentMethod,
    /// Pay the outstanding balance (staff: record a payment for the customer).
    Pay,
    ViewUsers,
    /// Invite and remove users of the account.
    ManageUsers,
    TransferOwnership,
    /// Staff: apply or refuse a customer's change request.
    DecideChangeRequest,
    /// The account's support tickets (a customer sees the ones they may read, see
    /// [`decide_on_ticket`]; staff see every account's).
    ViewTickets,
    /// File a support ticket and reply in its thread, attachments included (seed 000).
    FileTicket,
    /// Staff: answer a ticket, add an internal note, set its status, assign it.
    AnswerTicket,
    /// Staff: the back office's account search and account pages (company, users,
    /// subscriptions, documents, ledger, tickets, audit trail).
    ViewAccounts,
    /// Staff: change an account's country, state or VAT number (seed 003: the billing team's,
    /// the new values on future documents only).
    ChangeTaxDetails,
    /// Staff: send documents again to the invoice recipients (seed 004: one, or a month's).
    SendDocuments,
    /// The tenant's administrators: staff users, contact reasons and their routing, the
    /// terms' wording, accounts' managers.
    ManageTenant,
}

pub const ACTIONS: [Action; 22] = [
    Action::SignIn,
    Action::ViewCompany,
    Action::EditCompany,
    Action::ViewPlan,
    Action::RequestChange,
    Action::ViewBilling,
    Action::DownloadDocument,
    Action::EditBillingAddress,
    Action::EditBillingContacts,
    Action::ManagePaymentMethod,
    Action::Pay,
    Action::ViewUsers,
    Action::ManageUsers,
    Action::TransferOwnership,
    Action::DecideChangeRequest,
    Action::ViewTickets,
    Action::FileTicket,
    Action::AnswerTicket,
    Action::ViewAccounts,
    Action::ChangeTaxDetails,
    Action::SendDocuments,
    Action::ManageTenant,
];

impl Action {
    /// The name the API and the logs use (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SignIn => "sign_in",
            Action::ViewCompany => "view_company",
            Action::EditCompany => "edit_company",
            Action::ViewPlan => "view_plan",
            Action::RequestChange => "request_change",
            Action::ViewBilling => "view_billing",
            Action::DownloadDocument => "download_document",
            Action::EditBillingAddress => "edit_billing_address",
            Action::EditBillingContacts => "edit_billing_contacts",
            Action::ManagePaymentMethod => "manage_payment_method",
            Action::Pay => "pay",
            Action::ViewUsers => "view_users",
            Action::ManageUsers => "manage_users",
            Action::TransferOwnership => "transfer_ownership",
            Action::DecideChangeRequest => "decide_change_request",
            Action::ViewTickets => "view_tickets",
            Action::FileTicket => "file_ticket",
            Action::AnswerTicket => "answer_ticket",
            Action::ViewAccounts => "view_accounts",
            Action::ChangeTaxDetails => "change_tax_details",
            Action::SendDocuments => "send_documents",
            Action::ManageTenant => "manage_tenant",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        ACTIONS.into_iter().find(|a| a.as_str() == s)
    }

    /// The vendor's work on its customers, never a customer's.
    fn is_staff_only(self) -> bool {
        matches!(
            self,
            Action::DecideChangeRequest
                | Action::AnswerTicket
                | Action::ViewAccounts
                | Action::ChangeTaxDetails
                | Action::SendDocuments
                | Action::ManageTenant
        )
    }

    /// What an owner whose account is suspended or cancelled may still do: sign in, see what
    /// is owed, fix the payment method and pay (seed 004) — or send the billing team a proof
    /// of payment in a ticket, which is how a transfer payer gets reactivated.
    fn allowed_to_pay_only(self) -> bool {
        matches!(
            self,
            Action::SignIn
                | Action::ViewBilling
                | Action::DownloadDocument
                | Action::ManagePaymentMethod
                | Action::Pay
                | Action::ViewTickets
                | Action::FileTicket
        )
    }
}

/// Why an action is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Denial {
    #[error("this belongs to another account")]
    OtherAccount,
    #[error("the {} role may not do this", role.as_str())]
    Role { role: Role },
    #[error("the account is suspended: only its owner may sign in, to pay")]
    PayOnly,
    #[error("the account is suspended or closed: no access")]
    NoAccess,
}

impl Denial {
    /// A stable machine code: the message key of pages and the API's error code.
    pub fn code(self) -> &'static str {
        match self {
            Denial::OtherAccount => "other_account",
            Denial::Role { .. } => "role",
            Denial::PayOnly => "pay_only",
            Denial::NoAccess => "no_access",
        }
    }
}

/// What each role may do on an account in good standing (seeds 000, 003, 004). The standing
/// narrows this for customer users; staff ignore it.
fn role_allows(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Owner => !action.is_staff_only(),
        Role::Admin => matches!(
            action,
            SignIn
                | ViewCompany
                | EditCompany
                | ViewPlan
                | RequestChange
                | ViewUsers
                | ManageUsers
                | ViewTickets
                | FileTicket
        ),
        Role::Agent => matches!(action, SignIn | ViewCompany | ViewPlan),
        // Seed 000: invoices, payments, addresses; not subscription changes.
        Role::BillingTeam => matches!(
            action,
            SignIn
                | ViewCompany
                | ViewPlan
                | ViewBilling
                | DownloadDocument
                | EditBillingAddress
                | EditBillingContacts
                | ManagePaymentMethod
                | Pay
                | ViewUsers
                | ViewTickets
                | AnswerTicket
                | ViewAccounts
                | ChangeTaxDetails
                | SendDocuments
        ),
        // Seed 000: subscription and contract changes go to the account manager.
        Role::AccountManager => matches!(
            action,
            SignIn
                | ViewCompany
                | ViewPlan
                | RequestChange
                | DecideChangeRequest
                | ViewUsers
                | ViewTickets
                | AnswerTicket
                | ViewAccounts
        ),
        // Ownership is the customer's to give; paying is the billing team's to record; a
        // ticket is the customer's to file.
        Role::TenantAdmin => !matches!(action, TransferOwnership | Pay | FileTicket),
    }
}

/// Whether `person` may do `action` on `target`, or why not.
///
/// The checks run in this order, so a refusal tells no more than the person may know: another
/// account (nothing about it is revealed), then the account's dunning standing (customer
/// users only; one source of truth, [`crate::dunning::Standing::access`]), then the role.
pub fn decide(person: Person, action: Action, target: Target) -> Result<(), Denial> {
    let denied = Denial::Role { role: person.role };
    if !person.role.is_customer() {
        // Staff act on any account of their tenant (the store and session check the tenant).
        return role_allows(person.role, action).then_some(()).ok_or(denied);
    }
    if person.account_id != Some(target.account_id) {
        return Err(Denial::OtherAccount);
    }
    let standing = crate::dunning::Standing {
        status: target.standing,
        ..Default::default()
    };
    match standing.access(person.role) {
        crate::dunning::Access::Full => {}
        crate::dunning::Access::PayOnly if action.allowed_to_pay_only() => {}
        crate::dunning::Access::PayOnly => return Err(Denial::PayOnly),
        crate::dunning::Access::None => return Err(Denial::NoAccess),
    }
    role_allows(person.role, action).then_some(()).ok_or(denied)
}

/// Whether `person` may do `action` on `target` to a user of that account whose role is
/// `subject` (the caller has checked the user belongs to `target`): remove them ([`Action::ManageUsers`]) or make them the owner
/// ([`Action::TransferOwnership`]). Other actions do not depend on a subject and are
/// [`decide`]d as they are.
///
/// Nobody removes the owner (ownership is transferred first); the owner and admins manage
/// admins and agents; the tenant's administrators manage any user but the owner; ownership
/// goes from the owner to an admin or an agent of the same account.
pub fn decide_on_user(
    person: Person,
    action: Action,
    target: Target,
    subject: Role,
) -> Result<(), Denial> {
    decide(person, action, target)?;
    let allowed = match action {
        Action::ManageUsers => match person.role {
            Role::TenantAdmin => subject != Role::Owner,
            _ => matches!(subject, Role::Admin | Role::Agent),
        },
        Action::TransferOwnership => matches!(subject, Role::Admin | Role::Agent),
        _ => true,
    };
    allowed
        .then_some(())
        .ok_or(Denial::Role { role: person.role })
}

/// Whether a staff `role` may do `action` at all: what a back-office page that is about no
/// one account (the queues, the search) asks. A customer's role may not.
pub fn staff_may(role: Role, action: Action) -> bool {
    !role.is_customer() && role_allows(role, action)
}

/// Whether `person`, signed in as user `user_id`, may do `action` ([`Action::ViewTickets`],
/// [`Action::FileTicket`] for a reply, [`Action::AnswerTicket`]) on a ticket of `target` filed by
/// `requester`. Staff of the tenant reach every ticket their role allows; of the customer's
/// people, the owner reads every ticket of the account (billing is theirs, seed 004) and the
/// others only the tickets they filed — another person's ticket is refused as another
/// account's, telling nothing of it.
pub fn decide_on_ticket(
    person: Person,
    user_id: i64,
    action: Action,
    target: Target,
    requester: Option<i64>,
) -> Result<(), Denial> {
    decide(person, action, target)?;
    if person.role.is_customer() && person.role != Role::Owner && requester != Some(user_id) {
        return Err(Denial::OtherAccount);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dunning::Status;

    const OURS: i64 = 7;
    const THEIRS: i64 = 8;
    const STATUSES: [Status; 5] = [
        Status::Active,
        Status::PastDue,
        Status::Suspended,
        Status::Cancelled,
        Status::Purged,
    ];

    fn person(role: Role) -> Person {
        Person {
            role,
            account_id: role.is_customer().then_some(OURS),
        }
    }

    fn on(account_id: i64, standing: Status) -> Target {
        Target {
            account_id,
            standing,
        }
    }

    /// The policy, written out by hand. Per role and action: the outcome on our own account
    /// for each standing (active, past due, suspended, cancelled, purged), then on another
    /// account. `.` allowed, `R` the role may not, `$` pay only, `X` no access, `O` another
    /// account's.
    const TABLE: &str = "
        owner  sign_in                . . . . X | O O O O O
        owner  view_company           . . $ $ X | O O O O O
        owner  edit_company           . . $ $ X | O O O O O
        owner  view_plan              . . $ $ X | O O O O O
        owner  request_change         . . $ $ X | O O O O O
        owner  view_billing           . . . . X | O O O O O
        owner  download_document      . . . . X | O O O O O
        owner  edit_billing_address   . . $ $ X | O O O O O
        owner  edit_billing_contacts  . . $ $ X | O O O O O
        owner  manage_payment_method  . . . . X | O O O O O
        owner  pay                    . . . . X | O O O O O
        owner  view_users             . . $ $ X | O O O O O
        owner  manage_users           . . $ $ X | O O O O O
        owner  transfer_ownership     . . $ $ X | O O O O O
        owner  decide_change_request  R R $ $ X | O O O O O
        owner  view_tickets           . . . . X | O O O O O
        owner  file_ticket            . . . . X | O O O O O
        owner  answer_ticket          R R $ $ X | O O O O O
        owner  view_accounts          R R $ $ X | O O O O O
        owner  change_tax_details     R R $ $ X | O O O O O
        owner  send_documents         R R $ $ X | O O O O O
        owner  manage_tenant          R R $ $ X | O O O O O

        admin  sign_in                . . X X X | O O O O O
        admin  view_company           . . X X X | O O O O O
        admin  edit_company           . . X X X | O O O O O
        admin  view_plan              . . X X X | O O O O O
        admin  request_change         . . X X X | O O O O O
        admin  view_billing           R R X X X | O O O O O
        admin  download_document      R R X X X | O O O O O
        admin  edit_billing_address   R R X X X | O O O O O
        admin  edit_billing_contacts  R R X X X | O O O O O
        admin  manage_payment_method  R R X X X | O O O O O
        admin  pay                    R R X X X | O O O O O
        admin  view_users             . . X X X | O O O O O
        admin  manage_users           . . X X X | O O O O O
        admin  transfer_ownership     R R X X X | O O O O O
        admin  decide_change_request  R R X X X | O O O O O
        admin  view_tickets           . . X X X | O O O O O
        admin  file_ticket            . . X X X | O O O O O
        admin  answer_ticket          R R X X X | O O O O O
        admin  view_accounts          R R X X X | O O O O O
        admin  change_tax_details     R R X X X | O O O O O
        admin  send_documents         R R X X X | O O O O O
        admin  manage_tenant          R R X X X | O O O O O

        agent  sign_in                . . X X X | O O O O O
        agent  view_company           . . X X X | O O O O O
        agent  edit_company           R R X X X | O O O O O
        agent  view_plan              . . X X X | O O O O O
        agent  request_change         R R X X X | O O O O O
        agent  view_billing           R R X X X | O O O O O
        agent  download_document      R R X X X | O O O O O
        agent  edit_billing_address   R R X X X | O O O O O
        agent  edit_billing_contacts  R R X X X | O O O O O
        agent  manage_payment_method  R R X X X | O O O O O
        agent  pay                    R R X X X | O O O O O
        agent  view_users             R R X X X | O O O O O
        agent  manage_users           R R X X X | O O O O O
        agent  transfer_ownership     R R X X X | O O O O O
        agent  decide_change_request  R R X X X | O O O O O
        agent  view_tickets           R R X X X | O O O O O
        agent  file_ticket            R R X X X | O O O O O
        agent  answer_ticket          R R X X X | O O O O O
        agent  view_accounts          R R X X X | O O O O O
        agent  change_tax_details     R R X X X | O O O O O
        agent  send_documents         R R X X X | O O O O O
        agent  manage_tenant          R R X X X | O O O O O

        billing_team  sign_in                . . . . . | . . . . .
        billing_team  view_company           . . . . . | . . . . .
        billing_team  edit_company           R R R R R | R R R R R
        billing_team  view_plan              . . . . . | . . . . .
        billing_team  request_change         R R R R R | R R R R R
        billing_team  view_billing           . . . . . | . . . . .
        billing_team  download_document      . . . . . | . . . . .
        billing_team  edit_billing_address   . . . . . | . . . . .
        billing_team  edit_billing_contacts  . . . . . | . . . . .
        billing_team  manage_payment_method  . . . . . | . . . . .
        billing_team  pay                    . . . . . | . . . . .
        billing_team  view_users             . . . . . | . . . . .
        billing_team  manage_users           R R R R R | R R R R R
        billing_team  transfer_ownership     R R R R R | R R R R R
        billing_team  decide_change_request  R R R R R | R R R R R
        billing_team  view_tickets           . . . . . | . . . . .
        billing_team  file_ticket            R R R R R | R R R R R
        billing_team  answer_ticket          . . . . . | . . . . .
        billing_team  view_accounts          . . . . . | . . . . .
        billing_team  change_tax_details     . . . . . | . . . . .
        billing_team  send_documents         . . . . . | . . . . .
        billing_team  manage_tenant          R R R R R | R R R R R

        account_manager  sign_in                . . . . . | . . . . .
        account_manager  view_company           . . . . . | . . . . .
        account_manager  edit_company           R R R R R | R R R R R
        account_manager  view_plan              . . . . . | . . . . .
        account_manager  request_change         . . . . . | . . . . .
        account_manager  view_billing           R R R R R | R R R R R
        account_manager  download_document      R R R R R | R R R R R
        account_manager  edit_billing_address   R R R R R | R R R R R
        account_manager  edit_billing_contacts  R R R R R | R R R R R
        account_manager  manage_payment_method  R R R R R | R R R R R
        account_manager  pay                    R R R R R | R R R R R
        account_manager  view_users             . . . . . | . . . . .
        account_manager  manage_users           R R R R R | R R R R R
        account_manager  transfer_ownership     R R R R R | R R R R R
        account_manager  decide_change_request  . . . . . | . . . . .
        account_manager  view_tickets           . . . . . | . . . . .
        account_manager  file_ticket            R R R R R | R R R R R
        account_manager  answer_ticket          . . . . . | . . . . .
        account_manager  view_accounts          . . . . . | . . . . .
        account_manager  change_tax_details     R R R R R | R R R R R
        account_manager  send_documents         R R R R R | R R R R R
        account_manager  manage_tenant          R R R R R | R R R R R

        tenant_admin  sign_in                . . . . . | . . . . .
        tenant_admin  view_company           . . . . . | . . . . .
        tenant_admin  edit_company           . . . . . | . . . . .
        tenant_admin  view_plan              . . . . . | . . . . .
        tenant_admin  request_change         . . . . . | . . . . .
        tenant_admin  view_billing           . . . . . | . . . . .
        tenant_admin  download_document      . . . . . | . . . . .
        tenant_admin  edit_billing_address   . . . . . | . . . . .
        tenant_admin  edit_billing_contacts  . . . . . | . . . . .
        tenant_admin  manage_payment_method  . . . . . | . . . . .
        tenant_admin  pay                    R R R R R | R R R R R
        tenant_admin  view_users             . . . . . | . . . . .
        tenant_admin  manage_users           . . . . . | . . . . .
        tenant_admin  transfer_ownership     R R R R R | R R R R R
        tenant_admin  decide_change_request  . . . . . | . . . . .
        tenant_admin  view_tickets           . . . . . | . . . . .
        tenant_admin  file_ticket            R R R R R | R R R R R
        tenant_admin  answer_ticket          . . . . . | . . . . .
        tenant_admin  view_accounts          . . . . . | . . . . .
        tenant_admin  change_tax_details     . . . . . | . . . . .
        tenant_admin  send_documents         . . . . . | . . . . .
        tenant_admin  manage_tenant          . . . . . | . . . . .
    ";

    fn cell(outcome: Result<(), Denial>) -> &'static str {
        match outcome {
            Ok(()) => ".",
            Err(Denial::Role { .. }) => "R",
            Err(Denial::PayOnly) => "$",
            Err(Denial::NoAccess) => "X",
            Err(Denial::OtherAccount) => "O",
        }
    }

    #[test]
    fn the_policy_is_the_table_for_every_role_action_standing_and_account() {
        let mut seen = std::collections::BTreeSet::new();
        let mut mismatches = Vec::new();
        for row in TABLE.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let words: Vec<&str> = row.split_whitespace().collect();
            let (Some(role), Some(action)) = (
                words.first().and_then(|w| Role::parse(w)),
                words.get(1).and_then(|w| Action::parse(w)),
            ) else {
                mismatches.push(format!("unreadable row: {row}"));
                continue;
            };
            let expected: Vec<&str> = words
                .iter()
                .skip(2)
                .copied()
                .filter(|w| *w != "|")
                .collect();
            assert_eq!(expected.len(), 10, "{row}");
            assert!(seen.insert((role, action.as_str())), "row twice: {row}");
            let p = person(role);
            let cases = STATUSES
                .iter()
                .map(|s| on(OURS, *s))
                .chain(STATUSES.iter().map(|s| on(THEIRS, *s)));
            for (target, want) in cases.zip(expected) {
                let got = cell(decide(p, action, target));
                if got != want {
                    mismatches.push(format!(
                        "{} {} on {} ({}): expected {want}, got {got}",
                        role.as_str(),
                        action.as_str(),
                        if target.account_id == OURS {
                            "own account"
                        } else {
                            "another account"
                        },
                        target.standing.as_str()
                    ));
                }
            }
        }
        assert_eq!(
            seen.len(),
            ROLES.len() * ACTIONS.len(),
            "every pair has a row"
        );
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn an_agent_never_sees_billing() {
        for status in STATUSES {
            for action in [Action::ViewBilling, Action::DownloadDocument, Action::Pay] {
                assert!(decide(person(Role::Agent), action, on(OURS, status)).is_err());
            }
        }
    }

    #[test]
    fn a_suspended_owner_may_only_pay() {
        let owner = person(Role::Owner);
        let allowed: Vec<Action> = ACTIONS
            .into_iter()
            .filter(|a| decide(owner, *a, on(OURS, Status::Suspended)).is_ok())
            .collect();
        assert_eq!(
            allowed,
            [
                Action::SignIn,
                Action::ViewBilling,
                Action::DownloadDocument,
                Action::ManagePaymentMethod,
                Action::Pay,
                Action::ViewTickets,
                Action::FileTicket,
            ]
        );
        assert_eq!(
            decide(owner, Action::EditCompany, on(OURS, Status::Suspended)),
            Err(Denial::PayOnly)
        );
    }

    #[test]
    fn a_suspended_admin_cannot_even_sign_in() {
        assert_eq!(
            decide(
                person(Role::Admin),
                Action::SignIn,
                on(OURS, Status::Suspended)
            ),
            Err(Denial::NoAccess)
        );
    }

    #[test]
    fn a_customer_never_learns_the_standing_of_another_account() {
        assert_eq!(
            decide(
                person(Role::Owner),
                Action::ViewPlan,
                on(THEIRS, Status::Purged)
            ),
            Err(Denial::OtherAccount)
        );
        let lost = Person {
            role: Role::Owner,
            account_id: None,
        };
        assert_eq!(
            decide(lost, Action::SignIn, on(OURS, Status::Active)),
            Err(Denial::OtherAccount)
        );
    }

    #[test]
    fn an_admin_cannot_remove_the_owner() {
        let t = on(OURS, Status::Active);
        for role in [Role::Owner, Role::Admin, Role::TenantAdmin] {
            assert_eq!(
                decide_on_user(person(role), Action::ManageUsers, t, Role::Owner),
                Err(Denial::Role { role })
            );
        }
    }

    #[test]
    fn an_admin_manages_admins_and_agents() {
        let t = on(OURS, Status::Active);
        for subject in [Role::Admin, Role::Agent] {
            assert_eq!(
                decide_on_user(person(Role::Admin), Action::ManageUsers, t, subject),
                Ok(())
            );
            assert_eq!(
                decide_on_user(person(Role::TenantAdmin), Action::ManageUsers, t, subject),
                Ok(())
            );
        }
        assert_eq!(
            decide_on_user(
                person(Role::Admin),
                Action::ManageUsers,
                t,
                Role::BillingTeam
            ),
            Err(Denial::Role { role: Role::Admin })
        );
        assert_eq!(
            decide_on_user(person(Role::Agent), Action::ManageUsers, t, Role::Agent),
            Err(Denial::Role { role: Role::Agent })
        );
    }

    #[test]
    fn only_the_owner_transfers_ownership_and_only_to_an_admin_or_agent() {
        let t = on(OURS, Status::Active);
        let owner = person(Role::Owner);
        assert_eq!(
            decide_on_user(owner, Action::TransferOwnership, t, Role::Admin),
            Ok(())
        );
        assert_eq!(
            decide_on_user(owner, Action::TransferOwnership, t, Role::Agent),
            Ok(())
        );
        assert_eq!(
            decide_on_user(owner, Action::TransferOwnership, t, Role::Owner),
            Err(Denial::Role { role: Role::Owner })
        );
        for role in [Role::Admin, Role::TenantAdmin] {
            assert_eq!(
                decide_on_user(person(role), Action::TransferOwnership, t, Role::Agent),
                Err(Denial::Role { role })
            );
        }
        assert_eq!(
            decide_on_user(
                owner,
                Action::TransferOwnership,
                on(THEIRS, Status::Active),
                Role::Admin
            ),
            Err(Denial::OtherAccount)
        );
    }

    #[test]
    fn only_staff_work_in_the_back_office() {
        for role in ROLES {
            assert_eq!(
                staff_may(role, Action::ViewAccounts),
                !role.is_customer(),
                "{role:?}"
            );
        }
        assert!(staff_may(Role::BillingTeam, Action::ChangeTaxDetails));
        assert!(!staff_may(Role::AccountManager, Action::ChangeTaxDetails));
        assert!(!staff_may(Role::Owner, Action::ViewBilling));
    }

    #[test]
    fn a_ticket_is_read_by_its_requester_the_owner_and_the_staff_only() {
        let t = on(OURS, Status::Active);
        let (me, someone) = (41, 42);
        for action in [Action::ViewTickets, Action::FileTicket] {
            assert_eq!(
                decide_on_ticket(person(Role::Admin), me, action, t, Some(me)),
                Ok(())
            );
            assert_eq!(
                decide_on_ticket(person(Role::Admin), me, action, t, Some(someone)),
                Err(Denial::OtherAccount)
            );
            // Filed through the API: the owner's to read, nobody else's.
            assert_eq!(
                decide_on_ticket(person(Role::Admin), me, action, t, None),
                Err(Denial::OtherAccount)
            );
            assert_eq!(
                decide_on_ticket(person(Role::Owner), me, action, t, Some(someone)),
                Ok(())
            );
            assert_eq!(
                decide_on_ticket(
                    person(Role::Owner),
                    me,
                    action,
                    on(THEIRS, Status::Active),
                    Some(me)
                ),
                Err(Denial::OtherAccount)
            );
        }
        for role in [Role::BillingTeam, Role::AccountManager, Role::TenantAdmin] {
            assert_eq!(
                decide_on_ticket(person(role), me, Action::AnswerTicket, t, Some(someone)),
                Ok(())
            );
        }
        assert_eq!(
            decide_on_ticket(person(Role::Agent), me, Action::ViewTickets, t, Some(me)),
            Err(Denial::Role { role: Role::Agent })
        );
    }

    #[test]
    fn denials_have_stable_codes_and_tagged_json() {
        let role = Denial::Role { role: Role::Agent };
        assert_eq!(role.code(), "role");
        assert_eq!(role.to_string(), "the agent role may not do this");
        assert_eq!(
            serde_json::to_value(role).ok(),
            Some(serde_json::json!({"reason": "role", "role": "agent"}))
        );
        assert_eq!(
            serde_json::to_value(Denial::PayOnly).ok(),
            Some(serde_json::json!({"reason": "pay_only"}))
        );
        for d in [Denial::OtherAccount, Denial::PayOnly, Denial::NoAccess] {
            assert_eq!(
                serde_json::to_value(d).ok(),
                Some(serde_json::json!({ "reason": d.code() }))
            );
        }
    }

    #[test]
    fn action_names_match_serde() {
        for a in ACTIONS {
            assert_eq!(
                serde_json::to_value(a).ok(),
                Some(serde_json::Value::String(a.as_str().into()))
            );
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
    }
}
