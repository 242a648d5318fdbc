//! Dense ids for the names in a text column of the login table (users, clients).
//!
//! Two steps. Loading for analysis holds `user` and `client` as ids of first sight (UInt32,
//! [`id_column`], from `ingest::sink::keep_columns`): 4 bytes a row instead of a 16-byte view
//! and its text, and the names are hashed once, while the next block is parsed, instead of
//! by every step that counts them. Each analysis then numbers the names its (cut, sorted)
//! table holds densely, in order of first sight ([`Ids::of`]), so that per-name state lives
//! in vectors indexed by id.
//!
//! Hash maps keyed by `&str` borrowed from the table compare each probe with a key that lies
//! wherever its row lies in a column of millions of rows: a cache miss per lookup. Here the
//! interner owns its keys, side by side in one buffer (not one allocation per name: a million
//! names cost a million mallocs and frees, a tenth of `analyze`'s time on W1).
//!
//! The name compare, [`same`], lives here too; ingest's presets use it for field names.

use foldhash::HashMap;
use polars::prelude::*;

use crate::schema::{self, Role, Tables};

/// The id of a null name.
pub(crate) const NONE: u32 = u32::MAX;

/// One id per row of the login table (`NONE` for a null), and how many names there are.
#[derive(Debug)]
pub(crate) struct Ids {
    /// One chunk without nulls: the loaded column itself when its ids are already dense (no
    /// copy), else a vector of them. Read it with [`Ids::rows`].
    rows: UInt32Chunked,
    pub names: usize,
}

/// Names to ids: a map from each name's 64-bit hash to its id, the names' bytes in one buffer
/// to check a hit against, and the names whose hash another name took first (a collision,
/// about one in ten million million pairs) in a map of their own.
#[derive(Default)]
pub(crate) struct Interner {
    by_hash: HashMap<u64, u32>,
    bytes: Vec<u8>,
    /// Where each id's name starts in `bytes`; it ends where the next one starts.
    starts: Vec<usize>,
    collided: HashMap<Box<str>, u32>,
    hasher: foldhash::fast::FixedState,
}

impl Interner {
    fn name(&self, id: u32) -> &[u8] {
        let i = id as usize;
        let end = self.starts.get(i + 1).copied().unwrap_or(self.bytes.len());
        &self.bytes[self.starts[i]..end]
    }

    fn add(&mut self, v: &str) -> u32 {
        let id = self.starts.len() as u32;
        self.starts.push(self.bytes.len());
        self.bytes.extend_from_slice(v.as_bytes());
        id
    }

    pub fn id(&mut self, v: &str) -> u32 {
        use std::collections::hash_map::Entry;
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(v);
        match self.by_hash.entry(h) {
            Entry::Vacant(e) => {
                let id = self.starts.len() as u32;
                e.insert(id);
                self.add(v)
            }
            Entry::Occupied(e) => {
                let id = *e.get();
                if same(self.name(id), v.as_bytes()) {
                    return id;
                }
                if let Some(&id) = self.collided.get(v) {
                    return id;
                }
                let id = self.add(v);
                self.collided.insert(v.into(), id);
                id
            }
        }
    }
}

/// `a == b`, with no call to `memcmp` for 4 to 16 bytes (most field, user and client names):
/// two overlapping words compared. Asked for every field a preset reads and every name
/// interned, where a call costs more than the compare.
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let w8 = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let w4 = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"));
    match n {
        8..=16 => w8(a, 0) == w8(b, 0) && w8(a, n - 8) == w8(b, n - 8),
        4..=7 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        _ => a == b,
    }
}

/// The id of each row of a text column (`NONE` for a null).
fn interned(c: &Column, intern: &mut Interner) -> PolarsResult<Vec<u32>> {
    let mut ids = Vec::with_capacity(c.len());
    if let Ok(text) = c.str() {
        // Straight from the arrays: no call through an iterator object per row.
        for arr in text.downcast_iter() {
            ids.extend(arr.iter().map(|v| v.map_or(NONE, |v| intern.id(v))));
        }
        return Ok(ids);
    }
    for v in schema::texts(c)? {
        ids.push(v.map_or(NONE, |v| intern.id(v)));
    }
    Ok(ids)
}

