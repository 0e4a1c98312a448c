//! Prints how the rule scorer and the keyword baseline do on the labelled set.
//!
//! `cargo run -p omega-leads --example evaluate` prints dev and test reports for both;
//! add `--dev-errors` to list the dev examples the rule scorer gets wrong (tune on those,
//! never on test), `--sweep` for dev intent F1 at other thresholds and `--from-line N` for
//! a report on the examples from line N on.

use std::process::ExitCode;

use omega_leads::eval::{self, Example, KeywordBaseline, Split};
use omega_leads::{LeadScorer, LeadState, RuleScorer, Sentiment};

fn main() -> ExitCode {
    let examples = match eval::labelled_set() {
        Ok(examples) => examples,
        Err(error) => {
            eprintln!("omega-leads: {error}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let of = |split: Split| -> Vec<Example> {
        examples
            .iter()
            .filter(|e| e.split == split)
            .cloned()
            .collect()
    };
    let (dev, test) = (of(Split::Dev), of(Split::Test));
    let scorers: [&dyn LeadScorer; 2] = [&RuleScorer, &KeywordBaseline];
    for (name, set) in [("dev", &dev), ("test", &test), ("all", &examples)] {
        for scorer in scorers {
            println!(
                "[{name}] {}\n",
                eval::evaluate(scorer, set, eval::DEFAULT_THRESHOLD)
            );
        }
    }
    if let Some(from) = args
        .iter()
        .position(|a| a == "--from-line")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok())
    {
        for split in [Split::Dev, Split::Test] {
            let later: Vec<Example> = examples
                .iter()
                .filter(|e| e.line >= from && e.split == split)
                .cloned()
                .collect();
            for scorer in scorers {
                let report = eval::evaluate(scorer, &later, eval::DEFAULT_THRESHOLD);
                println!("[{split:?} lines {from}..] {report}\n");
            }
        }
    }
    if args.iter().any(|a| a == "--sweep") {
        for threshold in (30..=80).step_by(5) {
            let report = eval::evaluate(&RuleScorer, &dev, threshold);
            println!(
                "dev threshold {threshold}: p {:.3} r {:.3} f1 {:.3}",
                report.intent_precision, report.intent_recall, report.intent_f1
            );
        }
    }
    if args.iter().any(|a| a == "--dev-errors") {
        for example in &dev {
            let a = RuleScorer.assess(LeadState::default(), &example.text);
            let intent_wrong = (a.score >= eval::DEFAULT_THRESHOLD) != example.intent;
            let neg_wrong =
                (a.sentiment == Sentiment::Negative) != (example.sentiment == Sentiment::Negative);
            if intent_wrong || neg_wrong {
                let codes: Vec<&str> = a.reasons.iter().map(|r| r.code).collect();
                println!(
                    "line {:>3} {}{} want intent={} {:?} got score={} {:?} {:?} | {}",
                    example.line,
                    if intent_wrong { "I" } else { "-" },
                    if neg_wrong { "N" } else { "-" },
                    u8::from(example.intent),
                    example.sentiment,
                    a.score,
                    a.sentiment,
                    codes,
                    example.text
                );
            }
        }
    }
    ExitCode::SUCCESS
}
