//! The web UI: the map with today's numbers, the charts and opportunities of any period and
//! breakdown, the segments with their members and CSV exports, customer search and
//! timelines, and the keys — pages rendered on the server ([`pages`]), with no script and
//! nothing fetched from elsewhere (the Content-Security-Policy forbids it).
//!
//! Who may see them ([`auth`]): the admin, with the password chosen at first start through
//! a one-time link the server prints in its log, and teammates with a view key, read-only.
//! Both get a session cookie (HttpOnly, SameSite=Lax) whose token the store keeps hashed;
//! every form that changes something carries the session's CSRF token back, and a post
//! whose `Origin` is another site is refused before that.

// A refusal is the page to answer with, returned once and at once: no need to box it.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod pages;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parcours_journey::Lang;
use parcours_store::web_access::{self, Role, Session};
use parcours_store::write_keys::{self, KeyKind};

use crate::customers;
use crate::ops::Metrics;
use crate::read_api::{Analyses, Group, Unavailable, csv_download, query_pairs};
use auth::{LOGIN_COOKIE, SESSION_COOKIE, SESSION_LIFETIME, Throttle};
use pages::{Chrome, GroupRow, MapView, Tab};

/// Customers a search lists at most.
const SEARCH_LIMIT: usize = 50;

/// The web UI's state.
pub struct Web {
    analyses: Arc<Analyses>,
    data: PathBuf,
    metrics: Arc<Metrics>,
    /// The one-time token of `/setup`, while no admin password is set.
    setup_token: Mutex<Option<String>>,
    throttle: Throttle,
}

impl Web {
    /// The UI over `analyses` of the store in `data`, and the setup token to print when no
    /// admin password is set yet.
    pub fn new(
        analyses: Arc<Analyses>,
        data: PathBuf,
        metrics: Arc<Metrics>,
    ) -> Result<(Web, Option<String>), String> {
        let unset = web_access::admin_password(&data)
            .map_err(|e| e.to_string())?
            .is_none();
        let token = if unset {
            Some(auth::new_token()?)
        } else {
            None
        };
        let web = Web {
            analyses,
            data,
            metrics,
            setup_token: Mutex::new(token.clone()),
            throttle: Throttle::default(),
        };
        Ok((web, token))
    }

    fn lang(&self) -> Lang {
        self.analyses.journey().map_or(Lang::En, |j| j.lang)
    }
}

/// The UI's routes.
pub fn routes(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(map_page))
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/setup", get(setup_page).post(setup))
        .route("/segments", get(segments_page))
        .route(
            "/segments/{id}",
            get(|state, headers, uri, id| group_page(state, headers, uri, id, Group::Segment)),
        )
        .route(
            "/segments/{id}/members.csv",
            get(|state, headers, uri, id| group_csv(state, headers, uri, id, Group::Segment)),
        )
        .route(
            "/stages/{id}",
            get(|state, headers, uri, id| group_page(state, headers, uri, id, Group::Stage)),
        )
        .route(
            "/stages/{id}/customers.csv",
            get(|state, headers, uri, id| group_csv(state, headers, uri, id, Group::Stage)),
        )
        .route("/customers", get(customers_page))
        .route("/customers/{id}", get(customer_page))
        .route("/keys", get(keys_page).post(create_key))
        .route("/keys/{id}/revoke", axum::routing::post(revoke_key))
        .with_state(web)
}

/// What pages may load: nothing but themselves (inline style, inline SVG).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An HTML page, never cached, never framed.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn with_cookie(mut response: Response, cookie: String) -> Response {
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Runs store work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| e.to_string())?
}

impl Web {
    /// A page saying what failed on the server's side.
    fn failure(&self, error: &str) -> Response {
        let lang = self.lang();
        let title = if lang == Lang::Fr { "Erreur" } else { "Error" };
        tracing::error!(%error, "a web UI page failed");
        html(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::message(lang, title, error),
        )
    }

