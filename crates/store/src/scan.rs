//! Reading the store customer by customer, for analyses.
//!
//! Every segment is sorted by (customer, time, key), so a merge of all segments by customer
//! hands out each customer's whole history in one piece, holding only a batch per open
//! segment in memory, whether or not the store was compacted. Only the columns asked for are
//! decoded, and a segment is opened only when the merge reaches its first customer.
//!
//! A scan can be split into [`Part`]s, disjoint ranges of customer ids holding about as many
//! events each, read by separate threads: on a compacted store (disjoint segments) each
//! part reads its own segments; otherwise parts skip the text pages outside their range.
//! A customer merged into another (by an `alias` or a shared identifier) is reported under
//! the customer it belongs to now: such histories, and the survivors', are held back by each
//! part and handed out by [`Scan::finish`], once all their pieces have been read.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parcours_events::MessageType;
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::DataType;
use parquet::file::reader::{FileReader, RowGroupReader, SerializedFileReader};
use parquet::file::statistics::Statistics;

use crate::rare_texts::RareTexts;
use crate::segment::parquet_error;
use crate::segment::{COLUMNS, Column};
use crate::text_pages::{PageError, TextBatch, TextPages};
use crate::trait_files::{self, Generation, RowValue, TraitFile};
use crate::{StoreError, Text};

/// Rows decoded from a segment at a time: a batch's columns (about 256 KB) stay in the
/// core's second-level cache, with the analysis's tables, until its customers are read.
/// Batches of 65,536 rows (2 MB) went through memory: four times the second-level cache
/// misses in a simulation of this machine's caches, 4% more CPU time at 100M events, and
/// more still when other work shares the caches.
const BATCH: usize = 1 << 13;

/// Which optional columns a scan decodes.
#[derive(Clone, Debug, Default)]
pub struct ScanColumns {
    /// Event properties (JSON text).
    pub properties: bool,
    /// Event context (JSON text).
    pub context: bool,
    /// When set, the texts of only the events whose code is marked (indexed by event code)
    /// are kept; the others read as absent. Copying every text costs more than the rest of
    /// a scan when an analysis reads them for a few kinds of events.
    pub text_codes: Option<Arc<[bool]>>,
}

impl ScanColumns {
    fn keeps_text_of(&self, code: i32) -> bool {
        match &self.text_codes {
            None => true,
            Some(codes) => usize::try_from(code)
                .ok()
                .and_then(|c| codes.get(c))
                .copied()
                .unwrap_or(false),
        }
    }
}

/// A text column of one customer's events, validated UTF-8 in one buffer.
#[derive(Debug, Default)]
pub struct Texts {
    data: String,
    ends: Vec<u32>,
}

impl Texts {
    /// The value of event `i`; `None` when absent or not read.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.column().get(i)
    }

    /// The texts `values`, one per event (`None`: absent).
    pub fn of<'v>(values: impl IntoIterator<Item = Option<&'v str>>) -> Texts {
        let mut texts = Texts::default();
        for value in values {
            texts.data.push_str(value.unwrap_or(""));
            texts.ends.push(texts.data.len() as u32);
        }
        texts
    }

    /// The values as a borrowed [`TextColumn`].
    pub fn column(&self) -> TextColumn<'_> {
        TextColumn {
            data: &self.data,
            ends: &self.ends,
            base: 0,
        }
    }

    /// Takes the values of `raw` (leaving it empty, with this buffer's old memory); bytes
    /// that are not UTF-8 (never written by Parcours) become replacement characters, value
    /// by value.
    fn fill(&mut self, raw: &mut TextBatch) {
        std::mem::swap(&mut self.ends, &mut raw.ends);
        raw.ends.clear();
        let mut old = std::mem::take(&mut self.data).into_bytes();
        old.clear();
        match String::from_utf8(std::mem::replace(&mut raw.data, old)) {
            Ok(text) => self.data = text,
            Err(error) => {
                let bytes = error.into_bytes();
                let mut start = 0;
                for end in &mut self.ends {
                    let value = String::from_utf8_lossy(&bytes[start..*end as usize]);
                    start = *end as usize;
                    self.data.push_str(&value);
                    *end = self.data.len() as u32;
                }
            }
        }
    }
}

/// One text column of a customer's events, borrowed from where the scan holds them.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextColumn<'a> {
    /// The values one after the other.
    data: &'a str,
    /// Where each event's value ends, as offsets in the buffer `data` was cut from.
    ends: &'a [u32],
    /// Where `data` starts in that buffer.
    base: u32,
}

impl<'a> TextColumn<'a> {
    /// The value of event `i`; `None` when absent or not read.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { self.base } else { self.ends[i - 1] };
        if end <= start {
            return None;
        }
        self.data
            .get((start - self.base) as usize..(end - self.base) as usize)
    }

    /// The rows `rows` of a batch's text column, when their bytes are UTF-8.
    fn of_rows(texts: &'a TextBatch, rows: std::ops::Range<usize>) -> Option<TextColumn<'a>> {
        if texts.is_empty() {
            return Some(TextColumn::default());
        }
        let base = match rows.start {
            0 => 0,
            start => texts.ends[start - 1],
        };
        let end = texts.ends[rows.end - 1].max(base);
        let data = std::str::from_utf8(&texts.data[base as usize..end as usize]).ok()?;
        Some(TextColumn {
            data,
            ends: &texts.ends[rows],
            base,
        })
    }
}

/// One customer's events, sorted by (time, key), as a scan hands them out: borrowed from
/// the decoded batch when they lie in one (most customers), or from a [`CustomerEvents`]
/// they were put together in.
#[derive(Clone, Copy, Debug)]
pub struct CustomerView<'a> {
    /// The customer, as it is now (after merges).
    pub customer: u64,
    /// Event times, milliseconds since 1970 UTC.
    pub at: &'a [i64],
    /// Event codes.
    pub code: &'a [i32],
    /// Dedup keys, when the events were put together from several segments (ordered by
    /// time, then key); empty otherwise.
    pub key: &'a [u64],
    /// Properties of each event, when asked for.
    pub properties: TextColumn<'a>,
    /// Context of each event, when asked for.
    pub context: TextColumn<'a>,
}

impl CustomerView<'_> {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// True without events.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}

/// One customer's events, sorted by (time, key).
#[derive(Debug, Default)]
pub struct CustomerEvents {
    /// The customer, as it is now (after merges).
    pub customer: u64,
    /// Event times, milliseconds since 1970 UTC.
    pub at: Vec<i64>,
    /// Event codes.
    pub code: Vec<i32>,
    /// Dedup keys (the tie-break between events at the same millisecond), when the
    /// customer's events came from several segments; empty otherwise: the events of one
    /// segment are in order already.
    pub key: Vec<u64>,
    /// The keys were not read: the events come from one segment, in its order.
    keys_unread: bool,
    /// Properties of each event, when asked for.
    pub properties: Texts,
    /// Context of each event, when asked for.
    pub context: Texts,
    raw_properties: TextBatch,
    raw_context: TextBatch,
}

impl CustomerEvents {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// True without events.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// The events as a [`CustomerView`].
    pub fn view(&self) -> CustomerView<'_> {
        CustomerView {
            customer: self.customer,
            at: &self.at,
            code: &self.code,
            key: &self.key,
            properties: self.properties.column(),
            context: self.context.column(),
        }
    }

    fn clear(&mut self) {
        self.at.clear();
        self.code.clear();
        self.key.clear();
        self.keys_unread = false;
        self.raw_properties.clear();
        self.raw_context.clear();
    }

    /// Appends rows of a batch; `keys_at` is where their keys start in `batch.key`, if read.
    fn extend_from(&mut self, batch: &Batch, rows: std::ops::Range<usize>, keys_at: Option<usize>) {
        self.at.extend_from_slice(&batch.at[rows.clone()]);
        self.code.extend_from_slice(&batch.code[rows.clone()]);
        // Keys are signed in Parquet, unsigned hashes here.
        match keys_at {
            Some(at) if !self.keys_unread => self
                .key
                .extend(batch.key[at..at + rows.len()].iter().map(|&k| k as u64)),
            Some(_) => {}
            None => {
                self.keys_unread = true;
                self.key.clear();
            }
        }
        if !batch.properties.is_empty() {
            self.raw_properties
                .extend_rows(&batch.properties, rows.clone());
        }
        if !batch.context.is_empty() {
            self.raw_context.extend_rows(&batch.context, rows);
        }
    }

    fn append(&mut self, other: &CustomerEvents) {
        let all = 0..other.len();
        self.at.extend_from_slice(&other.at);
        self.code.extend_from_slice(&other.code);
        self.keys_unread |= other.keys_unread;
        if self.keys_unread {
            self.key.clear();
        } else {
            self.key.extend_from_slice(&other.key);
        }
        if !other.raw_properties.is_empty() {
            self.raw_properties
                .extend_rows(&other.raw_properties, all.clone());
        }
        if !other.raw_context.is_empty() {
            self.raw_context.extend_rows(&other.raw_context, all);
        }
    }

    /// Sorts by (time, key) when pieces from several segments were put together, then
    /// makes the text columns readable.
    fn finish(&mut self) {
        // Keys are left unread only for customers no other segment holds (see
        // `keyed_ranges`): one segment's rows are sorted already.
        let sorted = self.keys_unread
            || self
                .at
                .windows(2)
                .zip(self.key.windows(2))
                .all(|(a, k)| (a[0], k[0]) <= (a[1], k[1]));
        if !sorted {
            // The sort keys side by side, each with its row: the pieces are sorted runs,
            // which the stable sort merges comparing in place rather than through indices.
            let mut order: Vec<(i64, u64, u32)> = (self.at.iter().zip(&self.key))
                .enumerate()
                .map(|(i, (&at, &key))| (at, key, i as u32))
                .collect();
            order.sort();
            self.at = order.iter().map(|&(at, _, _)| at).collect();
            self.code = order
                .iter()
                .map(|&(_, _, i)| self.code[i as usize])
                .collect();
            self.key = order.iter().map(|&(_, key, _)| key).collect();
            for raw in [&mut self.raw_properties, &mut self.raw_context] {
                if !raw.is_empty() {
                    let mut reordered = TextBatch {
                        data: Vec::with_capacity(raw.data.len()),
                        ends: Vec::with_capacity(raw.ends.len()),
                    };
                    for &(_, _, i) in &order {
                        reordered.push(raw.bytes(i as usize));
                    }
                    *raw = reordered;
                }
            }
        }
        self.properties.fill(&mut self.raw_properties);
        self.context.fill(&mut self.raw_context);
    }
}

