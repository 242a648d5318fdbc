//! Line -> record: the format parsers (JSON lines, CSV/TSV, logfmt, regex with named groups).
//!
//! A [`Record`] is the raw fields of one line as name/value text pairs, borrowed from the line
//! wherever no unescaping is needed. Parsers never allocate per line except for escaped values;
//! the caller reuses one `Record` for a whole chunk.

use std::borrow::Cow;

use regex::{CaptureLocations, Regex};

/// The fields of one parsed line, in the order the line has them. Names are borrowed from
/// the line too, except the dotted names of nested JSON objects (`involvedObject.name`).
#[derive(Debug, Default)]
pub struct Record<'a> {
    pub fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Record<'a> {
    pub fn clear(&mut self) {
        self.fields.clear();
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    fn push(&mut self, name: &'a str, value: Cow<'a, str>) {
        self.fields.push((Cow::Borrowed(name), value));
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

/// Parses one JSON object per line into its top-level fields (see [`JsonText`]).
pub fn parse_json<'a>(line: &'a str, rec: &mut Record<'a>) -> Result<(), String> {
    use serde::de::{Deserializer, MapAccess, Visitor};

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

/// Splits one delimited line; quoted fields may hold the delimiter and doubled quotes.
pub fn split_delimited(line: &str, delim: u8) -> Result<Vec<Cow<'_, str>>, String> {
    let b = line.as_bytes();
    let mut out = Vec::with_capacity(8);
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
            out.push(if escaped {
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
            match memchr::memchr(delim, &b[i..]) {
                Some(k) => {
                    out.push(Cow::Borrowed(&line[i..i + k]));
                    i += k + 1;
                }
                None => {
                    out.push(Cow::Borrowed(&line[i..]));
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// Parses a delimited line against known column names.
pub fn parse_delimited<'a>(
    line: &'a str,
    delim: u8,
    names: &'a [String],
    rec: &mut Record<'a>,
) -> Result<(), String> {
    let values = split_delimited(line, delim)?;
    if values.len() != names.len() {
        return Err(format!("{} fields where the header has {}", values.len(), names.len()));
    }
    for (name, v) in names.iter().zip(values) {
        rec.push(name, v);
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
                rec.push(key, Cow::Borrowed(&line[vs..i]));
            }
            pairs += 1;
        } else {
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            if pairs == 0 && bare_start.is_none() && start == 0 && b[0].is_ascii_digit() {
                rec.push("ts", Cow::Borrowed(&line[..i]));
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
        rec.push("message", Cow::Borrowed(&line[s..bare_end]));
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
#[derive(Debug, Clone)]
pub struct RegexSet {
    pub patterns: Vec<Regex>,
}

impl RegexSet {
    pub fn parse<'a>(
        &'a self,
        line: &'a str,
        locs: &mut [CaptureLocations],
        rec: &mut Record<'a>,
    ) -> Result<(), String> {
        for (re, loc) in self.patterns.iter().zip(locs.iter_mut()) {
            if re.captures_read(loc, line).is_some() {
                for (idx, name) in re.capture_names().enumerate() {
                    if let (Some(name), Some((s, e))) = (name, loc.get(idx)) {
                        rec.push(name, Cow::Borrowed(&line[s..e]));
                    }
                }
                return Ok(());
            }
        }
        Err("line does not match the format's pattern".to_string())
    }

    pub fn locations(&self) -> Vec<CaptureLocations> {
        self.patterns.iter().map(Regex::capture_locations).collect()
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
        )
        .unwrap();
        assert_eq!(r.get("n"), Some("12.5"));
        assert_eq!(r.get("u"), Some("a\"b"));
        assert_eq!(r.get("x"), None);
        assert_eq!(r.get("o"), Some(r#"{"k":1}"#));
        assert_eq!(r.get("o.k"), Some("1"));
        assert!(parse_json("{\"a\":1} trailing", &mut Record::default()).is_err());
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
