//! Behaviour of the shipped rule scorer: signals, negation, score dynamics, next actions.

use omega_leads::{
    Assessment, Lang, LeadScorer, LeadState, NextAction, RuleScorer, Sentiment, detect_lang,
};

fn first(text: &str) -> Assessment {
    RuleScorer.assess(LeadState::default(), text)
}

fn codes(text: &str) -> Vec<&'static str> {
    first(text)
        .reasons
        .iter()
        .map(|reason| reason.code)
        .collect()
}

fn assert_fires(code: &str, text: &str) {
    let found = codes(text);
    assert!(
        found.contains(&code),
        "{code} should fire on {text:?}, got {found:?}"
    );
}

fn assert_silent(code: &str, text: &str) {
    let found = codes(text);
    assert!(
        !found.contains(&code),
        "{code} should not fire on {text:?}, got {found:?}"
    );
}

/// Sends `messages` one after the other for one contact; returns every assessment.
fn conversation(messages: &[&str]) -> Vec<Assessment> {
    let mut state = LeadState::default();
    let mut out = Vec::new();
    for message in messages {
        let assessment = RuleScorer.assess(state, message);
        state = assessment.state(state);
        out.push(assessment);
    }
    out
}

#[test]
fn every_reason_fires_on_a_portuguese_and_an_english_message() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "asked_price",
            "quanto custa o bolo?",
            "how much is the cake?",
        ),
        (
            "quantity",
            "quero 2 kg de picanha",
            "I want 5 boxes of gloves",
        ),
        (
            "wants_to_buy",
            "quero comprar esse vestido",
            "I'd like to order a pizza",
        ),
        ("payment", "aceita pix?", "can I pay by credit card?"),
        (
            "availability",
            "tem em estoque?",
            "do you deliver to Brooklyn?",
        ),
        (
            "booking",
            "quero agendar uma limpeza",
            "can I book an appointment?",
        ),
        (
            "urgency",
            "preciso do bolo hoje, quanto custa?",
            "how much? I need it asap",
        ),
        ("praise", "adorei o vestido", "the cake was amazing"),
        ("thanks", "obrigado", "thanks"),
        ("complaint", "péssimo atendimento", "terrible service"),
        ("escalation", "vou no procon", "this is a scam"),
        ("cancel_refund", "quero cancelar", "I want a refund"),
        ("not_interested", "não tenho interesse", "not interested"),
        ("undecided", "só olhando", "just browsing"),
        ("opt_out", "pare de me mandar mensagem", "unsubscribe"),
        (
            "spam",
            "ganhe renda extra, clique aqui",
            "click here to earn money",
        ),
        (
            "existing_order",
            "meu pedido já saiu?",
            "has my order shipped?",
        ),
    ];
    for (code, pt, en) in cases {
        assert_fires(code, pt);
        assert_fires(code, en);
    }
}

#[test]
fn each_kind_of_signal_is_listed_once() {
    let reasons = codes("quanto custa? qual o preço? how much?");
    assert_eq!(reasons, ["asked_price"]);
}

#[test]
fn accents_are_optional() {
    assert_eq!(first("qual o preço?"), first("qual o preco?"));
    assert_eq!(first("Cartão ou PIX?"), first("cartao ou pix?"));
    assert_eq!(first("não tenho interesse"), first("nao tenho interesse"));
    assert_eq!(first("PÉSSIMO"), first("pessimo"));
}

#[test]
fn slang_reads_like_the_plain_words() {
    assert_eq!(
        first("vcs tem qto?").reasons,
        first("vocês têm quanto?").reasons
    );
    assert_fires("asked_price", "qto ta a camiseta");
    assert_fires("thanks", "thx!!");
    assert_fires("availability", "do u deliver");
}

#[test]
fn negated_buying_is_a_refusal_not_intent() {
    for text in [
        "não quero comprar",
        "nao vou comprar nada",
        "I don't want to buy anything",
        "I'm not interested in buying",
    ] {
        let assessment = first(text);
        assert!(!assessment.intent, "{text:?}");
        assert!(assessment.score < RuleScorer::BASE_SCORE, "{text:?}");
        assert_silent("wants_to_buy", text);
        assert_fires("not_interested", text);
    }
}

#[test]
fn negation_stays_inside_its_clause() {
    assert_fires("wants_to_buy", "não sei o preço, mas quero comprar");
    assert_fires("wants_to_buy", "não, obrigado pela dica. quero comprar sim");
    assert_fires("not_interested", "não, obrigado");
    assert_fires("opt_out", "not interested, pls stop texting me");
}

