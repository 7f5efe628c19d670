//! Conditions, compiled for evaluation against a customer's events.
//!
//! A checked [`Expr`] becomes a [`Cond`]: literals resolved, regular expressions compiled,
//! stage names turned into journey positions, and every history function given a slot in
//! the per-customer [`History`] cache. Most conditions only read the event's name and type;
//! [`Cond::on_code`] decides those once per event code, so that the scan only evaluates
//! event by event what depends on properties, context, traits or history.
//!
//! Semantics of values that may be missing (a property absent from an event): every
//! comparison with a missing value is false, and `!=`, `not in` are the negation of `==`,
//! `in`. A text that reads as a number compares as that number with a number. A property
//! compared with a duration is read as seconds.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use parcours_expr::{BinaryOp, Expr, ExprKind, Field, Func};
use parcours_store::scan::TextColumn;
use regex::Regex;
use serde_json::Value as Json;

use crate::funnel::Millis;

/// The name and type of the events with one event code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeInfo {
    /// Segment message type: `track`, `page`, ...
    pub kind: String,
    /// Event name (page or screen name for those types).
    pub name: String,
}

/// One event as conditions see it; its texts are in the [`EventTexts`] beside the events,
/// read only for the events a condition reads them of.
#[derive(Clone, Copy, Debug)]
pub struct EventView {
    /// When it happened.
    pub at: Millis,
    /// Its event code, an index into the catalogue.
    pub code: u32,
    /// The touchpoint it matched, if any (index in journey order).
    pub touchpoint: Option<u16>,
}

/// The texts of a customer's events, by event index.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventTexts<'a> {
    /// Properties, JSON text.
    pub properties: TextColumn<'a>,
    /// Context, JSON text.
    pub context: TextColumn<'a>,
    /// The row of the columns holding the first event.
    pub first: usize,
}

impl<'a> EventTexts<'a> {
    /// The properties of event `index`.
    pub fn properties(&self, index: usize) -> Option<&'a str> {
        self.properties.get(self.first + index)
    }

    /// The context of event `index`.
    pub fn context(&self, index: usize) -> Option<&'a str> {
        self.context.get(self.first + index)
    }
}

/// What a customer condition may read besides events.
#[derive(Clone, Copy, Debug, Default)]
pub struct CustomerState<'a> {
    /// Latest trait values.
    pub traits: Option<parcours_store::scan::CustomerTraits<'a>>,
    /// Furthest stage reached (journey position).
    pub stage: Option<u16>,
    /// Persona, by position in the journey's list.
    pub persona: Option<u16>,
}

/// Names a condition is compiled against.
#[derive(Clone, Copy, Debug)]
pub struct Names<'a> {
    /// Stage ids in journey order.
    pub stages: &'a [String],
    /// Persona ids.
    pub personas: &'a [String],
    /// Touchpoint ids in journey order.
    pub touchpoints: &'a [String],
    /// Channel of each touchpoint.
    pub touchpoint_channels: &'a [&'a str],
}

/// A literal value.
#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    /// Milliseconds.
    Dur(i64),
}

#[derive(Clone, Debug)]
enum Node {
    Lit(Lit),
    List(Vec<Lit>),
    Event,
    Type,
    Touchpoint,
    Channel,
    /// The customer's stage, as a journey position (compared by order).
    Stage,
    Persona,
    Prop(String),
    Context(String),
    Trait(String),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cmp(BinaryOp, Box<Node>, Box<Node>),
    Matches(Box<Node>, Regex),
    Call {
        func: Func,
        slot: usize,
        within: Option<i64>,
    },
    /// A comparison of a number-valued left side (`count(...)`, `last_seen(...)`, `stage`)
    /// with a literal: the most common shape of customer conditions, decided without
    /// building values (see [`fast`]).
    NumCmp {
        op: BinaryOp,
        left: NumSource,
        right: f64,
    },
}

/// The left side of a [`Node::NumCmp`].
#[derive(Clone, Copy, Debug)]
enum NumSource {
    /// `count(...)`, compared with a number.
    Count {
        slot: usize,
        within: Option<i64>,
    },
    /// `last_seen(...)` or `first_seen(...)`, compared with a duration (milliseconds).
    Seen {
        func: Func,
        slot: usize,
    },
    Stage,
    Persona,
}

/// A compiled condition.
#[derive(Clone, Debug)]
pub struct Cond {
    /// Unique among the conditions of a process: keys the [`History`] cache.
    id: u64,
    root: Node,
    /// History function bodies, by slot.
    calls: Vec<Option<Node>>,
    /// Reads event properties.
    pub reads_properties: bool,
    /// Reads event context.
    pub reads_context: bool,
    /// Reads traits.
    pub reads_traits: bool,
    /// Reads the customer's stage or persona (known only once the customer is placed).
    pub reads_customer: bool,
    /// Trait names read (the first segment of dotted paths too).
    traits: Vec<String>,
    /// The trait whose value alone decides the condition, when it reads nothing else (no
    /// event, history, stage or persona) and that trait by a name without dots: its answer
    /// is kept per value id ([`History`]), a persona rule on a platform or plan evaluated once
    /// per value rather than once per customer.
    sole_trait: Option<String>,
    /// Per catalogue entry, when [`Cond::specialize`] ran: the condition with what the event
    /// code decides already decided (`None`: the whole condition is), for [`Cond::on_event`].
    by_code: Vec<Option<Node>>,
    /// When [`Cond::prepare_for_customers`] found the condition reads nothing of a customer
    /// but history functions the event code decides: the codes they find, and the
    /// condition's value for a customer with none of them (most customers, for a rule on
    /// coupons or second purchases).
    quiet: Option<(CodeSet, bool)>,
    /// Property and context fields compared with a literal are compared where the parsed
    /// text holds them (with the other rewrites; [`eval`]).
    fields_in_place: bool,
}

/// Catalogue entries, as bits: the codes among a customer's events, or those a condition
/// reads.
#[derive(Clone, Debug, Default)]
pub struct CodeSet {
    words: Vec<u64>,
}

impl CodeSet {
    /// Empties the set, keeping its room.
    pub fn clear(&mut self) {
        self.words.fill(0);
    }

    /// Adds catalogue entry `code`.
    pub fn insert(&mut self, code: u32) {
        let word = code as usize / 64;
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (code % 64);
    }

    /// Adds the entries below 64 set in `low`.
    pub fn insert_low(&mut self, low: u64) {
        if low == 0 {
            return;
        }
        if self.words.is_empty() {
            self.words.push(0);
        }
        self.words[0] |= low;
    }

    /// True when the set holds catalogue entry `code`.
    #[cfg(test)]
    pub fn contains(&self, code: u32) -> bool {
        let word = self.words.get(code as usize / 64).copied().unwrap_or(0);
        word & (1 << (code % 64)) != 0
    }

    /// True when the two sets share a code.
    fn meets(&self, other: &CodeSet) -> bool {
        self.words.iter().zip(&other.words).any(|(a, b)| a & b != 0)
    }
}

/// A value during evaluation.
#[derive(Clone, Debug)]
enum Val<'a> {
    Missing,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    Dur(i64),
    /// Stage or persona position.
    Pos(u16),
}

impl Cond {
    /// Compiles a checked expression.
    pub fn compile(expr: &Expr, names: &Names<'_>) -> Cond {
        Cond::compile_with(expr, names, true)
    }