    /// A page refusing the request, saying why: `text` in English and in French.
    fn refusal(&self, status: StatusCode, text: [&str; 2]) -> Response {
        let lang = self.lang();
        let pick = |[en, fr]: [&'static str; 2]| if lang == Lang::Fr { fr } else { en };
        let title = pick(match status {
            StatusCode::NOT_FOUND => ["Not found", "Introuvable"],
            StatusCode::TOO_MANY_REQUESTS => ["Too many attempts", "Trop de tentatives"],
            StatusCode::SERVICE_UNAVAILABLE => ["Not ready yet", "Pas encore prêt"],
            _ => ["Refused", "Refusé"],
        });
        let text = if lang == Lang::Fr { text[1] } else { text[0] };
        html(status, pages::message(lang, title, text))
    }

    /// The session a request carries, if it is a live one.
    async fn session(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let token = auth::cookie(headers, SESSION_COOKIE)?;
        let hash = auth::token_hash(&token);
        let data = self.data.clone();
        let found = {
            let hash = hash.clone();
            blocking(move || web_access::session(&data, &hash).map_err(|e| e.to_string())).await
        };
        match found {
            Ok(Some(session)) => Some((hash, session)),
            Ok(None) => None,
            Err(error) => {
                tracing::error!(%error, "reading the session failed");
                None
            }
        }
    }

    /// The session of a page request, or the way to the login page.
    async fn page_session(&self, headers: &HeaderMap, uri: &Uri) -> Result<Session, Response> {
        match self.session(headers).await {
            Some((_, session)) => Ok(session),
            None => {
                let next = uri.path_and_query().map_or("/", |p| p.as_str());
                Err(redirect(&format!(
                    "/login?next={}",
                    pages::url_encode(next)
                )))
            }
        }
    }

    /// The session and fields of a form post, once it is known to come from one of its
    /// pages: same origin, live session, the session's CSRF token.
    async fn form_post(
        &self,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<(String, Session, Vec<(String, String)>), Response> {
        if !auth::same_origin(headers) {
            return Err(self.refusal(
                StatusCode::FORBIDDEN,
                [
                    "This form was sent from another site; it is refused.",
                    "Ce formulaire a été envoyé depuis un autre site ; il est refusé.",
                ],
            ));
        }
        let Some((hash, session)) = self.session(headers).await else {
            return Err(redirect("/login"));
        };
        let fields = query_pairs(&String::from_utf8_lossy(body));
        let csrf = field(&fields, "csrf");
        if !auth::same_secret(csrf, &session.csrf) {
            return Err(self.refusal(
                StatusCode::FORBIDDEN,
                ["This form has expired or did not come from this server: reload the page and send it again.", "Ce formulaire a expiré ou ne vient pas de ce serveur : rechargez la page et envoyez-le à nouveau."],
            ));
        }
        Ok((hash, session, fields))
    }

    fn chrome<'a>(&self, session: &'a Session, here: Tab) -> Chrome<'a> {
        Chrome {
            lang: self.lang(),
            admin: session.role == Role::Admin,
            csrf: &session.csrf,
            here,
        }
    }

    /// Opens a session and sends the browser to `next`.
    async fn open_session(
        &self,
        headers: &HeaderMap,
        role: Role,
        key_id: Option<i64>,
        next: &str,
    ) -> Response {
        let opened = (|| -> Result<(String, Session), String> {
            let token = auth::new_token()?;
            let session = Session {
                role,
                csrf: auth::new_token()?,
                key_id,
                expires_at: jiff::Timestamp::now().as_millisecond()
                    + SESSION_LIFETIME.as_millis() as i64,
            };
            Ok((token, session))
        })();
        let (token, session) = match opened {
            Ok(opened) => opened,
            Err(error) => return self.failure(&error),
        };
        let data = self.data.clone();
        let hash = auth::token_hash(&token);
        if let Err(error) = blocking(move || {
            web_access::create_session(&data, &hash, &session).map_err(|e| e.to_string())
        })
        .await
        {
            return self.failure(&error);
        }
        let response = with_cookie(
            redirect(safe_next(next)),
            auth::set_cookie(headers, SESSION_COOKIE, &token, "/", SESSION_LIFETIME),
        );
        with_cookie(
            response,
            auth::set_cookie(
                headers,
                LOGIN_COOKIE,
                "",
                "/login",
                std::time::Duration::ZERO,
            ),
        )
    }
}

