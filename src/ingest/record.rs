//! Line -> record: the format parsers (JSON lines, CSV/TSV, logfmt, regex with named groups).
//!
//! A [`Record`] is the raw fields of one line as name/value text pairs, borrowed from the line
//! wherever no unescaping is needed. Parsers never allocate per line except for escaped values;
//! the caller reuses one `Record` for a whole chunk.

use std::borrow::Cow;

use regex::{CaptureLocations, Regex};

use crate::ids::same;

/// The fields of one parsed line, in the order the line has them. Names are borrowed from
/// the line too, except the dotted names of nested JSON objects (`involvedObject.name`).
#[derive(Debug, Default)]
pub struct Record<'a> {
    pub fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Set by a parser whose records may have the fields of its layout
    /// ([`super::format::LineParser::layout`]) in another order: a JSON line whose keys are
    /// not the first line's, in its order. Names are then looked up, not read by position.
    pub unbound: bool,
}

impl<'a> Record<'a> {
    pub fn clear(&mut self) {
        self.fields.clear();
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        let found = self.fields.iter().find(|(k, _)| same(k.as_bytes(), name.as_bytes()));
        found.map(|(_, v)| v.as_ref())
    }

    fn push(&mut self, name: &'a str, value: Cow<'a, str>) {
        self.fields.push((Cow::Borrowed(name), value));
    }

    /// [`Record::push`] of a borrowed value, written into the vector's room from registers.
    /// `push` was handed the pair in memory, built there in 8-byte stores and read back in
    /// 16-byte loads across them: a store-forwarding stall per field, which held 77% of its
    /// samples on W1's JSON lines.
    #[inline(always)]
    fn push_str(&mut self, name: &'a str, value: &'a str) {
        self.fields.reserve(1);
        let len = self.fields.len();
        self.fields.spare_capacity_mut()[0].write((Cow::Borrowed(name), Cow::Borrowed(value)));
        // SAFETY: the slot at `len` is within the capacity reserved and was just written.
        unsafe { self.fields.set_len(len + 1) };
    }

    /// Adds the leaves of a nested JSON object under dotted names (`parent.child.leaf`);
    /// arrays stay as their JSON text.
    fn push_nested(&mut self, prefix: &str, value: &serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    self.push_nested(&format!("{prefix}.{k}"), v);
                }
            }
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => {
                self.fields.push((Cow::Owned(prefix.to_string()), Cow::Owned(s.clone())))
            }
            other => {
                self.fields.push((Cow::Owned(prefix.to_string()), Cow::Owned(other.to_string())))
            }
        }
    }
}

/// One JSON value as text: strings unescaped (borrowed when they hold no escapes), numbers
/// and booleans as written by serde, nested objects and arrays as compact JSON, null as none.
struct JsonText<'a>(Option<Cow<'a, str>>);

impl<'de> serde::Deserialize<'de> for JsonText<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonText<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonText(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonText(Some(Cow::Owned(v))))
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(JsonText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(JsonText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(JsonText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E: Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(JsonText(Some(Cow::Borrowed(if v { "true" } else { "false" }))))
            }
            fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
                Ok(JsonText(None))
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                let v = serde_json::Value::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(JsonText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Self::Value, S::Error> {
                let v = serde_json::Value::deserialize(
                    serde::de::value::SeqAccessDeserializer::new(seq),
                )?;
                Ok(JsonText(Some(Cow::Owned(v.to_string()))))
            }
        }
        use serde::Deserialize;
        d.deserialize_any(V)
    }
}

/// Parses one JSON object per line into its top-level fields (see [`JsonText`]). `keys` are
/// the keys lines are expected to have, in order (the source's first line's): a line that
/// has just those, none null, is read by position ([`Record::unbound`] stays false).
pub fn parse_json<'a>(line: &'a str, rec: &mut Record<'a>, keys: &[String]) -> Result<(), String> {
    use serde::de::{Deserializer, MapAccess, Visitor};

    // Most lines are flat objects of plain values: read those by a byte scan.
    let before = rec.fields.len();
    if let Some(in_order) = flat_json(line, rec, keys) {
        rec.unbound = !in_order;
        return Ok(());
    }
    rec.fields.truncate(before);
    rec.unbound = true;

    struct V<'r, 'a>(&'r mut Record<'a>);
    impl<'de, 'r> Visitor<'de> for V<'r, 'de> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
            while let Some(key) = map.next_key::<&'de str>()? {
                if let JsonText(Some(value)) = map.next_value()? {
                    // A nested object also gives its leaves, under dotted names.
                    let nested = value
                        .starts_with('{')
                        .then(|| serde_json::from_str::<serde_json::Value>(&value).ok())
                        .flatten();
                    self.0.push(key, value);
                    if let Some(v) = nested {
                        self.0.push_nested(key, &v);
                    }
                }
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_str(line);
    de.deserialize_map(V(rec)).map_err(|e| format!("invalid JSON: {e}"))?;
    de.end().map_err(|e| format!("invalid JSON: {e}"))
}

