//! [`RuleScorer`]: phrase rules over normalized tokens.

use crate::lexicon::Signal;
use crate::matcher::{Lexicon, lexicon};
use crate::normalize::{Normalized, Token};
use crate::quantity::has_quantity;
use crate::{Assessment, Lang, LeadScorer, LeadState, NextAction, Sentiment};

/// The shipped scorer: weighted phrase signals, negation, and a blended running score.
///
/// How it scores one message:
/// 1. Normalize: lowercase, fold accents (so `"preço"` and `"preco"` are the same word),
///    resolve chat slang, split into words, numbers, emoji and sentence ends.
/// 2. Match the longest known phrase at each position (price questions, wanting to buy,
///    payment, stock and delivery, booking, urgency, praise, thanks, complaints, threats,
///    cancellations, disinterest, opt-outs, spam) plus quantities (`"2 kg"`, `"50 salgados"`,
///    `"uma dúzia"`). A negation up to three words before a phrase, within the same clause,
///    changes it: `"não quero comprar"` is a refusal, `"não gostei"` a complaint,
///    `"not bad"` nothing.
/// 3. Each kind of signal counts once. A complaint, threat or cancellation, or talk of an
///    order already placed ("paguei", "my order"), cancels the transactional signals of the
///    same message (delivery, payment, booking, quantity: they are about that order);
///    urgency counts only next to a purchase signal; spam cancels everything else. A question
///    whose sentence opens with "tem", "fazem", "consegue", "can you", "is there"… counts
///    as asking whether the business has or does something.
/// 4. Sum the weights ([`crate::Reason::delta`]) into the message's signal, capped to
///    `-MAX_LOSS..=MAX_GAIN`. A positive signal `s` closes `s`% of the gap to 100, a negative
///    one removes `|s|`% of the score. A new contact starts from [`RuleScorer::BASE_SCORE`],
///    so one strong message makes a cold lead warm (20 → 52 for a price question) but only
///    repeated intent reaches 90.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleScorer;

impl RuleScorer {
    /// The score of a contact before its first message.
    pub const BASE_SCORE: u8 = 20;
    /// The largest share (in percent) of the gap to 100 one message can close.
    pub const MAX_GAIN: i32 = 70;
    /// The largest share (in percent) of the score one message can remove.
    pub const MAX_LOSS: i32 = 90;
    /// From this score up a buyer who wants to buy gets a payment link rather than prices.
    pub const HOT_SCORE: u8 = 60;
}

impl LeadScorer for RuleScorer {
    fn name(&self) -> &'static str {
        "rules"
    }

    fn assess(&self, previous: LeadState, text: &str) -> Assessment {
        let normalized = Normalized::new(text);
        let tokens = normalized.tokens();
        let lang = normalized.lang_with(&tokens);
        let found = find_signals(lexicon(), &tokens, lang, normalized.question);
        let signals = resolve(found);

        let start = if previous.messages == 0 {
            Self::BASE_SCORE
        } else {
            previous.score.min(100)
        };
        let mut reasons = Vec::new();
        let mut total = 0i32;
        for signal in Signal::ALL {
            if signals.has(signal)
                && let Some(reason) = signal.reason()
            {
                total += reason.delta;
                reasons.push(reason);
            }
        }
        let score = blend(start, total);
        let intent = total > 0
            && Signal::ALL
                .iter()
                .any(|&s| s.is_purchase() && signals.has(s));
        let sentiment = sentiment(&signals);
        let next_action = next_action(&signals, sentiment, score, normalized.question, &tokens);
        Assessment {
            score,
            previous: start,
            sentiment,
            intent,
            reasons,
            next_action,
            lang,
        }
    }
}

/// Moves `start` by a message signal of `total` points.
fn blend(start: u8, total: i32) -> u8 {
    let start = i32::from(start.min(100));
    let next = if total > 0 {
        let gain = total.min(RuleScorer::MAX_GAIN);
        start + ((100 - start) * gain + 99) / 100
    } else if total < 0 {
        let loss = (-total).min(RuleScorer::MAX_LOSS);
        start - (start * loss + 99) / 100
    } else {
        start
    };
    u8::try_from(next.clamp(0, 100)).unwrap_or(100)
}

/// Which signals a message carries, after the rules of step 3.
#[derive(Clone, Copy, Debug, Default)]
struct Signals {
    present: [bool; Signal::COUNT],
}

impl Signals {
    fn has(&self, signal: Signal) -> bool {
        self.present[signal.index()]
    }

    fn set(&mut self, signal: Signal, on: bool) {
        self.present[signal.index()] = on;
    }

