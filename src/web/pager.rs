//! The one pager every portal list shows (templates/pager.html): the same
//! links, the same words and, where the list can count its matches
//! cheaply, the same total.

/// How many rows a list matches in all, as far as it counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub count: i64,
    /// More than `count` match: counting stopped at a cap, which keeps a
    /// page view cheap on a large table.
    pub more: bool,
}

impl Total {
    pub fn exact(count: i64) -> Self {
        Total { count, more: false }
    }

    /// `ids_seen` rows read while counting at most `cap + 1` of them.
    pub fn capped(ids_seen: i64, cap: i64) -> Self {
        Total {
            count: ids_seen.min(cap),
            more: ids_seen > cap,
        }
    }
}

/// One page's navigation, rendered by templates/pager.html.
#[derive(Debug, Clone, Default)]
pub struct Pager {
    /// The page before this one, for lists that can page back.
    pub prev: Option<String>,
    /// The list's first page, for lists that page only forward, when this
    /// page is not it.
    pub first: Option<String>,
    pub next: Option<String>,
    /// Rows on this page.
    pub shown: usize,
    pub total: Option<Total>,
    /// What the list holds, singular and plural: ("device", "devices").
    pub noun: (&'static str, &'static str),
}

impl Pager {
    pub fn new(noun: (&'static str, &'static str), shown: usize) -> Self {
        Pager {
            noun,
            shown,
            ..Pager::default()
        }
    }

    /// "5,001 devices match", "more than 10,000 devices match"; empty
    /// where the list does not count.
    pub fn total_text(&self) -> String {
        let (one, many) = self.noun;
        match self.total {
            None => String::new(),
            Some(Total { count, more: true }) => {
                format!("more than {} {many} match", thousands(count))
            }
            Some(Total { count: 1, .. }) => format!("1 {one} matches"),
            Some(Total { count, .. }) => format!("{} {many} match", thousands(count)),
        }
    }

    /// "50 shown · 5,001 devices match", or "50 shown" where the list does
    /// not count.
    pub fn summary(&self) -> String {
        let shown = format!("{} shown", thousands(self.shown as i64));
        match self.total {
            None => shown,
            Some(_) => format!("{shown} · {}", self.total_text()),
        }
    }
}

/// 5001 as "5,001".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// A list's non-blank filters (trimmed), as the start of the query string
/// its paging and export links keep; the caller adds its own extras.
pub fn filters<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a Option<String>)>,
) -> url::form_urlencoded::Serializer<'static, String> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            s.append_pair(k, v);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_gives_the_page_and_the_total_in_the_same_words() {
        let mut p = Pager::new(("device", "devices"), 50);
        assert_eq!(p.summary(), "50 shown");
        p.total = Some(Total::exact(5001));
        assert_eq!(p.summary(), "50 shown · 5,001 devices match");
        p.total = Some(Total::capped(10_001, 10_000));
        assert_eq!(p.summary(), "50 shown · more than 10,000 devices match");
        p.shown = 1;
        p.total = Some(Total::capped(1, 10_000));
        assert_eq!(p.summary(), "1 shown · 1 device matches");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(-1234567), "-1,234,567");
    }
}
