//! Text normalization: lowercase, accent folding, slang, tokens, language guess.
//!
//! A message becomes a list of [`Token`]s: ASCII-folded lowercase words, numbers, single
//! emoji, and [`BOUNDARY`] where a sentence ends (`.`, `!`, `?`, `;`, a new line). Letters
//! and digits written together are split (`"2kg"` is `"2"`, `"kg"`, the second marked
//! [`Token::glued`]) so units read as units and model names (`"ps5"`) can be told apart from
//! quantities. Apostrophes vanish (`"don't"` is `"dont"`), runs of three or more equal
//! letters shrink to one (`"ótimooo"` is `"otimo"`), and chat slang maps to the plain word
//! (`"vcs"` is `"voces"`, `"thx"` is `"thanks"`).

use crate::Lang;

/// The token standing for the end of a sentence.
pub(crate) const BOUNDARY: &str = "|";

/// Text past this many bytes is ignored, which bounds the work per message.
pub(crate) const MAX_INPUT_BYTES: usize = 16 * 1024;

/// One normalized token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    /// The folded, lowercase, de-slanged text.
    pub text: &'a str,
    /// Written directly after the previous token with nothing between (`"kg"` in `"2kg"`).
    pub glued: bool,
    /// A comma, colon, dash or bracket came just before: a new clause starts here.
    pub clause_start: bool,
}