/// The event catalogue: code, type and name of every event code in the store.
pub fn event_codes(root: &Path) -> Result<Vec<(i32, MessageType, String)>, StoreError> {
    crate::read_db(root)?.event_codes()
}

/// The parts that hold the events of `customer` (as it is now): one per stored id, its own
/// and those merged into it. [`scan_parts`] over them hands out that customer alone.
pub fn customer_parts(root: &Path, customer: u64) -> Result<Vec<Part>, StoreError> {
    let mut ids: Vec<u64> = crate::merged_customers(root)?
        .into_iter()
        .filter(|&(_, into)| into == customer)
        .map(|(from, _)| from)
        .collect();
    ids.push(customer);
    ids.sort_unstable();
    ids.dedup();
    Ok(ids
        .into_iter()
        .map(|id| Part {
            from: id,
            to: id.checked_add(1),
        })
        .collect())
}

/// [`scan_customers`] over the customers of `parts` only.
pub fn scan_parts(
    root: &Path,
    columns: ScanColumns,
    parts: &[Part],
    mut visit: impl FnMut(CustomerView<'_>) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let scan = Scan::open(root, columns)?;
    let mut partials = Vec::with_capacity(parts.len());
    for part in parts {
        partials.push(scan.run(part, &mut visit)?);
    }
    scan.finish(partials, visit)
}

/// Hands every customer's events to `visit`, one customer at a time, in increasing customer
/// order except for merged customers, which come last. Returns the number of events read.
pub fn scan_customers(
    root: &Path,
    columns: ScanColumns,
    mut visit: impl FnMut(CustomerView<'_>) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let scan = Scan::open(root, columns)?;
    let partial = scan.run(&Part::ALL, &mut visit)?;
    scan.finish(vec![partial], visit)
}

/// Customers whose ids lie in `from..to` (`to` excluded; `None`: no upper bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// First customer id of the part.
    pub from: u64,
    /// First customer id after the part.
    pub to: Option<u64>,
}

impl Part {
    /// Every customer.
    pub const ALL: Part = Part { from: 0, to: None };

    fn contains(&self, customer: u64) -> bool {
        customer >= self.from && self.to.is_none_or(|to| customer < to)
    }
}

/// A held customer's events put together from every part, not yet in order: sorting them is
/// left to the thread that visits the customer.
#[derive(Debug)]
pub struct HeldCustomer(Box<CustomerEvents>);

impl HeldCustomer {
    /// The customer's events, sorted by (time, key).
    pub fn finish(mut self) -> CustomerEvents {
        self.0.finish();
        *self.0
    }
}

/// What one part's scan leaves for [`Scan::finish`].
#[derive(Debug, Default)]
pub struct Partial {
    /// Events read by the part, held ones included.
    pub events: u64,
    /// Boxed: the pieces move from map to map to list, and a customer's buffers are a few
    /// hundred bytes to copy at each move where a box is a pointer.
    held: FastMap<u64, Box<CustomerEvents>>,
}

/// The row-group statistics of every segment with rows.
fn segment_files(root: &Path) -> Result<Vec<SegmentFile>, StoreError> {
    // Every segment is mapped and its footer asked of the kernel before any is read: footers
    // the page cache let go of are then read side by side, not one blocking fault after
    // the other while the analysis waits.
    let mut maps = Vec::new();
    for entry in crate::segments(root)? {
        let map = map_file(&entry.path)?;
        let tail = FOOTER_READ_AHEAD.min(map.0.len());
        map.will_need(map.0.len() - tail, tail);
        maps.push((entry.path, map));
    }
    let mut segments = Vec::new();
    for (path, map) in maps {
        let reader = read_segment(&path, map)?.reader;
        let mut groups = Vec::new();
        for group in reader.metadata().row_groups() {
            let rows = group.num_rows() as u64;
            if rows == 0 {
                continue;
            }
            let range = match group.column(0).statistics() {
                Some(Statistics::Int64(s)) => s
                    .min_opt()
                    .zip(s.max_opt())
                    .map(|(&min, &max)| (min as u64, max as u64)),
                _ => None,
            };
            // Without statistics the group may hold any customer.
            let (min, max) = range.unwrap_or((0, u64::MAX));
            groups.push((min, max, rows));
        }
        if !groups.is_empty() {
            segments.push(SegmentFile { path, groups });
        }
    }
    Ok(segments)
}

/// Row-group statistics of one segment.
struct SegmentFile {
    path: PathBuf,
    /// (first customer, last customer, rows) of each row group.
    groups: Vec<(u64, u64, u64)>,
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// Merged customers: each with the customer it lives on as, and those survivors.
struct Merges {
    into: FastMap<u64, u64>,
    /// Merged customers and survivors, sorted: whether one is, for customers met in
    /// order, is a walk along it ([`HeldWalk`]) rather than a hash lookup missing the cache.
    held: Arc<[u64]>,
}

impl Merges {
    fn load(root: &Path) -> Result<Merges, StoreError> {
        let into: FastMap<u64, u64> = crate::merged_customers(root)?.into_iter().collect();
        let survivors: FastSet<u64> = into.values().copied().collect();
        let mut held: Vec<u64> = into.keys().chain(&survivors).copied().collect();
        held.sort_unstable();
        held.dedup();
        Ok(Merges {
            into,
            held: held.into(),
        })
    }

    /// The customer `stored` is now.
    fn now(&self, stored: u64) -> u64 {
        self.into.get(&stored).copied().unwrap_or(stored)
    }
}

/// Membership in a sorted list for increasing (mostly) customers.
struct HeldWalk<'a> {
    sorted: &'a [u64],
    next: usize,
}

impl<'a> HeldWalk<'a> {
    fn new(sorted: &'a [u64]) -> HeldWalk<'a> {
        HeldWalk { sorted, next: 0 }
    }

    fn holds(&mut self, customer: u64) -> bool {
        // A first look, or a step back: search.
        if self.next == 0 || self.sorted[self.next - 1] >= customer {
            self.next = self.sorted.partition_point(|&h| h < customer);
        }
        while self.sorted.get(self.next).is_some_and(|&h| h < customer) {
            self.next += 1;
        }
        self.sorted.get(self.next) == Some(&customer)
    }
}

/// A planned scan of the store: its segments, their customer ranges, and the merges.
pub struct Scan {
    root: PathBuf,
    columns: ScanColumns,
    segments: Vec<SegmentFile>,
    merges: Merges,
}

impl Scan {
    /// Reads the store's catalogue, merges and segment footers.
    pub fn open(root: &Path, columns: ScanColumns) -> Result<Scan, StoreError> {
        // The merges come from SQLite and the footers from the segments: read side by side,
        // the footers cost nothing on top of the merges (a twentieth of a second at a
        // hundred million events).
        let (merges, segments) = std::thread::scope(|scope| {
            let merges = scope.spawn(|| Merges::load(root));
            let segments = segment_files(root);
            let merges = merges
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (merges, segments)
        });
        let (merges, segments) = (merges?, segments?);
        Ok(Scan {
            root: root.to_path_buf(),
            columns,
            segments,
            merges,
        })
    }

    /// Events in the store's segments.
    pub fn events(&self) -> u64 {
        self.segments
            .iter()
            .flat_map(|s| &s.groups)
            .map(|g| g.2)
            .sum()
    }

    /// Splits the customers into parts holding about the given shares of the events (in
    /// proportion to their sum), in customer order, assuming the customers of a row group
    /// spread evenly over its id range. A bound falls on the first customer of
    /// a row group when one is within half a group of it: a part then starts where a group
    /// does, rather than decoding the rows of another part to skip them.
    pub fn parts_by(&self, shares: &[f64]) -> Vec<Part> {
        let groups: Vec<(u64, u64, u64)> = self
            .segments
            .iter()
            .flat_map(|s| s.groups.iter().copied())
            .collect();
        let total: f64 = groups.iter().map(|g| g.2 as f64).sum();
        let (Some(low), Some(high)) = (
            groups.iter().map(|g| g.0).min(),
            groups.iter().map(|g| g.1).max(),
        ) else {
            return vec![Part::ALL];
        };
        // Events of customers below `id`.
        let below = |id: u64| -> f64 {
            groups
                .iter()
                .map(|&(min, max, rows)| {
                    if id <= min {
                        0.0
                    } else if id > max {
                        rows as f64
                    } else {
                        rows as f64 * (id - min) as f64 / ((max - min) as f64 + 1.0)
                    }
                })
                .sum()
        };
        let starts: Vec<(u64, f64)> = {
            let mut starts: Vec<(u64, f64)> = groups.iter().map(|g| (g.0, g.2 as f64)).collect();
            starts.sort_by_key(|g| g.0);
            starts
        };
        let sum: f64 = shares.iter().sum();
        let mut bounds = Vec::new();
        let mut so_far = 0.0;
        for share in shares.iter().take(shares.len().saturating_sub(1)) {
            so_far += share;
            let wanted = total * so_far / sum;
            let (mut lo, mut hi) = (low, high);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if below(mid) < wanted {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let at = starts.partition_point(|g| g.0 < lo);
            let nearest = [at.checked_sub(1), Some(at)]
                .into_iter()
                .flatten()
                .filter_map(|i| starts.get(i))
                .filter(|g| (below(g.0) - wanted).abs() <= g.1 / 2.0)
                .min_by(|a, b| {
                    (below(a.0) - wanted)
                        .abs()
                        .total_cmp(&(below(b.0) - wanted).abs())
                });
            if let Some(&(start, _)) = nearest {
                lo = start;
            }
            if bounds.last().is_none_or(|&b| lo > b) && lo > low {
                bounds.push(lo);
            }
        }
        let mut parts = Vec::with_capacity(bounds.len() + 1);
        let mut from = 0;
        for bound in bounds {
            parts.push(Part {
                from,
                to: Some(bound),
            });
            from = bound;
        }
        parts.push(Part { from, to: None });
        parts
    }

    /// Hands every customer of `part` to `visit`, in increasing customer order, except
    /// merged customers and their survivors, which are held for [`Scan::finish`].
    pub fn run(
        &self,
        part: &Part,
        visit: impl FnMut(CustomerView<'_>) -> Result<(), StoreError>,
    ) -> Result<Partial, StoreError> {
        self.run_reusing(part, &mut ScanBuffers::default(), visit)
    }

    /// [`Scan::run`] with decoding buffers kept from one run to the next: a thread reading
    /// part after part then decodes into memory it has touched before.
    pub fn run_reusing(
        &self,
        part: &Part,
        buffers: &mut ScanBuffers,
        mut visit: impl FnMut(CustomerView<'_>) -> Result<(), StoreError>,
    ) -> Result<Partial, StoreError> {
        let mut cursors = Vec::new();
        for segment in &self.segments {
            if segment
                .groups
                .iter()
                .any(|&(min, max, _)| max >= part.from && part.to.is_none_or(|to| min < to))
            {
                cursors.push(Cursor::new(
                    segment,
                    self.columns.clone(),
                    *part,
                    Arc::clone(&self.merges.held),
                ));
            }
        }
        // Cursors not loaded yet are keyed by the first customer their statistics promise,
        // a lower bound of their real first customer. The least key in the heap is the least
        // customer the cursors out of it may share with the one being read.
        let mut heap: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
        for (index, cursor) in cursors.iter_mut().enumerate() {
            if let Some(key) = cursor.key() {
                heap.push(Reverse((key, index)));
            }
        }
        let mut partial = Partial::default();
        let mut events = CustomerEvents::default();
        // Customers come in increasing order: whether one is held is a walk along the
        // sorted list, where a hash lookup missed the cache for every customer.
        let mut held = HeldWalk::new(&self.merges.held);
        let spare = &mut buffers.batches;
        let least = |heap: &BinaryHeap<Reverse<(u64, usize)>>, taken: Option<u64>| Sharing {
            others: heap.peek().map(|r| r.0.0),
            taken,
        };
        // The cursor just read, kept out of the heap while it holds the least key: with
        // disjoint segments it does, customer after customer, and a push and a pop per
        // customer cost more than the comparison.
        let mut current: Option<(u64, usize)> = None;
        while let Some((key, index)) = next_cursor(&mut current, &mut heap) {
            let cursor = &mut cursors[index];
            if !cursor.loaded {
                cursor.batch = spare.pop().unwrap_or_default();
                cursor.load(least(&heap, None))?;
                spare.extend(cursor.release());
                current = cursor.key().map(|key| (key, index));
                continue;
            }
            let customer = key;
            // Rows that lie within one batch, of a customer no other segment holds (the
            // least key of the others is past it) and not held back, are handed out where
            // they lie.
            let alone = heap.peek().is_none_or(|next| next.0.0 != customer);
            if alone
                && !held.holds(customer)
                && let Some(rows) = cursor.run_within_batch(customer)
                && let Some(view) = cursor.view(customer, rows.clone())
            {
                partial.events += rows.len() as u64;
                visit(view)?;
                cursor.row = rows.end;
                current = cursor.key().map(|key| (key, index));
                continue;
            }
            // A held customer's runs go straight to its pieces; the others' to the buffer
            // handed to `visit`.
            let holds = held.holds(customer);
            let out: &mut CustomerEvents = if holds {
                let now = self.merges.now(customer);
                let pieces = partial.held.entry(now).or_default();
                pieces.customer = now;
                pieces
            } else {
                events.clear();
                &mut events
            };
            let before = out.len();
            cursor.take_run(customer, out, least(&heap, None))?;
            spare.extend(cursor.release());
            if let Some(key) = cursor.key() {
                heap.push(Reverse((key, index)));
            }
            // Every other segment whose next customer is this one gives its run; a cursor
            // not loaded yet might hold it too.
            while let Some(&Reverse((next, index))) = heap.peek() {
                if next != customer {
                    break;
                }
                heap.pop();
                let cursor = &mut cursors[index];
                if !cursor.loaded {
                    cursor.batch = spare.pop().unwrap_or_default();
                    cursor.load(least(&heap, Some(customer)))?;
                }
                if cursor.key() == Some(customer) {
                    cursor.take_run(customer, out, least(&heap, Some(customer)))?;
                }
                spare.extend(cursor.release());
                if let Some(key) = cursor.key() {
                    heap.push(Reverse((key, index)));
                }
            }
            partial.events += (out.len() - before) as u64;
            if holds {
                continue;
            }
            events.customer = customer;
            events.finish();
            visit(events.view())?;
        }
        Ok(partial)
    }

    /// Puts together the held pieces of every part and hands those customers to `visit`, in
    /// increasing order. Returns the events read by all parts.
    pub fn finish(
        &self,
        partials: Vec<Partial>,
        mut visit: impl FnMut(CustomerView<'_>) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let (read, held) = self.held(partials);
        for customer in held {
            visit(customer.finish().view())?;
        }
        Ok(read)
    }

    /// Puts together the held pieces of every part: the events read by all parts, and the
    /// held customers in increasing customer order, each to be finished and visited by any
    /// thread.
    pub fn held(&self, partials: Vec<Partial>) -> (u64, Vec<HeldCustomer>) {
        let mut held: FastMap<u64, Box<CustomerEvents>> = FastMap::with_capacity_and_hasher(
            partials.iter().map(|p| p.held.len()).sum(),
            foldhash::fast::RandomState::default(),
        );
        let mut read = 0;
        for partial in partials {
            read += partial.events;
            for (id, pieces) in partial.held {
                match held.get_mut(&id) {
                    Some(all) => all.append(&pieces),
                    None => {
                        held.insert(id, pieces);
                    }
                }
            }
        }
        // Sorted by the key beside each box, not through it.
        let mut customers: Vec<(u64, Box<CustomerEvents>)> = held.into_iter().collect();
        customers.sort_unstable_by_key(|held| held.0);
        let customers = customers
            .into_iter()
            .map(|(_, events)| HeldCustomer(events))
            .collect();
        (read, customers)
    }
}

/// The least of `current` (taken) and the cursors in `heap`, as if `current` were pushed
/// and the least popped.
#[inline]
fn next_cursor(
    current: &mut Option<(u64, usize)>,
    heap: &mut BinaryHeap<Reverse<(u64, usize)>>,
) -> Option<(u64, usize)> {
    match current.take() {
        Some(least) if heap.peek().is_none_or(|next| least < next.0) => Some(least),
        Some(other) => match heap.peek_mut() {
            Some(mut top) => Some(std::mem::replace(&mut *top, Reverse(other)).0),
            None => Some(other),
        },
        None => heap.pop().map(|Reverse(least)| least),
    }
}

/// Decoding buffers a thread keeps from one [`Scan::run_reusing`] to the next.
#[derive(Default)]
pub struct ScanBuffers {
    batches: Vec<Batch>,
}

/// Decoded rows of one segment.
#[derive(Default)]
struct Batch {
    customer: Vec<u64>,
    at: Vec<i64>,
    /// As stored (signed): the keys of the rows in `keyed`, in row order.
    key: Vec<i64>,
    /// The row ranges whose keys were read, in order; each is whole customers.
    keyed: Vec<std::ops::Range<usize>>,
    code: Vec<i32>,
    properties: TextBatch,
    context: TextBatch,
    /// Decoding room for a column read before conversion (customers are signed in
    /// Parquet), kept with the batch so that it is reused as the batch is.
    longs: Vec<i64>,
}

impl Batch {
    /// Room for `rows` more rows of the number columns, made at once: grown by the
    /// decoder, they doubled four times over a batch, copying what they held each time.
    fn reserve(&mut self, rows: usize) {
        room(&mut self.customer, rows);
        room(&mut self.at, rows);
        room(&mut self.code, rows);
    }

    fn clear(&mut self) {
        self.customer.clear();
        self.at.clear();
        self.key.clear();
        self.keyed.clear();
        self.code.clear();
        self.properties.clear();
        self.context.clear();
    }
}

/// Room for `rows` more values in `values`. An empty buffer too small is replaced by one
/// of a whole batch rather than grown: growing reallocates, which copies the old room, used
/// or not.
fn room<T>(values: &mut Vec<T>, rows: usize) {
    if values.capacity() - values.len() >= rows {
        return;
    }
    if values.is_empty() {
        *values = Vec::with_capacity(rows.max(BATCH));
    } else {
        values.reserve(rows);
    }
}

/// How one column of the current row group is read.
enum ColumnRead {
    Numbers(Column, Box<ColumnReader>),
    Texts(Text, TextPages),
}

/// Opens a segment for reading, mapped in memory: pages are decompressed from where the
/// page cache holds them, where reading them copied every byte once more (a tenth of an
/// analysis). Every cursor maps its own.
fn open_segment(path: &Path) -> Result<Segment, StoreError> {
    read_segment(path, map_file(path)?)
}

/// Maps the segment at `path`.
fn map_file(path: &Path) -> Result<SegmentMap, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    Ok(SegmentMap(Arc::new(map_segment(&file).map_err(io)?)))
}

/// Reads the footer of the segment mapped as `map`.
fn read_segment(path: &Path, map: SegmentMap) -> Result<Segment, StoreError> {
    let reader =
        SerializedFileReader::new(Bytes::from_owner(map.clone())).map_err(parquet_error(path))?;
    Ok(Segment { reader, map })
}

/// The end of a segment asked of the kernel before its footer is read: the footer holds
/// the row groups' statistics and the rare properties (about 160 KiB in the demo's).
const FOOTER_READ_AHEAD: usize = 256 << 10;

/// The piece of a column chunk asked of the kernel at a time by [`Cursor::read_ahead`].
const READ_AHEAD_PIECE: usize = 512 << 10;

/// An open segment: its reader, and the mapping the reader's pages borrow.
struct Segment {
    reader: SerializedFileReader<Bytes>,
    map: SegmentMap,
}

/// A segment's mapping, shared by its reader and the cursor that tells the kernel which of
/// its bytes are about to be read.
#[derive(Clone)]
struct SegmentMap(Arc<memmap2::Mmap>);

impl AsRef<[u8]> for SegmentMap {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl SegmentMap {
    /// Asks the kernel to read `len` bytes from `offset` into the page cache, in the
    /// background. Only advice: a range it refuses is read as before, fault by fault.
    fn will_need(&self, offset: usize, len: usize) {
        let _ = self.0.advise_range(memmap2::Advice::WillNeed, offset, len);
    }
}

#[allow(unsafe_code)]
fn map_segment(file: &File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: a mapping is undefined behaviour if its file changes underneath. Segments never
    // do: they are written under `.pending/`, renamed into place once complete, and never
    // written or truncated again; compaction writes new segments and unlinks old ones, and
    // an unlinked file stays whole for the mappings still open on it.
    unsafe { memmap2::Mmap::map(file) }
}

/// A segment read batch by batch, within one part.
struct Cursor {
    path: PathBuf,
    /// Opened when the merge reaches the segment.
    reader: Option<SerializedFileReader<Bytes>>,
    columns: ScanColumns,
    part: Part,
    /// Row groups to read, with their first customer.
    groups: Vec<(usize, u64)>,
    next_group: usize,
    readers: Vec<ColumnRead>,
    left_in_group: usize,
    loaded: bool,
    finished: bool,
    batch: Batch,
    row: usize,
    /// The first range of `batch.keyed` not wholly before `row`.
    keyed_at: usize,
    /// Where that range's keys start in `batch.key`.
    keys_at: usize,
    /// Merged customers and survivors, sorted: their events are put together from several
    /// customers' pieces, so they need their keys.
    held: Arc<[u64]>,
    /// The properties wanted, when the segment's footer holds them all (rare codes): the
    /// column is then not read.
    rare: Option<RareTexts>,
    /// The file row of the next row to decode.
    next_row: u64,
}

impl Cursor {
    fn new(segment: &SegmentFile, columns: ScanColumns, part: Part, held: Arc<[u64]>) -> Cursor {
        let groups = segment
            .groups
            .iter()
            .enumerate()
            .filter(|&(_, &(min, max, _))| max >= part.from && part.to.is_none_or(|to| min < to))
            .map(|(index, &(min, _, _))| (index, min.max(part.from)))
            .collect();
        Cursor {
            path: segment.path.clone(),
            reader: None,
            columns,
            part,
            groups,
            next_group: 0,
            readers: Vec::new(),
            left_in_group: 0,
            loaded: false,
            finished: false,
            batch: Batch::default(),
            row: 0,
            keyed_at: 0,
            keys_at: 0,
            held,
            rare: None,
            next_row: 0,
        }
    }

    /// The next customer (a lower bound before loading); `None` when done.
    fn key(&self) -> Option<u64> {
        if self.finished {
            None
        } else if !self.loaded {
            self.groups.get(self.next_group).map(|g| g.1)
        } else {
            Some(self.batch.customer[self.row])
        }
    }

    /// Opens the segment and decodes its first batch.
    fn load(&mut self, others: Sharing) -> Result<(), StoreError> {
        self.loaded = true;
        let Segment { reader, map } = open_segment(&self.path)?;
        self.rare = None;
        if self.columns.properties
            && let Some(wanted) = &self.columns.text_codes
            && let Some(metadata) = reader.metadata().file_metadata().key_value_metadata()
        {
            self.rare = RareTexts::read(metadata, wanted).map_err(|reason| {
                StoreError::Corrupt(format!(
                    "{}: the footer's rare properties are damaged: {reason}",
                    self.path.display()
                ))
            })?;
        }
        self.read_ahead(&reader, &map);
        self.reader = Some(reader);
        self.refill(others)
    }

    /// Asks the kernel to bring the column chunks the cursor will decode into the page cache
    /// now, in the background. Pages the cache has let go of were otherwise read at the
    /// first touch, one blocking fault at a time: with 3% of a store's pages dropped (a
    /// machine was seen dropping 1,400 pages a minute while idle), an analysis took 10 to 15%
    /// longer. Pages already cached cost the kernel a lookup each (no slower when measured).
    fn read_ahead(&self, reader: &SerializedFileReader<Bytes>, map: &SegmentMap) {
        let metadata = reader.metadata();
        for &(group, _) in &self.groups {
            let Some(group) = metadata.row_groups().get(group) else {
                continue;
            };
            for (index, column) in COLUMNS.iter().enumerate() {
                if !self.wanted(*column) || index >= group.num_columns() {
                    continue;
                }
                let (start, len) = group.column(index).byte_range();
                let (start, end) = (start as usize, start.saturating_add(len) as usize);
                // The kernel reads at most its read-ahead size per request (128 KiB to a
                // few MiB): a column chunk is asked for piece by piece.
                for from in (start..end).step_by(READ_AHEAD_PIECE) {
                    map.will_need(from, READ_AHEAD_PIECE.min(end - from));
                }
            }
        }
    }

    /// The rows of `customer` from the current one, when the batch holds them all: the
    /// batch goes on past them.
    fn run_within_batch(&self, customer: u64) -> Option<std::ops::Range<usize>> {
        let customers = &self.batch.customer;
        let start = self.row;
        let end = start + run_length(&customers[start..], customer);
        (end < customers.len()).then_some(start..end)
    }

    /// The rows `rows` of `customer`, borrowed from the batch; `None` when their texts are
    /// not UTF-8 (never written by Parcours), which the copying path replaces value by value.
    fn view(&self, customer: u64, rows: std::ops::Range<usize>) -> Option<CustomerView<'_>> {
        let batch = &self.batch;
        Some(CustomerView {
            customer,
            at: &batch.at[rows.clone()],
            code: &batch.code[rows.clone()],
            key: &[],
            properties: TextColumn::of_rows(&batch.properties, rows.clone())?,
            context: TextColumn::of_rows(&batch.context, rows)?,
        })
    }

    /// Moves the rows of `customer` to `out`, across batches.
    fn take_run(
        &mut self,
        customer: u64,
        out: &mut CustomerEvents,
        others: Sharing,
    ) -> Result<(), StoreError> {
        loop {
            let start = self.row;
            let customers = &self.batch.customer;
            let end = start + run_length(&customers[start..], customer);
            let keyed = &self.batch.keyed;
            while let Some(range) = keyed.get(self.keyed_at).filter(|r| r.end <= start) {
                self.keys_at += range.len();
                self.keyed_at += 1;
            }
            let keys_at = keyed
                .get(self.keyed_at)
                .filter(|r| r.start <= start)
                .map(|r| self.keys_at + start - r.start);
            out.extend_from(&self.batch, start..end, keys_at);
            self.row = end;
            if self.row < self.batch.customer.len() {
                return Ok(());
            }
            self.refill(others)?;
            if self.key() != Some(customer) {
                return Ok(());
            }
        }
    }

    fn wanted(&self, column: Column) -> bool {
        match column {
            Column::Customer | Column::Timestamp | Column::Key | Column::Code => true,
            Column::Text(Text::Properties) => self.columns.properties && self.rare.is_none(),
            Column::Text(Text::Context) => self.columns.context,
            _ => false,
        }
    }

    /// Marks the cursor done and lets go of its readers; its batch goes back to the
    /// scan with [`Cursor::release`].
    fn end(&mut self) {
        self.finished = true;
        self.readers = Vec::new();
        self.reader = None;
    }

    /// The buffers of a finished cursor, for the next segment to open: regrowing them for
    /// every segment had the kernel zeroing fresh pages all day.
    fn release(&mut self) -> Option<Batch> {
        self.finished.then(|| std::mem::take(&mut self.batch))
    }

    /// Decodes the next batch of the part's rows; ends the cursor when there are none.
    fn refill(&mut self, others: Sharing) -> Result<(), StoreError> {
        loop {
            self.batch.clear();
            self.row = 0;
            self.keyed_at = 0;
            self.keys_at = 0;
            if self.left_in_group == 0 {
                let Some(&(index, _)) = self.groups.get(self.next_group) else {
                    self.end();
                    return Ok(());
                };
                self.next_group += 1;
                self.open_group(index)?;
                continue;
            }
            let want = BATCH.min(self.left_in_group);
            self.left_in_group -= want;
            self.batch.reserve(want);
            room(&mut self.batch.longs, want);
            self.decode(want, others)?;
            let customers = &self.batch.customer;
            // Rows before the part are dropped, rows after it end the cursor.
            let skip = customers.partition_point(|&c| c < self.part.from);
            let keep = customers[skip..].partition_point(|&c| self.part.contains(c));
            if skip + keep < customers.len() {
                self.truncate(skip + keep);
                self.left_in_group = 0;
                self.next_group = self.groups.len();
            }
            self.row = skip;
            if self.row < self.batch.customer.len() {
                return Ok(());
            }
        }
    }

    fn truncate(&mut self, rows: usize) {
        self.batch.customer.truncate(rows);
        self.batch.at.truncate(rows);
        for range in &mut self.batch.keyed {
            range.end = range.end.min(rows);
        }
        self.batch.keyed.retain(|range| !range.is_empty());
        let keys = self.batch.keyed.iter().map(|r| r.len()).sum();
        self.batch.key.truncate(keys);
        self.batch.code.truncate(rows);
        for text in [&mut self.batch.properties, &mut self.batch.context] {
            if text.len() > rows {
                text.ends.truncate(rows);
                text.data
                    .truncate(text.ends.last().copied().unwrap_or(0) as usize);
            }
        }
    }

    fn open_group(&mut self, index: usize) -> Result<(), StoreError> {
        let reader = self.reader.as_ref().expect("opened by load");
        let group = reader
            .get_row_group(index)
            .map_err(parquet_error(&self.path))?;
        self.left_in_group = group.metadata().num_rows() as usize;
        self.next_row = reader.metadata().row_groups()[..index]
            .iter()
            .map(|g| g.num_rows() as u64)
            .sum();
        let mut readers = Vec::new();
        for (index, column) in COLUMNS.iter().enumerate() {
            if !self.wanted(*column) {
                continue;
            }
            readers.push(match column {
                Column::Text(text) => ColumnRead::Texts(
                    *text,
                    TextPages::new(
                        group
                            .get_column_page_reader(index)
                            .map_err(parquet_error(&self.path))?,
                    ),
                ),
                _ => ColumnRead::Numbers(
                    *column,
                    Box::new(column_reader(&*group, index, &self.path)?),
                ),
            });
        }
        // A part may start inside the group: its rows before the part are skipped unread,
        // page by page where whole pages lie before it. Decoding them to drop them cost an
        // analysis on small parts of large groups nearly half its time.
        let before = rows_before(&*group, self.part.from, &self.path, &mut self.batch.longs)?;
        if before > 0 {
            let path = &self.path;
            for read in &mut readers {
                let skipped = match read {
                    ColumnRead::Numbers(_, reader) => match &mut **reader {
                        ColumnReader::Int64ColumnReader(r) => r.skip_records(before),
                        ColumnReader::Int32ColumnReader(r) => r.skip_records(before),
                        _ => Ok(0),
                    }
                    .map_err(parquet_error(path))?,
                    ColumnRead::Texts(text, pages) => pages
                        .skip(before)
                        .map(|()| before)
                        .map_err(|e| page_error(path, Column::Text(*text).name(), e))?,
                };
                if skipped != before {
                    return Err(StoreError::Corrupt(format!(
                        "{}: a column ends before the customer column",
                        path.display()
                    )));
                }
            }
            self.left_in_group -= before;
            self.next_row += before as u64;
        }
        self.readers = readers;
        Ok(())
    }

    /// Decodes `want` rows of every column read. Text rows before the part are skipped
    /// page by page rather than decoded.
    fn decode(&mut self, want: usize, others: Sharing) -> Result<(), StoreError> {
        let path = &self.path;
        let short = |name: &str| {
            StoreError::Corrupt(format!("{}: column {name} ends early", path.display()))
        };
        // Numbers first (the customer column is the first of them): they say how many of
        // the rows belong to the part.
        let mut keys = None;
        for read in &mut self.readers {
            let ColumnRead::Numbers(column, reader) = read else {
                continue;
            };
            let batch = &mut self.batch;
            if *column == Column::Key {
                keys = Some(reader);
                continue;
            }
            // Times, keys and codes are read straight into the batch; customer ids are signed
            // in Parquet, unsigned here.
            let read = match (&mut **reader, *column) {
                (ColumnReader::Int64ColumnReader(reader), Column::Timestamp) => {
                    read_values(reader, want, &mut batch.at)
                }
                (ColumnReader::Int64ColumnReader(reader), Column::Customer) => {
                    let values = &mut batch.longs;
                    values.clear();
                    let read = read_values(reader, want, values);
                    batch.customer.extend(values.iter().map(|&v| v as u64));
                    read
                }
                (ColumnReader::Int32ColumnReader(reader), _) => {
                    read_values(reader, want, &mut batch.code)
                }
                (_, column) => {
                    return Err(StoreError::Corrupt(format!(
                        "{}: unexpected type for {}",
                        path.display(),
                        column.name()
                    )));
                }
            };
            if read.map_err(parquet_error(path))? != want {
                return Err(short(column.name()));
            }
        }
        match keys.map(|reader| &mut **reader) {
            Some(ColumnReader::Int64ColumnReader(reader)) => {
                let batch = &mut self.batch;
                keyed_ranges(&batch.customer, &self.held, others, &mut batch.keyed);
                decode_keys(reader, want, &batch.keyed, &mut batch.key)
                    .map_err(parquet_error(path))?
                    .then_some(())
                    .ok_or_else(|| short(Column::Key.name()))?;
            }
            Some(_) => {
                return Err(StoreError::Corrupt(format!(
                    "{}: unexpected type for {}",
                    path.display(),
                    Column::Key.name()
                )));
            }
            None => {}
        }
        let customers = &self.batch.customer;
        let before = customers.partition_point(|&c| c < self.part.from);
        let after =
            customers.len() - customers.partition_point(|&c| self.part.to.is_none_or(|to| c < to));
        for read in &mut self.readers {
            let ColumnRead::Texts(text, pages) = read else {
                continue;
            };
            let out = if *text == Text::Properties {
                &mut self.batch.properties
            } else {
                &mut self.batch.context
            };
            let name = Column::Text(*text).name();
            let failed = |error: PageError| page_error(path, name, error);
            // Rows skipped still need a place, so that rows line up across columns.
            pages.skip(before).map_err(failed)?;
            out.ends.extend(std::iter::repeat_n(0, before));
            if after < want - before {
                let rows = want - before - after;
                if self.columns.text_codes.is_some() {
                    let codes = &self.batch.code[before..before + rows];
                    let columns = &self.columns;
                    pages
                        .read_where(rows, out, |row| columns.keeps_text_of(codes[row]))
                        .map_err(failed)?;
                } else {
                    pages.read(rows, out).map_err(failed)?;
                }
            }
            if after > 0 {
                pages.skip(after).map_err(failed)?;
                let end = out.data.len() as u32;
                out.ends.extend(std::iter::repeat_n(end, after));
            }
        }
        if let Some(rare) = &self.rare {
            let out = &mut self.batch.properties;
            out.ends.extend(std::iter::repeat_n(0, before));
            rare.fill(self.next_row + before as u64, want - before, out);
        }
        self.next_row += want as u64;
        Ok(())
    }
}

/// How many of the first rows of `customers` (sorted) are `customer`'s. A history is a few
/// dozen rows: they are counted one by one first, where a binary search over the batch
/// jumped across it, missing the cache at every step.
fn run_length(customers: &[u64], customer: u64) -> usize {
    const NEAR: usize = 64;
    let near = &customers[..customers.len().min(NEAR)];
    match near.iter().position(|&c| c != customer) {
        Some(run) => run,
        None => near.len() + customers[near.len()..].partition_point(|&c| c == customer),
    }
}

/// What the other cursors of a merge may share with the one decoding a batch.
#[derive(Clone, Copy, Debug)]
struct Sharing {
    /// The least customer the other cursors may still hold: a cursor's customers only grow.
    others: Option<u64>,
    /// The customer whose pieces are being gathered, some of them taken already from
    /// cursors that have moved past it.
    taken: Option<u64>,
}

/// The rows of a batch whose keys a scan needs, as ranges of whole customers: those some
/// other segment may also hold, whose pieces are put in order by (time, key); and the `held`
/// customers, put together from several customers' pieces. A key is eight bytes a row of a
/// column nothing else reads; after compaction, which leaves segments with disjoint
/// customers, most rows need none.
fn keyed_ranges(
    customers: &[u64],
    held: &[u64],
    sharing: Sharing,
    keyed: &mut Vec<std::ops::Range<usize>>,
) {
    keyed.clear();
    let (Some(&first), Some(&last)) = (customers.first(), customers.last()) else {
        return;
    };
    let shared = sharing
        .others
        .map_or(customers.len(), |m| customers.partition_point(|&c| c < m));
    let from = held.partition_point(|&h| h < first);
    let mut wanted: Vec<u64> = held[from..]
        .iter()
        .copied()
        .take_while(|&h| h <= last)
        .collect();
    if let Some(taken) = sharing.taken.filter(|&t| t >= first && t <= last) {
        let at = wanted.partition_point(|&h| h < taken);
        if wanted.get(at) != Some(&taken) {
            wanted.insert(at, taken);
        }
    }
    for customer in wanted {
        let start = customers.partition_point(|&c| c < customer);
        if start >= shared {
            break;
        }
        let end = start + customers[start..].partition_point(|&c| c == customer);
        if start < end {
            keyed.push(start..end);
        }
    }
    if shared < customers.len() {
        keyed.push(shared..customers.len());
    }
}

/// Appends the keys of the `keyed` rows among the next `want` to `keys`, skipping the others
/// unread. False when the column ends early.
fn decode_keys(
    reader: &mut ColumnReaderImpl<parquet::data_type::Int64Type>,
    want: usize,
    keyed: &[std::ops::Range<usize>],
    keys: &mut Vec<i64>,
) -> parquet::errors::Result<bool> {
    let mut at = 0;
    let skip = |reader: &mut ColumnReaderImpl<_>, rows: usize| {
        reader.skip_records(rows).map(|skipped| skipped == rows)
    };
    for range in keyed {
        if !skip(reader, range.start - at)?
            || read_values(reader, range.len(), keys)? != range.len()
        {
            return Ok(false);
        }
        at = range.end;
    }
    skip(reader, want - at)
}

fn page_error(path: &Path, column: &str, error: PageError) -> StoreError {
    match error {
        PageError::Parquet(error) => parquet_error(path)(error),
        PageError::Format(message) => {
            StoreError::Corrupt(format!("{}: column {column}: {message}", path.display()))
        }
    }
}

/// The rows of a row group whose customer is below `from` (customers are sorted), found by
/// reading the customer column alone, in growing chunks.
fn rows_before(
    group: &dyn RowGroupReader,
    from: u64,
    path: &Path,
    buffer: &mut Vec<i64>,
) -> Result<usize, StoreError> {
    if from == 0 {
        return Ok(0);
    }
    let ColumnReader::Int64ColumnReader(mut reader) = column_reader(group, 0, path)? else {
        return Err(StoreError::Corrupt(format!(
            "{}: unexpected type for {}",
            path.display(),
            Column::Customer.name()
        )));
    };
    let (mut before, mut chunk) = (0, 1024);
    loop {
        buffer.clear();
        let read = read_values(&mut reader, chunk, buffer).map_err(parquet_error(path))?;
        let below = buffer.partition_point(|&c| (c as u64) < from);
        before += below;
        if below < read || read < chunk {
            return Ok(before);
        }
        chunk = (chunk * 4).min(BATCH);
    }
}

/// Appends `want` values of a column to `values`; returns how many there were.
fn read_values<T: DataType>(
    reader: &mut ColumnReaderImpl<T>,
    want: usize,
    values: &mut Vec<T::T>,
) -> parquet::errors::Result<usize> {
    // The reader zero-fills room for every value still wanted before decoding each page
    // into it: asked for a whole batch at once, it zeroed a batch's worth per page (5% of
    // an analysis). In small steps, what it zeroes is about what it decodes, still in cache.
    const STEP: usize = 4096;
    let mut read = 0;
    while read < want {
        let step = STEP.min(want - read);
        let got = reader.read_records(step, None, None, values)?.0;
        read += got;
        if got < step {
            break;
        }
    }
    Ok(read)
}

fn column_reader(
    group: &dyn RowGroupReader,
    index: usize,
    path: &Path,
) -> Result<ColumnReader, StoreError> {
    group.get_column_reader(index).map_err(parquet_error(path))
}

/// The latest values of some traits for every customer that has one, keyed by the customer
/// as it is now. Equal values are stored once: a trait like a plan or a platform costs a few
/// bytes per customer, not a JSON map each.
#[derive(Debug, Default)]
pub struct Traits {
    names: Vec<String>,
    /// (customer, row in `cells`), by customer: scans visit customers in order, so a
    /// [`TraitCursor`] walks this instead of probing a table at random.
    rows: Vec<(u64, u32)>,
    /// Per row, per name: index in `values`, or [`Traits::ABSENT`].
    cells: Vec<u32>,
    values: Vec<serde_json::Value>,
}

impl Traits {
    const ABSENT: u32 = u32::MAX;

    /// The trait values of `customer`, if it has any of the names loaded.
    pub fn of(&self, customer: u64) -> Option<CustomerTraits<'_>> {
        let at = self.rows.binary_search_by_key(&customer, |r| r.0).ok()?;
        Some(self.at(at))
    }

    fn at(&self, at: usize) -> CustomerTraits<'_> {
        CustomerTraits {
            traits: self,
            row: self.rows[at].1 as usize,
        }
    }

    /// Looks customers up in increasing order (any order works, in order is fastest).
    pub fn cursor(&self) -> TraitCursor<'_> {
        TraitCursor {
            traits: self,
            next: 0,
        }
    }

    /// Traits given directly: per customer (in increasing order), a value or none per name.
    /// Equal values share an id, as when loaded from the store.
    pub fn from_values(
        names: &[String],
        customers: impl IntoIterator<Item = (u64, Vec<Option<serde_json::Value>>)>,
    ) -> Traits {
        let mut traits = Traits {
            names: names.to_vec(),
            ..Traits::default()
        };
        for (customer, values) in customers {
            let row = traits.rows.len() as u32;
            traits.rows.push((customer, row));
            for column in 0..names.len() {
                let cell = match values.get(column).cloned().flatten() {
                    Some(value) => match traits.values.iter().position(|v| *v == value) {
                        Some(id) => id as u32,
                        None => {
                            traits.values.push(value);
                            traits.values.len() as u32 - 1
                        }
                    },
                    None => Traits::ABSENT,
                };
                traits.cells.push(cell);
            }
        }
        traits
    }

    /// Where trait `name` is among the names loaded, for [`CustomerTraits::value_id_at`].
    pub fn column_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Customers with at least one of the traits.
    pub fn customers(&self) -> usize {
        self.rows.len()
    }
}

/// Lookups in [`Traits`] that move forward with the customers asked for.
#[derive(Debug)]
pub struct TraitCursor<'a> {
    traits: &'a Traits,
    /// The first row whose customer was not passed yet.
    next: usize,
}

impl<'a> TraitCursor<'a> {
    /// The trait values of `customer`, if it has any of the names loaded.
    pub fn of(&mut self, customer: u64) -> Option<CustomerTraits<'a>> {
        let rows = &self.traits.rows;
        if self.next > 0 && rows[self.next - 1].0 >= customer {
            // Backwards: start again from the first row not before it.
            self.next = rows.partition_point(|r| r.0 < customer);
        } else {
            while self.next < rows.len() && rows[self.next].0 < customer {
                self.next += 1;
            }
        }
        rows.get(self.next).filter(|r| r.0 == customer)?;
        self.next += 1;
        Some(self.traits.at(self.next - 1))
    }
}

