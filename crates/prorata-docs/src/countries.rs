//! Country names as a reader of each language writes them, from the ISO 3166-1 alpha-2 codes
//! accounts and sellers are stored with: `DE` prints `Allemagne` in French, `Germany` in
//! English. The table holds the European Economic Area, the United Kingdom and Switzerland
//! (where VAT rules reach) and the countries SaaS vendors bill most; any other code prints as
//! itself, which is still what the XML carries.

use prorata_core::Lang;

/// Code, English name, French name (with the article-free form used in addresses).
const COUNTRIES: &[(&str, &str, &str)] = &[
    ("AD", "Andorra", "Andorre"),
    ("AE", "United Arab Emirates", "Émirats arabes unis"),
    ("AR", "Argentina", "Argentine"),
    ("AT", "Austria", "Autriche"),
    ("AU", "Australia", "Australie"),
    ("BE", "Belgium", "Belgique"),
    ("BG", "Bulgaria", "Bulgarie"),
    ("BR", "Brazil", "Brésil"),
    ("CA", "Canada", "Canada"),
    ("CH", "Switzerland", "Suisse"),
    ("CI", "Côte d’Ivoire", "Côte d’Ivoire"),
    ("CL", "Chile", "Chili"),
    ("CM", "Cameroon", "Cameroun"),
    ("CN", "China", "Chine"),
    ("CO", "Colombia", "Colombie"),
    ("CY", "Cyprus", "Chypre"),
    ("CZ", "Czechia", "Tchéquie"),
    ("DE", "Germany", "Allemagne"),
    ("DK", "Denmark", "Danemark"),
    ("DZ", "Algeria", "Algérie"),
    ("EE", "Estonia", "Estonie"),
    ("EG", "Egypt", "Égypte"),
    ("ES", "Spain", "Espagne"),
    ("FI", "Finland", "Finlande"),
    ("FR", "France", "France"),
    ("GB", "United Kingdom", "Royaume-Uni"),
    ("GR", "Greece", "Grèce"),
    ("HK", "Hong Kong", "Hong Kong"),
    ("HR", "Croatia", "Croatie"),
    ("HU", "Hungary", "Hongrie"),
    ("IE", "Ireland", "Irlande"),
    ("IL", "Israel", "Israël"),
    ("IN", "India", "Inde"),
    ("IS", "Iceland", "Islande"),
    ("IT", "Italy", "Italie"),
    ("JP", "Japan", "Japon"),
    ("KR", "South Korea", "Corée du Sud"),
    ("LI", "Liechtenstein", "Liechtenstein"),
    ("LT", "Lithuania", "Lituanie"),
    ("LU", "Luxembourg", "Luxembourg"),
    ("LV", "Latvia", "Lettonie"),
    ("MA", "Morocco", "Maroc"),
    ("MC", "Monaco", "Monaco"),
    ("MT", "Malta", "Malte"),
    ("MX", "Mexico", "Mexique"),
    ("NL", "Netherlands", "Pays-Bas"),
    ("NO", "Norway", "Norvège"),
    ("NZ", "New Zealand", "Nouvelle-Zélande"),
    ("PL", "Poland", "Pologne"),
    ("PT", "Portugal", "Portugal"),
    ("RO", "Romania", "Roumanie"),
    ("RS", "Serbia", "Serbie"),
    ("SE", "Sweden", "Suède"),
    ("SG", "Singapore", "Singapour"),
    ("SI", "Slovenia", "Slovénie"),
    ("SK", "Slovakia", "Slovaquie"),
    ("SN", "Senegal", "Sénégal"),
    ("TN", "Tunisia", "Tunisie"),
    ("TR", "Türkiye", "Turquie"),
    ("UA", "Ukraine", "Ukraine"),
    ("US", "United States", "États-Unis"),
    ("ZA", "South Africa", "Afrique du Sud"),
];

/// The country of `code` in `lang`, or the code as given when the table lacks it.
pub fn country(lang: Lang, code: &str) -> String {
    let upper = code.trim().to_ascii_uppercase();
    match COUNTRIES.binary_search_by(|(c, _, _)| c.cmp(&upper.as_str())) {
        Ok(i) => {
            let (_, en, fr) = COUNTRIES[i];
            match lang {
                Lang::En => en.to_string(),
                Lang::Fr => fr.to_string(),
            }
        }
        Err(_) => code.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_so_every_code_is_found() {
        assert!(COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0));
        for (code, en, fr) in COUNTRIES {
            assert_eq!(country(Lang::En, code), *en);
            assert_eq!(country(Lang::Fr, &code.to_ascii_lowercase()), *fr);
        }
    }

    #[test]
    fn countries_print_in_the_readers_language_and_unknown_codes_as_given() {
        assert_eq!(country(Lang::Fr, "DE"), "Allemagne");
        assert_eq!(country(Lang::En, "DE"), "Germany");
        assert_eq!(country(Lang::Fr, "ZZ"), "ZZ");
    }
}