    /// [`Cond::compile`], with the [`fast`] rewriting or without (to test it against).
    fn compile_with(expr: &Expr, names: &Names<'_>, rewrite: bool) -> Cond {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let mut cond = Cond {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            root: Node::Lit(Lit::Bool(false)),
            calls: Vec::new(),
            reads_properties: false,
            reads_context: false,
            reads_traits: false,
            reads_customer: false,
            traits: Vec::new(),
            sole_trait: None,
            by_code: Vec::new(),
            quiet: None,
            fields_in_place: rewrite,
        };
        cond.root = cond.node(expr, names);
        cond.sole_trait = sole_trait(&cond.root)
            .flatten()
            .map(str::to_owned)
            .filter(|_| cond.calls.is_empty());
        if rewrite {
            cond.root = fast(cond.root);
            for call in &mut cond.calls {
                if let Some(body) = call.take() {
                    *call = Some(fast(body));
                }
            }
        }
        cond
    }

    /// Prepares [`Cond::on_event`] for the codes of `catalog`: per code, the condition
    /// left once the parts its name and type decide are decided (`event in [...] or (event
    /// == "purchase" and count(...) >= 2)` is `count(...) >= 2` on a purchase).
    pub fn specialize(&mut self, catalog: &[CodeInfo], names: &Names<'_>) {
        self.by_code = catalog
            .iter()
            .map(|info| match tri(&self.root, info, None, names) {
                Some(_) => None,
                None => Some(residual(&self.root, info, names)),
            })
            .collect();
    }

    /// Marks in `listed` (by catalogue entry) the codes whose events a history function of
    /// the condition finds by code alone ([`History::list_among`]).
    pub fn mark_listed_codes(&self, catalog: &[CodeInfo], names: &Names<'_>, listed: &mut [bool]) {
        for body in self.calls.iter().flatten() {
            let decided: Vec<Option<bool>> = catalog
                .iter()
                .map(|info| tri(body, info, None, names))
                .collect();
            if decided.iter().all(Option::is_some) {
                for (mark, decided) in listed.iter_mut().zip(decided) {
                    *mark |= decided == Some(true);
                }
            }
        }
    }

    /// Prepares [`Cond::on_customer_among`] for the codes of `catalog`: a condition reading
    /// no trait, stage or persona, whose history functions all have a body the event code
    /// decides, is decided once for the customers with none of the codes those find.
    pub fn prepare_for_customers(&mut self, catalog: &[CodeInfo], names: &Names<'_>) {
        self.quiet = None;
        if self.reads_traits || self.reads_customer {
            return;
        }
        let mut codes = CodeSet::default();
        for body in &self.calls {
            // Without a body (`last_seen`), a function finds every event.
            let Some(body) = body else { return };
            for (code, info) in catalog.iter().enumerate() {
                match tri(body, info, None, names) {
                    Some(true) => codes.insert(code as u32),
                    Some(false) => {}
                    None => return,
                }
            }
        }
        let nobody = Scope {
            catalog,
            events: &[],
            texts: EventTexts::default(),
            customer: CustomerState::default(),
            now: 0,
            names,
        };
        let value = self.on_customer(&nobody, &mut History::default());
        self.quiet = Some((codes, value));
    }

    fn node(&mut self, expr: &Expr, names: &Names<'_>) -> Node {
        match &expr.kind {
            ExprKind::Str(s) => Node::Lit(Lit::Str(s.clone())),
            ExprKind::Num(n) => Node::Lit(Lit::Num(*n)),
            ExprKind::Bool(b) => Node::Lit(Lit::Bool(*b)),
            ExprKind::Duration(d) => Node::Lit(Lit::Dur(d.as_secs() as i64 * 1000)),
            ExprKind::List(items) => Node::List(
                items
                    .iter()
                    .filter_map(|item| match self.node(item, names) {
                        Node::Lit(lit) => Some(lit),
                        _ => None,
                    })
                    .collect(),
            ),
            ExprKind::Field(field) => match field {
                Field::Event => Node::Event,
                Field::Type => Node::Type,
                Field::Touchpoint => Node::Touchpoint,
                Field::Channel => Node::Channel,
                Field::Stage => {
                    self.reads_customer = true;
                    Node::Stage
                }
                Field::Persona => {
                    self.reads_customer = true;
                    Node::Persona
                }
                Field::Prop(p) => {
                    self.reads_properties = true;
                    Node::Prop(p.clone())
                }
                Field::Context(p) => {
                    self.reads_context = true;
                    Node::Context(p.clone())
                }
                Field::Trait(p) => {
                    self.reads_traits = true;
                    self.traits.push(p.clone());
                    if let Some((head, _)) = p.split_once('.') {
                        self.traits.push(head.to_string());
                    }
                    Node::Trait(p.clone())
                }
            },
            ExprKind::Not(inner) => Node::Not(Box::new(self.node(inner, names))),
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.node(lhs, names);
                let r = self.node(rhs, names);
                // Stage and persona literals become positions, so `stage >= "x"` is by order.
                let position = |node: &Node, lit: &Node| -> Option<Node> {
                    let list = match node {
                        Node::Stage => names.stages,
                        Node::Persona => names.personas,
                        _ => return None,
                    };
                    let find = |s: &str| list.iter().position(|x| x == s);
                    match lit {
                        Node::Lit(Lit::Str(s)) => {
                            Some(Node::Lit(Lit::Num(find(s).map_or(-1.0, |p| p as f64))))
                        }
                        Node::List(items) => Some(Node::List(
                            items
                                .iter()
                                .map(|item| match item {
                                    Lit::Str(s) => Lit::Num(find(s).map_or(-1.0, |p| p as f64)),
                                    other => other.clone(),
                                })
                                .collect(),
                        )),
                        _ => None,
                    }
                };
                let r = position(&l, &r).unwrap_or(r);
                match op {
                    BinaryOp::And => Node::And(Box::new(l), Box::new(r)),
                    BinaryOp::Or => Node::Or(Box::new(l), Box::new(r)),
                    BinaryOp::Matches => {
                        let pattern = match &r {
                            Node::Lit(Lit::Str(p)) => p.clone(),
                            _ => String::new(),
                        };
                        // Checked at validation: a pattern that got here compiles.
                        let regex = Regex::new(&pattern)
                            .unwrap_or_else(|_| Regex::new("$^").expect("a valid pattern"));
                        Node::Matches(Box::new(l), regex)
                    }
                    op => Node::Cmp(*op, Box::new(l), Box::new(r)),
                }
            }
            ExprKind::Call { func, args } => {
                let slot = self.calls.len();
                self.calls.push(None);
                let inner = args.first().map(|a| self.node(a, names));
                let within = args.get(1).and_then(|a| match &a.kind {
                    ExprKind::Duration(d) => Some(d.as_secs() as i64 * 1000),
                    _ => None,
                });
                self.calls[slot] = inner;
                Node::Call {
                    func: *func,
                    slot,
                    within,
                }
            }
        }
    }

    /// Trait names the condition reads.
    pub fn traits_read(&self) -> impl Iterator<Item = String> + '_ {
        self.traits.iter().cloned()
    }

    /// True when the condition reads events after the one evaluated (`followed_by`): its
    /// results near the end of the period are not final yet.
    pub fn looks_ahead(&self) -> bool {
        fn walk(node: &Node) -> bool {
            match node {
                Node::Call { func, .. } => *func == Func::FollowedBy,
                Node::Not(inner) | Node::Matches(inner, _) => walk(inner),
                Node::And(l, r) | Node::Or(l, r) | Node::Cmp(_, l, r) => walk(l) || walk(r),
                _ => false,
            }
        }
        walk(&self.root) || self.calls.iter().flatten().any(walk)
    }

    /// Number of history slots this condition uses.
    pub fn history_slots(&self) -> usize {
        self.calls.len()
    }

    /// The condition decided from the event code alone (name, type, and the touchpoint when
    /// it is fixed by the code), or `None` when it depends on more.
    pub fn on_code(
        &self,
        info: &CodeInfo,
        touchpoint: Option<Option<u16>>,
        names: &Names<'_>,
    ) -> Option<bool> {
        tri(&self.root, info, touchpoint, names)
    }

    /// True when evaluating the condition may read the properties or context of an event
    /// with this code: its code alone does not decide a part that reads them. `as_event`:
    /// the condition is evaluated on events (not on customers, where only the bodies of
    /// history functions read events).
    pub fn reads_texts_of(&self, info: &CodeInfo, as_event: bool, names: &Names<'_>) -> bool {
        let open = |node: &Node| reads_texts(node) && tri(node, info, None, names).is_none();
        (as_event && open(&self.root)) || self.calls.iter().flatten().any(open)
    }

    /// Evaluates the condition on event `index` of a customer's sorted events.
    pub fn on_event(&self, at: &Scope<'_>, history: &mut History, index: usize) -> bool {
        let code = at.events[index].code as usize;
        let root = match self.by_code.get(code) {
            Some(Some(residual)) => residual,
            _ => &self.root,
        };
        truthy(&eval(root, self, at, history, Some(index)))
    }

    /// Evaluates the condition on a customer (as of `at.now`).
    pub fn on_customer(&self, at: &Scope<'_>, history: &mut History) -> bool {
        if let Some(name) = &self.sole_trait {
            // 0: no value; else the value's id plus one.
            let key = at
                .customer
                .traits
                .and_then(|t| t.value_id(name))
                .map_or(0, |id| id as usize + 1);
            if let Some(known) = history.trait_answer(self.id, key) {
                return known;
            }
            let answer = truthy(&eval(&self.root, self, at, history, None));
            history.keep_trait_answer(self.id, key, answer);
            return answer;
        }
        truthy(&eval(&self.root, self, at, history, None))
    }

    /// [`Cond::on_customer`] for a customer whose events have the codes `present`: without
    /// evaluating it when [`Cond::prepare_for_customers`] decided it for them.
    pub fn on_customer_among(
        &self,
        at: &Scope<'_>,
        history: &mut History,
        present: &CodeSet,
    ) -> bool {
        match &self.quiet {
            Some((codes, value)) if !codes.meets(present) => *value,
            _ => self.on_customer(at, history),
        }
    }
}