/// One customer's values in [`Traits`].
#[derive(Clone, Copy, Debug)]
pub struct CustomerTraits<'a> {
    traits: &'a Traits,
    row: usize,
}

impl<'a> CustomerTraits<'a> {
    /// The value of trait `name`, if loaded and set.
    pub fn get(&self, name: &str) -> Option<&'a serde_json::Value> {
        Some(&self.traits.values[self.value_id(name)? as usize])
    }

    /// Where the value of trait `name` is among the loaded values, if loaded and set: the
    /// same for equal values (of the first 65,536 distinct ones), so a number that stands
    /// for the value within one [`Traits`].
    pub fn value_id(&self, name: &str) -> Option<u32> {
        self.value_id_at(self.traits.column_of(name)?)
    }

    /// [`CustomerTraits::value_id`] of the trait in column `column` ([`Traits::column_of`]).
    pub fn value_id_at(&self, column: usize) -> Option<u32> {
        let traits = self.traits;
        let cell = *traits
            .cells
            .get(self.row * traits.names.len() + column)
            .filter(|_| column < traits.names.len())?;
        (cell != Traits::ABSENT).then_some(cell)
    }
}

/// Distinct trait values looked up for sharing; later ones are stored per customer.
const MAX_INTERNED: usize = 1 << 16;

