//! Tests for `Modelfile::create_parts` (Ollama's `CreateRequest` minus the
//! filesystem) and the REQUIRES semver rules.
#![allow(clippy::unwrap_used)]

use super::semver::is_valid;
use super::*;
use serde_json::json;

fn parts(text: &str) -> CreateParts {
    parse(text).unwrap().create_parts(|_| {}).unwrap()
}

fn create_err(text: &str) -> CreateError {
    parse(text).unwrap().create_parts(|_| {}).unwrap_err()
}

#[test]
fn from_only() {
    let p = parts("FROM test");
    assert_eq!(
        p.from(),
        Some(&Located {
            value: "test".into(),
            line: 1
        })
    );
    assert_eq!(
        p,
        CreateParts {
            models: p.models.clone(),
            ..Default::default()
        }
    );
}

#[test]
fn ollama_create_request_cases() {
    let p = parts("FROM test\nTEMPLATE some template\n");
    assert_eq!(p.template.as_deref(), Some("some template"));

    let p =
        parts("FROM test\nLICENSE single license\nPARAMETER temperature 0.5\nMESSAGE user Hello\n");
    assert_eq!(p.license, vec!["single license"]);
    assert_eq!(
        serde_json::Value::Object(p.parameters),
        json!({"temperature": 0.5})
    );
    assert_eq!(p.messages, vec![("user".to_string(), "Hello".to_string())]);

    let p = parts(
        "FROM test\nPARAMETER temperature 0.5\nPARAMETER top_k 1\nSYSTEM You are a bot.\nLICENSE license1\nLICENSE license2\nMESSAGE user Hello there!\nMESSAGE assistant Hi! How are you?\n",
    );
    assert_eq!(p.license, vec!["license1", "license2"]);
    assert_eq!(p.system.as_deref(), Some("You are a bot."));
    assert_eq!(
        serde_json::to_string(&p.parameters).unwrap(),
        r#"{"temperature":0.5,"top_k":1}"#
    );
    assert_eq!(
        p.messages,
        vec![
            ("user".to_string(), "Hello there!".to_string()),
            ("assistant".to_string(), "Hi! How are you?".to_string()),
        ]
    );
}

#[test]
fn stop_accumulates_and_keys_are_sorted() {
    let p = parts(
        "FROM x\nPARAMETER top_p 0.9\nPARAMETER stop foo\nPARAMETER seed 42\nPARAMETER stop bar\nPARAMETER stop \"<|eot_id|>\"",
    );
    assert_eq!(
        serde_json::to_string(&p.parameters).unwrap(),
        r#"{"seed":42,"stop":["foo","bar","<|eot_id|>"],"top_p":0.9}"#
    );
}

#[test]
fn parameter_last_wins() {
    let p = parts("FROM x\nPARAMETER temperature 0.1\nPARAMETER temperature 1");
    assert_eq!(
        serde_json::to_string(&p.parameters).unwrap(),
        r#"{"temperature":1}"#
    );
}

#[test]
fn deprecated_parameters_warn_in_order_and_are_dropped() {
    let mf =
        parse("FROM x\nPARAMETER mirostat 2\nPARAMETER top_k 3\nPARAMETER use_mlock true").unwrap();
    let mut warnings = Vec::new();
    let p = mf.create_parts(|w| warnings.push(w.to_string())).unwrap();
    assert_eq!(
        warnings,
        vec![
            "warning: parameter mirostat is deprecated",
            "warning: parameter use_mlock is deprecated",
        ]
    );
    assert_eq!(serde_json::Value::Object(p.parameters), json!({"top_k": 3}));
}

#[test]
fn warnings_before_a_later_error_are_still_emitted() {
    let mf = parse("FROM x\nPARAMETER f16_kv true\nPARAMETER numa true").unwrap();
    let mut warnings = Vec::new();
    let e = mf
        .create_parts(|w| warnings.push(w.to_string()))
        .unwrap_err();
    assert_eq!(warnings, vec!["warning: parameter f16_kv is deprecated"]);
    assert_eq!(e.to_string(), "unknown parameter 'numa'");
}

#[test]
fn parameter_errors_have_ollama_text_and_our_line() {
    let e = create_err("FROM x\n\nPARAMETER tfs_z 1");
    assert_eq!(e.to_string(), "unknown parameter 'tfs_z'");
    assert_eq!(e.line(), 3);
    assert_eq!(
        create_err("FROM x\nPARAMETER top_k 0.5").to_string(),
        "invalid int value [0.5]"
    );
    assert_eq!(
        create_err("FROM x\nPARAMETER temperature warm").to_string(),
        "invalid float value [warm]"
    );
    assert_eq!(
        create_err("FROM x\nPARAMETER use_mmap yes").to_string(),
        "invalid bool value [yes]"
    );
    assert_eq!(
        create_err("FROM x\nPARAMETER Temperature 1").to_string(),
        "unknown parameter 'Temperature'"
    );
    assert_eq!(
        create_err("FROM x\nPARAMETER  temperature 1").to_string(),
        "unknown parameter ''"
    );
    assert_eq!(
        create_err("FROM x\nPARAMETER stop \"a\"\nPARAMETER seed x").to_string(),
        "invalid int value [x]"
    );
}

