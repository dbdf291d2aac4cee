//! Turning numbers, digits, money, durations and clock times into sequences of prompt names
//! from the say-vocabulary (`/work/prompt-names.md`): `num-21`, `minute-2`, `ruble-5`...
//!
//! Russian needs grammatical number and gender: "1 минута, 2 минуты, 5 минут", "одна/две"
//! for feminine nouns (минута, секунда, копейка, тысяча). English uses the singular for 1 and
//! the plural otherwise. Numbers of a million or more are read digit by digit (the vocabulary
//! stops at thousands).

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::time::Duration;

use crate::ast::{Currency, Lang};

/// Grammatical gender of the noun a number counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    /// рубль, час, доллар, цент; also used for bare numbers.
    Masculine,
    /// минута, секунда, копейка, тысяча.
    Feminine,
}

/// Which plural form a count takes: the `-1`, `-2` or `-5` suffix of unit prompts.
pub fn plural_form(lang: Lang, n: u64) -> u8 {
    match lang {
        Lang::En => {
            if n == 1 {
                1
            } else {
                5
            }
        }
        Lang::Ru => {
            let (d100, d10) = (n % 100, n % 10);
            if (11..=14).contains(&d100) {
                5
            } else if d10 == 1 {
                1
            } else if (2..=4).contains(&d10) {
                2
            } else {
                5
            }
        }
    }
}

fn unit(stem: &str, lang: Lang, n: u64) -> String {
    format!("{stem}-{}", plural_form(lang, n))
}

fn below_thousand(n: u64, lang: Lang, gender: Gender, out: &mut Vec<String>) {
    let hundreds = n / 100;
    let rest = n % 100;
    if hundreds > 0 {
        out.push(format!("num-{}", hundreds * 100));
    }
    if rest == 0 {
        return;
    }
    let last = if rest < 20 {
        rest
    } else {
        out.push(format!("num-{}", rest / 10 * 10));
        rest % 10
    };
    if last == 0 {
        return;
    }
    if lang == Lang::Ru
        && gender == Gender::Feminine
        && (last == 1 || last == 2)
        && !(10..20).contains(&rest)
    {
        out.push(format!("num-{last}-f"));
    } else {
        out.push(format!("num-{last}"));
    }
}

/// Say a whole number. `gender` picks одна/две in Russian for feminine nouns.
pub fn say_number(n: i64, lang: Lang, gender: Gender) -> Vec<String> {
    let mut out = Vec::new();
    if n < 0 {
        out.push("num-minus".to_string());
    }
    let a = n.unsigned_abs();
    if a >= 1_000_000 {
        out.extend(say_digits(&a.to_string()));
        return out;
    }
    if a == 0 {
        out.push("num-0".to_string());
        return out;
    }
    let thousands = a / 1000;
    if thousands > 0 {
        below_thousand(thousands, lang, Gender::Feminine, &mut out);
        out.push(unit("num-1000", lang, thousands));
    }
    below_thousand(a % 1000, lang, gender, &mut out);
    out
}

/// Say a count followed by its unit in the right form: `(2, "minute")` → `num-2-f, minute-2`.
pub fn say_count(n: u64, stem: &str, lang: Lang, gender: Gender) -> Vec<String> {
    let mut out = say_number(i64::try_from(n).unwrap_or(i64::MAX), lang, gender);
    out.push(unit(stem, lang, n));
    out
}

/// Say a string digit by digit; `*` and `#` are read too, other characters are skipped.
pub fn say_digits(s: &str) -> Vec<String> {
    s.chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(format!("digit-{c}")),
            '*' => Some("digit-star".to_string()),
            '#' => Some("digit-pound".to_string()),
            _ => None,
        })
        .take(64)
        .collect()
}

/// Say an amount of money: `1234.56 rub` → "одна тысяча двести тридцать четыре рубля
/// пятьдесят шесть копеек". Zero minor units are not said; negative amounts start with "minus".
pub fn say_money(amount: f64, currency: Currency, lang: Lang) -> Vec<String> {
    let mut out = Vec::new();
    if !amount.is_finite() {
        return say_number(0, lang, Gender::Masculine);
    }
    let cents_total = (amount.abs() * 100.0).round();
    let cents_total = if cents_total > 9e15 {
        9e15
    } else {
        cents_total
    } as u64;
    if amount < 0.0 && cents_total > 0 {
        out.push("num-minus".to_string());
    }
    let (major, minor) = (cents_total / 100, cents_total % 100);
    let (major_stem, major_g, minor_stem, minor_g) = match currency {
        Currency::Rub => ("ruble", Gender::Masculine, "kopeck", Gender::Feminine),
        Currency::Usd => ("dollar", Gender::Masculine, "cent", Gender::Masculine),
    };
    if major > 0 || minor == 0 {
        out.extend(say_count(major, major_stem, lang, major_g));
    }
    if minor > 0 {
        if major > 0 && lang == Lang::En {
            out.push("and".to_string());
        }
        out.extend(say_count(minor, minor_stem, lang, minor_g));
    }
    out
}

