//! Identity stitching: which customer an event belongs to.
//!
//! The rules (also in `docs/events.md`), applied to events in the order they arrive:
//!
//! 1. Identifiers rank user id > email > anonymous id. A customer is *known* when it has
//!    a user id.
//! 2. The event goes to the customer of its user id; without one, to the strongest customer
//!    among those of its email and anonymous id; without any, to a new customer.
//! 3. A new user id attaches to the customer of the event's email or anonymous id if that
//!    customer has no user id yet: the anonymous visits before sign-up become the
//!    customer's.
//! 4. Every other identifier of the event that is not linked yet is linked to the event's
//!    customer. One linked to another customer folds that customer into the event's when the
//!    other is anonymous-only, or email-only while the event's customer is known. Two known
//!    customers are never merged implicitly (a shared computer is not one person).
//! 5. `alias` merges the customer of `previousId` (a user id, else an anonymous id) into the
//!    customer of `userId`, even when both are known. An unknown `previousId` is linked as
//!    an anonymous id.
//! 6. A merged customer's identifiers, traits and history belong to the surviving customer;
//!    its id stays valid and maps to the survivor.
//! 7. Traits keep, name by name, the value with the latest event timestamp (the later
//!    arrival on ties).

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::RandomState;

use parcours_events::{Event, IdKind, MessageType};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::StoreError;

/// What storage knows about a customer's identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// First user id.
    pub user_id: Option<String>,
    /// First email.
    pub email: Option<String>,
    /// First anonymous id.
    pub anonymous_id: Option<String>,
}

impl Profile {
    fn strength(&self) -> u8 {
        if self.user_id.is_some() {
            2
        } else if self.email.is_some() {
            1
        } else {
            0
        }
    }
}

/// Identity lookups against what is already stored.
pub trait Directory {
    /// The (canonical) customer an identifier is linked to.
    fn lookup(&mut self, kind: IdKind, value: &str) -> Result<Option<u64>, StoreError>;
    /// A stored customer's identity.
    fn profile(&mut self, customer: u64) -> Result<Profile, StoreError>;
}

/// A trait value and the event time it was set at.
pub type TraitValue = (Value, i64);

/// Identity changes made by one import, applied to storage when the import commits.
#[derive(Debug, Default)]
pub struct Resolver {
    /// Identifier → customer, one map per kind (indexed by `IdKind::code() - 1`), looked up
    /// by `&str` without allocating.
    links: [HashMap<Box<str>, u64, RandomState>; 3],
    /// Storage knew no identifier when the import began: nothing to look up there.
    storage_empty: bool,
    parent: HashMap<u64, u64>,
    profiles: HashMap<u64, Profile>,
    first_new_id: u64,
    next_id: u64,
    /// Identifiers linked for the first time, with the customer they were linked to.
    pub new_links: Vec<(IdKind, String, u64)>,
    /// Customers merged: (merged, into), in order.
    pub merges: Vec<(u64, u64)>,
    /// Customers created, in order.
    pub created: Vec<u64>,
    /// Stored customers whose profile gained an identifier.
    pub profile_changes: Vec<u64>,
    /// Trait updates per customer (as assigned; canonicalise with [`Resolver::find`]).
    pub traits: HashMap<u64, BTreeMap<String, TraitValue>>,
    /// Earliest and latest event time per customer.
    pub seen: HashMap<u64, (i64, i64)>,
}

impl Resolver {
    /// A resolver that numbers new customers from `next_id`.
    pub fn new(next_id: u64) -> Resolver {
        Resolver {
            first_new_id: next_id,
            next_id,
            ..Resolver::default()
        }
    }

    /// The same resolver, told that storage holds no identifier yet.
    pub fn with_empty_storage(mut self) -> Resolver {
        self.storage_empty = true;
        self
    }

    fn links(&mut self, kind: IdKind) -> &mut HashMap<Box<str>, u64, RandomState> {
        &mut self.links[(kind.code() - 1) as usize]
    }

    /// The surviving customer of `customer`, after this import's merges.
    pub fn find(&self, mut customer: u64) -> u64 {
        while let Some(&into) = self.parent.get(&customer) {
            customer = into;
        }
        customer
    }

    /// The identity of a customer: as changed by this import, else as stored.
    pub fn profile(&self, customer: u64) -> Option<&Profile> {
        self.profiles.get(&customer)
    }

    fn lookup(
        &mut self,
        dir: &mut dyn Directory,
        kind: IdKind,
        value: &str,
    ) -> Result<Option<u64>, StoreError> {
        if let Some(&c) = self.links(kind).get(value) {
            return Ok(Some(self.find(c)));
        }
        if self.storage_empty {
            return Ok(None);
        }
        let found = dir.lookup(kind, value)?;
        if let Some(c) = found {
            self.links(kind).insert(value.into(), c);
        }
        Ok(found.map(|c| self.find(c)))
    }