impl Token<'_> {
    /// Whether this token is the end of a sentence.
    pub fn is_boundary(&self) -> bool {
        self.text == BOUNDARY
    }

    /// Whether this token is all ASCII digits.
    pub fn is_digits(&self) -> bool {
        !self.text.is_empty() && self.text.bytes().all(|byte| byte.is_ascii_digit())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Span {
    Text {
        start: usize,
        end: usize,
        glued: bool,
        clause_start: bool,
    },
    Boundary,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
}

/// A message after folding and splitting, before slang is resolved.
#[derive(Debug)]
pub(crate) struct Normalized {
    buffer: String,
    spans: Vec<Span>,
    /// The text had a question mark.
    pub question: bool,
    /// How many letters with Portuguese diacritics (ã, ç, é, …) the text had.
    pt_marks: u32,
}

impl Normalized {
    /// Normalizes `text`, ignoring anything past [`MAX_INPUT_BYTES`].
    pub fn new(text: &str) -> Self {
        let mut builder = Builder {
            out: Normalized {
                buffer: String::with_capacity(text.len().min(MAX_INPUT_BYTES) + 8),
                spans: Vec::with_capacity(text.len() / 4 + 2),
                question: false,
                pt_marks: 0,
            },
            current: None,
            pending_glue: false,
            pending_clause: false,
        };
        let mut chars = text.char_indices().peekable();
        let mut previous_was_digit = false;
        while let Some((index, c)) = chars.next() {
            if index >= MAX_INPUT_BYTES {
                break;
            }
            let next_is_digit = chars.peek().is_some_and(|&(_, next)| next.is_ascii_digit());
            builder.push_char(c, previous_was_digit, next_is_digit);
            previous_was_digit = c.is_ascii_digit();
        }
        builder.close_token();
        builder.out
    }

    /// The tokens, with slang resolved and dropped filler removed.
    pub fn tokens(&self) -> Vec<Token<'_>> {
        let mut tokens: Vec<Token<'_>> = Vec::with_capacity(self.spans.len());
        // A dropped filler word hands its clause break to the next token.
        let mut carried_clause = false;
        for span in &self.spans {
            match *span {
                Span::Boundary => {
                    carried_clause = false;
                    tokens.push(Token {
                        text: BOUNDARY,
                        glued: false,
                        clause_start: true,
                    });
                }
                Span::Text {
                    start,
                    end,
                    glued,
                    clause_start,
                } => {
                    let raw = self.buffer.get(start..end).unwrap_or("");
                    let text = alias(raw).unwrap_or(raw);
                    if text.is_empty() {
                        carried_clause |= clause_start;
                    } else {
                        tokens.push(Token {
                            text,
                            glued,
                            clause_start: clause_start || carried_clause,
                        });
                        carried_clause = false;
                    }
                }
            }
        }
        tokens
    }

    /// The language guess for this text.
    pub fn lang(&self) -> Lang {
        lang_of(&self.tokens(), self.pt_marks)
    }

    /// The language guess given this text's `tokens` (from [`Normalized::tokens`]).
    pub fn lang_with(&self, tokens: &[Token<'_>]) -> Lang {
        lang_of(tokens, self.pt_marks)
    }
}

struct Builder {
    out: Normalized,
    /// Start in the buffer and class of the token being built.
    current: Option<(usize, Class)>,
    /// The next token starts right after the previous one with no separator.
    pending_glue: bool,
    /// A clause mark (comma, colon, dash, bracket) came since the last token.
    pending_clause: bool,
}

impl Builder {
    fn push_char(&mut self, c: char, previous_was_digit: bool, next_is_digit: bool) {
        if c.is_ascii() {
            match c {
                'a'..='z' => self.push_word_char(c, Class::Letter),
                'A'..='Z' => self.push_word_char(c.to_ascii_lowercase(), Class::Letter),
                '0'..='9' => self.push_word_char(c, Class::Digit),
                '\'' | '`' => {}
                '?' => {
                    self.out.question = true;
                    self.boundary();
                }
                '.' | ',' if previous_was_digit && next_is_digit => self.separator(),
                '.' | '!' | ';' | '\n' | '\r' => self.boundary(),
                ',' | ':' | '-' | '(' | ')' | '[' | ']' | '/' | '"' => {
                    self.separator();
                    self.pending_clause = true;
                }
                _ => self.separator(),
            }
            return;
        }
        match c {
            // Apostrophes, combining accents, joiners, variation selectors and skin tones
            // belong to the letter or emoji before them.
            '\u{2018}'
            | '\u{2019}'
            | '\u{02BC}'
            | '\u{0300}'..='\u{036F}'
            | '\u{200D}'
            | '\u{FE0E}'
            | '\u{FE0F}'
            | '\u{1F3FB}'..='\u{1F3FF}' => {}
            '¿' => {
                self.out.question = true;
                self.separator();
            }
            '…' | '\u{2028}' | '\u{2029}' => self.boundary(),
            '–' | '—' | '“' | '”' => {
                self.separator();
                self.pending_clause = true;
            }
            _ if is_emoji(c) => {
                self.close_token();
                let start = self.out.buffer.len();
                self.out.buffer.push(c);
                self.out.spans.push(Span::Text {
                    start,
                    end: self.out.buffer.len(),
                    glued: false,
                    clause_start: self.pending_clause,
                });
                self.pending_glue = false;
                self.pending_clause = false;
            }
            _ => {
                if is_pt_mark(c) {
                    self.out.pt_marks = self.out.pt_marks.saturating_add(1);
                }
                let mut any = false;
                for lower in c.to_lowercase() {
                    if let Some(folded) = fold(lower) {
                        for ascii in folded.chars() {
                            self.push_word_char(ascii, Class::Letter);
                        }
                        any = true;
                    } else if ('\u{0300}'..='\u{036F}').contains(&lower) {
                        any = true;
                    } else if lower.is_alphanumeric() {
                        self.push_word_char(lower, Class::Letter);
                        any = true;
                    }
                }
                if !any {
                    self.separator();
                }
            }
        }
    }

    fn push_word_char(&mut self, c: char, class: Class) {
        match self.current {
            Some((_, current_class)) if current_class == class => {}
            Some(_) => {
                self.close_token();
                self.pending_glue = true;
                self.current = Some((self.out.buffer.len(), class));
            }
            None => self.current = Some((self.out.buffer.len(), class)),
        }
        self.out.buffer.push(c);
    }

    fn separator(&mut self) {
        self.close_token();
        self.pending_glue = false;
    }

    fn boundary(&mut self) {
        self.separator();
        self.pending_clause = false;
        if matches!(self.out.spans.last(), Some(Span::Text { .. })) {
            self.out.spans.push(Span::Boundary);
        }
    }

    fn close_token(&mut self) {
        let Some((start, class)) = self.current.take() else {
            return;
        };
        if class == Class::Letter {
            squeeze_runs(&mut self.out.buffer, start);
        }
        let end = self.out.buffer.len();
        if end > start {
            self.out.spans.push(Span::Text {
                start,
                end,
                glued: self.pending_glue,
                clause_start: self.pending_clause,
            });
        }
        self.pending_glue = false;
        self.pending_clause = false;
    }
}

/// Shrinks every run of three or more equal characters in `buffer[start..]` to one.
fn squeeze_runs(buffer: &mut String, start: usize) {
    let Some(word) = buffer.get(start..) else {
        return;
    };
    let mut has_run = false;
    let mut previous = None;
    let mut run = 0usize;
    for c in word.chars() {
        if Some(c) == previous {
            run += 1;
            if run >= 3 {
                has_run = true;
                break;
            }
        } else {
            previous = Some(c);
            run = 1;
        }
    }
    if !has_run {
        return;
    }
    let chars: Vec<char> = word.chars().collect();
    buffer.truncate(start);
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        let mut end = index + 1;
        while end < chars.len() && chars[end] == c {
            end += 1;
        }
        let run = end - index;
        let keep = if run >= 3 { 1 } else { run };
        for _ in 0..keep {
            buffer.push(c);
        }
        index = end;
    }
}

