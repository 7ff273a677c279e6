//! Target hosts in one form, whichever SDK gated the call: lower case, IDNA to ASCII, no
//! trailing dot, no port; IP addresses in their canonical text.

use std::net::Ipv6Addr;

/// Why a target host could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The host is empty (or only a dot, or only a port).
    #[error("the target host is empty")]
    Empty,
    /// After the host comes something that is not a port (`:` and digits).
    #[error("target host {host:?}: {rest:?} after the host is not a port")]
    BadPort {
        /// The host as given (at most 200 characters).
        host: String,
        /// What followed the host.
        rest: String,
    },
    /// Not a domain name or IP address (a forbidden character, a label IDNA refuses).
    #[error("target host {host:?} is not a domain name or IP address: {source}")]
    Invalid {
        /// The host as given (at most 200 characters).
        host: String,
        /// Why the URL host parser refused it.
        #[source]
        source: url::ParseError,
    },
    /// A label is empty (`a..b`, two trailing dots): the URL host parser takes it, but
    /// no host name has one.
    #[error("target host {host:?} is not a domain name or IP address: a label is empty")]
    EmptyLabel {
        /// The host as given (at most 200 characters).
        host: String,
    },
}

fn shown(host: &str) -> String {
    host.chars().take(200).collect()
}

/// Normalises a target host: lower case, internationalised names to their ASCII (IDNA,
/// UTS #46) form, one trailing dot removed, a port removed, IPv4 and IPv6 addresses in
/// canonical form (IPv6 without brackets: `::1`). Hosts are parsed as the WHATWG URL
/// standard parses them (so `127.1` is `127.0.0.1` and `%2E` is a dot), as browsers and
/// many HTTP clients do.
///
/// ```
/// use heso_engine::normalize_host;
/// assert_eq!(normalize_host("EVIL.example.com.").unwrap(), "evil.example.com");
/// assert_eq!(normalize_host("bücher.example:8443").unwrap(), "xn--bcher-kva.example");
/// assert_eq!(normalize_host("[::1]:80").unwrap(), "::1");
/// ```
pub fn normalize_host(host: &str) -> Result<String, HostError> {
    let name = strip_port(host)?;
    if name.is_empty() || name == "." {
        return Err(HostError::Empty);
    }
    // A bare IPv6 address (`::1`) is written with brackets in a URL.
    let bracketed;
    let input = if !name.starts_with('[') && name.parse::<Ipv6Addr>().is_ok() {
        bracketed = format!("[{name}]");
        bracketed.as_str()
    } else {
        name
    };
    let parsed = url::Host::parse(input).map_err(|source| HostError::Invalid {
        host: shown(host),
        source,
    })?;
    let text = match parsed {
        url::Host::Domain(domain) => domain,
        url::Host::Ipv4(address) => address.to_string(),
        url::Host::Ipv6(address) => address.to_string(),
    };
    let text = text.strip_suffix('.').unwrap_or(&text);
    if text.is_empty() || text.ends_with('.') || text.contains("..") {
        return Err(HostError::EmptyLabel { host: shown(host) });
    }
    Ok(text.to_owned())
}

/// The host without its port: `[v6]:port`, `name:port`; a bare IPv6 address (more than
/// one `:`) has none.
fn strip_port(host: &str) -> Result<&str, HostError> {
    let (name, rest) = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => host.split_at(end + 1),
            None => (host, ""),
        }
    } else if host.matches(':').count() == 1 {
        host.split_at(host.find(':').unwrap_or(host.len()))
    } else {
        (host, "")
    };
    if rest.is_empty() {
        return Ok(name);
    }
    match rest.strip_prefix(':') {
        Some(port) if port.bytes().all(|b| b.is_ascii_digit()) => Ok(name),
        _ => Err(HostError::BadPort {
            host: shown(host),
            rest: shown(rest),
        }),
    }
}