    fn load(&mut self, dir: &mut dyn Directory, customer: u64) -> Result<&mut Profile, StoreError> {
        if !self.profiles.contains_key(&customer) {
            let profile = if self.storage_empty {
                Profile::default()
            } else {
                dir.profile(customer)?
            };
            self.profiles.insert(customer, profile);
        }
        Ok(self.profiles.get_mut(&customer).expect("just inserted"))
    }

    /// True for customers this import created (ids are handed out consecutively).
    pub fn is_new(&self, customer: u64) -> bool {
        customer >= self.first_new_id
    }

    fn create(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.created.push(id);
        self.profiles.insert(id, Profile::default());
        id
    }

    fn link(
        &mut self,
        dir: &mut dyn Directory,
        kind: IdKind,
        value: &str,
        customer: u64,
    ) -> Result<(), StoreError> {
        self.links(kind).insert(value.into(), customer);
        self.new_links.push((kind, value.to_string(), customer));
        let is_new = self.is_new(customer);
        let profile = self.load(dir, customer)?;
        let slot = match kind {
            IdKind::User => &mut profile.user_id,
            IdKind::Email => &mut profile.email,
            IdKind::Anonymous => &mut profile.anonymous_id,
        };
        if slot.is_none() {
            *slot = Some(value.to_string());
            if !is_new {
                self.profile_changes.push(customer);
            }
        }
        Ok(())
    }

    fn merge(&mut self, dir: &mut dyn Directory, from: u64, into: u64) -> Result<(), StoreError> {
        let from_profile = self.load(dir, from)?.clone();
        let into_profile = self.load(dir, into)?;
        let mut changed = false;
        for (slot, value) in [
            (&mut into_profile.user_id, from_profile.user_id),
            (&mut into_profile.email, from_profile.email),
            (&mut into_profile.anonymous_id, from_profile.anonymous_id),
        ] {
            if slot.is_none() && value.is_some() {
                *slot = value;
                changed = true;
            }
        }
        if changed && !self.is_new(into) {
            self.profile_changes.push(into);
        }
        self.parent.insert(from, into);
        self.merges.push((from, into));
        Ok(())
    }

    fn strength(&mut self, dir: &mut dyn Directory, customer: u64) -> Result<u8, StoreError> {
        Ok(self.load(dir, customer)?.strength())
    }

    /// The customer `event` belongs to, linking and merging identities as the rules say.
    pub fn resolve(&mut self, dir: &mut dyn Directory, event: &Event) -> Result<u64, StoreError> {
        let target = if event.kind == MessageType::Alias {
            self.alias(dir, event)?
        } else {
            self.stitch(dir, event)?
        };
        let target = self.find(target);
        let span = self
            .seen
            .entry(target)
            .or_insert((event.timestamp, event.timestamp));
        span.0 = span.0.min(event.timestamp);
        span.1 = span.1.max(event.timestamp);
        if let Some(traits) = &event.traits
            && let Ok(Value::Object(object)) = serde_json::from_str::<Value>(traits)
        {
            self.set_traits(target, object, event.timestamp);
        }
        Ok(target)
    }

    fn set_traits(&mut self, customer: u64, object: Map<String, Value>, at: i64) {
        let current = self.traits.entry(customer).or_default();
        for (name, value) in object {
            crate::keep_latest(current, name, (value, at));
        }
    }