/// A form field's value, empty when absent.
fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Where to go after logging in: a path of this server, never another site.
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

async fn map_page(State(web): State<Arc<Web>>, headers: HeaderMap, uri: Uri) -> Response {
    let session = match web.page_session(&headers, &uri).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let chrome = web.chrome(&session, Tab::Map);
    let Some(journey) = web.analyses.journey().cloned() else {
        return web.refusal(
            StatusCode::NOT_FOUND,
            [
                "The server was started without a journey: start it with --journey FILE.",
                "Le serveur a démarré sans parcours : lancez-le avec --journey FICHIER.",
            ],
        );
    };
    let pairs = query_pairs(uri.query().unwrap_or(""));
    let asked = |name: &str| field(&pairs, name).to_string();
    let (from, to, by) = (asked("from"), asked("to"), asked("by"));
    let stored = web
        .metrics
        .events_stored
        .load(std::sync::atomic::Ordering::Relaxed);
    // Who is where now, and the last day with events: from the last background analysis
    // (all time).
    let all_time = web.analyses.latest();
    let stages = all_time
        .as_ref()
        .map(|all| {
            all.report
                .stages
                .iter()
                .map(|s| (s.id.clone(), s.name.clone(), s.current))
                .collect()
        })
        .unwrap_or_default();
    let last_day = all_time.and_then(|all| all.report.period.to.clone());
    let (status, results, error) = match web.analyses.report_for_query(&pairs).await {
        Ok(latest) => (
            StatusCode::OK,
            Some((
                parcours_report::sections(&journey, &latest.report),
                latest.computed_at.clone(),
                latest.took_ms,
            )),
            None,
        ),
        Err(Unavailable::FirstRunning) => (StatusCode::OK, None, None),
        Err(why) => {
            let (status, text) = why.explain();
            (status, None, Some(text))
        }
    };
    let view = MapView {
        from: &from,
        to: &to,
        by: &by,
        error: error.as_deref(),
        results,
        stored,
        stages,
        last_day,
    };
    html(status, pages::map(&chrome, &journey, &view))
}

async fn login_page(State(web): State<Arc<Web>>, headers: HeaderMap, uri: Uri) -> Response {
    let pairs = query_pairs(uri.query().unwrap_or(""));
    let next = field(&pairs, "next").to_string();
    if web.session(&headers).await.is_some() {
        return redirect(safe_next(&next));
    }
    let csrf = match auth::new_token() {
        Ok(token) => token,
        Err(error) => return web.failure(&error),
    };
    let no_admin = web.live_setup_token().await.is_some();
    let journey = web.analyses.journey().map(|j| j.name.clone());
    let page = pages::login(web.lang(), journey.as_deref(), &csrf, &next, None, no_admin);
    with_cookie(
        html(StatusCode::OK, page),
        auth::set_cookie(
            &headers,
            LOGIN_COOKIE,
            &csrf,
            "/login",
            std::time::Duration::from_secs(3600),
        ),
    )
}