/// Which customers' traits to load.
#[derive(Clone, Copy, Debug)]
pub enum TraitScope<'a> {
    /// Every customer.
    All,
    /// Customers stored under ids of a part: what a part's scan hands out (merged customers
    /// and their survivors aside, which [`Scan::held`] gathers).
    Part(Part),
    /// These customers (ids as they are now) and those merged into them.
    Customers(&'a [u64]),
}

/// Loads the latest values of the traits `names`, for the customers of `scope` as they are
/// now.
pub fn traits_named(
    root: &Path,
    names: &[String],
    scope: TraitScope<'_>,
) -> Result<Traits, StoreError> {
    if matches!(scope, TraitScope::All) {
        prepare_trait_files(root, names)?;
    }
    Ok(traits_and_held(root, names, scope, &Merges::load(root)?)?.0)
}

/// Brings the trait files of `names` up to date (see [`crate::trait_files`]), so that the
/// parts of an analysis read them rather than SQLite.
fn prepare_trait_files(root: &Path, names: &[String]) -> Result<(), StoreError> {
    if names.is_empty() {
        return Ok(());
    }
    let db = crate::read_db(root)?;
    // One snapshot: the rows a file is built from are those of the generation it records,
    // even while an import commits.
    db.conn.execute_batch("BEGIN").map_err(db.error())?;
    let generation = Generation::of(&db)?;
    for name in names {
        trait_files::ensure(root, &db, generation, name)?;
    }
    db.conn.execute_batch("COMMIT").map_err(db.error())?;
    Ok(())
}

