//! moment.js's `format()` in its default `en` locale, as metadata-action's `{{date}}` and
//! `{{commit_date}}` render it, and the time zones (`tz='Asia/Tokyo'`) they are shown in.
//!
//! Time zones are data here: `adapters/tz.rs` reads them from the system's tz database into
//! [`TimeZones`]; this module only computes with them, and never reads a file or the clock.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use time::{OffsetDateTime, UtcOffset};

/// The zone every date is shown in unless `tz=` names another.
pub const UTC: &str = "UTC";

/// Time zones by the name a template gives them, as read from the tz database.
#[derive(Debug, Clone, Default)]
pub struct TimeZones(BTreeMap<String, tz::TimeZone>);

impl TimeZones {
    /// Adds `zone` under `name`, as it was written in the template.
    pub fn insert(&mut self, name: &str, zone: tz::TimeZone) {
        self.0.insert(name.to_owned(), zone);
    }

    pub fn extend(&mut self, other: TimeZones) {
        self.0.extend(other.0);
    }

    /// `t` as a clock in zone `name` shows it, and the zone's abbreviation then (`JST`).
    pub fn local(&self, name: &str, t: OffsetDateTime) -> Result<(OffsetDateTime, String)> {
        if name == UTC {
            return Ok((t.to_offset(UtcOffset::UTC), UTC.to_owned()));
        }
        let Some(zone) = self.0.get(name) else {
            bail!(
                "time zone `{name}` was not read from the tz database: name a zone of \
                 /usr/share/zoneinfo (or TZDIR), e.g. tz='Asia/Tokyo'"
            );
        };
        let local = zone
            .find_local_time_type(t.unix_timestamp())
            .map_err(|e| anyhow::anyhow!("time zone `{name}` has no offset for {t}: {e}"))?;
        let offset = UtcOffset::from_whole_seconds(local.ut_offset())?;
        Ok((
            t.to_offset(offset),
            local.time_zone_designation().to_owned(),
        ))
    }
}

/// The format moment uses when given none: `YYYY-MM-DDTHH:mm:ss[Z]` at offset zero, else
/// `YYYY-MM-DDTHH:mm:ssZ`.
pub fn default_format(local: OffsetDateTime) -> &'static str {
    if local.offset().is_utc() {
        "YYYY-MM-DDTHH:mm:ss[Z]"
    } else {
        "YYYY-MM-DDTHH:mm:ssZ"
    }
}

/// Renders `local` (already at the zone's offset, abbreviated `zone_abbr`) with a moment.js
/// format string: every token of moment's `format()`, `[...]` and `\x` as literal text, and
/// the localized formats (`LT`, `L`, `LLLL`, ...) of the `en` locale.
pub fn format(local: OffsetDateTime, zone_abbr: &str, format: &str) -> String {
    let format = expand_localized(format);
    let mut out = String::new();
    let mut rest = format.as_str();
    while !rest.is_empty() {
        // `[...]` is literal text (up to the first `]`, with no `[` inside).
        if let Some(inner) = rest.strip_prefix('[') {
            if let Some(end) = inner.find(']').filter(|&end| !inner[..end].contains('[')) {
                out.push_str(&inner[..end]);
                rest = &inner[end + 1..];
                continue;
            }
        }
        // `\` makes the token after it literal text.
        let (escaped, body) = match rest.strip_prefix('\\') {
            Some(after) if !after.is_empty() => (true, after),
            _ => (false, rest),
        };
        let len = token_len(body);
        let token = &body[..len];
        if escaped {
            out.push_str(token);
        } else if token == "\\" {
            // A lone trailing `\` escapes nothing and is dropped.
        } else {
            match render_token(local, zone_abbr, token) {
                Some(text) => out.push_str(&text),
                None => out.push_str(token),
            }
        }
        rest = &body[len..];
    }
    out
}

