//! Longest-phrase matching of the lexicon over tokens.
//!
//! The tables of [`crate::lexicon`] are parsed once into phrases indexed by their first
//! word, so finding the phrases at a position costs one hash lookup plus the few phrases
//! that start with a prefix or a number.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use crate::lexicon::{Signal, TABLES};
use crate::normalize::Token;
use crate::quantity::is_number;

/// One word of a phrase pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Word {
    Exact(&'static str),
    Prefix(&'static str),
    Number,
}

impl Word {
    fn parse(word: &'static str) -> Self {
        if word == "#" {
            Self::Number
        } else if let Some(stem) = word.strip_suffix('*') {
            Self::Prefix(stem)
        } else {
            Self::Exact(word)
        }
    }

    fn matches(self, token: &Token<'_>) -> bool {
        match self {
            Self::Exact(word) => token.text == word,
            Self::Prefix(stem) => token.text.starts_with(stem),
            Self::Number => is_number(token),
        }
    }
}

#[derive(Debug)]
struct Phrase {
    words: Vec<Word>,
    signal: Signal,
}

/// FNV-1a: the keys are short words, hashed once per token.
#[derive(Clone, Copy, Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[derive(Debug)]
pub(crate) struct Lexicon {
    phrases: Vec<Phrase>,
    /// Phrases by their first word, longest first.
    by_first: HashMap<&'static str, Vec<usize>, BuildHasherDefault<Fnv>>,
    /// Phrases whose first word is a prefix or a number, longest first.
    open_first: Vec<usize>,
}

/// The lexicon, built on first use.
pub(crate) fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(build_lexicon)
}

fn build_lexicon() -> Lexicon {
    let mut phrases = Vec::new();
    for &(signal, table) in TABLES {
        for phrase in table.iter() {
            let words: Vec<Word> = phrase.split(' ').map(Word::parse).collect();
            if !words.is_empty() {
                phrases.push(Phrase { words, signal });
            }
        }
    }
    let mut by_first: HashMap<&'static str, Vec<usize>, BuildHasherDefault<Fnv>> =
        HashMap::default();
    let mut open_first = Vec::new();
    for (index, phrase) in phrases.iter().enumerate() {
        match phrase.words.first() {
            Some(Word::Exact(word)) => by_first.entry(word).or_default().push(index),
            Some(Word::Prefix(_) | Word::Number) => open_first.push(index),
            None => {}
        }
    }
    // Longest first; among equals, table order (a stable sort keeps it).
    for bucket in by_first.values_mut() {
        bucket.sort_by_key(|&index| std::cmp::Reverse(phrases[index].words.len()));
    }
    open_first.sort_by_key(|&index| std::cmp::Reverse(phrases[index].words.len()));
    Lexicon {
        phrases,
        by_first,
        open_first,
    }
}

impl Lexicon {
    /// The longest phrase starting at `tokens[at]`: its length and signal.
    pub(crate) fn longest_at(&self, tokens: &[Token<'_>], at: usize) -> Option<(usize, Signal)> {
        let first = tokens.get(at)?;
        let exact = self
            .by_first
            .get(first.text)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut best: Option<(usize, Signal)> = None;
        for &index in exact.iter().chain(self.open_first.iter()) {
            let phrase = &self.phrases[index];
            let len = phrase.words.len();
            if best.is_some_and(|(best_len, _)| best_len >= len) {
                continue;
            }
            let fits = tokens.get(at..at + len).is_some_and(|window| {
                window
                    .iter()
                    .zip(&phrase.words)
                    .all(|(token, word)| word.matches(token))
            });
            if fits {
                best = Some((len, phrase.signal));
            }
        }
        best
    }
}
