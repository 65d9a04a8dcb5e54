//! The Modelfile reader: a rune-at-a-time state machine that mirrors Ollama's
//! `ParseFile` / `parseRuneForState`, quirks included (what ends a value, which
//! characters are silently dropped, how lines are counted), because rollama must
//! accept, reject and report exactly what Ollama does. Also the byte decoding Ollama
//! applies first (UTF-8, BOM, UTF-16 by BOM).
//!
//! Depends only on the types in `super`; no filesystem, no option typing (PARAMETER
//! values are checked later, as in Ollama).

use super::{Command, Modelfile, ParseError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Nil,
    Name,
    Value,
    Parameter,
    Message,
    Comment,
}

/// The two ways `parseRuneForState` fails.
enum RuneError {
    InvalidCommand,
    UnexpectedEof,
}

/// Decodes raw Modelfile bytes the way Ollama does before parsing (a UTF-8 decoder
/// with BOM override: a UTF-16 BOM switches to UTF-16, a UTF-8 BOM is dropped, each
/// invalid byte becomes U+FFFD) and parses the result.
pub fn parse_bytes(bytes: &[u8]) -> Result<Modelfile, ParseError> {
    parse(&decode(bytes))
}

fn decode(bytes: &[u8]) -> String {
    match bytes {
        [0xFF, 0xFE, rest @ ..] => decode_utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => decode_utf16(rest, u16::from_be_bytes),
        [0xEF, 0xBB, 0xBF, rest @ ..] => decode_utf8(rest),
        _ => decode_utf8(bytes),
    }
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks(2).map(|c| match c {
        [a, b] => unit([*a, *b]),
        // A dangling odd byte cannot form a code unit; a lone surrogate becomes U+FFFD.
        _ => 0xD800,
    });
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// UTF-8 with one U+FFFD per invalid byte, as Go's decoder does (std's lossy decoding
/// merges a broken sequence into a single U+FFFD).
fn decode_utf8(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, bad) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                out.push(char::REPLACEMENT_CHARACTER);
                bytes = bad.get(1..).unwrap_or_default();
            }
        }
    }
}

/// Parses Modelfile text (Ollama's `ParseFile`). A leading BOM is ignored.
///
/// PARAMETER names and values, REQUIRES and paths are not checked here; Ollama checks
/// them when building the create request ([`Modelfile::create_parts`]), without line
/// numbers.
pub fn parse(text: &str) -> Result<Modelfile, ParseError> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut commands: Vec<Command> = Vec::new();
    let mut curr = State::Nil;
    let mut b = String::new();
    let mut name = String::new();
    let mut role = String::new();
    // Ollama's counter (every CR and LF) for errors; the physical one for commands.
    let mut go_line = 1usize;
    let mut line = 1usize;
    let mut prev_cr = false;
    let mut cmd_line = 1usize;

    for r in text.chars() {
        if is_newline(r) {
            go_line += 1;
            if r == '\r' || !prev_cr {
                line += 1;
            }
        }
        prev_cr = r == '\r';

        let (mut next, out) = match step(r, curr) {
            Ok(t) => t,
            Err(RuneError::UnexpectedEof) => return Err(ParseError::UnexpectedEofAfter(b)),
            Err(RuneError::InvalidCommand) => {
                return Err(ParseError::InvalidCommand { line: go_line });
            }
        };

        if next != curr {
            match curr {
                State::Nil if next == State::Name => cmd_line = line,
                State::Name => {
                    let s = go_lower(&b);
                    if !is_valid_command(&s) {
                        return Err(ParseError::InvalidCommand { line: go_line });
                    }
                    match s.as_str() {
                        "from" => name = "model".to_string(),
                        // The name comes from the parameter-name state that follows.
                        "parameter" => next = State::Parameter,
                        "message" => {
                            next = State::Message;
                            name = s;
                        }
                        _ => name = s,
                    }
                }
                State::Parameter => name = b.clone(),
                State::Message => {
                    if !matches!(b.as_str(), "system" | "user" | "assistant") {
                        return Err(ParseError::InvalidMessageRole { line: go_line });
                    }
                    role = b.clone();
                }
                State::Value => {
                    // A space never ends a value, and a newline only ends it once any
                    // opening quote is closed; otherwise the character is kept as is.
                    match unquote(b.trim()) {
                        Some(s) if !out.is_some_and(is_space) => {
                            let args = if role.is_empty() {
                                s.to_string()
                            } else {
                                format!("{}: {s}", std::mem::take(&mut role))
                            };
                            commands.push(Command {
                                name: name.clone(),
                                args,
                                line: cmd_line,
                            });
                        }
                        _ => {
                            if let Some(c) = out {
                                b.push(c);
                            }
                            continue;
                        }
                    }
                }
                State::Nil | State::Comment => {}
            }
            b.clear();
            curr = next;
        }

        if let Some(c) = out
            && is_print(c)
        {
            b.push(c);
        }
    }

    match curr {
        State::Nil | State::Comment => {}
        State::Value => {
            let Some(s) = unquote(b.trim()) else {
                return Err(ParseError::UnexpectedEof);
            };
            let args = if role.is_empty() {
                s.to_string()
            } else {
                format!("{role}: {s}")
            };
            commands.push(Command {
                name,
                args,
                line: cmd_line,
            });
        }
        State::Name | State::Parameter | State::Message => return Err(ParseError::UnexpectedEof),
    }

    if commands.iter().any(|c| c.name == "model") {
        Ok(Modelfile { commands })
    } else {
        Err(ParseError::MissingFrom)
    }
}

