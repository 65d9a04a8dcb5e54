//! Image paths in a prompt, as Ollama's CLI picks them up for vision models (`rollama run m
//! "what is in ./photo.png"` and REPL lines): a word that starts with `/`, `./`, `../` or
//! `~/` and ends in `.jpg`, `.jpeg`, `.png` or `.webp` (any case), quoted or with
//! backslash-escaped spaces, is read, checked (a JPEG, PNG or WebP by its bytes, at most
//! 100 MB), cut from the text and sent as an image; stderr says `Added image '<path>'`. Beyond
//! Ollama, which skips a path it cannot read, a missing or unreadable file is an error.

use std::path::PathBuf;

use super::CliError;

const EXTENSIONS: [&str; 4] = [".jpg", ".jpeg", ".png", ".webp"];
const MAX_BYTES: u64 = 100 * 1000 * 1000;

/// The prompt without its image paths, and the images (base64) in order.
pub fn extract(prompt: &str) -> Result<(String, Vec<String>), CliError> {
    let mut text = String::new();
    let mut images = Vec::new();
    for (raw, path) in words(prompt) {
        match path.filter(|p| is_image_path(p)) {
            Some(p) => {
                images.push(read(&p)?);
                eprintln!("Added image '{p}'");
            }
            None => {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&raw);
            }
        }
    }
    if images.is_empty() {
        return Ok((prompt.to_string(), images));
    }
    Ok((text.trim().to_string(), images))
}

/// The prompt's words: each as written, and unquoted and unescaped when it could be a path.
fn words(prompt: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut chars = prompt.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut raw = String::new();
        let mut value = String::new();
        if c == '\'' || c == '"' {
            chars.next();
            raw.push(c);
            for d in chars.by_ref() {
                raw.push(d);
                if d == c {
                    break;
                }
                value.push(d);
            }
        } else {
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() {
                    break;
                }
                chars.next();
                raw.push(d);
                if d == '\\'
                    && let Some(&e) = chars.peek()
                {
                    chars.next();
                    raw.push(e);
                    value.push(e);
                    continue;
                }
                value.push(d);
            }
        }
        let pathlike = ["/", "./", "../", "~/"]
            .iter()
            .any(|p| value.starts_with(p));
        // A path at the end of a sentence: `./a.png?`.
        let trimmed = value.trim_end_matches(['?', '!', ',', ';', ':', ')']);
        if pathlike && !is_image_path(&value) && is_image_path(trimmed) {
            value.truncate(trimmed.len());
        }
        out.push((raw, pathlike.then_some(value)));
    }
    out
}

/// Ends in an image extension Ollama's CLI picks up.
pub fn is_image_path(p: &str) -> bool {
    let lower = p.to_ascii_lowercase();
    EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

/// The file at `path` as base64, if it is an image of a type Ollama accepts.
fn read(path: &str) -> Result<String, CliError> {
    use base64::Engine as _;
    let full = match path.strip_prefix("~/") {
        Some(rest) => dirs::home_dir().unwrap_or_default().join(rest),
        None => PathBuf::from(path),
    };
    let fail = |e: String| CliError(format!("couldn't read image '{path}': {e}"));
    let size = std::fs::metadata(&full)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if size > MAX_BYTES {
        return Err(fail("file size exceeds maximum limit (100MB)".to_string()));
    }
    let data = std::fs::read(&full).map_err(|e| fail(e.to_string()))?;
    let kind = sniff(&data);
    if !matches!(kind, "image/jpeg" | "image/png" | "image/webp") {
        return Err(fail(format!("invalid file type: {kind}")));
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(&data))
}

/// The file's type by its first bytes, as Go's `http.DetectContentType` names the ones that
/// matter here.
fn sniff(data: &[u8]) -> &'static str {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        "image/webp"
    } else if std::str::from_utf8(data).is_ok() {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_found_quoted_escaped_or_plain() {
        let w = words(r#"what is in ./a.png and '/tmp/my pic.JPG' or /x/b\ c.webp? ./notes.txt"#);
        let paths: Vec<String> = w
            .iter()
            .filter_map(|(_, p)| p.clone())
            .filter(|p| is_image_path(p))
            .collect();
        assert_eq!(paths, ["./a.png", "/tmp/my pic.JPG", "/x/b c.webp"]);
        let (text, images) = extract("no images here, ./notes.txt").unwrap_or_default();
        assert_eq!(
            (text.as_str(), images.len()),
            ("no images here, ./notes.txt", 0)
        );
    }

    #[test]
    fn files_are_checked_by_their_bytes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let png = dir.path().join("ok.png");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\nrest").unwrap_or_default();
        let fake = dir.path().join("fake.png");
        std::fs::write(&fake, b"just text").unwrap_or_default();
        let prompt = format!("describe {} please", png.display());
        let (text, images) = extract(&prompt).unwrap_or_default();
        assert_eq!((text.as_str(), images.len()), ("describe please", 1));
        let e = extract(&format!("x {}", fake.display())).err().map(|e| e.0);
        assert!(
            e.unwrap_or_default()
                .ends_with("invalid file type: text/plain; charset=utf-8")
        );
        let e = extract("x /nonexistent/none.png").err().map(|e| e.0);
        assert!(
            e.unwrap_or_default()
                .starts_with("couldn't read image '/nonexistent/none.png': "),
        );
    }
}