/// Reads a JSON line that is one flat object of strings without escapes, whole numbers,
/// booleans and nulls, giving the fields serde's path gives (numbers as serde writes them:
/// only whole numbers of up to 18 digits, which it writes as they are). `None` for anything
/// else (escapes, fractions, nested values, errors): serde's path reads it or says why not,
/// and the caller drops what this pushed. `Some(true)` when the line's keys are `keys`, in
/// that order, and none is null: a key expected is compared where it should be instead of
/// scanned for its closing quote.
fn flat_json<'a>(line: &'a str, rec: &mut Record<'a>, keys: &[String]) -> Option<bool> {
    let b = line.as_bytes();
    let ws = |mut i: usize| {
        while matches!(b.get(i), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            i += 1;
        }
        i
    };
    // The expected key `k` at the quote at `i`: the key and the position after its quote.
    // A key of `keys` holds no quote, backslash or control byte (it was read by this scan),
    // so bytes equal to it and then a quote are that key.
    let expected = |i: usize, k: &str| -> Option<(&'a str, usize)> {
        let end = i + 1 + k.len();
        let fits = b.get(i + 1..end).is_some_and(|got| same(got, k.as_bytes()));
        (fits && b.get(end) == Some(&b'"')).then(|| (&line[i + 1..end], end + 1))
    };
    let mut i = ws(0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(i + 1);
    if b.get(i) == Some(&b'}') {
        return (ws(i + 1) == b.len()).then_some(keys.is_empty());
    }
    let mut in_order = true;
    let mut n = 0;
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let found = keys.get(n).filter(|_| in_order).and_then(|k| expected(i, k));
        in_order &= found.is_some();
        n += 1;
        let (key, after) = match found {
            Some(f) => f,
            None => json_string(line, i)?,
        };
        i = ws(after);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = ws(i + 1);
        let start = i;
        let value = match *b.get(i)? {
            b'"' => {
                let (v, after) = json_string(line, i)?;
                i = after;
                Some(v)
            }
            b'-' | b'0'..=b'9' => {
                let digits = usize::from(b[i] == b'-');
                let len = b[i + digits..].iter().take_while(|c| c.is_ascii_digit()).count();
                let first = *b.get(i + digits)?;
                // No leading zeros, no "-0", and no fraction or exponent after.
                if len == 0 || len > 18 || (first == b'0' && (len > 1 || digits == 1)) {
                    return None;
                }
                i += digits + len;
                if matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
                    return None;
                }
                Some(&line[start..i])
            }
            b't' if b[i..].starts_with(b"true") => {
                i += 4;
                Some("true")
            }
            b'f' if b[i..].starts_with(b"false") => {
                i += 5;
                Some("false")
            }
            b'n' if b[i..].starts_with(b"null") => {
                i += 4;
                in_order = false;
                None
            }
            _ => return None,
        };
        if let Some(v) = value {
            rec.push_str(key, v);
        }
        i = ws(i);
        match b.get(i) {
            Some(b',') => i = ws(i + 1),
            Some(b'}') => return (ws(i + 1) == b.len()).then_some(in_order && n == keys.len()),
            _ => return None,
        }
    }
}

/// A string without escapes or control bytes from the quote at `i` of `line`: its text and
/// the position after its closing quote. Inlined into [`flat_json`]: as a closure it was
/// called for each of a line's strings (9.8% of a W1 JSONL ingest's profile, its register
/// saves and restores among the hottest instructions).
#[inline(always)]
fn json_string(line: &str, i: usize) -> Option<(&str, usize)> {
    let b = line.as_bytes();
    let end = string_end(b, i + 1)?;
    // An `if`, not `bool::then` with a closure: the closure stayed a call of its own, which
    // read its captures back from memory (2.8% of a W1 JSONL ingest).
    if b[end] != b'"' {
        return None;
    }
    Some((&line[i + 1..end], end + 1))
}

/// The keys of a flat JSON line without nulls, in order: what [`parse_json`] reads by
/// position when given them. `None` for a line the byte scan does not read.
pub fn json_keys(line: &str) -> Option<Vec<String>> {
    let mut rec = Record::default();
    flat_json(line, &mut rec, &[])?;
    let keys: Vec<String> = rec.fields.iter().map(|(k, _)| k.to_string()).collect();
    flat_json(line, &mut Record::default(), &keys)?.then_some(keys)
}

