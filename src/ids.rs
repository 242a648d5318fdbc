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

use polars::prelude::*;

use crate::schema::{self, Role, Tables};

/// The id of a null name.
pub(crate) const NONE: u32 = u32::MAX;

/// One id per row of the login table (`NONE` for a null), and how many names there are; no
/// rows at all when there are no names (read them with [`Ids::iter`]).
#[derive(Debug)]
pub(crate) struct Ids {
    /// One chunk without nulls: the loaded column itself when its ids are already dense (no
    /// copy), else a vector of them. Read it with [`Ids::rows`].
    rows: UInt32Chunked,
    pub names: usize,
}

/// Names to ids: an open-addressing table of the ids (linear probing, at most 3/4 full),
/// each slot holding its name's tag ([`tag`]: the hash's high half, its low 4 bits the
/// name's length up to 15) and first 8 bytes beside the id, and per id the name's place in
/// one buffer of all names' bytes. A name's home slot is given by the top bits of its tag,
/// so the table doubles without hashing a name again, and in order: slot i's names go to
/// slots 2i and on.
///
/// A lookup of a name of up to 8 bytes (most user and client names) is decided by the slots
/// alone: a slot with its tag (so its length) and its 8 bytes holds it. A longer name also
/// compares its bytes. (With the 8 bytes beside the id instead, every name found past its
/// home slot read an id's key from another cache line: a third of `id_hashed`'s samples on
/// W1.) A column is looked up in batches whose slots, then long names' keys, are fetched
/// ahead ([`Interner::ids`]), so that the cache misses of a table of millions of names
/// overlap instead of following one another. Ids are exact.
pub(crate) struct Interner<S = foldhash::fast::FixedState> {
    slots: Vec<Slot>,
    keys: Vec<Key>,
    bytes: Vec<u8>,
    hasher: S,
    /// log2 of the number of slots.
    bits: u32,
}

/// A slot of the table: `meta` is 0 when empty, else the name's tag above its id + 1; `head`
/// is the name's first 8 bytes (zero padded, little-endian).
#[derive(Clone, Copy, Default)]
struct Slot {
    meta: u64,
    head: u64,
}

/// A name's tag: the high 32 bits of its hash `h`, the lowest 4 of them replaced by its
/// length up to 15. Equal tags mean equal lengths for names of up to 8 bytes, which their
/// first 8 bytes then tell apart exactly. (`home` reads the tag's top bits: its length bits
/// only below 2^28 slots' worth of precision, a table of 4 GB.)
fn tag(h: u64, len: usize) -> u64 {
    ((h >> 32) & !0xF) | len.min(15) as u64
}

/// An id's name: where it starts in the interner's buffer, and its length.
#[derive(Clone, Copy)]
struct Key {
    start: usize,
    len: usize,
}

impl Default for Interner {
    fn default() -> Interner {
        Interner::with_hasher(Default::default())
    }
}

/// Names looked up together, their slots and then their keys fetched ahead.
const BATCH: usize = 16;

/// The first 8 bytes of `v`, zero padded.
#[inline]
fn head(v: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = v.len().min(8);
    w[..n].copy_from_slice(&v[..n]);
    u64::from_le_bytes(w)
}

