//! Issue 11: safe to expose. The browser policy (CORS and the Host check, as Ollama's), the
//! body limit, and API keys with scopes, all through real HTTP against the real server.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

/// One raw HTTP/1.1 exchange (`Connection: close`): status, head and body as text.
fn raw(s: &Server, head: &str, body: &str) -> (u16, String, String) {
    let mut c = std::net::TcpStream::connect(s.host()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(c, "{head}Connection: close\r\n\r\n{body}").unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split(' ').nth(1).unwrap_or("0").parse().unwrap();
    (status, head.to_lowercase(), body.to_string())
}

fn has_model(s: &Server, name: &str) -> bool {
    let out = s.cli(&["show", name, "--modelfile"]);
    out.status.success()
}

#[test]
fn a_cross_site_page_cannot_use_the_server_but_local_pages_can() {
    let s = Server::start_env(&[("OLLAMA_ORIGINS", "https://*.example.com")]);
    let host = s.host();
    // The `text/plain` POST a browser sends without a preflight, from a page elsewhere.
    let copy = format!(r#"{{"source": "{MODEL}", "destination": "stolen"}}"#);
    let (status, head, body) = raw(
        &s,
        &format!(
            "POST /api/copy HTTP/1.1\r\nHost: {host}\r\nOrigin: https://evil.example\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n",
            copy.len()
        ),
        &copy,
    );
    assert_eq!((status, body.as_str()), (403, ""), "{head}");
    assert!(!has_model(&s, "stolen"), "the handler never ran");
    // Unknown routes are guarded too.
    let (status, _, _) = raw(
        &s,
        &format!("GET /nope HTTP/1.1\r\nHost: {host}\r\nOrigin: https://evil.example\r\n"),
        "",
    );
    assert_eq!(status, 403);

    // A local page's preflight, then its request.
    let (status, head, body) = raw(
        &s,
        &format!(
            "OPTIONS /api/chat HTTP/1.1\r\nHost: {host}\r\nOrigin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\n"
        ),
        "",
    );
    assert_eq!((status, body.as_str()), (204, ""));
    for h in [
        "access-control-allow-origin: http://localhost:3000",
        "access-control-allow-methods: get,post,put,patch,delete,head,options",
        "access-control-max-age: 43200",
        "vary: access-control-request-headers",
    ] {
        assert!(head.contains(h), "{h}: {head}");
    }
    assert!(head.contains("x-stainless-timeout"), "{head}");
    for origin in [
        "http://127.0.0.1:8080",
        "app://desktop",
        "https://app.example.com",
    ] {
        let (status, head, _) = raw(
            &s,
            &format!("GET /api/version HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n"),
            "",
        );
        assert_eq!(status, 200, "{origin}");
        assert!(
            head.contains(&format!("access-control-allow-origin: {origin}")),
            "{origin}: {head}"
        );
        assert!(head.contains("vary: origin"), "{head}");
    }
    // The same origin as the Host is not cross-site.
    let (status, head, _) = raw(
        &s,
        &format!("GET /api/version HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n"),
        "",
    );
    assert_eq!(status, 200);
    assert!(!head.contains("access-control-allow-origin"), "{head}");
}

#[test]
fn dns_rebinding_is_refused_on_loopback_only() {
    let s = Server::start();
    let port = s.host().rsplit(':').next().unwrap().to_string();
    for (host, want) in [
        ("evil.example".to_string(), 403),
        (format!("evil.example:{port}"), 403),
        ("localhost.".to_string(), 403),
        (format!("localhost:{port}"), 200),
        ("LOCALHOST".to_string(), 200),
        ("box.local".to_string(), 200),
        ("host.docker.internal".to_string(), 200),
        (format!("[::1]:{port}"), 200),
        ("192.168.1.5".to_string(), 200),
    ] {
        let (status, _, body) = raw(
            &s,
            &format!("GET /api/tags HTTP/1.1\r\nHost: {host}\r\n"),
            "",
        );
        assert_eq!(status, want, "Host: {host}");
        if want == 403 {
            assert_eq!(body, "", "an empty 403");
        }
    }
    // Bound to every interface, the server is meant to be reached by name: no check.
    let open = Server::start_env(&[("OLLAMA_HOST", "0.0.0.0:0")]);
    let (status, _, _) = raw(
        &open,
        "GET /api/tags HTTP/1.1\r\nHost: evil.example\r\n",
        "",
    );
    assert_eq!(status, 200);
}

#[test]
fn a_bad_origins_setting_stops_the_start() {
    let dir = tempdir();
    for (origins, error) in [
        (
            "example.com",
            "Error: bad origin: origins must contain '*' or include http://,https://,chrome-extension://,safari-extension://,moz-extension://,ms-browser-extension://\n",
        ),
        ("http://*.*", "Error: only one * is allowed\n"),
    ] {
        let out = Command::new(BIN)
            .arg("serve")
            .env("OLLAMA_HOST", "127.0.0.1:0")
            .env("OLLAMA_MODELS", dir.path().join("models"))
            .env("HOME", dir.path())
            .env("OLLAMA_ORIGINS", origins)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{origins}");
        assert!(stderr(&out).ends_with(error), "{}", stderr(&out));
    }
}

#[test]
fn oversized_bodies_are_a_413_in_the_family_shape() {
    let s = Server::start();
    let host = s.host();
    let huge = 300u64 << 20;
    for (path, want) in [
        (
            "/api/generate",
            json!({"error": "request body too large: the limit is 268435456 bytes"}),
        ),
        (
            "/v1/chat/completions",
            json!({"error": {"message": "request body too large: the limit is 268435456 bytes",
                   "type": "invalid_request_error", "param": null, "code": null}}),
        ),
    ] {
        let (status, _, body) = raw(
            &s,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {huge}\r\n"
            ),
            "",
        );
        assert_eq!(status, 413, "{path}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), want);
    }
}

async fn status_with(
    s: &Server,
    method: &str,
    path: &str,
    key: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut r = http().request(method.parse().unwrap(), s.url(path));
    if let Some((header, value)) = key {
        r = r.header(header, value);
    }
    if method == "POST" {
        r = r.json(&json!({"source": MODEL, "destination": "copied"}));
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_have_scopes_and_every_client_can_send_them() {
    let dir = tempdir();
    let file = dir.path().join("keys");
    std::fs::write(&file, "# operators\nadmin:ops-key\n").unwrap();
    let s = Server::start_env(&[
        ("ROLLAMA_API_KEYS", "inference:reader-key"),
        ("ROLLAMA_API_KEYS_FILE", file.to_str().unwrap()),
    ]);
    let bearer = |k: &'static str| Some(("authorization", k));
    let unauthorized = "unauthorized: a valid API key is required";
    // No key, a wrong one: 401 in each family's shape. The root stays open for health checks.
    assert_eq!(status_with(&s, "GET", "/", None).await.0, 200);
    assert_eq!(
        status_with(&s, "GET", "/api/tags", None).await,
        (401, json!({"error": unauthorized}))
    );
    assert_eq!(
        status_with(&s, "GET", "/api/tags", bearer("Bearer wrong")).await,
        (401, json!({"error": unauthorized}))
    );
    assert_eq!(
        status_with(&s, "GET", "/v1/models", None).await,
        (
            401,
            json!({"error": {"message": unauthorized, "type": "authentication_error", "param": null, "code": null}})
        )
    );
    assert_eq!(
        status_with(&s, "POST", "/v1/messages", None).await,
        (
            401,
            json!({"type": "error", "error": {"type": "authentication_error", "message": unauthorized}})
        )
    );
    // The inference key reads and generates, but cannot change the store.
    assert_eq!(
        status_with(&s, "GET", "/api/tags", bearer("Bearer reader-key"))
            .await
            .0,
        200
    );
    assert_eq!(
        status_with(&s, "GET", "/v1/models", Some(("x-api-key", "reader-key")))
            .await
            .0,
        200
    );
    assert_eq!(
        status_with(&s, "POST", "/api/copy", bearer("Bearer reader-key")).await,
        (
            403,
            json!({"error": "forbidden: this API key lacks the admin scope"})
        )
    );
    // The admin key (from the file) can.
    assert_eq!(
        status_with(&s, "POST", "/api/copy", bearer("Bearer ops-key"))
            .await
            .0,
        200
    );

    // The CLI sends OLLAMA_API_KEY, as the official clients do.
    let out = s
        .command(&["list"])
        .env("OLLAMA_API_KEY", "reader-key")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("copied"), "{}", stdout(&out));
    let out = s.cli(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), format!("Error: {unauthorized}\n"));

    // So does the official ollama Python client, with nothing but the variable set.
    let script = "import ollama, sys\nc = ollama.Client(host=sys.argv[1])\ntry:\n    print(len(c.list().models))\nexcept ollama.ResponseError as e:\n    print('status', e.status_code)\n";
    let py = |key: Option<&str>| {
        let mut c = Command::new(crate::clients::python());
        c.args(["-c", script, &s.base]).env_remove("OLLAMA_API_KEY");
        if let Some(k) = key {
            c.env("OLLAMA_API_KEY", k);
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    };
    assert_eq!(py(Some("reader-key")), "2");
    assert_eq!(py(None), "status 401");

    // SIGHUP re-reads the file.
    std::fs::write(&file, "inference:new-key\n").unwrap();
    assert_eq!(
        status_with(&s, "GET", "/api/tags", bearer("Bearer new-key"))
            .await
            .0,
        401
    );
    Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while status_with(&s, "GET", "/api/tags", bearer("Bearer new-key"))
        .await
        .0
        != 200
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the new key never worked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A key taken out of the file is gone; the variable's keys stay.
    assert_eq!(
        status_with(&s, "GET", "/api/tags", bearer("Bearer ops-key"))
            .await
            .0,
        401
    );
    assert_eq!(
        status_with(&s, "GET", "/api/tags", bearer("Bearer reader-key"))
            .await
            .0,
        200
    );

    // Keys never reach the log.
    let log = s.log_text();
    for k in ["reader-key", "ops-key", "new-key"] {
        assert!(!log.contains(k), "{k} logged");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokenize_and_detokenize_round_trip() {
    let s = Server::start();
    let (status, t) = post(
        &s,
        "/api/tokenize",
        json!({"model": MODEL, "content": "Hello world<start_of_turn>"}),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["model"], MODEL);
    let tokens: Vec<i64> = t["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(
        tokens.first(),
        Some(&2),
        "BOS first, as in a prompt: {tokens:?}"
    );
    assert_eq!(
        tokens.last(),
        Some(&105),
        "special-token text is its token: {tokens:?}"
    );
    let (status, d) = post(
        &s,
        "/api/detokenize",
        json!({"model": MODEL, "tokens": tokens}),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    // BOS goes (llama.cpp drops it), control tokens stay as their text.
    assert_eq!(d["content"], "Hello world<start_of_turn>");
    let (status, e) = post(&s, "/api/tokenize", json!({"content": "x"})).await;
    assert_eq!((status, e), (400, json!({"error": "model is required"})));
    let (status, e) = post(
        &s,
        "/api/detokenize",
        json!({"model": "nope", "tokens": [1]}),
    )
    .await;
    assert_eq!(
        (status, e),
        (404, json!({"error": "model 'nope' not found"}))
    );
}

/// A test CA and a server certificate it signed for 127.0.0.1 and localhost, made with the
/// openssl CLI: (CA certificate, server certificate, server key).
fn make_cert(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is needed (scripts/test.sh installs it)");
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    let rsa = ["-newkey", "rsa:2048", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &rsa,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=rollama test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &rsa,
        &[
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_terminates_tls_with_the_certificate_it_is_given() {
    let dir = tempdir();
    let (ca, cert, key) = make_cert(dir.path());
    let s = Server::start_env(&[
        ("ROLLAMA_TLS_CERT", cert.to_str().unwrap()),
        ("ROLLAMA_TLS_KEY", key.to_str().unwrap()),
    ]);
    assert!(s.log_text().contains("over TLS"), "{}", s.log_text());
    let pem = std::fs::read(&ca).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let url = format!("https://{}/api/generate", s.host());
    let r = client
        .post(&url)
        .json(&json!({"model": MODEL, "prompt": "Hi", "stream": false, "options": {"num_predict": 3}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["done"], true, "{v}");
    // Plain HTTP to the TLS port gets no answer, and a client that does not trust the
    // certificate refuses it.
    assert!(http().get(s.url("/api/version")).send().await.is_err());
    assert!(
        reqwest::Client::new()
            .get(format!("https://{}/api/version", s.host()))
            .send()
            .await
            .is_err()
    );

    // A key that does not match the certificate, or only one of the two, stops the start.
    let other = tempdir();
    let (_, _, wrong_key) = make_cert(other.path());
    for env in [
        vec![
            ("ROLLAMA_TLS_CERT", cert.to_str().unwrap()),
            ("ROLLAMA_TLS_KEY", wrong_key.to_str().unwrap()),
        ],
        vec![("ROLLAMA_TLS_CERT", cert.to_str().unwrap())],
    ] {
        let mut c = Command::new(BIN);
        c.arg("serve")
            .env("OLLAMA_HOST", "127.0.0.1:0")
            .env("OLLAMA_MODELS", other.path().join("models"))
            .env("HOME", other.path());
        for (k, v) in &env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{env:?}");
        assert!(
            stderr(&out).contains("Error: ROLLAMA_TLS_"),
            "{}",
            stderr(&out)
        );
    }
}
