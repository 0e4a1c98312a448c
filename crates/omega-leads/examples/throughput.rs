//! Messages per second of the rule scorer, next to two baselines measured in the same run.
//!
//! `cargo run --release -p omega-leads --example throughput` scores the labelled set's
//! messages over and over and prints messages per second for: lowercasing each message (the
//! raw floor of touching every byte), the keyword baseline, and the rule scorer, with the
//! rule scorer's ratio to each.

use std::hint::black_box;
use std::time::Instant;

use omega_leads::eval::{self, KeywordBaseline};
use omega_leads::{LeadScorer, LeadState, RuleScorer};

const ROUNDS: usize = 300;

fn per_second(texts: &[String], mut work: impl FnMut(&str) -> usize) -> f64 {
    let start = Instant::now();
    let mut sink = 0usize;
    for _ in 0..ROUNDS {
        for text in texts {
            sink = sink.wrapping_add(work(black_box(text)));
        }
    }
    black_box(sink);
    let seconds = start.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let messages = (ROUNDS * texts.len()) as f64;
    messages / seconds
}

fn main() -> Result<(), eval::EvalError> {
    let texts: Vec<String> = eval::labelled_set()?.into_iter().map(|e| e.text).collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    println!(
        "{} messages, {:.1} bytes on average, {ROUNDS} rounds",
        texts.len(),
        bytes as f64 / texts.len() as f64
    );
    // Warm up the rule tables so the first round does not pay for building them.
    let _ = RuleScorer.assess(LeadState::default(), "warm up");
    let lowercase = per_second(&texts, |text| text.to_lowercase().len());
    let keyword = per_second(&texts, |text| {
        usize::from(KeywordBaseline.assess(LeadState::default(), text).score)
    });
    let rules = per_second(&texts, |text| {
        usize::from(RuleScorer.assess(LeadState::default(), text).score)
    });
    println!("lowercase only   {lowercase:>12.0} msg/s");
    println!("keyword baseline {keyword:>12.0} msg/s");
    println!("rule scorer      {rules:>12.0} msg/s");
    println!(
        "rule scorer / lowercase {:.3}, rule scorer / keyword baseline {:.3}",
        rules / lowercase,
        rules / keyword
    );
    Ok(())
}