/// Asks the CPU to bring `p`'s cache line in, without waiting for it.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it reads nothing the program sees and never faults.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl<S: std::hash::BuildHasher> Interner<S> {
    fn with_hasher(hasher: S) -> Interner<S> {
        let slots = vec![Slot::default(); 16];
        Interner { slots, keys: Vec::new(), bytes: Vec::new(), hasher, bits: 4 }
    }

    /// How many names have ids.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    #[cfg(test)]
    fn name(&self, id: u32) -> &[u8] {
        let k = self.keys[id as usize];
        &self.bytes[k.start..k.start + k.len]
    }

    fn hash(&self, v: &[u8]) -> u64 {
        self.hasher.hash_one(v)
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot where a name of tag `tag` is looked for first: the tag's top bits.
    #[inline]
    fn home(&self, tag: u64) -> usize {
        (tag as u32 >> (32 - self.bits)) as usize
    }

    /// The id of `v`, whose hash is `h`; a new id for a name not seen before. [`NONE`] once
    /// `NONE` names have ids (a table that size does not fit in memory).
    #[inline]
    fn id_hashed(&mut self, v: &str, h: u64) -> u32 {
        let (b, mask) = (v.as_bytes(), self.mask());
        let (tag, want) = (tag(h, b.len()), head(b));
        let mut i = self.home(tag);
        loop {
            let slot = self.slots[i];
            if slot.meta == 0 {
                break;
            }
            if slot.meta >> 32 == tag && slot.head == want {
                let id = (slot.meta as u32) - 1;
                if b.len() <= 8 {
                    return id;
                }
                let k = self.keys[id as usize];
                if same(&self.bytes[k.start..k.start + k.len], b) {
                    return id;
                }
            }
            i = (i + 1) & mask;
        }
        let id = self.keys.len();
        // 2^32 slots hold 3/4 of 2^32 names at most (a table of hundreds of GB).
        if self.bits == 32 && id * 4 >= self.slots.len() * 3 {
            return NONE;
        }
        self.keys.push(Key { start: self.bytes.len(), len: b.len() });
        self.bytes.extend_from_slice(b);
        self.slots[i] = Slot { meta: tag << 32 | (id as u64 + 1), head: want };
        if self.keys.len() * 4 > self.slots.len() * 3 {
            self.grow();
        }
        id as u32
    }

    /// Twice the slots. Each name is placed again from the top bits of its tag, kept in its
    /// slot, in slot order: a name's new home is twice its old one or the next slot, so the
    /// writes go forward through the new table. (Linear probing finds every name whatever the
    /// order they were placed in.)
    fn grow(&mut self) {
        if self.bits == 32 {
            return;
        }
        self.bits += 1;
        let mut slots = vec![Slot::default(); self.slots.len() * 2];
        let mask = slots.len() - 1;
        for &slot in self.slots.iter().filter(|s| s.meta != 0) {
            let mut i = self.home(slot.meta >> 32);
            while slots[i].meta != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = slot;
        }
        self.slots = slots;
    }

    #[cfg(test)]
    fn id(&mut self, v: &str) -> u32 {
        let h = self.hash(v.as_bytes());
        self.id_hashed(v, h)
    }

    /// The id of each name (`NONE` for a null), appended to `out`.
    pub fn ids<'a>(&mut self, names: impl Iterator<Item = Option<&'a str>>, out: &mut Vec<u32>) {
        let mut names = names.peekable();
        let mut batch: [(Option<&str>, u64); BATCH] = [(None, 0); BATCH];
        while names.peek().is_some() {
            let mut n = 0;
            for (slot, v) in batch.iter_mut().zip(names.by_ref()) {
                let h = v.map_or(0, |v| self.hash(v.as_bytes()));
                prefetch(&self.slots[self.home(tag(h, v.map_or(0, str::len)))]);
                *slot = (v, h);
                n += 1;
            }
            // Names over 8 bytes compare their bytes too: their keys are fetched ahead.
            for &(v, h) in &batch[..n] {
                let Some(v) = v.filter(|v| v.len() > 8) else { continue };
                let tag = tag(h, v.len());
                let slot = self.slots[self.home(tag)];
                if slot.meta >> 32 == tag && slot.meta != 0 {
                    prefetch(&self.keys[(slot.meta as u32 - 1) as usize]);
                }
            }
            out.extend(batch[..n].iter().map(|&(v, h)| v.map_or(NONE, |v| self.id_hashed(v, h))));
        }
    }
}

/// `a == b`, with no call to `memcmp` for 1 to 16 bytes (most field, user and client names,
/// a pattern's literals): two overlapping words compared, or the few bytes. Asked for every
/// field a preset reads and every name interned, where a call costs more than the compare.
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
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        _ => a == b,
    }
}

/// The id of each row of a text column (`NONE` for a null).
fn interned(c: &Column, intern: &mut Interner) -> PolarsResult<Vec<u32>> {
    let mut ids = Vec::with_capacity(c.len());
    if let Ok(text) = c.str() {
        // Straight from the arrays: no call through an iterator object per row.
        for arr in text.downcast_iter() {
            intern.ids(arr.iter(), &mut ids);
        }
        return Ok(ids);
    }
    intern.ids(schema::texts(c)?, &mut ids);
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
    /// The ids of `column` in the login table; empty (no names, no rows) when there is no such
    /// table or column, or it holds no name.
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
        if c.null_count() == c.len() {
            // No names at all (W1's clients, loaded as one null): none, as for no column.
            return Ok(Ids::default());
        }
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
        Ok(Ids::new(rows, intern.len()))
    }

    /// The loaded ids themselves when they are what [`Ids::of`] would make: no nulls, one
    /// chunk, each id either seen before or the next one. So they are when one sorted source
    /// was loaded whole, the usual case; then the column's buffer is shared, not copied.
    fn already_dense(loaded: &UInt32Chunked) -> Option<Ids> {
        if loaded.null_count() > 0 || loaded.chunks().len() != 1 {
            return None;
        }
        // Without a branch per row: a user's first row and a repeat come in no pattern, and
        // the branch on them was mispredicted about every other row.
        let (mut names, mut dense) = (0u32, true);
        for &v in loaded.cont_slice().ok()? {
            dense &= v <= names;
            names += u32::from(v == names);
        }
        dense.then(|| Ids { rows: loaded.clone(), names: names as usize })
    }

    fn new(rows: Vec<u32>, names: usize) -> Ids {
        Ids { rows: UInt32Chunked::from_vec(PlSmallStr::EMPTY, rows), names }
    }

    /// The id of each row; none at all when there are no names (read [`Ids::iter`] then).
    pub fn rows(&self) -> &[u32] {
        self.rows.cont_slice().expect("one chunk without nulls")
    }

    /// The id of each row, `NONE` throughout when the column was missing or held no name.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.rows().iter().copied().chain(std::iter::repeat(NONE))
    }
}