/// The ASCII letters a lowercase Latin-1 or Latin Extended-A letter folds to.
fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' | 'ĸ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ţ' | 'ť' | 'ŧ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'þ' => "th",
        'ª' => "a",
        'º' => "o",
        _ => return None,
    })
}

/// Letters that are common in Portuguese and rare in English text.
fn is_pt_mark(c: char) -> bool {
    matches!(
        c,
        'ã' | 'õ'
            | 'ç'
            | 'á'
            | 'é'
            | 'í'
            | 'ó'
            | 'ú'
            | 'â'
            | 'ê'
            | 'ô'
            | 'à'
            | 'Ã'
            | 'Õ'
            | 'Ç'
            | 'Á'
            | 'É'
            | 'Í'
            | 'Ó'
            | 'Ú'
            | 'Â'
            | 'Ê'
            | 'Ô'
            | 'À'
    )
}

/// Pictographs that stand alone as tokens.
fn is_emoji(c: char) -> bool {
    matches!(
        c,
        '\u{1F300}'..='\u{1F5FF}'
            | '\u{1F600}'..='\u{1F64F}'
            | '\u{1F680}'..='\u{1F6FF}'
            | '\u{1F900}'..='\u{1F9FF}'
            | '\u{1FA70}'..='\u{1FAFF}'
            | '\u{2600}'..='\u{27BF}'
            | '\u{2B50}'
            | '\u{2B55}'
    )
}

