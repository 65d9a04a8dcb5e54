//! The functions a template can call: Go's builtins (`eq`, `len`, `index`, `printf`...) and
//! Ollama's additions (`json`, `currentDate`, `yesterdayDate`, `toTypeScriptType`), plus how
//! values print and what counts as true.

use std::cmp::Ordering;

use serde_json::Value;

use crate::gofmt;

/// Go's truthiness: false, 0, nil, and empty strings, arrays and maps are false.
pub fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// How `{{ x }}` prints a value. Arrays and objects print as JSON because Ollama's tool and
/// argument types print themselves as JSON; a missing value prints as nothing.
pub fn print_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        other => go_json(other),
    }
}

fn number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        gofmt::float(n.as_f64().unwrap_or(0.0))
    } else {
        n.to_string()
    }
}

/// Go's `json.Marshal`: compact, object keys in the order they are held, `<`, `>`, `&`, U+2028
/// and U+2029 escaped for HTML safety, floats as Go writes them (`3`, `1000000`, `1e+21`,
/// `1e-7`).
pub fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v);
    out
}

fn write_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
            Some(f) => out.push_str(&gofmt::json_float(f)),
            None => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_json_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, e);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                write_json(out, e);
            }
            out.push('}');
        }
    }
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Every function name [`call`] knows (plus `and`/`or`, evaluated lazily by the executor).
const NAMES: &[&str] = &[
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "print",
    "println",
    "printf",
    "html",
    "js",
    "urlquery",
    "json",
    "currentDate",
    "yesterdayDate",
    "toTypeScriptType",
];

pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

pub fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let want = |n: usize| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        }
    };
    match name {
        "not" => {
            want(1)?;
            Ok(Value::Bool(!truth(&args[0])))
        }
        "len" => {
            want(1)?;
            let n = match &args[0] {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::Null => 0,
                other => return Err(format!("len of type {}", type_name(other))),
            };
            Ok(Value::from(n))
        }
        "index" => {
            let (first, keys) = args.split_first().ok_or("wrong number of args for index")?;
            let mut cur = first.clone();
            for k in keys {
                cur = match (&cur, k) {
                    (Value::Array(a), k) => {
                        let i = int_arg(k)?;
                        let i =
                            usize::try_from(i).map_err(|_| format!("index out of range: {i}"))?;
                        a.get(i)
                            .cloned()
                            .ok_or(format!("index out of range: {i}"))?
                    }
                    (Value::Object(m), Value::String(s)) => {
                        m.get(s).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Null, _) => return Err("index of untyped nil".to_string()),
                    (other, _) => {
                        return Err(format!("can't index item of type {}", type_name(other)));
                    }
                };
            }
            Ok(cur)
        }
        "slice" => {
            let (first, idx) = args.split_first().ok_or("wrong number of args for slice")?;
            let idx: Vec<i64> = idx.iter().map(int_arg).collect::<Result<_, _>>()?;
            let len = match first {
                Value::Array(a) => a.len(),
                Value::String(s) => s.len(),
                other => return Err(format!("can't slice item of type {}", type_name(other))),
            } as i64;
            let start = idx.first().copied().unwrap_or(0);
            let end = idx.get(1).copied().unwrap_or(len);
            if idx.len() > 3 || start < 0 || end < start || end > len {
                return Err(format!("slice index out of range: {start}:{end}"));
            }
            let (s, e) = (start as usize, end as usize);
            match first {
                Value::Array(a) => Ok(Value::Array(a[s..e].to_vec())),
                Value::String(st) => st
                    .get(s..e)
                    .map(|x| Value::String(x.to_string()))
                    .ok_or_else(|| "slice of string splits a character".to_string()),
                _ => Ok(Value::Null),
            }
        }
        "eq" => {
            let (first, rest) = args
                .split_first()
                .ok_or("missing argument for comparison")?;
            if rest.is_empty() {
                return Err("missing argument for comparison".to_string());
            }
            for r in rest {
                if compare(first, r)? == Some(Ordering::Equal) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" => {
            want(2)?;
            Ok(Value::Bool(
                compare(&args[0], &args[1])? != Some(Ordering::Equal),
            ))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(2)?;
            let ord = compare(&args[0], &args[1])?
                .ok_or_else(|| format!("invalid type for comparison: {}", type_name(&args[0])))?;
            Ok(Value::Bool(match name {
                "lt" => ord == Ordering::Less,
                "le" => ord != Ordering::Greater,
                "gt" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        "print" => Ok(Value::String(go_print(args, false))),
        "println" => Ok(Value::String(go_print(args, true))),
        "printf" => {
            let (fmt, rest) = args
                .split_first()
                .ok_or("wrong number of args for printf")?;
            let Value::String(fmt) = fmt else {
                return Err("printf format must be a string".to_string());
            };
            Ok(Value::String(printf(fmt, rest)))
        }
        "html" => Ok(Value::String(
            go_print(args, false)
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;"),
        )),
        "js" => Ok(Value::String(
            go_print(args, false)
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('"', "\\\"")
                .replace('<', "\\u003C")
                .replace('>', "\\u003E"),
        )),
        "urlquery" => Ok(Value::String(
            go_print(args, false)
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    b' ' => "+".to_string(),
                    other => format!("%{other:02X}"),
                })
                .collect(),
        )),
        "json" => {
            want(1)?;
            Ok(Value::String(go_json(&args[0])))
        }
        "currentDate" => Ok(Value::String(
            chrono::Local::now().format("%Y-%m-%d").to_string(),
        )),
        "yesterdayDate" => Ok(Value::String(
            (chrono::Local::now() - chrono::Duration::days(1))
                .format("%Y-%m-%d")
                .to_string(),
        )),
        "toTypeScriptType" => {
            want(1)?;
            Ok(Value::String(typescript_type(&args[0])))
        }
        other => Err(format!("function \"{other}\" not defined")),
    }
}

fn int_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) if n.is_i64() => Ok(n.as_i64().unwrap_or(0)),
        Value::Number(n) if n.is_u64() => {
            i64::try_from(n.as_u64().unwrap_or(0)).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "cannot index slice/array with type {}",
            type_name(other)
        )),
    }
}

