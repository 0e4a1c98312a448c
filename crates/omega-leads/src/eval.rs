//! Measuring a scorer against labelled customer messages.
//!
//! The crate ships `data/labelled.tsv`: realistic WhatsApp and Telegram messages to small
//! businesses (bakery, clothing, pet shop, dentist, electronics, courses, …), about half in
//! Portuguese and half in English, each labelled by hand with whether a salesperson should
//! treat the sender as a buying lead and with its tone. The set keeps the cases rules get
//! wrong (sarcasm, objections, questions that look like intent) on purpose.
//!
//! Every fifth example is in the [`Split::Test`] split and the rest in [`Split::Dev`]:
//! tune rules looking only at dev results and report test results. The examples from line
//! [`HELD_OUT_FROM_LINE`] on were written after the rules were frozen: the fairest estimate
//! of how they do on wording they were not tuned on.
//!
//! [`throughput`] measures messages per second of the rule scorer beside the keyword
//! baseline and a raw floor. `omega bench leads` prints both the quality reports and the
//! speed figures in one run.
//!
//! ```
//! use omega_leads::RuleScorer;
//! use omega_leads::eval::{self, Split};
//!
//! let examples = eval::labelled_set()?;
//! let test: Vec<_> = examples.into_iter().filter(|e| e.split == Split::Test).collect();
//! let report = eval::evaluate(&RuleScorer, &test, eval::DEFAULT_THRESHOLD);
//! assert!(report.intent_f1 > 0.0 && report.intent_f1 <= 1.0);
//! println!("{report}");
//! # Ok::<(), omega_leads::eval::EvalError>(())
//! ```

use std::fmt;
use std::hint::black_box;
use std::time::Instant;

use serde::Serialize;
use thiserror::Error;

use crate::{Assessment, Lang, LeadScorer, LeadState, NextAction, Reason, Sentiment, detect_lang};

/// The labelled set, as shipped.
const LABELLED_TSV: &str = include_str!("../data/labelled.tsv");

/// The score from which [`evaluate`] predicts intent, unless told otherwise.
///
/// 50 is the middle of the scale and what [`crate::RuleScorer`] reaches from its base of 20
/// with one strong purchase signal (asking the price, wanting to buy, paying, stock or
/// delivery, booking), and does not reach with a weak one alone (a quantity, urgency,
/// thanks).
pub const DEFAULT_THRESHOLD: u8 = 50;

/// The first line of the held-out block of `data/labelled.tsv`: examples with
/// [`Example::line`] at least this were written after the rules were frozen, and the rules
/// were not tuned on them (`data/README.md`).
pub const HELD_OUT_FROM_LINE: usize = 430;

/// Which part of the labelled set an example belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Examples to look at while tuning rules.
    Dev,
    /// Held-out examples: report these, do not tune on them.
    Test,
}

impl Split {
    /// The split of the example at `ordinal` (0-based, among examples): every fifth is
    /// [`Split::Test`].
    #[must_use]
    pub const fn of_ordinal(ordinal: usize) -> Self {
        if ordinal % 5 == 4 {
            Self::Test
        } else {
            Self::Dev
        }
    }
}

/// One labelled message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// The language it is written in.
    pub lang: Lang,
    /// Whether a salesperson should treat the sender as a buying lead.
    pub intent: bool,
    /// Its tone.
    pub sentiment: Sentiment,
    /// The message.
    pub text: String,
    /// The 1-based line it came from.
    pub line: usize,
    /// Dev or test.
    pub split: Split,
}

/// Why a labelled set could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A line did not have four tab-separated fields.
    #[error(
        "line {line}: expected 4 tab-separated fields (lang, intent, sentiment, text), got {got}"
    )]
    FieldCount {
        /// The 1-based line number.
        line: usize,
        /// How many fields it had.
        got: usize,
    },
    /// The language field was not `pt` or `en`.
    #[error("line {line}: expected lang pt or en, got {got:?}")]
    Lang {
        /// The 1-based line number.
        line: usize,
        /// The field, cut to 16 characters.
        got: String,
    },
    /// The intent field was not `0` or `1`.
    #[error("line {line}: expected intent 0 or 1, got {got:?}")]
    Intent {
        /// The 1-based line number.
        line: usize,
        /// The field, cut to 16 characters.
        got: String,
    },
    /// The sentiment field was not `pos`, `neu` or `neg`.
    #[error("line {line}: expected sentiment pos, neu or neg, got {got:?}")]
    Sentiment {
        /// The 1-based line number.
        line: usize,
        /// The field, cut to 16 characters.
        got: String,
    },
    /// The text field was empty.
    #[error("line {line}: expected a message text, got an empty field")]
    EmptyText {
        /// The 1-based line number.
        line: usize,
    },
}

/// The labelled set shipped with the crate (`data/labelled.tsv`), parsed.
pub fn labelled_set() -> Result<Vec<Example>, EvalError> {
    parse_tsv(LABELLED_TSV)
}

