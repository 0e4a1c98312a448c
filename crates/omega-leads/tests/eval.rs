//! The labelled set and the evaluation.

use omega_leads::eval::{
    self, DEFAULT_THRESHOLD, EvalError, Example, KeywordBaseline, Report, Split,
};
use omega_leads::{Lang, LeadScorer, LeadState, RuleScorer, Sentiment};

fn split(examples: &[Example], which: Split) -> Vec<Example> {
    examples
        .iter()
        .filter(|e| e.split == which)
        .cloned()
        .collect()
}

fn assert_ratios_in_unit_range(report: &Report) {
    let ratios = [
        report.intent_precision,
        report.intent_recall,
        report.intent_f1,
        report.negative_precision,
        report.negative_recall,
        report.accuracy,
        report.sentiment_accuracy,
        report.lang_accuracy,
    ];
    for ratio in ratios
        .into_iter()
        .chain(report.per_lang.iter().map(|(_, f1)| *f1))
    {
        assert!(
            (0.0..=1.0).contains(&ratio),
            "{ratio} out of range in {report:?}"
        );
    }
}

#[test]
fn labelled_set_parses_with_both_languages_classes_and_splits() {
    let examples = eval::labelled_set().expect("the shipped set parses");
    assert!(examples.len() >= 300, "{} examples", examples.len());
    for lang in [Lang::Pt, Lang::En] {
        let of_lang: Vec<&Example> = examples.iter().filter(|e| e.lang == lang).collect();
        assert!(
            of_lang.len() * 3 >= examples.len(),
            "{lang} is under a third"
        );
        assert!(of_lang.iter().any(|e| e.intent), "{lang} has no lead");
        assert!(of_lang.iter().any(|e| !e.intent), "{lang} has no non-lead");
        assert!(of_lang.iter().any(|e| e.sentiment == Sentiment::Negative));
        assert!(of_lang.iter().any(|e| e.sentiment == Sentiment::Positive));
    }
    let test = split(&examples, Split::Test);
    assert_eq!(test.len(), examples.len() / 5);
    assert!(test.iter().any(|e| e.lang == Lang::Pt) && test.iter().any(|e| e.lang == Lang::En));
    assert!(test.iter().any(|e| e.intent) && test.iter().any(|e| !e.intent));
}

#[test]
fn every_fifth_example_is_held_out() {
    let text = "pt\t1\tneu\ta\npt\t0\tneu\tb\n\npt\t1\tneu\tc\npt\t0\tneu\td\npt\t1\tneu\te\n";
    let examples = eval::parse_tsv(text).expect("parses");
    let splits: Vec<Split> = examples.iter().map(|e| e.split).collect();
    assert_eq!(
        splits,
        [Split::Dev, Split::Dev, Split::Dev, Split::Dev, Split::Test]
    );
    assert_eq!(examples[2].line, 4, "blank lines keep line numbers");
}

#[test]
fn text_keeps_inner_tabs_and_surrounding_space_is_trimmed() {
    let examples = eval::parse_tsv("en\t1\tpos\t  a\tb  \r\n").expect("parses");
    assert_eq!(examples[0].text, "a\tb");
    assert_eq!(examples[0].sentiment, Sentiment::Positive);
}

#[test]
fn bad_lines_are_errors_naming_the_line() {
    let good = "pt\t1\tneu\tok\n";
    let cases: &[(&str, EvalError)] = &[
        ("pt\t1\tneu", EvalError::FieldCount { line: 2, got: 3 }),
        (
            "es\t1\tneu\thola",
            EvalError::Lang {
                line: 2,
                got: "es".to_owned(),
            },
        ),
        (
            "pt\tyes\tneu\toi",
            EvalError::Intent {
                line: 2,
                got: "yes".to_owned(),
            },
        ),
        (
            "pt\t1\tpositive\toi",
            EvalError::Sentiment {
                line: 2,
                got: "positive".to_owned(),
            },
        ),
        ("pt\t1\tneu\t  ", EvalError::EmptyText { line: 2 }),
    ];
    for (bad, expected) in cases {
        let error = eval::parse_tsv(&format!("{good}{bad}\n")).expect_err(bad);
        assert_eq!(&error, expected);
        assert!(error.to_string().starts_with("line 2: expected"), "{error}");
    }
}