/// Bytes scanned eight at a time, for the short runs of a line (fields, strings, tokens),
/// where a byte loop or a memchr call per run showed in profiles: the first position from
/// `pos` whose byte `stops`, or the end. `candidates(word)` sets the high bit of each byte of
/// a little-endian word that may stop, exactly at the lowest one (those above it may be
/// false alarms, which `stops` tells).
fn scan(
    b: &[u8],
    mut pos: usize,
    candidates: impl Fn(u64) -> u64,
    stops: impl Fn(u8) -> bool,
) -> usize {
    while let Some(word) = b.get(pos..pos + 8) {
        let found = candidates(u64::from_le_bytes(word.try_into().expect("eight bytes")));
        if found == 0 {
            pos += 8;
            continue;
        }
        let i = pos + (found.trailing_zeros() / 8) as usize;
        if stops(b[i]) {
            return i;
        }
        pos = i + 1;
    }
    b[pos..].iter().position(|&c| stops(c)).map_or(b.len(), |k| pos + k)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` below `n` (at most 0x80), exact at the lowest one.
fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// The high bit of each byte of `w` equal to `c`, exact at the lowest one.
fn equal(w: u64, c: u8) -> u64 {
    below(w ^ (ONES * u64::from(c)), 1)
}

/// The first `byte` in `b` from `pos` (a delimited line's next delimiter).
fn find_byte(b: &[u8], pos: usize, byte: u8) -> Option<usize> {
    let i = scan(b, pos, |w| equal(w, byte), |c| c == byte);
    (i < b.len()).then_some(i)
}

/// Where the text of a JSON string that starts at `pos` stops: its closing quote, a
/// backslash or a control byte (both for serde to read), or `None` at the end of the line.
fn string_end(b: &[u8], pos: usize) -> Option<usize> {
    let candidates = |w| equal(w, b'"') | equal(w, b'\\') | below(w, 0x20);
    let i = scan(b, pos, candidates, |c| c == b'"' || c == b'\\' || c < 0x20);
    (i < b.len()).then_some(i)
}

/// Sixteen bytes compared at once with SSE2, which every x86-64 processor has.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};

    /// The bits of the bytes of `chunk` that are a quote, and of those that are `delim`.
    #[inline(always)]
    pub fn two_bytes(chunk: &[u8; 16], delim: u8) -> (u32, u32) {
        // SAFETY: SSE2 is in the x86-64 base, so these instructions exist wherever this
        // compiles; the one load reads the 16 bytes `chunk` holds (unaligned).
        unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast());
            let quotes = _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8)));
            let delims = _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(delim as i8)));
            (quotes as u32, delims as u32)
        }
    }
}

/// Splits one delimited line; quoted fields may hold the delimiter and doubled quotes.
pub fn split_delimited(line: &str, delim: u8) -> Result<Vec<Cow<'_, str>>, String> {
    let mut out = Vec::with_capacity(8);
    each_delimited(line, delim, |v| out.push(v))?;
    Ok(out)
}

/// Hands each field of a delimited line to `out`, in order (no vector per line).
fn each_delimited<'a>(
    line: &'a str,
    delim: u8,
    mut out: impl FnMut(Cow<'a, str>),
) -> Result<(), String> {
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'"') {
            let mut j = i + 1;
            let mut escaped = false;
            loop {
                match memchr::memchr(b'"', &b[j..]) {
                    None => return Err("unterminated quoted field".to_string()),
                    Some(k) => {
                        j += k;
                        if b.get(j + 1) == Some(&b'"') {
                            escaped = true;
                            j += 2;
                        } else {
                            break;
                        }
                    }
                }
            }
            let inner = &line[i + 1..j];
            out(if escaped {
                Cow::Owned(inner.replace("\"\"", "\""))
            } else {
                Cow::Borrowed(inner)
            });
            i = j + 1;
            match b.get(i) {
                None => break,
                Some(&c) if c == delim => i += 1,
                Some(_) => return Err("text after a closing quote".to_string()),
            }
        } else {
            match find_byte(b, i, delim).map(|end| end - i) {
                Some(k) => {
                    out(Cow::Borrowed(&line[i..i + k]));
                    i += k + 1;
                }
                None => {
                    out(Cow::Borrowed(&line[i..]));
                    break;
                }
            }
        }
    }
    Ok(())
}

/// The high bit of each byte of `w` equal to `c`, exactly (no false alarms above the lowest).
fn equal_exact(w: u64, c: u8) -> u64 {
    const LOWS: u64 = !HIGHS;
    let x = w ^ (ONES * u64::from(c));
    !(((x & LOWS).wrapping_add(LOWS)) | x | LOWS)
}

/// Splits a line without quotes (nearly every CSV line) at `delim`, eight bytes at a time:
/// each word gives the positions of all its delimiters at once, so a field costs a few
/// instructions instead of a scan of its own. `None` when the line has a quote, or the header
/// over 32 columns (the caller then reads it with [`each_delimited`]); else the number of
/// fields, of which those with a name are pushed.
fn split_unquoted<'a>(
    line: &'a str,
    delim: u8,
    names: &'a [String],
    rec: &mut Record<'a>,
) -> Option<usize> {
    // The fields' ends are found first and the record filled in one `extend`: pushing each
    // field as it was found built it on the stack word by word and copied it 16 bytes at a
    // time, a store-forwarding stall per field (a third of this function's time).
    const MOST: usize = 32;
    if names.len() > MOST {
        return None;
    }
    let b = line.as_bytes();
    let mut ends = [0usize; MOST];
    let mut n = 0;
    let mut pos = 0;
    // Sixteen bytes at a time while they last, then words of eight.
    #[cfg(target_arch = "x86_64")]
    while let Some(chunk) = b.get(pos..pos + 16) {
        let (quotes, mut found) = sse2::two_bytes(chunk.try_into().expect("sixteen bytes"), delim);
        if quotes != 0 || delim == 0 {
            return None;
        }
        while found != 0 {
            if let Some(e) = ends.get_mut(n) {
                *e = pos + found.trailing_zeros() as usize;
            }
            n += 1;
            found &= found - 1;
        }
        pos += 16;
    }
    while pos < b.len() {
        let w = match b.get(pos..pos + 8) {
            Some(word) => u64::from_le_bytes(word.try_into().expect("eight bytes")),
            None => {
                // The last bytes, read as one word padded with zeros (copied into a padded
                // word for every word, the load waited on the copy's byte stores).
                let mut word = [0u8; 8];
                word[..b.len() - pos].copy_from_slice(&b[pos..]);
                u64::from_le_bytes(word)
            }
        };
        // Bytes past the end are zero: neither a quote nor a delimiter (a NUL one is refused).
        if equal_exact(w, b'"') != 0 || delim == 0 {
            return None;
        }
        let mut found = equal_exact(w, delim);
        while found != 0 {
            if let Some(e) = ends.get_mut(n) {
                *e = pos + (found.trailing_zeros() / 8) as usize;
            }
            n += 1;
            found &= found - 1;
        }
        pos += 8;
    }
    if let Some(e) = ends.get_mut(n) {
        *e = b.len();
    }
    n += 1;
    let kept = n.min(names.len());
    let mut start = 0;
    rec.fields.extend(names[..kept].iter().zip(&ends[..kept]).map(|(name, &end)| {
        let v = &line[start..end];
        start = end + 1;
        (Cow::Borrowed(name.as_str()), Cow::Borrowed(v))
    }));
    Some(n)
}

/// Parses a delimited line against known column names.
pub fn parse_delimited<'a>(
    line: &'a str,
    delim: u8,
    names: &'a [String],
    rec: &mut Record<'a>,
) -> Result<(), String> {
    let before = rec.fields.len();
    if let Some(n) = split_unquoted(line, delim, names, rec) {
        if n != names.len() {
            rec.fields.truncate(before);
            return Err(format!("{n} fields where the header has {}", names.len()));
        }
        return Ok(());
    }
    let mut n = 0;
    let split = each_delimited(line, delim, |v| {
        if let Some(name) = names.get(n) {
            rec.push(name, v);
        }
        n += 1;
    });
    if split.is_err() || n != names.len() {
        rec.fields.truncate(before);
    }
    split?;
    if n != names.len() {
        return Err(format!("{n} fields where the header has {}", names.len()));
    }
    Ok(())
}

/// Parses `key=value key="quoted value"` pairs. Bare words are joined into `message`, except
/// a leading bare timestamp (`2007-08-16T03:14:00Z level=info ...`), which becomes `ts`.
pub fn parse_logfmt<'a>(line: &'a str, rec: &mut Record<'a>) -> Result<(), String> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut bare_start: Option<usize> = None;
    let mut bare_end = 0;
    let mut pairs = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        if i < b.len() && b[i] == b'=' && i > start {
            let key = &line[start..i];
            i += 1;
            if b.get(i) == Some(&b'"') {
                let mut j = i + 1;
                let mut escaped = false;
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' {
                        escaped = true;
                        j += 1;
                    }
                    j += 1;
                }
                if j >= b.len() {
                    return Err(format!("unterminated quote in value of {key}"));
                }
                let inner = &line[i + 1..j];
                let v = if escaped { Cow::Owned(unescape(inner)) } else { Cow::Borrowed(inner) };
                rec.push(key, v);
                i = j + 1;
            } else {
                let vs = i;
                while i < b.len() && b[i] != b' ' {
                    i += 1;
                }
                rec.push_str(key, &line[vs..i]);
            }
            pairs += 1;
        } else {
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            if pairs == 0 && bare_start.is_none() && start == 0 && b[0].is_ascii_digit() {
                rec.push_str("ts", &line[..i]);
            } else {
                bare_start.get_or_insert(start);
                bare_end = i;
            }
        }
    }
    if pairs == 0 {
        return Err("no key=value pairs".to_string());
    }
    if let Some(s) = bare_start {
        rec.push_str("message", &line[s..bare_end]);
    }
    Ok(())
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A compiled regex format: the first pattern that matches wins; named groups are fields.
///
/// A pattern that is only literal text and runs of one class (`^(?P<ts>\S+) (?P<host>\S+)
/// user=(?P<user>\S*) ...$`, the shape most users write) is also compiled to [`Tokens`],
/// which reads an ASCII line by scanning bytes, with the regex's answer: a third of the
/// ingest's time went to the regex engine's capture search on such a pattern.
#[derive(Debug, Clone)]
pub struct RegexSet {
    patterns: Vec<(Regex, Option<Tokens>)>,
}

impl RegexSet {
    pub fn new(patterns: Vec<Regex>) -> RegexSet {
        RegexSet {
            patterns: patterns
                .into_iter()
                .map(|re| {
                    let t = Tokens::compile(re.as_str());
                    (re, t)
                })
                .collect(),
        }
    }

    pub fn parse<'a>(
        &'a self,
        line: &'a str,
        locs: &mut [CaptureLocations],
        rec: &mut Record<'a>,
    ) -> Result<(), String> {
        for ((re, fast), loc) in self.patterns.iter().zip(locs.iter_mut()) {
            // The byte scan's answer, unless it met a byte only the regex can judge.
            if let Some(matched) = fast.as_ref().and_then(|t| t.split(line, rec)) {
                if matched {
                    return Ok(());
                }
                continue;
            }
            if re.captures_read(loc, line).is_some() {
                for (idx, name) in re.capture_names().enumerate() {
                    if let (Some(name), Some((s, e))) = (name, loc.get(idx)) {
                        rec.push_str(name, &line[s..e]);
                    }
                }
                return Ok(());
            }
        }
        Err("line does not match the format's pattern".to_string())
    }

    /// The groups of every match, in order, when there is one pattern and it is read by the
    /// byte scan (whose groups all take part in a match; the regex gives them in this order).
    pub fn layout(&self) -> Option<Vec<&str>> {
        match self.patterns.as_slice() {
            [(re, Some(_))] => Some(re.capture_names().flatten().collect()),
            _ => None,
        }
    }

    pub fn locations(&self) -> Vec<CaptureLocations> {
        self.patterns.iter().map(|(re, _)| re.capture_locations()).collect()
    }
}

