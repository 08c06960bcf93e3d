//! A campaign's progress chart: one horizontal bar per wave, its length the
//! wave's size, split by what became of its devices; laid out here so the
//! template only draws rectangles. A campaign of more waves than a screen
//! holds (a million devices make thousands) is drawn whole all the same:
//! each bar then sums a run of consecutive waves, labelled with its range.

use crate::fota::campaign::{Progress, Tally};

const LABEL: u32 = 64;
/// Wide enough for `Waves 10001–10250`.
const RANGE_LABEL: u32 = 120;
const TRACK: u32 = 420;
const ROW: u32 = 22;
const BAR: u32 = 14;
const VALUE: u32 = 110;
/// The most bars the chart draws (more would grow taller than a screen);
/// a campaign of more waves is drawn in runs of consecutive waves.
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
    /// `Wave 3`, or `Waves 1–25` for a run.
    pub label: String,
    /// The waves it stands for: `3`, or `1–25`.
    pub waves: String,
    /// Its devices, summed over its waves.
    pub tally: Tally,
    /// A run's wave with the highest failure rate and that rate: the run's
    /// own rate may hide one wave over the threshold.
    pub worst: Option<(usize, i64)>,
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
    /// The largest bar: the scale's full length.
    pub max: i64,
    /// Waves to a bar: 1 until there are more waves than [`MAX_ROWS`].
    pub per_row: usize,
}

