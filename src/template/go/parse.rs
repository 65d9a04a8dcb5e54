//! Builds the template tree from the lexer's items: text, actions (pipelines of commands), and
//! the `if` / `else if` / `range` / `with` / `break` / `continue` control structures. Also the
//! two tree walks Ollama needs: the identifiers a template uses, and the legacy-mode cut after
//! `.Response`.

use super::Error;
use super::lex::{At, Item, Tok};

/// How deep control structures and parentheses may nest: deeper is an error, never a stack
/// overflow.
const MAX_DEPTH: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Action(Pipe, usize),
    If(Branches),
    With(Branches),
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Option<Vec<Node>>,
        line: usize,
    },
    Break,
    Continue,
}

/// `if` / `with` with their `else if` / `else with` chain and final `else`.
#[derive(Debug, Clone, PartialEq)]
pub struct Branches {
    pub arms: Vec<(Pipe, Vec<Node>)>,
    pub otherwise: Option<Vec<Node>>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    /// Variables declared (`:=`) or assigned (`=`) by this pipeline.
    pub vars: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `.` (empty) or `.A.B`, and where it starts (for Go's error positions).
    Field(Vec<String>, At),
    Var(String, Vec<String>, At),
    Func(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// `(pipeline).A.B`
    Sub(Box<Pipe>, Vec<String>, At),
}

pub fn parse(items: Vec<Item>) -> Result<Vec<Node>, Error> {
    let mut p = Parser { items, pos: 0 };
    let (nodes, end) = p.list(0)?;
    match end {
        None => Ok(nodes),
        Some((word, line)) => Err(Error::parse(line, format!("unexpected {{{{{word}}}}}"))),
    }
}

struct Parser {
    items: Vec<Item>,
    pos: usize,
}

/// The keyword that ended a list (`end` or `else`), with the rest of its action.
type End = Option<(String, usize)>;

impl Parser {
    /// Nodes up to `{{end}}`, `{{else ...}}` or the end of input. For `else`, the tokens after
    /// the keyword are left in `self.pending_else`.
    fn list(&mut self, depth: usize) -> Result<(Vec<Node>, End), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::parse(0, "template nested too deeply"));
        }
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let item = self.items[self.pos].clone();
            self.pos += 1;
            match item {
                Item::Text(t) => nodes.push(Node::Text(t)),
                Item::Action { tokens, at, line } => {
                    let keyword = match tokens.first() {
                        Some(Tok::Ident(w)) => w.as_str(),
                        _ => "",
                    };
                    match keyword {
                        "end" => {
                            if tokens.len() > 1 {
                                return Err(Error::parse(line, "unexpected token in end"));
                            }
                            return Ok((nodes, Some(("end".into(), line))));
                        }
                        "else" => {
                            // Re-read by the caller: keep the tokens after `else`.
                            self.pos -= 1;
                            return Ok((nodes, Some(("else".into(), line))));
                        }
                        "if" | "with" => {
                            let b = self.branches(keyword, &tokens[1..], &at[1..], line, depth)?;
                            nodes.push(if keyword == "if" {
                                Node::If(b)
                            } else {
                                Node::With(b)
                            });
                        }
                        "range" => nodes.push(self.range(&tokens[1..], &at[1..], line, depth)?),
                        "break" => nodes.push(Node::Break),
                        "continue" => nodes.push(Node::Continue),
                        "define" | "template" | "block" => {
                            return Err(Error::parse(
                                line,
                                format!("{{{{{keyword}}}}} is not supported"),
                            ));
                        }
                        _ => nodes.push(Node::Action(pipe(&tokens, &at, line, false)?, line)),
                    }
                }
            }
        }
        Ok((nodes, None))
    }

    /// The tokens of the `{{else ...}}` action at `self.pos`, consuming it.
    fn take_else(&mut self) -> (Vec<Tok>, Vec<At>) {
        let Some(Item::Action { tokens, at, .. }) = self.items.get(self.pos).cloned() else {
            return (Vec::new(), Vec::new());
        };
        self.pos += 1;
        (tokens[1..].to_vec(), at[1..].to_vec())
    }

    fn branches(
        &mut self,
        kw: &str,
        cond: &[Tok],
        cond_at: &[At],
        line: usize,
        depth: usize,
    ) -> Result<Branches, Error> {
        let mut arms = Vec::new();
        let mut cond = cond.to_vec();
        let mut cond_at = cond_at.to_vec();
        let mut cond_line = line;
        loop {
            if cond.is_empty() {
                return Err(Error::parse(cond_line, format!("missing value for {kw}")));
            }
            let p = pipe(&cond, &cond_at, cond_line, false)?;
            let (body, end) = self.list(depth + 1)?;
            arms.push((p, body));
            match end {
                Some((w, _)) if w == "end" => {
                    return Ok(Branches {
                        arms,
                        otherwise: None,
                        line,
                    });
                }
                Some((_, else_line)) => {
                    let (rest, rest_at) = self.take_else();
                    match rest.first() {
                        Some(Tok::Ident(w)) if w == kw => {
                            cond = rest[1..].to_vec();
                            cond_at = rest_at[1..].to_vec();
                            cond_line = else_line;
                        }
                        None => {
                            let (body, end) = self.list(depth + 1)?;
                            expect_end(end, line)?;
                            return Ok(Branches {
                                arms,
                                otherwise: Some(body),
                                line,
                            });
                        }
                        Some(_) => {
                            return Err(Error::parse(else_line, "unexpected token in else"));
                        }
                    }
                }
                None => return Err(Error::parse(line, "unexpected EOF")),
            }
        }
    }

    fn range(&mut self, toks: &[Tok], at: &[At], line: usize, depth: usize) -> Result<Node, Error> {
        if toks.is_empty() {
            return Err(Error::parse(line, "missing value for range"));
        }
        let p = pipe(toks, at, line, true)?;
        let (body, end) = self.list(depth + 1)?;
        let otherwise = match end {
            Some((w, _)) if w == "end" => None,
            Some((_, else_line)) => {
                if !self.take_else().0.is_empty() {
                    return Err(Error::parse(else_line, "unexpected token in else"));
                }
                let (body, end) = self.list(depth + 1)?;
                expect_end(end, line)?;
                Some(body)
            }
            None => return Err(Error::parse(line, "unexpected EOF")),
        };
        Ok(Node::Range {
            pipe: p,
            body,
            otherwise,
            line,
        })
    }
}

