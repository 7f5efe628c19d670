//! Reading the store customer by customer, for analyses.
//!
//! Every segment is sorted by (customer, time, key), so a merge of all segments by customer
//! hands out each customer's whole history in one piece, holding only a batch per segment in
//! memory, whether or not the store was compacted. Only the columns asked for are decoded.
//! A customer merged into another (by an `alias` or a shared identifier) is reported under
//! the customer it belongs to now: such histories, and the survivors', are held back and
//! handed out at the end, once all their pieces have been read.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fs::File;
use std::path::Path;

use parcours_events::MessageType;
use parquet::column::reader::ColumnReader;
use parquet::data_type::ByteArray;
use parquet::file::reader::{FileReader, RowGroupReader, SerializedFileReader};

use crate::segment::parquet_error;
use crate::segment::{COLUMNS, Column};
use crate::{StoreError, Text};

/// Rows decoded from a segment at a time.
const BATCH: usize = 1 << 16;

/// Which optional columns a scan decodes.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScanColumns {
    /// Event properties (JSON text).
    pub properties: bool,
    /// Event context (JSON text).
    pub context: bool,
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
    /// Dedup keys (the tie-break between events at the same millisecond).
    pub key: Vec<u64>,
    /// Properties of each event, when asked for.
    pub properties: Vec<Option<String>>,
    /// Context of each event, when asked for.
    pub context: Vec<Option<String>>,
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

    fn clear(&mut self) {
        self.at.clear();
        self.code.clear();
        self.key.clear();
        self.properties.clear();
        self.context.clear();
    }

    fn push_from(&mut self, batch: &Batch, row: usize) {
        self.at.push(batch.at[row]);
        self.code.push(batch.code[row]);
        self.key.push(batch.key[row]);
        if !batch.properties.is_empty() {
            self.properties.push(batch.properties[row].clone());
        }
        if !batch.context.is_empty() {
            self.context.push(batch.context[row].clone());
        }
    }

    fn append(&mut self, other: &mut CustomerEvents) {
        self.at.append(&mut other.at);
        self.code.append(&mut other.code);
        self.key.append(&mut other.key);
        self.properties.append(&mut other.properties);
        self.context.append(&mut other.context);
    }

    /// Sorts by (time, key) when pieces from several segments were put together.
    fn sort(&mut self) {
        let sorted = self
            .at
            .windows(2)
            .zip(self.key.windows(2))
            .all(|(a, k)| (a[0], k[0]) <= (a[1], k[1]));
        if sorted {
            return;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| (self.at[i], self.key[i]));
        self.at = order.iter().map(|&i| self.at[i]).collect();
        self.code = order.iter().map(|&i| self.code[i]).collect();
        self.key = order.iter().map(|&i| self.key[i]).collect();
        if !self.properties.is_empty() {
            self.properties = order.iter().map(|&i| self.properties[i].take()).collect();
        }
        if !self.context.is_empty() {
            self.context = order.iter().map(|&i| self.context[i].take()).collect();
        }
    }
}

/// The event catalogue: code, type and name of every event code in the store.
pub fn event_codes(root: &Path) -> Result<Vec<(i32, MessageType, String)>, StoreError> {
    crate::read_db(root)?.event_codes()
}