/// Say a duration in hours, minutes and seconds, skipping zero parts ("2 minutes 5 seconds").
pub fn say_duration(d: Duration, lang: Lang) -> Vec<String> {
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    let mut out = Vec::new();
    if h > 0 {
        out.extend(say_count(h, "hour", lang, Gender::Masculine));
    }
    if m > 0 {
        out.extend(say_count(m, "minute", lang, Gender::Feminine));
    }
    if s > 0 || total == 0 {
        out.extend(say_count(s, "second", lang, Gender::Feminine));
    }
    out
}

/// Say a clock time. Russian: "9 часов 30 минут"; English: "nine thirty", "nine o five" is
/// said as "nine zero five", and a full hour as "nine hours" is avoided by saying just "nine".
pub fn say_time(hour: u32, minute: u32, lang: Lang) -> Vec<String> {
    let (hour, minute) = (hour % 24, minute % 60);
    match lang {
        Lang::Ru => {
            let mut out = say_count(hour.into(), "hour", lang, Gender::Masculine);
            if minute > 0 {
                out.extend(say_count(minute.into(), "minute", lang, Gender::Feminine));
            }
            out
        }
        Lang::En => {
            let mut out = say_number(hour.into(), lang, Gender::Masculine);
            if minute > 0 {
                if minute < 10 {
                    out.push("digit-0".to_string());
                }
                out.extend(say_number(minute.into(), lang, Gender::Masculine));
            }
            out
        }
    }
}

/// The queue announcement: position, then the expected wait.
///
/// English: "You are number 3 in line. An operator will answer in about 4 minutes."
/// Russian: "Ваш номер в очереди: 3. Оператор ответит примерно через 4 минуты."
/// A wait under a minute says "in less than a minute"; `None` says only the position.
/// Waits are rounded up to whole minutes.
pub fn announce_position_and_wait(
    lang: Lang,
    position: u32,
    wait: Option<Duration>,
) -> Vec<String> {
    let mut out = Vec::new();
    match lang {
        Lang::En => {
            out.push("queue-you-are-number".to_string());
            out.extend(say_number(position.into(), lang, Gender::Masculine));
            out.push("queue-in-line".to_string());
        }
        Lang::Ru => {
            out.push("queue-your-position".to_string());
            out.extend(say_number(position.into(), lang, Gender::Masculine));
        }
    }
    if let Some(w) = wait {
        if w < Duration::from_secs(60) {
            out.push("queue-ewt-less-minute".to_string());
        } else {
            let minutes = w.as_secs().div_ceil(60);
            out.push("queue-ewt-about".to_string());
            out.extend(say_count(minutes, "minute", lang, Gender::Feminine));
        }
    }
    out
}

