//! Executes a parsed template over JSON data with Go's semantics: truthiness, variable scoping
//! (a variable lives until the `{{end}}` of the structure that declared it), `range` over arrays,
//! objects (sorted keys) and integers, lazy `and`/`or`, pipelines passing their value as the last
//! argument. Field names resolve Go-style against JSON objects (see [`lookup`]).

use serde_json::Value;

use super::Error;
use super::funcs;
use super::parse::{Arg, Branches, Node, Pipe};

/// Output larger than this is an error: a template must not be able to exhaust memory.
const MAX_OUTPUT: usize = 64 << 20;
const MAX_DEPTH: usize = 200;

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec {
    vars: Vec<(String, Value)>,
    out: String,
    depth: usize,
}

pub fn execute(nodes: &[Node], data: &Value) -> Result<String, Error> {
    let mut e = Exec {
        vars: vec![("$".to_string(), data.clone())],
        out: String::new(),
        depth: 0,
    };
    e.list(nodes, data)?;
    Ok(e.out)
}

impl Exec {
    /// A list of nodes in its own variable scope.
    fn list(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::exec(0, "template nested too deeply"));
        }
        let mark = self.vars.len();
        let flow = self.nodes(nodes, dot);
        self.vars.truncate(mark);
        self.depth -= 1;
        flow
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, Error> {
        for n in nodes {
            let flow = match n {
                Node::Text(t) => {
                    self.write(t)?;
                    Flow::Normal
                }
                Node::Action(p, line) => {
                    let v = self.pipe(p, dot, *line)?;
                    if p.vars.is_empty() {
                        self.write(&funcs::print_value(&v))?;
                    }
                    Flow::Normal
                }
                Node::If(b) => self.branches(b, dot, false)?,
                Node::With(b) => self.branches(b, dot, true)?,
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                    line,
                } => self.range(pipe, body, otherwise.as_deref(), dot, *line)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn write(&mut self, s: &str) -> Result<(), Error> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(Error::exec(0, "template output too large"));
        }
        self.out.push_str(s);
        Ok(())
    }

    /// `if` / `with`: the first arm whose pipeline is true runs (`with` sets dot to its value).
    fn branches(&mut self, b: &Branches, dot: &Value, with: bool) -> Result<Flow, Error> {
        let mark = self.vars.len();
        for (cond, body) in &b.arms {
            let v = self.pipe(cond, dot, b.line)?;
            if funcs::truth(&v) {
                let inner = if with { v } else { dot.clone() };
                let flow = self.list(body, &inner);
                self.vars.truncate(mark);
                return flow;
            }
        }
        let flow = match &b.otherwise {
            Some(o) => self.list(o, dot),
            None => Ok(Flow::Normal),
        };
        self.vars.truncate(mark);
        flow
    }

    fn range(
        &mut self,
        p: &Pipe,
        body: &[Node],
        otherwise: Option<&[Node]>,
        dot: &Value,
        line: usize,
    ) -> Result<Flow, Error> {
        let mark = self.vars.len();
        let value = self.eval_pipe(p, dot, line)?;
        let items: Vec<(Value, Value)> = match &value {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::from(i), v.clone()))
                .collect(),
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                keys.into_iter()
                    .map(|k| (Value::String(k.clone()), m[k].clone()))
                    .collect()
            }
            Value::Null => Vec::new(),
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                let count = n.as_i64().unwrap_or(0).max(0);
                (0..count)
                    .map(|i| (Value::from(i), Value::from(i)))
                    .collect()
            }
            other => {
                return Err(Error::exec(
                    line,
                    format!("range can't iterate over {}", funcs::print_value(other)),
                ));
            }
        };
        if items.is_empty() {
            let flow = match otherwise {
                Some(o) => self.list(o, dot)?,
                None => Flow::Normal,
            };
            self.vars.truncate(mark);
            return Ok(flow);
        }
        for (key, elem) in items {
            match p.vars.as_slice() {
                [e] => self.vars.push((e.clone(), elem.clone())),
                [k, e] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((e.clone(), elem.clone()));
                }
                _ => {}
            }
            let flow = self.list(body, &elem)?;
            self.vars.truncate(mark);
            if flow == Flow::Break {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    /// A pipeline in an action: evaluates it and performs its declaration or assignment.
    fn pipe(&mut self, p: &Pipe, dot: &Value, line: usize) -> Result<Value, Error> {
        let v = self.eval_pipe(p, dot, line)?;
        if let Some(name) = p.vars.first()
            && p.vars.len() == 1
        {
            self.bind(name, v.clone(), p.assign, line)?;
        }
        Ok(v)
    }

    fn bind(&mut self, name: &str, v: Value, assign: bool, line: usize) -> Result<(), Error> {
        if assign {
            match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = v,
                None => return Err(Error::exec(line, format!("undefined variable: {name}"))),
            }
        } else {
            self.vars.push((name.to_string(), v));
        }
        Ok(())
    }

    /// The value of a pipeline; declarations of a range pipeline are left to `range`.
    fn eval_pipe(&mut self, p: &Pipe, dot: &Value, line: usize) -> Result<Value, Error> {
        let mut prev: Option<Value> = None;
        for cmd in &p.cmds {
            prev = Some(self.command(cmd, dot, prev, line)?);
        }
        Ok(prev.unwrap_or(Value::Null))
    }

    fn command(
        &mut self,
        cmd: &[Arg],
        dot: &Value,
        piped: Option<Value>,
        line: usize,
    ) -> Result<Value, Error> {
        let Some(first) = cmd.first() else {
            return Err(Error::exec(line, "empty command"));
        };
        if let Arg::Func(name) = first {
            return self.call(name, &cmd[1..], dot, piped, line);
        }
        if cmd.len() > 1 || piped.is_some() {
            return Err(Error::exec(
                line,
                format!("can't give argument to non-function {}", describe(first)),
            ));
        }
        self.arg(first, dot, line)
    }

    fn call(
        &mut self,
        name: &str,
        args: &[Arg],
        dot: &Value,
        piped: Option<Value>,
        line: usize,
    ) -> Result<Value, Error> {
        // `and` and `or` evaluate lazily and return the deciding operand, as Go does.
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(piped.is_some());
            if total == 0 {
                return Err(Error::exec(
                    line,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::Null;
            for i in 0..total {
                last = match args.get(i) {
                    Some(a) => self.arg(a, dot, line)?,
                    None => piped.clone().unwrap_or(Value::Null),
                };
                let t = funcs::truth(&last);
                if (name == "and" && !t) || (name == "or" && t) {
                    return Ok(last);
                }
            }
            return Ok(last);
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        for a in args {
            values.push(self.arg(a, dot, line)?);
        }
        if let Some(p) = piped {
            values.push(p);
        }
        if !funcs::exists(name) {
            return Err(Error::exec(
                line,
                format!("\"{name}\" is not a defined function"),
            ));
        }
        funcs::call(name, &values)
            .map_err(|e| Error::exec(line, format!("error calling {name}: {e}")))
    }

    fn arg(&mut self, a: &Arg, dot: &Value, line: usize) -> Result<Value, Error> {
        Ok(match a {
            Arg::Field(path, at) => walk_fields(dot, path, a, *at)?,
            Arg::Var(name, path, at) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(Error::exec(line, format!("undefined variable: {name}")));
                };
                walk_fields(&v.clone(), path, a, *at)?
            }
            Arg::Func(name) => self.call(name, &[], dot, None, line)?,
            Arg::Str(s) => Value::String(s.clone()),
            Arg::Int(i) => Value::from(*i),
            Arg::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Null,
            Arg::Sub(p, path, at) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(Error::exec(line, "expression nested too deeply"));
                }
                let v = self.eval_pipe(p, dot, line);
                self.depth -= 1;
                walk_fields(&v?, path, a, *at)?
            }
        })
    }
}

