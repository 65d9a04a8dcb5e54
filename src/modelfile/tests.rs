//! Parser and writer tests, mirroring Ollama's `parser/parser_test.go` plus the quirks
//! rollama must reproduce (error texts and line numbers, dropped characters, CRLF).
#![allow(clippy::unwrap_used)]

use super::*;

/// (name, args) pairs, the part of a command Ollama's tests compare.
fn pairs(text: &str) -> Vec<(String, String)> {
    parse(text)
        .unwrap()
        .commands
        .into_iter()
        .map(|c| (c.name, c.args))
        .collect()
}

fn p(name: &str, args: &str) -> (String, String) {
    (name.to_string(), args.to_string())
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const LLAMA3_TEMPLATE: &str = "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>";

#[test]
fn parse_file() {
    let input = format!(
        "\nFROM model1\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE \"\"\"{LLAMA3_TEMPLATE}\"\"\"    \n"
    );
    assert_eq!(
        pairs(&input),
        vec![
            p("model", "model1"),
            p("adapter", "adapter1"),
            p("license", "MIT"),
            p("param1", "value1"),
            p("param2", "value2"),
            p("template", LLAMA3_TEMPLATE),
        ]
    );
}

#[test]
fn parse_draft_renderer_parser() {
    let mf = parse("\nFROM base\nDRAFT ./assistant\nRENDERER r1\nPARSER p1\n").unwrap();
    let got: Vec<_> = mf
        .commands
        .iter()
        .map(|c| (c.name.as_str(), c.args.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("model", "base"),
            ("draft", "./assistant"),
            ("renderer", "r1"),
            ("parser", "p1")
        ]
    );
    assert!(mf.to_string().contains("DRAFT ./assistant\n"));
}

#[test]
fn trim_space() {
    let input = "\nFROM \"     model 1\"\nADAPTER      adapter3\nLICENSE \"MIT       \"\nPARAMETER param1        value1\nPARAMETER param2    value2\nTEMPLATE \"\"\"   {{ .System }}   \"\"\"    \n";
    assert_eq!(
        pairs(input),
        vec![
            p("model", "     model 1"),
            p("adapter", "adapter3"),
            p("license", "MIT       "),
            p("param1", "value1"),
            p("param2", "value2"),
            p("template", "   {{ .System }}   "),
        ]
    );
}

#[test]
fn from_cases() {
    let ok = [
        ("FROM \"FOO  BAR  \"", vec![p("model", "FOO  BAR  ")]),
        (
            "FROM \"FOO BAR\"\nPARAMETER param1 value1",
            vec![p("model", "FOO BAR"), p("param1", "value1")],
        ),
        ("FROM     FOOO BAR    ", vec![p("model", "FOOO BAR")]),
        (
            "FROM /what/is/the path ",
            vec![p("model", "/what/is/the path")],
        ),
        ("FROM foo", vec![p("model", "foo")]),
        (
            "FROM /path/to/model/fp16.bin",
            vec![p("model", "/path/to/model/fp16.bin")],
        ),
        (
            "FROM llama3:7b-instruct-q4_K_M",
            vec![p("model", "llama3:7b-instruct-q4_K_M")],
        ),
        (
            "PARAMETER param1 value1\nFROM foo",
            vec![p("param1", "value1"), p("model", "foo")],
        ),
        (
            "PARAMETER what the \nFROM lemons make lemonade ",
            vec![p("what", "the"), p("model", "lemons make lemonade")],
        ),
    ];
    for (input, want) in ok {
        assert_eq!(pairs(input), want, "{input:?}");
    }
    assert_eq!(parse("").unwrap_err(), ParseError::MissingFrom);
    assert_eq!(err("PARAMETER param1 value1"), "no FROM line");
    assert_eq!(err("# only a comment\n\n"), "no FROM line");
}

#[test]
fn case_insensitive_instructions_any_order() {
    assert_eq!(
        pairs("system hi\nfRoM foo\nParameter Top_K 5\nmessage user hello"),
        vec![
            p("system", "hi"),
            p("model", "foo"),
            p("Top_K", "5"),
            p("message", "user: hello"),
        ]
    );
}

#[test]
fn parameter_missing_value_is_eof_with_name() {
    assert_eq!(
        parse("\nFROM foo\nPARAMETER param1\n").unwrap_err(),
        ParseError::UnexpectedEofAfter("param1".into())
    );
    assert_eq!(
        err("\nFROM foo\nPARAMETER param1\n"),
        "unexpected EOF: param1"
    );
    assert_eq!(err("FROM foo\nPARAMETER param1"), "unexpected EOF");
    assert_eq!(err("FROM foo\nPARAMETER top-k 1"), "unexpected EOF: top");
    assert_eq!(err("FROM foo\nPARAMETER\t-x 1"), "unexpected EOF: ");
}

#[test]
fn bad_command_has_line() {
    let e = parse("\nFROM foo\nBADCOMMAND param1 value1\n").unwrap_err();
    assert_eq!(e, ParseError::InvalidCommand { line: 3 });
    assert_eq!(e.line(), Some(3));
    assert_eq!(
        e.to_string(),
        "(line 3): command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", \"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\""
    );
}

#[test]
fn bad_command_line_quirks() {
    // The newline that ends a bare instruction is already counted.
    assert_eq!(
        parse("FROM foo\nSYSTEM\n").unwrap_err(),
        ParseError::InvalidCommand { line: 3 }
    );
    // A non-letter inside an instruction name.
    assert_eq!(
        parse("FROM foo\nSYS-TEM x").unwrap_err(),
        ParseError::InvalidCommand { line: 2 }
    );
    assert_eq!(
        parse("FROM: foo").unwrap_err(),
        ParseError::InvalidCommand { line: 1 }
    );
    // Ollama counts CR and LF separately.
    assert_eq!(
        parse("FROM foo\r\nBAD x\r\n").unwrap_err(),
        ParseError::InvalidCommand { line: 3 }
    );
    // A bare instruction at EOF is an EOF error, not an unknown command.
    assert_eq!(
        parse("FROM foo\nSYSTEM").unwrap_err(),
        ParseError::UnexpectedEof
    );
    assert_eq!(parse("FROM").unwrap_err(), ParseError::UnexpectedEof);
}

#[test]
fn messages() {
    assert_eq!(
        pairs("\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\n"),
        vec![
            p("model", "foo"),
            p(
                "message",
                "system: You are a file parser. Always parse things."
            ),
        ]
    );
    assert_eq!(
        pairs(
            "\nFROM foo\nMESSAGE system You are a file parser.\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n"
        ),
        vec![
            p("model", "foo"),
            p("message", "system: You are a file parser."),
            p("message", "user: Hey there!"),
            p(
                "message",
                "assistant: Hello, I want to parse all the things!"
            ),
        ]
    );
    assert_eq!(
        pairs(
            "\nFROM foo\nMESSAGE system \"\"\"\nYou are a multiline file parser. Always parse things.\n\"\"\"\n\t\t\t"
        ),
        vec![
            p("model", "foo"),
            p(
                "message",
                "system: \nYou are a multiline file parser. Always parse things.\n"
            ),
        ]
    );
}

#[test]
fn message_errors() {
    let e = parse("\nFROM foo\nMESSAGE badguy I'm a bad guy!\n").unwrap_err();
    assert_eq!(e, ParseError::InvalidMessageRole { line: 3 });
    assert_eq!(
        e.to_string(),
        "(line 3): message role must be one of \"system\", \"user\", or \"assistant\""
    );
    // Roles are case-sensitive, unlike instructions.
    assert_eq!(
        parse("FROM foo\nMESSAGE User hi").unwrap_err(),
        ParseError::InvalidMessageRole { line: 2 }
    );
    assert_eq!(
        err("\nFROM foo\nMESSAGE system\n"),
        "unexpected EOF: system"
    );
    assert_eq!(err("\nFROM foo\nMESSAGE system"), "unexpected EOF");
    // Two spaces give an empty role.
    assert_eq!(
        parse("FROM foo\nMESSAGE  user hi").unwrap_err(),
        ParseError::InvalidMessageRole { line: 2 }
    );
}

#[test]
fn quoted() {
    let ok = [
        (
            "\nFROM foo\nSYSTEM \"\"\"\nThis is a\nmultiline system.\n\"\"\"\n\t\t\t",
            "\nThis is a\nmultiline system.\n",
        ),
        (
            "\nFROM foo\nSYSTEM \"\"\"\nThis is a\nmultiline system.\"\"\"\n\t\t\t",
            "\nThis is a\nmultiline system.",
        ),
        (
            "\nFROM foo\nSYSTEM \"\"\"This is a\nmultiline system.\"\"\"\n\t\t\t",
            "This is a\nmultiline system.",
        ),
        (
            "\nFROM foo\nSYSTEM \"\"\"This is a multiline system.\"\"\"\n\t\t\t",
            "This is a multiline system.",
        ),
        (
            "\nFROM foo\nSYSTEM \"\"\"\nThis is a multiline system with \"quotes\".\n\"\"\"\n",
            "\nThis is a multiline system with \"quotes\".\n",
        ),
        ("\nFROM foo\nSYSTEM \"\"\"\"\"\"\n", ""),
        ("\nFROM foo\nSYSTEM \"\"\n", ""),
        ("\nFROM foo\nSYSTEM \"'\"\n", "'"),
        (
            "\nFROM foo\nSYSTEM \"\"\"''\"'\"\"'\"\"'\"'''''\"\"'\"\"'\"\"\"\n",
            "''\"'\"\"'\"\"'\"'''''\"\"'\"\"'",
        ),
        ("\nFROM foo\nSYSTEM \"a\nb\"", "a\nb"),
    ];
    for (input, want) in ok {
        assert_eq!(
            pairs(input),
            vec![p("model", "foo"), p("system", want)],
            "{input:?}"
        );
    }
    assert_eq!(
        pairs("\nFROM foo\nTEMPLATE \"\"\"\n{{ .Prompt }}\n\"\"\""),
        vec![p("model", "foo"), p("template", "\n{{ .Prompt }}\n")]
    );
    for bad in [
        "\nFROM foo\nSYSTEM \"\"\"This is a multiline system.\"\"\n\t\t\t",
        "\nFROM foo\nSYSTEM \"\n\t\t\t",
        "FROM foo\nSYSTEM \"\"\"\"",
        "FROM foo\nSYSTEM \"\"\"a\"",
    ] {
        assert_eq!(
            parse(bad).unwrap_err(),
            ParseError::UnexpectedEof,
            "{bad:?}"
        );
    }
}

#[test]
fn quote_stays_open_until_a_line_ends_with_one() {
    // Text after a closing quote keeps the value open, as in Ollama.
    assert_eq!(
        pairs("FROM foo\nSYSTEM \"a\" b\nPARAMETER x \"y\""),
        vec![p("model", "foo"), p("system", "a\" b\nPARAMETER x \"y")]
    );
}

#[test]
fn parameters_table() {
    let cases = [
        ("numa true", "numa", "true"),
        ("num_ctx 1", "num_ctx", "1"),
        ("num_gqa 1", "num_gqa", "1"),
        ("use_mmap true", "use_mmap", "true"),
        ("min_p 0.05", "min_p", "0.05"),
        ("penalize_newline true", "penalize_newline", "true"),
        ("stop ### User:", "stop", "### User:"),
        ("stop ### User: ", "stop", "### User:"),
        ("stop \"### User:\"", "stop", "### User:"),
        ("stop \"### User: \"", "stop", "### User: "),
        ("stop \"\"\"### User:\"\"\"", "stop", "### User:"),
        ("stop \"\"\"### User:\n\"\"\"", "stop", "### User:\n"),
        ("stop <|endoftext|>", "stop", "<|endoftext|>"),
        ("stop </s>", "stop", "</s>"),
    ];
    for (line, name, value) in cases {
        let input = format!("FROM foo\nPARAMETER {line}\n");
        assert_eq!(
            pairs(&input),
            vec![p("model", "foo"), p(name, value)],
            "{line:?}"
        );
    }
}

#[test]
fn double_space_after_parameter_gives_empty_name() {
    assert_eq!(
        pairs("FROM foo\nPARAMETER  temperature 0.7"),
        vec![p("model", "foo"), p("", "temperature 0.7")]
    );
}

#[test]
fn comments() {
    assert_eq!(pairs("\n# comment\nFROM foo\n\t"), vec![p("model", "foo")]);
    assert_eq!(
        pairs("  # indented comment\nFROM foo # not a comment\nSYSTEM a # b"),
        vec![p("model", "foo # not a comment"), p("system", "a # b")]
    );
}

#[test]
fn bom_crlf_and_encodings() {
    assert_eq!(
        pairs("\u{FEFF}FROM foo\r\nSYSTEM bar\r\n"),
        vec![p("model", "foo"), p("system", "bar")]
    );
    let utf8_bom = [b"\xEF\xBB\xBF".as_slice(), b"FROM foo\n"].concat();
    assert_eq!(parse_bytes(&utf8_bom).unwrap().commands[0].args, "foo");

    let data = "FROM bob\nPARAMETER param1 1\nSYSTEM You are a utf16 file.\n";
    let want = vec![
        Command {
            name: "model".into(),
            args: "bob".into(),
            line: 1,
        },
        Command {
            name: "param1".into(),
            args: "1".into(),
            line: 2,
        },
        Command {
            name: "system".into(),
            args: "You are a utf16 file.".into(),
            line: 3,
        },
    ];
    let mut le = vec![0xFF, 0xFE];
    let mut be = vec![0xFE, 0xFF];
    for u in data.encode_utf16() {
        le.extend(u.to_le_bytes());
        be.extend(u.to_be_bytes());
    }
    assert_eq!(parse_bytes(&le).unwrap().commands, want);
    assert_eq!(parse_bytes(&be).unwrap().commands, want);
}

#[test]
fn crlf_inside_quotes_is_kept() {
    assert_eq!(
        pairs("FROM foo\r\nSYSTEM \"\"\"a\r\nb\"\"\"\r\n"),
        vec![p("model", "foo"), p("system", "a\r\nb")]
    );
}

#[test]
fn multibyte() {
    assert_eq!(
        pairs("FROM test\n\tSYSTEM 你好👋"),
        vec![p("model", "test"), p("system", "你好👋")]
    );
}

#[test]
fn invalid_utf8_becomes_one_replacement_per_byte() {
    let mf = parse_bytes(b"FROM foo\nSYSTEM a\xE2\x82b\n").unwrap();
    assert_eq!(mf.commands[1].args, "a\u{FFFD}\u{FFFD}b");
}

#[test]
fn non_printable_characters_are_dropped() {
    assert_eq!(
        pairs("FROM foo\nSYSTEM a\u{0}b\u{200B}c\u{A0}d\u{7}e\u{E000}f"),
        vec![p("model", "foo"), p("system", "abcdef")]
    );
    // Tabs survive inside a value, and an NBSP before an instruction is ignored.
    assert_eq!(
        pairs("\u{A0}FROM foo\nSYSTEM a\tb"),
        vec![p("model", "foo"), p("system", "a\tb")]
    );
}

#[test]
fn empty_values() {
    assert_eq!(
        pairs("FROM foo\nSYSTEM \n"),
        vec![p("model", "foo"), p("system", "")]
    );
    assert_eq!(
        pairs("FROM \nFROM x"),
        vec![p("model", ""), p("model", "x")]
    );
}

#[test]
fn command_lines_are_physical() {
    let mf = parse("# c\r\nFROM foo\r\n\r\nSYSTEM \"\"\"a\nb\"\"\"\nPARAMETER top_k 1").unwrap();
    let lines: Vec<usize> = mf.commands.iter().map(|c| c.line).collect();
    assert_eq!(lines, [2, 4, 6]);
}

#[test]
fn command_display() {
    let show = |name: &str, args: &str| Command::new(name, args).to_string();
    assert_eq!(show("model", "llama3"), "FROM llama3");
    assert_eq!(show("model", "  spaced  "), "FROM   spaced  ");
    assert_eq!(show("system", "plain text"), "SYSTEM plain text");
    assert_eq!(show("template", "a\nb"), "TEMPLATE \"a\nb\"");
    assert_eq!(
        show("template", "say \"hi\"\n"),
        "TEMPLATE \"\"\"say \"hi\"\n\"\"\""
    );
    assert_eq!(show("license", " MIT"), "LICENSE \" MIT\"");
    assert_eq!(show("draft", "./d"), "DRAFT ./d");
    assert_eq!(show("requires", "0.14.0"), "REQUIRES 0.14.0");
    assert_eq!(show("message", "user: hi there"), "MESSAGE user hi there");
    assert_eq!(
        show("message", "assistant: two\nlines"),
        "MESSAGE assistant \"two\nlines\""
    );
    assert_eq!(show("stop", "<|eot_id|>"), "PARAMETER stop <|eot_id|>");
    assert_eq!(show("stop", "User: "), "PARAMETER stop \"User: \"");
    assert_eq!(show("system", "tab\tinside"), "SYSTEM tab\tinside");
    assert_eq!(quote(""), "");
}

#[test]
fn modelfile_display() {
    let mf = Modelfile {
        commands: vec![
            Command::new("model", "x"),
            Command::new("temperature", "0.7"),
        ],
    };
    assert_eq!(mf.to_string(), "FROM x\nPARAMETER temperature 0.7\n");
}

#[test]
fn round_trip() {
    let cases = [
        "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system \"\"\"\nYou are a store greeter. Always respond with \"Hello!\".\n\"\"\"\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        "\nFROM foo\nADAPTER adapter1\nLICENSE \"\"\"\nVery long and boring legal text.\nBlah blah blah.\n\"Oh look, a quote!\"\n\"\"\"\n\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system \"\"\"\nYou are a store greeter. Always respond with \"Hello!\".\n\"\"\"\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        "\nFROM foo\nSYSTEM \"\"\n",
        "FROM foo\nSYSTEM \" lead\"\nPARAMETER stop \"User: \"\nDRAFT d\nRENDERER r\nPARSER q\nREQUIRES 0.1.0\n",
    ];
    for input in cases {
        let first = parse(input).unwrap();
        let second = parse(&first.to_string()).unwrap();
        assert_eq!(first.commands.len(), second.commands.len(), "{input:?}");
        for (a, b) in first.commands.iter().zip(&second.commands) {
            assert!(a.same(b), "{a:?} vs {b:?}");
        }
    }
}

#[test]
fn never_panics_on_odd_input() {
    let inputs = [
        "\"",
        "\"\"\"",
        "#",
        "F",
        "FROM",
        "FROM \"",
        "FROM \"\"\"\"\"",
        "\r",
        "\r\r\n\n",
        "PARAMETER",
        "PARAMETER ",
        "PARAMETER x",
        "MESSAGE",
        "MESSAGE ",
        "MESSAGE user",
        "FROM x\n\u{0}\u{FFFF}",
        "FROM 😀\n😀 x",
        "FROM x\nİNPUT y",
        "\t\t",
        "FROM\t\"x\"",
    ];
    for input in inputs {
        let _ = parse(input);
        let _ = parse_bytes(input.as_bytes());
    }
    for bytes in [
        &[0xFF, 0xFE, 0x41][..],
        &[0xFE, 0xFF, 0xD8, 0x00][..],
        &[0x80, 0xFF][..],
    ] {
        let _ = parse_bytes(bytes);
    }
}
