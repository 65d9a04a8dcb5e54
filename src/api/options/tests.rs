//! Tests for `api::options`: the option table, `DefaultOptions`, `FromMap` and
//! `FormatParams` behaviour and error texts, and the Go number parsers behind them.
#![allow(clippy::unwrap_used)]

use super::goparse::{parse_bool, parse_f32, parse_i64};
use super::*;
use serde_json::json;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn fp(name: &str, vals: &[&str]) -> Result<Map<String, Value>, OptionError> {
    format_params(&[(
        name.to_string(),
        vals.iter().map(|s| s.to_string()).collect(),
    )])
}

fn fp_json(name: &str, val: &str) -> String {
    serde_json::to_string(&fp(name, &[val]).unwrap()[name]).unwrap()
}

#[test]
fn table_kinds() {
    assert_eq!(kind("num_ctx"), Some(OptionKind::Int));
    assert_eq!(kind("use_mmap"), Some(OptionKind::Bool));
    assert_eq!(kind("temperature"), Some(OptionKind::Float));
    assert_eq!(kind("stop"), Some(OptionKind::StringArray));
    assert_eq!(kind("draft_num_predict"), Some(OptionKind::Int));
    assert_eq!(kind("Temperature"), None);
    for removed in REMOVED_OPTIONS {
        assert_eq!(kind(removed), None, "{removed}");
    }
    assert_eq!(names().count(), 20);
    assert!(RUNNER_OPTIONS.iter().all(|n| kind(n).is_some()));
    assert!(is_runner_option("num_gpu") && !is_runner_option("seed"));
}

#[test]
fn deprecated_and_removed() {
    assert!(is_deprecated_parameter("mirostat"));
    assert!(!is_deprecated_parameter("numa"));
    assert!(!is_deprecated_parameter("tfs_z"));
    assert!(is_removed("numa") && is_removed("tfs_z") && is_removed("penalize_newline"));
    assert!(DEPRECATED_PARAMETERS.iter().all(|d| is_removed(d)));
}

#[test]
fn defaults_match_ollama() {
    let o = Options::default();
    assert_eq!(o.num_ctx, 4096);
    assert_eq!(o.num_batch, 512);
    assert_eq!(o.num_gpu, -1);
    assert_eq!(o.num_thread, 0);
    assert_eq!(o.seed, -1);
    assert_eq!(o.temperature, 0.8);
    assert_eq!(o.top_k, 40);
    assert_eq!(o.top_p, 0.9);
    assert_eq!(o.min_p, 0.0);
    assert_eq!(o.typical_p, 1.0);
    assert_eq!(o.repeat_last_n, 64);
    assert_eq!(o.repeat_penalty, 1.0);
    assert_eq!(o.presence_penalty, 0.0);
    assert_eq!(o.frequency_penalty, 0.0);
    assert_eq!(o.num_keep, 4);
    assert_eq!(o.num_predict, -1);
    assert!(o.stop.is_empty());
    assert_eq!(o.use_mmap, None);
}

