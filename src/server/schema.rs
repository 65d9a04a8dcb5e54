//! What a `format` JSON schema may cost, checked before llama.cpp turns it into a grammar.
//! The grammar's price is set by how many alternatives are alive at once: llama.cpp keeps one
//! parse stack per alternative, deduplicates them pairwise when the grammar is built and checks
//! each against the vocabulary at every token, so an `enum` of 100,000 strings takes minutes to
//! build and seconds per token. Repetitions over llama.cpp's own limit (2000) never build. A
//! schema past these bounds is a 400 before anything is converted or queued.

use serde_json::Value;

/// Alternatives at one point of the output (an `enum`, the branches of `anyOf`/`oneOf`
/// through `$ref`s and nested unions, a `type` list).
pub const MAX_CHOICES: usize = 1000;
/// Properties of one object.
pub const MAX_PROPERTIES: usize = 1000;
/// Subschemas in the whole schema, `$defs` included.
pub const MAX_SUBSCHEMAS: usize = 10_000;
/// `enum` values in the whole schema.
pub const MAX_ENUM_VALUES: usize = 10_000;
/// The largest `minItems`/`maxItems`/`minLength`/`maxLength` (llama.cpp's repetition limit).
pub const MAX_REPEAT: f64 = 2000.0;

/// Deeper `$ref` chains are not followed when counting alternatives.
const MAX_REF_DEPTH: usize = 32;

/// Why a schema is refused.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// Past a cost bound; says which.
    TooLarge(String),
    /// A repetition llama.cpp's grammar parser refuses (it would fail later in the engine).
    Unbuildable(String),
}

/// Whether `schema` is within the bounds.
pub fn check_cost(schema: &Value) -> Result<(), Refused> {
    let mut walk = Walk {
        root: schema,
        subschemas: 0,
        enum_values: 0,
    };
    walk.node(schema)
}

struct Walk<'a> {
    root: &'a Value,
    subschemas: usize,
    enum_values: usize,
}

impl<'a> Walk<'a> {
    fn node(&mut self, v: &'a Value) -> Result<(), Refused> {
        let too_large = |s: String| Err(Refused::TooLarge(s));
        self.subschemas += 1;
        if self.subschemas > MAX_SUBSCHEMAS {
            return too_large(format!("more than {MAX_SUBSCHEMAS} subschemas"));
        }
        let Value::Object(o) = v else {
            return Ok(());
        };
        let choices = self.choices(v, 0);
        if choices > MAX_CHOICES {
            return too_large(format!(
                "more than {MAX_CHOICES} alternatives at one place (enum, anyOf, oneOf)"
            ));
        }
        if let Some(Value::Array(values)) = o.get("enum") {
            self.enum_values += values.len();
            if self.enum_values > MAX_ENUM_VALUES {
                return too_large(format!("more than {MAX_ENUM_VALUES} enum values"));
            }
        }
        if let Some(Value::Object(p)) = o.get("properties")
            && p.len() > MAX_PROPERTIES
        {
            return too_large(format!(
                "an object with {} properties, at most {MAX_PROPERTIES}",
                p.len()
            ));
        }
        for key in ["minItems", "maxItems", "minLength", "maxLength"] {
            if let Some(n) = o.get(key).and_then(Value::as_f64)
                && n > MAX_REPEAT
            {
                return Err(Refused::Unbuildable(format!(
                    "{key} {n} is more than {MAX_REPEAT}"
                )));
            }
        }
        for (key, child) in o {
            match (key.as_str(), child) {
                (
                    "properties" | "patternProperties" | "$defs" | "definitions",
                    Value::Object(m),
                ) => {
                    for c in m.values() {
                        self.node(c)?;
                    }
                }
                ("items" | "prefixItems" | "anyOf" | "oneOf" | "allOf", Value::Array(a)) => {
                    for c in a {
                        self.node(c)?;
                    }
                }
                (
                    "items" | "additionalProperties" | "not" | "contains" | "if" | "then" | "else",
                    Value::Object(_),
                ) => self.node(child)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Alternatives alive at the start of `v`, counting stops once past the bound.
    fn choices(&self, v: &'a Value, depth: usize) -> usize {
        let Value::Object(o) = v else {
            return 1;
        };
        if let Some(Value::Array(values)) = o.get("enum") {
            return values.len().max(1);
        }
        let mut n = 0;
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = o.get(key) {
                for b in branches {
                    n += self.choices(b, depth);
                    if n > MAX_CHOICES {
                        return n;
                    }
                }
            }
        }
        if n > 0 {
            return n;
        }
        if let Some(Value::String(r)) = o.get("$ref")
            && depth < MAX_REF_DEPTH
            && let Some(target) = self.resolve(r)
        {
            return self.choices(target, depth + 1);
        }
        match o.get("type") {
            Some(Value::Array(types)) => types.len().max(1),
            _ => 1,
        }
    }

    /// A local `$ref` (`#`, `#/$defs/x`); remote ones are llama.cpp's to refuse.
    fn resolve(&self, r: &str) -> Option<&'a Value> {
        let pointer = r.strip_prefix('#')?;
        self.root.pointer(pointer)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("value {i}")).collect()
    }

    #[test]
    fn ordinary_schemas_pass() {
        for s in [
            json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": 100},
                   "tags": {"type": "array", "items": {"enum": strings(50)}, "maxItems": 10}},
                   "required": ["name"]}),
            json!({"enum": strings(MAX_CHOICES)}),
            json!({"$defs": {"node": {"type": "object", "properties": {
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
                   "$ref": "#/$defs/node"}),
            json!({"anyOf": [{"$ref": "#"}, {"type": "string"}]}),
        ] {
            assert_eq!(check_cost(&s), Ok(()), "{s}");
        }
    }

    #[test]
    fn what_would_stall_a_model_is_refused() {
        let big_object = json!({"type": "object",
            "properties": (0..10_000).map(|i| (format!("p{i}"), json!({"type": "integer"})))
                .collect::<serde_json::Map<_, _>>()});
        let many_enums = json!({"type": "object",
            "properties": (0..20).map(|i| (format!("p{i}"), json!({"enum": strings(600)})))
                .collect::<serde_json::Map<_, _>>()});
        for (s, want) in [
            (json!({"enum": strings(100_000)}), "alternatives"),
            (json!({"enum": strings(MAX_CHOICES + 1)}), "alternatives"),
            // Unions add up, through $ref and nesting.
            (
                json!({"$defs": {"a": {"enum": strings(600)}},
                       "anyOf": [{"$ref": "#/$defs/a"}, {"anyOf": [{"$ref": "#/$defs/a"}]}]}),
                "alternatives",
            ),
            (big_object, "10000 properties"),
            (many_enums, "enum values"),
            (
                json!({"type": "array", "minItems": 100_000_000}),
                "minItems",
            ),
            (json!({"type": "string", "minLength": 1e8}), "minLength"),
        ] {
            let got = match check_cost(&s).unwrap_err() {
                Refused::TooLarge(e) | Refused::Unbuildable(e) => e,
            };
            assert!(got.contains(want), "{want}: {got}");
        }
    }

    #[test]
    fn ref_cycles_are_counted_without_looping() {
        let s = json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                       "$ref": "#/$defs/a"});
        assert_eq!(
            check_cost(&s),
            Ok(()),
            "llama.cpp refuses it later, as a 400 too"
        );
    }
}