/// Parses a labelled set: one example per line, `lang<TAB>intent<TAB>sentiment<TAB>text`
/// with lang `pt`/`en`, intent `0`/`1` and sentiment `pos`/`neu`/`neg`.
///
/// Blank lines are skipped; the text is the rest of the line and may contain tabs. Splits
/// are given by position among the examples ([`Split::of_ordinal`]).
pub fn parse_tsv(text: &str) -> Result<Vec<Example>, EvalError> {
    let mut examples = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = raw.splitn(4, '\t').collect();
        let [lang, intent, sentiment, message] = fields[..] else {
            return Err(EvalError::FieldCount {
                line,
                got: fields.len(),
            });
        };
        let lang = match lang.trim() {
            "pt" => Lang::Pt,
            "en" => Lang::En,
            other => {
                return Err(EvalError::Lang {
                    line,
                    got: cut(other),
                });
            }
        };
        let intent = match intent.trim() {
            "1" => true,
            "0" => false,
            other => {
                return Err(EvalError::Intent {
                    line,
                    got: cut(other),
                });
            }
        };
        let sentiment = match sentiment.trim() {
            "pos" => Sentiment::Positive,
            "neu" => Sentiment::Neutral,
            "neg" => Sentiment::Negative,
            other => {
                return Err(EvalError::Sentiment {
                    line,
                    got: cut(other),
                });
            }
        };
        let message = message.trim();
        if message.is_empty() {
            return Err(EvalError::EmptyText { line });
        }
        let split = Split::of_ordinal(examples.len());
        examples.push(Example {
            lang,
            intent,
            sentiment,
            text: message.to_owned(),
            line,
            split,
        });
    }
    Ok(examples)
}

fn cut(field: &str) -> String {
    field.chars().take(16).collect()
}

/// How a scorer did on a set of examples.
///
/// Ratios whose denominator is zero (no predicted or no actual positives) are reported as 0.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// [`LeadScorer::name`] of the scorer.
    pub scorer: &'static str,
    /// How many examples were scored.
    pub examples: usize,
    /// Intent was predicted when the score was at least this.
    pub threshold: u8,
    /// Of the messages predicted as leads, the share that are.
    pub intent_precision: f64,
    /// Of the leads, the share predicted.
    pub intent_recall: f64,
    /// Harmonic mean of intent precision and recall.
    pub intent_f1: f64,
    /// Of the messages predicted negative, the share that are.
    pub negative_precision: f64,
    /// Of the negative messages, the share predicted.
    pub negative_recall: f64,
    /// Share of examples whose intent was predicted right.
    pub accuracy: f64,
    /// Share of examples whose sentiment (of three) was predicted right.
    pub sentiment_accuracy: f64,
    /// Share of examples whose language was detected right.
    pub lang_accuracy: f64,
    /// Intent F1 per language of the examples, Portuguese first; languages without
    /// examples are left out.
    pub per_lang: Vec<(Lang, f64)>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    true_positive: usize,
    false_positive: usize,
    false_negative: usize,
}

impl Counts {
    fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.true_positive += 1,
            (true, false) => self.false_positive += 1,
            (false, true) => self.false_negative += 1,
            (false, false) => {}
        }
    }

    fn precision(self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_positive)
    }

    fn recall(self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_negative)
    }

    fn f1(self) -> f64 {
        let (precision, recall) = (self.precision(), self.recall());
        if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        }
    }
}

#[allow(clippy::cast_precision_loss)]
fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Scores each example as the first message of a new contact; intent is predicted when the
/// score is at least `threshold`, a negative tone when the sentiment is
/// [`Sentiment::Negative`].
pub fn evaluate(scorer: &dyn LeadScorer, examples: &[Example], threshold: u8) -> Report {
    let mut intent = Counts::default();
    let mut negative = Counts::default();
    let mut per_lang = [Counts::default(); 2];
    let mut seen_lang = [false; 2];
    let (mut intent_right, mut sentiment_right, mut lang_right) = (0, 0, 0);
    for example in examples {
        let assessment = scorer.assess(LeadState::default(), &example.text);
        let predicted = assessment.score >= threshold;
        intent.add(predicted, example.intent);
        let lang_index = usize::from(example.lang == Lang::En);
        per_lang[lang_index].add(predicted, example.intent);
        seen_lang[lang_index] = true;
        negative.add(
            assessment.sentiment == Sentiment::Negative,
            example.sentiment == Sentiment::Negative,
        );
        intent_right += usize::from(predicted == example.intent);
        sentiment_right += usize::from(assessment.sentiment == example.sentiment);
        lang_right += usize::from(assessment.lang == example.lang);
    }
    let per_lang = [Lang::Pt, Lang::En]
        .into_iter()
        .enumerate()
        .filter(|&(index, _)| seen_lang[index])
        .map(|(index, lang)| (lang, per_lang[index].f1()))
        .collect();
    Report {
        scorer: scorer.name(),
        examples: examples.len(),
        threshold,
        intent_precision: intent.precision(),
        intent_recall: intent.recall(),
        intent_f1: intent.f1(),
        negative_precision: negative.precision(),
        negative_recall: negative.recall(),
        accuracy: ratio(intent_right, examples.len()),
        sentiment_accuracy: ratio(sentiment_right, examples.len()),
        lang_accuracy: ratio(lang_right, examples.len()),
        per_lang,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scorer {}  examples {}  threshold {}",
            self.scorer, self.examples, self.threshold
        )?;
        writeln!(
            f,
            "  {:<10} {:>9} {:>7} {:>7}",
            "", "precision", "recall", "f1"
        )?;
        writeln!(
            f,
            "  {:<10} {:>9.3} {:>7.3} {:>7.3}",
            "intent", self.intent_precision, self.intent_recall, self.intent_f1
        )?;
        writeln!(
            f,
            "  {:<10} {:>9.3} {:>7.3} {:>7}",
            "negative", self.negative_precision, self.negative_recall, "-"
        )?;
        write!(
            f,
            "  intent accuracy {:.3}  sentiment accuracy {:.3}  language accuracy {:.3}",
            self.accuracy, self.sentiment_accuracy, self.lang_accuracy
        )?;
        for (lang, f1) in &self.per_lang {
            write!(f, "\n  intent f1 {lang} {f1:.3}")?;
        }
        Ok(())
    }
}

