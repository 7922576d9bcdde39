//! Humanised future times for store expiries, after go-humanize's `Time` as Micro prints them
//! (`4 seconds from now`, `1 hour from now`, `2 days from now`).

/// Seconds in a minute, hour, day, week, month and year as go-humanize counts them.
const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;
const MONTH: u64 = 30 * DAY;
const YEAR: u64 = 12 * MONTH;
const LONG_TIME: u64 = 37 * YEAR;

/// Renders "`secs` seconds from now" the way go-humanize's magnitude table does.
pub fn from_now(secs: u64) -> String {
    let text = match secs {
        0 => return "now".to_owned(),
        1 => "1 second".to_owned(),
        s if s < MINUTE => format!("{s} seconds"),
        s if s < 2 * MINUTE => "1 minute".to_owned(),
        s if s < HOUR => format!("{} minutes", s / MINUTE),
        s if s < 2 * HOUR => "1 hour".to_owned(),
        s if s < DAY => format!("{} hours", s / HOUR),
        s if s < 2 * DAY => "1 day".to_owned(),
        s if s < WEEK => format!("{} days", s / DAY),
        s if s < 2 * WEEK => "1 week".to_owned(),
        s if s < MONTH => format!("{} weeks", s / WEEK),
        s if s < 2 * MONTH => "1 month".to_owned(),
        s if s < YEAR => format!("{} months", s / MONTH),
        s if s < 18 * MONTH => "1 year".to_owned(),
        s if s < 2 * YEAR => "2 years".to_owned(),
        s if s < LONG_TIME => format!("{} years", s / YEAR),
        _ => "a long while".to_owned(),
    };
    format!("{text} from now")
}

#[cfg(test)]
mod tests {
    use super::from_now;

    #[test]
    fn magnitudes() {
        assert_eq!(from_now(0), "now");
        assert_eq!(from_now(1), "1 second from now");
        assert_eq!(from_now(4), "4 seconds from now");
        assert_eq!(from_now(59), "59 seconds from now");
        assert_eq!(from_now(60), "1 minute from now");
        assert_eq!(from_now(150), "2 minutes from now");
        assert_eq!(from_now(3600), "1 hour from now");
        assert_eq!(from_now(3 * 3600 + 5), "3 hours from now");
        assert_eq!(from_now(86_400), "1 day from now");
        assert_eq!(from_now(3 * 86_400), "3 days from now");
        assert_eq!(from_now(8 * 86_400), "1 week from now");
        assert_eq!(from_now(15 * 86_400), "2 weeks from now");
        assert_eq!(from_now(45 * 86_400), "1 month from now");
        assert_eq!(from_now(100 * 86_400), "3 months from now");
        assert_eq!(from_now(400 * 86_400), "1 year from now");
        assert_eq!(from_now(600 * 86_400), "2 years from now");
        assert_eq!(from_now(u64::MAX), "a long while from now");
    }
}
