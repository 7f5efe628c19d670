//! A realistic, seeded data set for the `digital` template: an online shop's customers.
//!
//! This crate owns the demo generator. It simulates customers one at a time (so memory
//! stays flat whatever the size) through the journey of seed 001's table: ad and social
//! impressions and clicks, anonymous visits, sign-up (identify), newsletter sends, opens and
//! clicks, product views, carts, checkouts, purchases, deliveries, support tickets,
//! satisfaction (CSAT 1–5) and NPS (0–10) answers, repurchases and loyalty. Three personas
//! behave differently, activity follows weekly seasonality, some customers use a second
//! device and log in on it later (their anonymous history must be stitched).
//!
//! Frictions are planted on purpose, for the analysis to find ([`FRICTIONS`]):
//!
//! 1. **Android payment errors**, weeks 7–9: most Android checkouts fail with a
//!    `payment_error` and the customer leaves: purchase conversion drops for Android.
//! 2. **Late deliveries**, weeks 10–11: orders take a week longer, support tickets of kind
//!    `complaint` multiply and satisfaction answers fall.
//! 3. **Newsletter fatigue**, from week 12: a daily campaign (`nl-quotidienne`) makes
//!    readers unsubscribe.
//!
//! The same seed gives the same events, byte for byte.

mod rng;
mod sink;

pub use rng::Rng;
pub use sink::{CsvSink, NdjsonSink, Sink, SinkError};

use parcours_events::key::ContentKey;
use parcours_events::{Event, MessageType};

/// The planted frictions, as (name, description), for documentation and reports.
pub const FRICTIONS: [(&str, &str); 3] = [
    (
        "android-payment-errors",
        "weeks 7 to 9: 60% of Android checkouts fail with payment_error (prop.code = \"3DS_TIMEOUT\"), and 80% of those customers leave",
    ),
    (
        "late-deliveries",
        "weeks 10 to 11: deliveries take 5 to 9 more days; support tickets of kind complaint and low satisfaction follow",
    ),
    (
        "newsletter-fatigue",
        "from week 12: a daily campaign nl-quotidienne; readers unsubscribe (email_unsubscribed) four times as often",
    ),
];

/// Monday 5 January 2026, 00:00 UTC: the first day of the demo period.
pub const START_MS: i64 = 1_767_571_200_000;
/// Weeks simulated.
pub const WEEKS: i64 = 13;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;
/// First moment after the demo period.
pub const END_MS: i64 = START_MS + WEEKS * 7 * DAY;

/// Relative activity of each week: a January sales peak, a quiet February, spring recovery.
const WEEK_WEIGHTS: [f64; 13] = [
    1.5, 1.3, 1.0, 0.9, 0.8, 0.8, 0.9, 1.0, 1.0, 1.1, 1.1, 1.2, 1.3,
];
/// Relative activity of each weekday, Monday first: more on Sunday evening and Monday.
const DAY_WEIGHTS: [f64; 7] = [1.2, 1.0, 1.0, 1.0, 0.9, 0.9, 1.3];

const CATEGORIES: [&str; 6] = [
    "chaussures",
    "vestes",
    "sacs",
    "accessoires",
    "pulls",
    "pantalons",
];
const FIRST_NAMES: [&str; 12] = [
    "Camille", "Léa", "Manon", "Chloé", "Inès", "Zoé", "Lucas", "Hugo", "Louis", "Nathan", "Théo",
    "Jules",
];

/// Who a customer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persona {
    /// Shops from a phone, quick to decide.
    Mobile,
    /// Waits for coupons, compares a lot.
    DealHunter,
    /// Shops from a computer.
    Desktop,
}

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Customers to simulate.
    pub customers: u64,
    /// Seed: the same seed gives the same data.
    pub seed: u64,
}

struct Customer<'a> {
    index: u64,
    rng: Rng,
    anonymous: String,
    user: Option<String>,
    email: Option<String>,
    first_name: &'static str,
    platform: &'static str,
    persona: Persona,
    out: &'a mut Vec<Event>,
}

