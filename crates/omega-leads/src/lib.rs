//! Lead scoring for the Ômega business hub: how likely a contact is to buy, from what they
//! write.
//!
//! What it does: each inbound message of a customer updates that contact's [`LeadState`]
//! through a [`LeadScorer`]. The shipped scorer, [`RuleScorer`], reads Portuguese (Brazil)
//! and English, tolerates missing accents, typos of the common kind and chat slang
//! ("vcs", "qto", "pfv", "u", "thx"), and returns an [`Assessment`]: the new score 0–100,
//! the message's [`Sentiment`], the [`Reason`]s the score moved (each in both languages)
//! and a [`NextAction`] for the agent. [`eval`] holds a labelled set of customer messages
//! and the code that measures a scorer against it.
//!
//! What it does not do: no IO, no clock, no storage, no model files, no network. It keeps
//! no per-contact state itself: the hub stores each contact's [`LeadState`] and passes it
//! back with the next message. It does not understand meaning; it matches phrases, so it
//! misses sarcasm and unusual wording (the [`eval`] numbers say how often). Scoring is
//! deterministic and never panics, whatever the input.
//!
//! ```
//! use omega_leads::{LeadScorer, LeadState, NextAction, RuleScorer, Sentiment};
//!
//! let scorer = RuleScorer::default();
//! let first = scorer.assess(LeadState::default(), "Oi! Quanto custa o bolo de 2kg?");
//! assert!(first.intent);
//! assert_eq!(first.next_action, NextAction::SendPriceList);
//! assert!(first.reasons.iter().any(|reason| reason.code == "asked_price"));
//!
//! let state = first.state(LeadState::default());
//! let second = scorer.assess(state, "perfeito, vou pagar no pix");
//! assert!(second.score > first.score);
//! assert_eq!(second.next_action, NextAction::SendPaymentLink);
//!
//! let complaint = scorer.assess(second.state(state), "péssimo, veio errado e quero reembolso");
//! assert_eq!(complaint.sentiment, Sentiment::Negative);
//! assert_eq!(complaint.next_action, NextAction::HandToHuman);
//! assert!(complaint.score < second.score);
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod eval;
mod lexicon;
mod matcher;
mod normalize;
mod quantity;
mod rules;

use serde::{Deserialize, Serialize};

pub use rules::RuleScorer;

/// A language the scorer reads and writes reasons in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Portuguese as written in Brazil.
    Pt,
    /// English.
    En,
}

impl Lang {
    /// Stable text form: `"pt"` or `"en"`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Pt => "pt",
            Self::En => "en",
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Why the score moved, in both languages.
///
/// For example code `"asked_price"`, pt `"perguntou o preço"`, en `"asked for the price"`,
/// delta `+40`. `delta` is the signal's weight in points; a message's weights are summed and
/// the score moves by a share of that sum (see [`RuleScorer`]), so the score does not move
/// by exactly `delta`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// Stable machine code, snake_case.
    pub code: &'static str,
    /// Text for a Portuguese-speaking agent.
    pub pt: &'static str,
    /// Text for an English-speaking agent.
    pub en: &'static str,
    /// Weight of this signal in points: positive pushes the score up, negative down.
    pub delta: i32,
}

impl Reason {
    /// The text in `lang`.
    #[must_use]
    pub const fn text(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Pt => self.pt,
            Lang::En => self.en,
        }
    }
}

/// The tone of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    /// Thanks, praise, enthusiasm.
    Positive,
    /// Neither: questions, orders, greetings.
    Neutral,
    /// Complaints, anger, threats, cancellations, asking to be left alone.
    Negative,
}

/// What the agent should do next with this contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextAction {
    /// They asked for prices or want to buy without having seen prices: send the price list
    /// or catalogue.
    SendPriceList,
    /// They talk about paying, or want to buy and the lead is hot: send a payment link.
    SendPaymentLink,
    /// They want an appointment, a class or a reservation: offer times.
    ProposeAppointment,
    /// They asked something (stock, delivery, opening hours) without a clear purchase signal.
    AnswerQuestion,
    /// A complaint, a cancellation or a threat: a person should take over now.
    HandToHuman,
    /// They are undecided ("I'll think about it"): get back to them later.
    FollowUpLater,
    /// Nothing to act on yet (a greeting, not interested now): keep the relationship warm.
    Nurture,
    /// They asked not to be contacted, or the message is spam: do not reply with offers.
    DoNotContact,
}

