//! The message catalogue: every string a person reads, in English and French
//! (`messages/en.toml`, `messages/fr.toml`, compiled into the binary). A test fails when a key
//! exists in one language only, or when a template names a key that exists in neither.
//!
//! Placeholders are `{name}`, filled by [`Messages::fmt`]. Plain TOML was chosen over Fluent:
//! the portal needs no plural or gender selectors beyond what a placeholder holds, and a
//! flat file per language is what translators are handed anyway.

use std::collections::BTreeMap;
use std::sync::Arc;

use prorata_core::Lang;

#[derive(Debug)]
pub struct Catalogue {
    en: BTreeMap<String, String>,
    fr: BTreeMap<String, String>,
}

/// Flattens `[section] key = "…"` into `section.key`.
fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            // Only strings are messages; anything else is a mistake the tests report as a
            // missing key.
            _ => {}
        }
    }
}

fn parse(source: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    // The files are part of the binary and checked by the tests: a syntax error there is a
    // build defect, shown as raw keys rather than a crash.
    if let Ok(table) = source.parse::<toml::Table>() {
        flatten("", &table, &mut out);
    }
    out
}

pub const EN: &str = include_str!("../messages/en.toml");
pub const FR: &str = include_str!("../messages/fr.toml");

impl Catalogue {
    pub fn load() -> Catalogue {
        Catalogue {
            en: parse(EN),
            fr: parse(FR),
        }
    }

    pub fn keys(&self, lang: Lang) -> impl Iterator<Item = &str> {
        match lang {
            Lang::En => self.en.keys(),
            Lang::Fr => self.fr.keys(),
        }
        .map(String::as_str)
    }

    fn get(&self, lang: Lang, key: &str) -> Option<&str> {
        match lang {
            Lang::En => self.en.get(key),
            Lang::Fr => self.fr.get(key),
        }
        .map(String::as_str)
    }
}

/// The catalogue in one language: what templates call `t.get("key")` on.
#[derive(Debug, Clone)]
pub struct Messages {
    catalogue: Arc<Catalogue>,
    pub lang: Lang,
}

impl Messages {
    pub fn new(catalogue: Arc<Catalogue>, lang: Lang) -> Messages {
        Messages { catalogue, lang }
    }

    /// The message `key`; the key itself when missing (a test keeps that from shipping).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.catalogue.get(self.lang, key).unwrap_or(key)
    }

    /// The message `key` with `{name}` placeholders filled.
    pub fn fmt(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.get(key).to_string();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    /// The message `key` with its one placeholder filled (what templates call).
    pub fn fmt1(&self, key: &str, name: &str, value: impl std::fmt::Display) -> String {
        self.fmt(key, &[(name, &value.to_string())])
    }

    /// `lang` code for `<html lang>`.
    pub fn code(&self) -> &'static str {
        self.lang.as_str()
    }
}

/// The first of English or French that `Accept-Language` names, in the order given (a
/// quality of 0 excludes a language).
pub fn negotiate(accept_language: &str) -> Option<Lang> {
    let mut best: Option<(u32, Lang)> = None;
    for part in accept_language.split(',') {
        let mut fields = part.trim().split(';');
        let tag = fields
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let q = fields
            .find_map(|f| f.trim().strip_prefix("q="))
            .map_or(1000, |q| parse_quality(q.trim()));
        let lang = if tag.starts_with("fr") {
            Lang::Fr
        } else if tag.starts_with("en") {
            Lang::En
        } else {
            continue;
        };
        if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l)
}

/// A quality value as thousandths ("0.8" → 800), without floating point.
fn parse_quality(q: &str) -> u32 {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    let int: u32 = int.parse().unwrap_or(0).min(1);
    let frac: String = frac.chars().chain("000".chars()).take(3).collect();
    (int * 1000 + frac.parse::<u32>().unwrap_or(0)).min(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_exists_in_both_languages() {
        let c = Catalogue::load();
        assert!(c.en.len() > 50, "the English catalogue parsed");
        let en: Vec<_> = c.keys(Lang::En).collect();
        let fr: Vec<_> = c.keys(Lang::Fr).collect();
        let only_en: Vec<_> = en.iter().filter(|k| !fr.contains(k)).collect();
        let only_fr: Vec<_> = fr.iter().filter(|k| !en.contains(k)).collect();
        assert!(only_en.is_empty(), "keys missing in French: {only_en:?}");
        assert!(only_fr.is_empty(), "keys missing in English: {only_fr:?}");
    }

    #[test]
    fn every_folder_of_sources_is_checked_for_keys() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/pages");
        let folders: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(folders, ["staff"], "add new folders to the key check below");
    }

    #[test]
    fn every_key_a_template_or_handler_names_exists() {
        let c = Catalogue::load();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/");
        let mut missing = Vec::new();
        for folder in ["templates", "src", "src/pages", "src/pages/staff"] {
            let Ok(entries) = std::fs::read_dir(format!("{dir}{folder}")) else {
                continue;
            };
            // This file names the calls it looks for.
            for e in entries.flatten().filter(|e| !e.path().ends_with("i18n.rs")) {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                for call in ["t.get(\"", "t.fmt(\"", "t.fmt1(\""] {
                    for piece in text.split(call).skip(1) {
                        let key = piece.split('"').next().unwrap_or_default();
                        if c.get(Lang::En, key).is_none() {
                            missing.push(format!("{}: {key}", e.path().display()));
                        }
                    }
                }
            }
        }
        assert!(missing.is_empty(), "unknown message keys: {missing:?}");
    }

    #[test]
    fn accept_language_picks_the_preferred_of_english_and_french() {
        assert_eq!(negotiate("fr-FR,fr;q=0.9,en;q=0.8"), Some(Lang::Fr));
        assert_eq!(negotiate("de-DE,en-GB;q=0.7,fr;q=0.6"), Some(Lang::En));
        assert_eq!(negotiate("en;q=0.2, fr;q=0.9"), Some(Lang::Fr));
        assert_eq!(negotiate("fr;q=0, de"), None);
        assert_eq!(negotiate(""), None);
    }

    #[test]
    fn placeholders_are_filled() {
        let m = Messages::new(Arc::new(Catalogue::load()), Lang::En);
        assert_eq!(
            m.fmt("plan.deadline", &[("date", "6 July 2024")]),
            m.get("plan.deadline").replace("{date}", "6 July 2024")
        );
    }
}
