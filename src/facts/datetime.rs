//! `date_time`: the target's clock, local fields from its `date`, UTC fields computed here.

use super::probe::Probe;
use super::{put, s};
use crate::yaml::{Map, Value};

pub(crate) fn date_time(p: &Probe) -> Map {
    let mut m = Map::new();
    let Some(line) = p.cmd("date").and_then(|o| o.lines().next()) else {
        return m;
    };
    // `%s %N|%Y|%m|%A|%w|%W|%d|%H|%M|%S|%Z|%z`
    let parts: Vec<&str> = line.split('|').collect();
    let [
        epoch_nano,
        year,
        month,
        weekday,
        weekday_number,
        weeknumber,
        day,
        hour,
        minute,
        second,
        tz,
        tz_offset,
    ] = parts.as_slice()
    else {
        return m;
    };
    let (epoch, nano) = epoch_nano.split_once(' ').unwrap_or((epoch_nano, ""));
    let Ok(epoch_secs) = epoch.parse::<i64>() else {
        return m;
    };
    // `%N` is GNU; busybox prints it literally, and then microseconds are unknown (zero).
    let micro = if nano.len() >= 6 && nano.bytes().all(|b| b.is_ascii_digit()) {
        &nano[..6]
    } else {
        "000000"
    };

    let mut d = Map::new();
    let mut set = |k: &str, v: String| put(&mut d, k, s(v));
    set("year", year.to_string());
    set("month", month.to_string());
    set("weekday", weekday.to_string());
    set("weekday_number", weekday_number.to_string());
    set("weeknumber", weeknumber.to_string());
    set("day", day.to_string());
    set("hour", hour.to_string());
    set("minute", minute.to_string());
    set("second", second.to_string());
    set("epoch", epoch.to_string());
    set("epoch_int", epoch_secs.to_string());
    set("date", format!("{year}-{month}-{day}"));
    set("time", format!("{hour}:{minute}:{second}"));
    let (uy, umo, ud, uh, umi, us) = utc_fields(epoch_secs);
    set(
        "iso8601_micro",
        format!("{uy:04}-{umo:02}-{ud:02}T{uh:02}:{umi:02}:{us:02}.{micro}Z"),
    );
    set(
        "iso8601",
        format!("{uy:04}-{umo:02}-{ud:02}T{uh:02}:{umi:02}:{us:02}Z"),
    );
    set(
        "iso8601_basic",
        format!("{year}{month}{day}T{hour}{minute}{second}{micro}"),
    );
    set(
        "iso8601_basic_short",
        format!("{year}{month}{day}T{hour}{minute}{second}"),
    );
    set("tz", tz.to_string());
    set("tz_dst", tz_dst(p).unwrap_or_else(|| tz.to_string()));
    set("tz_offset", tz_offset.to_string());
    put(&mut m, "date_time", Value::Map(d));
    m
}

/// Python's `time.tzname[1]`: the zone's name in the half of the year with the larger UTC
/// offset (its summer), from the names at the start and the middle of the year.
fn tz_dst(p: &Probe) -> Option<String> {
    let read = |name: &str| {
        let line = p.cmd(name)?.lines().next()?.to_string();
        let (zone, offset) = line.rsplit_once(' ')?;
        Some((zone.to_string(), parse_offset(offset)?))
    };
    let (jan, jan_off) = read("date-jan")?;
    let (jul, jul_off) = read("date-jul")?;
    Some(if jan_off > jul_off { jan } else { jul })
}

/// `+0130` → seconds east of UTC.
fn parse_offset(o: &str) -> Option<i64> {
    let (sign, digits) = match o.as_bytes().first()? {
        b'+' => (1, &o[1..]),
        b'-' => (-1, &o[1..]),
        _ => (1, o),
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

/// Year, month, day, hour, minute, second in UTC for a Unix time.
fn utc_fields(epoch: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_fields_known_dates() {
        assert_eq!(utc_fields(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc_fields(1_795_374_684), (2026, 11, 22, 19, 11, 24));
        assert_eq!(utc_fields(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(utc_fields(-1), (1969, 12, 31, 23, 59, 59));
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+0130"), Some(5400));
        assert_eq!(parse_offset("-0500"), Some(-18000));
        assert_eq!(parse_offset("x"), None);
    }
}