async fn login(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = query_pairs(&String::from_utf8_lossy(&body));
    let expected = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let csrf = field(&fields, "csrf");
    if !auth::same_origin(&headers) || expected.is_empty() || !auth::same_secret(csrf, &expected) {
        return web.refusal(
            StatusCode::FORBIDDEN,
            ["This login form has expired or did not come from this server: open the login page again.", "Ce formulaire de connexion a expiré ou ne vient pas de ce serveur : rouvrez la page de connexion."],
        );
    }
    if let Some(wait) = web.throttle.wait(peer.ip()) {
        return web.refusal(
            StatusCode::TOO_MANY_REQUESTS,
            [&format!(
                "Too many wrong passwords from this address: try again in {} minutes.",
                wait.as_secs().div_ceil(60)
            ), &format!(
                "Trop de mots de passe erronés depuis cette adresse : réessayez dans {} minutes.",
                wait.as_secs().div_ceil(60)
            )],
        );
    }
    let secret = field(&fields, "secret").to_string();
    let next = field(&fields, "next").to_string();
    let data = web.data.clone();
    let checked = blocking(move || -> Result<Option<(Role, Option<i64>)>, String> {
        if secret.starts_with("vk_") {
            let keys = write_keys::list(&data).map_err(|e| e.to_string())?;
            let viewer = keys.iter().find(|k| {
                k.kind == KeyKind::View
                    && k.revoked_at.is_none()
                    && auth::same_secret(&k.key, &secret)
            });
            if let Some(key) = viewer {
                return Ok(Some((Role::Viewer, Some(key.id))));
            }
            // Not a view key: it may still be an admin password that looks like one.
        }
        let hash = web_access::admin_password(&data).map_err(|e| e.to_string())?;
        Ok(hash
            .filter(|hash| auth::verify_password(hash, &secret))
            .map(|_| (Role::Admin, None)))
    })
    .await;
    match checked {
        Ok(Some((role, key_id))) => {
            web.throttle.succeeded(peer.ip());
            tracing::info!(role = ?role, peer = %peer.ip(), "logged in to the web UI");
            web.open_session(&headers, role, key_id, &next).await
        }
        Ok(None) => {
            web.throttle.failed(peer.ip());
            tracing::warn!(peer = %peer.ip(), "wrong password or view key at the web UI's login");
            let no_admin = web.live_setup_token().await.is_some();
            let journey = web.analyses.journey().map(|j| j.name.clone());
            let lang = web.lang();
            let text = match lang {
                Lang::Fr => "Mot de passe ou clé de lecture incorrect.",
                Lang::En => "Wrong password or view key.",
            };
            html(
                StatusCode::UNAUTHORIZED,
                pages::login(
                    lang,
                    journey.as_deref(),
                    &expected,
                    &next,
                    Some(text),
                    no_admin,
                ),
            )
        }
        Err(error) => web.failure(&error),
    }
}

async fn logout(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let (hash, _, _) = match web.form_post(&headers, &body).await {
        Ok(post) => post,
        Err(response) => return response,
    };
    let data = web.data.clone();
    if let Err(error) =
        blocking(move || web_access::end_session(&data, &hash).map_err(|e| e.to_string())).await
    {
        return web.failure(&error);
    }
    with_cookie(
        redirect("/login"),
        auth::set_cookie(&headers, SESSION_COOKIE, "", "/", std::time::Duration::ZERO),
    )
}

impl Web {
    /// The setup link's token while no admin password is set: dropped once one is, through
    /// the link or by `parcours admin password` meanwhile.
    async fn live_setup_token(&self) -> Option<String> {
        let token = self.setup_token.lock().ok()?.clone()?;
        let data = self.data.clone();
        let set =
            blocking(move || web_access::admin_password(&data).map_err(|e| e.to_string())).await;
        if matches!(set, Ok(Some(_))) {
            if let Ok(mut slot) = self.setup_token.lock() {
                *slot = None;
            }
            return None;
        }
        Some(token)
    }

    /// Whether `token` is the setup link's; a refusal page saying why not otherwise.
    async fn check_setup_token(&self, token: &str) -> Result<(), Response> {
        match self.live_setup_token().await {
            None => Err(self.refusal(
                StatusCode::GONE,
                ["The admin password is set already: log in. To change it, run `parcours admin password`.", "Le mot de passe administrateur est déjà choisi : connectez-vous. Pour le changer : `parcours admin password`."],
            )),
            Some(expected) if auth::same_secret(token, &expected) => Ok(()),
            Some(_) => Err(self.refusal(
                StatusCode::FORBIDDEN,
                ["This setup link is not the one the server printed: open the link from its log.", "Ce lien d'installation n'est pas celui que le serveur a écrit : ouvrez le lien de son journal."],
            )),
        }
    }
}

