//! File names as they travel in a manifest: one path component, printable, at most
//! [`MAX_NAME_LEN`] bytes, safe to create in a download directory on Unix and Windows.

/// Longest file name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 255;
/// The name used when nothing usable is left of the one given.
pub const FALLBACK_NAME: &str = "file";
/// Longest extension kept when a long name is shortened.
const MAX_KEPT_EXTENSION: usize = 16;
/// Names Windows reserves for devices, whatever the extension.
const WINDOWS_DEVICES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Turns any string into a file name a receiver can create as is:
///
/// - path separators (`/`, `\`) and the characters Windows refuses (`: * ? " < > |`) become `_`;
/// - control characters and the bidirectional-text controls (U+200E, U+200F, U+202A–U+202E,
///   U+2066–U+2069, which can make `gpj.exe` look like `exe.jpg`) are dropped;
/// - leading and trailing spaces and dots are trimmed (no `.`, `..` or hidden files);
/// - a Windows device name (`CON`, `nul.txt`, …) gets a leading `_`;
/// - a name longer than [`MAX_NAME_LEN`] bytes is cut at a character boundary, keeping a short
///   extension;
/// - nothing left gives [`FALLBACK_NAME`].
///
/// The function is idempotent: a sanitized name sanitizes to itself, which is what the manifest
/// decoder checks.
pub fn sanitize_name(name: &str) -> String {
    let mapped: String = name
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    let mut name = trim(&mapped).to_owned();
    if name.len() > MAX_NAME_LEN {
        name = shorten(&name);
    }
    if is_windows_device(&name) {
        name.insert(0, '_');
        if name.len() > MAX_NAME_LEN {
            name = shorten(&name);
        }
    }
    if name.is_empty() {
        return FALLBACK_NAME.to_owned();
    }
    name
}

/// Whether `name` is exactly what [`sanitize_name`] makes of it.
pub fn is_sanitized(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && sanitize_name(name) == name
}

fn trim(name: &str) -> &str {
    name.trim_matches(|c: char| c == '.' || c.is_whitespace())
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    WINDOWS_DEVICES
        .iter()
        .any(|device| stem.eq_ignore_ascii_case(device))
}

/// Cuts `name` to at most [`MAX_NAME_LEN`] bytes, keeping its extension when it is short.
fn shorten(name: &str) -> String {
    let extension = name
        .rfind('.')
        .map(|dot| &name[dot..])
        .filter(|extension| extension.len() <= MAX_KEPT_EXTENSION && extension.len() < name.len());
    let extension = extension.unwrap_or("");
    let stem = &name[..name.len() - extension.len()];
    let stem = cut_at_boundary(stem, MAX_NAME_LEN - extension.len());
    let shortened = format!("{}{extension}", trim(stem));
    // Trimming the stem may have left an extension alone, or an empty string: trim once more.
    trim(&shortened).to_owned()
}

fn cut_at_boundary(text: &str, max_len: usize) -> &str {
    if text.len() <= max_len {
        return text;
    }
    let mut end = max_len;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_separators_and_windows_characters_become_underscores() {
        assert_eq!(sanitize_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(sanitize_name("C:\\Users\\a.txt"), "C__Users_a.txt");
        assert_eq!(sanitize_name("what?<*>|\".pdf"), "what______.pdf");
    }

    #[test]
    fn control_and_bidi_characters_are_dropped() {
        assert_eq!(sanitize_name("a\u{0}b\nc\u{7f}.txt"), "abc.txt");
        assert_eq!(sanitize_name("photo\u{202E}gpj.exe"), "photogpj.exe");
    }

    #[test]
    fn dots_and_spaces_are_trimmed_and_empty_names_fall_back() {
        assert_eq!(sanitize_name(" .bashrc "), "bashrc");
        assert_eq!(sanitize_name(".."), FALLBACK_NAME);
        assert_eq!(sanitize_name(""), FALLBACK_NAME);
        assert_eq!(sanitize_name("/"), "_");
        assert_eq!(sanitize_name("name."), "name");
    }

    #[test]
    fn windows_device_names_are_prefixed() {
        assert_eq!(sanitize_name("CON"), "_CON");
        assert_eq!(sanitize_name("nul.txt"), "_nul.txt");
        assert_eq!(sanitize_name("console.txt"), "console.txt");
    }

    #[test]
    fn long_names_are_cut_at_a_char_boundary_keeping_the_extension() {
        let long = format!("{}.jpeg", "é".repeat(300));
        let short = sanitize_name(&long);
        assert!(short.len() <= MAX_NAME_LEN);
        assert!(short.ends_with("é.jpeg"));
        assert!(is_sanitized(&short));
        let no_extension = "x".repeat(1000);
        assert_eq!(sanitize_name(&no_extension).len(), MAX_NAME_LEN);
    }

    #[test]
    fn sanitizing_is_idempotent() {
        for name in [
            "report.pdf",
            "a/b",
            " . x . ",
            "CON",
            "aux .txt",
            &"ü".repeat(200),
            &format!("{}.{}", "a".repeat(250), "b".repeat(20)),
            &format!("{} .tar", "a".repeat(260)),
        ] {
            let once = sanitize_name(name);
            assert_eq!(sanitize_name(&once), once, "{name:?}");
            assert!(is_sanitized(&once));
        }
    }
}