/// Trait values of merged customers and their survivors, met while loading a part: the
/// held customers' traits, put together across parts by [`held_traits`] instead of being
/// looked up again one customer at a time.
#[derive(Debug, Default)]
pub struct HeldTraitRows {
    /// (customer as now, name index, set at, stored id, value).
    rows: Vec<(u64, usize, i64, u64, serde_json::Value)>,
}

impl Scan {
    /// Brings the trait files of `names` up to date before parts read their traits: once
    /// per analysis, before the threads start, rather than by every part at once.
    pub fn prepare_traits(&self, names: &[String]) -> Result<(), StoreError> {
        prepare_trait_files(&self.root, names)
    }

    /// [`traits_named`] for a part, with the rows of its held customers.
    pub fn part_traits(
        &self,
        names: &[String],
        part: Part,
    ) -> Result<(Traits, HeldTraitRows), StoreError> {
        traits_and_held(&self.root, names, TraitScope::Part(part), &self.merges)
    }
}

/// The traits of the held customers (merged ones and their survivors), from the rows every
/// part met: for each trait, the latest value wins, as when loading them directly.
pub fn held_traits(names: &[String], parts: Vec<HeldTraitRows>) -> Traits {
    let width = names.len();
    let mut rows: Vec<_> = parts.into_iter().flat_map(|p| p.rows).collect();
    // Latest last; between equal times, the row stored under the higher id (as a load in
    // id order would leave it).
    rows.sort_by_key(|r| (r.0, r.1, r.2, r.3));
    let mut traits = Traits {
        names: names.to_vec(),
        ..Traits::default()
    };
    if width == 0 {
        return traits;
    }
    for (customer, column, _, _, value) in rows {
        if traits.rows.last().is_none_or(|&(last, _)| last != customer) {
            let row = (traits.cells.len() / width) as u32;
            traits.rows.push((customer, row));
            traits
                .cells
                .extend(std::iter::repeat_n(Traits::ABSENT, width));
        }
        let row = traits.rows.last().expect("pushed above").1 as usize;
        traits.cells[row * width + column] = traits.values.len() as u32;
        traits.values.push(value);
    }
    traits
}