#[test]
fn negated_praise_is_a_complaint_and_negated_complaint_is_nothing() {
    assert_eq!(first("não gostei do corte").sentiment, Sentiment::Negative);
    assert_eq!(
        first("I'm not happy with it").sentiment,
        Sentiment::Negative
    );
    assert_eq!(first("not bad").sentiment, Sentiment::Neutral);
    assert_eq!(first("sem problema").sentiment, Sentiment::Neutral);
    assert_eq!(first("no problem").sentiment, Sentiment::Neutral);
}

#[test]
fn asking_a_price_is_still_asking_under_negation() {
    assert_fires("asked_price", "não sei quanto custa");
    assert_fires("availability", "não tem em estoque?");
}

#[test]
fn one_message_moves_a_cold_lead_to_warm_but_not_hot() {
    let assessment = first("quero comprar 3 kg hoje, aceita pix? quanto custa?");
    assert_eq!(assessment.previous, RuleScorer::BASE_SCORE);
    assert!(assessment.score >= 50, "{}", assessment.score);
    assert!(assessment.score < 90, "{}", assessment.score);
}

#[test]
fn repeated_intent_raises_the_score_monotonically_to_ninety_and_beyond() {
    let messages = ["quero comprar"; 8];
    let scores: Vec<u8> = conversation(&messages).iter().map(|a| a.score).collect();
    assert!(
        scores.windows(2).all(|pair| pair[0] <= pair[1]),
        "{scores:?}"
    );
    assert!(scores[0] < 90, "{scores:?}");
    assert!(
        scores.last().is_some_and(|&score| score >= 90),
        "{scores:?}"
    );
    assert!(scores.iter().all(|&score| score <= 100));
}

#[test]
fn complaints_drop_the_score() {
    let assessments = conversation(&[
        "quanto custa o kit?",
        "quero comprar 2, aceita pix?",
        "veio quebrado, péssimo. quero meu dinheiro de volta",
    ]);
    let scores: Vec<u8> = assessments.iter().map(|a| a.score).collect();
    assert!(scores[1] > scores[0], "{scores:?}");
    assert!(scores[2] < scores[1] / 2, "{scores:?}");
    assert_eq!(assessments[2].sentiment, Sentiment::Negative);
    assert_eq!(assessments[2].previous, scores[1]);
}

#[test]
fn neutral_messages_leave_the_score_alone() {
    let assessments = conversation(&["quanto custa?", "ok", "bom dia"]);
    assert_eq!(assessments[1].score, assessments[0].score);
    assert_eq!(assessments[2].score, assessments[0].score);
    assert!(assessments[1].reasons.is_empty());
}

#[test]
fn the_stored_score_is_used_only_once_a_message_was_assessed() {
    let fresh = RuleScorer.assess(
        LeadState {
            score: 90,
            messages: 0,
        },
        "ok",
    );
    assert_eq!(fresh.score, RuleScorer::BASE_SCORE);
    let known = RuleScorer.assess(
        LeadState {
            score: 90,
            messages: 3,
        },
        "ok",
    );
    assert_eq!(known.score, 90);
    assert_eq!(
        known
            .state(LeadState {
                score: 90,
                messages: 3
            })
            .messages,
        4
    );
}

#[test]
fn next_actions_follow_the_signals() {
    let cases: &[(&str, NextAction)] = &[
        ("quanto custa o bolo de 2kg?", NextAction::SendPriceList),
        ("how much for the hoodie?", NextAction::SendPriceList),
        ("me manda o link de pagamento", NextAction::SendPaymentLink),
        ("can I pay with Apple Pay?", NextAction::SendPaymentLink),
        ("queria agendar uma limpeza", NextAction::ProposeAppointment),
        (
            "I'd like to book a cleaning",
            NextAction::ProposeAppointment,
        ),
        ("vcs abrem domingo?", NextAction::AnswerQuestion),
        ("do you deliver to Brooklyn?", NextAction::AnswerQuestion),
        (
            "péssimo atendimento, quero reembolso",
            NextAction::HandToHuman,
        ),
        ("this is a scam", NextAction::HandToHuman),
        ("vou pensar e te falo", NextAction::FollowUpLater),
        ("just looking", NextAction::FollowUpLater),
        ("não tenho interesse", NextAction::Nurture),
        ("bom dia", NextAction::Nurture),
        ("pare de me mandar mensagem", NextAction::DoNotContact),
        ("you have won a prize, click here", NextAction::DoNotContact),
    ];
    for (text, expected) in cases {
        assert_eq!(first(text).next_action, *expected, "{text:?}");
    }
}

