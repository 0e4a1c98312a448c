//! `omega bench leads`: the lead scorer's quality and speed, each beside a baseline in the
//! same run.
//!
//! Quality: [`omega_leads::eval::evaluate`] reports of the rule scorer and the keyword
//! baseline on the labelled set's dev split, its test split and its held-out block (the
//! examples written after the rules were frozen), at the default threshold. Speed:
//! [`omega_leads::eval::throughput`] — messages per second of the rule scorer, the keyword
//! baseline and a raw floor (lowercasing each message) — with ratios. It asserts nothing.

use anyhow::{Context, Result};
use omega_leads::eval::{self, Example, KeywordBaseline, Report, Split};
use omega_leads::{LeadScorer, RuleScorer};
use serde_json::json;

/// One named subset of the labelled set with both scorers' reports on it.
struct Row {
    set: &'static str,
    rules: Report,
    baseline: Report,
}

impl Row {
    /// Rule F1 over baseline F1; `None` when the baseline scores zero.
    fn f1_ratio(&self) -> Option<f64> {
        (self.baseline.intent_f1 > 0.0).then(|| self.rules.intent_f1 / self.baseline.intent_f1)
    }
}

/// Runs the benchmark; `rounds` is how many times the speed test scores the whole set.
pub fn run(rounds: u32, json_output: bool) -> Result<()> {
    let examples = eval::labelled_set().context("the labelled set shipped with omega-leads")?;
    let subset = |keep: &dyn Fn(&Example) -> bool| -> Vec<Example> {
        examples.iter().filter(|e| keep(e)).cloned().collect()
    };
    let sets = [
        ("dev", subset(&|e| e.split == Split::Dev)),
        ("test", subset(&|e| e.split == Split::Test)),
        ("held-out", subset(&|e| e.line >= eval::HELD_OUT_FROM_LINE)),
    ];
    let threshold = eval::DEFAULT_THRESHOLD;
    let rows: Vec<Row> = sets
        .iter()
        .map(|(set, examples)| Row {
            set,
            rules: eval::evaluate(&RuleScorer, examples, threshold),
            baseline: eval::evaluate(&KeywordBaseline, examples, threshold),
        })
        .collect();

    let texts: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let average_bytes = bytes as f64 / texts.len().max(1) as f64;
    let speed = eval::throughput(&texts, rounds as usize);

    if json_output {
        let quality: Vec<_> = rows
            .iter()
            .map(|row| {
                json!({
                    "set": row.set,
                    "rules": row.rules,
                    "baseline": row.baseline,
                    "ratio_intent_f1_rules_to_baseline": row.f1_ratio(),
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "bench": "leads",
                "examples": examples.len(),
                "threshold": threshold,
                "held_out_from_line": eval::HELD_OUT_FROM_LINE,
                "quality": quality,
                "speed": {
                    "rounds": rounds,
                    "messages": speed.messages,
                    "average_bytes": average_bytes,
                    "lowercase_msgs_per_s": speed.lowercase,
                    "keyword_msgs_per_s": speed.keyword,
                    "rules_msgs_per_s": speed.rules,
                    "ratio_rules_to_lowercase": speed.rules / speed.lowercase.max(1e-9),
                    "ratio_rules_to_keyword": speed.rules / speed.keyword.max(1e-9),
                },
            })
        );
        return Ok(());
    }

    println!(
        "leads quality: {} labelled messages, threshold {threshold}, held-out = lines {} on (written after the rules were frozen)",
        examples.len(),
        eval::HELD_OUT_FROM_LINE
    );
    println!(
        "  {:<9} {:>8}  {:<17} {:>8} {:>7} {:>7}  {:>8} {:>7}  {:>14}",
        "set", "examples", "scorer", "intent p", "r", "f1", "neg p", "r", "f1 rules/base"
    );
    for row in &rows {
        for (report, ratio) in [
            (
                &row.rules,
                row.f1_ratio()
                    .map_or("n/a (base 0)".into(), |r| format!("{r:.2}")),
            ),
            (&row.baseline, String::new()),
        ] {
            let line = format!(
                "  {:<9} {:>8}  {:<17} {:>8.3} {:>7.3} {:>7.3}  {:>8.3} {:>7.3}  {:>14}",
                row.set,
                report.examples,
                scorer_label(report),
                report.intent_precision,
                report.intent_recall,
                report.intent_f1,
                report.negative_precision,
                report.negative_recall,
                ratio
            );
            println!("{}", line.trim_end());
        }
    }
    println!(
        "leads speed: {} messages ({average_bytes:.1} bytes on average) x {rounds} rounds, one thread, each as a first message",
        texts.len()
    );
    for (name, per_second) in [
        ("lowercase only (floor)", speed.lowercase),
        ("keyword baseline", speed.keyword),
        ("rule scorer", speed.rules),
    ] {
        println!("  {name:<24} {per_second:>12.0} msg/s");
    }
    println!(
        "  ratio rules/lowercase {:.3}, rules/keyword {:.3}",
        speed.rules / speed.lowercase.max(1e-9),
        speed.rules / speed.keyword.max(1e-9)
    );
    Ok(())
}

/// The table's name for the scorer of `report`.
fn scorer_label(report: &Report) -> &'static str {
    if report.scorer == RuleScorer.name() {
        "rules"
    } else if report.scorer == KeywordBaseline.name() {
        "keyword baseline"
    } else {
        report.scorer
    }
}
