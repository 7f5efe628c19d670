//! Who is at the keyboard: the admin password hashed with argon2id, session tokens (the
//! store keeps only their BLAKE2b hash), the token forms carry back (CSRF), cookies, and
//! the brake on guessing passwords.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, header};
use blake2::{Blake2b512, Digest};

/// The shortest admin password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// How long a session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "parcours_session";

/// The login form's own CSRF cookie: there is no session yet to hold its token.
pub const LOGIN_COOKIE: &str = "parcours_login";

/// The argon2id hash of a password (PHC string, salt and parameters included).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = parcours_store::random_hex(16).map_err(|e| e.to_string())?;
    let salt = SaltString::from_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` is the one `hash` was made from.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Why a new admin password is refused, if it is.
pub fn password_problem(password: &str, confirmation: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        Some(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        ))
    } else if password != confirmation {
        Some("the two passwords differ".to_string())
    } else {
        None
    }
}

/// A new random token (session, CSRF, setup): 32 bytes as hex.
pub fn new_token() -> Result<String, String> {
    parcours_store::random_hex(32).map_err(|e| e.to_string())
}

/// What the store keeps of a session token.
pub fn token_hash(token: &str) -> String {
    Blake2b512::digest(token.as_bytes())
        .iter()
        .take(32)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two secrets in a time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |differ, (x, y)| differ | (x ^ y))
            == 0
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite, `Secure` when the request came over HTTPS
/// through a proxy that says so.
pub fn set_cookie(
    headers: &HeaderMap,
    name: &str,
    value: &str,
    path: &str,
    max_age: Duration,
) -> String {
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// Whether a form post comes from a page of this server: a browser's `Origin` (or, for
/// older ones, `Sec-Fetch-Site`) naming another site is refused before any token is read.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin_ok = match (origin, host) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
    };
    origin_ok && !matches!(site, Some("cross-site" | "same-site"))
}

/// Wrong passwords allowed per address before it must wait.
pub const MAX_FAILURES: u32 = 10;
/// How long an address that failed too often waits, from its first failure.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts wrong passwords per address, so that guessing one takes years rather than
/// minutes.
#[derive(Default)]
pub struct Throttle(Mutex<HashMap<IpAddr, (u32, Instant)>>);

impl Throttle {
    /// How long `ip` must still wait before trying again, if it must.
    pub fn wait(&self, ip: IpAddr) -> Option<Duration> {
        let mut failures = self.0.lock().ok()?;
        let now = Instant::now();
        failures.retain(|_, (_, first)| now.duration_since(*first) < FAILURE_WINDOW);
        let (count, first) = failures.get(&ip)?;
        (*count >= MAX_FAILURES).then(|| FAILURE_WINDOW - now.duration_since(*first))
    }

    /// Records a wrong password from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        if let Ok(mut failures) = self.0.lock() {
            failures.entry(ip).or_insert((0, Instant::now())).0 += 1;
        }
    }

    /// Forgets `ip`'s failures once it logged in.
    pub fn succeeded(&self, ip: IpAddr) {
        if let Ok(mut failures) = self.0.lock() {
            failures.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse"));
        assert!(!verify_password(&hash, "correct horsf"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert_ne!(hash, hash_password("correct horse").unwrap(), "salted");
    }

    #[test]
    fn new_passwords_must_be_long_and_confirmed() {
        assert!(password_problem("short", "short").unwrap().contains("10"));
        assert!(
            password_problem("long enough!", "long enough?")
                .unwrap()
                .contains("differ")
        );
        assert_eq!(password_problem("long enough!", "long enough!"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
        assert_eq!(token_hash("t").len(), 64);
        assert_ne!(token_hash("t"), token_hash("u"));
    }

    #[test]
    fn posts_from_other_sites_are_told_apart() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        assert!(same_origin(&headers(&[("host", "a:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "a:8080"),
            ("origin", "http://a:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "a:8080"),
            ("origin", "http://evil")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "a"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "a"),
            ("sec-fetch-site", "same-origin")
        ])));
    }

    #[test]
    fn an_address_waits_after_too_many_failures_until_it_succeeds() {
        let throttle = Throttle::default();
        let (ip, other): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..MAX_FAILURES - 1 {
            throttle.failed(ip);
        }
        assert_eq!(throttle.wait(ip), None);
        throttle.failed(ip);
        assert!(throttle.wait(ip).is_some_and(|w| w <= FAILURE_WINDOW));
        assert_eq!(throttle.wait(other), None);
        throttle.succeeded(ip);
        assert_eq!(throttle.wait(ip), None);
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; parcours_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
        let set = set_cookie(&headers, "n", "v", "/", SESSION_LIFETIME);
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax") && !set.contains("Secure")
        );
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(set_cookie(&headers, "n", "v", "/", SESSION_LIFETIME).ends_with("; Secure"));
    }
}