fn traits_and_held(
    root: &Path,
    names: &[String],
    scope: TraitScope<'_>,
    merges: &Merges,
) -> Result<(Traits, HeldTraitRows), StoreError> {
    type Fast<K, V> = FastMap<K, V>;
    let mut traits = Traits {
        names: names.to_vec(),
        ..Traits::default()
    };
    let mut held = HeldTraitRows::default();
    if names.is_empty() {
        return Ok((traits, held));
    }
    let width = names.len();
    // When a merged customer and its survivor both hold a trait, the later value wins.
    let mut set_at: Fast<(u64, usize), i64> = Fast::default();
    let mut interned: Fast<String, u32> = Fast::default();
    // Rows arrive by stored customer, so mostly in order; merged customers' rows belong to
    // their survivor, anywhere before: those are found by search, or kept aside.
    let mut aside: Fast<u64, u32> = Fast::default();
    let db = crate::read_db(root)?;
    // One name at a time, along the index by (name, customer): a walk over the primary key
    // (customer, name) read every trait of every customer in the range to keep the few
    // an analysis reads (a quarter of the rows in the demo).
    let mut statement = db
        .conn
        .prepare(
            "SELECT customer_id, value, at FROM traits \
             WHERE name = ?3 AND customer_id >= ?1 AND customer_id <= ?2 \
             ORDER BY customer_id",
        )
        .map_err(db.error())?;
    let ranges: Vec<(i64, i64)> = match scope {
        TraitScope::All => vec![(i64::MIN, i64::MAX)],
        TraitScope::Part(part) => {
            let last = part.to.map_or(i64::MAX, |to| to.saturating_sub(1) as i64);
            vec![(part.from.min(i64::MAX as u64) as i64, last)]
        }
        TraitScope::Customers(ids) => {
            let wanted: HashSet<u64> = ids.iter().copied().collect();
            let mut stored: Vec<u64> = ids.to_vec();
            stored.extend(
                merges
                    .into
                    .iter()
                    .filter(|(_, to)| wanted.contains(to))
                    .map(|(&from, _)| from),
            );
            stored.sort_unstable();
            stored.dedup();
            stored
                .into_iter()
                .map(|id| (id as i64, id as i64))
                .collect()
        }
    };
    let generation = Generation::of(&db)?;
    // Per name: the trait file's shared values as indexes in `traits.values`, once met.
    let mut shared_index: Vec<Vec<u32>> = vec![Vec::new(); width];
    // Rows come in customer order, trait by trait.
    let mut held_walk = HeldWalk::new(&merges.held);
    let mut take_row = |column: usize, stored: u64, value: RowValue<'_>, at: i64| {
        let holds = held_walk.holds(stored);
        let customer = if holds { merges.now(stored) } else { stored };
        let text = value.text();
        if holds {
            if matches!(scope, TraitScope::Part(_)) {
                held.rows.push((
                    customer,
                    column,
                    at,
                    stored,
                    serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
                ));
            }
            let latest = set_at.entry((customer, column)).or_insert(i64::MIN);
            if at < *latest {
                return;
            }
            *latest = at;
        }
        let known = match value {
            RowValue::Shared(k, _) => shared_index[column]
                .get(k as usize)
                .copied()
                .filter(|&i| i != Traits::ABSENT),
            RowValue::Own(_) => None,
        };
        let index = match known.or_else(|| interned.get(text).copied()) {
            Some(index) => index,
            None => {
                let index = traits.values.len() as u32;
                traits
                    .values
                    .push(serde_json::from_str(text).unwrap_or(serde_json::Value::Null));
                // Values met once per customer (a sign-up date) would only fill the table.
                if interned.len() < MAX_INTERNED {
                    interned.insert(text.to_string(), index);
                }
                index
            }
        };
        if let RowValue::Shared(k, _) = value {
            let slots = &mut shared_index[column];
            if slots.len() <= k as usize {
                slots.resize(k as usize + 1, Traits::ABSENT);
            }
            slots[k as usize] = index;
        }
        let row = match traits.rows.last() {
            Some(&(last, row)) if last == customer => row,
            Some(&(last, _)) if last > customer => {
                match traits.rows.binary_search_by_key(&customer, |r| r.0) {
                    Ok(at) => traits.rows[at].1,
                    Err(_) => {
                        let next = (traits.cells.len() / width) as u32;
                        *aside.entry(customer).or_insert(next)
                    }
                }
            }
            _ => match aside.get(&customer) {
                Some(&row) => row,
                None => {
                    let next = (traits.cells.len() / width) as u32;
                    traits.rows.push((customer, next));
                    next
                }
            },
        } as usize;
        if row == traits.cells.len() / width {
            traits
                .cells
                .extend(std::iter::repeat_n(Traits::ABSENT, width));
        }
        traits.cells[row * width + column] = index;
    };
    for (column, name) in names.iter().enumerate() {
        // A range of customers is read from the trait file when it is current; single
        // customers, and names without a current file, from SQLite.
        let file = match scope {
            TraitScope::Customers(_) => None,
            _ => TraitFile::open(root, name)
                .ok()
                .flatten()
                .filter(|f| f.is_current(generation)),
        };
        for &(low, high) in &ranges {
            if let Some(file) = &file {
                let mut handed = 0u64;
                let read = file.rows_in(low.max(0) as u64, high.max(0) as u64, |c, v, at| {
                    handed += 1;
                    take_row(column, c, v, at);
                });
                match read {
                    Ok(()) => continue,
                    // Refused before any row was handed out: SQLite has the same rows.
                    Err(_) if handed == 0 => {}
                    Err(error) => {
                        return Err(StoreError::Corrupt(format!(
                            "{error}; delete the folder {} and analyse again",
                            root.join(trait_files::DIR).display()
                        )));
                    }
                }
            }
            let mut rows = statement
                .query(rusqlite::params![low, high, name])
                .map_err(db.error())?;
            while let Some(row) = rows.next().map_err(db.error())? {
                let stored = row.get::<_, i64>(0).map_err(db.error())? as u64;
                let at = row.get::<_, i64>(2).map_err(db.error())?;
                let value = row.get_ref(1).map_err(db.error())?;
                take_row(
                    column,
                    stored,
                    RowValue::Own(value.as_str().unwrap_or("null")),
                    at,
                );
            }
        }
    }
    if !aside.is_empty() {
        traits.rows.extend(aside);
        traits.rows.sort_unstable();
    }
    Ok((traits, held))
}