/// Everything an evaluation reads.
pub struct Scope<'a> {
    /// The catalogue of event codes.
    pub catalog: &'a [CodeInfo],
    /// The customer's events, sorted by time.
    pub events: &'a [EventView],
    /// Their texts.
    pub texts: EventTexts<'a>,
    /// Customer state for customer conditions and traits.
    pub customer: CustomerState<'a>,
    /// "Now" for customer conditions (the end of the analysed period).
    pub now: Millis,
    /// Names, for touchpoint and channel values.
    pub names: &'a Names<'a>,
}

/// Conditions met by one event, as bits: those its code alone meets (`met`), plus those among
/// `open` (which need the event itself) for which `test` holds.
pub(crate) fn resolve_bits(mut met: u64, open: u64, mut test: impl FnMut(usize) -> bool) -> u64 {
    for c in bits(open) {
        if test(c) {
            met |= 1 << c;
        }
    }
    met
}

/// The positions of the bits set in `set`, lowest first.
pub(crate) fn bits(mut set: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (set != 0).then(|| {
            let bit = set.trailing_zeros() as usize;
            set &= set - 1;
            bit
        })
    })
}

/// Cache of history function results, shared by all the conditions evaluated on a customer:
/// for each (condition, slot), the indices of the customer's events matching the function's
/// condition. [`History::reset`] between customers; what an event code alone decides is
/// kept across customers.
///
/// Most bodies (`count(event == "purchase")`) are decided by the event code alone: their
/// matches are the customer's events with some codes, listed once per customer for all
/// slots, so that such a slot costs a lookup rather than a walk over the events.
#[derive(Default)]
pub struct History {
    /// The customer the cache is for (a count of resets).
    generation: u32,
    /// Per (condition, slot), in the order first met. Lists are refilled in place rather
    /// than dropped, so a customer allocates nothing here.
    slots: Vec<((u64, usize), Slot)>,
    /// Where the next slot asked for is likely to be: every customer's conditions ask for
    /// the same slots in the same order, the order they were first met in, so that a
    /// lookup is one comparison rather than the hashing of a key.
    slot_hint: usize,
    /// Per event code: the indices of the customer's events with it.
    by_code: Vec<Vec<u32>>,
    /// Codes whose list in `by_code` is not empty.
    codes_used: Vec<u32>,
    /// The codes some slot reads by code: only those are listed (most events are not).
    codes_wanted: Vec<bool>,
    /// The generation `by_code` was listed for.
    codes_for: Option<u32>,
    /// Per catalogue entry: whether the walk over the events lists its events
    /// ([`History::listing`]); empty when nothing is listed.
    listed_codes: Vec<bool>,
    /// The customer's events with a listed code, in order ([`History::list_among`]).
    listed_events: Vec<u32>,
    /// The generation `listed_events` is for.
    listed_for: Option<u32>,
    /// Some code a slot reads by code is not among the listed ones: every event is walked.
    wanted_unlisted: bool,
    /// The customer's event texts read so far, by event, properties then context: where
    /// their parse is in `parsed_values`, or [`UNREAD`]. A survey answer is read by several
    /// conditions and KPIs; parsing it is most of what reading it costs.
    parsed: [Vec<u32>; 2],
    /// The generation `parsed` is for.
    parsed_for: u32,
    /// Texts parsed, kept from customer to customer up to [`History::PARSED_TEXTS`]: the
    /// texts conditions read (a survey's name, a ticket's kind) repeat a few values over
    /// millions of events, so most are parsed once per pass.
    parsed_texts: crate::HashMap<Box<str>, u32>,
    /// Their parse: the JSON, or `None` for a text that is not JSON.
    parsed_values: Vec<Option<Json>>,
    /// Per condition decided by one trait ([`Cond::sole_trait`]): its answer per value key
    /// (0 unknown, 1 false, 2 true). Value ids stand for one value within a pass, whose
    /// customers share this history.
    trait_answers: Vec<(u64, Vec<u8>)>,
}

/// An event text not looked at yet for this customer ([`History::json`]).
const UNREAD: u32 = u32::MAX;

/// One history function's cache.
struct Slot {
    /// The generation `found` was made for.
    made_for: u32,
    found: Vec<u32>,
    plan: SlotPlan,
}

/// How a history function's matches are found.
enum SlotPlan {
    /// No body: every event.
    All,
    /// Decided by the code alone: the events with these codes.
    Codes(Vec<u32>),
    /// Per event code: 1 false, 2 true, 3 depends on the event.
    PerEvent(Vec<u8>),
}

impl SlotPlan {
    fn new(body: Option<&Node>, at: &Scope<'_>) -> SlotPlan {
        let Some(body) = body else {
            return SlotPlan::All;
        };
        let decided: Vec<u8> = at
            .catalog
            .iter()
            .map(|info| match tri(body, info, None, at.names) {
                Some(false) => 1,
                Some(true) => 2,
                None => 3,
            })
            .collect();
        if decided.contains(&3) {
            SlotPlan::PerEvent(decided)
        } else {
            SlotPlan::Codes(
                (0..decided.len() as u32)
                    .filter(|&c| decided[c as usize] == 2)
                    .collect(),
            )
        }
    }
}

impl History {
    /// Distinct texts whose parse is kept across customers: past them the cache starts
    /// over (texts holding an id, never read twice, would only fill it).
    const PARSED_TEXTS: usize = 4096;

