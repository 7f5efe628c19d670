//! The web UI's doors over real HTTP: who gets in, with what, how often, and what a page
//! may load. (The pages themselves, in a real browser: tests/browser/serve.test.mjs.)

mod common;

use common::{Server, temp_dir};
use parcours_server::web::auth;
use parcours_store::web_access;
use parcours_store::write_keys::{self, KeyKind};

const PASSWORD: &str = "a long enough password";

/// The value of a response header (the first one of that name).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The value of a cookie a response sets.
fn set_cookie(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| v.trim().strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

/// The value of a hidden field of a page's form.
fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + marker.len();
    body[start..].split('"').next().unwrap().to_string()
}

struct Browser<'s> {
    server: &'s Server,
    cookies: Vec<(String, String)>,
}

impl Browser<'_> {
    fn cookie_header(&self) -> Vec<(&'static str, String)> {
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        if jar.is_empty() {
            Vec::new()
        } else {
            vec![("Cookie", jar.join("; "))]
        }
    }

    fn keep(&mut self, head: &str) {
        for name in [auth::SESSION_COOKIE, auth::LOGIN_COOKIE] {
            if let Some(value) = set_cookie(head, name) {
                self.cookies.retain(|(n, _)| n != name);
                if !value.is_empty() {
                    self.cookies.push((name.to_string(), value));
                }
            }
        }
    }

    fn get(&mut self, path: &str) -> (u16, String, String) {
        let response = self.server.request("GET", path, &self.cookie_header(), b"");
        self.keep(&response.1);
        response
    }

    fn post(&mut self, path: &str, form: &str, extra: &[(&str, String)]) -> (u16, String, String) {
        let mut headers = self.cookie_header();
        headers.push((
            "Content-Type",
            "application/x-www-form-urlencoded".to_string(),
        ));
        headers.extend(extra.iter().cloned());
        let response = self.server.request("POST", path, &headers, form.as_bytes());
        self.keep(&response.1);
        response
    }

    /// Logs in with `secret`, going to `next`; the response to the form.
    fn login(&mut self, secret: &str, next: &str) -> (u16, String, String) {
        let (_, _, page) = self.get("/login");
        let csrf = hidden(&page, "csrf");
        let form = format!(
            "csrf={csrf}&next={}&secret={}",
            parcours_server::web::pages::url_encode(next),
            parcours_server::web::pages::url_encode(secret)
        );
        self.post("/login", &form, &[])
    }
}

fn start(name: &str) -> (std::path::PathBuf, Server) {
    let data = temp_dir(name);
    let hash = auth::hash_password(PASSWORD).unwrap();
    assert!(web_access::set_first_admin_password(&data, &hash).unwrap());
    let server = Server::start(common::options(&data, &["wk_test"]));
    (data, server)
}

#[test]
fn pages_need_a_session_and_load_nothing_from_elsewhere() {
    let (data, server) = start("web-doors");
    let mut browser = Browser {
        server: &server,
        cookies: Vec::new(),
    };
    let (status, head, _) = browser.get("/segments?x=1");
    assert_eq!(status, 303);
    assert_eq!(
        header(&head, "location"),
        Some("/login?next=%2Fsegments%3Fx%3D1")
    );
    let (status, head, page) = browser.get("/login");
    assert_eq!(status, 200);
    assert!(page.contains("name=\"secret\""));
    let csp = header(&head, "content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert_eq!(header(&head, "x-frame-options"), Some("DENY"));
    assert_eq!(header(&head, "cache-control"), Some("no-store"));
    // The password is set: the setup link is gone.
    assert_eq!(browser.get("/setup?token=anything").0, 410);
    server.stop();
    std::fs::remove_dir_all(&data).ok();
}

#[test]
fn login_wants_its_own_form_the_right_secret_and_few_guesses() {
    let (data, server) = start("web-login");
    let mut browser = Browser {
        server: &server,
        cookies: Vec::new(),
    };
    // A login form posted without the cookie its page set (another site's form): refused.
    let (status, _, _) = browser.post("/login", &format!("csrf=x&secret={PASSWORD}"), &[]);
    assert_eq!(status, 403);
    // The right password, and a `next` of another site ignored.
    let (status, head, _) = browser.login(PASSWORD, "//evil.example/");
    assert_eq!(status, 303, "{head}");
    assert_eq!(header(&head, "location"), Some("/"));
    let session = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: parcours_session=")
        })
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    let (status, _, page) = browser.get("/keys");
    assert_eq!(status, 200);
    let csrf = hidden(&page, "csrf");
    // A form of this session posted from another site: refused, token or not.
    let evil = [("Origin", "http://evil.example".to_string())];
    let (status, _, _) = browser.post("/keys", &format!("csrf={csrf}&name=x&kind=view"), &evil);
    assert_eq!(status, 403);
    assert!(write_keys::list(&data).unwrap().is_empty());
    // Logging out ends the session on the server, not only in this browser.
    let stolen = browser.cookies.clone();
    let (status, head, _) = browser.post("/logout", &format!("csrf={csrf}"), &[]);
    assert_eq!((status, header(&head, "location")), (303, Some("/login")));
    browser.cookies = stolen;
    assert_eq!(browser.get("/keys").0, 303);

    // Wrong passwords: refused, and after ten from one address even the right one waits.
    browser.cookies.clear();
    for _ in 0..auth::MAX_FAILURES {
        assert_eq!(browser.login("not the password", "/").0, 401);
    }
    let (status, _, page) = browser.login(PASSWORD, "/");
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("try again in 15 minutes"), "{page}");
    server.stop();
    std::fs::remove_dir_all(&data).ok();
}

#[test]
fn a_view_key_opens_a_read_only_session_that_ends_with_the_key() {
    let (data, server) = start("web-viewer");
    let key = write_keys::create(&data, "camille", KeyKind::View).unwrap();
    let write = write_keys::create(&data, "web", KeyKind::Write).unwrap();
    let mut browser = Browser {
        server: &server,
        cookies: Vec::new(),
    };
    assert_eq!(
        browser.login(&write.key, "/").0,
        401,
        "a write key opens nothing"
    );
    let (status, head, _) = browser.login(&key.key, "/segments");
    assert_eq!(
        (status, header(&head, "location")),
        (303, Some("/segments"))
    );
    assert_eq!(browser.get("/segments").0, 200);
    let (status, _, page) = browser.get("/customers");
    assert_eq!(status, 200);
    assert!(!page.contains("href=\"/keys\""), "no keys tab for a viewer");
    assert_eq!(browser.get("/keys").0, 403);
    let csrf = hidden(&page, "csrf");
    assert_eq!(
        browser
            .post("/keys", &format!("csrf={csrf}&name=x&kind=view"), &[])
            .0,
        403
    );
    assert_eq!(write_keys::list(&data).unwrap().len(), 2);
    assert!(write_keys::revoke(&data, key.id).unwrap());
    assert_eq!(
        browser.get("/segments").0,
        303,
        "the key's sessions end with it"
    );
    server.stop();
    std::fs::remove_dir_all(&data).ok();
}
