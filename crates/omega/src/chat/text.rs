//! Text that came from someone else, made safe and shaped for a terminal: escape sequences and
//! control characters removed, lines wrapped by display width, times formatted. Pure functions.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Removes what a terminal would interpret rather than show: escape sequences (CSI, OSC, DCS, SOS,
/// PM, APC and two-character ones, in their 7-bit and C1 forms), other C0 and C1 control
/// characters, DEL, and the bidirectional embedding, override and isolate marks that can make text
/// read differently from what it is. A tab becomes a space; `\n` is kept only with `keep_newlines`
/// (otherwise it becomes a space) and `\r` is dropped.
pub fn sanitize(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // nF: intermediates then one final character (ESC ( B selects a character set).
                Some(' '..='/') => {
                    for ch in chars.by_ref() {
                        if !(' '..='/').contains(&ch) {
                            break;
                        }
                    }
                }
                // A two-character sequence (ESC c resets the terminal, ESC 7 saves the cursor…).
                Some(_) | None => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' if keep_newlines => out.push('\n'),
            '\n' | '\t' => out.push(' '),
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            ch if ch.is_control() => {}
            ch => out.push(ch),
        }
    }
    out
}

/// Skips a control sequence's parameters and intermediates up to its final byte (0x40–0x7E).
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for ch in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&ch) || !(' '..='\u{7e}').contains(&ch) {
            return;
        }
    }
}

/// Skips a string sequence (OSC, DCS…) up to its terminator: BEL, ST (`ESC \`) or C1 ST.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(ch) = chars.next() {
        match ch {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

/// Display width in terminal columns.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Wraps text (already sanitized) to lines of at most `columns` display columns: at spaces when it
/// can, inside a word when the word alone is too long. `\n` starts a new line. Always at least one
/// line.
pub fn wrap(text: &str, columns: usize) -> Vec<String> {
    let columns = columns.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut line_width = 0;
        for word in paragraph.split(' ') {
            let word_width = width(word);
            let gap = usize::from(!line.is_empty() || line_width > 0);
            if line_width + gap + word_width <= columns {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                line_width += gap + word_width;
                continue;
            }
            if line_width > 0 {
                lines.push(std::mem::take(&mut line));
                line_width = 0;
            }
            for ch in word.chars() {
                let ch_width = UnicodeWidthChar::width(ch).unwrap_or(0);
                if line_width + ch_width > columns && line_width > 0 {
                    lines.push(std::mem::take(&mut line));
                    line_width = 0;
                }
                line.push(ch);
                line_width += ch_width;
            }
        }
        lines.push(line);
    }
    lines
}

/// Cuts text to at most `columns` display columns, ending in `…` when something was cut.
pub fn truncate(text: &str, columns: usize) -> String {
    if width(text) <= columns {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let ch_width = UnicodeWidthChar::width(ch).unwrap_or(0);
        if used + ch_width + 1 > columns {
            break;
        }
        out.push(ch);
        used += ch_width;
    }
    if columns > 0 {
        out.push('…');
    }
    out
}

/// `YYYY-MM-DD` and `HH:MM` (UTC) of a timestamp in milliseconds since the Unix epoch.
pub fn date_and_time(ms: i64) -> (String, String) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}", rem / 3600, rem % 3600 / 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_removes_escape_sequences_and_control_characters() {
        assert_eq!(sanitize("\u{1b}[2Jhello", true), "hello");
        assert_eq!(sanitize("\u{1b}[31;1mred\u{1b}[0m", true), "red");
        assert_eq!(
            sanitize(
                "a\u{1b}]0;evil title\u{7}b\u{1b}]8;;http://x\u{1b}\\c",
                true
            ),
            "abc"
        );
        assert_eq!(sanitize("\u{1b}Preset\u{1b}\\ok", true), "ok");
        assert_eq!(sanitize("\u{1b}cafter reset", true), "after reset");
        assert_eq!(sanitize("\u{1b}(Bplain", true), "plain");
        assert_eq!(sanitize("x\u{9b}2Jy\u{85}z", true), "xyz");
        assert_eq!(sanitize("bell\u{7}\u{8}\u{7f}\r", true), "bell");
        assert_eq!(sanitize("tab\there", true), "tab here");
        assert_eq!(sanitize("one\ntwo", true), "one\ntwo");
        assert_eq!(sanitize("one\ntwo", false), "one two");
        assert_eq!(sanitize("abc\u{202e}fdp.exe", true), "abcfdp.exe");
        assert_eq!(sanitize("olá ✓ 日本", true), "olá ✓ 日本");
        // A sequence cut short at the end of the text is dropped, not half-shown.
        assert_eq!(sanitize("end\u{1b}[12", true), "end");
        assert_eq!(sanitize("end\u{1b}", true), "end");
    }

    #[test]
    fn wrap_breaks_at_spaces_and_inside_long_words_by_display_width() {
        assert_eq!(wrap("hello world", 20), ["hello world"]);
        assert_eq!(wrap("hello world", 7), ["hello", "world"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("日本語テキスト", 6), ["日本語", "テキス", "ト"]);
        assert_eq!(wrap("a\nb", 10), ["a", "b"]);
        assert_eq!(wrap("", 10), [""]);
        assert_eq!(wrap("x", 0), ["x"]);
        for line in wrap("the quick brown fox jumps over the lazy dog", 9) {
            assert!(width(&line) <= 9, "{line:?}");
        }
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a longer preview", 8), "a longe…");
        assert_eq!(width(&truncate("日本語テキスト", 7)), 7);
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(date_and_time(0), ("1970-01-01".into(), "00:00".into()));
        assert_eq!(
            date_and_time(1_700_000_000_000),
            ("2023-11-14".into(), "22:13".into())
        );
    }
}