#[test]
fn buying_turns_into_a_payment_link_once_the_lead_is_hot() {
    let assessments = conversation(&["quero comprar o kit", "vou levar 2 então"]);
    assert_eq!(assessments[0].next_action, NextAction::SendPriceList);
    assert!(assessments[1].score >= RuleScorer::HOT_SCORE);
    assert_eq!(assessments[1].next_action, NextAction::SendPaymentLink);
}

#[test]
fn complaints_about_an_order_cancel_its_transactional_signals() {
    let assessment = first("a entrega atrasou e ninguém responde");
    assert_silent("availability", "a entrega atrasou e ninguém responde");
    assert!(!assessment.intent);
    assert_eq!(assessment.next_action, NextAction::HandToHuman);
    assert!(!first("paguei no pix ontem, cadê?").intent);
}

#[test]
fn spam_cancels_every_other_signal() {
    let assessment = first("PARABÉNS! Você foi selecionado, clique no link e compre com desconto");
    let reasons: Vec<&str> = assessment.reasons.iter().map(|r| r.code).collect();
    assert_eq!(reasons, ["spam"]);
    assert_eq!(assessment.sentiment, Sentiment::Neutral);
}

#[test]
fn sentiment_weighs_praise_against_complaints() {
    assert_eq!(first("adorei, perfeito!").sentiment, Sentiment::Positive);
    assert_eq!(first("thx!!").sentiment, Sentiment::Positive);
    assert_eq!(first("no need, thanks").sentiment, Sentiment::Neutral);
    assert_eq!(first("great, another delay").sentiment, Sentiment::Negative);
    assert_eq!(first("quanto custa?").sentiment, Sentiment::Neutral);
}

#[test]
fn language_is_detected_from_words_and_accents() {
    assert_eq!(detect_lang("Oi, vcs abrem domingo?"), Lang::Pt);
    assert_eq!(detect_lang("hey are you open on sundays?"), Lang::En);
    assert_eq!(detect_lang("preço"), Lang::Pt);
    assert_eq!(detect_lang(""), Lang::Pt);
    assert_eq!(first("how much is it?").lang, Lang::En);
    assert_eq!(first("quanto é?").lang, Lang::Pt);
}

#[test]
fn reasons_carry_both_languages_and_their_weight() {
    let assessment = first("qual o valor?");
    let reason = &assessment.reasons[0];
    assert_eq!(reason.code, "asked_price");
    assert_eq!(reason.text(Lang::Pt), "perguntou o preço");
    assert_eq!(reason.text(Lang::En), "asked for the price");
    assert!(reason.delta > 0);
    assert!(first("péssimo").reasons[0].delta < 0);
}

#[test]
fn next_action_codes_and_labels_are_distinct_and_match_serde() {
    let mut seen = std::collections::HashSet::new();
    for action in NextAction::ALL {
        let json = serde_json::to_string(&action).expect("serializes");
        assert_eq!(json, format!("\"{}\"", action.code()));
        assert!(seen.insert(action.code()));
        assert!(seen.insert(action.label(Lang::Pt)));
        assert!(seen.insert(action.label(Lang::En)));
    }
}

#[test]
fn public_types_serialize_in_their_documented_forms() {
    let assessment = first("quanto custa?");
    let value = serde_json::to_value(&assessment).expect("serializes");
    assert_eq!(value["lang"], "pt");
    assert_eq!(value["sentiment"], "neutral");
    assert_eq!(value["next_action"], "send_price_list");
    assert_eq!(value["reasons"][0]["code"], "asked_price");
    let state = LeadState {
        score: 52,
        messages: 1,
    };
    let json = serde_json::to_string(&state).expect("serializes");
    assert_eq!(json, r#"{"score":52,"messages":1}"#);
    let back: LeadState = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, state);
    let lang: Lang = serde_json::from_str("\"en\"").expect("deserializes");
    assert_eq!(lang, Lang::En);
}

#[test]
fn scorer_is_usable_as_a_shared_trait_object() {
    let scorer: std::sync::Arc<dyn LeadScorer> = std::sync::Arc::new(RuleScorer);
    let handle = {
        let scorer = std::sync::Arc::clone(&scorer);
        std::thread::spawn(move || scorer.assess(LeadState::default(), "quanto custa?").score)
    };
    let here = scorer.assess(LeadState::default(), "quanto custa?").score;
    assert_eq!(handle.join().expect("thread"), here);
    assert_eq!(scorer.name(), "rules");
}