/// The plain word for a slang or contracted spelling; `Some("")` drops the token.
fn alias(token: &str) -> Option<&'static str> {
    Some(match token {
        // Portuguese chat spellings.
        "vc" | "ce" | "vo" => "voce",
        "vcs" | "ces" => "voces",
        "qto" | "qnto" | "qt" | "qnt" | "quantu" => "quanto",
        "q" | "q1" | "oq" => "que",
        "n" | "nn" | "naum" => "nao",
        "hj" | "hje" | "oje" => "hoje",
        "obg" | "obgd" | "obgda" | "obgado" | "brigado" | "brigada" | "obrigada" | "obrigadao"
        | "obrigadinho" | "obrigadinha" => "obrigado",
        "vlw" | "vlww" => "valeu",
        "blz" => "beleza",
        "qro" | "qero" | "kero" | "quer0" => "quero",
        "qria" | "keria" => "queria",
        "msg" => "mensagem",
        "msgs" => "mensagens",
        "mt" | "mto" | "mtu" => "muito",
        "tb" | "tbm" | "tmb" => "tambem",
        "td" => "tudo",
        "pq" => "porque",
        "kd" => "cade",
        "dps" => "depois",
        "agr" => "agora",
        "tds" => "todos",
        "cmg" => "comigo",
        "vdd" => "verdade",
        "entrga" | "entraga" => "entrega",
        "orcamemto" | "orsamento" => "orcamento",
        "catao" | "cartaum" => "cartao",
        // English chat spellings.
        "u" | "ya" | "yu" => "you",
        "ur" | "yr" => "your",
        "r" => "are",
        "thx" | "thnx" | "thanx" | "thks" | "tks" | "ty" | "tyvm" => "thanks",
        "pls" | "plz" | "plx" | "pleaseee" => "please",
        "tmrw" | "tmr" | "tmrrw" | "tomoro" | "tomorow" => "tomorrow",
        "tonite" | "2nite" => "tonight",
        "bday" => "birthday",
        "cuz" | "coz" | "bc" => "because",
        "wats" => "whats",
        "iam" => "im",
        "dnt" | "don" => "dont",
        "cnt" => "cant",
        "didn" => "didnt",
        "doesn" => "doesnt",
        // Filler that only gets between the words that matter.
        "guys" | "gente" | "pessoal" | "ai" | "ae" | "la" | "mesmo" => "",
        _ => return None,
    })
}