    /// The JSON of event `index`'s properties (or context) `text`, parsed once per distinct
    /// text while the cache holds it.
    pub(crate) fn json(&mut self, index: usize, context: bool, text: &str) -> Option<&Json> {
        if self.parsed_for != self.generation {
            for list in &mut self.parsed {
                list.clear();
            }
            self.parsed_for = self.generation;
        }
        let side = usize::from(context);
        if self.parsed[side].len() <= index {
            self.parsed[side].resize(index + 1, UNREAD);
        }
        let mut at = self.parsed[side][index];
        if at == UNREAD {
            at = match self.parsed_texts.get(text) {
                Some(&at) => at,
                None => {
                    if self.parsed_values.len() >= Self::PARSED_TEXTS {
                        self.parsed_texts.clear();
                        self.parsed_values.clear();
                        for list in &mut self.parsed {
                            list.fill(UNREAD);
                        }
                    }
                    let at = self.parsed_values.len() as u32;
                    self.parsed_values.push(serde_json::from_str(text).ok());
                    self.parsed_texts.insert(text.into(), at);
                    at
                }
            };
            self.parsed[side][index] = at;
        }
        self.parsed_values[at as usize].as_ref()
    }

    /// Keys of trait answers kept per condition: values past them are evaluated each time
    /// (a trait with an id per customer would only fill the table).
    const TRAIT_ANSWERS: usize = 1 << 16;

    fn trait_answer(&self, cond: u64, key: usize) -> Option<bool> {
        let (_, answers) = self.trait_answers.iter().find(|(c, _)| *c == cond)?;
        match answers.get(key) {
            Some(1) => Some(false),
            Some(2) => Some(true),
            _ => None,
        }
    }

    fn keep_trait_answer(&mut self, cond: u64, key: usize, answer: bool) {
        if key >= Self::TRAIT_ANSWERS {
            return;
        }
        let at = match self.trait_answers.iter().position(|(c, _)| *c == cond) {
            Some(at) => at,
            None => {
                self.trait_answers.push((cond, Vec::new()));
                self.trait_answers.len() - 1
            }
        };
        let answers = &mut self.trait_answers[at].1;
        if answers.len() <= key {
            answers.resize(key + 1, 0);
        }
        answers[key] = 1 + u8::from(answer);
    }

    /// A history whose customers' events with the codes `codes` (by catalogue entry) are
    /// given by [`History::list_among`]: history functions reading only those codes list
    /// the events among them instead of walking every event.
    pub(crate) fn listing(codes: Vec<bool>) -> History {
        History {
            listed_codes: codes,
            ..History::default()
        }
    }

    /// The indices of the customer's events whose code is listed, in order, for this
    /// customer (until the next [`History::reset`]).
    pub(crate) fn list_among(&mut self, events: &[u32]) {
        self.listed_events.clear();
        self.listed_events.extend_from_slice(events);
        self.listed_for = Some(self.generation);
    }

    /// Forgets the previous customer.
    pub fn reset(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slots.clear();
            self.codes_for = None;
            self.listed_for = None;
        }
    }

    fn matches<'h>(&'h mut self, slot: usize, cond: &Cond, at: &Scope<'_>) -> &'h [u32] {
        let generation = self.generation;
        let History {
            slots,
            slot_hint,
            by_code,
            codes_used,
            codes_wanted,
            codes_for,
            listed_codes,
            listed_events,
            listed_for,
            wanted_unlisted,
            ..
        } = self;
        let key = (cond.id, slot);
        let hinted = slots
            .get(*slot_hint)
            .filter(|(k, _)| *k == key)
            .map(|_| *slot_hint);
        let index = match hinted.or_else(|| slots.iter().position(|(k, _)| *k == key)) {
            Some(index) => index,
            None => {
                let plan = SlotPlan::new(cond.calls[slot].as_ref(), at);
                if let SlotPlan::Codes(codes) = &plan {
                    for &code in codes {
                        let code = code as usize;
                        if codes_wanted.len() <= code {
                            codes_wanted.resize(code + 1, false);
                        }
                        codes_wanted[code] = true;
                        *wanted_unlisted |= !listed_codes.get(code).copied().unwrap_or(false);
                    }
                    // The customer's events were listed for fewer codes.
                    *codes_for = None;
                }
                slots.push((
                    key,
                    Slot {
                        made_for: generation.wrapping_sub(1),
                        found: Vec::new(),
                        plan,
                    },
                ));
                slots.len() - 1
            }
        };
        *slot_hint = index + 1;
        let entry = &mut slots[index].1;
        if let SlotPlan::Codes(codes) = &entry.plan {
            if *codes_for != Some(generation) {
                *codes_for = Some(generation);
                let among = (*listed_for == Some(generation) && !*wanted_unlisted)
                    .then_some(listed_events.as_slice());
                list_by_code(at.events, among, codes_wanted, by_code, codes_used);
            }
            if let [code] = codes[..] {
                return by_code.get(code as usize).map_or(&[], Vec::as_slice);
            }
        }
        if entry.made_for == generation {
            return &entry.found;
        }
        entry.made_for = generation;
        let found = &mut entry.found;
        found.clear();
        match &entry.plan {
            SlotPlan::All => found.extend(0..at.events.len() as u32),
            SlotPlan::Codes(codes) => {
                for &code in codes {
                    found.extend_from_slice(by_code.get(code as usize).map_or(&[], Vec::as_slice));
                }
                found.sort_unstable();
            }
            SlotPlan::PerEvent(decided) => {
                let inner = cond.calls[slot].as_ref().expect("a body");
                let mut nested = History::default();
                for (index, event) in at.events.iter().enumerate() {
                    let hit = match decided.get(event.code as usize) {
                        Some(1) => false,
                        Some(2) => true,
                        _ => truthy(&eval(inner, cond, at, &mut nested, Some(index))),
                    };
                    if hit {
                        found.push(index as u32);
                    }
                }
            }
        }
        found
    }
}

/// Lists the indices of `events` by event code, for the `wanted` codes: among the events
/// `among` when given (every event with a wanted code is among them), else all of them.
fn list_by_code(
    events: &[EventView],
    among: Option<&[u32]>,
    wanted: &[bool],
    by_code: &mut Vec<Vec<u32>>,
    used: &mut Vec<u32>,
) {
    for &code in used.iter() {
        by_code[code as usize].clear();
    }
    used.clear();
    if by_code.len() < wanted.len() {
        by_code.resize_with(wanted.len(), Vec::new);
    }
    let mut list = |index: u32, code: u32| {
        if !wanted.get(code as usize).copied().unwrap_or(false) {
            return;
        }
        let list = &mut by_code[code as usize];
        if list.is_empty() {
            used.push(code);
        }
        list.push(index);
    };
    match among {
        Some(among) => {
            for &index in among {
                list(index, events[index as usize].code);
            }
        }
        None => {
            for (index, event) in events.iter().enumerate() {
                list(index as u32, event.code);
            }
        }
    }
}

/// What trait `node` reads when it reads nothing else: `Some(None)` for nothing at all,
/// `Some(Some(name))` for the one trait `name` (by a name without dots), `None` otherwise.
fn sole_trait(node: &Node) -> Option<Option<&str>> {
    match node {
        Node::Lit(_) | Node::List(_) => Some(None),
        Node::Trait(path) if !path.contains('.') => Some(Some(path)),
        Node::Not(inner) | Node::Matches(inner, _) => sole_trait(inner),
        Node::And(l, r) | Node::Or(l, r) | Node::Cmp(_, l, r) => {
            match (sole_trait(l)?, sole_trait(r)?) {
                (Some(a), Some(b)) if a != b => None,
                (a, b) => Some(a.or(b)),
            }
        }
        _ => None,
    }
}

/// True when `node` reads event properties or context (history function bodies aside).
fn reads_texts(node: &Node) -> bool {
    match node {
        Node::Prop(_) | Node::Context(_) => true,
        Node::Not(inner) | Node::Matches(inner, _) => reads_texts(inner),
        Node::And(l, r) | Node::Or(l, r) | Node::Cmp(_, l, r) => reads_texts(l) || reads_texts(r),
        _ => false,
    }
}

fn truthy(value: &Val<'_>) -> bool {
    matches!(value, Val::Bool(true))
}