#[test]
fn first_error_in_command_order_wins() {
    let e = create_err("FROM x\nREQUIRES nope\nPARAMETER numa 1");
    assert_eq!(
        e.to_string(),
        "requires must be a valid semver (e.g. 0.14.0)"
    );
    let e = create_err("FROM x\nPARAMETER numa 1\nREQUIRES nope");
    assert_eq!(e.to_string(), "unknown parameter 'numa'");
}

#[test]
fn requires() {
    assert_eq!(
        parts("FROM x\nREQUIRES 0.14.0").requires.as_deref(),
        Some("0.14.0")
    );
    assert_eq!(
        parts("FROM x\nREQUIRES v0.14.0").requires.as_deref(),
        Some("0.14.0")
    );
    assert_eq!(parts("FROM x\nREQUIRES 1").requires.as_deref(), Some("1"));
    // Go's semver takes the vMAJOR.MINOR shorthand too.
    assert_eq!(
        parts("FROM x\nREQUIRES 0.14").requires.as_deref(),
        Some("0.14")
    );
    assert_eq!(
        parts("FROM x\nREQUIRES 0.15.0-rc1+build.5")
            .requires
            .as_deref(),
        Some("0.15.0-rc1+build.5")
    );
    for bad in [
        "x", "01.2.3", "1.2.3.4", "vv1.2.3", "1.2-rc1", "\"\"", "1.2.3-01", "1.2.3+",
    ] {
        let e = create_err(&format!("FROM x\nREQUIRES {bad}"));
        assert_eq!(
            e.to_string(),
            "requires must be a valid semver (e.g. 0.14.0)",
            "{bad}"
        );
        assert!(matches!(e, CreateError::Requires { line: 2, .. }));
    }
}

#[test]
fn go_semver_rules() {
    for ok in [
        "v1",
        "v1.2",
        "v1.2.3",
        "v0.0.0",
        "v1.2.3-rc.1",
        "v1.2.3-0",
        "v1.2.3-x-y",
        "v1.2.3+001",
        "v1.2.3-a+b.c",
    ] {
        assert!(is_valid(ok), "{ok}");
    }
    for bad in [
        "",
        "1.2.3",
        "v",
        "v01",
        "v1.02",
        "v1.2.03",
        "v1-rc",
        "v1.2-rc",
        "v1.2.3-",
        "v1.2.3-a..b",
        "v1.2.3-01",
        "v1.2.3+a+b",
        "v1.2.3 ",
        "v1.2.3_x",
        "v1..2",
    ] {
        assert!(!is_valid(bad), "{bad}");
    }
}

#[test]
fn singletons_last_wins_and_empty_means_unset() {
    let p =
        parts("FROM x\nSYSTEM one\nSYSTEM two\nTEMPLATE t\nTEMPLATE \"\"\nRENDERER r\nPARSER q");
    assert_eq!(p.system.as_deref(), Some("two"));
    assert_eq!(p.template, None);
    assert_eq!(p.renderer.as_deref(), Some("r"));
    assert_eq!(p.parser.as_deref(), Some("q"));
}

#[test]
fn licenses_keep_empties() {
    assert_eq!(
        parts("FROM x\nLICENSE \"\"\nLICENSE b").license,
        vec!["", "b"]
    );
}

#[test]
fn paths_are_collected_in_order_with_lines() {
    let p = parts("FROM ./a.gguf\nADAPTER ./lora.gguf\nFROM llama3\nDRAFT ./small");
    let values = |v: &[Located]| {
        v.iter()
            .map(|l| (l.value.clone(), l.line))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        values(&p.models),
        vec![("./a.gguf".into(), 1), ("llama3".into(), 3)]
    );
    assert_eq!(values(&p.adapters), vec![("./lora.gguf".into(), 2)]);
    assert_eq!(values(&p.drafts), vec![("./small".into(), 4)]);
    assert_eq!(p.from().map(|l| l.value.as_str()), Some("llama3"));
}

#[test]
fn messages_split_on_first_colon_space() {
    let p = parts("FROM x\nMESSAGE user a: b: c");
    assert_eq!(
        p.messages,
        vec![("user".to_string(), "a: b: c".to_string())]
    );
    let hand = Modelfile {
        commands: vec![
            Command::new("model", "x"),
            Command::new("message", "nocolon"),
        ],
    };
    assert_eq!(
        hand.create_parts(|_| {}).unwrap().messages,
        vec![("nocolon".to_string(), String::new())]
    );
}