impl NextAction {
    /// Every action, in declaration order.
    pub const ALL: [Self; 8] = [
        Self::SendPriceList,
        Self::SendPaymentLink,
        Self::ProposeAppointment,
        Self::AnswerQuestion,
        Self::HandToHuman,
        Self::FollowUpLater,
        Self::Nurture,
        Self::DoNotContact,
    ];

    /// Stable machine code, snake_case (the same as the serde form).
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::SendPriceList => "send_price_list",
            Self::SendPaymentLink => "send_payment_link",
            Self::ProposeAppointment => "propose_appointment",
            Self::AnswerQuestion => "answer_question",
            Self::HandToHuman => "hand_to_human",
            Self::FollowUpLater => "follow_up_later",
            Self::Nurture => "nurture",
            Self::DoNotContact => "do_not_contact",
        }
    }

    /// A short instruction for the agent, in `lang`.
    #[must_use]
    pub const fn label(&self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Self::SendPriceList, Lang::Pt) => "enviar a tabela de preços",
            (Self::SendPriceList, Lang::En) => "send the price list",
            (Self::SendPaymentLink, Lang::Pt) => "enviar o link de pagamento",
            (Self::SendPaymentLink, Lang::En) => "send a payment link",
            (Self::ProposeAppointment, Lang::Pt) => "propor horários",
            (Self::ProposeAppointment, Lang::En) => "offer appointment times",
            (Self::AnswerQuestion, Lang::Pt) => "responder a dúvida",
            (Self::AnswerQuestion, Lang::En) => "answer the question",
            (Self::HandToHuman, Lang::Pt) => "passar para um atendente agora",
            (Self::HandToHuman, Lang::En) => "hand over to a person now",
            (Self::FollowUpLater, Lang::Pt) => "retomar o contato mais tarde",
            (Self::FollowUpLater, Lang::En) => "follow up later",
            (Self::Nurture, Lang::Pt) => "manter o relacionamento",
            (Self::Nurture, Lang::En) => "keep in touch",
            (Self::DoNotContact, Lang::Pt) => "não enviar ofertas",
            (Self::DoNotContact, Lang::En) => "do not send offers",
        }
    }
}

/// The running state kept per contact; the hub stores it and passes it to the next
/// [`LeadScorer::assess`].
///
/// The default (`messages == 0`) is a contact never assessed: its score is ignored and the
/// scorer starts from its own base.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadState {
    /// The current score, 0–100.
    pub score: u8,
    /// How many messages have been assessed for this contact.
    pub messages: u32,
}

/// What one message did to a contact's lead score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    /// The new score, 0–100.
    pub score: u8,
    /// The score this message started from: the stored score, or the scorer's base for a new
    /// contact.
    pub previous: u8,
    /// The tone of this message.
    pub sentiment: Sentiment,
    /// Whether this message, taken alone, shows purchase intent.
    pub intent: bool,
    /// Why the score moved, one per kind of signal in a fixed order (grievances and
    /// refusals, then purchase signals, then tone); empty when nothing was recognised.
    pub reasons: Vec<Reason>,
    /// What the agent should do next.
    pub next_action: NextAction,
    /// The language the message was detected to be in.
    pub lang: Lang,
}

impl Assessment {
    /// The state to store for the contact after this message, given the state the message
    /// was assessed against.
    #[must_use]
    pub fn state(&self, previous: LeadState) -> LeadState {
        LeadState {
            score: self.score.min(100),
            messages: previous.messages.saturating_add(1),
        }
    }
}

/// Something that turns a contact's state and a new message into an [`Assessment`].
///
/// Implementations must be deterministic, must not panic on any text, and must keep
/// [`Assessment::score`] within 0–100.
pub trait LeadScorer: Send + Sync {
    /// A short stable name for reports and logs (`"rules"`).
    fn name(&self) -> &'static str;

    /// Assesses `text`, the newest inbound message of a contact whose state is `previous`.
    fn assess(&self, previous: LeadState, text: &str) -> Assessment;
}

/// Guesses whether `text` is Portuguese or English from common words and accents.
///
/// Text with no clue either way (an emoji, `"ok"`) is taken as [`Lang::Pt`], the hub's home
/// language.
#[must_use]
pub fn detect_lang(text: &str) -> Lang {
    let normalized = normalize::Normalized::new(text);
    normalized.lang()
}
