//! Calendar dates as plain `YYYY-MM-DD` strings, counted as days since 1970-01-01 (UTC).
//! No clock: "today" is always derived from the `now` the caller passes in.

pub(crate) use keygate_core::calendar::{civil_from_days, days_from_civil};

pub(crate) fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Strict `YYYY-MM-DD` (years 0001–9999, a real calendar day) → day number.
pub(crate) fn parse(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = i64::from(number(0..4)?);
    let month = number(5..7)?;
    let day = number(8..10)?;
    if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Day number → `YYYY-MM-DD`.
pub(crate) fn format(days: i64) -> String {
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The UTC day of a Unix timestamp in seconds.
pub(crate) fn today(now: i64) -> i64 {
    now.div_euclid(86_400)
}

/// The same day `months` later (or earlier), clamped to the last day of a shorter month:
/// 2026-01-31 + 1 month = 2026-02-28. `None` outside years 0001–9999.
pub(crate) fn add_months(days: i64, months: i64) -> Option<i64> {
    let (year, month, day) = civil_from_days(days);
    let index = year
        .checked_mul(12)?
        .checked_add(i64::from(month) - 1)?
        .checked_add(months)?;
    let (year, month) = (index.div_euclid(12), (index.rem_euclid(12) + 1) as u32);
    if !(1..=9999).contains(&year) {
        return None;
    }
    Some(days_from_civil(
        year,
        month,
        day.min(days_in_month(year, month)),
    ))
}