/// Ollama's `parseRuneForState`: the next state and the character to keep, if any.
fn step(r: char, cs: State) -> Result<(State, Option<char>), RuneError> {
    match cs {
        State::Nil => Ok(if r == '#' {
            (State::Comment, None)
        } else if is_space(r) || is_newline(r) {
            (State::Nil, None)
        } else {
            (State::Name, Some(r))
        }),
        State::Name => {
            if r.is_ascii_alphabetic() {
                Ok((State::Name, Some(r)))
            } else if is_space(r) {
                Ok((State::Value, None))
            } else {
                Err(RuneError::InvalidCommand)
            }
        }
        State::Value => Ok(if is_newline(r) || is_space(r) {
            (State::Nil, Some(r))
        } else {
            (State::Value, Some(r))
        }),
        State::Parameter => {
            if r.is_ascii_alphanumeric() || r == '_' {
                Ok((State::Parameter, Some(r)))
            } else if is_space(r) {
                Ok((State::Value, None))
            } else {
                Err(RuneError::UnexpectedEof)
            }
        }
        State::Message => {
            if r.is_ascii_alphabetic() {
                Ok((State::Message, Some(r)))
            } else if is_space(r) {
                Ok((State::Value, None))
            } else {
                Err(RuneError::UnexpectedEof)
            }
        }
        State::Comment => Ok(if is_newline(r) {
            (State::Nil, None)
        } else {
            (State::Comment, None)
        }),
    }
}

/// Ollama's `unquote` (byte-wise): strip `"""…"""` or `"…"`; `None` while a quote is
/// still open.
fn unquote(s: &str) -> Option<&str> {
    if s.starts_with("\"\"\"") {
        if s.len() >= 6 && s.ends_with("\"\"\"") {
            return Some(&s[3..s.len() - 3]);
        }
        return None;
    }
    if s.starts_with('"') {
        if s.len() >= 2 && s.ends_with('"') {
            return Some(&s[1..s.len() - 1]);
        }
        return None;
    }
    Some(s)
}

fn is_space(r: char) -> bool {
    r == ' ' || r == '\t'
}

fn is_newline(r: char) -> bool {
    r == '\r' || r == '\n'
}

fn is_valid_command(lower: &str) -> bool {
    matches!(
        lower,
        "from"
            | "license"
            | "template"
            | "system"
            | "adapter"
            | "draft"
            | "renderer"
            | "parser"
            | "parameter"
            | "message"
            | "requires"
    )
}

/// Go's `strings.ToLower`: simple (one-to-one) case mapping, where std's full mapping
/// would turn U+0130 into two characters.
fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                'i'
            } else {
                let mut l = c.to_lowercase();
                match (l.next(), l.next()) {
                    (Some(one), None) => one,
                    _ => c,
                }
            }
        })
        .collect()
}

/// Go's `strconv.IsPrint` (letters, marks, numbers, punctuation, symbols and ASCII
/// space). Characters failing it vanish from names and unquoted-state buffers.
/// Approximation: without a Unicode table, unassigned code points count as printable.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = u32::from(c);
    let format = matches!(
        u,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    );
    let private_use = matches!(u, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD);
    let noncharacter = matches!(u, 0xFDD0..=0xFDEF) || (u & 0xFFFE) == 0xFFFE;
    !(format || private_use || noncharacter)
}