    fn any_purchase(&self) -> bool {
        Signal::ALL.iter().any(|&s| s.is_purchase() && self.has(s))
    }

    fn any_grievance(&self) -> bool {
        Signal::ALL.iter().any(|&s| s.is_grievance() && self.has(s))
    }
}

fn resolve(found: Signals) -> Signals {
    let mut signals = found;
    signals.set(Signal::Neutral, false);
    if signals.has(Signal::Spam) {
        let mut only_spam = Signals::default();
        only_spam.set(Signal::Spam, true);
        return only_spam;
    }
    if signals.any_grievance() || signals.has(Signal::AfterSale) {
        for signal in [
            Signal::Payment,
            Signal::Availability,
            Signal::Booking,
            Signal::Quantity,
        ] {
            signals.set(signal, false);
        }
    }
    if !signals.any_purchase() {
        signals.set(Signal::Urgency, false);
    }
    signals
}

fn sentiment(signals: &Signals) -> Sentiment {
    let weight = |signal, points| if signals.has(signal) { points } else { 0 };
    let negative = weight(Signal::Complaint, 2)
        + weight(Signal::Escalation, 3)
        + weight(Signal::CancelRefund, 2)
        + weight(Signal::OptOut, 1);
    let positive = weight(Signal::Praise, 2) + weight(Signal::Thanks, 1);
    let others = Signal::ALL.iter().any(|&s| {
        !matches!(s, Signal::Praise | Signal::Thanks | Signal::Urgency) && signals.has(s)
    });
    if negative > 0 && negative >= positive {
        Sentiment::Negative
    } else if positive > negative && (positive >= 2 || !others) {
        Sentiment::Positive
    } else {
        Sentiment::Neutral
    }
}

