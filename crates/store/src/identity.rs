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
//!
//! Memory is what bounds a large import, so the resolver keeps little: identifiers as
//! 128-bit hashes (two different identifiers collide with probability about 10^-25 at a
//! billion identifiers), a small fixed record per customer, and logs of the new links and
//! trait updates that the import spills to disk and applies when it commits.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use parcours_events::{EventRef, IdKind, MessageType};
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::StoreError;

/// Whether a customer has a user id or an email: what the rules rank customers by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Strength {
    /// Has a user id (is known).
    pub user: bool,
    /// Has an email.
    pub email: bool,
}

impl Strength {
    fn rank(self) -> u8 {
        if self.user {
            2
        } else if self.email {
            1
        } else {
            0
        }
    }

    fn with(mut self, kind: IdKind) -> Strength {
        match kind {
            IdKind::User => self.user = true,
            IdKind::Email => self.email = true,
            IdKind::Anonymous => {}
        }
        self
    }
}

/// Identity lookups against what is already stored.
pub trait Directory {
    /// The (canonical) customer an identifier is linked to.
    fn lookup(&mut self, kind: IdKind, value: &str) -> Result<Option<u64>, StoreError>;
    /// Whether a stored customer has a user id, an email.
    fn strength(&mut self, customer: u64) -> Result<Strength, StoreError>;
}

const NO_PARENT: u64 = u64::MAX;

/// What the resolver keeps per customer it touched.
#[derive(Clone, Copy, Debug)]
struct State {
    first: i64,
    last: i64,
    parent: u64,
    strength: Strength,
}

impl State {
    fn new(strength: Strength) -> State {
        State {
            first: i64::MAX,
            last: i64::MIN,
            parent: NO_PARENT,
            strength,
        }
    }
}

fn id_hash(kind: IdKind, value: &str) -> u128 {
    xxh3_128_with_seed(value.as_bytes(), kind.code() as u64)
}

/// Identity changes made by one import, applied to storage when the import commits.
#[derive(Debug, Default)]
pub struct Resolver {
    ids: HashMap<u128, u64, RandomState>,
    /// Customers created by this import, by `id - first_new_id`.
    fresh: Vec<State>,
    /// Stored customers this import touched.
    touched: HashMap<u64, State, RandomState>,
    first_new_id: u64,
    /// Storage knew no identifier when the import began: nothing to look up there.
    storage_empty: bool,
    /// Customers merged: (merged, into), in order.
    pub merges: Vec<(u64, u64)>,
    links: Vec<u8>,
    traits: Vec<u8>,
}

/// A new identifier link, read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Kind of identifier.
    pub kind: IdKind,
    /// The identifier.
    pub value: String,
    /// Customer it was linked to (canonicalise with [`Resolver::find`]).
    pub customer: u64,
}

/// A trait update, read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraitUpdate {
    /// Customer (canonicalise with [`Resolver::find`]).
    pub customer: u64,
    /// Event time of the update.
    pub at: i64,
    /// The traits object, as JSON.
    pub traits: String,
}

/// Reads entries of a log written by [`Resolver`].
pub fn read_links(mut bytes: &[u8]) -> impl Iterator<Item = Link> + '_ {
    std::iter::from_fn(move || {
        let (&kind, rest) = bytes.split_first()?;
        let customer = u64::from_le_bytes(rest[..8].try_into().ok()?);
        let len = u32::from_le_bytes(rest[8..12].try_into().ok()?) as usize;
        let value = String::from_utf8_lossy(&rest[12..12 + len]).into_owned();
        bytes = &rest[12 + len..];
        Some(Link {
            kind: IdKind::from_code(i64::from(kind))?,
            value,
            customer,
        })
    })
}

/// Reads entries of a trait log written by [`Resolver`].
pub fn read_traits(mut bytes: &[u8]) -> impl Iterator<Item = TraitUpdate> + '_ {
    std::iter::from_fn(move || {
        if bytes.len() < 20 {
            return None;
        }
        let customer = u64::from_le_bytes(bytes[..8].try_into().ok()?);
        let at = i64::from_le_bytes(bytes[8..16].try_into().ok()?);
        let len = u32::from_le_bytes(bytes[16..20].try_into().ok()?) as usize;
        let traits = String::from_utf8_lossy(&bytes[20..20 + len]).into_owned();
        bytes = &bytes[20 + len..];
        Some(TraitUpdate {
            customer,
            at,
            traits,
        })
    })
}