#[test]
fn rule_scorer_beats_the_keyword_baseline_on_held_out_intent_f1() {
    let examples = eval::labelled_set().expect("parses");
    let test = split(&examples, Split::Test);
    let rules = eval::evaluate(&RuleScorer, &test, DEFAULT_THRESHOLD);
    let baseline = eval::evaluate(&KeywordBaseline, &test, DEFAULT_THRESHOLD);
    assert_ratios_in_unit_range(&rules);
    assert_ratios_in_unit_range(&baseline);
    assert_eq!(rules.examples, test.len());
    assert!(
        rules.intent_f1 > baseline.intent_f1,
        "rules {:.3} vs baseline {:.3}",
        rules.intent_f1,
        baseline.intent_f1
    );
    assert!(rules.negative_recall > baseline.negative_recall);
}

#[test]
fn evaluation_of_nothing_is_all_zeros_not_nan() {
    let report = eval::evaluate(&RuleScorer, &[], DEFAULT_THRESHOLD);
    assert_eq!(report.examples, 0);
    assert_eq!(report.intent_f1, 0.0);
    assert!(report.per_lang.is_empty());
    assert_ratios_in_unit_range(&report);
}

#[test]
fn evaluation_counts_by_hand() {
    let set = "pt\t1\tneu\tquanto custa?\n\
               pt\t0\tneg\tpéssimo\n\
               en\t1\tneu\thi\n\
               en\t0\tneu\tbuy now, price drop\n";
    let examples = eval::parse_tsv(set).expect("parses");
    let report = eval::evaluate(&KeywordBaseline, &examples, DEFAULT_THRESHOLD);
    // The baseline misses both leads (no keyword in them) and flags line 4, which is not one.
    assert_eq!(report.intent_precision, 0.0);
    assert_eq!(report.intent_recall, 0.0);
    assert_eq!(report.accuracy, 0.25);
    assert_eq!(report.negative_recall, 0.0);
    let report = eval::evaluate(&RuleScorer, &examples, DEFAULT_THRESHOLD);
    assert_eq!(report.negative_precision, 1.0);
    assert_eq!(report.negative_recall, 1.0);
    assert_eq!(report.per_lang.len(), 2);
    assert_eq!(report.per_lang[0].0, Lang::Pt);
}

#[test]
fn report_displays_as_a_table_and_serializes() {
    let examples = eval::labelled_set().expect("parses");
    let report = eval::evaluate(&RuleScorer, &examples, DEFAULT_THRESHOLD);
    let shown = report.to_string();
    assert!(shown.contains("scorer rules"), "{shown}");
    assert!(shown.contains("precision"), "{shown}");
    assert!(shown.contains("intent f1 pt"), "{shown}");
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(json["scorer"], "rules");
    assert_eq!(json["per_lang"][0][0], "pt");
}

#[test]
fn keyword_baseline_scores_as_specified() {
    let hit = KeywordBaseline.assess(LeadState::default(), "Qual o PREÇO?");
    assert_eq!(hit.score, 80);
    assert!(hit.intent);
    let miss = KeywordBaseline.assess(LeadState::default(), "péssimo, quero reembolso");
    assert_eq!(miss.score, 10);
    assert_eq!(miss.sentiment, Sentiment::Neutral);
    assert_eq!(KeywordBaseline.name(), "keyword-baseline");
}

#[test]
fn held_out_block_and_throughput_cover_the_set() {
    let examples = eval::labelled_set().expect("the shipped set parses");
    let held_out: Vec<&Example> = examples
        .iter()
        .filter(|e| e.line >= eval::HELD_OUT_FROM_LINE)
        .collect();
    assert!(held_out.len() >= 40, "{} held-out examples", held_out.len());
    assert!(held_out.iter().any(|e| e.intent) && held_out.iter().any(|e| !e.intent));
    assert!(held_out.len() < examples.len() / 4);

    let texts: Vec<String> = examples.into_iter().map(|e| e.text).collect();
    let speed = eval::throughput(&texts, 1);
    assert_eq!(speed.messages, texts.len());
    assert!(speed.lowercase > 0.0 && speed.keyword > 0.0 && speed.rules > 0.0);
    assert_eq!(eval::throughput(&[], 3).rules, 0.0);
}
