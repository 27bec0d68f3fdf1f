//! Dates without a time-zone database: Unix seconds to the civil (UTC)
//! date and time, for the few places that write one (certificate dates,
//! the command line's JSON, messages the app makes). One implementation
//! of Howard Hinnant's days-to-civil algorithm.

/// A moment in UTC, in the proleptic Gregorian calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    pub fn from_unix(unix: i64) -> Civil {
        let secs = unix.rem_euclid(86_400);
        let z = unix.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Civil {
            year: yoe + era * 400 + i64::from(month <= 2),
            month: month as u32,
            day: day as u32,
            hour: (secs / 3_600) as u32,
            minute: (secs / 60 % 60) as u32,
            second: (secs % 60) as u32,
        }
    }

    /// `2026-11-24`.
    pub fn ymd(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `12:00:00`.
    pub fn hms(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }

    /// `Nov`.
    pub fn month_abbrev(&self) -> &'static str {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        MONTHS[(self.month.clamp(1, 12) - 1) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_moments() {
        let epoch = Civil::from_unix(0);
        assert_eq!(
            (epoch.ymd(), epoch.hms()),
            ("1970-01-01".into(), "00:00:00".into())
        );
        let leap = Civil::from_unix(951_782_400);
        assert_eq!(leap.ymd(), "2000-02-29");
        let now = Civil::from_unix(1_796_638_245);
        assert_eq!(
            (now.ymd(), now.hms()),
            ("2026-12-07".into(), "10:10:45".into())
        );
        assert_eq!(now.month_abbrev(), "Dec");
        // Before 1970 too.
        assert_eq!(Civil::from_unix(-86_400).ymd(), "1969-12-31");
    }
}