fn expect_end(end: End, line: usize) -> Result<(), Error> {
    match end {
        Some((w, _)) if w == "end" => Ok(()),
        Some((w, l)) => Err(Error::parse(l, format!("expected end; found {{{{{w}}}}}"))),
        None => Err(Error::parse(line, "unexpected EOF")),
    }
}

/// A pipeline: optional declaration, then commands separated by `|`.
fn pipe(toks: &[Tok], at: &[At], line: usize, range: bool) -> Result<Pipe, Error> {
    let mut toks = toks;
    let mut vars = Vec::new();
    let mut assign = false;
    // `$x :=`, `$x =`, and for range `$i, $e :=`.
    let decl_len = match toks {
        [Tok::Var(a, f), Tok::Declare | Tok::Assign, ..] if f.is_empty() => {
            vars.push(a.clone());
            assign = matches!(toks[1], Tok::Assign);
            2
        }
        [
            Tok::Var(a, f1),
            Tok::Comma,
            Tok::Var(b, f2),
            Tok::Declare | Tok::Assign,
            ..,
        ] if range && f1.is_empty() && f2.is_empty() => {
            vars.push(a.clone());
            vars.push(b.clone());
            assign = matches!(toks[3], Tok::Assign);
            4
        }
        _ => 0,
    };
    toks = &toks[decl_len..];
    let (p, _, closed) = commands(toks, &at[decl_len.min(at.len())..], line, 0)?;
    if closed {
        return Err(Error::parse(line, "unexpected right paren"));
    }
    if p.is_empty() {
        return Err(Error::parse(line, "missing value for command"));
    }
    Ok(Pipe {
        vars,
        assign,
        cmds: p,
    })
}

