//! Dense ids for the names in a text column of the login table (users, clients), computed
//! once per analysis, so that per-name state lives in vectors indexed by id.
//!
//! Hash maps keyed by `&str` borrowed from the table compare each probe with a key that lies
//! wherever its row lies in a column of millions of rows: a cache miss per lookup, a quarter
//! of `analyze`'s time on a 10M-line incident. Here the interner owns its keys, side by side in
//! one buffer (not one allocation per name: a million names cost a million mallocs and frees,
//! a tenth of `analyze`'s time on W1), and everything after it indexes vectors.

use foldhash::HashMap;
use polars::prelude::*;

use crate::schema::{self, Role, Tables};

/// The id of a null name.
pub(crate) const NONE: u32 = u32::MAX;

/// One id per row of the login table (`NONE` for a null), and how many names there are.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    pub rows: Vec<u32>,
    pub names: usize,
}

/// Names to ids: a map from each name's 64-bit hash to its id, the names' bytes in one buffer
/// to check a hit against, and the names whose hash another name took first (a collision,
/// about one in ten million million pairs) in a map of their own.
#[derive(Default)]
struct Interner {
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

    fn id(&mut self, v: &str) -> u32 {
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
                if self.name(id) == v.as_bytes() {
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

impl Ids {
    /// The ids of `column` in the login table; empty when there is no such table or column.
    pub fn of(tables: &Tables, column: &str) -> PolarsResult<Ids> {
        let Some(c) = tables.get(&Role::Login).and_then(|df| df.column(column).ok()) else {
            return Ok(Ids::default());
        };
        let mut intern = Interner::default();
        let mut rows = Vec::with_capacity(c.len());
        for v in schema::texts(c)? {
            rows.push(v.map_or(NONE, |v| intern.id(v)));
        }
        Ok(Ids { rows, names: intern.starts.len() })
    }

    /// The id of each row, `NONE` throughout when the column was missing.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.rows.iter().copied().chain(std::iter::repeat(NONE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

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
        for (n, &id) in names.iter().zip(&ids.rows) {
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
}
