//! Where webhooks may go: never inside the vendor's network (server-side request forgery). A
//! destination is refused when it names `localhost` or an address that is loopback, private,
//! link-local (the cloud metadata service lives there), shared, unspecified or multicast —
//! unless a sandbox tenant lists the host in its settings, to receive its own test hooks.
//! Live tenants send over https only. The server checks names again when it connects: a name
//! that resolves inside is refused then too (DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// A tenant's exceptions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookRules {
    /// Hosts (names or addresses, as written in endpoint URLs) a sandbox tenant may send to
    /// although they are inside, e.g. `127.0.0.1` for a test receiver. Ignored for live tenants.
    pub sandbox_private_hosts: Vec<String>,
}

/// Whether `ip` is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        // 100.64.0.0/10, carrier-grade NAT; 0.0.0.0/8; 198.18.0.0/15 benchmarking.
        || (a == 100 && (64..128).contains(&b))
        || a == 0
        || (a == 198 && (b == 18 || b == 19)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80)
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("must start with https:// (or http:// for a sandbox tenant)")]
    Scheme,
    #[error("must name a host, without spaces, in at most 2000 characters")]
    Malformed,
    #[error(
        "{0} is inside the network (loopback, private or link-local): webhooks go to the internet"
    )]
    Inside(String),
}

/// The host of an http(s) URL, without brackets around an IPv6 address or the port.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next();
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

/// Whether a tenant (live or sandbox, with its rules) may send webhooks to `url`, as far as
/// the URL itself tells (names are resolved and checked again when connecting).
pub fn check(url: &str, sandbox: bool, rules: &WebhookRules) -> Result<(), Refused> {
    let https = url.starts_with("https://");
    if !(https || (sandbox && url.starts_with("http://"))) {
        return Err(Refused::Scheme);
    }
    let host = host_of(url)
        .filter(|h| !h.is_empty())
        .ok_or(Refused::Malformed)?;
    if url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Refused::Malformed);
    }
    if sandbox && allowed_inside(host, rules) {
        return Ok(());
    }
    let lower = host.to_ascii_lowercase();
    let named_inside = lower == "localhost" || lower.ends_with(".localhost");
    let addressed_inside = lower.parse::<IpAddr>().is_ok_and(|ip| !is_public(ip));
    if named_inside || addressed_inside {
        return Err(Refused::Inside(host.to_string()));
    }
    Ok(())
}

/// Whether a sandbox's rules let it send to `host` although it is inside.
pub fn allowed_inside(host: &str, rules: &WebhookRules) -> bool {
    rules
        .sandbox_private_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_addresses_are_refused_and_public_ones_pass() {
        let none = WebhookRules::default();
        for url in [
            "http://127.0.0.1:9/x",
            "https://127.0.0.1/x",
            "https://localhost/x",
            "https://10.0.0.5/x",
            "https://192.168.1.1/x",
            "https://172.16.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]:8080/x",
            "https://[fd00::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://0.0.0.0/x",
            "https://100.64.0.1/x",
            "https://user@127.0.0.1/x",
        ] {
            assert!(check(url, true, &none).is_err(), "{url}");
            assert!(check(url, false, &none).is_err(), "{url}");
        }
        assert!(check("https://hooks.example.com/prorata", false, &none).is_ok());
        assert!(check("https://93.184.216.34/x", false, &none).is_ok());
    }

    #[test]
    fn live_tenants_need_https_and_sandboxes_may_allow_their_own_receiver() {
        let none = WebhookRules::default();
        assert_eq!(
            check("http://hooks.example.com/", false, &none),
            Err(Refused::Scheme)
        );
        assert!(check("http://hooks.example.com/", true, &none).is_ok());
        assert_eq!(
            check("ftp://example.com", true, &none),
            Err(Refused::Scheme)
        );
        let rules = WebhookRules {
            sandbox_private_hosts: vec!["127.0.0.1".into()],
        };
        assert!(check("http://127.0.0.1:9000/hook", true, &rules).is_ok());
        assert!(
            check("https://127.0.0.1:9000/hook", false, &rules).is_err(),
            "live: never"
        );
        assert!(
            check("http://10.0.0.1/hook", true, &rules).is_err(),
            "only the listed host"
        );
    }
}