/// Go template comparison: same basic kinds only; numbers compare by value; `None` when the
/// kinds are comparable for equality only (bools, nil).
fn compare(a: &Value, b: &Value) -> Result<Option<Ordering>, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Ok(x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y))),
        (Value::String(x), Value::String(y)) => Ok(Some(x.cmp(y))),
        (Value::Bool(x), Value::Bool(y)) => Ok((x == y).then_some(Ordering::Equal)),
        (Value::Null, Value::Null) => Ok(Some(Ordering::Equal)),
        (Value::Null, _) | (_, Value::Null) => Ok(None),
        (x, y) if std::mem::discriminant(x) == std::mem::discriminant(y) => {
            Err(format!("non-comparable type {}", type_name(x)))
        }
        _ => Err("incompatible types for comparison".to_string()),
    }
}

/// Go's `fmt.Sprint` (spaces between operands when neither is a string) / `Sprintln`.
fn go_print(args: &[Value], ln: bool) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && (ln || !(a.is_string() || args[i - 1].is_string())) {
            out.push(' ');
        }
        out.push_str(&print_value(a));
    }
    if ln {
        out.push('\n');
    }
    out
}

/// A subset of Go's `fmt.Sprintf`: flags `-`, `+`, `0`, width, precision; verbs `v s d f g e q t x`.
fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || matches!(n, '-' | '+' | '.' | ' ' | '#') {
                spec.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let left = spec.contains('-');
        let zero = spec.starts_with('0') || spec.contains("+0") || spec.contains("-0");
        let plus = spec.contains('+');
        let body = spec.trim_start_matches(['-', '+', '0', ' ', '#']);
        let (width, prec) = match body.split_once('.') {
            Some((w, p)) => (
                w.parse::<usize>().ok(),
                Some(p.parse::<usize>().unwrap_or(0)),
            ),
            None => (body.parse::<usize>().ok(), None),
        };
        let mut s = match verb {
            'd' => match arg.as_f64() {
                Some(f) => {
                    let i = f as i64;
                    if plus && i >= 0 {
                        format!("+{i}")
                    } else {
                        i.to_string()
                    }
                }
                None => format!("%!d({})", print_value(arg)),
            },
            'f' | 'F' => match arg.as_f64() {
                Some(f) => format!("{:.*}", prec.unwrap_or(6), f),
                None => format!("%!f({})", print_value(arg)),
            },
            'e' => match arg.as_f64() {
                Some(f) => format!("{:.*e}", prec.unwrap_or(6), f),
                None => format!("%!e({})", print_value(arg)),
            },
            'g' => match arg.as_f64() {
                Some(f) => gofmt::float(f),
                None => format!("%!g({})", print_value(arg)),
            },
            'x' => match arg {
                Value::Number(n) => format!("{:x}", n.as_i64().unwrap_or(0)),
                other => print_value(other)
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            },
            'q' => gofmt::quote(&print_value(arg)),
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                other => format!("%!t({})", print_value(other)),
            },
            _ => {
                let s = print_value(arg);
                match prec {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
        };
        if let Some(w) = width {
            let len = s.chars().count();
            if len < w {
                let pad = w - len;
                if left {
                    s.push_str(&" ".repeat(pad));
                } else if zero && matches!(verb, 'd' | 'f' | 'e' | 'g' | 'x') {
                    let (sign, digits) = match s.strip_prefix(['-', '+']) {
                        Some(d) => (s[..1].to_string(), d.to_string()),
                        None => (String::new(), s.clone()),
                    };
                    s = format!("{sign}{}{digits}", "0".repeat(pad));
                } else {
                    s = format!("{}{s}", " ".repeat(pad));
                }
            }
        }
        out.push_str(&s);
    }
    for extra in args {
        out.push_str(&format!("%!(EXTRA {})", print_value(extra)));
    }
    out
}

/// Ollama's `toTypeScriptType` (`api.ToolProperty.ToTypeScriptType`): the property's `anyOf`
/// alternatives or its JSON-schema `type` (a string or a list) as a TypeScript union. Enums and
/// item types are not looked at, as in Ollama.
pub fn typescript_type(prop: &Value) -> String {
    if let Some(any_of) = prop
        .get("anyOf")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        return any_of
            .iter()
            .map(typescript_type)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    let one = |t: &str| match t {
        "string" => "string",
        "number" | "integer" => "number",
        "boolean" => "boolean",
        "array" => "any[]",
        "object" => "Record<string, any>",
        "null" => "null",
        _ => "any",
    };
    match prop.get("type") {
        Some(Value::String(t)) => one(t).to_string(),
        Some(Value::Array(ts)) if !ts.is_empty() => ts
            .iter()
            .map(|t| one(t.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".to_string(),
    }
}
