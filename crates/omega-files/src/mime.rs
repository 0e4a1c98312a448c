//! MIME types: a guess from the first bytes (for a few common formats) and the file name's
//! extension, and the syntax check a manifest's MIME type must pass.
//!
//! The type is a hint for the receiver's interface (an icon, whether to show a thumbnail). It is
//! chosen by the sender, so a receiver never trusts it to decide how to open the file.

/// Bytes of the file's beginning that [`guess_mime`] looks at.
pub const SNIFF_LEN: usize = 16;
/// Longest MIME type accepted in a manifest.
pub const MAX_MIME_LEN: usize = 127;
/// The type of anything not recognised.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Formats recognised by their first bytes: (offset, magic, type).
const MAGIC: &[(usize, &[u8], &str)] = &[
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (4, b"ftyp", "video/mp4"),
];

/// Extensions recognised (lowercase, without the dot).
const EXTENSIONS: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("heic", "image/heic"),
    ("svg", "image/svg+xml"),
    ("pdf", "application/pdf"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("json", "application/json"),
    ("txt", "text/plain"),
    ("md", "text/markdown"),
    ("csv", "text/csv"),
    ("html", "text/html"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("opus", "audio/ogg"),
    ("m4a", "audio/mp4"),
    ("wav", "audio/wav"),
    ("mp4", "video/mp4"),
    ("mov", "video/quicktime"),
    ("webm", "video/webm"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("odt", "application/vnd.oasis.opendocument.text"),
];

/// Guesses a file's MIME type from its first bytes (`head`, at least [`SNIFF_LEN`] of them when
/// the file is that long) and its name.
///
/// The extension decides when it names a type the bytes do not contradict (a `.docx` is a ZIP,
/// an `.m4a` is an MP4); otherwise recognised bytes decide (a PNG named `.jpg` is a PNG); else
/// the extension; else [`OCTET_STREAM`]. RIFF files are told apart by their form type (WebP,
/// WAV).
pub fn guess_mime(name: &str, head: &[u8]) -> &'static str {
    let by_bytes = sniff(head);
    let by_name = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .and_then(|extension| {
            EXTENSIONS
                .iter()
                .find(|(known, _)| *known == extension)
                .map(|(_, mime)| *mime)
        });
    match (by_bytes, by_name) {
        (Some(bytes), Some(name)) if refines(bytes, name) => name,
        (Some(bytes), _) => bytes,
        (None, Some(name)) => name,
        (None, None) => OCTET_STREAM,
    }
}

/// What the first bytes alone say, if they are one of the formats recognised.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.len() >= 12 && &head[..4] == b"RIFF" {
        return match &head[8..12] {
            b"WEBP" => Some("image/webp"),
            b"WAVE" => Some("audio/wav"),
            _ => None,
        };
    }
    MAGIC
        .iter()
        .find(|(offset, magic, _)| head.get(*offset..offset + magic.len()) == Some(*magic))
        .map(|(_, _, mime)| *mime)
}

/// Whether a name's type is a more precise reading of what the bytes show.
fn refines(by_bytes: &str, by_name: &str) -> bool {
    by_bytes == by_name
        || (by_bytes == "application/zip"
            && (by_name.starts_with("application/vnd.") || by_name == "application/zip"))
        || (by_bytes == "video/mp4" && matches!(by_name, "audio/mp4" | "video/quicktime"))
}

/// Whether `mime` is a plain `type/subtype` (RFC 6838 restricted names, no parameters) of at most
/// [`MAX_MIME_LEN`] bytes.
pub fn is_valid_mime(mime: &str) -> bool {
    let Some((kind, subtype)) = mime.split_once('/') else {
        return false;
    };
    let token = |part: &str| {
        !part.is_empty()
            && part.len() <= 64
            && part.as_bytes()[0].is_ascii_alphanumeric()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    mime.len() <= MAX_MIME_LEN && token(kind) && token(subtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_win_over_a_lying_extension() {
        assert_eq!(
            guess_mime("cat.jpg", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            "image/png"
        );
        assert_eq!(guess_mime("x.txt", b"%PDF-1.7\n"), "application/pdf");
    }

    #[test]
    fn the_extension_refines_a_container_format() {
        assert_eq!(
            guess_mime("letter.DOCX", b"PK\x03\x04\x14\0\x06\0"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        assert_eq!(guess_mime("song.m4a", b"\0\0\0\x20ftypM4A "), "audio/mp4");
    }

    #[test]
    fn riff_files_are_told_apart_by_their_form() {
        assert_eq!(guess_mime("a", b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(guess_mime("a", b"RIFF\0\0\0\0WAVEfmt "), "audio/wav");
        assert_eq!(guess_mime("a", b"RIFF\0\0\0\0AVI LIST"), OCTET_STREAM);
    }

    #[test]
    fn unknown_bytes_fall_back_to_the_extension_then_octet_stream() {
        assert_eq!(guess_mime("notes.md", b"# hello"), "text/markdown");
        assert_eq!(guess_mime("data.bin", b"\0\x01"), OCTET_STREAM);
        assert_eq!(guess_mime("noextension", b""), OCTET_STREAM);
    }

    #[test]
    fn mime_syntax_is_checked() {
        assert!(is_valid_mime("image/png"));
        assert!(is_valid_mime("image/svg+xml"));
        assert!(!is_valid_mime("image"));
        assert!(!is_valid_mime("image/"));
        assert!(!is_valid_mime("text/plain; charset=utf-8"));
        assert!(!is_valid_mime("a/b/c"));
        assert!(!is_valid_mime(&format!("a/{}", "b".repeat(200))));
    }
}