fn tri(
    node: &Node,
    info: &CodeInfo,
    touchpoint: Option<Option<u16>>,
    names: &Names<'_>,
) -> Option<bool> {
    match node {
        Node::Lit(Lit::Bool(b)) => Some(*b),
        Node::Not(inner) => tri(inner, info, touchpoint, names).map(|b| !b),
        Node::And(l, r) => match (
            tri(l, info, touchpoint, names),
            tri(r, info, touchpoint, names),
        ) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Node::Or(l, r) => match (
            tri(l, info, touchpoint, names),
            tri(r, info, touchpoint, names),
        ) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Node::Cmp(op, l, r) => {
            let l = static_value(l, info, touchpoint, names)?;
            if let Node::List(items) = r.as_ref() {
                return Some(in_list(*op, &l, items));
            }
            let r = static_value(r, info, touchpoint, names)?;
            Some(compare(*op, &l, &r))
        }
        Node::Matches(l, regex) => {
            let l = static_value(l, info, touchpoint, names)?;
            Some(matches!(l, Val::Str(s) if regex.is_match(&s)))
        }
        _ => None,
    }
}

fn static_value<'a>(
    node: &'a Node,
    info: &'a CodeInfo,
    touchpoint: Option<Option<u16>>,
    names: &Names<'a>,
) -> Option<Val<'a>> {
    Some(match node {
        Node::Lit(lit) => lit_val(lit),
        Node::List(_) => return Some(Val::Missing),
        Node::Event => Val::Str(Cow::Borrowed(&info.name)),
        Node::Type => Val::Str(Cow::Borrowed(&info.kind)),
        Node::Touchpoint => match touchpoint? {
            Some(t) => Val::Str(Cow::Borrowed(names.touchpoints[t as usize].as_str())),
            None => Val::Missing,
        },
        Node::Channel => match touchpoint? {
            Some(t) => Val::Str(Cow::Borrowed(names.touchpoint_channels[t as usize])),
            None => Val::Missing,
        },
        _ => return None,
    })
}

fn lit_val(lit: &Lit) -> Val<'_> {
    match lit {
        Lit::Str(s) => Val::Str(Cow::Borrowed(s)),
        Lit::Num(n) => Val::Num(*n),
        Lit::Bool(b) => Val::Bool(*b),
        Lit::Dur(d) => Val::Dur(*d),
    }
}

fn json_val(value: Option<&Json>) -> Val<'_> {
    match value {
        None | Some(Json::Null) => Val::Missing,
        Some(Json::Bool(b)) => Val::Bool(*b),
        Some(Json::Number(n)) => n.as_f64().map_or(Val::Missing, Val::Num),
        Some(Json::String(s)) => Val::Str(Cow::Borrowed(s)),
        Some(other) => Val::Str(Cow::Owned(other.to_string())),
    }
}

/// Looks a dotted path up: the whole path as one key first, then nested objects.
pub fn json_path<'j>(object: &'j Json, path: &str) -> Option<&'j Json> {
    if let Some(found) = object.get(path) {
        return Some(found);
    }
    let (head, rest) = path.split_once('.')?;
    json_path(object.get(head)?, rest)
}

fn eval<'a>(
    node: &'a Node,
    cond: &Cond,
    at: &Scope<'a>,
    history: &mut History,
    index: Option<usize>,
) -> Val<'a> {
    let event = index.map(|i| &at.events[i]);
    match node {
        Node::Lit(lit) => lit_val(lit),
        Node::List(_) => Val::Missing,
        Node::Event => match event {
            Some(e) => Val::Str(Cow::Borrowed(&at.catalog[e.code as usize].name)),
            None => Val::Missing,
        },
        Node::Type => match event {
            Some(e) => Val::Str(Cow::Borrowed(&at.catalog[e.code as usize].kind)),
            None => Val::Missing,
        },
        Node::Touchpoint => match event.and_then(|e| e.touchpoint) {
            Some(t) => Val::Str(Cow::Borrowed(at.names.touchpoints[t as usize].as_str())),
            None => Val::Missing,
        },
        Node::Channel => match event.and_then(|e| e.touchpoint) {
            Some(t) => Val::Str(Cow::Borrowed(at.names.touchpoint_channels[t as usize])),
            None => Val::Missing,
        },
        Node::Stage => at.customer.stage.map_or(Val::Missing, Val::Pos),
        Node::Persona => at.customer.persona.map_or(Val::Missing, Val::Pos),
        Node::Prop(path) | Node::Context(path) => {
            let text = match (node, index) {
                (Node::Prop(_), Some(i)) => at.texts.properties(i),
                (_, Some(i)) => at.texts.context(i),
                _ => None,
            };
            let (Some(text), Some(i)) = (text, index) else {
                return Val::Missing;
            };
            match history.json(i, matches!(node, Node::Context(_)), text) {
                Some(json) => match json_val(json_path(json, path)) {
                    Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
                    Val::Missing => Val::Missing,
                    Val::Bool(b) => Val::Bool(b),
                    Val::Num(n) => Val::Num(n),
                    other => other.clone_owned(),
                },
                None => Val::Missing,
            }
        }
        Node::Trait(path) => match at.customer.traits {
            Some(traits) => match traits.get(path.as_str()) {
                Some(value) => json_val(Some(value)),
                None => {
                    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
                    json_val(traits.get(head).and_then(|v| json_path(v, rest)))
                }
            },
            None => Val::Missing,
        },
        Node::Not(inner) => match eval(inner, cond, at, history, index) {
            Val::Bool(b) => Val::Bool(!b),
            _ => Val::Bool(true),
        },
        Node::And(l, r) => Val::Bool(
            truthy(&eval(l, cond, at, history, index))
                && truthy(&eval(r, cond, at, history, index)),
        ),
        Node::Or(l, r) => Val::Bool(
            truthy(&eval(l, cond, at, history, index))
                || truthy(&eval(r, cond, at, history, index)),
        ),
        // A property or context field compared with a literal: compared where the parsed
        // text holds it, rather than copied out first (an allocation per event).
        Node::Cmp(op, l, r)
            if cond.fields_in_place
                && matches!(l.as_ref(), Node::Prop(_) | Node::Context(_))
                && matches!(r.as_ref(), Node::Lit(_) | Node::List(_)) =>
        {
            Val::Bool(with_field(l, at, history, index, |lv| match r.as_ref() {
                Node::List(items) => in_list(*op, lv, items),
                Node::Lit(lit) => compare(*op, lv, &lit_val(lit)),
                _ => false,
            }))
        }
        Node::Cmp(op, l, r) => {
            let lv = eval(l, cond, at, history, index);
            match (op, r.as_ref()) {
                (_, Node::List(items)) => Val::Bool(in_list(*op, &lv, items)),
                _ => {
                    let rv = eval(r, cond, at, history, index);
                    Val::Bool(compare(*op, &lv, &rv))
                }
            }
        }
        Node::Matches(l, regex) => match eval(l, cond, at, history, index) {
            Val::Str(s) => Val::Bool(regex.is_match(&s)),
            _ => Val::Bool(false),
        },
        Node::Call {
            func, slot, within, ..
        } => call(*func, *slot, *within, cond, at, history, index),
        Node::NumCmp { op, left, right } => {
            let value = match *left {
                NumSource::Count { slot, within } => {
                    match call(Func::Count, slot, within, cond, at, history, index) {
                        Val::Num(n) => Some(n),
                        _ => None,
                    }
                }
                NumSource::Seen { func, slot } => {
                    match call(func, slot, None, cond, at, history, index) {
                        Val::Dur(d) => Some(d as f64),
                        _ => None,
                    }
                }
                NumSource::Stage => at.customer.stage.map(f64::from),
                NumSource::Persona => at.customer.persona.map(f64::from),
            };
            Val::Bool(decide(*op, value.and_then(|v| v.partial_cmp(right))))
        }
    }
}