    fn stitch(&mut self, dir: &mut dyn Directory, event: &Event) -> Result<u64, StoreError> {
        let user = event.user_id.as_deref();
        let email = event.email.as_deref();
        let anonymous = event.anonymous_id.as_deref();
        let by_user = match user {
            Some(u) => self.lookup(dir, IdKind::User, u)?,
            None => None,
        };
        let by_email = match email {
            Some(e) => self.lookup(dir, IdKind::Email, e)?,
            None => None,
        };
        let by_anonymous = match anonymous {
            Some(a) => self.lookup(dir, IdKind::Anonymous, a)?,
            None => None,
        };
        let target = match (by_user, user) {
            (Some(c), _) => c,
            (None, Some(u)) => {
                let mut attach = None;
                for candidate in [by_email, by_anonymous].into_iter().flatten() {
                    if self.strength(dir, candidate)? < 2 {
                        attach = Some(candidate);
                        break;
                    }
                }
                let c = match attach {
                    Some(c) => c,
                    None => self.create(),
                };
                self.link(dir, IdKind::User, u, c)?;
                c
            }
            (None, None) => {
                let mut best: Option<(u8, u64)> = None;
                for candidate in [by_email, by_anonymous].into_iter().flatten() {
                    let strength = self.strength(dir, candidate)?;
                    if best.is_none_or(|(s, _)| strength > s) {
                        best = Some((strength, candidate));
                    }
                }
                match best {
                    Some((_, c)) => c,
                    None => self.create(),
                }
            }
        };
        for (kind, value, existing) in [
            (IdKind::Email, email, by_email),
            (IdKind::Anonymous, anonymous, by_anonymous),
        ] {
            let Some(value) = value else { continue };
            let target = self.find(target);
            match existing.map(|c| self.find(c)) {
                None => self.link(dir, kind, value, target)?,
                Some(other) if other == target => {}
                Some(other) => {
                    let (mine, theirs) = (self.strength(dir, target)?, self.strength(dir, other)?);
                    if theirs == 0 || (theirs == 1 && mine == 2) {
                        self.merge(dir, other, target)?;
                    }
                }
            }
        }
        Ok(target)
    }