impl Resolver {
    /// A resolver that numbers new customers from `next_id`.
    pub fn new(next_id: u64) -> Resolver {
        Resolver {
            first_new_id: next_id,
            ..Resolver::default()
        }
    }

    /// The same resolver, told that storage holds no identifier yet.
    pub fn with_empty_storage(mut self) -> Resolver {
        self.storage_empty = true;
        self
    }

    /// True for customers this import created (ids are handed out consecutively).
    pub fn is_new(&self, customer: u64) -> bool {
        customer >= self.first_new_id
    }

    /// Ids of the customers this import created, in order.
    pub fn created(&self) -> std::ops::Range<u64> {
        self.first_new_id..self.first_new_id + self.fresh.len() as u64
    }

    fn state(&self, customer: u64) -> Option<&State> {
        if self.is_new(customer) {
            self.fresh.get((customer - self.first_new_id) as usize)
        } else {
            self.touched.get(&customer)
        }
    }

    fn state_mut(
        &mut self,
        dir: &mut dyn Directory,
        customer: u64,
    ) -> Result<&mut State, StoreError> {
        if self.is_new(customer) {
            return Ok(&mut self.fresh[(customer - self.first_new_id) as usize]);
        }
        if !self.touched.contains_key(&customer) {
            let strength = if self.storage_empty {
                Strength::default()
            } else {
                dir.strength(customer)?
            };
            self.touched.insert(customer, State::new(strength));
        }
        Ok(self.touched.get_mut(&customer).expect("just inserted"))
    }

    /// The surviving customer of `customer`, after this import's merges.
    pub fn find(&self, mut customer: u64) -> u64 {
        while let Some(state) = self.state(customer) {
            if state.parent == NO_PARENT {
                break;
            }
            customer = state.parent;
        }
        customer
    }

    /// Earliest and latest event time of a customer, as seen by this import.
    pub fn seen(&self, customer: u64) -> Option<(i64, i64)> {
        self.state(customer)
            .filter(|s| s.first <= s.last)
            .map(|s| (s.first, s.last))
    }