async fn setup_page(State(web): State<Arc<Web>>, uri: Uri) -> Response {
    let pairs = query_pairs(uri.query().unwrap_or(""));
    let token = field(&pairs, "token");
    if let Err(response) = web.check_setup_token(token).await {
        return response;
    }
    html(StatusCode::OK, pages::setup(web.lang(), token, None))
}

async fn setup(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = query_pairs(&String::from_utf8_lossy(&body));
    let token = field(&fields, "token");
    if !auth::same_origin(&headers) {
        return web.refusal(
            StatusCode::FORBIDDEN,
            [
                "This form was sent from another site; it is refused.",
                "Ce formulaire a été envoyé depuis un autre site ; il est refusé.",
            ],
        );
    }
    if let Err(response) = web.check_setup_token(token).await {
        return response;
    }
    let (password, confirm) = (field(&fields, "password"), field(&fields, "confirm"));
    if let Some(problem) = auth::password_problem(password, confirm) {
        return html(
            StatusCode::BAD_REQUEST,
            pages::setup(web.lang(), token, Some(&problem)),
        );
    }
    let (data, password) = (web.data.clone(), password.to_string());
    let set = blocking(move || {
        let hash = auth::hash_password(&password)?;
        web_access::set_first_admin_password(&data, &hash).map_err(|e| e.to_string())
    })
    .await;
    match set {
        Ok(true) => {}
        Ok(false) => {
            return web.refusal(
                StatusCode::CONFLICT,
                [
                    "The admin password was set meanwhile: log in with it.",
                    "Le mot de passe administrateur vient d'être choisi : connectez-vous avec.",
                ],
            );
        }
        Err(error) => return web.failure(&error),
    }
    if let Ok(mut token) = web.setup_token.lock() {
        *token = None;
    }
    tracing::info!("the admin password is set; the setup link no longer works");
    web.open_session(&headers, Role::Admin, None, "/").await
}

impl Web {
    /// The journey's segments, or its stages, with their sizes at the last analysis.
    fn group_rows(&self, group: Group) -> Vec<GroupRow> {
        let latest = self.analyses.latest();
        let Some(journey) = self.analyses.journey() else {
            return Vec::new();
        };
        let lang = self.lang();
        let rows: Vec<(&String, &String, Option<String>)> = match group {
            Group::Segment => journey
                .segments
                .iter()
                .map(|s| (&s.id, &s.name, s.description.clone()))
                .collect(),
            Group::Stage => journey
                .stages
                .iter()
                .map(|s| {
                    let who = match lang {
                        Lang::Fr => format!(
                            "Les clients dont l'étape la plus avancée est « {} »",
                            s.name
                        ),
                        Lang::En => format!("Customers whose furthest stage is “{}”", s.name),
                    };
                    (&s.id, &s.name, Some(who))
                })
                .collect(),
        };
        rows.into_iter()
            .map(|(id, name, description)| GroupRow {
                group,
                id: id.clone(),
                name: name.clone(),
                description,
                members: latest
                    .as_ref()
                    .and_then(|l| group.customers(l, id))
                    .map(Vec::len),
            })
            .collect()
    }
}

async fn segments_page(State(web): State<Arc<Web>>, headers: HeaderMap, uri: Uri) -> Response {
    let session = match web.page_session(&headers, &uri).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    html(
        StatusCode::OK,
        pages::segments(
            &web.chrome(&session, Tab::Segments),
            &web.group_rows(Group::Stage),
            &web.group_rows(Group::Segment),
        ),
    )
}