fn describe(a: &Arg) -> String {
    match a {
        Arg::Field(p, _) if p.is_empty() => ".".to_string(),
        Arg::Field(p, _) => format!(".{}", p.join(".")),
        Arg::Var(v, p, _) if p.is_empty() => v.clone(),
        Arg::Var(v, p, _) => format!("{v}.{}", p.join(".")),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Int(i) => i.to_string(),
        Arg::Float(f) => f.to_string(),
        Arg::Bool(b) => b.to_string(),
        Arg::Nil => "nil".to_string(),
        Arg::Func(f) => f.clone(),
        Arg::Sub(_, p, _) if p.is_empty() => "(pipeline)".to_string(),
        Arg::Sub(_, p, _) => format!("(pipeline).{}", p.join(".")),
    }
}

/// Follows a field chain; a field of a value that has none is Go's error, located at the
/// operand `arg` (which starts at `at`).
fn walk_fields(v: &Value, path: &[String], arg: &Arg, at: (usize, usize)) -> Result<Value, Error> {
    let mut cur = v.clone();
    for name in path {
        cur = match &cur {
            Value::Object(_) => lookup(&cur, name).cloned().unwrap_or(Value::Null),
            // A missing value has no fields; Go would report a nil pointer, Ollama's data never
            // reaches this with structs, so a missing chain just stays missing.
            Value::Null => Value::Null,
            other => {
                return Err(Error::exec_at(
                    at,
                    &describe(arg),
                    format!(
                        "can't evaluate field {name} in type {}",
                        funcs::type_name(other)
                    ),
                ));
            }
        };
    }
    Ok(cur)
}

/// Go field access on JSON: the exact key, else the snake_case of the Go name (`ToolCalls` ->
/// `tool_calls`, `ToolCallID` -> `tool_call_id`), else a key equal ignoring case.
pub fn lookup<'v>(obj: &'v Value, name: &str) -> Option<&'v Value> {
    let m = obj.as_object()?;
    if let Some(v) = m.get(name) {
        return Some(v);
    }
    if let Some(v) = m.get(&snake_case(name)) {
        return Some(v);
    }
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake() {
        assert_eq!(snake_case("ToolCalls"), "tool_calls");
        assert_eq!(snake_case("ToolCallID"), "tool_call_id");
        assert_eq!(snake_case("ID"), "id");
        assert_eq!(snake_case("Function"), "function");
        assert_eq!(snake_case("HTTPServer"), "http_server");
    }
}
