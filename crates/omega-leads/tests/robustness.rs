//! Any input: no panic, score within 0–100, same answer every time.

use omega_leads::eval::KeywordBaseline;
use omega_leads::{LeadScorer, LeadState, RuleScorer, detect_lang};
use proptest::prelude::*;

fn check(scorer: &dyn LeadScorer, previous: LeadState, text: &str) {
    let first = scorer.assess(previous, text);
    let again = scorer.assess(previous, text);
    assert_eq!(first, again, "not deterministic on {text:?}");
    assert!(first.score <= 100, "score {} on {text:?}", first.score);
    assert!(
        first.previous <= 100,
        "previous {} on {text:?}",
        first.previous
    );
    let state = first.state(previous);
    assert!(state.score <= 100);
    assert_eq!(state.messages, previous.messages.saturating_add(1));
}

/// Text built from pieces the scorer reacts to, glued with noise.
fn chatty_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("quanto custa".to_owned()),
        Just("não quero comprar".to_owned()),
        Just("péssimo".to_owned()),
        Just("2kg".to_owned()),
        Just("don't".to_owned()),
        Just("?".to_owned()),
        Just(", ".to_owned()),
        Just("😡👍🏽❤️".to_owned()),
        Just("a\u{0301}".to_owned()),
        Just("\u{0}\u{7}\u{1b}[31m".to_owned()),
        Just("İıßŉ".to_owned()),
        "\\PC{0,12}",
        "[0-9]{1,8}",
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.join(" "))
}

fn any_state() -> impl Strategy<Value = LeadState> {
    (any::<u8>(), any::<u32>()).prop_map(|(score, messages)| LeadState { score, messages })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics_and_stays_in_range(text in any::<String>(), state in any_state()) {
        check(&RuleScorer, state, &text);
        check(&KeywordBaseline, state, &text);
        let _ = detect_lang(&text);
    }

    #[test]
    fn chatty_text_never_panics_and_stays_in_range(text in chatty_text(), state in any_state()) {
        check(&RuleScorer, state, &text);
    }

    #[test]
    fn conversations_stay_in_range(texts in proptest::collection::vec(chatty_text(), 1..12)) {
        let mut state = LeadState::default();
        for text in &texts {
            let assessment = RuleScorer.assess(state, text);
            prop_assert!(assessment.score <= 100);
            state = assessment.state(state);
        }
    }
}

#[test]
fn huge_and_odd_inputs_are_handled() {
    let huge = "quero comprar 2 kg, quanto custa? ".repeat(50_000);
    let emoji = "😍".repeat(100_000);
    let controls: String = (0u8..32).map(char::from).collect::<String>().repeat(1000);
    let combining = format!("a{}", "\u{0301}".repeat(100_000));
    let digits = "9".repeat(100_000);
    let apostrophes = "'".repeat(100_000);
    for text in [
        &huge,
        &emoji,
        &controls,
        &combining,
        &digits,
        &apostrophes,
        &String::new(),
    ] {
        check(&RuleScorer, LeadState::default(), text);
        check(
            &RuleScorer,
            LeadState {
                score: 255,
                messages: u32::MAX,
            },
            text,
        );
    }
    assert!(RuleScorer.assess(LeadState::default(), &huge).intent);
}
