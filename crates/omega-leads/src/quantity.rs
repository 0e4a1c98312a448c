//! Recognising amounts: a number followed by a unit or a thing.

use crate::normalize::Token;

/// A number of things: `"2 kg"`, `"50 salgados"`, `"3 of them"`, `"dois pacotes"`.
pub(crate) fn has_quantity(tokens: &[Token<'_>]) -> bool {
    tokens.windows(2).enumerate().any(|(index, pair)| {
        let (number, next) = (&pair[0], &pair[1]);
        if !is_number(number) || next.is_boundary() {
            return false;
        }
        if is_unit(next.text) {
            return true;
        }
        match next.text {
            "of" => tokens
                .get(index + 2)
                .is_some_and(|t| matches!(t.text, "them" | "those" | "these" | "each")),
            "de" => tokens.get(index + 2).is_some_and(|t| t.text == "cada"),
            "desses" | "dessas" | "desse" | "dessa" | "destes" | "destas" | "deles" => true,
            word => {
                !next.glued
                    && word.len() >= 3
                    && word.bytes().all(|byte| byte.is_ascii_lowercase())
                    && !is_not_a_thing(word)
            }
        }
    })
}

/// A count: digits 1–5000 not stuck to a word (not `"ps5"`, not a year) or a number word.
pub(crate) fn is_number(token: &Token<'_>) -> bool {
    if token.is_digits() {
        if token.glued || token.text.len() > 4 {
            return false;
        }
        let value: u32 = token.text.parse().unwrap_or(0);
        (1..=5000).contains(&value) && !(1900..=2100).contains(&value)
    } else {
        matches!(
            token.text,
            "dois"
                | "duas"
                | "tres"
                | "quatro"
                | "cinco"
                | "seis"
                | "sete"
                | "oito"
                | "nove"
                | "dez"
                | "doze"
                | "vinte"
                | "trinta"
                | "cinquenta"
                | "cem"
                | "two"
                | "three"
                | "four"
                | "five"
                | "six"
                | "seven"
                | "eight"
                | "nine"
                | "ten"
                | "twelve"
                | "twenty"
                | "fifty"
                | "hundred"
        )
    }
}

fn is_unit(word: &str) -> bool {
    matches!(
        word,
        "kg" | "g"
            | "gr"
            | "grama"
            | "gramas"
            | "quilo"
            | "quilos"
            | "kilo"
            | "kilos"
            | "l"
            | "litro"
            | "litros"
            | "ml"
            | "lb"
            | "lbs"
            | "pound"
            | "pounds"
            | "oz"
            | "un"
            | "und"
            | "unid"
            | "unidade"
            | "unidades"
            | "unit"
            | "units"
            | "pc"
            | "pcs"
            | "peca"
            | "pecas"
            | "piece"
            | "pieces"
            | "caixa"
            | "caixas"
            | "box"
            | "boxes"
            | "pacote"
            | "pacotes"
            | "pack"
            | "packs"
            | "fardo"
            | "fardos"
            | "galao"
            | "galoes"
            | "garrafa"
            | "garrafas"
            | "bottle"
            | "bottles"
            | "lata"
            | "latas"
            | "cans"
            | "case"
            | "cases"
            | "duzia"
            | "duzias"
            | "dz"
            | "dozen"
            | "metro"
            | "metros"
            | "rolo"
            | "rolos"
            | "saco"
            | "sacos"
            | "bag"
            | "bags"
            | "kit"
            | "kits"
            | "par"
            | "pares"
            | "pair"
            | "pairs"
            | "fatia"
            | "fatias"
            | "slice"
            | "slices"
            | "cento"
    )
}

/// Words after a number that make it a time, an age, money or a spec, not an amount.
fn is_not_a_thing(word: &str) -> bool {
    matches!(
        word,
        "anos"
            | "ano"
            | "dias"
            | "dia"
            | "horas"
            | "hora"
            | "hrs"
            | "min"
            | "mins"
            | "minutos"
            | "minuto"
            | "semanas"
            | "semana"
            | "meses"
            | "mes"
            | "years"
            | "year"
            | "days"
            | "day"
            | "hours"
            | "hour"
            | "minutes"
            | "minute"
            | "weeks"
            | "week"
            | "months"
            | "month"
            | "reais"
            | "real"
            | "dollars"
            | "dollar"
            | "bucks"
            | "usd"
            | "vezes"
            | "vez"
            | "times"
            | "time"
            | "star"
            | "stars"
            | "estrelas"
            | "estrela"
            | "ghz"
            | "polegadas"
            | "inch"
            | "inches"
            | "porcento"
            | "percent"
            | "off"
            | "mil"
            | "andar"
            | "the"
            | "and"
            | "for"
            | "you"
            | "que"
            | "por"
            | "pra"
            | "para"
            | "com"
            | "sem"
            | "nao"
            | "mais"
            | "menos"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::Normalized;

    #[test]
    fn quantities_need_a_thing_after_the_number() {
        let quantity = |text: &str| {
            let normalized = Normalized::new(text);
            has_quantity(&normalized.tokens())
        };
        assert!(quantity("2 kg de picanha"));
        assert!(quantity("quero 50 salgados"));
        assert!(quantity("3 of them"));
        assert!(!quantity("meu filho de 8 anos"));
        assert!(!quantity("the ps5 slim"));
        assert!(!quantity("em 2024 comprei"));
        assert!(!quantity("às 10h"));
    }
}