/// A text column as the ids `intern` gives its names (UInt32, null where the text is null),
/// under the same name. Ids are given in order of first sight over every column passed
/// through one interner.
pub(crate) fn id_column(c: &Column, intern: &mut Interner) -> PolarsResult<Column> {
    let ids = interned(c, intern)?;
    let validity = c.rechunk_validity();
    let ca = UInt32Chunked::from_vec_validity(c.name().clone(), ids, validity);
    Ok(ca.into_column())
}

impl Default for Ids {
    fn default() -> Ids {
        Ids::new(Vec::new(), 0)
    }
}

impl Ids {
    /// The ids of `column` in the login table; empty when there is no such table or column.
    /// The column holds names as text, or as the ids of [`id_column`].
    pub fn of(tables: &Tables, column: &str) -> PolarsResult<Ids> {
        match tables.get(&Role::Login) {
            Some(df) => Ids::of_frame(df, column),
            None => Ok(Ids::default()),
        }
    }

    /// The ids of `column` in `df`, as [`Ids::of`] gives them for the login table.
    pub fn of_frame(df: &DataFrame, column: &str) -> PolarsResult<Ids> {
        let Ok(c) = df.column(column) else { return Ok(Ids::default()) };
        if let Ok(loaded) = c.u32() {
            if let Some(ids) = Ids::already_dense(loaded) {
                return Ok(ids);
            }
            let mut rows = Vec::with_capacity(c.len());
            // Renumbered densely: a cut table holds some of the loaded names, in its own order.
            let mut dense = vec![NONE; loaded.max().map_or(0, |m| m as usize + 1)];
            let mut names = 0;
            for v in loaded.iter() {
                rows.push(v.map_or(NONE, |v| {
                    let d = &mut dense[v as usize];
                    if *d == NONE {
                        *d = names;
                        names += 1;
                    }
                    *d
                }));
            }
            return Ok(Ids::new(rows, names as usize));
        }
        let mut intern = Interner::default();
        let rows = interned(c, &mut intern)?;
        Ok(Ids::new(rows, intern.starts.len()))
    }

    /// The loaded ids themselves when they are what [`Ids::of`] would make: no nulls, one
    /// chunk, each id either seen before or the next one. So they are when one sorted source
    /// was loaded whole, the usual case; then the column's buffer is shared, not copied.
    fn already_dense(loaded: &UInt32Chunked) -> Option<Ids> {
        if loaded.null_count() > 0 || loaded.chunks().len() != 1 {
            return None;
        }
        let mut names = 0u32;
        for &v in loaded.cont_slice().ok()? {
            if v == names {
                names += 1;
            } else if v > names {
                return None;
            }
        }
        Some(Ids { rows: loaded.clone(), names: names as usize })
    }

    fn new(rows: Vec<u32>, names: usize) -> Ids {
        Ids { rows: UInt32Chunked::from_vec(PlSmallStr::EMPTY, rows), names }
    }

    /// The id of each row.
    pub fn rows(&self) -> &[u32] {
        self.rows.cont_slice().expect("one chunk without nulls")
    }

