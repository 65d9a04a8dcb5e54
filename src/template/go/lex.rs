//! Splits a Go `text/template` source into text and actions, applying the `{{- ` / ` -}}` trim
//! markers and dropping `{{/* comments */}}`, and turns each action into tokens. Knows nothing
//! of what the tokens mean (that is `parse.rs`).

use super::Error;

/// A piece of the source.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Text(String),
    /// `at[i]` is where `tokens[i]` starts: (line, Go's column, the byte offset in its line).
    Action {
        tokens: Vec<Tok>,
        at: Vec<At>,
        line: usize,
    },
}

/// A source position as Go's template errors print it: line (from 1) and byte column (from 0).
pub type At = (usize, usize);

/// Positions of byte offsets of one source, handed out in increasing order and counted from
/// where the last one stopped, so lexing stays linear in the template's length.
struct Positions<'s> {
    src: &'s str,
    offset: usize,
    line: usize,
    line_start: usize,
}

impl<'s> Positions<'s> {
    fn new(src: &'s str) -> Positions<'s> {
        Positions {
            src,
            offset: 0,
            line: 1,
            line_start: 0,
        }
    }

    fn at(&mut self, offset: usize) -> At {
        if offset < self.offset {
            *self = Positions::new(self.src);
        }
        for (i, b) in self.src.as_bytes()[self.offset..offset].iter().enumerate() {
            if *b == b'\n' {
                self.line += 1;
                self.line_start = self.offset + i + 1;
            }
        }
        self.offset = offset;
        (self.line, offset - self.line_start)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// `.` alone: the current value.
    Dot,
    /// `.A.B`
    Field(Vec<String>),
    /// `$x.A.B` (`$` alone is the root); fields may be empty.
    Var(String, Vec<String>),
    /// `.A.B` directly after `)`.
    Chain(Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Comma,
    Declare,
    Assign,
}

pub fn lex(src: &str) -> Result<Vec<Item>, Error> {
    let mut items: Vec<Item> = Vec::new();
    let mut positions = Positions::new(src);
    let mut rest = src;
    let mut line = 1;
    let mut trim_next_text = false;
    loop {
        let Some(open) = rest.find("{{") else {
            push_text(&mut items, rest, trim_next_text, false);
            return Ok(items);
        };
        let text = &rest[..open];
        let after = &rest[open + 2..];
        let trim_left = after.starts_with('-') && after[1..].starts_with(is_space);
        push_text(&mut items, text, trim_next_text, trim_left);
        line += text.matches('\n').count();
        let mut body = if trim_left { &after[2..] } else { after };
        let action_line = line;

        // Comments: {{/* ... */}}, with optional trim markers around them.
        let trimmed_body = body.trim_start_matches(is_space);
        if trimmed_body.starts_with("/*") && (trim_left || body.starts_with("/*")) {
            let Some(end) = trimmed_body.find("*/") else {
                return Err(Error::parse(action_line, "unclosed comment"));
            };
            let after_comment = &trimmed_body[end + 2..];
            let (close, trim_right) = if let Some(r) = after_comment.strip_prefix(" -}}") {
                (r, true)
            } else if let Some(r) = after_comment.strip_prefix("}}") {
                (r, false)
            } else {
                return Err(Error::parse(
                    action_line,
                    "comment ends before closing delimiter",
                ));
            };
            line += trimmed_body[..end + 2].matches('\n').count();
            trim_next_text = trim_right;
            rest = close;
            continue;
        }

        let mut tokens = Vec::new();
        let mut at = Vec::new();
        loop {
            body = body.trim_start_matches(is_space);
            if let Some(r) = body.strip_prefix("-}}") {
                // Only valid as " -}}": the space was just consumed.
                trim_next_text = true;
                body = r;
                break;
            }
            if let Some(r) = body.strip_prefix("}}") {
                trim_next_text = false;
                body = r;
                break;
            }
            if body.is_empty() {
                return Err(Error::parse(action_line, "unclosed action"));
            }
            let (tok, r) = next_token(body, action_line, tokens.last())?;
            at.push(positions.at(src.len() - body.len()));
            tokens.push(tok);
            body = r;
        }
        line += rest[open..rest.len() - body.len()].matches('\n').count();
        items.push(Item::Action {
            tokens,
            at,
            line: action_line,
        });
        rest = body;
    }
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

fn push_text(items: &mut Vec<Item>, text: &str, trim_start: bool, trim_end: bool) {
    let mut t = text;
    if trim_start {
        t = t.trim_start_matches(is_space);
    }
    if trim_end {
        t = t.trim_end_matches(is_space);
    }
    if !t.is_empty() {
        items.push(Item::Text(t.to_string()));
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads `.A.B.C` at the start of `s` (which starts with '.'); returns the names and the rest.
fn field_chain(mut s: &str) -> (Vec<String>, &str) {
    let mut names = Vec::new();
    while let Some(r) = s.strip_prefix('.') {
        let end = r.find(|c: char| !is_ident_char(c)).unwrap_or(r.len());
        if end == 0 {
            break;
        }
        names.push(r[..end].to_string());
        s = &r[end..];
    }
    (names, s)
}

fn next_token<'a>(s: &'a str, line: usize, prev: Option<&Tok>) -> Result<(Tok, &'a str), Error> {
    let c = s.chars().next().unwrap_or(' ');
    let simple = |t: Tok, n: usize| Ok((t, &s[n..]));
    match c {
        '|' => simple(Tok::Pipe, 1),
        '(' => simple(Tok::LParen, 1),
        ')' => simple(Tok::RParen, 1),
        ',' => simple(Tok::Comma, 1),
        ':' if s.starts_with(":=") => simple(Tok::Declare, 2),
        '=' => simple(Tok::Assign, 1),
        '.' => {
            let (names, r) = field_chain(s);
            if names.is_empty() {
                if s[1..].starts_with(|c: char| c.is_ascii_digit()) {
                    return number(s, line);
                }
                return Ok((Tok::Dot, &s[1..]));
            }
            if matches!(prev, Some(Tok::RParen)) && !s.starts_with(". ") {
                return Ok((Tok::Chain(names), r));
            }
            Ok((Tok::Field(names), r))
        }
        '$' => {
            let r = &s[1..];
            let end = r.find(|c: char| !is_ident_char(c)).unwrap_or(r.len());
            let name = format!("${}", &r[..end]);
            let (fields, r) = field_chain(&r[end..]);
            Ok((Tok::Var(name, fields), r))
        }
        '"' => {
            let mut out = String::new();
            let mut chars = s[1..].char_indices();
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '"' => return Ok((Tok::Str(out), &s[i + 2..])),
                    '\\' => {
                        let Some((_, e)) = chars.next() else { break };
                        match e {
                            'n' => out.push('\n'),
                            't' => out.push('\t'),
                            'r' => out.push('\r'),
                            'a' => out.push('\u{7}'),
                            'b' => out.push('\u{8}'),
                            'f' => out.push('\u{c}'),
                            'v' => out.push('\u{b}'),
                            '0'..='7' => out.push(e),
                            'x' | 'u' | 'U' => {
                                let n = match e {
                                    'x' => 2,
                                    'u' => 4,
                                    _ => 8,
                                };
                                let hex: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                                let v = u32::from_str_radix(&hex, 16)
                                    .ok()
                                    .and_then(char::from_u32)
                                    .ok_or_else(|| {
                                        Error::parse(line, "invalid escape in string")
                                    })?;
                                out.push(v);
                            }
                            other => out.push(other),
                        }
                    }
                    '\n' => return Err(Error::parse(line, "unterminated quoted string")),
                    ch => out.push(ch),
                }
            }
            Err(Error::parse(line, "unterminated quoted string"))
        }
        '`' => match s[1..].find('`') {
            Some(end) => Ok((Tok::Str(s[1..1 + end].to_string()), &s[end + 2..])),
            None => Err(Error::parse(line, "unterminated raw quoted string")),
        },
        '\'' => {
            let mut it = s[1..].char_indices();
            let ch = match it.next() {
                Some((_, '\\')) => match it.next() {
                    Some((_, 'n')) => '\n',
                    Some((_, 't')) => '\t',
                    Some((_, c)) => c,
                    None => return Err(Error::parse(line, "unterminated character constant")),
                },
                Some((_, c)) => c,
                None => return Err(Error::parse(line, "unterminated character constant")),
            };
            match it.next() {
                Some((i, '\'')) => Ok((Tok::Int(ch as i64), &s[i + 2..])),
                _ => Err(Error::parse(line, "unterminated character constant")),
            }
        }
        c if c.is_ascii_digit() || c == '-' || c == '+' => number(s, line),
        c if is_ident_char(c) => {
            let end = s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
            let word = &s[..end];
            let tok = match word {
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                "nil" => Tok::Nil,
                _ => Tok::Ident(word.to_string()),
            };
            Ok((tok, &s[end..]))
        }
        other => Err(Error::parse(
            line,
            format!("unexpected {other:?} in command"),
        )),
    }
}

fn number(s: &str, line: usize) -> Result<(Tok, &str), Error> {
    let end = s
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphanumeric()
                || c == '.'
                || c == '_'
                || ((c == '-' || c == '+') && (i == 0 || s[..i].ends_with(['e', 'E', 'p', 'P']))))
        })
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let text = s[..end].replace('_', "");
    let bad = || Error::parse(line, format!("bad number syntax: {:?}", &s[..end]));
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d.to_string()),
        None => (false, text.trim_start_matches('+').to_string()),
    };
    let int = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(b) = digits.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if let Some(o) = digits.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Ok((Tok::Int(if neg { -i } else { i }), &s[end..]));
    }
    let f: f64 = digits.parse().map_err(|_| bad())?;
    Ok((Tok::Float(if neg { -f } else { f }), &s[end..]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_comments() {
        let items = lex("a  {{- .X -}}  b {{/* c */}} {{- /* d */ -}} e").unwrap();
        assert_eq!(
            items,
            vec![
                Item::Text("a".into()),
                Item::Action {
                    tokens: vec![Tok::Field(vec!["X".into()])],
                    at: vec![(1, 7)],
                    line: 1
                },
                Item::Text("b ".into()),
                Item::Text("e".into()),
            ]
        );
    }

    #[test]
    fn tokens() {
        let items =
            lex(r#"{{ $x := index .A.B 1 | printf "%d\n" -2 3.5 `r` 'a' (len $).C nil true }}"#)
                .unwrap();
        let Item::Action { tokens, .. } = &items[0] else {
            panic!()
        };
        assert_eq!(
            tokens,
            &vec![
                Tok::Var("$x".into(), vec![]),
                Tok::Declare,
                Tok::Ident("index".into()),
                Tok::Field(vec!["A".into(), "B".into()]),
                Tok::Int(1),
                Tok::Pipe,
                Tok::Ident("printf".into()),
                Tok::Str("%d\n".into()),
                Tok::Int(-2),
                Tok::Float(3.5),
                Tok::Str("r".into()),
                Tok::Int(97),
                Tok::LParen,
                Tok::Ident("len".into()),
                Tok::Var("$".into(), vec![]),
                Tok::RParen,
                Tok::Chain(vec!["C".into()]),
                Tok::Nil,
                Tok::Bool(true),
            ]
        );
    }

    #[test]
    fn line_numbers_and_errors() {
        let items = lex("a\nb\n{{ .X }}\n{{ .Y }}").unwrap();
        assert!(matches!(items[1], Item::Action { line: 3, .. }));
        assert!(matches!(items[3], Item::Action { line: 4, .. }));
        assert!(lex("{{ .X").is_err());
        assert!(lex("{{ \"abc }}").is_err());
        assert!(lex("{{/* never closed").is_err());
    }
}
