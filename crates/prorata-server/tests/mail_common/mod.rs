//! Reading e-mails as a mail client would: the leaf parts of a MIME message, decoded.
#![allow(dead_code)]

/// The leaf parts of a MIME message, decoded: (content type, body).
pub fn parts(data: &str) -> Vec<(String, String)> {
    use base64::Engine as _;
    let data = data.replace("\r\n", "\n");
    let mut out = Vec::new();
    for chunk in data.split("\n--") {
        let Some((head, body)) = chunk.split_once("\n\n") else {
            continue;
        };
        let lower = head.to_ascii_lowercase();
        let Some(ct) = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-type: "))
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        else {
            continue;
        };
        if ct.starts_with("multipart/") {
            continue;
        }
        let body = body.split("\n--").next().unwrap_or("");
        let decoded = if lower.contains("content-transfer-encoding: base64") {
            let b64: String = body.lines().collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .unwrap_or_default()
        } else if lower.contains("content-transfer-encoding: quoted-printable") {
            quoted_printable(body)
        } else {
            body.as_bytes().to_vec()
        };
        out.push((ct, String::from_utf8_lossy(&decoded).into_owned()));
    }
    out
}

fn quoted_printable(s: &str) -> Vec<u8> {
    let joined = s.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}