    /// The id of each row, `NONE` throughout when the column was missing.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.rows().iter().copied().chain(std::iter::repeat(NONE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn names_compare_equal_exactly_when_their_bytes_do() {
        let names: Vec<String> = (0..40)
            .flat_map(|n| {
                let base = "abcdefghijklmnopqrstuvwxyz0123456789ABCD"[..n].to_string();
                // The same length, one byte changed at the start, the middle and the end.
                let mut variants = vec![base.clone()];
                for at in [0, n / 2, n.saturating_sub(1)] {
                    if n > 0 {
                        let mut b = base.clone().into_bytes();
                        b[at] = b'_';
                        variants.push(String::from_utf8(b).unwrap());
                    }
                }
                variants
            })
            .collect();
        for a in &names {
            for b in &names {
                assert_eq!(same(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn names_get_dense_ids_in_order_of_first_sight() {
        let mut i = Interner::default();
        let ids: Vec<u32> = ["bob", "alice", "bob", "", "carol", "alice"].map(|n| i.id(n)).to_vec();
        assert_eq!(ids, [0, 1, 0, 2, 3, 1]);
        assert_eq!((i.name(2), i.name(3)), (&b""[..], &b"carol"[..]));
    }

    #[test]
    fn a_name_whose_hash_another_took_gets_its_own_id() {
        let mut i = Interner::default();
        let alice = i.id("alice");
        // As if "bob" hashed to what "alice" did.
        let h = i.hasher.hash_one("bob");
        i.by_hash.insert(h, alice);
        let bob = i.id("bob");
        assert_ne!(bob, alice);
        assert_eq!((i.id("bob"), i.id("alice"), i.id("carol")), (bob, alice, 2));
        assert_eq!(i.name(bob), b"bob");
    }

    #[test]
    fn every_name_of_the_column_gets_one_dense_id() {
        let names: Vec<Option<String>> =
            (0..5000).map(|i| (i % 7 != 0).then(|| format!("u{}", i % 1234))).collect();
        let df = df!(schema::USER => names.clone()).unwrap();
        let tables = Tables::from([(Role::Login, df)]);
        let ids = Ids::of(&tables, schema::USER).unwrap();
        let distinct: std::collections::BTreeSet<&String> = names.iter().flatten().collect();
        assert_eq!(ids.names, distinct.len());
        let mut of_name: std::collections::BTreeMap<&String, u32> = Default::default();
        for (n, &id) in names.iter().zip(ids.rows()) {
            match n {
                None => assert_eq!(id, NONE),
                Some(n) => {
                    assert!((id as usize) < ids.names);
                    assert_eq!(*of_name.entry(n).or_insert(id), id, "{n}");
                }
            }
        }
        let used: std::collections::BTreeSet<u32> = of_name.values().copied().collect();
        assert_eq!(used.len(), ids.names, "one id per name");
    }

    /// The login table of `names`, its user column as text or as the ids of `id_column`.
    fn login(names: &[Option<String>], ids: Option<&mut Interner>) -> Tables {
        let mut df = df!(schema::USER => names.to_vec()).unwrap();
        if let Some(intern) = ids {
            let c = id_column(df.column(schema::USER).unwrap(), intern).unwrap();
            df.with_column(c).unwrap();
        }
        Tables::from([(Role::Login, df)])
    }

    #[test]
    fn loaded_ids_give_what_the_names_give() {
        let names: Vec<Option<String>> =
            (0..3000).map(|i| (i % 11 != 3).then(|| format!("u{}", (i * 7) % 901))).collect();
        let of_text = Ids::of(&login(&names, None), schema::USER).unwrap();

        // Loaded in this order: the column's ids are already dense and are shared, not copied.
        let mut intern = Interner::default();
        let no_nulls: Vec<Option<String>> = names.iter().flatten().cloned().map(Some).collect();
        let tables = login(&no_nulls, Some(&mut intern));
        let shared = Ids::of(&tables, schema::USER).unwrap();
        let column = tables[&Role::Login].column(schema::USER).unwrap().u32().unwrap().clone();
        assert_eq!(shared.rows().as_ptr(), column.cont_slice().unwrap().as_ptr());
        let of_no_nulls = Ids::of(&login(&no_nulls, None), schema::USER).unwrap();
        assert_eq!((shared.rows(), shared.names), (of_no_nulls.rows(), of_no_nulls.names));

        // Loaded after other names (a cut or re-sorted table), with nulls: renumbered densely.
        let mut intern = Interner::default();
        for n in ["u900", "zed", "u5"] {
            intern.id(n);
        }
        let loaded = Ids::of(&login(&names, Some(&mut intern)), schema::USER).unwrap();
        assert_eq!(loaded.rows(), of_text.rows());
        assert_eq!(loaded.names, of_text.names);
        assert!(loaded.rows().contains(&NONE));
    }

    #[test]
    fn an_id_column_keeps_nulls_and_one_id_per_name_across_frames() {
        let mut intern = Interner::default();
        let first = Column::new(schema::USER.into(), [Some("bob"), None, Some("al")]);
        let second = Column::new(schema::USER.into(), [Some("al"), Some("cy"), Some("bob")]);
        let a = id_column(&first, &mut intern).unwrap();
        let b = id_column(&second, &mut intern).unwrap();
        let got = |c: &Column| c.u32().unwrap().iter().collect::<Vec<_>>();
        assert_eq!(got(&a), [Some(0), None, Some(1)]);
        assert_eq!(got(&b), [Some(1), Some(2), Some(0)]);
        assert_eq!(a.name().as_str(), schema::USER);
    }
}