/// A set of ids ([`Ids`]' numbers) as a bit each: two million users in 256 KB, which stays in
/// a core's cache, where a byte or a number per id (2-8 MB) read at random did not. The
/// per-user passes of analysis (distinct users per bucket, users who failed, users affected)
/// keep theirs here.
pub(crate) struct IdSet(Vec<u64>);

impl IdSet {
    /// An empty set of ids below `names`.
    pub fn new(names: usize) -> IdSet {
        IdSet(vec![0; names.div_ceil(64)])
    }

    #[inline]
    pub fn contains(&self, id: u32) -> bool {
        self.0[id as usize / 64] & (1 << (id % 64)) != 0
    }

    /// Adds `id`; whether it was not in the set before.
    #[inline]
    pub fn insert(&mut self, id: u32) -> bool {
        let (word, bit) = (&mut self.0[id as usize / 64], 1u64 << (id % 64));
        let new = *word & bit == 0;
        *word |= bit;
        new
    }

    /// Empties the set, which holds only `ids` (each of its words is zeroed whole).
    pub fn clear_only(&mut self, ids: &[u32]) {
        for &id in ids {
            self.0[id as usize / 64] = 0;
        }
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_sets_hold_what_was_inserted_until_cleared() {
        let mut set = IdSet::new(200);
        let ids = [0u32, 63, 64, 130, 199];
        for id in ids {
            assert!(set.insert(id), "{id} is new");
            assert!(!set.insert(id), "{id} is there");
        }
        assert_eq!(set.len(), ids.len());
        assert!((0..200).all(|id| set.contains(id) == ids.contains(&id)));
        set.clear_only(&ids);
        assert_eq!(set.len(), 0);
        assert!((0..200).all(|id| !set.contains(id)));
    }

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

    /// A hash that gives every name the same value: every lookup probes past every name.
    #[derive(Default)]
    struct Zero;
    impl std::hash::Hasher for Zero {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, _: &[u8]) {}
    }

    #[test]
    fn names_whose_hashes_are_equal_get_their_own_ids() {
        let mut i = Interner::with_hasher(std::hash::BuildHasherDefault::<Zero>::default());
        // Past the first table's 16 slots, and names of every length around 8 bytes with the
        // same first 8 bytes.
        let names: Vec<String> = (0..40)
            .map(|n| format!("abcdefgh{}", "x".repeat(n % 5)) + &n.to_string())
            .chain(["", "a", "abcdefgh", "abcdefg", "abcdefgh\0", "abcdefg\0"].map(String::from))
            // Lengths of 15 and over share a tag's length bits: their bytes tell them apart.
            .chain((15..21).map(|n| format!("abcdefgh{}", "y".repeat(n - 8))))
            .collect();
        let ids: Vec<u32> = names.iter().map(|n| i.id(n)).collect();
        assert_eq!(ids, (0..names.len() as u32).collect::<Vec<_>>());
        let mut again = Vec::new();
        i.ids(names.iter().rev().map(|n| Some(n.as_str())).chain([None]), &mut again);
        let want: Vec<u32> = ids.iter().rev().copied().chain([NONE]).collect();
        assert_eq!(again, want);
        for (n, id) in names.iter().zip(ids) {
            assert_eq!(i.name(id), n.as_bytes());
        }
    }

    #[test]
    fn batched_lookups_give_the_ids_of_single_ones() {
        // Repeats inside one batch, across batches and across table growths.
        let names: Vec<Option<String>> = (0..20_000)
            .map(|i: u64| (!i.is_multiple_of(13)).then(|| format!("user{}", (i * 7919) % 6007)))
            .collect();
        let mut one = Interner::default();
        let single: Vec<u32> =
            names.iter().map(|n| n.as_deref().map_or(NONE, |n| one.id(n))).collect();
        let mut many = Interner::default();
        let mut batched = Vec::new();
        many.ids(names.iter().map(|n| n.as_deref()), &mut batched);
        assert_eq!(batched, single);
        assert_eq!((many.len(), one.len()), (6007, 6007));
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
        // Without nulls but after another name, so from id 1: renumbered from 0.
        let mut intern = Interner::default();
        intern.id("zed");
        let later = Ids::of(&login(&no_nulls, Some(&mut intern)), schema::USER).unwrap();
        assert_eq!((later.rows(), later.names), (of_no_nulls.rows(), of_no_nulls.names));

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