fn next_action(
    signals: &Signals,
    sentiment: Sentiment,
    score: u8,
    question: bool,
    tokens: &[Token<'_>],
) -> NextAction {
    if signals.has(Signal::OptOut) || signals.has(Signal::Spam) {
        NextAction::DoNotContact
    } else if sentiment == Sentiment::Negative || signals.has(Signal::Escalation) {
        NextAction::HandToHuman
    } else if signals.has(Signal::NotInterested) {
        NextAction::Nurture
    } else if signals.has(Signal::Undecided) {
        NextAction::FollowUpLater
    } else if !signals.has(Signal::Price)
        && (signals.has(Signal::Payment)
            || (signals.has(Signal::Buy) && score >= RuleScorer::HOT_SCORE))
    {
        NextAction::SendPaymentLink
    } else if signals.has(Signal::Booking) {
        NextAction::ProposeAppointment
    } else if signals.has(Signal::Price) || signals.has(Signal::Buy) {
        NextAction::SendPriceList
    } else if signals.has(Signal::Availability)
        || signals.has(Signal::Quantity)
        || signals.has(Signal::AfterSale)
        || question
        || starts_with_question_word(tokens)
    {
        NextAction::AnswerQuestion
    } else {
        NextAction::Nurture
    }
}

fn starts_with_question_word(tokens: &[Token<'_>]) -> bool {
    tokens
        .iter()
        .find(|token| !token.is_boundary())
        .is_some_and(|token| {
            matches!(
                token.text,
                "qual"
                    | "quais"
                    | "quando"
                    | "onde"
                    | "como"
                    | "quem"
                    | "voces"
                    | "voce"
                    | "tem"
                    | "pode"
                    | "podem"
                    | "what"
                    | "whats"
                    | "when"
                    | "where"
                    | "how"
                    | "who"
                    | "why"
                    | "which"
                    | "do"
                    | "does"
                    | "is"
                    | "are"
                    | "can"
                    | "could"
                    | "will"
            )
        })
}

fn find_signals(lexicon: &Lexicon, tokens: &[Token<'_>], lang: Lang, question: bool) -> Signals {
    let mut signals = Signals::default();
    let mut at = 0;
    while at < tokens.len() {
        if tokens[at].is_boundary() {
            at += 1;
            continue;
        }
        match lexicon.longest_at(tokens, at) {
            Some((len, signal)) => {
                let signal = if is_negated(tokens, at, lang) {
                    signal.negated()
                } else {
                    Some(signal)
                };
                if let Some(signal) = signal {
                    signals.set(signal, true);
                }
                at += len;
            }
            None => at += 1,
        }
    }
    if has_quantity(tokens) {
        signals.set(Signal::Quantity, true);
    }
    if question && asks_if_they_have_or_do(tokens) {
        signals.set(Signal::Availability, true);
    }
    if is_bare_stop(tokens) {
        signals.set(Signal::OptOut, true);
    }
    signals
}

/// Whether a negation word comes at most three words before `tokens[at]` in its clause.
fn is_negated(tokens: &[Token<'_>], at: usize, lang: Lang) -> bool {
    if tokens.get(at).is_none_or(|token| token.clause_start) {
        return false;
    }
    for back in 1..=3 {
        let Some(index) = at.checked_sub(back) else {
            return false;
        };
        let token = tokens[index];
        if token.is_boundary() {
            return false;
        }
        match token.text {
            "nao" | "nem" | "nunca" | "jamais" | "not" | "dont" | "doesnt" | "didnt" | "wont"
            | "cant" | "cannot" | "never" | "isnt" | "arent" | "wasnt" | "werent" | "havent"
            | "hasnt" | "neither" | "nor" => return true,
            "no" if lang == Lang::En => return true,
            "mas" | "porem" | "entretanto" | "so" | "but" | "however" | "though" => {
                return false;
            }
            _ if token.clause_start => return false,
            _ => {}
        }
    }
    false
}

/// A sentence of a question that opens (after any greeting) with "tem", "fazem",
/// "consegue", "dá pra", "can you", "is there"…: asking whether the business has or does
/// something.
fn asks_if_they_have_or_do(tokens: &[Token<'_>]) -> bool {
    let mut sentence_start = true;
    let mut index = 0;
    while index < tokens.len() {
        let token = tokens[index];
        if token.is_boundary() {
            sentence_start = true;
            index += 1;
            continue;
        }
        if sentence_start && is_greeting(token.text) {
            index += 1;
            continue;
        }
        if sentence_start {
            let next = tokens.get(index + 1).map_or("", |next| next.text);
            let opens = matches!(
                token.text,
                "tem"
                    | "fazem"
                    | "faz"
                    | "vende"
                    | "vendem"
                    | "consegue"
                    | "conseguem"
                    | "trabalham"
                    | "atende"
                    | "atendem"
            ) || matches!(
                (token.text, next),
                ("da", "pra")
                    | ("da", "para")
                    | ("can", "you")
                    | ("could", "you")
                    | ("is", "there")
                    | ("are", "there")
                    | ("any", "chance")
            );
            if opens {
                return true;
            }
        }
        sentence_start = false;
        index += 1;
    }
    false
}

fn is_greeting(word: &str) -> bool {
    matches!(
        word,
        "oi" | "oie"
            | "oii"
            | "ola"
            | "opa"
            | "ei"
            | "alo"
            | "bom"
            | "boa"
            | "dia"
            | "tarde"
            | "noite"
            | "moco"
            | "moca"
            | "amigo"
            | "amiga"
            | "mano"
            | "hey"
            | "hi"
            | "hello"
            | "good"
            | "morning"
            | "afternoon"
            | "evening"
            | "yo"
            | "sup"
            | "so"
            | "also"
            | "and"
            | "e"
    )
}

/// A message that is just "stop" (or "sair", "parar"), the usual opt-out keyword.
fn is_bare_stop(tokens: &[Token<'_>]) -> bool {
    let mut words = tokens.iter().filter(|token| !token.is_boundary());
    let first = words.next();
    first.is_some_and(|token| matches!(token.text, "stop" | "sair" | "parar" | "pare"))
        && words.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexicon::TABLES;

    #[test]
    fn every_phrase_is_already_normalized() {
        for &(_, table) in TABLES {
            for phrase in table.iter() {
                let words: Vec<&str> = phrase
                    .split(' ')
                    .filter(|word| *word != "#")
                    .map(|word| word.strip_suffix('*').unwrap_or(word))
                    .collect();
                let normalized = Normalized::new(&words.join(" "));
                let tokens = normalized.tokens();
                let texts: Vec<&str> = tokens.iter().map(|token| token.text).collect();
                assert_eq!(texts, words, "phrase {phrase:?}");
            }
        }
    }

    #[test]
    fn no_phrase_is_listed_twice() {
        let mut seen = std::collections::HashSet::new();
        for &(signal, table) in TABLES {
            for phrase in table.iter() {
                assert!(
                    seen.insert(*phrase),
                    "{phrase:?} ({signal:?}) is listed twice"
                );
            }
        }
    }

    #[test]
    fn blend_closes_a_share_of_the_gap_and_stays_in_range() {
        assert_eq!(blend(20, 0), 20);
        assert_eq!(blend(20, 40), 52);
        assert_eq!(blend(20, 1000), 76);
        assert_eq!(blend(99, 45), 100);
        assert_eq!(blend(100, 45), 100);
        assert_eq!(blend(80, -50), 40);
        assert_eq!(blend(0, -50), 0);
        assert_eq!(blend(100, -1000), 10);
    }
}
