//! Sending e-mail: over SMTP with `lettre` (plain, STARTTLS or TLS, credentials in the URL),
//! or, with no SMTP configured (the embedded default), as `.eml` files in a folder.
//!
//! Every message is `multipart/alternative` (the text part, then the HTML part, both made by
//! `prorata_docs::mail`); one with attachments wraps that in `multipart/mixed`.
//!
//! Each message's `Message-ID` is made from its job (`<job-{tenant}-{id}@prorata>`), so a
//! message sent again after a crash is the same message to the receiving side, and a
//! file written again overwrites itself.

use std::path::PathBuf;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue, MessageId};
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use prorata_core::Lang;
use prorata_docs::mail::Composed;

/// `Content-Language` (RFC 3282): which language the message is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentLanguage(String);

impl Header for ContentLanguage {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Language")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ContentLanguage(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Where e-mail goes.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        links: String,
    },
    Folder {
        dir: PathBuf,
        from: Mailbox,
        links: String,
    },
}

/// Where links in e-mails point when nothing else is said: the default `serve` address.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

impl std::fmt::Debug for Mailer {
    // The transport holds the SMTP credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp { from, .. } => write!(f, "Mailer::Smtp(from {from})"),
            Mailer::Folder { dir, from, .. } => {
                write!(f, "Mailer::Folder({}, from {from})", dir.display())
            }
        }
    }
}

impl Mailer {
    /// `url`: `smtp://host:port` (plain), `smtp://host:587?tls=required` (STARTTLS),
    /// `smtps://user:password@host:465` (TLS); lettre's connection URL.
    pub fn smtp(url: &str, from: &str) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("SMTP URL: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        Ok(Mailer::Smtp {
            transport,
            from: from.parse().map_err(|e| format!("sender {from:?}: {e}"))?,
            links: DEFAULT_PUBLIC_URL.into(),
        })
    }

    pub fn folder(dir: PathBuf, from: &str) -> Result<Mailer, String> {
        Ok(Mailer::Folder {
            dir,
            from: from.parse().map_err(|e| format!("sender {from:?}: {e}"))?,
            links: DEFAULT_PUBLIC_URL.into(),
        })
    }

    /// The same mailer writing links to the portal at `public_url` (e.g.
    /// `https://billing.example.com`).
    pub fn with_links(self, public_url: &str) -> Mailer {
        let base = public_url.trim_end_matches('/').to_string();
        match self {
            Mailer::Smtp {
                transport, from, ..
            } => Mailer::Smtp {
                transport,
                from,
                links: base,
            },
            Mailer::Folder { dir, from, .. } => Mailer::Folder {
                dir,
                from,
                links: base,
            },
        }
    }

    /// The portal's public address, for links.
    pub fn links(&self) -> &str {
        match self {
            Mailer::Smtp { links, .. } | Mailer::Folder { links, .. } => links,
        }
    }

    fn from(&self) -> &Mailbox {
        match self {
            Mailer::Smtp { from, .. } | Mailer::Folder { from, .. } => from,
        }
    }

    /// Builds the message of `composed` for `to`; an address that does not parse fails the
    /// message (it would bounce anyway), naming the address.
    pub fn message(
        &self,
        to: &[String],
        composed: &Composed,
        lang: Lang,
        message_id: &str,
    ) -> Result<Message, String> {
        let mut builder = Message::builder()
            .from(self.from().clone())
            .subject(composed.subject.clone())
            .header(MessageId::from(format!("<{message_id}>")))
            .header(ContentLanguage(lang.as_str().into()));
        if to.is_empty() {
            return Err("no recipient".into());
        }
        for address in to {
            let mailbox: Mailbox = address
                .parse()
                .map_err(|e| format!("recipient {address:?}: {e}"))?;
            builder = builder.to(mailbox);
        }
        // The text and the HTML are one message in two forms (the client shows the best it
        // can); attachments go beside them in a mixed part.
        let alternative =
            MultiPart::alternative_plain_html(composed.text.clone(), composed.html.clone());
        let message = if composed.attachments.is_empty() {
            builder.multipart(alternative)
        } else {
            let mut parts = MultiPart::mixed().multipart(alternative);
            for a in &composed.attachments {
                let content_type = ContentType::parse(a.content_type)
                    .map_err(|e| format!("attachment type: {e}"))?;
                parts = parts.singlepart(
                    Attachment::new(a.filename.clone()).body(a.body.clone(), content_type),
                );
            }
            builder.multipart(parts)
        };
        message.map_err(|e| format!("message: {e}"))
    }

    /// Sends `message`; `name` names its file in folder mode.
    pub async fn send(&self, message: Message, name: &str) -> Result<(), String> {
        match self {
            Mailer::Smtp { transport, .. } => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP: {e}")),
            Mailer::Folder { dir, .. } => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("{}: {e}", dir.display()))?;
                let path = dir.join(format!("{name}.eml"));
                // Written aside then renamed: a reader never sees half a message.
                let tmp = dir.join(format!(".{name}.eml.tmp"));
                tokio::fs::write(&tmp, message.formatted())
                    .await
                    .map_err(|e| format!("{}: {e}", tmp.display()))?;
                tokio::fs::rename(&tmp, &path)
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }
}