    fn alias(&mut self, dir: &mut dyn Directory, event: &Event) -> Result<u64, StoreError> {
        let (Some(user), Some(previous)) = (event.user_id.as_deref(), event.previous_id.as_deref())
        else {
            return self.stitch(dir, event);
        };
        let by_user = self.lookup(dir, IdKind::User, user)?;
        let by_previous = match self.lookup(dir, IdKind::User, previous)? {
            Some(c) => Some(c),
            None => self.lookup(dir, IdKind::Anonymous, previous)?,
        };
        let target = match (by_user, by_previous) {
            (Some(u), Some(p)) if u != p => {
                self.merge(dir, p, u)?;
                u
            }
            (Some(u), _) => u,
            (None, Some(p)) => {
                self.link(dir, IdKind::User, user, p)?;
                p
            }
            (None, None) => {
                let c = self.create();
                self.link(dir, IdKind::User, user, c)?;
                c
            }
        };
        if by_previous.is_none() {
            self.link(dir, IdKind::Anonymous, previous, target)?;
        }
        if let Some(anonymous) = event.anonymous_id.as_deref()
            && self.lookup(dir, IdKind::Anonymous, anonymous)?.is_none()
        {
            self.link(dir, IdKind::Anonymous, anonymous, target)?;
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Storage that knows nothing: every test starts from an empty store.
    struct Empty;

    impl Directory for Empty {
        fn lookup(&mut self, _: IdKind, _: &str) -> Result<Option<u64>, StoreError> {
            Ok(None)
        }
        fn profile(&mut self, _: u64) -> Result<Profile, StoreError> {
            Ok(Profile::default())
        }
    }

    fn event(
        kind: MessageType,
        user: Option<&str>,
        anonymous: Option<&str>,
        email: Option<&str>,
    ) -> Event {
        Event {
            kind,
            name: "x".into(),
            user_id: user.map(Into::into),
            anonymous_id: anonymous.map(Into::into),
            email: email.map(Into::into),
            previous_id: None,
            group_id: None,
            message_id: None,
            timestamp: 0,
            properties: None,
            traits: None,
            context: None,
            key: 0,
        }
    }

    fn track(user: Option<&str>, anonymous: Option<&str>, email: Option<&str>) -> Event {
        event(MessageType::Track, user, anonymous, email)
    }

    fn alias(previous: &str, user: &str) -> Event {
        let mut e = event(MessageType::Alias, Some(user), None, None);
        e.previous_id = Some(previous.into());
        e
    }

    #[test]
    fn anonymous_visits_before_sign_up_become_the_customer_s() {
        let mut r = Resolver::new(1);
        let visit = r
            .resolve(&mut Empty, &track(None, Some("a1"), None))
            .unwrap();
        let signup = r
            .resolve(&mut Empty, &track(Some("u1"), Some("a1"), None))
            .unwrap();
        let later = r
            .resolve(&mut Empty, &track(Some("u1"), None, None))
            .unwrap();
        assert_eq!((visit, signup, later), (1, 1, 1));
        assert!(
            r.merges.is_empty(),
            "the anonymous customer became the user, nothing to merge"
        );
    }

    #[test]
    fn a_new_device_folds_into_the_known_customer() {
        let mut r = Resolver::new(1);
        let user = r
            .resolve(&mut Empty, &track(Some("u1"), Some("laptop"), None))
            .unwrap();
        let phone = r
            .resolve(&mut Empty, &track(None, Some("phone"), None))
            .unwrap();
        assert_ne!(user, phone);
        let login = r
            .resolve(&mut Empty, &track(Some("u1"), Some("phone"), None))
            .unwrap();
        assert_eq!(login, user);
        assert_eq!(r.merges, vec![(phone, user)]);
        assert_eq!(r.find(phone), user);
        assert_eq!(
            r.resolve(&mut Empty, &track(None, Some("phone"), None))
                .unwrap(),
            user
        );
    }

    #[test]
    fn two_known_customers_sharing_a_device_stay_apart() {
        let mut r = Resolver::new(1);
        let ana = r
            .resolve(&mut Empty, &track(Some("ana"), Some("family-pc"), None))
            .unwrap();
        let bob = r
            .resolve(&mut Empty, &track(Some("bob"), Some("family-pc"), None))
            .unwrap();
        assert_ne!(ana, bob);
        assert!(r.merges.is_empty());
        // The device stays with the first customer it was seen with.
        assert_eq!(
            r.resolve(&mut Empty, &track(None, Some("family-pc"), None))
                .unwrap(),
            ana
        );
    }

    #[test]
    fn alias_merges_two_known_customers() {
        let mut r = Resolver::new(1);
        let old = r
            .resolve(&mut Empty, &track(Some("old-id"), None, None))
            .unwrap();
        let new = r
            .resolve(&mut Empty, &track(Some("new-id"), None, None))
            .unwrap();
        let merged = r.resolve(&mut Empty, &alias("old-id", "new-id")).unwrap();
        assert_eq!(merged, new);
        assert_eq!(r.merges, vec![(old, new)]);
        assert_eq!(
            r.resolve(&mut Empty, &track(Some("old-id"), None, None))
                .unwrap(),
            new
        );
    }

    #[test]
    fn alias_from_an_unknown_previous_id_links_it() {
        let mut r = Resolver::new(1);
        let c = r.resolve(&mut Empty, &alias("anon-7", "u9")).unwrap();
        assert_eq!(
            r.resolve(&mut Empty, &track(None, Some("anon-7"), None))
                .unwrap(),
            c
        );
        assert_eq!(
            r.resolve(&mut Empty, &track(Some("u9"), None, None))
                .unwrap(),
            c
        );
    }

    #[test]
    fn email_only_contacts_join_the_customer_who_owns_the_address() {
        let mut r = Resolver::new(1);
        let contact = r
            .resolve(&mut Empty, &track(None, None, Some("ana@x.io")))
            .unwrap();
        let customer = r
            .resolve(&mut Empty, &track(Some("ana"), Some("a1"), None))
            .unwrap();
        assert_ne!(contact, customer);
        let identify = r
            .resolve(
                &mut Empty,
                &event(MessageType::Identify, Some("ana"), None, Some("ana@x.io")),
            )
            .unwrap();
        assert_eq!(identify, customer);
        assert_eq!(r.merges, vec![(contact, customer)]);
        assert_eq!(
            r.resolve(&mut Empty, &track(None, None, Some("ana@x.io")))
                .unwrap(),
            customer
        );
    }

    #[test]
    fn a_first_user_id_attaches_to_the_email_contact() {
        let mut r = Resolver::new(1);
        let contact = r
            .resolve(&mut Empty, &track(None, None, Some("bob@x.io")))
            .unwrap();
        let identify = r
            .resolve(
                &mut Empty,
                &event(MessageType::Identify, Some("bob"), None, Some("bob@x.io")),
            )
            .unwrap();
        assert_eq!(identify, contact);
        assert_eq!(r.profile(contact).unwrap().user_id.as_deref(), Some("bob"));
    }

    #[test]
    fn traits_keep_the_latest_value_by_event_time() {
        let mut r = Resolver::new(1);
        let mut older = event(MessageType::Identify, Some("u"), None, None);
        older.timestamp = 100;
        older.traits = Some(r#"{"plan":"free","city":"Lyon"}"#.into());
        let mut newer = older.clone();
        newer.timestamp = 200;
        newer.traits = Some(r#"{"plan":"pro"}"#.into());
        // Arrives after the newer one, but happened before: loses.
        let mut late = older.clone();
        late.timestamp = 150;
        late.traits = Some(r#"{"plan":"trial"}"#.into());
        let c = r.resolve(&mut Empty, &older).unwrap();
        r.resolve(&mut Empty, &newer).unwrap();
        r.resolve(&mut Empty, &late).unwrap();
        let traits = &r.traits[&c];
        assert_eq!(traits["plan"], (Value::from("pro"), 200));
        assert_eq!(traits["city"], (Value::from("Lyon"), 100));
        assert_eq!(r.seen[&c], (100, 200));
    }
}