/// A class of bytes a run takes, as the regex means it on ASCII text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    /// `\S`: not whitespace.
    NotSpace,
    /// `\d`: a digit.
    Digit,
    /// `.`: anything (only as the last item: the rest of the line).
    Any,
}

impl Class {
    fn has(self, b: u8) -> bool {
        self.table()[b as usize]
    }

    fn table(self) -> &'static [bool; 256] {
        const fn table(class: Class) -> [bool; 256] {
            let mut t = [false; 256];
            let mut b = 0;
            while b < 256 {
                let c = b as u8;
                t[b] = match class {
                    Class::NotSpace => !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
                    Class::Digit => c.is_ascii_digit(),
                    Class::Any => c != b'\n',
                };
                b += 1;
            }
            t
        }
        static NOT_SPACE: [bool; 256] = table(Class::NotSpace);
        static DIGIT: [bool; 256] = table(Class::Digit);
        static ANY: [bool; 256] = table(Class::Any);
        match self {
            Class::NotSpace => &NOT_SPACE,
            Class::Digit => &DIGIT,
            Class::Any => &ANY,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Lit(Vec<u8>),
    /// A greedy run of `class`, at least one byte when `plus`, a field when named.
    Run {
        class: Class,
        plus: bool,
        name: Option<String>,
    },
}

/// An anchored pattern of literal text and runs, each run followed by text that starts with
/// a byte outside its class (or by the end), so that the greedy scan is the only way the
/// regex can match: the regex and the scan agree on every ASCII line. Lines with other bytes
/// (`\S` excludes Unicode spaces) go to the regex.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    items: Vec<Item>,
    /// The pattern ends with `$`.
    to_end: bool,
}

