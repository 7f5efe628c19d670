//! The store as its users rely on it: imports are idempotent and atomic, identities stitch
//! across imports, compaction keeps every event once with current customer ids.

use std::path::{Path, PathBuf};

use parcours_events::{Event, IdKind, from_segment_json};
use parcours_store::{ImportOptions, Store, read_segment, segments, stats};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parcours-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn msg(json: &str) -> Event {
    from_segment_json(json.as_bytes(), None).unwrap_or_else(|r| panic!("{json}: {r}"))
}

fn track(user: Option<&str>, anonymous: Option<&str>, event: &str, minute: u32) -> Event {
    let mut fields = vec![format!(
        r#""type":"track","event":"{event}","timestamp":"2026-03-01T09:{minute:02}:00Z""#
    )];
    if let Some(u) = user {
        fields.push(format!(r#""userId":"{u}""#));
    }
    if let Some(a) = anonymous {
        fields.push(format!(r#""anonymousId":"{a}""#));
    }
    msg(&format!("{{{}}}", fields.join(",")))
}

fn import(store: &mut Store, events: &[Event], run_rows: usize) -> parcours_store::ImportSummary {
    let mut options = ImportOptions::new("test", "segment");
    options.run_rows = run_rows;
    let mut import = store.begin_import(options).unwrap();
    for e in events {
        import.push(e).unwrap();
    }
    import.finish(0, None).unwrap()
}

/// Hands every row of every segment to `each` with the customer it belongs to now.
fn each_stored_row(root: &Path, mut each: impl FnMut(u64, &parcours_store::EventBuffer, usize)) {
    let merged = parcours_store::merged_customers(root).unwrap();
    for entry in segments(root).unwrap() {
        let buffer = read_segment(&entry.path).unwrap();
        for r in 0..buffer.len() {
            let c = buffer.customer[r];
            each(*merged.get(&c).unwrap_or(&c), &buffer, r);
        }
    }
}

/// Every stored event as (customer, event name, minute), resolving merged ids.
fn all_events(root: &Path) -> Vec<(u64, String, i64)> {
    let mut rows = Vec::new();
    each_stored_row(root, |customer, buffer, r| {
        let e = buffer.event(r);
        rows.push((customer, e.name, (e.timestamp / 60_000) % 60));
    });
    rows.sort();
    rows
}

#[test]
fn importing_the_same_events_twice_adds_nothing() {
    let dir = scratch("twice");
    let mut store = Store::open(&dir).unwrap();
    let events: Vec<Event> = (0..500)
        .map(|i| track(Some(&format!("u{}", i % 50)), None, "view", i % 60))
        .collect();
    // Small runs: duplicates span several segments of one import too.
    let mut doubled = events.clone();
    doubled.extend(events.iter().take(100).cloned());
    let first = import(&mut store, &doubled, 128);
    let distinct = {
        let mut keys: Vec<u64> = events.iter().map(|e| e.key).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len() as u64
    };
    assert_eq!(first.accepted, distinct);
    assert_eq!(first.duplicates, 600 - distinct);
    assert_eq!(first.new_customers, 50);
    let second = import(&mut store, &events, 128);
    assert_eq!(
        (second.accepted, second.duplicates, second.new_customers),
        (0, 500, 0)
    );
    let figures = stats(&dir).unwrap();
    assert_eq!(
        (figures.events, figures.customers, figures.imports),
        (distinct, 50, 2)
    );
}

#[test]
fn anonymous_history_follows_the_customer_across_imports() {
    let dir = scratch("stitch");
    let mut store = Store::open(&dir).unwrap();
    // Import 1: a known customer on her laptop, and anonymous visits from a new phone.
    import(
        &mut store,
        &[
            track(Some("ana"), Some("laptop"), "signup", 1),
            track(None, Some("phone"), "product_view", 2),
            track(None, Some("phone"), "add_to_cart", 3),
        ],
        1000,
    );
    // Import 2: she logs in on the phone; the phone's earlier visits are hers.
    let summary = import(
        &mut store,
        &[track(Some("ana"), Some("phone"), "purchase", 4)],
        1000,
    );
    assert_eq!(summary.merges, 1);
    let events = all_events(&dir);
    let customers: std::collections::BTreeSet<u64> = events.iter().map(|e| e.0).collect();
    assert_eq!(customers.len(), 1, "{events:?}");
    assert_eq!(
        events.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
        ["add_to_cart", "product_view", "purchase", "signup"]
    );
    let stats = stats(&dir).unwrap();
    assert_eq!((stats.customers, stats.merged_ids), (1, 1));
    let ana = parcours_store::customer_by_identifier(&dir, IdKind::Anonymous, "phone")
        .unwrap()
        .unwrap();
    assert_eq!(ana.identifier(IdKind::User), Some("ana"));
    assert_eq!(ana.identifiers.len(), 3);
    assert!(dir.join(parcours_store::MERGES_FILE).exists());
    // Found by any part of any identifier, once, exact matches first; by its id or the id
    // merged into it.
    use parcours_store::{customer, search_customers};
    assert_eq!(search_customers(&dir, "HON", 10).unwrap(), [ana.id]);
    assert_eq!(search_customers(&dir, "a", 10).unwrap(), [ana.id]);
    assert!(
        search_customers(&dir, "%", 10).unwrap().is_empty(),
        "% is a character"
    );
    assert!(search_customers(&dir, "tablet", 10).unwrap().is_empty());
    assert_eq!(customer(&dir, ana.id).unwrap(), Some(ana.clone()));
    let merged = *parcours_store::merged_customers(&dir)
        .unwrap()
        .keys()
        .next()
        .unwrap();
    assert_eq!(customer(&dir, merged).unwrap().map(|c| c.id), Some(ana.id));
    assert_eq!(customer(&dir, 9_999).unwrap(), None);
}

#[test]
fn traits_keep_their_latest_value_across_imports_and_merges() {
    let dir = scratch("traits");
    let mut store = Store::open(&dir).unwrap();
    import(
        &mut store,
        &[msg(
            r#"{"type":"identify","anonymousId":"a1","traits":{"plan":"free","city":"Lyon"},"timestamp":"2026-03-02T00:00:00Z"}"#,
        )],
        1000,
    );
    import(
        &mut store,
        &[
            msg(
                r#"{"type":"identify","userId":"u1","traits":{"plan":"pro"},"timestamp":"2026-03-01T00:00:00Z"}"#,
            ),
            msg(
                r#"{"type":"identify","userId":"u1","anonymousId":"a1","traits":{"city":"Paris"},"timestamp":"2026-03-03T00:00:00Z"}"#,
            ),
        ],
        1000,
    );
    let customer = parcours_store::customer_by_identifier(&dir, IdKind::User, "u1")
        .unwrap()
        .unwrap();
    // "free" (Mar 2) beats "pro" (Mar 1) though it came first; Paris (Mar 3) beats Lyon.
    assert_eq!(customer.traits["plan"], "free");
    assert_eq!(customer.traits["city"], "Paris");
    // Analyses load the same latest values, for everyone or for the merged customer alone.
    use parcours_store::scan::{Part, TraitScope, traits_named};
    let names = vec!["plan".to_string(), "city".to_string(), "absent".to_string()];
    for scope in [TraitScope::All, TraitScope::Customers(&[customer.id])] {
        let traits = traits_named(&dir, &names, scope).unwrap();
        assert_eq!(traits.customers(), 1, "{scope:?}");
        let mine = traits.of(customer.id).unwrap();
        assert_eq!(mine.get("plan").unwrap(), "free", "{scope:?}");
        assert_eq!(mine.get("city").unwrap(), "Paris", "{scope:?}");
        assert_eq!(mine.get("absent"), None);
        // By column, as by name.
        for name in &names {
            let column = traits.column_of(name).unwrap();
            assert_eq!(mine.value_id_at(column), mine.value_id(name), "{name}");
        }
        assert_eq!(traits.column_of("never loaded"), None);
        assert_eq!(mine.value_id_at(names.len()), None);
    }
    // The held customers' traits put together from the rows the parts met give the same.
    use parcours_store::scan::{Scan, held_traits};
    let scan = Scan::open(&dir, Default::default()).unwrap();
    let middle = Part {
        from: 0,
        to: Some(customer.id),
    };
    let rest = Part {
        from: customer.id,
        to: None,
    };
    let pieces = [middle, rest]
        .into_iter()
        .map(|part| scan.part_traits(&names, part).unwrap().1)
        .collect();
    let held = held_traits(&names, pieces);
    assert_eq!(held.customers(), 1);
    let mine = held.of(customer.id).unwrap();
    assert_eq!(mine.get("plan").unwrap(), "free");
    assert_eq!(mine.get("city").unwrap(), "Paris");
    assert_eq!(mine.get("absent"), None);
    let beyond = Part {
        from: customer.id + 1000,
        to: None,
    };
    let none = traits_named(&dir, &names, TraitScope::Part(beyond)).unwrap();
    assert_eq!(none.customers(), 0);
    assert!(none.of(customer.id).is_none());
}

/// Every customer's value of each name, as an analysis loads them for `scope`.
fn loaded_traits(
    dir: &Path,
    names: &[String],
    ids: &[u64],
    scope: parcours_store::scan::TraitScope<'_>,
) -> Vec<Vec<Option<String>>> {
    let traits = parcours_store::scan::traits_named(dir, names, scope).unwrap();
    ids.iter()
        .map(|&id| {
            names
                .iter()
                .map(|n| traits.of(id).and_then(|t| t.get(n)).map(|v| v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn trait_files_follow_every_import_and_a_damaged_one_is_not_read() {
    use parcours_store::scan::{Part, TraitScope};
    let dir = scratch("trait-files");
    let mut store = Store::open(&dir).unwrap();
    // Enough customers for several blocks of a trait file; values shared and not.
    let identify = |i: usize, plan: &str, day: u32| {
        msg(&format!(
            r#"{{"type":"identify","userId":"u{i}","traits":{{"plan":"{plan}","email":"u{i}@exemple.fr","ville":"Évry"}},"timestamp":"2026-03-{day:02}T00:00:00Z"}}"#
        ))
    };
    let first: Vec<Event> = (0..3000)
        .map(|i| identify(i, ["free", "pro", "team"][i % 3], 1))
        .collect();
    import(&mut store, &first, 100_000);
    let ids: Vec<u64> = (0..3000)
        .map(|i| {
            parcours_store::customer_by_identifier(&dir, IdKind::User, &format!("u{i}"))
                .unwrap()
                .unwrap()
                .id
        })
        .collect();
    let names: Vec<String> = ["plan", "email", "ville", "absent"]
        .map(String::from)
        .to_vec();
    let from_files = loaded_traits(&dir, &names, &ids, TraitScope::All);
    let files = dir.join("cache/traits");
    assert_eq!(std::fs::read_dir(&files).unwrap().count(), names.len());
    // The same values as SQLite gives one customer at a time.
    assert_eq!(
        from_files,
        loaded_traits(&dir, &names, &ids, TraitScope::Customers(&ids))
    );
    assert_eq!(from_files[4][0].as_deref(), Some("\"pro\""));
    assert_eq!(from_files[4][2].as_deref(), Some("\"Évry\""));
    // An import changes some values and merges two customers: the files built before it
    // are stale, and the next load sees the new values.
    let mut second: Vec<Event> = (0..3000)
        .step_by(7)
        .map(|i| identify(i, "entreprise", 5))
        .collect();
    second.push(msg(
        r#"{"type":"alias","userId":"u1","previousId":"u2","timestamp":"2026-03-06T00:00:00Z"}"#,
    ));
    import(&mut store, &second, 100_000);
    let after = loaded_traits(&dir, &names, &ids, TraitScope::All);
    assert_eq!(
        after,
        loaded_traits(&dir, &names, &ids, TraitScope::Customers(&ids))
    );
    assert_eq!(after[7][0].as_deref(), Some("\"entreprise\""));
    assert_eq!(after[8][0], from_files[8][0]);
    // A part reading a damaged file reads SQLite instead.
    let plan = std::fs::read_dir(&files)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap() == "706c616e.bin")
        .expect("the file of `plan`");
    let mut bytes = std::fs::read(&plan).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    std::fs::write(&plan, bytes).unwrap();
    let everyone = Part { from: 0, to: None };
    assert_eq!(
        loaded_traits(&dir, &names, &ids, TraitScope::Part(everyone)),
        after
    );
}

#[test]
fn an_abandoned_import_leaves_nothing() {
    let dir = scratch("abandoned");
    let mut store = Store::open(&dir).unwrap();
    import(&mut store, &[track(Some("u1"), None, "a", 1)], 1000);
    {
        let mut options = ImportOptions::new("test", "segment");
        options.run_rows = 2;
        let mut pending = store.begin_import(options).unwrap();
        for i in 0..7 {
            pending
                .push(&track(Some(&format!("new{i}")), None, "b", i))
                .unwrap();
        }
        // Dropped without finish: as if the process died before committing.
    }
    drop(store);
    let store = Store::open(&dir).unwrap();
    drop(store);
    let figures = stats(&dir).unwrap();
    assert_eq!((figures.events, figures.customers), (1, 1));
    assert!(!dir.join(".pending").exists());
}

#[test]
fn committed_renames_are_finished_at_the_next_open() {
    let dir = scratch("rollforward");
    let mut store = Store::open(&dir).unwrap();
    import(
        &mut store,
        &[
            track(Some("u1"), None, "a", 1),
            track(Some("u2"), None, "b", 2),
        ],
        1000,
    );
    drop(store);
    // Simulate a crash after the commit but before the rename: move the file back to a
    // pending place and record the rename as still to do.
    let entry = segments(&dir).unwrap().remove(0);
    let pending = dir.join(".pending/import-crashed/run-00000.parquet");
    std::fs::create_dir_all(pending.parent().unwrap()).unwrap();
    std::fs::rename(&entry.path, &pending).unwrap();
    let db = rusqlite::Connection::open(dir.join(parcours_store::DATABASE)).unwrap();
    db.execute(
        "INSERT INTO pending_renames (src, dst) VALUES (?1, ?2)",
        [
            ".pending/import-crashed/run-00000.parquet",
            entry.path.strip_prefix(&dir).unwrap().to_str().unwrap(),
        ],
    )
    .unwrap();
    drop(db);
    // A reader meanwhile finds the segment at its pending place.
    assert_eq!(segments(&dir).unwrap()[0].path, pending);
    let _store = Store::open(&dir).unwrap();
    assert!(entry.path.exists());
    assert_eq!(all_events(&dir).len(), 2);
}

#[test]
fn one_writer_at_a_time() {
    let dir = scratch("lock");
    let _first = Store::open(&dir).unwrap();
    let second = Store::open(&dir)
        .err()
        .expect("the second writer is refused");
    assert!(
        second
            .to_string()
            .contains("in use by another parcours process (pid "),
        "{second}"
    );
}

#[test]
fn compaction_keeps_every_event_once_with_current_ids() {
    let dir = scratch("compact");
    let mut store = Store::open(&dir).unwrap();
    let mut expected_names = 0;
    for batch in 0..5u32 {
        let mut events = Vec::new();
        for i in 0..40u32 {
            // Anonymous devices that later log in: ids merge across imports.
            events.push(track(
                None,
                Some(&format!("device{}", i + batch * 40)),
                "visit",
                (i + batch) % 60,
            ));
            events.push(track(
                Some(&format!("user{}", i % 10)),
                Some(&format!("device{}", i + batch * 40)),
                "login",
                (i + batch + 1) % 60,
            ));
            expected_names += 2;
        }
        import(&mut store, &events, 50);
    }
    let before = all_events(&dir);
    assert_eq!(before.len(), expected_names);
    let summary = store.compact(64).unwrap();
    assert_eq!(summary.events_before, summary.events_after);
    assert!(summary.remapped > 0, "{summary:?}");
    assert!(
        summary.segments_after < summary.segments_before,
        "{summary:?}"
    );
    assert_eq!(all_events(&dir), before, "same events, same customers");
    // Segments are now globally ordered and never split a customer.
    let mut last_customer = 0;
    let merged = parcours_store::merged_customers(&dir).unwrap();
    for entry in segments(&dir).unwrap() {
        let buffer = read_segment(&entry.path).unwrap();
        assert!(
            buffer.customer[0] > last_customer,
            "customer ranges are disjoint and increasing"
        );
        assert!(buffer.customer.windows(2).all(|w| w[0] <= w[1]));
        assert!(
            buffer.customer.iter().all(|c| !merged.contains_key(c)),
            "no merged id left"
        );
        last_customer = *buffer.customer.last().unwrap();
    }
    assert_eq!(stats(&dir).unwrap().customers, 10);
    // Re-importing after compaction still finds every key.
    let again = import(
        &mut store,
        &[track(Some("user1"), Some("device1"), "login", 2)],
        50,
    );
    assert_eq!(again.duplicates, 1);
}

/// A small deterministic pseudo-random sequence (xorshift) starting from `seed`.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Thirty customers, events in a scrambled time order, over three imports of small
/// segments; half of the customers browse anonymously on a phone first and log in on it in a
/// later import, which merges the phone's history into theirs. Every event carries
/// properties naming it (some with accents), and one in nine has none.
fn scrambled_store(name: &str) -> PathBuf {
    let dir = scratch(name);
    let mut store = Store::open(&dir).unwrap();
    let mut next = xorshift(7);
    let mut serial = 0;
    let mut with_properties = |mut event: Event| -> Event {
        serial += 1;
        event.properties =
            (serial % 9 != 0).then(|| format!(r#"{{"n":{serial},"label":"étape-{serial}"}}"#));
        event
    };
    for round in 0..3 {
        let mut events = Vec::new();
        if round == 0 {
            for who in 0..30 {
                let (user, laptop) = (format!("user-{who}"), format!("laptop-{who}"));
                events.push(with_properties(track(
                    Some(&user),
                    Some(&laptop),
                    "signup",
                    59,
                )));
            }
        }
        for _ in 0..120 {
            let who = next() % 30;
            let minute = (next() % 59) as u32;
            let (user, phone) = (format!("user-{who}"), format!("phone-{who}"));
            let event = if who.is_multiple_of(2) && round < 2 {
                track(None, Some(&phone), "product_view", minute)
            } else {
                track(Some(&user), Some(&phone), "page_seen", minute)
            };
            events.push(with_properties(event));
        }
        import(&mut store, &events, 7);
    }
    dir
}

/// (customer, code, minute, properties) of every event a scan hands out.
type Seen = Vec<(u64, i32, i64, Option<String>)>;

fn record(seen: &mut Seen, events: parcours_store::scan::CustomerView<'_>) {
    assert!(events.at.is_sorted(), "unsorted history");
    // Keys come with the histories put together from several segments only.
    assert!(events.key.is_empty() || events.key.len() == events.len());
    assert!(
        events
            .at
            .windows(2)
            .zip(events.key.windows(2))
            .all(|(a, k)| (a[0], k[0]) <= (a[1], k[1])),
        "unsorted history"
    );
    for i in 0..events.len() {
        seen.push((
            events.customer,
            events.code[i],
            (events.at[i] / 60_000) % 60,
            events.properties.get(i).map(str::to_string),
        ));
    }
}

#[test]
fn scanning_by_customer_gives_each_history_once_sorted_and_merged() {
    let dir = scrambled_store("scan");
    let expected = all_events(&dir);
    let mut seen = Vec::new();
    let mut customers = std::collections::HashSet::new();
    let mut order = Vec::new();
    let columns = parcours_store::scan::ScanColumns {
        properties: true,
        context: false,
        ..Default::default()
    };
    let read = parcours_store::scan::scan_customers(&dir, columns, |events| {
        assert!(
            customers.insert(events.customer),
            "customer {} twice",
            events.customer
        );
        order.push(events.customer);
        record(&mut seen, events);
        Ok(())
    })
    .unwrap();
    assert_eq!(read as usize, expected.len());
    // Customers in increasing order, the merged ones (and their survivors) last, in
    // increasing order too.
    let merged = parcours_store::merged_customers(&dir).unwrap();
    let held: std::collections::HashSet<u64> = merged.iter().flat_map(|(&a, &b)| [a, b]).collect();
    let tail = order
        .iter()
        .position(|c| held.contains(c))
        .unwrap_or(order.len());
    assert!(order[..tail].is_sorted(), "customers out of order");
    assert!(order[tail..].is_sorted(), "held customers out of order");
    let codes: std::collections::HashMap<i32, String> = parcours_store::scan::event_codes(&dir)
        .unwrap()
        .into_iter()
        .map(|(code, _, name)| (code, name))
        .collect();
    let with_properties = seen.iter().filter(|e| e.3.is_some()).count();
    assert!(with_properties > seen.len() / 2 && with_properties < seen.len());
    assert!(
        seen.iter()
            .flat_map(|e| &e.3)
            .all(|p| p.contains("\"label\":\"étape-"))
    );
    let mut seen: Vec<(u64, String, i64)> = seen
        .into_iter()
        .map(|(c, code, minute, _)| (c, codes[&code].clone(), minute))
        .collect();
    seen.sort();
    assert_eq!(seen, expected);
    assert!(parcours_store::merged_customers(&dir).unwrap().len() >= 10);
    assert_eq!(customers.len(), stats(&dir).unwrap().customers as usize);
}

#[test]
fn a_scan_hands_out_customers_of_interleaved_segments_in_order_once_each() {
    // Small runs of shuffled events: segments whose customers interleave, some customers in
    // one segment only, others in several.
    let dir = scratch("interleaved");
    let mut store = Store::open(&dir).unwrap();
    let mut next = xorshift(11);
    let mut events = Vec::new();
    for who in 0..2000u64 {
        for step in 0..1 + u64::from(who % 5 == 0) {
            events.push(track(
                Some(&format!("user-{who}")),
                None,
                "page_seen",
                ((who + step * 7) % 60) as u32,
            ));
        }
    }
    for i in (1..events.len()).rev() {
        events.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    import(&mut store, &events, 240);
    assert!(segments(&dir).unwrap().len() >= 8);
    let mut order = Vec::new();
    let mut seen = Seen::new();
    let read = parcours_store::scan::scan_customers(
        &dir,
        parcours_store::scan::ScanColumns::default(),
        |events| {
            order.push(events.customer);
            record(&mut seen, events);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(read as usize, events.len());
    assert_eq!(seen.len(), events.len());
    assert_eq!(order.len(), 2000);
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "customers out of order or twice"
    );
}

#[test]
fn a_scan_keeps_the_texts_of_the_codes_asked_for_only() {
    let dir = scrambled_store("scan-text-codes");
    let all = parcours_store::scan::ScanColumns {
        properties: true,
        ..Default::default()
    };
    let mut whole = Seen::new();
    parcours_store::scan::scan_customers(&dir, all, |events| {
        record(&mut whole, events);
        Ok(())
    })
    .unwrap();
    let codes: Vec<i32> = whole
        .iter()
        .filter(|e| e.3.is_some())
        .map(|e| e.1)
        .collect();
    let kept = *codes.iter().min().expect("texts to filter");
    assert!(codes.iter().any(|&c| c != kept), "a single code has texts");
    let mut marks = vec![false; kept as usize + 1];
    marks[kept as usize] = true;
    let filtered = parcours_store::scan::ScanColumns {
        properties: true,
        text_codes: Some(marks.into()),
        ..Default::default()
    };
    let mut seen = Seen::new();
    parcours_store::scan::scan_customers(&dir, filtered, |events| {
        record(&mut seen, events);
        Ok(())
    })
    .unwrap();
    let expected: Seen = whole
        .into_iter()
        .map(|(customer, code, minute, text)| {
            (customer, code, minute, text.filter(|_| code == kept))
        })
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn parts_of_a_scan_together_give_the_whole_scan() {
    let dir = scrambled_store("scan-parts");
    let columns = parcours_store::scan::ScanColumns {
        properties: true,
        context: true,
        ..Default::default()
    };
    let mut whole = Seen::new();
    parcours_store::scan::scan_customers(&dir, columns.clone(), |events| {
        record(&mut whole, events);
        Ok(())
    })
    .unwrap();
    whole.sort();
    let scan = parcours_store::scan::Scan::open(&dir, columns.clone()).unwrap();
    assert_eq!(scan.events() as usize, whole.len());
    let shares = [
        vec![1.0; 2],
        vec![1.0; 3],
        vec![1.0; 5],
        vec![1.0; 40],
        vec![0.4, 0.3, 0.1, 0.1, 0.05, 0.05],
    ];
    for shares in shares {
        let count = shares.len();
        let parts = scan.parts_by(&shares);
        assert!(
            parts.len() > 1 && parts.len() <= count,
            "{count}: {parts:?}"
        );
        assert_eq!(parts[0].from, 0);
        assert_eq!(parts.last().unwrap().to, None);
        assert!(parts.windows(2).all(|w| w[0].to == Some(w[1].from)));
        // Parts run at once, as an analysis runs them, each on its thread.
        let (mut seen, partials): (Vec<Seen>, Vec<_>) = std::thread::scope(|threads| {
            let running: Vec<_> = parts
                .iter()
                .map(|part| {
                    let scan = &scan;
                    threads.spawn(move || {
                        let mut seen = Seen::new();
                        let partial = scan
                            .run(part, |events| {
                                record(&mut seen, events);
                                Ok(())
                            })
                            .unwrap();
                        (seen, partial)
                    })
                })
                .collect();
            running.into_iter().map(|t| t.join().unwrap()).unzip()
        });
        let mut seen: Seen = seen.drain(..).flatten().collect();
        let read = scan
            .finish(partials, |events| {
                record(&mut seen, events);
                Ok(())
            })
            .unwrap();
        let mut customers: Vec<u64> = seen.iter().map(|e| e.0).collect();
        customers.dedup();
        let mut unique = customers.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(customers.len(), unique.len(), "a customer handed out twice");
        assert_eq!(read as usize, whole.len(), "{count} parts");
        seen.sort();
        assert_eq!(seen, whole, "{count} parts");
    }
}

/// Every customer's (minute, properties) in (time, key) order, read from the segments
/// themselves, merged ids resolved.
fn histories_in_key_order(root: &Path) -> std::collections::BTreeMap<u64, Vec<(i64, String)>> {
    let mut rows = Vec::new();
    each_stored_row(root, |customer, buffer, r| {
        let properties = buffer.event(r).properties.unwrap_or_default();
        rows.push((customer, buffer.timestamp[r], buffer.key[r], properties));
    });
    rows.sort();
    let mut histories = std::collections::BTreeMap::<u64, Vec<(i64, String)>>::new();
    for (customer, at, _, properties) in rows {
        histories
            .entry(customer)
            .or_default()
            .push((at, properties));
    }
    histories
}

fn scanned_histories(root: &Path) -> std::collections::BTreeMap<u64, Vec<(i64, String)>> {
    let columns = parcours_store::scan::ScanColumns {
        properties: true,
        ..Default::default()
    };
    let mut histories = std::collections::BTreeMap::new();
    parcours_store::scan::scan_customers(root, columns, |events| {
        let history = (0..events.len())
            .map(|i| {
                let properties = events.properties.get(i).unwrap_or_default();
                (events.at[i], properties.to_string())
            })
            .collect();
        assert!(histories.insert(events.customer, history).is_none());
        Ok(())
    })
    .unwrap();
    histories
}

/// Keys are read only where a tie may need them: every history must still come out in
/// (time, key) order, same-minute events across imports included, whether the segments
/// share customers (imports), hold disjoint ones (compaction), or both (an import after
/// compaction).
#[test]
fn a_scan_orders_ties_by_key_whatever_the_segments_share() {
    let dir = scrambled_store("scan-ties");
    let ties = |histories: &std::collections::BTreeMap<u64, Vec<(i64, String)>>| {
        histories
            .values()
            .flat_map(|h| h.windows(2))
            .filter(|w| w[0].0 == w[1].0)
            .count()
    };
    let expected = histories_in_key_order(&dir);
    assert!(ties(&expected) >= 5, "only {} ties", ties(&expected));
    assert_eq!(scanned_histories(&dir), expected);

    let mut store = Store::open(&dir).unwrap();
    store.compact(40).unwrap();
    drop(store);
    assert!(segments(&dir).unwrap().len() > 3);
    // Compacted segments hold disjoint customers: parts start where segments do.
    let firsts: Vec<u64> = segments(&dir)
        .unwrap()
        .iter()
        .map(|s| read_segment(&s.path).unwrap().customer[0])
        .collect();
    let scan = parcours_store::scan::Scan::open(&dir, Default::default()).unwrap();
    let parts = scan.parts_by(&[0.5, 0.3, 0.2]);
    assert_eq!(parts.len(), 3);
    assert!(
        parts[1..].iter().all(|p| firsts.contains(&p.from)),
        "{parts:?} {firsts:?}"
    );
    assert_eq!(scanned_histories(&dir), histories_in_key_order(&dir));

    let mut store = Store::open(&dir).unwrap();
    // At the minute of every customer's signup, in one segment with disjoint customers.
    let late: Vec<Event> = (0..60)
        .map(|i| {
            let name = if i < 30 { "late_a" } else { "late_b" };
            let mut event = track(Some(&format!("user-{}", i % 30)), None, name, 59);
            event.properties = Some(format!(r#"{{"late":{i}}}"#));
            event
        })
        .collect();
    import(&mut store, &late, 7);
    drop(store);
    let expected = histories_in_key_order(&dir);
    assert!(ties(&expected) >= 30, "only {} ties", ties(&expected));
    assert_eq!(scanned_histories(&dir), expected);
}

/// Three hundred customers browsing, one event in two hundred a survey answer, over two
/// imports of a few segments each.
fn store_with_rare_answers(name: &str) -> PathBuf {
    let dir = scratch(name);
    let mut store = Store::open(&dir).unwrap();
    let mut serial = 0u32;
    for round in 0..2u32 {
        let mut events = Vec::new();
        for who in 0..300u32 {
            for step in 0..10u32 {
                serial += 1;
                let user = format!("user-{who}");
                let (name, properties) = if serial.is_multiple_of(200) {
                    (
                        "survey_answered",
                        Some(format!(r#"{{"score":{}}}"#, serial % 11)),
                    )
                } else if serial.is_multiple_of(250) {
                    ("loyalty_joined", None)
                } else {
                    ("page_seen", Some(format!(r#"{{"path":"/page/{serial}"}}"#)))
                };
                let mut event = track(Some(&user), None, name, (step * 5 + round) % 60);
                event.properties = properties;
                events.push(event);
            }
        }
        import(&mut store, &events, 1500);
    }
    dir
}

/// Every event a scan of `columns` hands out, in parts run at once as an analysis runs them:
/// one after the other, decoding into the buffers the previous parts left.
fn seen_in_parts(dir: &Path, columns: parcours_store::scan::ScanColumns) -> Seen {
    let scan = parcours_store::scan::Scan::open(dir, columns).unwrap();
    let parts = scan.parts_by(&[0.4, 0.3, 0.2, 0.1]);
    assert!(parts.len() > 1, "{parts:?}");
    let mut seen = Seen::new();
    let mut partials = Vec::new();
    let mut buffers = parcours_store::scan::ScanBuffers::default();
    for part in &parts {
        // Within a part, customers come in increasing order.
        let mut last = None;
        partials.push(
            scan.run_reusing(part, &mut buffers, |events| {
                assert!(
                    last < Some(events.customer),
                    "customer {} after {last:?}",
                    events.customer
                );
                last = Some(events.customer);
                record(&mut seen, events);
                Ok(())
            })
            .unwrap(),
        );
    }
    scan.finish(partials, |events| {
        record(&mut seen, events);
        Ok(())
    })
    .unwrap();
    seen.sort();
    seen
}

#[test]
fn the_properties_of_rare_codes_read_from_the_footer_are_the_columns() {
    let dir = store_with_rare_answers("rare-properties");
    let codes: std::collections::HashMap<String, i32> = parcours_store::scan::event_codes(&dir)
        .unwrap()
        .into_iter()
        .map(|(code, _, name)| (name, code))
        .collect();
    let (survey, page, loyalty) = (
        codes["survey_answered"],
        codes["page_seen"],
        codes["loyalty_joined"],
    );
    // Every segment's footer holds the survey answers: rare in each of them.
    let files = segments(&dir).unwrap();
    assert!(files.len() >= 4, "{} segments", files.len());
    for entry in &files {
        let file = std::fs::File::open(&entry.path).unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        use parquet::file::reader::FileReader;
        let metadata = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap();
        let keys: Vec<&str> = metadata.iter().map(|kv| kv.key.as_str()).collect();
        assert!(
            keys.contains(&format!("parcours.rare_properties.code.{survey}").as_str()),
            "{}: {keys:?}",
            entry.path.display()
        );
        assert!(!keys.iter().any(|k| k.ends_with(&format!(".code.{page}"))));
    }
    let all = parcours_store::scan::ScanColumns {
        properties: true,
        ..Default::default()
    };
    let whole = seen_in_parts(&dir, all);
    let answers = whole
        .iter()
        .filter(|e| e.1 == survey && e.3.is_some())
        .count();
    assert!(answers >= 25, "{answers} answers");
    let only = |kept: &[i32]| {
        let mut marks = vec![false; codes.values().copied().max().unwrap() as usize + 1];
        for &code in kept {
            marks[code as usize] = true;
        }
        let columns = parcours_store::scan::ScanColumns {
            properties: true,
            text_codes: Some(marks.into()),
            ..Default::default()
        };
        let expected: Seen = whole
            .iter()
            .cloned()
            .map(|(customer, code, minute, text)| {
                (
                    customer,
                    code,
                    minute,
                    text.filter(|_| kept.contains(&code)),
                )
            })
            .collect();
        (columns, expected)
    };
    // Rare codes only: from the footers; with a frequent one: from the column.
    for kept in [&[survey][..], &[survey, loyalty], &[survey, page]] {
        let (columns, expected) = only(kept);
        assert_eq!(seen_in_parts(&dir, columns), expected, "codes {kept:?}");
    }
    // Compaction writes the footers anew.
    let mut store = Store::open(&dir).unwrap();
    store.compact(4000).unwrap();
    drop(store);
    let (columns, expected) = only(&[survey]);
    assert_eq!(seen_in_parts(&dir, columns), expected, "after compaction");
}