/// Commands until the end or an unmatched `)`; returns them, the tokens after, and whether a
/// `)` ended them.
type Cmds<'a> = (Vec<Vec<Arg>>, &'a [Tok], bool);

fn commands<'t>(toks: &'t [Tok], at: &[At], line: usize, depth: usize) -> Result<Cmds<'t>, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::parse(line, "expression nested too deeply"));
    }
    let mut cmds = Vec::new();
    let mut cmd = Vec::new();
    let mut rest = toks;
    // `at` runs alongside `toks`: the position of `rest[0]` is `at[at.len() - rest.len()]`.
    let pos = |rest: &[Tok]| {
        at.get(at.len().saturating_sub(rest.len()))
            .copied()
            .unwrap_or((line, 0))
    };
    while let Some(tok) = rest.first() {
        let here = pos(rest);
        rest = &rest[1..];
        let arg = match tok {
            Tok::Pipe => {
                if cmd.is_empty() {
                    return Err(Error::parse(line, "missing command"));
                }
                cmds.push(std::mem::take(&mut cmd));
                continue;
            }
            Tok::RParen => return finish(cmds, cmd, rest, true, line),
            Tok::LParen => {
                let inner_at = &at[at.len().saturating_sub(rest.len())..];
                let (inner, after, closed) = commands(rest, inner_at, line, depth + 1)?;
                if !closed {
                    return Err(Error::parse(line, "unclosed left paren"));
                }
                if inner.is_empty() {
                    return Err(Error::parse(
                        line,
                        "missing value for parenthesized pipeline",
                    ));
                }
                rest = after;
                let chain = match rest.first() {
                    Some(Tok::Chain(names)) => {
                        rest = &rest[1..];
                        names.clone()
                    }
                    _ => Vec::new(),
                };
                Arg::Sub(
                    Box::new(Pipe {
                        vars: vec![],
                        assign: false,
                        cmds: inner,
                    }),
                    chain,
                    here,
                )
            }
            Tok::Dot => Arg::Field(Vec::new(), here),
            Tok::Field(f) => Arg::Field(f.clone(), here),
            Tok::Var(v, f) => Arg::Var(v.clone(), f.clone(), here),
            Tok::Ident(name) => Arg::Func(name.clone()),
            Tok::Str(s) => Arg::Str(s.clone()),
            Tok::Int(i) => Arg::Int(*i),
            Tok::Float(f) => Arg::Float(*f),
            Tok::Bool(b) => Arg::Bool(*b),
            Tok::Nil => Arg::Nil,
            Tok::Chain(_) | Tok::Comma | Tok::Declare | Tok::Assign => {
                return Err(Error::parse(line, format!("unexpected {tok:?} in operand")));
            }
        };
        cmd.push(arg);
    }
    finish(cmds, cmd, rest, false, line)
}

fn finish(
    mut cmds: Vec<Vec<Arg>>,
    cmd: Vec<Arg>,
    rest: &[Tok],
    closed: bool,
    line: usize,
) -> Result<Cmds<'_>, Error> {
    if cmd.is_empty() && !cmds.is_empty() {
        return Err(Error::parse(line, "missing command after |"));
    }
    if !cmd.is_empty() {
        cmds.push(cmd);
    }
    Ok((cmds, rest, closed))
}