/// Hands every customer's events to `visit`, one customer at a time, in increasing customer
/// order except for merged customers, which come last. Returns the number of events read.
pub fn scan_customers(
    root: &Path,
    columns: ScanColumns,
    mut visit: impl FnMut(&CustomerEvents) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let merges = crate::merged_customers(root)?;
    let survivors: HashSet<u64> = merges.values().copied().collect();
    let mut cursors = Vec::new();
    for entry in crate::segments(root)? {
        if let Some(cursor) = Cursor::open(&entry.path, columns)? {
            cursors.push(cursor);
        }
    }
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = cursors
        .iter()
        .enumerate()
        .map(|(i, c)| Reverse((c.current(), i)))
        .collect();
    let mut held: HashMap<u64, CustomerEvents> = HashMap::new();
    let mut events = CustomerEvents::default();
    let mut read = 0u64;
    while let Some(Reverse((customer, _))) = heap.peek().copied() {
        events.clear();
        // Every segment whose next customer is this one gives its run.
        while let Some(&Reverse((next, index))) = heap.peek() {
            if next != customer {
                break;
            }
            heap.pop();
            let cursor = &mut cursors[index];
            cursor.take_run(customer, &mut events)?;
            if !cursor.done() {
                heap.push(Reverse((cursor.current(), index)));
            }
        }
        read += events.len() as u64;
        let now = merges.get(&customer).copied().unwrap_or(customer);
        if now != customer || survivors.contains(&customer) {
            let pieces = held.entry(now).or_default();
            pieces.customer = now;
            pieces.append(&mut events);
            continue;
        }
        events.customer = customer;
        events.sort();
        visit(&events)?;
    }
    let mut ids: Vec<u64> = held.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let mut events = held.remove(&id).expect("listed above");
        events.sort();
        visit(&events)?;
    }
    Ok(read)
}

/// Decoded rows of one segment.
#[derive(Default)]
struct Batch {
    customer: Vec<u64>,
    at: Vec<i64>,
    key: Vec<u64>,
    code: Vec<i32>,
    properties: Vec<Option<String>>,
    context: Vec<Option<String>>,
}

/// A segment read batch by batch.
struct Cursor {
    path: std::path::PathBuf,
    reader: SerializedFileReader<File>,
    columns: ScanColumns,
    group: usize,
    readers: Vec<(Column, ColumnReader)>,
    left_in_group: usize,
    batch: Batch,
    row: usize,
    /// Decoding buffers, reused from batch to batch.
    longs: Vec<i64>,
    ints: Vec<i32>,
}

impl Cursor {
    /// Opens a segment positioned on its first row; `None` when it is empty.
    fn open(path: &Path, columns: ScanColumns) -> Result<Option<Cursor>, StoreError> {
        let file = File::open(path).map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let reader = SerializedFileReader::new(file).map_err(parquet_error(path))?;
        let mut cursor = Cursor {
            path: path.to_path_buf(),
            reader,
            columns,
            group: 0,
            readers: Vec::new(),
            left_in_group: 0,
            batch: Batch::default(),
            row: 0,
            longs: Vec::new(),
            ints: Vec::new(),
        };
        cursor.refill()?;
        Ok((!cursor.done()).then_some(cursor))
    }

    fn done(&self) -> bool {
        self.row >= self.batch.customer.len()
    }

    fn current(&self) -> u64 {
        self.batch.customer[self.row]
    }

    /// Moves the rows of `customer` to `out`, across batches.
    fn take_run(&mut self, customer: u64, out: &mut CustomerEvents) -> Result<(), StoreError> {
        loop {
            while self.row < self.batch.customer.len() && self.batch.customer[self.row] == customer
            {
                out.push_from(&self.batch, self.row);
                self.row += 1;
            }
            if !self.done() {
                return Ok(());
            }
            self.refill()?;
            if self.done() || self.current() != customer {
                return Ok(());
            }
        }
    }

    fn wanted(&self, column: Column) -> bool {
        match column {
            Column::Customer | Column::Timestamp | Column::Key | Column::Code => true,
            Column::Text(Text::Properties) => self.columns.properties,
            Column::Text(Text::Context) => self.columns.context,
            _ => false,
        }
    }