impl Web {
    /// A segment's or stage's row and its customers' ids at the last analysis, or the page
    /// saying why there are none.
    fn group_customers(
        &self,
        group: Group,
        id: &str,
    ) -> Result<(GroupRow, Vec<u64>, String), Response> {
        let Some(row) = self.group_rows(group).into_iter().find(|r| r.id == id) else {
            let [en, fr] = match group {
                Group::Segment => [
                    format!("The journey has no segment `{id}`."),
                    format!("Le parcours n'a pas de segment `{id}`."),
                ],
                Group::Stage => [
                    format!("The journey has no stage `{id}`."),
                    format!("Le parcours n'a pas d'étape `{id}`."),
                ],
            };
            return Err(self.refusal(StatusCode::NOT_FOUND, [&en, &fr]));
        };
        let Some(latest) = self.analyses.latest() else {
            return Err(self.refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    "The first analysis is still running; try again in a few seconds.",
                    "La première analyse est en cours ; réessayez dans quelques secondes.",
                ],
            ));
        };
        let ids = group.customers(&latest, id).cloned().unwrap_or_default();
        Ok((row, ids, latest.computed_at.clone()))
    }
}

async fn group_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    group: Group,
) -> Response {
    let session = match web.page_session(&headers, &uri).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let (row, ids, computed_at) = match web.group_customers(group, &id) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let data = web.data.clone();
    let shown: Vec<u64> = ids.iter().take(pages::MEMBERS_SHOWN).copied().collect();
    match blocking(move || customers::members(&data, &shown)).await {
        Ok(members) => html(
            StatusCode::OK,
            pages::group(
                &web.chrome(&session, Tab::Segments),
                &row,
                &members,
                &computed_at,
            ),
        ),
        Err(error) => web.failure(&error),
    }
}

async fn group_csv(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    group: Group,
) -> Response {
    if let Err(response) = web.page_session(&headers, &uri).await {
        return response;
    }
    let (_, ids, _) = match web.group_customers(group, &id) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let data = web.data.clone();
    match blocking(move || customers::members(&data, &ids)).await {
        Ok(members) => {
            let mut response = csv_download(&id, customers::members_csv(&members));
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => web.failure(&error),
    }
}

async fn customers_page(State(web): State<Arc<Web>>, headers: HeaderMap, uri: Uri) -> Response {
    let session = match web.page_session(&headers, &uri).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let pairs = query_pairs(uri.query().unwrap_or(""));
    let query = field(&pairs, "q").trim().to_string();
    let chrome = web.chrome(&session, Tab::Customers);
    if query.is_empty() {
        return html(StatusCode::OK, pages::customers(&chrome, "", None));
    }
    let (data, text) = (web.data.clone(), query.clone());
    let found = blocking(move || {
        let ids = parcours_store::search_customers(&data, &text, SEARCH_LIMIT)
            .map_err(|e| e.to_string())?;
        let mut found = Vec::new();
        for id in ids {
            if let Some(customer) =
                parcours_store::customer(&data, id).map_err(|e| e.to_string())?
            {
                found.push(customer);
            }
        }
        Ok(found)
    })
    .await;
    // The one customer with exactly this identifier (an email pasted from a ticket): their
    // page at once.
    if let Ok(found) = &found {
        let exact: Vec<&parcours_store::Customer> = found
            .iter()
            .filter(|c| {
                c.identifiers
                    .iter()
                    .any(|(_, v)| v.eq_ignore_ascii_case(&query))
            })
            .collect();
        if let [one] = exact[..] {
            return redirect(&format!("/customers/{}", one.id));
        }
    }
    match found {
        Ok(found) => html(
            StatusCode::OK,
            pages::customers(&chrome, &query, Some(&found)),
        ),
        Err(error) => web.failure(&error),
    }
}

async fn customer_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let session = match web.page_session(&headers, &uri).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<u64>() else {
        return web.refusal(
            StatusCode::NOT_FOUND,
            [
                "Customers are numbered: /customers/123.",
                "Les clients sont numérotés : /customers/123.",
            ],
        );
    };
    let (data, journey) = (web.data.clone(), web.analyses.journey().cloned());
    let found = {
        let journey = journey.clone();
        blocking(move || {
            parcours_store::customer(&data, id)
                .map_err(|e| e.to_string())?
                .map(|c| customers::timeline(&data, journey.as_deref(), c))
                .transpose()
        })
        .await
    };
    match found {
        Ok(Some(timeline)) => html(
            StatusCode::OK,
            pages::customer(
                &web.chrome(&session, Tab::Customers),
                journey.as_deref(),
                &timeline,
            ),
        ),
        Ok(None) => web.refusal(
            StatusCode::NOT_FOUND,
            [
                &format!("There is no customer {id}."),
                &format!("Il n'y a pas de client {id}."),
            ],
        ),
        Err(error) => web.failure(&error),
    }
}