/// `test` of the value of the property or context field `node` of event `index`, as
/// [`eval`] gives it, borrowed from the parsed text.
fn with_field(
    node: &Node,
    at: &Scope<'_>,
    history: &mut History,
    index: Option<usize>,
    test: impl FnOnce(&Val<'_>) -> bool,
) -> bool {
    let (path, context) = match node {
        Node::Prop(path) => (path, false),
        Node::Context(path) => (path, true),
        _ => return test(&Val::Missing),
    };
    let Some(i) = index else {
        return test(&Val::Missing);
    };
    let text = if context {
        at.texts.context(i)
    } else {
        at.texts.properties(i)
    };
    let Some(text) = text else {
        return test(&Val::Missing);
    };
    match history.json(i, context, text) {
        Some(json) => test(&json_val(json_path(json, path))),
        None => test(&Val::Missing),
    }
}

/// Rewrites the comparisons [`Node::NumCmp`] covers, everywhere in `node`. The rewritten
/// node gives what [`compare`] gives: a count is a number, `last_seen`/`first_seen` a
/// duration compared with a duration, a stage or persona a position compared with a
/// position; a missing value compares false but for `!=`.
fn fast(node: Node) -> Node {
    match node {
        Node::Not(inner) => Node::Not(Box::new(fast(*inner))),
        Node::And(l, r) => Node::And(Box::new(fast(*l)), Box::new(fast(*r))),
        Node::Or(l, r) => Node::Or(Box::new(fast(*l)), Box::new(fast(*r))),
        Node::Cmp(op, l, r) => {
            let left = match (l.as_ref(), r.as_ref()) {
                (
                    Node::Call {
                        func: Func::Count,
                        slot,
                        within,
                    },
                    Node::Lit(Lit::Num(_)),
                ) => Some(NumSource::Count {
                    slot: *slot,
                    within: *within,
                }),
                (
                    Node::Call {
                        func: func @ (Func::LastSeen | Func::FirstSeen),
                        slot,
                        within: None,
                    },
                    Node::Lit(Lit::Dur(_)),
                ) => Some(NumSource::Seen {
                    func: *func,
                    slot: *slot,
                }),
                (Node::Stage, Node::Lit(Lit::Num(_))) => Some(NumSource::Stage),
                (Node::Persona, Node::Lit(Lit::Num(_))) => Some(NumSource::Persona),
                _ => None,
            };
            let right = match r.as_ref() {
                Node::Lit(Lit::Num(n)) => *n,
                Node::Lit(Lit::Dur(d)) => *d as f64,
                _ => 0.0,
            };
            match left {
                Some(left) => Node::NumCmp { op, left, right },
                None => Node::Cmp(op, l, r),
            }
        }
        other => other,
    }
}

/// What a comparison concludes from the order of two values (`None`: one is missing or
/// they do not compare): false without an order, but for `!=` and `not in`.
fn decide(op: BinaryOp, ordering: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        BinaryOp::Ne | BinaryOp::NotIn => ordering != Some(Equal),
        BinaryOp::Eq | BinaryOp::In => ordering == Some(Equal),
        BinaryOp::Lt => ordering == Some(Less),
        BinaryOp::Le => matches!(ordering, Some(Less | Equal)),
        BinaryOp::Gt => ordering == Some(Greater),
        BinaryOp::Ge => matches!(ordering, Some(Greater | Equal)),
        _ => false,
    }
}

/// `node` on events of the code `info`, with the parts the code decides replaced by their
/// value.
fn residual(node: &Node, info: &CodeInfo, names: &Names<'_>) -> Node {
    if let Some(b) = tri(node, info, None, names) {
        return Node::Lit(Lit::Bool(b));
    }
    let both = |l: &Node, r: &Node| (residual(l, info, names), residual(r, info, names));
    match node {
        Node::Not(inner) => Node::Not(Box::new(residual(inner, info, names))),
        Node::And(l, r) => {
            let (l, r) = both(l, r);
            junction(l, r, true, Node::And)
        }
        Node::Or(l, r) => {
            let (l, r) = both(l, r);
            junction(l, r, false, Node::Or)
        }
        other => other.clone(),
    }
}

/// `join(l, r)`, or the one operand left when the other is `neutral` (`true` for `and`,
/// `false` for `or`).
fn junction(l: Node, r: Node, neutral: bool, join: fn(Box<Node>, Box<Node>) -> Node) -> Node {
    let is_neutral = |node: &Node| matches!(node, Node::Lit(Lit::Bool(b)) if *b == neutral);
    if is_neutral(&l) {
        truthy_node(r)
    } else if is_neutral(&r) {
        truthy_node(l)
    } else {
        join(Box::new(l), Box::new(r))
    }
}

/// `node` where only its truth matters: `and`/`or` give `true` for a `true` operand only, so
/// an operand left alone must still read as a boolean.
fn truthy_node(node: Node) -> Node {
    match node {
        Node::Lit(Lit::Bool(_))
        | Node::Not(_)
        | Node::And(..)
        | Node::Or(..)
        | Node::Cmp(..)
        | Node::Matches(..)
        | Node::NumCmp { .. } => node,
        other => Node::Cmp(
            BinaryOp::Eq,
            Box::new(other),
            Box::new(Node::Lit(Lit::Bool(true))),
        ),
    }
}

impl Val<'_> {
    fn clone_owned(&self) -> Val<'static> {
        match self {
            Val::Missing => Val::Missing,
            Val::Bool(b) => Val::Bool(*b),
            Val::Num(n) => Val::Num(*n),
            Val::Str(s) => Val::Str(Cow::Owned(s.to_string())),
            Val::Dur(d) => Val::Dur(*d),
            Val::Pos(p) => Val::Pos(*p),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn call<'a>(
    func: Func,
    slot: usize,
    within: Option<i64>,
    cond: &Cond,
    at: &Scope<'a>,
    history: &mut History,
    index: Option<usize>,
) -> Val<'a> {
    let events = at.events;
    let time = |i: u32| events[i as usize].at;
    let matches = history.matches(slot, cond, at);
    match index {
        // An event condition: relative to event `i`.
        Some(i) => {
            let now = events[i].at;
            let i = i as u32;
            let upto = matches.partition_point(|&j| j <= i);
            match func {
                Func::Count => {
                    let from = match within {
                        Some(w) => matches[..upto].partition_point(|&j| time(j) < now - w),
                        None => 0,
                    };
                    Val::Num((upto - from) as f64)
                }
                Func::FollowedBy => {
                    let next = matches[upto..].first();
                    Val::Bool(next.is_some_and(|&j| within.is_none_or(|w| time(j) <= now + w)))
                }
                Func::LastSeen => {
                    // The latest matching event before this one.
                    let before = matches.partition_point(|&j| j < i);
                    match before.checked_sub(1) {
                        Some(k) => Val::Dur(now - time(matches[k])),
                        None => Val::Missing,
                    }
                }
                Func::FirstSeen => match matches[..upto].first() {
                    Some(&j) => Val::Dur(now - time(j)),
                    None => Val::Missing,
                },
            }
        }
        // A customer condition: relative to the end of the period.
        None => {
            let now = at.now;
            let upto = matches.partition_point(|&j| time(j) <= now);
            match func {
                Func::Count => {
                    let from = match within {
                        Some(w) => matches[..upto].partition_point(|&j| time(j) < now - w),
                        None => 0,
                    };
                    Val::Num((upto - from) as f64)
                }
                Func::FollowedBy => Val::Missing,
                Func::LastSeen => match upto.checked_sub(1) {
                    Some(k) => Val::Dur(now - time(matches[k])),
                    None => Val::Missing,
                },
                Func::FirstSeen => match matches[..upto].first() {
                    Some(&j) => Val::Dur(now - time(j)),
                    None => Val::Missing,
                },
            }
        }
    }
}