fn week_of(ms: i64) -> i64 {
    (ms - START_MS).div_euclid(7 * DAY) + 1
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

impl Customer<'_> {
    fn push(
        &mut self,
        kind: MessageType,
        name: &str,
        at: i64,
        properties: Option<String>,
        traits: Option<String>,
        anonymous: Option<&str>,
    ) {
        if !(START_MS..END_MS).contains(&at) {
            return;
        }
        let anonymous = anonymous
            .map(str::to_string)
            .or_else(|| self.user.is_none().then(|| self.anonymous.clone()));
        let context = format!(
            r#"{{"device":{{"type":{}}},"os":{{"name":{}}}}}"#,
            json_string(if self.platform == "web" {
                "desktop"
            } else {
                "mobile"
            }),
            json_string(self.platform)
        );
        let mut event = Event {
            kind,
            name: name.to_string(),
            user_id: self.user.clone(),
            anonymous_id: anonymous,
            email: None,
            previous_id: None,
            group_id: None,
            message_id: None,
            timestamp: at,
            properties,
            traits,
            context: Some(context),
            key: 0,
        };
        if kind == MessageType::Identify {
            event.email = self.email.clone();
        }
        event.key = ContentKey::default()
            .field(Some(b"demo"))
            .field(Some(&self.index.to_le_bytes()))
            .field(Some(name.as_bytes()))
            .field(Some(&at.to_le_bytes()))
            .field(event.anonymous_id.as_deref().map(str::as_bytes))
            .field(event.properties.as_deref().map(str::as_bytes))
            .finish();
        self.out.push(event);
    }

    fn track(&mut self, name: &str, at: i64, properties: Option<String>) {
        self.push(MessageType::Track, name, at, properties, None, None);
    }

    fn page(&mut self, name: &str, at: i64) {
        self.push(
            MessageType::Page,
            name,
            at,
            Some(format!(r#"{{"path":"/{}"}}"#, name.to_lowercase())),
            None,
            None,
        );
    }

    fn identify(&mut self, at: i64, anonymous: &str) {
        let user = format!("client-{:07}", self.index);
        self.user = Some(user);
        self.email
            .get_or_insert_with(|| format!("client{}@exemple.fr", self.index));
        let traits = format!(
            r#"{{"email":{},"first_name":{},"platform":{},"lifecycle":"new"}}"#,
            json_string(self.email.as_deref().unwrap_or_default()),
            json_string(self.first_name),
            json_string(self.platform)
        );
        self.push(
            MessageType::Identify,
            "",
            at,
            None,
            Some(traits),
            Some(anonymous),
        );
    }

    fn session(&mut self, mut at: i64, views: u32) -> i64 {
        let category = *self.rng.pick(&CATEGORIES);
        self.page("Accueil", at);
        for _ in 0..views {
            at += self.rng.range(20, 150) * 1000;
            let sku = format!("{}-{:03}", &category[..3], self.rng.range(1, 120));
            let price = self.rng.range(15, 180);
            self.track(
                "product_view",
                at,
                Some(format!(
                    r#"{{"sku":"{sku}","category":"{category}","price":{price}}}"#
                )),
            );
            if self.rng.chance(0.25) {
                at += self.rng.range(30, 240) * 1000;
                self.track("review_read", at, Some(format!(r#"{{"sku":"{sku}"}}"#)));
            }
            if self.persona == Persona::DealHunter && self.rng.chance(0.3) {
                at += self.rng.range(30, 120) * 1000;
                self.track(
                    "compare",
                    at,
                    Some(format!(r#"{{"category":"{category}"}}"#)),
                );
            }
        }
        at
    }

    /// Returns the time of the purchase, if there is one.
    fn checkout(&mut self, mut at: i64, order: u32) -> Option<i64> {
        let total = self.rng.range(25, 260);
        for _ in 0..self.rng.range(1, 3) {
            at += self.rng.range(20, 200) * 1000;
            let value = self.rng.range(15, 120);
            self.track("add_to_cart", at, Some(format!(r#"{{"value":{}}}"#, value)));
        }
        if self.persona == Persona::DealHunter && self.rng.chance(0.7) {
            at += self.rng.range(30, 300) * 1000;
            self.track(
                "coupon_applied",
                at,
                Some(r#"{"code":"BIENVENUE10"}"#.into()),
            );
        }
        if !self.rng.chance(0.72) {
            return None;
        }
        if self.user.is_none() {
            // Buying needs an account: sign up at checkout.
            at += self.rng.range(60, 240) * 1000;
            let anonymous = self.anonymous.clone();
            self.identify(at, &anonymous);
        }
        at += self.rng.range(30, 180) * 1000;
        self.track(
            "checkout_started",
            at,
            Some(format!(r#"{{"total":{total}}}"#)),
        );
        let week = week_of(at);
        let android_outage = self.platform == "android" && (7..=9).contains(&week);
        if self.rng.chance(if android_outage { 0.6 } else { 0.03 }) {
            at += self.rng.range(10, 60) * 1000;
            self.track(
                "payment_error",
                at,
                Some(r#"{"code":"3DS_TIMEOUT","step":"payment"}"#.into()),
            );
            if self.rng.chance(if android_outage { 0.8 } else { 0.4 }) {
                return None;
            }
            at += self.rng.range(60, 600) * 1000;
        }
        if !self.rng.chance(0.9) {
            return None;
        }
        at += self.rng.range(20, 90) * 1000;
        self.track(
            "purchase",
            at,
            Some(format!(
                r#"{{"order_id":"c{}-{order}","total":{total},"currency":"EUR"}}"#,
                self.index
            )),
        );
        Some(at)
    }

    /// Delivery, support and satisfaction after a purchase; returns how it went (0 bad – 1 good).
    fn after_purchase(&mut self, bought: i64) -> f64 {
        let shipped = bought + self.rng.range(12, 40) * HOUR;
        self.track("order_shipped", shipped, None);
        let late = (10..=11).contains(&week_of(bought));
        let extra = if late { self.rng.range(5, 9) * DAY } else { 0 };
        let delivered = shipped + self.rng.range(1, 3) * DAY + extra;
        if self.rng.chance(0.5) {
            let hours = self.rng.range(4, 30);
            self.track("tracking_viewed", shipped + hours * HOUR, None);
        }
        if late && self.rng.chance(0.5) {
            let days_before = self.rng.range(1, 3);
            self.track("tracking_viewed", delivered - days_before * DAY, None);
        }
        self.track("order_delivered", delivered, None);
        let mut experience = if late { 0.2 } else { 0.85 };
        if self.rng.chance(if late { 0.3 } else { 0.04 }) {
            let kind = if late || self.rng.chance(0.4) {
                "complaint"
            } else {
                "question"
            };
            let days_before = self.rng.range(0, 2);
            self.track(
                "support_ticket",
                delivered - days_before * DAY + HOUR,
                Some(format!(r#"{{"kind":"{kind}"}}"#)),
            );
            experience -= 0.2;
        }
        if self.rng.chance(0.35) {
            let score = (if experience > 0.5 {
                self.rng.normal(4.4, 0.6)
            } else {
                self.rng.normal(2.5, 0.9)
            })
            .round()
            .clamp(1.0, 5.0);
            let hours = self.rng.range(2, 48);
            self.track(
                "survey_answered",
                delivered + hours * HOUR,
                Some(format!(r#"{{"survey":"csat","score":{score}}}"#)),
            );
        }
        experience
    }

    fn newsletter(&mut self, subscribed: i64) {
        let mut week_start = START_MS + (week_of(subscribed)) * 7 * DAY;
        let reader = self.rng.chance(0.45);
        let clicker = reader && self.rng.chance(0.3);
        let mut unsubscribed = false;
        while week_start < END_MS && !unsubscribed {
            let daily = week_of(week_start) >= 12;
            let sends: i64 = if daily { 7 } else { 1 };
            for day in 0..sends {
                let sent = week_start + day * DAY + 9 * HOUR + self.rng.range(0, 50) * MINUTE;
                let campaign = if daily {
                    "nl-quotidienne".to_string()
                } else {
                    format!("nl-2026-s{:02}", week_of(sent))
                };
                let props = format!(r#"{{"campaign":"{campaign}"}}"#);
                self.track("email_sent", sent, Some(props.clone()));
                if reader && self.rng.chance(0.55) {
                    let opened = sent + self.rng.range(10, 600) * MINUTE;
                    self.track("email_opened", opened, Some(props.clone()));
                    if clicker && self.rng.chance(0.35) {
                        let seconds = self.rng.range(5, 90);
                        self.track(
                            "email_clicked",
                            opened + seconds * 1000,
                            Some(props.clone()),
                        );
                        let seconds = self.rng.range(10, 120);
                        self.page("Nouveautés", opened + seconds * 1000);
                    }
                }
                if self.rng.chance(if daily { 0.02 } else { 0.004 }) {
                    let minutes = self.rng.range(10, 600);
                    self.track("email_unsubscribed", sent + minutes * MINUTE, Some(props));
                    unsubscribed = true;
                    break;
                }
            }
            week_start += 7 * DAY;
        }
    }

    fn nps(&mut self, at: i64, experience: f64) {
        let score = if experience > 0.5 {
            self.rng.normal(8.6, 1.3)
        } else {
            self.rng.normal(5.0, 2.0)
        };
        let score = score.round().clamp(0.0, 10.0);
        self.track(
            "survey_answered",
            at,
            Some(format!(r#"{{"survey":"nps","score":{score}}}"#)),
        );
    }

    fn live(&mut self, first_touch: i64) {
        let mut at = first_touch;
        // Awareness: impressions, then a click or not.
        let source = self.rng.weighted(&[0.5, 0.3, 0.2]);
        let (impression, click) = match source {
            0 => ("ad_impression", "ad_clicked"),
            1 => ("social_impression", "social_clicked"),
            _ => ("", ""),
        };
        if !impression.is_empty() {
            let campaign = if source == 0 {
                "soldes-hiver"
            } else {
                "instagram-printemps"
            };
            for _ in 0..self.rng.range(2, 12) {
                at += self.rng.range(10, 600) * MINUTE;
                self.track(
                    impression,
                    at,
                    Some(format!(r#"{{"campaign":"{campaign}"}}"#)),
                );
            }
            if !self.rng.chance(0.45) {
                return;
            }
            at += self.rng.range(1, 30) * 1000;
            self.track(click, at, Some(format!(r#"{{"campaign":"{campaign}"}}"#)));
        }
        // Consideration.
        let considering = self.rng.chance(match self.persona {
            Persona::DealHunter => 0.8,
            _ => 0.65,
        });
        let seconds = self.rng.range(1, 20);
        let views = self.rng.range(2, 7);
        at = self.session(
            at + seconds * 1000,
            if considering { views as u32 } else { 0 },
        );
        if !considering {
            return;
        }
        let sessions = match self.persona {
            Persona::DealHunter => self.rng.range(1, 4),
            _ => self.rng.range(0, 2),
        };
        for _ in 0..sessions {
            at += self.rng.range(4, 72) * HOUR;
            let views = self.rng.range(1, 6);
            at = self.session(at, views as u32);
        }
        // Sign-up for the newsletter before buying, for some.
        if self.rng.chance(0.35) {
            at += self.rng.range(1, 10) * MINUTE;
            let anonymous = self.anonymous.clone();
            self.identify(at, &anonymous);
            self.newsletter(at);
        }
        // A second device, later logged in.
        if self.persona == Persona::Mobile && self.rng.chance(0.2) {
            let laptop = format!("{}-pc", self.anonymous);
            let visit = at + self.rng.range(2, 48) * HOUR;
            let saved_user = self.user.take();
            self.push(
                MessageType::Page,
                "Accueil",
                visit,
                None,
                None,
                Some(&laptop),
            );
            self.push(
                MessageType::Track,
                "product_view",
                visit + 40_000,
                Some(r#"{"sku":"ves-007","category":"vestes","price":89}"#.into()),
                None,
                Some(&laptop),
            );
            self.user = saved_user;
            if self.user.is_some() {
                self.identify(visit + 5 * MINUTE, &laptop);
            }
        }
        // Purchase.
        if !self.rng.chance(match self.persona {
            Persona::Mobile => 0.62,
            Persona::DealHunter => 0.55,
            Persona::Desktop => 0.58,
        }) {
            return;
        }
        at += self.rng.range(5, 60) * MINUTE;
        let Some(bought) = self.checkout(at, 1) else {
            return;
        };
        let experience = self.after_purchase(bought);
        // Loyalty.
        let mut last = bought + 3 * DAY;
        if self.rng.chance(0.2 * experience + 0.05) {
            last += self.rng.range(1, 10) * DAY;
            self.track("loyalty_joined", last, None);
        }
        if self.rng.chance(0.2) {
            let days = self.rng.range(1, 5);
            self.nps(last + days * DAY, experience);
        }
        let repurchase = match self.persona {
            Persona::DealHunter => 0.45,
            _ => 0.3,
        } * experience;
        if self.rng.chance(repurchase) {
            let again = last + self.rng.range(7, 35) * DAY;
            let views = self.rng.range(1, 4);
            let at = self.session(again, views as u32);
            if let Some(second) = self.checkout(at, 2) {
                self.after_purchase(second);
                if self.rng.chance(0.15) {
                    let days = self.rng.range(1, 10);
                    self.track("referral_sent", second + days * DAY, None);
                }
            }
        }
    }
}

/// Generates the demo, calling `sink` once per event, customer after customer.
pub fn generate(config: Config, sink: &mut dyn Sink) -> Result<u64, SinkError> {
    let mut master = Rng::new(config.seed);
    let week_total: f64 = WEEK_WEIGHTS.iter().sum();
    let mut events = Vec::with_capacity(256);
    let mut count = 0u64;
    for index in 0..config.customers {
        let mut rng = master.fork();
        let persona = match rng.weighted(&[0.45, 0.25, 0.30]) {
            0 => Persona::Mobile,
            1 => Persona::DealHunter,
            _ => Persona::Desktop,
        };
        let platform = match persona {
            Persona::Mobile => {
                if rng.chance(0.55) {
                    "ios"
                } else {
                    "android"
                }
            }
            Persona::DealHunter => *rng.pick(&["web", "web", "ios", "android"]),
            Persona::Desktop => "web",
        };
        let week = rng.weighted(&WEEK_WEIGHTS.map(|w| w / week_total)) as i64;
        let day = rng.weighted(&DAY_WEIGHTS) as i64;
        let hour = *rng.pick(&[8, 9, 12, 13, 18, 19, 20, 21, 22]);
        let first_touch =
            START_MS + (week * 7 + day) * DAY + hour * HOUR + rng.range(0, 59) * MINUTE;
        let first_name = *rng.pick(&FIRST_NAMES);
        events.clear();
        let mut customer = Customer {
            index,
            anonymous: format!("anon-{:016x}", rng.next_u64()),
            rng,
            user: None,
            email: None,
            first_name,
            platform,
            persona,
            out: &mut events,
        };
        customer.live(first_touch);
        for event in &events {
            sink.event(event)?;
        }
        count += events.len() as u64;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<Event>);

    impl Sink for Collect {
        fn event(&mut self, event: &Event) -> Result<(), SinkError> {
            self.0.push(event.clone());
            Ok(())
        }
    }

    fn demo(customers: u64, seed: u64) -> Vec<Event> {
        let mut out = Collect(Vec::new());
        generate(Config { customers, seed }, &mut out).unwrap();
        out.0
    }

    #[test]
    fn same_seed_same_events() {
        assert_eq!(demo(200, 7), demo(200, 7));
        assert_ne!(demo(200, 7), demo(200, 8));
    }

    #[test]
    fn events_stay_in_the_period_and_cover_the_journey() {
        let events = demo(3000, 1);
        assert!(
            events
                .iter()
                .all(|e| (START_MS..END_MS).contains(&e.timestamp))
        );
        for name in [
            "ad_impression",
            "ad_clicked",
            "social_clicked",
            "product_view",
            "add_to_cart",
            "checkout_started",
            "payment_error",
            "purchase",
            "order_delivered",
            "support_ticket",
            "survey_answered",
            "email_sent",
            "email_opened",
            "email_clicked",
            "email_unsubscribed",
            "loyalty_joined",
        ] {
            assert!(events.iter().any(|e| e.name == name), "no {name}");
        }
        assert!(events.iter().any(|e| {
            e.kind == MessageType::Identify
                && e.anonymous_id
                    .as_deref()
                    .is_some_and(|a| a.ends_with("-pc"))
        }));
        let keys: std::collections::HashSet<u64> = events.iter().map(|e| e.key).collect();
        assert_eq!(keys.len(), events.len(), "every demo event is distinct");
    }

    #[test]
    fn the_android_payment_friction_is_planted() {
        let events = demo(20_000, 3);
        let rate = |platform: &str, weeks: std::ops::RangeInclusive<i64>| {
            let in_scope = |e: &&Event| {
                weeks.contains(&week_of(e.timestamp))
                    && e.context
                        .as_deref()
                        .is_some_and(|c| c.contains(&format!("\"{platform}\"")))
            };
            let errors = events
                .iter()
                .filter(in_scope)
                .filter(|e| e.name == "payment_error")
                .count() as f64;
            let checkouts = events
                .iter()
                .filter(in_scope)
                .filter(|e| e.name == "checkout_started")
                .count() as f64;
            errors / checkouts
        };
        assert!(rate("android", 7..=9) > 0.45, "{}", rate("android", 7..=9));
        assert!(rate("android", 1..=6) < 0.1);
        assert!(rate("ios", 7..=9) < 0.1);
    }
}
