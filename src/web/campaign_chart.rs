//! A campaign's progress chart: one horizontal bar per wave, its length the
//! wave's size, split by what became of its devices; laid out here so the
//! template only draws rectangles.

use crate::fota::campaign::{Progress, Tally};

const LABEL: u32 = 64;
const TRACK: u32 = 420;
const ROW: u32 = 22;
const BAR: u32 = 14;
const VALUE: u32 = 110;
/// Waves past this many are left out of the chart (it would grow taller
/// than a screen); the table under it lists every wave.
pub const MAX_ROWS: usize = 40;

pub struct Segment {
    pub x: u32,
    pub width: u32,
    /// The CSS class that colours it (`seg-succeeded`, …).
    pub class: &'static str,
}

pub struct Row {
    pub y: u32,
    pub text_y: u32,
    pub label: String,
    /// The wave's counts in words, for the tooltip and screen readers.
    pub title: String,
    pub value: String,
    pub segments: Vec<Segment>,
}

pub struct WaveChart {
    pub width: u32,
    pub height: u32,
    pub label_width: u32,
    pub value_x: u32,
    pub rows: Vec<Row>,
    /// The largest wave: the scale's full length.
    pub max: i64,
}

fn segments(t: &Tally, max: i64) -> Vec<Segment> {
    let scale = |n: i64| -> u32 {
        let w = n.max(0) * i64::from(TRACK) / max.max(1);
        u32::try_from(w).unwrap_or(TRACK)
    };
    let mut x = LABEL;
    [
        (t.succeeded, "seg-succeeded"),
        (t.failed, "seg-failed"),
        (t.unanswered, "seg-unanswered"),
        (t.declined + t.skipped + t.cancelled, "seg-other"),
        (t.notified, "seg-open"),
        (t.queued, "seg-queued"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, class)| {
        // A device is never drawn thinner than a hairline.
        let width = scale(n).max(1);
        let s = Segment { x, width, class };
        x += width;
        s
    })
    .collect()
}

fn title(label: &str, t: &Tally) -> String {
    format!(
        "{label}: {} devices; {} updated, {} failed, {} declined, {} unanswered, {} skipped, {} cancelled, {} notified, {} waiting",
        t.total(),
        t.succeeded,
        t.failed,
        t.declined,
        t.unanswered,
        t.skipped,
        t.cancelled,
        t.notified,
        t.queued
    )
}

impl WaveChart {
    pub fn new(p: &Progress) -> WaveChart {
        let max = p.waves.iter().map(Tally::total).max().unwrap_or(0).max(1);
        let rows: Vec<Row> = p
            .waves
            .iter()
            .take(MAX_ROWS)
            .zip(0u32..)
            .map(|(t, i)| {
                let label = format!("Wave {}", i + 1);
                Row {
                    y: i * ROW + (ROW - BAR) / 2,
                    text_y: i * ROW + ROW / 2 + 4,
                    title: title(&label, t),
                    value: format!("{} of {}", t.finished(), t.total()),
                    label,
                    segments: segments(t, max),
                }
            })
            .collect();
        let count = u32::try_from(rows.len()).unwrap_or(0).max(1);
        WaveChart {
            width: LABEL + TRACK + VALUE,
            height: count * ROW,
            label_width: LABEL,
            value_x: LABEL + TRACK + 8,
            rows,
            max,
        }
    }

    pub fn truncated(&self, p: &Progress) -> bool {
        p.waves.len() > self.rows.len()
    }
}

/// The share of the whole campaign that is finished, for the progress bar.
pub fn percent_done(t: &Tally) -> i64 {
    if t.total() == 0 {
        0
    } else {
        t.finished() * 100 / t.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_wave_and_stack_left_to_right() {
        let p = Progress {
            overall: Tally::default(),
            waves: vec![
                Tally {
                    succeeded: 5,
                    failed: 2,
                    unanswered: 1,
                    notified: 2,
                    ..Tally::default()
                },
                Tally {
                    queued: 5,
                    ..Tally::default()
                },
            ],
        };
        let c = WaveChart::new(&p);
        assert_eq!(c.max, 10);
        assert_eq!(c.rows.len(), 2);
        let w1 = &c.rows[0].segments;
        assert_eq!(
            w1.iter().map(|s| s.class).collect::<Vec<_>>(),
            ["seg-succeeded", "seg-failed", "seg-unanswered", "seg-open"]
        );
        assert_eq!(w1[0].x, LABEL);
        assert_eq!(w1[0].width, TRACK * 5 / 10);
        assert_eq!(w1[1].x, LABEL + TRACK * 5 / 10);
        let total: u32 = w1.iter().map(|s| s.width).sum();
        assert_eq!(total, TRACK);
        assert_eq!(c.rows[1].segments[0].width, TRACK / 2);
        assert_eq!(c.rows[0].value, "8 of 10");
        assert!(c.rows[1].title.contains("5 waiting"));
        assert_eq!(c.height, 2 * ROW);
        assert_eq!(percent_done(&p.waves[0]), 80);
    }

    #[test]
    fn a_single_device_is_still_visible_beside_a_huge_wave() {
        let p = Progress {
            overall: Tally::default(),
            waves: vec![
                Tally {
                    queued: 100_000,
                    ..Tally::default()
                },
                Tally {
                    failed: 1,
                    ..Tally::default()
                },
            ],
        };
        let c = WaveChart::new(&p);
        assert_eq!(c.rows[1].segments[0].width, 1);
    }
}
