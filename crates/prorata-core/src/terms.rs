//! The wording of a tenant's contract terms that the portal shows: the clause behind the
//! notice rule (seed 001 cites "T&C 13.1.b") and the reasons a customer may give when
//! cancelling. A tenant setting, in both languages.

use serde::{Deserialize, Serialize};

use crate::catalog::Text;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Terms {
    /// The clause a late downgrade or cancellation is refused under.
    pub notice_clause: Text,
    /// Reasons offered when cancelling; the customer picks one.
    pub cancellation_reasons: Vec<Text>,
}

fn text(en: &str, fr: &str) -> Text {
    Text {
        en: en.into(),
        fr: fr.into(),
    }
}

impl Default for Terms {
    fn default() -> Terms {
        Terms {
            notice_clause: text(
                "Terms and Conditions, clause 13.1.b",
                "Conditions générales, article 13.1.b",
            ),
            cancellation_reasons: vec![
                text("Too expensive", "Trop cher"),
                text("Missing features", "Fonctionnalités manquantes"),
                text("Moving to another product", "Passage à un autre produit"),
                text(
                    "Company closing or reorganising",
                    "Fermeture ou réorganisation",
                ),
                text("Other", "Autre"),
            ],
        }
    }
}