fn segments(t: &Tally, max: i64, label: u32) -> Vec<Segment> {
    let scale = |n: i64| -> u32 {
        let w = n.max(0) * i64::from(TRACK) / max.max(1);
        u32::try_from(w).unwrap_or(TRACK)
    };
    let mut x = label;
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

fn sum(waves: &[Tally]) -> Tally {
    let mut all = Tally::default();
    for t in waves {
        all.queued += t.queued;
        all.notified += t.notified;
        all.succeeded += t.succeeded;
        all.failed += t.failed;
        all.declined += t.declined;
        all.unanswered += t.unanswered;
        all.skipped += t.skipped;
        all.cancelled += t.cancelled;
    }
    all
}

impl WaveChart {
    pub fn new(p: &Progress) -> WaveChart {
        // Runs of equal length, the last shorter: `Waves 1–25`, `26–50`, ...
        let per_row = p.waves.len().div_ceil(MAX_ROWS).max(1);
        let label_width = if per_row > 1 { RANGE_LABEL } else { LABEL };
        let runs: Vec<(usize, &[Tally])> = p
            .waves
            .chunks(per_row)
            .enumerate()
            .map(|(i, run)| (i * per_row + 1, run))
            .collect();
        let tallies: Vec<Tally> = runs.iter().map(|(_, run)| sum(run)).collect();
        let max = tallies.iter().map(Tally::total).max().unwrap_or(0).max(1);
        let rows: Vec<Row> = runs
            .iter()
            .zip(tallies)
            .zip(0u32..)
            .map(|(((first, run), t), i)| {
                let last = first + run.len() - 1;
                let (label, waves) = if run.len() == 1 {
                    (format!("Wave {first}"), first.to_string())
                } else {
                    (format!("Waves {first}–{last}"), format!("{first}–{last}"))
                };
                let worst = (run.len() > 1)
                    .then(|| {
                        run.iter()
                            .zip(*first..)
                            .filter_map(|(w, n)| w.failure_percent().map(|pct| (n, pct, w)))
                            // The highest rate; among equal ones, the most
                            // failures, then the first wave.
                            .max_by(|a, b| {
                                (a.1, a.2.failed, std::cmp::Reverse(a.0)).cmp(&(
                                    b.1,
                                    b.2.failed,
                                    std::cmp::Reverse(b.0),
                                ))
                            })
                            .map(|(n, pct, _)| (n, pct))
                    })
                    .flatten();
                let mut title = title(&label, &t);
                if let Some((n, pct)) = worst {
                    title.push_str(&format!("; highest wave failure rate {pct}% (wave {n})"));
                }
                Row {
                    y: i * ROW + (ROW - BAR) / 2,
                    text_y: i * ROW + ROW / 2 + 4,
                    title,
                    value: format!("{} of {}", t.finished(), t.total()),
                    segments: segments(&t, max, label_width),
                    label,
                    waves,
                    worst,
                    tally: t,
                }
            })
            .collect();
        let count = u32::try_from(rows.len()).unwrap_or(0).max(1);
        WaveChart {
            width: label_width + TRACK + VALUE,
            height: count * ROW,
            label_width,
            value_x: label_width + TRACK + 8,
            rows,
            max,
            per_row,
        }
    }

    /// A run's failure rate as the table shows it.
    pub fn worst_label(&self, row: &Row) -> String {
        row.worst
            .map(|(n, pct)| format!("{pct}% (wave {n})"))
            .unwrap_or_else(|| "—".into())
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

    #[test]
    fn thousands_of_waves_are_drawn_whole_in_runs_of_consecutive_waves() {
        // A million devices in waves of 400: 2,500 waves.
        let mut waves = vec![
            Tally {
                succeeded: 400,
                ..Tally::default()
            };
            2_500
        ];
        waves[0] = Tally {
            succeeded: 9,
            failed: 1,
            ..Tally::default()
        };
        // One bad wave in the middle of a run of good ones.
        waves[1_000] = Tally {
            succeeded: 200,
            failed: 200,
            ..Tally::default()
        };
        waves[2_499] = Tally {
            queued: 40,
            ..Tally::default()
        };
        let p = Progress {
            overall: Tally::default(),
            waves,
        };
        let c = WaveChart::new(&p);
        assert_eq!(c.per_row, 63);
        assert!(c.rows.len() <= MAX_ROWS, "{}", c.rows.len());
        assert_eq!(c.rows.len(), 40);
        assert_eq!(c.rows[0].label, "Waves 1–63");
        assert_eq!(c.rows[39].label, "Waves 2458–2500");
        assert_eq!(c.rows[39].waves, "2458–2500");
        // Every wave is in exactly one bar, every device counted once.
        let devices: i64 = c.rows.iter().map(|r| r.tally.total()).sum();
        assert_eq!(devices, p.waves.iter().map(Tally::total).sum::<i64>());
        assert_eq!(c.rows[0].tally.total(), 10 + 62 * 400);
        // The run holding wave 1001 says it has a wave at 50%.
        let run = &c.rows[1_000 / 63];
        assert_eq!(run.worst, Some((1_001, 50)));
        assert!(
            run.title
                .contains("highest wave failure rate 50% (wave 1001)"),
            "{}",
            run.title
        );
        assert_eq!(c.worst_label(run), "50% (wave 1001)");
        // Scaled to the largest bar; the bars start past the wider label.
        assert_eq!(c.max, 63 * 400);
        assert_eq!(c.rows[1].segments[0].x, RANGE_LABEL);
        assert_eq!(c.rows[1].segments[0].width, TRACK);
        assert_eq!(c.height, 40 * ROW);
    }

    #[test]
    fn forty_waves_or_fewer_keep_a_bar_each() {
        let p = Progress {
            overall: Tally::default(),
            waves: vec![
                Tally {
                    queued: 3,
                    ..Tally::default()
                };
                MAX_ROWS
            ],
        };
        let c = WaveChart::new(&p);
        assert_eq!((c.per_row, c.rows.len()), (1, MAX_ROWS));
        assert_eq!(c.rows[39].label, "Wave 40");
        assert_eq!(c.rows[39].worst, None);
        let p = Progress {
            overall: Tally::default(),
            waves: vec![Tally::default(); MAX_ROWS + 1],
        };
        let c = WaveChart::new(&p);
        assert_eq!((c.per_row, c.rows.len()), (2, 21));
        assert_eq!(c.rows[20].label, "Wave 41");
    }
}