    fn refill(&mut self) -> Result<(), StoreError> {
        let batch = &mut self.batch;
        batch.customer.clear();
        batch.at.clear();
        batch.key.clear();
        batch.code.clear();
        batch.properties.clear();
        batch.context.clear();
        self.row = 0;
        while self.left_in_group == 0 {
            if self.group >= self.reader.num_row_groups() {
                return Ok(());
            }
            let group = self
                .reader
                .get_row_group(self.group)
                .map_err(parquet_error(&self.path))?;
            self.left_in_group = group.metadata().num_rows() as usize;
            let mut readers = Vec::new();
            for (index, column) in COLUMNS.iter().enumerate() {
                if self.wanted(*column) {
                    readers.push((*column, column_reader(&*group, index, &self.path)?));
                }
            }
            self.readers = readers;
            self.group += 1;
        }
        let want = BATCH.min(self.left_in_group);
        let path = &self.path;
        let short = |name: &str| {
            StoreError::Corrupt(format!("{}: column {name} ends early", path.display()))
        };
        let mut levels: Vec<i16> = Vec::new();
        for (column, reader) in &mut self.readers {
            match (reader, *column) {
                (ColumnReader::Int64ColumnReader(reader), column) => {
                    let values = &mut self.longs;
                    values.clear();
                    let (records, _, _) = reader
                        .read_records(want, None, None, values)
                        .map_err(parquet_error(path))?;
                    if records != want {
                        return Err(short(column.name()));
                    }
                    match column {
                        Column::Customer => {
                            self.batch.customer.extend(values.iter().map(|&v| v as u64))
                        }
                        Column::Key => self.batch.key.extend(values.iter().map(|&v| v as u64)),
                        _ => self.batch.at.extend_from_slice(values),
                    }
                }
                (ColumnReader::Int32ColumnReader(reader), column) => {
                    let values = &mut self.ints;
                    values.clear();
                    let (records, _, _) = reader
                        .read_records(want, None, None, values)
                        .map_err(parquet_error(path))?;
                    if records != want {
                        return Err(short(column.name()));
                    }
                    self.batch.code.extend_from_slice(values);
                }
                (ColumnReader::ByteArrayColumnReader(reader), column) => {
                    levels.clear();
                    let mut values: Vec<ByteArray> = Vec::with_capacity(want);
                    let (records, _, _) = reader
                        .read_records(want, Some(&mut levels), None, &mut values)
                        .map_err(parquet_error(path))?;
                    if records != want {
                        return Err(short(column.name()));
                    }
                    let out = if column == Column::Text(Text::Properties) {
                        &mut self.batch.properties
                    } else {
                        &mut self.batch.context
                    };
                    let mut present = values.iter();
                    for &level in &levels {
                        out.push(if level > 0 {
                            present
                                .next()
                                .map(|v| String::from_utf8_lossy(v.data()).into_owned())
                        } else {
                            None
                        });
                    }
                }
                (_, column) => {
                    return Err(StoreError::Corrupt(format!(
                        "{}: unexpected type for {}",
                        path.display(),
                        column.name()
                    )));
                }
            }
        }
        self.left_in_group -= want;
        Ok(())
    }
}

fn column_reader(
    group: &dyn RowGroupReader,
    index: usize,
    path: &Path,
) -> Result<ColumnReader, StoreError> {
    group.get_column_reader(index).map_err(parquet_error(path))
}

/// The latest values of the traits named, for every customer that has one, keyed by the
/// customer as it is now.
pub fn traits_named(
    root: &Path,
    names: &[String],
) -> Result<HashMap<u64, serde_json::Map<String, serde_json::Value>>, StoreError> {
    let mut found: HashMap<u64, serde_json::Map<String, serde_json::Value>> = HashMap::new();
    if names.is_empty() {
        return Ok(found);
    }
    // When a merged customer and its survivor both hold a trait, the later value wins.
    let mut set_at: HashMap<(u64, usize), i64> = HashMap::new();
    let merges = crate::merged_customers(root)?;
    let db = crate::read_db(root)?;
    let mut statement = db
        .conn
        .prepare("SELECT customer_id, value, at FROM traits WHERE name = ?1")
        .map_err(db.error())?;
    for (index, name) in names.iter().enumerate() {
        let rows = statement
            .query_map([name], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(db.error())?;
        for row in rows {
            let (customer, value, at) = row.map_err(db.error())?;
            let customer = merges.get(&customer).copied().unwrap_or(customer);
            let latest = set_at.entry((customer, index)).or_insert(i64::MIN);
            if at < *latest {
                continue;
            }
            *latest = at;
            let value = serde_json::from_str(&value).unwrap_or(serde_json::Value::Null);
            found
                .entry(customer)
                .or_default()
                .insert(name.clone(), value);
        }
    }
    Ok(found)
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