/// Guesses the language from marker words and Portuguese diacritics.
fn lang_of(tokens: &[Token<'_>], pt_marks: u32) -> Lang {
    let mut pt = pt_marks.min(3);
    let mut en = 0u32;
    for token in tokens {
        match token.text {
            "voce" | "voces" | "que" | "nao" | "tem" | "quero" | "queria" | "de" | "da" | "dos"
            | "das" | "para" | "pra" | "pro" | "com" | "um" | "uma" | "obrigado" | "bom"
            | "boa" | "dia" | "tarde" | "noite" | "qual" | "quanto" | "quanta" | "e" | "os"
            | "eu" | "meu" | "minha" | "esta" | "ta" | "isso" | "esse" | "essa" | "aqui"
            | "mais" | "muito" | "por" | "favor" | "sim" | "tudo" | "bem" | "gostaria" | "hoje"
            | "amanha" | "se" | "na" | "nos" | "ja" | "tambem" | "ainda" | "mas" | "como"
            | "onde" | "quando" | "fazem" | "faz" | "vou" | "estou" | "beleza" | "valeu"
            | "tchau" | "ate" | "preco" | "valor" | "entrega" | "obrigadu" | "kkk" | "kk" | "k"
            | "pfv" | "pf" | "td" | "voceis" | "sao" | "tao" | "entao" | "agora" | "depois"
            | "nada" | "tenho" | "preciso" | "cade" | "porque" | "comigo" | "verdade" | "ele"
            | "ela" | "eles" | "elas" | "vcs" | "consigo" | "posso" | "pode" | "vai" | "foi"
            | "dele" | "dela" | "seu" | "sua" | "teu" | "tua" | "tipo" | "mano" | "amiga"
            | "amigo" | "oii" | "oie" | "bomdia" | "boanoite" => pt += 1,
            "the" | "you" | "your" | "is" | "are" | "does" | "did" | "i" | "im" | "ive" | "id"
            | "ill" | "of" | "and" | "for" | "what" | "whats" | "how" | "much" | "have" | "has"
            | "can" | "could" | "would" | "will" | "please" | "thanks" | "thank" | "it" | "its"
            | "this" | "that" | "my" | "want" | "with" | "get" | "got" | "any" | "from"
            | "order" | "price" | "today" | "tomorrow" | "yes" | "just" | "need" | "send"
            | "be" | "am" | "was" | "there" | "here" | "if" | "or" | "on" | "at" | "an" | "we"
            | "they" | "dont" | "cant" | "wont" | "didnt" | "doesnt" | "not" | "when" | "where"
            | "who" | "why" | "which" | "still" | "again" | "some" | "lol" | "sorry" | "good"
            | "great" | "morning" | "night" | "open" | "like" | "about" | "hiring" | "wanna"
            | "gonna" | "sup" | "yeah" | "nope" | "okay" | "cool" | "haha" | "these" | "those"
            | "them" | "were" | "been" | "our" | "us" | "he" | "she" | "his" | "her" | "him"
            | "out" | "up" | "all" => {
                en += 1;
            }
            _ => {}
        }
    }
    if en > pt { Lang::En } else { Lang::Pt }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &str) -> Vec<String> {
        let normalized = Normalized::new(input);
        normalized
            .tokens()
            .iter()
            .map(|token| token.text.to_owned())
            .collect()
    }

    #[test]
    fn accents_fold_to_ascii_and_case_is_dropped() {
        assert_eq!(texts("Preço ÓTIMO Ação"), ["preco", "otimo", "acao"]);
        assert_eq!(texts("açúcar pão coração"), ["acucar", "pao", "coracao"]);
    }

    #[test]
    fn decomposed_accents_fold_like_composed_ones() {
        assert_eq!(texts("pre\u{0063}\u{0327}o"), ["preco"]);
        assert_eq!(texts("cafe\u{0301}"), ["cafe"]);
    }

    #[test]
    fn sentence_ends_become_boundaries_and_questions_are_noticed() {
        let normalized = Normalized::new("Oi. Quanto custa?");
        assert!(normalized.question);
        let tokens = normalized.tokens();
        let texts: Vec<&str> = tokens.iter().map(|token| token.text).collect();
        assert_eq!(texts, ["oi", "|", "quanto", "custa", "|"]);
    }

    #[test]
    fn letters_and_digits_split_with_glue_marked() {
        let normalized = Normalized::new("2kg ps5 10 x");
        let tokens = normalized.tokens();
        let pairs: Vec<(&str, bool)> = tokens.iter().map(|t| (t.text, t.glued)).collect();
        assert_eq!(
            pairs,
            [
                ("2", false),
                ("kg", true),
                ("ps", false),
                ("5", true),
                ("10", false),
                ("x", false)
            ]
        );
    }

    #[test]
    fn apostrophes_join_and_long_runs_shrink() {
        assert_eq!(texts("don’t I'd sooo"), ["dont", "id", "so"]);
        assert_eq!(texts("bom diaaaa"), ["bom", "dia"]);
        assert_eq!(texts("good 1000"), ["good", "1000"]);
    }

    #[test]
    fn slang_resolves_and_filler_drops() {
        assert_eq!(texts("vcs tem qto"), ["voces", "tem", "quanto"]);
        assert_eq!(texts("thx u guys"), ["thanks", "you"]);
    }

    #[test]
    fn decimal_points_do_not_end_sentences() {
        assert_eq!(texts("1.5 kg"), ["1", "5", "kg"]);
    }

    #[test]
    fn emoji_stand_alone() {
        assert_eq!(texts("amei😍😍"), ["amei", "😍", "😍"]);
        assert_eq!(texts("👍🏽"), ["👍"]);
    }

    #[test]
    fn language_guess_reads_markers_and_accents() {
        assert_eq!(Normalized::new("vcs abrem domingo?").lang(), Lang::Pt);
        assert_eq!(Normalized::new("are you open on sunday?").lang(), Lang::En);
        assert_eq!(Normalized::new("ação").lang(), Lang::Pt);
        assert_eq!(Normalized::new("👍").lang(), Lang::Pt);
    }
}