/// A naive baseline to compare scorers against: score 80 when the lowercased text contains
/// "price", "preço", "preco", "comprar" or "buy", else 10; never a negative tone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeywordBaseline;

impl KeywordBaseline {
    const KEYWORDS: [&'static str; 5] = ["price", "preço", "preco", "comprar", "buy"];
    const REASON: Reason = Reason {
        code: "keyword",
        pt: "mencionou preço ou compra",
        en: "mentioned price or buying",
        delta: 70,
    };
}

impl LeadScorer for KeywordBaseline {
    fn name(&self) -> &'static str {
        "keyword-baseline"
    }

    fn assess(&self, previous: LeadState, text: &str) -> Assessment {
        let lower = text.to_lowercase();
        let hit = Self::KEYWORDS.iter().any(|keyword| lower.contains(keyword));
        Assessment {
            score: if hit { 80 } else { 10 },
            previous: previous.score.min(100),
            sentiment: Sentiment::Neutral,
            intent: hit,
            reasons: if hit { vec![Self::REASON] } else { Vec::new() },
            next_action: if hit {
                NextAction::SendPriceList
            } else {
                NextAction::Nurture
            },
            lang: detect_lang(text),
        }
    }
}

/// Messages per second of each scorer, measured in the same run by [`throughput`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Throughput {
    /// Messages handled per measurement (texts × rounds).
    pub messages: usize,
    /// The raw floor: lowercasing each message (touching every byte once, one allocation).
    pub lowercase: f64,
    /// [`KeywordBaseline`].
    pub keyword: f64,
    /// [`crate::RuleScorer`].
    pub rules: f64,
}

/// Scores `texts` `rounds` times over, one thread, each message as the first of a new
/// contact, and returns messages per second for lowercasing alone, [`KeywordBaseline`] and
/// [`crate::RuleScorer`], measured one after the other in this call.
///
/// A `rounds` of 0 is taken as 1. Empty `texts` give zero rates.
///
/// ```
/// use omega_leads::eval;
///
/// let texts = vec!["quanto custa?".to_owned(), "thanks, bye".to_owned()];
/// let speed = eval::throughput(&texts, 2);
/// assert_eq!(speed.messages, 4);
/// assert!(speed.rules > 0.0 && speed.keyword > 0.0 && speed.lowercase > 0.0);
/// ```
#[must_use]
pub fn throughput(texts: &[String], rounds: usize) -> Throughput {
    let rounds = rounds.max(1);
    // Build the rule tables before measuring, so the first round does not pay for them.
    let _ = crate::RuleScorer.assess(LeadState::default(), "warm up");
    let messages = rounds * texts.len();
    let lowercase = per_second(texts, rounds, |text| text.to_lowercase().len());
    let keyword = per_second(texts, rounds, |text| {
        usize::from(KeywordBaseline.assess(LeadState::default(), text).score)
    });
    let rules = per_second(texts, rounds, |text| {
        usize::from(crate::RuleScorer.assess(LeadState::default(), text).score)
    });
    Throughput {
        messages,
        lowercase,
        keyword,
        rules,
    }
}

/// Messages per second of `work` over `texts`, `rounds` times.
#[allow(clippy::cast_precision_loss)]
fn per_second(texts: &[String], rounds: usize, mut work: impl FnMut(&str) -> usize) -> f64 {
    if texts.is_empty() {
        return 0.0;
    }
    let start = Instant::now();
    let mut sink = 0usize;
    for _ in 0..rounds {
        for text in texts {
            sink = sink.wrapping_add(work(black_box(text)));
        }
    }
    black_box(sink);
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    (rounds * texts.len()) as f64 / seconds
}