/// `value in [...]` or `value not in [...]`.
fn in_list(op: BinaryOp, value: &Val<'_>, items: &[Lit]) -> bool {
    let found = items
        .iter()
        .any(|item| compare(BinaryOp::Eq, value, &lit_val(item)));
    found == (op != BinaryOp::NotIn)
}

/// A number from a value: numbers, texts that read as numbers, durations in milliseconds.
fn number(value: &Val<'_>) -> Option<f64> {
    match value {
        Val::Num(n) => Some(*n),
        Val::Str(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        Val::Dur(d) => Some(*d as f64),
        Val::Pos(p) => Some(*p as f64),
        _ => None,
    }
}

fn compare(op: BinaryOp, l: &Val<'_>, r: &Val<'_>) -> bool {
    use std::cmp::Ordering;
    if matches!(op, BinaryOp::Ne) {
        return !compare(BinaryOp::Eq, l, r);
    }
    if matches!(op, BinaryOp::NotIn) {
        return !compare(BinaryOp::In, l, r);
    }
    let ordering: Option<Ordering> = match (l, r) {
        (Val::Missing, _) | (_, Val::Missing) => None,
        (Val::Str(a), Val::Str(b)) => match op {
            BinaryOp::StartsWith => return a.starts_with(b.as_ref()),
            BinaryOp::EndsWith => return a.ends_with(b.as_ref()),
            BinaryOp::Contains => return a.contains(b.as_ref()),
            _ => Some(a.as_ref().cmp(b.as_ref())),
        },
        (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(b)),
        // A property compared with a duration is a number of seconds.
        (Val::Dur(a), other) if !matches!(other, Val::Dur(_)) => {
            number(other).and_then(|b| (*a as f64).partial_cmp(&(b * 1000.0)))
        }
        (other, Val::Dur(b)) if !matches!(other, Val::Dur(_)) => {
            number(other).and_then(|a| (a * 1000.0).partial_cmp(&(*b as f64)))
        }
        (a, b) => match (number(a), number(b)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
    };
    decide(op, ordering)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parcours_store::scan::Texts;

    #[test]
    fn texts_parsed_once_read_as_parsed_across_customers_and_after_the_cache_starts_over() {
        let n = |json: Option<&Json>| json.and_then(|j| j.get("n")).and_then(Json::as_i64);
        let mut history = History::default();
        history.reset();
        assert_eq!(n(history.json(0, false, r#"{"n":1}"#)), Some(1));
        assert_eq!(n(history.json(0, true, r#"{"n":2}"#)), Some(2));
        assert_eq!(history.json(1, false, "not json"), None);
        // Another customer, other texts at the same events.
        history.reset();
        assert_eq!(n(history.json(0, false, r#"{"n":3}"#)), Some(3));
        assert_eq!(n(history.json(1, false, r#"{"n":1}"#)), Some(1));
        // More distinct texts than the cache keeps, within one customer.
        history.reset();
        let count = History::PARSED_TEXTS + 10;
        for i in 0..count {
            assert_eq!(
                n(history.json(i, false, &format!(r#"{{"n":{i}}}"#))),
                Some(i as i64)
            );
        }
        for i in [0, 5, count - 1] {
            assert_eq!(
                n(history.json(i, false, &format!(r#"{{"n":{i}}}"#))),
                Some(i as i64)
            );
        }
    }

    #[test]
    fn bit_sets_resolve_open_conditions_by_testing_them() {
        assert_eq!(bits(0b1010_0001).collect::<Vec<_>>(), [0, 5, 7]);
        assert_eq!(bits(0).count(), 0);
        assert_eq!(bits(1 << 63).collect::<Vec<_>>(), [63]);
        let met = resolve_bits(0b0001, 0b0110, |c| c == 2);
        assert_eq!(met, 0b0101);
    }

    proptest::proptest! {
        /// A condition decided by one trait answers the same when its answers are kept per
        /// value across customers as when evaluated for each.
        #[test]
        fn trait_answers_kept_per_value_are_the_answers(
            values in proptest::collection::vec(proptest::option::of(0usize..6), 1..60),
        ) {
            let pool = [
                serde_json::json!("ios"),
                serde_json::json!("android"),
                serde_json::json!("web"),
                serde_json::json!(3),
                serde_json::Value::Null,
                serde_json::json!("iPadOS"),
            ];
            let names = ["platform".to_string(), "plan".to_string()];
            let traits = parcours_store::scan::Traits::from_values(
                &names,
                values.iter().enumerate().map(|(c, v)| {
                    (c as u64, vec![v.map(|i| pool[i].clone()), Some(serde_json::json!("pro"))])
                }),
            );
            let expr_names = parcours_expr::Names::default();
            let mut checks = parcours_expr::Scope::customer(expr_names);
            checks.customer_state_allowed = true;
            for text in [
                r#"trait.platform in ["ios", "android"]"#,
                r#"trait.platform == "web" or trait.platform == 3"#,
                r#"not (trait.platform matches "^i")"#,
                r#"trait.platform != "ios""#,
                r#"trait.plan == "pro" and trait.platform == "web""#,
            ] {
                let expr = parcours_expr::compile(text, &checks).unwrap();
                let cond = Cond::compile(&expr, &NAMES);
                proptest::prop_assert_eq!(cond.sole_trait.is_some(), !text.contains("plan"), "{}", text);
                let mut kept = History::default();
                for customer in 0..values.len() as u64 {
                    let scope = Scope {
                        catalog: &[],
                        events: &[],
                        texts: EventTexts::default(),
                        customer: CustomerState { traits: traits.of(customer), stage: None, persona: None },
                        now: 0,
                        names: &NAMES,
                    };
                    let plain = truthy(&eval(&cond.root, &cond, &scope, &mut History::default(), None));
                    proptest::prop_assert_eq!(cond.on_customer(&scope, &mut kept), plain, "{} for {}", text, customer);
                }
            }
        }
    }

    #[test]
    fn codes_gathered_as_low_bits_are_the_codes_inserted() {
        let codes = [0u32, 5, 63, 64, 130];
        let mut one_by_one = CodeSet::default();
        let mut gathered = CodeSet::default();
        let mut low = 0u64;
        for &code in &codes {
            one_by_one.insert(code);
            if code < 64 {
                low |= 1 << code;
            } else {
                gathered.insert(code);
            }
        }
        gathered.insert_low(low);
        assert_eq!(gathered.words, one_by_one.words);
        for code in 0..200 {
            let mut single = CodeSet::default();
            single.insert(code);
            assert_eq!(single.meets(&gathered), codes.contains(&code), "{code}");
        }
    }

    fn customer_cond(text: &str) -> Cond {
        let scope = parcours_expr::Scope::customer(parcours_expr::Names::default());
        let expr = parcours_expr::compile(text, &scope).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        Cond::compile(&expr, &NAMES)
    }

    const NAMES: Names<'static> = Names {
        stages: &[],
        personas: &[],
        touchpoints: &[],
        touchpoint_channels: &[],
    };

    #[test]
    fn conditions_sharing_a_history_keep_their_own_counts() {
        let catalog = vec![
            CodeInfo {
                kind: "track".into(),
                name: "coupon_applied".into(),
            },
            CodeInfo {
                kind: "track".into(),
                name: "email_opened".into(),
            },
        ];
        let event = |at, code| EventView {
            at,
            code,
            touchpoint: None,
        };
        let events = [event(0, 1), event(10, 1), event(20, 0)];
        let scope = Scope {
            catalog: &catalog,
            events: &events,
            texts: EventTexts::default(),
            customer: CustomerState::default(),
            now: 20,
            names: &NAMES,
        };
        let coupons = customer_cond(r#"count(event == "coupon_applied") == 1"#);
        let opens = customer_cond(r#"count(event == "email_opened") == 2"#);
        let recent = customer_cond(r#"count(event == "email_opened", 10s) == 2"#);
        let mut history = History::default();
        assert!(coupons.on_customer(&scope, &mut history));
        assert!(opens.on_customer(&scope, &mut history));
        assert!(recent.on_customer(&scope, &mut history));
        // Decided by code on the first customer, still right on the next one.
        history.reset();
        let events = [event(5, 0), event(6, 0)];
        let scope = Scope {
            events: &events,
            ..scope
        };
        assert!(!coupons.on_customer(&scope, &mut history));
        assert!(!opens.on_customer(&scope, &mut history));
    }

    #[test]
    fn missing_properties_compare_false_except_negations() {
        let catalog = vec![CodeInfo {
            kind: "track".into(),
            name: "survey_answered".into(),
        }];
        let events = [EventView {
            at: 0,
            code: 0,
            touchpoint: None,
        }];
        let properties = Texts::of([Some(r#"{"score":"9","plan":{"name":"pro"}}"#)]);
        let scope = Scope {
            catalog: &catalog,
            events: &events,
            texts: EventTexts {
                properties: properties.column(),
                ..EventTexts::default()
            },
            customer: CustomerState::default(),
            now: 0,
            names: &NAMES,
        };
        let event_cond = |text: &str| {
            let scope = parcours_expr::Scope::event(parcours_expr::Names::default());
            Cond::compile(&parcours_expr::compile(text, &scope).unwrap(), &NAMES)
        };
        let mut history = History::default();
        for (text, expected) in [
            ("prop.score >= 9", true),
            (r#"prop.plan.name == "pro""#, true),
            (r#"prop.missing == "x""#, false),
            (r#"prop.missing != "x""#, true),
            (r#"prop.missing not in ["x"]"#, true),
            ("prop.missing > 3", false),
        ] {
            assert_eq!(
                event_cond(text).on_event(&scope, &mut history, 0),
                expected,
                "{text}"
            );
        }
    }

    proptest::proptest! {
        /// The rewritten comparisons and the conditions specialised by event code decide
        /// what the plain interpretation decides, on any history and customer state.
        #[test]
        fn rewritten_and_specialised_conditions_decide_as_the_plain_ones(
            events in proptest::collection::vec((0u32..4, 0i64..40, 0u8..3), 0..12),
            stage in proptest::option::of(0u16..3),
            persona in proptest::option::of(0u16..2),
            now in 0i64..50,
        ) {
            let catalog: Vec<CodeInfo> = [("track", "buy"), ("track", "view"), ("page", "home"), ("track", "other")]
                .iter()
                .map(|(kind, name)| CodeInfo { kind: kind.to_string(), name: name.to_string() })
                .collect();
            let stages = ["a".to_string(), "b".to_string(), "c".to_string()];
            let personas = ["p".to_string(), "q".to_string()];
            let names = Names { stages: &stages, personas: &personas, touchpoints: &[], touchpoint_channels: &[] };
            let expr_names = parcours_expr::Names { stages: &stages, personas: &personas, ..Default::default() };
            let mut sorted = events.clone();
            sorted.sort_by_key(|e| e.1);
            let texts = [None, Some(r#"{"k":"x"}"#), Some(r#"{"k":"y"}"#)];
            let views: Vec<EventView> = sorted
                .iter()
                .map(|&(code, seconds, _)| EventView {
                    at: seconds * 1000,
                    code,
                    touchpoint: None,
                })
                .collect();
            let properties = Texts::of(sorted.iter().map(|&(_, _, text)| texts[text as usize]));
            let scope = Scope {
                catalog: &catalog,
                events: &views,
                texts: EventTexts { properties: properties.column(), ..EventTexts::default() },
                customer: CustomerState { traits: None, stage, persona },
                now: now * 1000,
                names: &names,
            };
            let customer_texts = [
                r#"count(event == "buy") >= 2"#,
                r#"count(event == "buy", 10s) > 0 and count(event == "view", 10s) == 0"#,
                r#"count(type == "track") != 3"#,
                r#"count(event == "view") < 1 or stage >= "b""#,
                r#"stage == "c""#,
                r#"stage != "a""#,
                r#"persona == "q""#,
                "last_seen > 5s",
                r#"last_seen(event == "buy") <= 3s"#,
                r#"first_seen(event == "view") >= 10s"#,
                r#"not (count(event == "buy") == 0)"#,
            ];
            let event_texts = [
                r#"event in ["view", "other"] or (event == "buy" and count(event == "buy") >= 2)"#,
                r#"event == "buy" and not followed_by(event == "view", 5s)"#,
                r#"event == "view" and prop.k == "x""#,
                r#"type == "page" or event == "view""#,
                r#"(event == "buy" or prop.k == "y") and count(event == "buy", 20s) < 2"#,
                r#"not (event == "home") and last_seen(event == "view") > 2s"#,
                r#"prop.k != "x" or prop.missing in ["x", "y"]"#,
                r#"prop.k in ["y", "z"] and prop.k >= "x""#,
                r#"prop.missing not in ["x"] and not (prop.k == "y")"#,
            ];
            let mut mine = History::default();
            let mut plain = History::default();
            for (text, customer) in customer_texts.iter().map(|t| (t, true)).chain(event_texts.iter().map(|t| (t, false))) {
                let checked = if customer {
                    let mut checks = parcours_expr::Scope::customer(expr_names);
                    checks.customer_state_allowed = true;
                    checks
                } else {
                    parcours_expr::Scope::event(expr_names)
                };
                let expr = parcours_expr::compile(text, &checked).unwrap_or_else(|e| panic!("{text}: {e:?}"));
                let mut fast = Cond::compile_with(&expr, &names, true);
                fast.specialize(&catalog, &names);
                let slow = Cond::compile_with(&expr, &names, false);
                // A history given the events of the codes history functions find by code.
                let mut codes = vec![false; catalog.len()];
                fast.mark_listed_codes(&catalog, &names, &mut codes);
                let among: Vec<u32> = (0..views.len() as u32)
                    .filter(|&i| codes[views[i as usize].code as usize])
                    .collect();
                let mut listing = History::listing(codes);
                listing.reset();
                listing.list_among(&among);
                // One told of no code: its functions walk every event.
                let mut unlisted = History::listing(vec![false; catalog.len()]);
                unlisted.reset();
                unlisted.list_among(&[]);
                if customer {
                    let expected = slow.on_customer(&scope, &mut plain);
                    proptest::prop_assert_eq!(fast.on_customer(&scope, &mut mine), expected, "{}", text);
                    proptest::prop_assert_eq!(
                        fast.on_customer(&scope, &mut listing),
                        expected,
                        "{} listing events by code", text
                    );
                    proptest::prop_assert_eq!(
                        fast.on_customer(&scope, &mut unlisted),
                        expected,
                        "{} with no code listed", text
                    );
                    // Decided from the codes present where it can be: the same answer.
                    fast.prepare_for_customers(&catalog, &names);
                    let mut present = CodeSet::default();
                    for view in &views {
                        present.insert(view.code);
                    }
                    proptest::prop_assert_eq!(
                        fast.on_customer_among(&scope, &mut mine, &present),
                        expected,
                        "{} among the codes present", text
                    );
                } else {
                    for i in 0..views.len() {
                        let expected = slow.on_event(&scope, &mut plain, i);
                        proptest::prop_assert_eq!(
                            fast.on_event(&scope, &mut mine, i),
                            expected,
                            "{} on event {}", text, i
                        );
                        proptest::prop_assert_eq!(
                            fast.on_event(&scope, &mut listing, i),
                            expected,
                            "{} on event {} listing events by code", text, i
                        );
                        proptest::prop_assert_eq!(
                            fast.on_event(&scope, &mut unlisted, i),
                            expected,
                            "{} on event {} with no code listed", text, i
                        );
                    }
                }
            }
        }
    }
}
