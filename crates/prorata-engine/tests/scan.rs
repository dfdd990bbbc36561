//! Issue 14: with a ClamAV daemon configured, every file of a ticket message is scanned before
//! it is accepted. These tests run a real clamd (Debian's `clamav-daemon`, started by
//! `prorata_testkit::clamd` with a one-signature database for the EICAR test file) against
//! the engine on SQLite: an infected file is refused naming it and the signature, a clean PDF
//! is stored, and a scanner that is down refuses uploads as unavailable; nothing is stored
//! by a refused message.

#[macro_use]
mod common;

use common::*;
use prorata_core::access::Role;
use prorata_engine::scan::Scanner;
use prorata_engine::tickets::{Actor, TicketInput, Upload};
use prorata_engine::{Engine, EngineError};
use prorata_store::{QueueFilter, Tenant};
use prorata_testkit::clamd::{Clamd, EICAR};

/// A small, well-formed one-page PDF: what a customer's transfer receipt looks like.
const CLEAN_PDF: &[u8] = b"%PDF-1.4\n\
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n\
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >> endobj\n\
4 0 obj << /Length 44 >> stream\n\
BT /F1 12 Tf 72 770 Td (Virement recu) Tj ET\n\
endstream endobj\n\
trailer << /Root 1 0 R >>\n\
%%EOF\n";

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

struct World {
    engine: Engine,
    tenant: Tenant,
    account: i64,
    // Removes the SQLite file's directory when the test ends.
    _db: prorata_testkit::TempDirGuard,
}

async fn world(scanner: Scanner) -> World {
    let (url, db) = prorata_testkit::sqlite_url();
    let engine = open(&url).await.with_scanner(scanner);
    let tenant = sandbox(&engine, "Vendor", d(2025, 7, 1)).await;
    let account = engine
        .create_account(&tenant, &french_account("Lumen"))
        .await
        .expect("account");
    World {
        engine,
        tenant,
        account,
        _db: db,
    }
}

const OWNER: Actor<'static> = Actor {
    user_id: None,
    role: Some(Role::Owner),
    address: Some("198.51.100.7"),
};

fn upload(name: &str, bytes: &[u8]) -> Upload {
    Upload {
        name: name.into(),
        bytes: bytes.to_vec(),
    }
}

fn input(w: &World, files: Vec<Upload>) -> TicketInput {
    TicketInput {
        account_id: w.account,
        reason: "billing".into(),
        subject: "Virement de juillet".into(),
        body: "Voici la preuve de virement.".into(),
        document_id: None,
        files,
    }
}

/// No ticket, no audit record, no webhook event: nothing of a refused message was stored.
async fn assert_nothing_stored(w: &World) {
    let tickets = w
        .engine
        .tickets(&w.tenant, &QueueFilter::default(), 0, 50)
        .await
        .expect("list");
    assert!(tickets.items.is_empty(), "no ticket: {:?}", tickets.items);
    let trail = w
        .engine
        .audit_trail(&w.tenant, w.account, 0, 50)
        .await
        .expect("trail");
    assert!(trail.items.is_empty(), "no audit: {:?}", trail.items);
    let mut tx = w.engine.store.read().await.expect("tx");
    assert_eq!(tx.outbox_count(w.tenant.id).await.expect("outbox"), 0);
}

#[test]
fn the_test_file_is_the_standard_eicar_string() {
    assert_eq!(EICAR.len(), 68);
    assert!(EICAR.starts_with(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR"));
}

#[tokio::test]
async fn an_infected_file_is_refused_naming_it_and_its_signature_and_nothing_is_stored() {
    let clamd = Clamd::start();
    let w = world(Scanner::new(&clamd.address())).await;
    // The EICAR file under a PDF's or a picture's name, alone or after a clean file.
    for (files, index, name) in [
        (vec![upload("proof.pdf", EICAR)], 0, "proof.pdf"),
        (
            vec![upload("receipt.pdf", CLEAN_PDF), upload("proof.png", EICAR)],
            1,
            "proof.png",
        ),
    ] {
        match w
            .engine
            .file_ticket(&w.tenant, OWNER, &input(&w, files))
            .await
        {
            Err(EngineError::Invalid { field, problem }) => {
                assert_eq!(field, format!("files[{index}]"));
                assert_eq!(
                    problem,
                    format!(
                        "the file \"{name}\" contains a virus (Eicar-Test-Signature) and was refused"
                    )
                );
            }
            other => panic!("{name}: not refused as infected: {other:?}"),
        }
    }
    assert_nothing_stored(&w).await;

    // A reply carrying it leaves the thread as it was.
    let ticket = w
        .engine
        .file_ticket(&w.tenant, OWNER, &input(&w, vec![upload("a.png", PNG)]))
        .await
        .expect("a clean ticket");
    let refused = w
        .engine
        .reply_to_ticket(
            &w.tenant,
            Actor::API,
            ticket.ticket.id,
            "Voici le document.",
            false,
            &[upload("proof.pdf", EICAR)],
        )
        .await;
    assert!(
        matches!(&refused, Err(EngineError::Invalid { field, problem })
            if field == "files[0]" && problem.contains("(Eicar-Test-Signature)")),
        "{refused:?}"
    );
    let after = w
        .engine
        .ticket(&w.tenant, ticket.ticket.id, true)
        .await
        .expect("ticket");
    assert_eq!(after.messages.len(), 1, "no message added");
    assert_eq!(after.files.len(), 1, "no file added");
    assert_eq!(after.ticket.status, ticket.ticket.status);
}

#[tokio::test]
async fn a_clean_pdf_is_scanned_and_stored() {
    let clamd = Clamd::start();
    let w = world(Scanner::new(&clamd.address())).await;
    let view = w
        .engine
        .file_ticket(
            &w.tenant,
            OWNER,
            &input(&w, vec![upload("receipt.pdf", CLEAN_PDF)]),
        )
        .await
        .expect("a clean PDF is accepted");
    assert_eq!(view.files.len(), 1);
    assert_eq!(view.files[0].name, "receipt.pdf");
    let (_, bytes) = w
        .engine
        .ticket_file(&w.tenant, view.ticket.id, view.files[0].id, false)
        .await
        .expect("file");
    assert_eq!(bytes, CLEAN_PDF);
    let reply = w
        .engine
        .reply_to_ticket(
            &w.tenant,
            Actor::API,
            view.ticket.id,
            "Bien reçu.",
            false,
            &[upload("copie.pdf", CLEAN_PDF)],
        )
        .await
        .expect("a clean reply is accepted");
    assert_eq!(reply.files.len(), 2);
}

#[tokio::test]
async fn a_scanner_that_is_down_refuses_uploads_as_unavailable_and_nothing_is_stored() {
    let mut clamd = Clamd::start();
    let w = world(Scanner::new(&clamd.address())).await;
    clamd.stop();
    let got = w
        .engine
        .file_ticket(
            &w.tenant,
            OWNER,
            &input(&w, vec![upload("receipt.pdf", CLEAN_PDF)]),
        )
        .await;
    match got {
        Err(EngineError::Unavailable(why)) => {
            assert!(why.contains("nothing was stored"), "{why}");
            assert!(!why.contains("clamd.sock"), "no internal path: {why}");
        }
        other => panic!("an unscanned file was not refused: {other:?}"),
    }
    assert_nothing_stored(&w).await;
    // A message without files needs no scanner.
    w.engine
        .file_ticket(&w.tenant, OWNER, &input(&w, vec![]))
        .await
        .expect("a message without files");
}