/// The length of the token `s` starts with, tried in moment's order (the first alternative
/// that matches wins, not the longest); any other character is a token of its own.
fn token_len(s: &str) -> usize {
    let b = s.as_bytes();
    let run = |c: u8, max: usize| b.iter().take(max).take_while(|&&x| x == c).count();
    let starts = |p: &str| s.starts_with(p);
    let first = s.chars().next().map_or(0, char::len_utf8);
    match b[0] {
        b'H' | b'h' if b.get(1..3) == Some(b"mm") => {
            if b.get(3..5) == Some(b"ss") {
                5
            } else {
                3
            }
        }
        b'M' if starts("Mo") => 2,
        b'M' => run(b'M', 4),
        b'D' if starts("Do") => 2,
        b'D' if starts("DDDo") => 4,
        b'D' => run(b'D', 4),
        b'd' if starts("ddd") => run(b'd', 4),
        b'd' if starts("dd") => 2,
        b'd' if starts("do") => 2,
        b'w' | b'W' if matches!(b.get(1), Some(b'o' | b'|')) || b.get(1) == Some(&b[0]) => 2,
        b'Q' if starts("Qo") => 2,
        b'N' => run(b'N', 5),
        b'Y' => match run(b'Y', 6) {
            6 => 6,
            5 => 5,
            4 => 4,
            n if n >= 2 => 2,
            _ => 1,
        },
        b'y' if run(b'y', 4) >= 2 => run(b'y', 4),
        b'y' if starts("yo") => 2,
        b'g' if starts("gg") => match run(b'g', 5) {
            5 => 5,
            4 => 4,
            _ => 2,
        },
        b'G' if starts("GG") => match run(b'G', 5) {
            5 => 5,
            4 => 4,
            _ => 2,
        },
        b'h' | b'H' | b'k' | b'm' | b's' | b'z' | b'Z' => run(b[0], 2),
        b'S' => run(b'S', 9),
        _ => first,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// `1st`, `2nd`, `11th`, `23rd`: the `en` locale's ordinals.
fn ordinal(n: i64) -> String {
    let suffix = match (n % 100 / 10, n % 10) {
        (1, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn pad(n: i64, width: usize) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{:0width$}", n.unsigned_abs())
}

/// The week of the `en` locale: weeks start on Sunday, and week 1 is the one with January 1st.
/// Returns (week-year, week).
fn locale_week(t: OffsetDateTime) -> (i32, u8) {
    let date = t.date();
    let saturday = date.saturating_add(time::Duration::days(
        6 - i64::from(date.weekday().number_days_from_sunday()),
    ));
    (saturday.year(), ((saturday.ordinal() - 1) / 7 + 1) as u8)
}

fn render_token(t: OffsetDateTime, zone_abbr: &str, token: &str) -> Option<String> {
    let year = i64::from(t.year());
    let month = i64::from(u8::from(t.month()));
    let day = i64::from(t.day());
    let weekday = t.weekday();
    let dow = i64::from(weekday.number_days_from_sunday());
    let hour = i64::from(t.hour());
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let (week_year, week) = locale_week(t);
    let (iso_year, iso_week, _) = t.date().to_iso_week_date();
    let offset = t.offset().whole_minutes();
    let offset_text = |sep: &str| {
        let sign = if offset < 0 { '-' } else { '+' };
        let m = offset.unsigned_abs();
        format!("{sign}{:02}{sep}{:02}", m / 60, m % 60)
    };
    let era = if year > 0 {
        ("AD", "Anno Domini")
    } else {
        ("BC", "Before Christ")
    };
    let era_year = if year > 0 { year } else { 1 - year };
    let millis = i64::from(t.millisecond());
    Some(match token {
        "M" => month.to_string(),
        "Mo" => ordinal(month),
        "MM" => pad(month, 2),
        "MMM" => MONTHS[month as usize - 1][..3].to_owned(),
        "MMMM" => MONTHS[month as usize - 1].to_owned(),
        "Q" => ((month - 1) / 3 + 1).to_string(),
        "Qo" => ordinal((month - 1) / 3 + 1),
        "D" => day.to_string(),
        "Do" => ordinal(day),
        "DD" => pad(day, 2),
        "DDD" => t.ordinal().to_string(),
        "DDDo" => ordinal(i64::from(t.ordinal())),
        "DDDD" => pad(i64::from(t.ordinal()), 3),
        "d" | "e" => dow.to_string(),
        "do" => ordinal(dow),
        "dd" => WEEKDAYS[dow as usize][..2].to_owned(),
        "ddd" => WEEKDAYS[dow as usize][..3].to_owned(),
        "dddd" => WEEKDAYS[dow as usize].to_owned(),
        "E" => weekday.number_from_monday().to_string(),
        "w" => week.to_string(),
        "wo" => ordinal(i64::from(week)),
        "ww" => pad(i64::from(week), 2),
        "W" => iso_week.to_string(),
        "Wo" => ordinal(i64::from(iso_week)),
        "WW" => pad(i64::from(iso_week), 2),
        "Y" if year <= 9999 => pad(year, 4),
        "Y" => format!("+{year}"),
        "YY" => pad(year % 100, 2),
        "YYYY" => pad(year, 4),
        "YYYYY" => pad(year, 5),
        "YYYYYY" => format!("{}{}", if year < 0 { '-' } else { '+' }, pad(year.abs(), 6)),
        "y" => era_year.to_string(),
        "yo" => ordinal(era_year),
        "yy" => pad(era_year, 2),
        "yyy" => pad(era_year, 3),
        "yyyy" => pad(era_year, 4),
        "N" | "NN" | "NNN" | "NNNNN" => era.0.to_owned(),
        "NNNN" => era.1.to_owned(),
        "gg" => pad(i64::from(week_year) % 100, 2),
        "gggg" => pad(i64::from(week_year), 4),
        "ggggg" => pad(i64::from(week_year), 5),
        "GG" => pad(i64::from(iso_year) % 100, 2),
        "GGGG" => pad(i64::from(iso_year), 4),
        "GGGGG" => pad(i64::from(iso_year), 5),
        "a" => (if hour < 12 { "am" } else { "pm" }).to_owned(),
        "A" => (if hour < 12 { "AM" } else { "PM" }).to_owned(),
        "H" => hour.to_string(),
        "HH" => pad(hour, 2),
        "h" => hour12.to_string(),
        "hh" => pad(hour12, 2),
        "k" => (if hour == 0 { 24 } else { hour }).to_string(),
        "kk" => pad(if hour == 0 { 24 } else { hour }, 2),
        "Hmm" | "hmm" | "Hmmss" | "hmmss" => {
            let h = if token.starts_with('H') { hour } else { hour12 };
            let mut s = format!("{h}{:02}", t.minute());
            if token.ends_with("ss") {
                s += &format!("{:02}", t.second());
            }
            s
        }
        "m" => t.minute().to_string(),
        "mm" => pad(i64::from(t.minute()), 2),
        "s" => t.second().to_string(),
        "ss" => pad(i64::from(t.second()), 2),
        "S" => (millis / 100).to_string(),
        "SS" => pad(millis / 10, 2),
        s if s.starts_with("SSS") => format!("{:03}{}", millis, "0".repeat(s.len() - 3)),
        "z" | "zz" => zone_abbr.to_owned(),
        "Z" => offset_text(":"),
        "ZZ" => offset_text(""),
        "X" => t.unix_timestamp().to_string(),
        "x" => (t.unix_timestamp_nanos() / 1_000_000).to_string(),
        _ => return None,
    })
}

/// Replaces the `en` locale's localized formats (`LT`, `LTS`, `L`..`LLLL`, `l`..`llll`)
/// outside `[...]` and not escaped, as moment does before formatting.
fn expand_localized(format: &str) -> String {
    let mut current = format.to_owned();
    for _ in 0..5 {
        let mut out = String::new();
        let mut rest = current.as_str();
        let mut changed = false;
        while let Some(c) = rest.chars().next() {
            if c == '[' {
                if let Some(end) = rest[1..]
                    .find(']')
                    .filter(|&e| !rest[1..1 + e].contains('['))
                {
                    out.push_str(&rest[..end + 2]);
                    rest = &rest[end + 2..];
                    continue;
                }
            }
            if c == '\\' {
                let next = rest[1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&rest[..1 + next]);
                rest = &rest[1 + next..];
                continue;
            }
            let localized = [
                ("LTS", "h:mm:ss A"),
                ("LT", "h:mm A"),
                ("LLLL", "dddd, MMMM D, YYYY h:mm A"),
                ("LLL", "MMMM D, YYYY h:mm A"),
                ("LL", "MMMM D, YYYY"),
                ("L", "MM/DD/YYYY"),
                ("llll", "ddd, MMM D, YYYY h:mm A"),
                ("lll", "MMM D, YYYY h:mm A"),
                ("ll", "MMM D, YYYY"),
                ("l", "M/D/YYYY"),
            ]
            .into_iter()
            .find(|(token, _)| rest.starts_with(token));
            match localized {
                Some((token, expansion)) => {
                    out.push_str(expansion);
                    rest = &rest[token.len()..];
                    changed = true;
                }
                None => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        current = out;
        if !changed {
            break;
        }
    }
    current
}

/// Builds a TZif (version 2) file of one zone whose rule is the POSIX TZ string `rule`,
/// as the tz database ships them, so the tests need no system tz database.
#[cfg(test)]
pub fn tzif(rule: &str) -> Vec<u8> {
    let block = |out: &mut Vec<u8>| {
        out.extend(b"TZif2");
        out.extend([0; 15]);
        // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
        for n in [0u32, 0, 0, 0, 1, 4] {
            out.extend(n.to_be_bytes());
        }
        out.extend(0i32.to_be_bytes()); // one local time type; the footer rules
        out.extend([0, 0]);
        out.extend(b"LMT\0");
    };
    let mut out = Vec::new();
    block(&mut out);
    block(&mut out);
    out.extend(format!("\n{rule}\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Weekday;

    fn zones() -> TimeZones {
        let mut z = TimeZones::default();
        z.insert(
            "Asia/Tokyo",
            tz::TimeZone::from_tz_data(&tzif("JST-9")).unwrap(),
        );
        z.insert(
            "Europe/Paris",
            tz::TimeZone::from_tz_data(&tzif("CET-1CEST,M3.5.0,M10.5.0/3")).unwrap(),
        );
        z
    }

    /// `t` shown in `zone` with `fmt`; no format gives moment's default.
    fn check(t: OffsetDateTime, zone: &str, fmt: Option<&str>) -> String {
        let (local, abbr) = zones().local(zone, t).unwrap();
        format(local, &abbr, fmt.unwrap_or(default_format(local)))
    }

    #[test]
    fn metadata_actions_documented_formats() {
        let t = datetime!(2020-01-10 00:30:00 UTC);
        let table = [
            ("UTC", Some("YYYYMMDD"), "20200110"),
            ("UTC", Some("YYYYMMDD-HHmmss"), "20200110-003000"),
            ("Asia/Tokyo", Some("YYYYMMDD-HHmmss"), "20200110-093000"),
            (
                "UTC",
                Some("dddd, MMMM Do YYYY, h:mm:ss a"),
                "Friday, January 10th 2020, 12:30:00 am",
            ),
            (
                "UTC",
                Some("YYYY-MM-DDTHH:mm:ss.SSS[Z]"),
                "2020-01-10T00:30:00.000Z",
            ),
            ("UTC", None, "2020-01-10T00:30:00Z"),
            ("Asia/Tokyo", None, "2020-01-10T09:30:00+09:00"),
        ];
        for (zone, fmt, want) in table {
            assert_eq!(check(t, zone, fmt), want, "{zone} {fmt:?}");
        }
    }

    #[test]
    fn every_token_of_moments_format() {
        // A Sunday in daylight saving time, 15:04:05.678 in Paris.
        let t = datetime!(2023-07-02 13:04:05.678 UTC);
        assert_eq!(t.weekday(), Weekday::Sunday);
        let table = [
            ("M Mo MM MMM MMMM", "7 7th 07 Jul July"),
            ("Q Qo", "3 3rd"),
            ("D Do DD", "2 2nd 02"),
            ("DDD DDDo DDDD", "183 183rd 183"),
            ("d do dd ddd dddd e E", "0 0th Su Sun Sunday 0 7"),
            ("w wo ww W Wo WW", "27 27th 27 26 26th 26"),
            ("Y YY YYYY YYYYY YYYYYY", "2023 23 2023 02023 +002023"),
            (
                "y yo yy yyy yyyy N NN NNN NNNN NNNNN",
                "2023 2023rd 2023 2023 2023 AD AD AD Anno Domini AD",
            ),
            ("gg gggg ggggg GG GGGG GGGGG", "23 2023 02023 23 2023 02023"),
            ("a A", "pm PM"),
            ("H HH h hh k kk", "15 15 3 03 15 15"),
            ("Hmm hmm Hmmss hmmss", "1504 304 150405 30405"),
            ("m mm s ss", "4 04 5 05"),
            ("S SS SSS SSSS SSSSSSSSS", "6 67 678 6780 678000000"),
            ("z zz Z ZZ", "CEST CEST +02:00 +0200"),
            ("X x", "1688303045 1688303045678"),
            ("LT|LTS|L|l", "3:04 PM|3:04:05 PM|07/02/2023|7/2/2023"),
            ("LL|ll", "July 2, 2023|Jul 2, 2023"),
            ("LLL|lll", "July 2, 2023 3:04 PM|Jul 2, 2023 3:04 PM"),
            (
                "LLLL|llll",
                "Sunday, July 2, 2023 3:04 PM|Sun, Jul 2, 2023 3:04 PM",
            ),
            ("[YYYY] \\YYYY [L] \\L", "YYYY YYYY L L"),
            ("YYYY-[W]WW", "2023-W26"),
        ];
        for (fmt, want) in table {
            assert_eq!(check(t, "Europe/Paris", Some(fmt)), want, "{fmt}");
        }
        // Winter in Paris is an hour ahead, not two.
        let winter = datetime!(2023-01-01 00:00:00 UTC);
        assert_eq!(
            check(winter, "Europe/Paris", Some("HH z Z")),
            "01 CET +01:00"
        );
    }

    #[test]
    fn weeks_at_the_turn_of_the_year() {
        // 2021-01-01 is a Friday: in the en locale it is in week 1 of 2021 (weeks start on
        // Sunday and week 1 holds January 1st), in ISO week 53 of 2020.
        let t = datetime!(2021-01-01 12:00:00 UTC);
        assert_eq!(check(t, "UTC", Some("gggg-ww GGGG-WW")), "2021-01 2020-53");
        let t = datetime!(2020-12-27 12:00:00 UTC); // a Sunday
        assert_eq!(check(t, "UTC", Some("gggg-ww GGGG-WW")), "2021-01 2020-52");
    }

    #[test]
    fn an_unread_time_zone_is_a_clear_error() {
        let e = zones()
            .local("Mars/Olympus", OffsetDateTime::UNIX_EPOCH)
            .unwrap_err();
        assert!(e.to_string().contains("tz database"), "{e}");
    }
}
