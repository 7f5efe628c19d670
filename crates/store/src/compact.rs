//! Compaction: many segments with stale customer ids become few, globally ordered ones.
//!
//! After compaction every event carries the id of the customer it belongs to now, segments
//! cover disjoint, increasing customer ranges (a customer is never split across two), and
//! the key index has one file per shard. Like an import, it is all or nothing.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;

use serde::Serialize;

use crate::buffer::EventBuffer;
use crate::segment::{self, SegmentCursor};
use crate::{PENDING_DIR, Store, StoreError, catalog, io, keys, now_ms};

const BATCH: usize = 8192;

/// What a compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CompactSummary {
    /// Segments before.
    pub segments_before: u64,
    /// Segments after.
    pub segments_after: u64,
    /// Events before.
    pub events_before: u64,
    /// Events after.
    pub events_after: u64,
    /// Events moved to the customer they were merged into.
    pub remapped: u64,
    /// Duplicate events removed.
    pub duplicates_removed: u64,
}

struct Input {
    cursor: SegmentCursor,
    batch: EventBuffer,
    position: usize,
}

impl Input {
    fn refill(&mut self) -> Result<bool, StoreError> {
        if self.position < self.batch.len() {
            return Ok(true);
        }
        self.batch.clear();
        self.position = 0;
        Ok(self.cursor.read_into(&mut self.batch, BATCH)? > 0)
    }

    fn head(&self) -> (u64, i64, u64) {
        let i = self.position;
        (
            self.batch.customer[i],
            self.batch.timestamp[i],
            self.batch.key[i],
        )
    }
}

impl Store {
    /// Compacts the store into segments of about `target_rows` events.
    pub fn compact(&mut self, target_rows: usize) -> Result<CompactSummary, StoreError> {
        let entries = crate::segments(&self.root)?;
        let merged: HashMap<u64, u64> = self.db.merged_customers()?.into_iter().collect();
        let mut summary = CompactSummary {
            segments_before: entries.len() as u64,
            events_before: entries.iter().map(|e| e.rows).sum(),
            ..CompactSummary::default()
        };
        let pending = self
            .root
            .join(PENDING_DIR)
            .join(format!("compact-{}", now_ms()));
        std::fs::create_dir_all(&pending).map_err(io(&pending))?;

        // Segments holding merged ids are rewritten with current ids, re-sorted.
        let mut inputs: Vec<PathBuf> = Vec::with_capacity(entries.len());
        for entry in &entries {
            let mut cursor = SegmentCursor::open(&entry.path)?;
            let mut customers = EventBuffer::default();
            let mut stale = false;
            while cursor.read_into(&mut customers, 1 << 20)? > 0 {
                stale |= customers.customer.iter().any(|c| merged.contains_key(c));
                customers.clear();
                if stale {
                    break;
                }
            }
            if !stale {
                inputs.push(entry.path.clone());
                continue;
            }
            let mut buffer = segment::read_segment(&entry.path)?;
            for customer in &mut buffer.customer {
                if let Some(&into) = merged.get(customer) {
                    *customer = into;
                    summary.remapped += 1;
                }
            }
            let order = buffer.sorted_order();
            let path = pending.join(format!("normalized-{}.parquet", entry.id));
            segment::write_segment(&path, &mut buffer, &order)?;
            inputs.push(path);
        }

        // One ordered pass over every segment.
        let mut streams: Vec<Input> = Vec::with_capacity(inputs.len());
        for path in &inputs {
            streams.push(Input {
                cursor: SegmentCursor::open(path)?,
                batch: EventBuffer::default(),
                position: 0,
            });
        }
        let mut heap = BinaryHeap::new();
        for (i, input) in streams.iter_mut().enumerate() {
            if input.refill()? {
                heap.push(Reverse((input.head(), i)));
            }
        }
        let mut outputs: Vec<(PathBuf, segment::SegmentInfo)> = Vec::new();
        let mut out = EventBuffer::default();
        let mut last: Option<(u64, i64, u64)> = None;
        while let Some(Reverse((head, i))) = heap.pop() {
            let changes_customer = last.is_some_and(|l| l.0 != head.0);
            if changes_customer && out.len() >= target_rows {
                let path = pending.join(format!("compacted-{:05}.parquet", outputs.len()));
                let order: Vec<u32> = (0..out.len() as u32).collect();
                outputs.push((
                    path.clone(),
                    segment::write_segment(&path, &mut out, &order)?,
                ));
            }
            let input = &mut streams[i];
            if last == Some(head) {
                summary.duplicates_removed += 1;
            } else {
                out.push_row(&input.batch, input.position);
                last = Some(head);
            }
            input.position += 1;
            if input.refill()? {
                heap.push(Reverse((input.head(), i)));
            }
        }
        if !out.is_empty() {
            let path = pending.join(format!("compacted-{:05}.parquet", outputs.len()));
            let order: Vec<u32> = (0..out.len() as u32).collect();
            outputs.push((
                path.clone(),
                segment::write_segment(&path, &mut out, &order)?,
            ));
        }
        drop(streams);

        // One key file per shard.
        let key_files = self.key_files()?;
        let mut folded: Vec<(usize, PathBuf, u64)> = Vec::new();
        for (shard, files) in key_files.iter().enumerate() {
            if files.len() > 1 {
                let out = pending.join(format!("keys-{shard:02}.bin"));
                let inputs: Vec<PathBuf> = files.iter().map(|(_, p)| p.clone()).collect();
                let count = keys::merge_files(&inputs, &out)?;
                folded.push((shard, out, count));
            }
        }

        let root = self.root.clone();
        let tx = self
            .db
            .conn
            .transaction()
            .map_err(|source| StoreError::Sqlite {
                path: root.join(crate::DATABASE),
                source,
            })?;
        let error = |source| StoreError::Sqlite {
            path: root.join(crate::DATABASE),
            source,
        };
        for entry in &entries {
            catalog::retire_segment(&tx, &root, entry.id, &entry.path).map_err(error)?;
        }
        for (path, info) in &outputs {
            catalog::add_segment(&tx, &root, path, info, 0).map_err(error)?;
        }
        for (shard, path, count) in &folded {
            for (id, old) in &key_files[*shard] {
                catalog::retire_key_file(&tx, &root, *id, old).map_err(error)?;
            }
            catalog::add_key_file(&tx, &root, *shard, path, *count).map_err(error)?;
        }
        tx.commit().map_err(error)?;
        self.apply_pending()?;
        std::fs::remove_dir_all(&pending).map_err(io(&pending))?;
        summary.segments_after = outputs.len() as u64;
        summary.events_after = outputs.iter().map(|(_, info)| info.rows).sum();
        Ok(summary)
    }
}
