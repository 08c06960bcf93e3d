//! The FOTA sessions screen's chart: sessions begun per day, stacked by
//! outcome, laid out here so the template only draws rectangles.

use crate::fota::outcomes::DayOutcomes;

const COLUMN: u32 = 36;
const BAR: u32 = 24;
const PLOT_HEIGHT: u32 = 120;

/// One outcome's share of a day's column.
pub struct Segment {
    pub y: u32,
    pub height: u32,
    /// The CSS class that colours it (`seg-succeeded`, …).
    pub class: &'static str,
}

pub struct Column {
    pub x: u32,
    pub label_x: u32,
    /// `11-27`: the axis has no room for the year.
    pub label: String,
    /// The day in words, for the tooltip and screen readers.
    pub title: String,
    pub segments: Vec<Segment>,
}

pub struct OutcomeChart {
    pub width: u32,
    pub plot_height: u32,
    pub height: u32,
    pub columns: Vec<Column>,
    pub totals: DayOutcomes,
    /// The busiest day's sessions: the scale's top.
    pub max: i64,
}

impl OutcomeChart {
    pub fn new(days: &[DayOutcomes]) -> OutcomeChart {
        let max = days
            .iter()
            .map(DayOutcomes::total)
            .max()
            .unwrap_or(0)
            .max(1);
        let mut totals = DayOutcomes::default();
        let columns = days
            .iter()
            .zip(0u32..)
            .map(|(d, i)| {
                totals.succeeded += d.succeeded;
                totals.failed += d.failed;
                totals.unanswered += d.unanswered;
                totals.other += d.other;
                totals.open += d.open;
                let date = crate::timefmt::date(d.day);
                let x = i * COLUMN + (COLUMN - BAR) / 2;
                // Stacked from the bottom: succeeded, failed, unanswered,
                // other, open.
                let mut top = PLOT_HEIGHT;
                let segments = [
                    (d.succeeded, "seg-succeeded"),
                    (d.failed, "seg-failed"),
                    (d.unanswered, "seg-unanswered"),
                    (d.other, "seg-other"),
                    (d.open, "seg-open"),
                ]
                .into_iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, class)| {
                    let height = scaled(n, max);
                    top = top.saturating_sub(height);
                    Segment {
                        y: top,
                        height,
                        class,
                    }
                })
                .collect();
                Column {
                    x,
                    label_x: x + BAR / 2,
                    label: date.get(5..).unwrap_or(&date).to_string(),
                    title: format!(
                        "{date}: {} sessions ({} succeeded, {} failed, {} unanswered, {} cancelled or no update, {} open)",
                        d.total(),
                        d.succeeded,
                        d.failed,
                        d.unanswered,
                        d.other,
                        d.open
                    ),
                    segments,
                }
            })
            .collect::<Vec<_>>();
        OutcomeChart {
            width: COLUMN * columns.len().max(1) as u32,
            plot_height: PLOT_HEIGHT,
            height: PLOT_HEIGHT + 18,
            columns,
            totals,
            max,
        }
    }

    /// Succeeded among the finished updates that got a package, as a
    /// percentage, once there is any. Sessions that ended before an offer
    /// (`unanswered`) are no update that failed and stay out of it.
    pub fn success_rate(&self) -> Option<String> {
        let decided = self.totals.succeeded + self.totals.failed;
        (decided > 0).then(|| {
            format!(
                "{:.1} %",
                self.totals.succeeded as f64 * 100.0 / decided as f64
            )
        })
    }
}

/// A count's height on the plot; anything above zero stays visible.
fn scaled(n: i64, max: i64) -> u32 {
    let h = (n as f64 / max as f64 * f64::from(PLOT_HEIGHT)).round() as u32;
    h.clamp(1, PLOT_HEIGHT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(i: i64, succeeded: i64, failed: i64, other: i64, open: i64) -> DayOutcomes {
        DayOutcomes {
            day: 1_764_201_600_000 + i * 86_400_000, // 2025-11-27
            succeeded,
            failed,
            unanswered: 0,
            other,
            open,
        }
    }

    #[test]
    fn the_busiest_day_fills_the_plot_and_segments_stack_from_the_bottom() {
        let chart =
            OutcomeChart::new(&[day(0, 0, 0, 0, 0), day(1, 6, 2, 1, 1), day(2, 3, 0, 0, 0)]);
        assert_eq!(chart.max, 10);
        assert_eq!(chart.width, 3 * COLUMN);
        assert!(chart.columns[0].segments.is_empty());
        let busiest = &chart.columns[1].segments;
        let heights: Vec<u32> = busiest.iter().map(|s| s.height).collect();
        assert_eq!(heights, vec![72, 24, 12, 12]);
        assert_eq!(busiest[0].y + busiest[0].height, PLOT_HEIGHT);
        assert_eq!(busiest.last().map(|s| s.y), Some(0));
        for pair in busiest.windows(2) {
            assert_eq!(pair[1].y + pair[1].height, pair[0].y);
        }
        assert_eq!(chart.columns[1].label, "11-28");
        assert!(chart.columns[1]
            .title
            .starts_with("2025-11-28: 10 sessions (6 succeeded, 2 failed"));
        assert_eq!(chart.totals.succeeded, 9);
        assert_eq!(chart.success_rate().as_deref(), Some("81.8 %"));
    }

    #[test]
    fn unanswered_sessions_are_their_own_segment_and_stay_out_of_the_rate() {
        let d = DayOutcomes {
            unanswered: 5,
            ..day(0, 3, 1, 0, 0)
        };
        let chart = OutcomeChart::new(&[d]);
        assert_eq!(chart.totals.unanswered, 5);
        assert_eq!(chart.max, 9);
        let classes: Vec<&str> = chart.columns[0].segments.iter().map(|s| s.class).collect();
        assert_eq!(classes, ["seg-succeeded", "seg-failed", "seg-unanswered"]);
        assert!(chart.columns[0].title.contains("1 failed, 5 unanswered"));
        assert_eq!(chart.success_rate().as_deref(), Some("75.0 %"));
    }

    #[test]
    fn one_session_among_many_stays_visible_and_no_decision_has_no_rate() {
        let chart = OutcomeChart::new(&[day(0, 0, 0, 1000, 0), day(1, 0, 0, 0, 1)]);
        assert_eq!(chart.columns[1].segments[0].height, 1);
        assert_eq!(chart.success_rate(), None);
    }
}