impl Tokens {
    /// The token form of `pattern`, or `None` when it has anything else (alternation,
    /// classes in brackets, counted repeats, flags, lazy or optional parts, ...).
    pub fn compile(pattern: &str) -> Option<Tokens> {
        let b = pattern.as_bytes();
        if b.first() != Some(&b'^') {
            return None;
        }
        let mut items: Vec<Item> = Vec::new();
        let lit = |items: &mut Vec<Item>, c: u8| match items.last_mut() {
            Some(Item::Lit(l)) => l.push(c),
            _ => items.push(Item::Lit(vec![c])),
        };
        let (mut i, mut to_end) = (1, false);
        while i < b.len() {
            match b[i] {
                b'$' if i + 1 == b.len() => {
                    to_end = true;
                    i += 1;
                }
                b'(' => {
                    let rest = &pattern[i..];
                    let after = rest.strip_prefix("(?P<").or_else(|| rest.strip_prefix("(?<"))?;
                    let close = after.find('>')?;
                    let name = &after[..close];
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
                    {
                        return None;
                    }
                    let at = i + (rest.len() - after.len()) + close + 1;
                    let (class, plus, len) = run(&b[at..])?;
                    if b.get(at + len) != Some(&b')') {
                        return None;
                    }
                    items.push(Item::Run { class, plus, name: Some(name.to_string()) });
                    i = at + len + 1;
                }
                b'\\' | b'.' => {
                    if let Some((class, plus, len)) = run(&b[i..]) {
                        items.push(Item::Run { class, plus, name: None });
                        i += len;
                    } else {
                        let c = *b.get(i + 1)?;
                        if b[i] == b'.' || !c.is_ascii_punctuation() {
                            return None;
                        }
                        lit(&mut items, c);
                        i += 2;
                    }
                }
                c if c.is_ascii() && !c.is_ascii_control() && !b"^$|?*+()[]{}".contains(&c) => {
                    lit(&mut items, c);
                    i += 1;
                }
                _ => return None,
            }
        }
        // Each run ends where its class does: the next item is text outside the class.
        for (k, item) in items.iter().enumerate() {
            if let Item::Run { class, .. } = item {
                match items.get(k + 1) {
                    None => {}
                    Some(Item::Lit(l)) if *class != Class::Any && !class.has(l[0]) => {}
                    _ => return None,
                }
            }
        }
        Some(Tokens { items, to_end })
    }

    /// Reads `line` into `rec`: whether it matches (when not, `rec` is as it was); `None`
    /// when a `\S` or `\d` run meets a non-ASCII byte, which only the regex can judge (`\S`
    /// excludes Unicode spaces, `\d` takes Unicode digits). Elsewhere such bytes are outside
    /// the literals and inside `.`, for the scan as for the regex.
    fn split<'a>(&'a self, line: &'a str, rec: &mut Record<'a>) -> Option<bool> {
        let b = line.as_bytes();
        let before = rec.fields.len();
        let mut pos = 0;
        let fail = |rec: &mut Record<'a>, answer: Option<bool>| {
            rec.fields.truncate(before);
            answer
        };
        for item in &self.items {
            match item {
                Item::Lit(l) => {
                    // `same`, not `starts_with`: a literal is a few bytes, and the call to
                    // memcmp per literal was 5% of a W1 text ingest.
                    if !b.get(pos..pos + l.len()).is_some_and(|s| same(s, l)) {
                        return fail(rec, Some(false));
                    }
                    pos += l.len();
                }
                Item::Run { class, plus, name } => {
                    let start = pos;
                    if *class == Class::NotSpace {
                        pos = not_space_end(b, pos);
                    } else {
                        let t = class.table();
                        while pos < b.len() && t[b[pos] as usize] {
                            pos += 1;
                        }
                    }
                    if *class != Class::Any && b.get(pos).is_some_and(|c| !c.is_ascii()) {
                        return fail(rec, None);
                    }
                    if *plus && pos == start {
                        return fail(rec, Some(false));
                    }
                    if let Some(name) = name {
                        rec.push_str(name, &line[start..pos]);
                    }
                }
            }
        }
        if self.to_end && pos != b.len() {
            return fail(rec, Some(false));
        }
        Some(true)
    }
}