/// How a CRM finds a customer: a user id and an email address, when known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contact {
    /// The first user id, in text order.
    pub user_id: Option<String>,
    /// The first email address, in text order.
    pub email: Option<String>,
}

/// For every customer as it is now, its [`Contact`], for exports that a CRM joins on.
pub fn contact_ids(root: &Path) -> Result<HashMap<u64, Contact>, StoreError> {
    let merges = crate::merged_customers(root)?;
    let db = crate::read_db(root)?;
    let mut statement = db
        .conn
        .prepare("SELECT customer_id, kind, min(value) FROM identifiers WHERE kind IN (?1, ?2) GROUP BY customer_id, kind")
        .map_err(db.error())?;
    let rows = statement
        .query_map(
            [
                parcours_events::IdKind::User.code(),
                parcours_events::IdKind::Email.code(),
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .map_err(db.error())?;
    let mut found: HashMap<u64, Contact> = HashMap::new();
    for row in rows {
        let (customer, kind, value) = row.map_err(db.error())?;
        let customer = merges.get(&customer).copied().unwrap_or(customer);
        let entry = found.entry(customer).or_default();
        let slot = if kind == parcours_events::IdKind::User.code() {
            &mut entry.user_id
        } else {
            &mut entry.email
        };
        if slot.as_ref().is_none_or(|v| &value < v) {
            *slot = Some(value);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(values: &[&[u8]]) -> TextBatch {
        let mut batch = TextBatch::default();
        for value in values {
            batch.push(value);
        }
        batch
    }

    #[test]
    fn rows_borrowed_from_a_batch_read_as_their_values() {
        let batch = texts(&[
            b"{\"a\":1}",
            b"",
            "{\"b\":\"\u{e9}t\u{e9}\"}".as_bytes(),
            b"x",
        ]);
        let column = TextColumn::of_rows(&batch, 1..3).expect("UTF-8");
        assert_eq!(column.get(0), None);
        assert_eq!(column.get(1), Some("{\"b\":\"\u{e9}t\u{e9}\"}"));
        assert_eq!(column.get(2), None);
        let first = TextColumn::of_rows(&batch, 0..1).expect("UTF-8");
        assert_eq!(first.get(0), Some("{\"a\":1}"));
        // No column read: every value absent.
        let unread = TextBatch::default();
        let none = TextColumn::of_rows(&unread, 0..3).expect("empty");
        assert_eq!(none.get(1), None);
    }

    #[test]
    fn rows_that_are_not_utf8_are_not_borrowed_but_read_with_replacements() {
        let mut batch = texts(&[b"ok", b"bad \xff byte"]);
        assert!(TextColumn::of_rows(&batch, 1..2).is_none());
        assert!(TextColumn::of_rows(&batch, 0..1).is_some());
        // The copying path replaces the bad byte, value by value.
        let mut read = Texts::default();
        read.fill(&mut batch);
        assert_eq!(read.get(0), Some("ok"));
        assert_eq!(read.get(1), Some("bad \u{fffd} byte"));
    }

    #[test]
    fn a_run_is_counted_as_a_search_counts_it() {
        for (len, after) in [(0, 3), (1, 0), (5, 2), (64, 1), (65, 0), (200, 7)] {
            let mut customers = vec![9u64; len];
            customers.extend(std::iter::repeat_n(10, after));
            assert_eq!(run_length(&customers, 9), len, "{len} then {after}");
        }
        assert_eq!(run_length(&[], 9), 0);
    }

    proptest::proptest! {
        /// The cursor read next is the one a push of the current cursor and a pop would
        /// give, and the others stay in the heap.
        #[test]
        fn the_next_cursor_is_the_least_as_a_push_and_a_pop_give_it(
            keys in proptest::collection::vec(0u64..20, 0..12),
            current in proptest::option::of(0u64..20),
        ) {
            let mut heap: BinaryHeap<Reverse<(u64, usize)>> =
                keys.iter().enumerate().map(|(i, &k)| Reverse((k, i))).collect();
            let mut plain = heap.clone();
            let current = current.map(|k| (k, keys.len()));
            if let Some(c) = current {
                plain.push(Reverse(c));
            }
            let expected = plain.pop().map(|r| r.0);
            let mut held = current;
            proptest::prop_assert_eq!(next_cursor(&mut held, &mut heap), expected);
            proptest::prop_assert!(held.is_none());
            proptest::prop_assert_eq!(heap.into_sorted_vec(), plain.into_sorted_vec());
        }
    }

    #[test]
    fn a_held_walk_answers_as_a_search_in_any_order() {
        let sorted = [2, 5, 6, 9, 40];
        let mut walk = HeldWalk::new(&sorted);
        for customer in [0, 2, 2, 3, 5, 6, 7, 9, 41, 6, 1, 40, 40, 39, 9, 100, 0] {
            assert_eq!(
                walk.holds(customer),
                sorted.contains(&customer),
                "{customer}"
            );
        }
        assert!(!HeldWalk::new(&[]).holds(3));
    }

    #[test]
    fn keys_are_read_for_held_taken_and_possibly_shared_customers_only() {
        let customers = [1, 1, 2, 3, 3, 3, 5, 8, 8];
        let mut keyed = Vec::new();
        let sharing = |others, taken| Sharing { others, taken };
        keyed_ranges(
            &customers,
            &[2, 5, 9],
            sharing(Some(5), Some(3)),
            &mut keyed,
        );
        assert_eq!(keyed, [2..3, 3..6, 6..9]);
        keyed_ranges(&customers, &[0, 8], sharing(None, Some(1)), &mut keyed);
        assert_eq!(keyed, [0..2, 7..9]);
        keyed_ranges(&customers, &[], sharing(Some(9), None), &mut keyed);
        assert!(keyed.is_empty());
        keyed_ranges(&customers, &[4], sharing(Some(0), None), &mut keyed);
        assert_eq!(keyed, vec![std::ops::Range { start: 0, end: 9 }]);
    }

    #[test]
    fn a_trait_cursor_finds_what_a_lookup_finds_in_any_order() {
        let traits = Traits {
            names: vec!["plan".to_string()],
            rows: vec![(2, 0), (5, 1), (9, 2)],
            cells: vec![0, 1, 0],
            values: vec!["free".into(), "pro".into()],
        };
        let mut cursor = traits.cursor();
        for customer in [1, 2, 2, 3, 5, 9, 10, 5, 0, 9, 9, 2] {
            let plan = |t: Option<CustomerTraits<'_>>| t.and_then(|t| t.get("plan")).cloned();
            assert_eq!(
                plan(cursor.of(customer)),
                plan(traits.of(customer)),
                "customer {customer}"
            );
        }
        assert_eq!(traits.of(5).unwrap().get("plan").unwrap(), "pro");
        assert!(traits.of(4).is_none());
    }
}