#[test]
fn serde_round_trip_and_missing_fields() {
    let o = Options {
        temperature: 0.0,
        use_mmap: Some(false),
        ..Default::default()
    };
    let back: Options = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
    assert_eq!(back, o);
    let partial: Options = serde_json::from_str(r#"{"top_k":7}"#).unwrap();
    assert_eq!(partial.top_k, 7);
    assert_eq!(partial.num_batch, 512);
    assert!(
        !serde_json::to_string(&Options::default())
            .unwrap()
            .contains("use_mmap")
    );
}

#[test]
fn apply_map_types() {
    let mut o = Options::default();
    let unknown = o
        .apply_map(&obj(json!({
            "num_ctx": 8192,
            "top_k": 12.9,
            "seed": -3.7,
            "temperature": 0.25,
            "top_p": 1,
            "use_mmap": false,
            "stop": ["a", "b"],
        })))
        .unwrap();
    assert!(unknown.is_empty());
    assert_eq!(o.num_ctx, 8192);
    assert_eq!(o.top_k, 12, "floats truncate toward zero");
    assert_eq!(o.seed, -3);
    assert_eq!(o.temperature, 0.25);
    assert_eq!(o.top_p, 1.0);
    assert_eq!(o.use_mmap, Some(false));
    assert_eq!(o.stop, vec!["a", "b"]);
}

#[test]
fn apply_map_float_is_rounded_to_f32() {
    let mut o = Options::default();
    o.apply_map(&obj(json!({"temperature": 0.1}))).unwrap();
    assert_eq!(o.temperature, 0.1f32);
}

#[test]
fn apply_map_out_of_range_int_is_go_amd64() {
    let mut o = Options::default();
    o.apply_map(&obj(json!({"num_ctx": 1e300}))).unwrap();
    assert_eq!(o.num_ctx, i64::MIN);
    o.apply_map(&obj(json!({"num_ctx": 18446744073709551615u64})))
        .unwrap();
    assert_eq!(o.num_ctx, i64::MIN);
    // Integers above 2^53 pass through float64 as in Go.
    o.apply_map(&obj(json!({"seed": 9007199254740993i64})))
        .unwrap();
    assert_eq!(o.seed, 9007199254740992);
}

#[test]
fn apply_map_nulls_removed_and_unknown() {
    let mut o = Options::default();
    let unknown = o
        .apply_map(&obj(json!({
            "temperature": null,
            "numa": true,
            "penalize_newline": "anything",
            "tfs_z": 1.0,
            "bogus": 1,
            "Temperature": 0.1,
        })))
        .unwrap();
    assert_eq!(unknown, vec!["bogus", "Temperature"]);
    assert_eq!(o, Options::default());
}

#[test]
fn apply_map_errors_exact_text() {
    let cases = [
        (
            json!({"top_k": "1"}),
            r#"option "top_k" must be of type integer"#,
        ),
        (
            json!({"top_k": true}),
            r#"option "top_k" must be of type integer"#,
        ),
        (
            json!({"temperature": "hot"}),
            r#"option "temperature" must be of type float32"#,
        ),
        (
            json!({"use_mmap": 1}),
            r#"option "use_mmap" must be of type boolean"#,
        ),
        (
            json!({"stop": "x"}),
            r#"option "stop" must be of type array"#,
        ),
        (
            json!({"stop": ["x", 1]}),
            r#"option "stop" must be of an array of strings"#,
        ),
    ];
    for (input, want) in cases {
        let err = Options::default().apply_map(&obj(input)).unwrap_err();
        assert_eq!(err.to_string(), want);
    }
    assert_eq!(
        OptionError::NotString("x".into()).to_string(),
        r#"option "x" must be of type string"#
    );
}

#[test]
fn apply_map_keeps_earlier_keys_on_error() {
    let mut o = Options::default();
    assert!(o.apply_map(&obj(json!({"top_k": 3, "seed": "x"}))).is_err());
    assert_eq!(o.top_k, 3);
}

#[test]
fn format_params_types() {
    let m = fp("temperature", &["0.7"]).unwrap();
    assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"temperature":0.7}"#);
    assert_eq!(fp_json("top_k", "1"), "1");
    assert_eq!(fp_json("seed", "-42"), "-42");
    assert_eq!(fp_json("use_mmap", "T"), "true");
    assert_eq!(fp_json("stop", "<|eot_id|>"), r#"["<|eot_id|>"]"#);
    let stops = fp("stop", &["a", "b c"]).unwrap();
    assert_eq!(stops["stop"], json!(["a", "b c"]));
}

#[test]
fn format_params_float_json_like_go() {
    assert_eq!(fp_json("temperature", "0.7"), "0.7");
    assert_eq!(fp_json("temperature", "1"), "1");
    assert_eq!(fp_json("temperature", "1.0"), "1");
    assert_eq!(fp_json("top_p", "0.95"), "0.95");
    assert_eq!(fp_json("min_p", "0.05"), "0.05");
    assert_eq!(fp_json("repeat_penalty", "1.1"), "1.1");
    // More digits than float32 holds collapse to float32's shortest form.
    assert_eq!(fp_json("temperature", "0.123456789"), "0.12345679");
    assert_eq!(fp_json("temperature", "100000"), "100000");
    assert_eq!(fp_json("temperature", "-2.5"), "-2.5");
}

#[test]
fn format_params_errors_exact_text() {
    let err = |n: &str, v: &[&str]| fp(n, v).unwrap_err().to_string();
    assert_eq!(err("numa", &["true"]), "unknown parameter 'numa'");
    assert_eq!(err("tfs_z", &["1"]), "unknown parameter 'tfs_z'");
    assert_eq!(err("mirostat", &["1"]), "unknown parameter 'mirostat'");
    assert_eq!(err("", &["1"]), "unknown parameter ''");
    assert_eq!(err("top_k", &["1.5"]), "invalid int value [1.5]");
    assert_eq!(err("top_k", &["a", "b"]), "invalid int value [a b]");
    assert_eq!(err("temperature", &["hot"]), "invalid float value [hot]");
    assert_eq!(err("temperature", &["1e39"]), "invalid float value [1e39]");
    assert_eq!(err("use_mmap", &["yes"]), "invalid bool value [yes]");
    assert_eq!(err("top_k", &[]), "invalid int value []");
    assert_eq!(
        err("temperature", &["inf"]),
        "json: unsupported value: +Inf"
    );
    assert_eq!(
        err("temperature", &["-Infinity"]),
        "json: unsupported value: -Inf"
    );
    assert_eq!(err("temperature", &["NaN"]), "json: unsupported value: NaN");
}

#[test]
fn format_params_first_value_only_but_all_in_errors() {
    assert_eq!(fp_json("top_k", "5"), "5");
    let m = fp("top_k", &["5", "junk"]).unwrap();
    assert_eq!(m["top_k"], json!(5));
}

#[test]
fn format_params_later_duplicate_wins_and_order_kept() {
    let m = format_params(&[
        ("top_k".into(), vec!["1".into()]),
        ("seed".into(), vec!["2".into()]),
        ("top_k".into(), vec!["3".into()]),
    ])
    .unwrap();
    assert_eq!(
        serde_json::to_string(&m).unwrap(),
        r#"{"top_k":3,"seed":2}"#
    );
}

#[test]
fn go_parse_bool() {
    for t in ["1", "t", "T", "TRUE", "true", "True"] {
        assert_eq!(parse_bool(t), Some(true), "{t}");
    }
    for f in ["0", "f", "F", "FALSE", "false", "False"] {
        assert_eq!(parse_bool(f), Some(false), "{f}");
    }
    for bad in ["", "yes", "tRUE", "on", " true", "2"] {
        assert_eq!(parse_bool(bad), None, "{bad}");
    }
}

#[test]
fn go_parse_int() {
    assert_eq!(parse_i64("42"), Some(42));
    assert_eq!(parse_i64("+7"), Some(7));
    assert_eq!(parse_i64("-0"), Some(0));
    assert_eq!(parse_i64("9223372036854775807"), Some(i64::MAX));
    for bad in [
        "",
        "+",
        "-",
        "1_000",
        "0x10",
        "1.0",
        " 1",
        "9223372036854775808",
        "+-1",
    ] {
        assert_eq!(parse_i64(bad), None, "{bad}");
    }
}

#[test]
fn go_parse_float_decimal() {
    assert_eq!(parse_f32("0.7"), Some(0.7));
    assert_eq!(parse_f32(".5"), Some(0.5));
    assert_eq!(parse_f32("5."), Some(5.0));
    assert_eq!(parse_f32("+1e2"), Some(100.0));
    assert_eq!(parse_f32("-1E-2"), Some(-0.01));
    assert_eq!(parse_f32("1e-50"), Some(0.0), "underflow is not an error");
    assert_eq!(parse_f32("3.4028235e38"), Some(f32::MAX));
    for bad in [
        "", ".", "e5", "1e", "1e+", "+-1", "--1", "1.2.3", " 1", "1 ", "abc", "3.5e38",
    ] {
        assert_eq!(parse_f32(bad), None, "{bad}");
    }
}

#[test]
fn go_parse_float_underscores() {
    assert_eq!(parse_f32("1_000"), Some(1000.0));
    assert_eq!(parse_f32("1_23.50_0_0e+1_2"), Some(1.235e14));
    for bad in [
        "_1", "-_1", "1__2", "1_", "123_.5", "123._5", "123.5_e1", "1e_1", "1e+_1", "1e1_",
    ] {
        assert_eq!(parse_f32(bad), None, "{bad}");
    }
}

#[test]
fn go_parse_float_special() {
    assert_eq!(parse_f32("inf"), Some(f32::INFINITY));
    assert_eq!(parse_f32("+Inf"), Some(f32::INFINITY));
    assert_eq!(parse_f32("-INFINITY"), Some(f32::NEG_INFINITY));
    assert!(parse_f32("NaN").is_some_and(f32::is_nan));
    for bad in ["+nan", "-nan", "infin", "nana", "in", "-"] {
        assert_eq!(parse_f32(bad), None, "{bad}");
    }
}

#[test]
fn go_parse_float_hex() {
    assert_eq!(parse_f32("0x1p-2"), Some(0.25));
    assert_eq!(parse_f32("0X1.8P1"), Some(3.0));
    assert_eq!(parse_f32("-0x.8p0"), Some(-0.5));
    assert_eq!(parse_f32("0x_1p0"), Some(1.0));
    assert_eq!(parse_f32("0x1p-149"), Some(f32::from_bits(1)));
    assert_eq!(parse_f32("0x1p-151"), Some(0.0));
    assert_eq!(parse_f32("0x1.fffffep127"), Some(f32::MAX));
    assert_eq!(
        parse_f32("0x1.ffffffp127"),
        None,
        "rounds past MAX: range error"
    );
    assert_eq!(parse_f32("0x1p128"), None);
    // Ties go to even; anything past the tie rounds up.
    assert_eq!(parse_f32("0x1.000001p0"), Some(1.0));
    assert_eq!(parse_f32("0x1.000003p0"), Some(1.0 + 2.0 * f32::EPSILON));
    assert_eq!(
        parse_f32("0x1.0000010000000000001p0"),
        Some(1.0 + f32::EPSILON)
    );
    assert_eq!(parse_f32("0x00000000000000000001p0"), Some(1.0));
    for bad in [
        "0x",
        "0x1",
        "0x1.8",
        "0xp1",
        "0x1p",
        "0x1p+",
        "0x1pz",
        "0x1.2.3p0",
        "0xg1p0",
    ] {
        assert_eq!(parse_f32(bad), None, "{bad}");
    }
}