    /// Stored customers this import touched, with the event times it saw for them.
    pub fn touched(&self) -> impl Iterator<Item = (u64, Option<(i64, i64)>)> + '_ {
        self.touched
            .iter()
            .map(|(&c, s)| (c, (s.first <= s.last).then_some((s.first, s.last))))
    }

    /// Whether a customer has a user id or an email, as far as this import knows.
    pub fn strength_of(&self, customer: u64) -> Option<Strength> {
        self.state(customer).map(|s| s.strength)
    }

    /// Frees the identifier lookups once every event is resolved ([`Resolver::find`] still
    /// works: it follows the per-customer records).
    pub fn release_lookups(&mut self) {
        self.ids = HashMap::default();
    }

    /// Takes the new links logged since the last call (see [`read_links`]).
    pub fn take_links(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.links)
    }

    /// Takes the trait updates logged since the last call (see [`read_traits`]).
    pub fn take_traits(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.traits)
    }

    /// Bytes held in the logs, for the caller to decide when to spill them.
    pub fn log_bytes(&self) -> usize {
        self.links.len() + self.traits.len()
    }

    fn lookup(
        &mut self,
        dir: &mut dyn Directory,
        kind: IdKind,
        value: &str,
    ) -> Result<Option<u64>, StoreError> {
        let hash = id_hash(kind, value);
        if let Some(&c) = self.ids.get(&hash) {
            return Ok(Some(self.find(c)));
        }
        if self.storage_empty {
            return Ok(None);
        }
        let found = dir.lookup(kind, value)?;
        if let Some(c) = found {
            self.ids.insert(hash, c);
        }
        Ok(found.map(|c| self.find(c)))
    }

    fn create(&mut self) -> u64 {
        let id = self.first_new_id + self.fresh.len() as u64;
        self.fresh.push(State::new(Strength::default()));
        id
    }

    fn link(
        &mut self,
        dir: &mut dyn Directory,
        kind: IdKind,
        value: &str,
        customer: u64,
    ) -> Result<(), StoreError> {
        self.ids.insert(id_hash(kind, value), customer);
        self.links.push(kind.code() as u8);
        self.links.extend_from_slice(&customer.to_le_bytes());
        self.links
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.links.extend_from_slice(value.as_bytes());
        let state = self.state_mut(dir, customer)?;
        state.strength = state.strength.with(kind);
        Ok(())
    }

    fn merge(&mut self, dir: &mut dyn Directory, from: u64, into: u64) -> Result<(), StoreError> {
        let taken = *self.state_mut(dir, from)?;
        let target = self.state_mut(dir, into)?;
        target.strength.user |= taken.strength.user;
        target.strength.email |= taken.strength.email;
        target.first = target.first.min(taken.first);
        target.last = target.last.max(taken.last);
        self.state_mut(dir, from)?.parent = into;
        self.merges.push((from, into));
        Ok(())
    }

    fn rank(&mut self, dir: &mut dyn Directory, customer: u64) -> Result<u8, StoreError> {
        Ok(self.state_mut(dir, customer)?.strength.rank())
    }

    /// The customer `event` belongs to, linking and merging identities as the rules say.
    pub fn resolve(
        &mut self,
        dir: &mut dyn Directory,
        event: EventRef<'_>,
    ) -> Result<u64, StoreError> {
        let target = if event.kind == MessageType::Alias {
            self.alias(dir, event)?
        } else {
            self.stitch(dir, event)?
        };
        let target = self.find(target);
        let state = self.state_mut(dir, target)?;
        state.first = state.first.min(event.timestamp);
        state.last = state.last.max(event.timestamp);
        if let Some(traits) = event.traits {
            self.traits.extend_from_slice(&target.to_le_bytes());
            self.traits
                .extend_from_slice(&event.timestamp.to_le_bytes());
            self.traits
                .extend_from_slice(&(traits.len() as u32).to_le_bytes());
            self.traits.extend_from_slice(traits.as_bytes());
        }
        Ok(target)
    }

    fn stitch(&mut self, dir: &mut dyn Directory, event: EventRef<'_>) -> Result<u64, StoreError> {
        let user = event.user_id;
        let email = event.email;
        let anonymous = event.anonymous_id;
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
                    if self.rank(dir, candidate)? < 2 {
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
                    let rank = self.rank(dir, candidate)?;
                    if best.is_none_or(|(r, _)| rank > r) {
                        best = Some((rank, candidate));
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
                    let (mine, theirs) = (self.rank(dir, target)?, self.rank(dir, other)?);
                    if theirs == 0 || (theirs == 1 && mine == 2) {
                        self.merge(dir, other, target)?;
                    }
                }
            }
        }
        Ok(target)
    }

    fn alias(&mut self, dir: &mut dyn Directory, event: EventRef<'_>) -> Result<u64, StoreError> {
        let (Some(user), Some(previous)) = (event.user_id, event.previous_id) else {
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
        if let Some(anonymous) = event.anonymous_id
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
    use parcours_events::Event;

    impl Resolver {
        fn resolve_event(
            &mut self,
            dir: &mut dyn Directory,
            event: &Event,
        ) -> Result<u64, StoreError> {
            self.resolve(dir, event.view())
        }
    }

    /// Storage that knows nothing: every test starts from an empty store.
    struct Empty;

    impl Directory for Empty {
        fn lookup(&mut self, _: IdKind, _: &str) -> Result<Option<u64>, StoreError> {
            Ok(None)
        }
        fn strength(&mut self, _: u64) -> Result<Strength, StoreError> {
            Ok(Strength::default())
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
            .resolve_event(&mut Empty, &track(None, Some("a1"), None))
            .unwrap();
        let signup = r
            .resolve_event(&mut Empty, &track(Some("u1"), Some("a1"), None))
            .unwrap();
        let later = r
            .resolve_event(&mut Empty, &track(Some("u1"), None, None))
            .unwrap();
        assert_eq!((visit, signup, later), (1, 1, 1));
        assert!(
            r.merges.is_empty(),
            "the anonymous customer became the user, nothing to merge"
        );
        let links: Vec<(IdKind, String)> = read_links(&r.take_links())
            .map(|l| (l.kind, l.value))
            .collect();
        assert_eq!(
            links,
            [
                (IdKind::Anonymous, "a1".to_string()),
                (IdKind::User, "u1".to_string())
            ]
        );
    }

    #[test]
    fn a_new_device_folds_into_the_known_customer() {
        let mut r = Resolver::new(1);
        let user = r
            .resolve_event(&mut Empty, &track(Some("u1"), Some("laptop"), None))
            .unwrap();
        let phone = r
            .resolve_event(&mut Empty, &track(None, Some("phone"), None))
            .unwrap();
        assert_ne!(user, phone);
        let login = r
            .resolve_event(&mut Empty, &track(Some("u1"), Some("phone"), None))
            .unwrap();
        assert_eq!(login, user);
        assert_eq!(r.merges, vec![(phone, user)]);
        assert_eq!(r.find(phone), user);
        assert_eq!(
            r.resolve_event(&mut Empty, &track(None, Some("phone"), None))
                .unwrap(),
            user
        );
    }

    #[test]
    fn two_known_customers_sharing_a_device_stay_apart() {
        let mut r = Resolver::new(1);
        let ana = r
            .resolve_event(&mut Empty, &track(Some("ana"), Some("family-pc"), None))
            .unwrap();
        let bob = r
            .resolve_event(&mut Empty, &track(Some("bob"), Some("family-pc"), None))
            .unwrap();
        assert_ne!(ana, bob);
        assert!(r.merges.is_empty());
        // The device stays with the first customer it was seen with.
        assert_eq!(
            r.resolve_event(&mut Empty, &track(None, Some("family-pc"), None))
                .unwrap(),
            ana
        );
    }

    #[test]
    fn alias_merges_two_known_customers() {
        let mut r = Resolver::new(1);
        let old = r
            .resolve_event(&mut Empty, &track(Some("old-id"), None, None))
            .unwrap();
        let new = r
            .resolve_event(&mut Empty, &track(Some("new-id"), None, None))
            .unwrap();
        let merged = r
            .resolve_event(&mut Empty, &alias("old-id", "new-id"))
            .unwrap();
        assert_eq!(merged, new);
        assert_eq!(r.merges, vec![(old, new)]);
        assert_eq!(
            r.resolve_event(&mut Empty, &track(Some("old-id"), None, None))
                .unwrap(),
            new
        );
    }

    #[test]
    fn alias_from_an_unknown_previous_id_links_it() {
        let mut r = Resolver::new(1);
        let c = r.resolve_event(&mut Empty, &alias("anon-7", "u9")).unwrap();
        assert_eq!(
            r.resolve_event(&mut Empty, &track(None, Some("anon-7"), None))
                .unwrap(),
            c
        );
        assert_eq!(
            r.resolve_event(&mut Empty, &track(Some("u9"), None, None))
                .unwrap(),
            c
        );
    }

    #[test]
    fn email_only_contacts_join_the_customer_who_owns_the_address() {
        let mut r = Resolver::new(1);
        let contact = r
            .resolve_event(&mut Empty, &track(None, None, Some("ana@x.io")))
            .unwrap();
        let customer = r
            .resolve_event(&mut Empty, &track(Some("ana"), Some("a1"), None))
            .unwrap();
        assert_ne!(contact, customer);
        let identify = r
            .resolve_event(
                &mut Empty,
                &event(MessageType::Identify, Some("ana"), None, Some("ana@x.io")),
            )
            .unwrap();
        assert_eq!(identify, customer);
        assert_eq!(r.merges, vec![(contact, customer)]);
        assert_eq!(
            r.resolve_event(&mut Empty, &track(None, None, Some("ana@x.io")))
                .unwrap(),
            customer
        );
    }

    #[test]
    fn a_first_user_id_attaches_to_the_email_contact() {
        let mut r = Resolver::new(1);
        let contact = r
            .resolve_event(&mut Empty, &track(None, None, Some("bob@x.io")))
            .unwrap();
        let identify = r
            .resolve_event(
                &mut Empty,
                &event(MessageType::Identify, Some("bob"), None, Some("bob@x.io")),
            )
            .unwrap();
        assert_eq!(identify, contact);
        assert_eq!(
            r.strength_of(contact),
            Some(Strength {
                user: true,
                email: true
            })
        );
    }

    #[test]
    fn trait_updates_and_times_are_logged_on_the_customer() {
        let mut r = Resolver::new(1);
        let mut older = event(MessageType::Identify, Some("u"), None, None);
        older.timestamp = 100;
        older.traits = Some(r#"{"plan":"free"}"#.into());
        let mut newer = older.clone();
        newer.timestamp = 200;
        newer.traits = Some(r#"{"plan":"pro"}"#.into());
        let c = r.resolve_event(&mut Empty, &older).unwrap();
        r.resolve_event(&mut Empty, &newer).unwrap();
        let updates: Vec<TraitUpdate> = read_traits(&r.take_traits()).collect();
        assert_eq!(updates.len(), 2);
        assert_eq!(
            (
                updates[1].customer,
                updates[1].at,
                updates[1].traits.as_str()
            ),
            (c, 200, r#"{"plan":"pro"}"#)
        );
        assert_eq!(r.seen(c), Some((100, 200)));
    }
}
