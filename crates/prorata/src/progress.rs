//! Progress on standard error with `indicatif`: drawn only when standard error is a terminal,
//! so a pipe, a log file or CI output gets the final summary lines and no redraw noise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar towards a known total: `label [#####-----]  50% 1000/2000`.
pub fn bar(label: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {percent:>3}% {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#-"),
    );
    bar.set_message(label.to_owned());
    bar
}

/// A count with no known total: `label: 1200 subscriptions billed`.
pub fn counter(label: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg}: {pos} subscriptions billed")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(label.to_owned());
    bar
}

/// Moves `bar` to `done`, growing its total when the work outgrew the estimate (the due count
/// is read before the run; usage bytes are estimated from the file size).
pub fn set(bar: &ProgressBar, done: u64) {
    if bar.length().is_some_and(|len| done > len) {
        bar.set_length(done);
    }
    bar.set_position(done);
}