/// Where a run of `\S` that starts at `pos` ends: the first whitespace or non-ASCII byte
/// (for the caller to judge), or the end. Candidates: bytes below 0x21 or above 0x7f.
fn not_space_end(b: &[u8], pos: usize) -> usize {
    let stops = |c: u8| !c.is_ascii() || !Class::NotSpace.has(c);
    scan(b, pos, |w| below(w, 0x21) | (w & HIGHS), stops)
}

/// `\S+`, `\S*`, `\d+`, `\d*`, `.+` or `.*` at the start of `b`: its class, whether it
/// needs a byte, and its length in the pattern.
fn run(b: &[u8]) -> Option<(Class, bool, usize)> {
    let (class, len) = match b {
        [b'\\', b'S', ..] => (Class::NotSpace, 2),
        [b'\\', b'd', ..] => (Class::Digit, 2),
        [b'.', ..] => (Class::Any, 1),
        _ => return None,
    };
    match b.get(len) {
        Some(b'+') if b.get(len + 1) != Some(&b'?') => Some((class, true, len + 1)),
        Some(b'*') if b.get(len + 1) != Some(&b'?') => Some((class, false, len + 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_scalars_as_text_and_unescapes_strings() {
        let mut r = Record::default();
        parse_json(
            r#"{"ts":"2007-08-16T03:14:00Z","n":12.5,"u":"a\"b","x":null,"o":{"k":1}}"#,
            &mut r,
            &[],
        )
        .unwrap();
        assert_eq!(r.get("n"), Some("12.5"));
        assert_eq!(r.get("u"), Some("a\"b"));
        assert_eq!(r.get("x"), None);
        assert_eq!(r.get("o"), Some(r#"{"k":1}"#));
        assert_eq!(r.get("o.k"), Some("1"));
        assert!(parse_json("{\"a\":1} trailing", &mut Record::default(), &[]).is_err());
    }

    /// serde's reading of a line, for comparing the byte scan with.
    fn serde_fields(line: &str) -> Result<Vec<(String, String)>, String> {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let serde_json::Value::Object(map) = v else { return Err("not an object".into()) };
        // (serde_json's map keeps the last of repeated keys; the lines here repeat none.)
        let mut out = Vec::new();
        for (k, v) in &map {
            match v {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => out.push((k.clone(), s.clone())),
                other => out.push((k.clone(), other.to_string())),
            }
        }
        Ok(out)
    }

    #[test]
    fn bytes_are_found_as_memchr_finds_them() {
        let text = b"a,bb,,ccccccccc,ddddddddddddddddd,\xe9\xe9,\x2c\xac,x";
        for pos in 0..text.len() {
            for byte in [b',', b'\t', 0xe9, 0xac, b'x'] {
                let want = memchr::memchr(byte, &text[pos..]).map(|k| pos + k);
                assert_eq!(find_byte(text, pos, byte), want, "{pos} {byte}");
            }
        }
    }

    #[test]
    fn string_ends_are_found_at_any_offset() {
        for text in ["", "a", "abcdefg", "abcdefgh", "abcdefghijklmnopq", "x\u{e9}y\u{1F600}z"] {
            for stop in ["\"", "\\", "\u{1}", "\t", "\u{1f}"] {
                let line = format!("{text}{stop}rest\"");
                assert_eq!(string_end(line.as_bytes(), 0), Some(text.len()), "{line:?}");
            }
            // ' ' (0x20), '!' and '#' (next to the quote), ']' and '^' (next to the backslash)
            let line = format!("{text} !#]^{text}\"");
            assert_eq!(string_end(line.as_bytes(), 0), Some(line.len() - 1), "{line:?}");
            assert_eq!(string_end(text.as_bytes(), 0), None);
        }
    }

    /// The byte scan gives what serde gives on every line it reads, and leaves the rest
    /// (escapes, fractions, nesting, errors) to serde.
    #[test]
    fn flat_json_lines_read_as_serde_reads_them() {
        let read = [
            r#"{"ts":"2007-08-14T00:00:00.408Z","host":"login-14","latency_ms":78,"ok":true}"#,
            r#" { "a" : "x y" , "n" : -12 , "z" : null , "f" : false } "#,
            r#"{}"#,
            r#"{"big":123456789012345678,"zero":0,"neg":-5}"#,
        ];
        for line in read {
            let mut rec = Record::default();
            assert!(flat_json(line, &mut rec, &[]).is_some(), "{line}");
            let mut got: Vec<(String, String)> =
                rec.fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let mut want = serde_fields(line).unwrap();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{line}");
        }
        let left = [
            r#"{"u":"a\"b"}"#,
            r#"{"n":12.5}"#,
            r#"{"n":1e3}"#,
            r#"{"n":-0}"#,
            r#"{"n":007}"#,
            r#"{"n":1234567890123456789}"#,
            r#"{"o":{"k":1}}"#,
            r#"{"a":[1]}"#,
            r#"{"a":1} trailing"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":tru}"#,
            r#"{"a":truex}"#,
            "{\"a\":\"tab\there\"}",
            r#"["a"]"#,
            r#"{"a":1"#,
            r#"{"a":-}"#,
        ];
        for line in left {
            assert!(flat_json(line, &mut Record::default(), &[]).is_none(), "{line}");
        }
        // Each line parse_json reads, it reads as serde does; each it rejects, serde rejects.
        for line in read.iter().chain(&left) {
            let mut rec = Record::default();
            assert_eq!(
                parse_json(line, &mut rec, &[]).is_ok(),
                serde_fields(line).is_ok(),
                "{line}"
            );
        }
    }

    /// Given the first line's keys, a line is marked as read by position exactly when its
    /// keys are those, in that order, none null; the fields are the same either way.
    #[test]
    fn json_lines_in_the_first_lines_key_order_are_read_by_position() {
        let first = r#"{"ts":"2007-08-14T00:00:00Z","user":"u1","n":7,"ok":true}"#;
        let keys = json_keys(first).unwrap();
        assert_eq!(keys, ["ts", "user", "n", "ok"]);
        assert_eq!(json_keys(r#"{"a":1,"b":null}"#), None, "a null key is no layout");
        let cases = [
            (first, false),
            (r#"{ "ts" : "t2", "user":"u2","n":-1,"ok":false }"#, false),
            (r#"{"user":"u1","ts":"t","n":7,"ok":true}"#, true),
            (r#"{"ts":"t","user":"u1","n":7}"#, true),
            (r#"{"ts":"t","user":"u1","n":7,"ok":true,"x":1}"#, true),
            (r#"{"ts":"t","user":null,"n":7,"ok":true}"#, true),
            (r#"{"ts":"t","users":"u1","n":7,"ok":true}"#, true),
            (r#"{"ts":"t","use":"u1","n":7,"ok":true}"#, true),
            (r#"{"ts":"t","user":"u\"1","n":7,"ok":true}"#, true),
            (r#"{}"#, true),
        ];
        for (line, unbound) in cases {
            let (mut keyed, mut plain) = (Record::default(), Record::default());
            parse_json(line, &mut keyed, &keys).unwrap();
            parse_json(line, &mut plain, &[]).unwrap();
            assert_eq!(keyed.unbound, unbound, "{line}");
            let pairs = |r: &Record| {
                r.fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()
            };
            assert_eq!(pairs(&keyed), pairs(&plain), "{line}");
        }
    }

    /// The byte scan and the regex read every line alike, matches and misses.
    #[test]
    fn token_patterns_read_lines_as_the_regex_does() {
        let w1 = r"^(?P<ts>\S+) (?P<host>\S+) \S+ (?P<event>\S+) user=(?P<user>\S*) result=(?P<result>\S*) latency_ms=(?P<latency_ms>\d*) (?P<rest>.*)$";
        let simple = r"^(?<ts>\S+) \[(?P<pid>\d+)\] (?P<msg>.+)";
        assert!(Tokens::compile(w1).is_some(), "{w1}");
        assert!(Tokens::compile(simple).is_some(), "{simple}");
        for not_tokens in [
            r"(?P<ts>\S+) x",               // not anchored
            r"^(?P<ts>\S+)(?P<h>\d+)",      // a run followed by a run
            r"^(?P<ts>\d+)1",               // a run followed by its own class
            r"^(?P<ts>\S+) (?P<h>[a-z]+)",  // a bracket class
            r"^(?i)(?P<ts>\S+)",            // flags
            r"^(?P<ts>.*) x",               // `.*` before more
            r"^(?P<ts>\S+?) x",             // lazy
            r"^(?P<ts>\S+) (a|b)",          // alternation
            r"^(?P<ts>\S+) \[(?P<l>\S+)\]", // a run that must give back its last byte
        ] {
            assert_eq!(Tokens::compile(not_tokens), None, "{not_tokens}");
        }
        let lines = [
            "2007-08-14T00:00:00.408Z login-14 authd[1]: LOGIN_ATTEMPT user=u1 result=OK latency_ms=78 region=us",
            "2007-08-14T00:00:00.408Z login-14 authd[1]: LOGIN_ATTEMPT user= result= latency_ms= ",
            "2007-08-14T00:00:00.408Z login-14 authd[1]: LOGIN_ATTEMPT user=u1 result=OK latency_ms=7x8 r",
            "2007-08-14T00:00:00.408Z login-14 authd[1]: LOGIN_ATTEMPT user=u1 result=OK",
            "2007-08-14T00:00:00.408Z  login-14 x y user=u result=r latency_ms=1 z",
            "2007 [12] disk full",
            "2007 [12] ",
            "2007 [12]",
            "2007 [1x] disk",
            "",
            "x\ty user=a result=b latency_ms=1 ",
            // Control bytes inside a run, and whitespace other than spaces, 8+ bytes in.
            "2007-08-14T00:00:00.408Z login-14-a-long\x01host x\x7fy y user=u result=r latency_ms=1 z",
            "2007-08-14T00:00:00.408Z\tlogin-14 x y user=u result=r latency_ms=1 z",
            "2007-08-14T00:00:00.408Z login-14-a-long\x0bhost x y user=u result=r latency_ms=1 z",
            "2007-08-14T00:00:00.408Z login-14 x y user=u-with-a-long-name\r result=r latency_ms=1 z",
            "2007-08-14T00:00:00Z h\u{a0}x a b user=u result=r latency_ms=1 z",
            // Non-ASCII text: in a \S run, after a \d run (an Arabic-Indic digit), in `.*`.
            "2007-08-14T00:00:00Z h x y user=j\u{fc}rgen-and-more result=r latency_ms=1 z",
            "2007-08-14T00:00:00Z h x y user=u result=r latency_ms=1\u{661} z",
            "2007-08-14T00:00:00Z h x y user=u result=r latency_ms=\u{661} z",
            "2007-08-14T00:00:00Z h x y user=u result=r latency_ms=1 z\u{e9}t\u{e9} \u{a0}",
            "2007 [12] disque plein \u{e0} 100%",
            "2007\u{2003}[12] x",
        ];
        // A pattern of many groups (the scan once gathered at most 16 before filling the record).
        let many: Vec<String> = (0..18).map(|i| format!("(?P<g{i}>\\S+)")).collect();
        let many = format!("^{}$", many.join(" "));
        assert!(Tokens::compile(&many).is_some(), "{many}");
        let words: Vec<String> = (0..18).map(|i| format!("w{i}")).collect();
        let words = words.join(" ");
        let lines: Vec<&str> = lines.iter().copied().chain([words.as_str()]).collect();
        for pattern in [w1, simple, many.as_str()] {
            let re = Regex::new(pattern).unwrap();
            let set = RegexSet::new(vec![re.clone()]);
            let slow = RegexSet { patterns: vec![(re, None)] };
            for &line in &lines {
                let (mut a, mut b) = (Record::default(), Record::default());
                let ra = set.parse(line, &mut set.locations(), &mut a);
                let rb = slow.parse(line, &mut slow.locations(), &mut b);
                assert_eq!(ra.is_ok(), rb.is_ok(), "{pattern} on {line:?}");
                assert_eq!(a.fields, b.fields, "{pattern} on {line:?}");
            }
        }
        let mut rec = Record::default();
        let set = RegexSet::new(vec![Regex::new(&many).unwrap()]);
        set.parse(&words, &mut set.locations(), &mut rec).unwrap();
        assert_eq!((rec.fields.len(), rec.get("g17")), (18, Some("w17")));
    }

    /// The word-at-a-time split of lines without quotes gives what the quote-aware split gives,
    /// for any bytes, line length and delimiter position (the tail word is padded).
    #[test]
    fn unquoted_lines_split_as_the_quote_aware_split_does() {
        let names: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
        let alphabet = [b'a', b',', b'\t', b' ', b'"', b'x', 0xc3, 0xa9, b'0'];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut long = 0;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 80) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 50)) as usize + i * 7) % alphabet.len()])
                .collect();
            // Half the lines without quotes, so that long ones take the fast split too.
            if seed & 1 == 0 {
                bytes.iter_mut().filter(|c| **c == b'"').for_each(|c| *c = b'q');
            }
            // Keep it UTF-8: a lone 0xc3/0xa9 becomes 'e'.
            if std::str::from_utf8(&bytes).is_err() {
                bytes.iter_mut().filter(|c| **c >= 0x80).for_each(|c| *c = b'e');
            }
            let line = std::str::from_utf8(&bytes).unwrap();
            for delim in [b',', b'\t'] {
                let (mut fast, mut slow) = (Record::default(), Record::default());
                let mut n = 0;
                let quoted = each_delimited(line, delim, |v| {
                    if let Some(name) = names.get(n) {
                        slow.fields.push((Cow::Borrowed(name.as_str()), v));
                    }
                    n += 1;
                });
                match split_unquoted(line, delim, &names, &mut fast) {
                    None => assert!(line.contains('"'), "{line:?}"),
                    Some(m) => {
                        assert!(quoted.is_ok() && !line.contains('"'), "{line:?}");
                        assert_eq!((m, &fast.fields), (n, &slow.fields), "{line:?}");
                        long += usize::from(line.len() >= 32);
                    }
                }
            }
        }
        assert!(long > 100, "only {long} lines of two 16-byte chunks or more were split fast");
    }

    #[test]
    fn delimited_handles_quotes() {
        let v = split_delimited(r#"a,"b,c","d""e",,f"#, b',').unwrap();
        assert_eq!(v, vec!["a", "b,c", "d\"e", "", "f"]);
        assert!(split_delimited(r#"a,"b"#, b',').is_err());
    }

    #[test]
    fn logfmt_reads_pairs_quotes_and_a_leading_timestamp() {
        let mut r = Record::default();
        parse_logfmt(r#"2007-08-16T03:14:00Z outcome=fail user="a b" reason=timeout"#, &mut r)
            .unwrap();
        assert_eq!(r.get("ts"), Some("2007-08-16T03:14:00Z"));
        assert_eq!(r.get("user"), Some("a b"));
        assert_eq!(r.get("reason"), Some("timeout"));
        assert!(parse_logfmt("just words", &mut Record::default()).is_err());
    }
}