/// Every name of the say-vocabulary and the queue phrases, as listed in the prompt contract.
/// Each exists in both `en` and `ru`.
pub fn vocabulary() -> Vec<String> {
    let mut v: Vec<String> = (0..=19).map(|i| format!("num-{i}")).collect();
    v.extend((2..=9).map(|i| format!("num-{}", i * 10)));
    v.extend((1..=9).map(|i| format!("num-{}", i * 100)));
    for s in [
        "num-1000", "minute", "second", "hour", "ruble", "kopeck", "dollar", "cent",
    ] {
        v.extend(["1", "2", "5"].iter().map(|f| format!("{s}-{f}")));
    }
    v.extend(["num-1-f", "num-2-f", "num-minus", "and"].map(String::from));
    v.extend((0..=9).map(|i| format!("digit-{i}")));
    v.extend(["digit-star", "digit-pound"].map(String::from));
    v.extend(
        [
            "queue-you-are-number",
            "queue-in-line",
            "queue-your-position",
            "queue-ewt-about",
            "queue-ewt-less-minute",
            "queue-please-hold",
            "queue-callback-offer",
            "queue-callback-confirmed",
            "whisper-call-for",
            "queue-name-sales",
            "queue-name-support",
            "goodbye",
            "invalid-choice",
            "no-input",
            "please-wait",
            "transfer-in-progress",
            "all-agents-busy",
        ]
        .map(String::from),
    );
    v
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn j(v: Vec<String>) -> String {
        v.join(" ")
    }

    #[test]
    fn russian_plurals_and_gender() {
        let m = |n| j(say_count(n, "minute", Lang::Ru, Gender::Feminine));
        assert_eq!(m(1), "num-1-f minute-1");
        assert_eq!(m(2), "num-2-f minute-2");
        assert_eq!(m(5), "num-5 minute-5");
        assert_eq!(m(11), "num-11 minute-5");
        assert_eq!(m(12), "num-12 minute-5");
        assert_eq!(m(21), "num-20 num-1-f minute-1");
        assert_eq!(m(22), "num-20 num-2-f minute-2");
        assert_eq!(m(111), "num-100 num-11 minute-5");
        let r = |n| j(say_count(n, "ruble", Lang::Ru, Gender::Masculine));
        assert_eq!(r(1), "num-1 ruble-1");
        assert_eq!(r(2), "num-2 ruble-2");
        assert_eq!(r(1000), "num-1-f num-1000-1 ruble-5");
        assert_eq!(r(2_001), "num-2-f num-1000-2 num-1 ruble-1");
        assert_eq!(r(5_000), "num-5 num-1000-5 ruble-5");
        assert_eq!(
            r(21_345),
            "num-20 num-1-f num-1000-1 num-300 num-40 num-5 ruble-5"
        );
    }

    #[test]
    fn english_numbers() {
        assert_eq!(j(say_number(0, Lang::En, Gender::Masculine)), "num-0");
        assert_eq!(
            j(say_number(-42, Lang::En, Gender::Masculine)),
            "num-minus num-40 num-2"
        );
        assert_eq!(
            j(say_number(1_015, Lang::En, Gender::Feminine)),
            "num-1 num-1000-1 num-15"
        );
        assert_eq!(
            j(say_count(1, "minute", Lang::En, Gender::Feminine)),
            "num-1 minute-1"
        );
        assert_eq!(
            j(say_count(3, "minute", Lang::En, Gender::Feminine)),
            "num-3 minute-5"
        );
        assert_eq!(
            j(say_number(1_234_567, Lang::En, Gender::Masculine))
                .split(' ')
                .count(),
            7
        );
    }

    #[test]
    fn money_duration_time() {
        assert_eq!(
            j(say_money(1234.56, Currency::Rub, Lang::Ru)),
            "num-1-f num-1000-1 num-200 num-30 num-4 ruble-2 num-50 num-6 kopeck-5"
        );
        assert_eq!(
            j(say_money(0.01, Currency::Rub, Lang::Ru)),
            "num-1-f kopeck-1"
        );
        assert_eq!(j(say_money(2.0, Currency::Usd, Lang::En)), "num-2 dollar-5");
        assert_eq!(
            j(say_money(2.5, Currency::Usd, Lang::En)),
            "num-2 dollar-5 and num-50 cent-5"
        );
        assert_eq!(
            j(say_duration(Duration::from_secs(125), Lang::Ru)),
            "num-2-f minute-2 num-5 second-5"
        );
        assert_eq!(
            j(say_duration(Duration::from_secs(3600), Lang::En)),
            "num-1 hour-1"
        );
        assert_eq!(j(say_time(9, 5, Lang::En)), "num-9 digit-0 num-5");
        assert_eq!(
            j(say_time(21, 1, Lang::Ru)),
            "num-20 num-1 hour-1 num-1-f minute-1"
        );
    }

    #[test]
    fn announcements_follow_the_contract() {
        assert_eq!(
            j(announce_position_and_wait(
                Lang::En,
                3,
                Some(Duration::from_secs(230))
            )),
            "queue-you-are-number num-3 queue-in-line queue-ewt-about num-4 minute-5"
        );
        assert_eq!(
            j(announce_position_and_wait(
                Lang::Ru,
                3,
                Some(Duration::from_secs(240))
            )),
            "queue-your-position num-3 queue-ewt-about num-4 minute-2"
        );
        assert_eq!(
            j(announce_position_and_wait(
                Lang::Ru,
                1,
                Some(Duration::from_secs(20))
            )),
            "queue-your-position num-1 queue-ewt-less-minute"
        );
    }

    #[test]
    fn every_generated_name_is_in_the_vocabulary() {
        let vocab: HashSet<String> = vocabulary().into_iter().collect();
        for lang in Lang::ALL {
            for n in (-1000..25_000).step_by(7).chain([1_000_000, 999_999]) {
                for g in [Gender::Masculine, Gender::Feminine] {
                    for name in say_number(n, lang, g) {
                        assert!(vocab.contains(&name), "{name} ({n})");
                    }
                }
            }
            for s in (0..100_000).step_by(97) {
                for name in say_duration(Duration::from_secs(s), lang) {
                    assert!(vocab.contains(&name), "{name}");
                }
                for c in [Currency::Rub, Currency::Usd] {
                    for name in say_money(s as f64 / 100.0, c, lang) {
                        assert!(vocab.contains(&name), "{name}");
                    }
                }
            }
            for p in 0..200 {
                for name in
                    announce_position_and_wait(lang, p, Some(Duration::from_secs(p as u64 * 13)))
                {
                    assert!(vocab.contains(&name), "{name}");
                }
            }
        }
    }
}