impl Web {
    /// A refusal unless the session is the admin's: only the admin manages keys.
    fn admin_only(&self, session: &Session) -> Result<(), Response> {
        if session.role == Role::Admin {
            return Ok(());
        }
        Err(self.refusal(
            StatusCode::FORBIDDEN,
            [
                "Only the admin manages keys.",
                "Seul l'administrateur gère les clés.",
            ],
        ))
    }

    /// The keys page, for an admin; `created` is shown whole.
    async fn keys_response(
        &self,
        session: &Session,
        created: Option<write_keys::WriteKey>,
        error: Option<&str>,
    ) -> Response {
        if let Err(response) = self.admin_only(session) {
            return response;
        }
        let data = self.data.clone();
        match blocking(move || write_keys::list(&data).map_err(|e| e.to_string())).await {
            Ok(keys) => html(
                if error.is_some() {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::OK
                },
                pages::keys(
                    &self.chrome(session, Tab::Keys),
                    &keys,
                    created.as_ref(),
                    error,
                ),
            ),
            Err(error) => self.failure(&error),
        }
    }
}

async fn keys_page(State(web): State<Arc<Web>>, headers: HeaderMap, uri: Uri) -> Response {
    match web.page_session(&headers, &uri).await {
        Ok(session) => web.keys_response(&session, None, None).await,
        Err(response) => response,
    }
}

async fn create_key(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let (_, session, fields) = match web.form_post(&headers, &body).await {
        Ok(post) => post,
        Err(response) => return response,
    };
    if let Err(response) = web.admin_only(&session) {
        return response;
    }
    let name = field(&fields, "name").trim().to_string();
    let kind = match field(&fields, "kind") {
        "write" => KeyKind::Write,
        "view" => KeyKind::View,
        other => {
            let text = match web.lang() {
                Lang::Fr => format!("type : `{other}` n'est ni `write` ni `view`"),
                Lang::En => format!("kind: `{other}` is neither `write` nor `view`"),
            };
            return web.keys_response(&session, None, Some(&text)).await;
        }
    };
    if name.is_empty() || name.chars().count() > 100 {
        return web
            .keys_response(
                &session,
                None,
                Some(match web.lang() {
                    Lang::Fr => {
                        "nom : dites pour qui ou pour quoi est la clé, en 1 à 100 caractères"
                    }
                    Lang::En => "name: say who or what the key is for, in 1 to 100 characters",
                }),
            )
            .await;
    }
    let data = web.data.clone();
    match blocking(move || write_keys::create(&data, &name, kind).map_err(|e| e.to_string())).await
    {
        Ok(key) => {
            tracing::info!(
                id = key.id,
                kind = key.kind.as_str(),
                "key created from the web UI"
            );
            web.keys_response(&session, Some(key), None).await
        }
        Err(error) => web.failure(&error),
    }
}

async fn revoke_key(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (_, session, _) = match web.form_post(&headers, &body).await {
        Ok(post) => post,
        Err(response) => return response,
    };
    if let Err(response) = web.admin_only(&session) {
        return response;
    }
    let Ok(id) = id.parse::<i64>() else {
        return web.refusal(
            StatusCode::NOT_FOUND,
            [
                "Keys are numbered: /keys/3/revoke.",
                "Les clés sont numérotées : /keys/3/revoke.",
            ],
        );
    };
    let data = web.data.clone();
    match blocking(move || write_keys::revoke(&data, id).map_err(|e| e.to_string())).await {
        Ok(_) => {
            tracing::info!(id, "key revoked from the web UI");
            redirect("/keys")
        }
        Err(error) => web.failure(&error),
    }
}