/// Every identifier the template mentions (field and variable chains, conditions included),
/// as Ollama's `Identifiers` collects them.
pub fn identifiers(nodes: &[Node], out: &mut Vec<String>) {
    for n in nodes {
        match n {
            Node::Text(_) | Node::Break | Node::Continue => {}
            Node::Action(p, _) => pipe_identifiers(p, out),
            Node::If(b) | Node::With(b) => {
                for (p, body) in &b.arms {
                    pipe_identifiers(p, out);
                    identifiers(body, out);
                }
                if let Some(o) = &b.otherwise {
                    identifiers(o, out);
                }
            }
            Node::Range {
                pipe,
                body,
                otherwise,
                ..
            } => {
                pipe_identifiers(pipe, out);
                identifiers(body, out);
                if let Some(o) = otherwise {
                    identifiers(o, out);
                }
            }
        }
    }
}

fn pipe_identifiers(p: &Pipe, out: &mut Vec<String>) {
    for cmd in &p.cmds {
        for a in cmd {
            match a {
                Arg::Field(f, _) => out.extend(f.iter().cloned()),
                Arg::Var(v, f, _) => {
                    out.push(v.clone());
                    out.extend(f.iter().cloned());
                }
                Arg::Sub(inner, f, _) => {
                    pipe_identifiers(inner, out);
                    out.extend(f.iter().cloned());
                }
                _ => {}
            }
        }
    }
}

/// Ollama's legacy-mode cut (`deleteNode`): walking in order, every node after the first field
/// naming `Response` is removed (the field itself stays), actions left without arguments go, and
/// conditions of `if`/`with`/`range` are not looked at.
pub fn cut_after_response(nodes: &[Node]) -> Vec<Node> {
    let mut cut = false;
    cut_list(nodes, &mut cut)
}

fn cut_list(nodes: &[Node], cut: &mut bool) -> Vec<Node> {
    let mut out = Vec::new();
    for n in nodes {
        if *cut {
            break;
        }
        match n {
            Node::Text(_) | Node::Break | Node::Continue => out.push(n.clone()),
            Node::Action(p, line) => {
                if let Some(p) = cut_pipe(p, cut) {
                    out.push(Node::Action(p, *line));
                }
            }
            Node::If(b) | Node::With(b) => {
                let mut arms = Vec::new();
                for (i, (p, body)) in b.arms.iter().enumerate() {
                    if i > 0 && *cut {
                        break;
                    }
                    arms.push((p.clone(), cut_list(body, cut)));
                }
                let otherwise = match &b.otherwise {
                    Some(o) if !*cut => Some(cut_list(o, cut)),
                    _ => None,
                };
                let b = Branches {
                    arms,
                    otherwise,
                    line: b.line,
                };
                out.push(if matches!(n, Node::If(_)) {
                    Node::If(b)
                } else {
                    Node::With(b)
                });
            }
            Node::Range {
                pipe,
                body,
                otherwise,
                line,
            } => {
                let body = cut_list(body, cut);
                let otherwise = match otherwise {
                    Some(o) if !*cut => Some(cut_list(o, cut)),
                    _ => None,
                };
                out.push(Node::Range {
                    pipe: pipe.clone(),
                    body,
                    otherwise,
                    line: *line,
                });
            }
        }
    }
    out
}

fn cut_pipe(p: &Pipe, cut: &mut bool) -> Option<Pipe> {
    let mut cmds = Vec::new();
    for cmd in &p.cmds {
        let mut args = Vec::new();
        for a in cmd {
            if *cut {
                break;
            }
            match a {
                Arg::Field(f, _) if f.iter().any(|x| x == "Response") => {
                    *cut = true;
                    args.push(a.clone());
                }
                Arg::Sub(inner, chain, at) => {
                    if let Some(inner) = cut_pipe(inner, cut) {
                        args.push(Arg::Sub(Box::new(inner), chain.clone(), *at));
                    }
                }
                _ => args.push(a.clone()),
            }
        }
        // As Ollama's walk: a command left without arguments drops the whole pipeline.
        if args.is_empty() {
            return None;
        }
        cmds.push(args);
    }
    if cmds.is_empty() {
        None
    } else {
        Some(Pipe {
            vars: p.vars.clone(),
            assign: p.assign,
            cmds,
        })
    }
}
